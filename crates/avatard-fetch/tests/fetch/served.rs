//! Fetches and posts to a real local HTTP server, reachable only through the
//! allowlist: statuses, headers, redirects, size caps, time limits and
//! pinning.

use std::convert::Infallible;
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use avatard_fetch::header::{HOST, HeaderName, HeaderValue};
use avatard_fetch::{Allowlist, FetchError, FetchPolicy, Fetcher, Request, Response};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::header::{CACHE_CONTROL, CONTENT_LENGTH, CONTENT_TYPE, LOCATION};
use axum::http::{HeaderMap, Method, StatusCode};
use axum::response::{AppendHeaders, IntoResponse};
use axum::routing::{any, get};
use tokio::net::TcpListener;

const AVATAR: &[u8] = b"\x89PNG\r\n\x1a\nnot really a png";
const AVATAR_TYPE: &str = "image/png; name=\"a.png\"";
const CHUNK: u64 = 64 * 1024;
const FIFTY_MB: u64 = 50 * 1024 * 1024;
const ANSWER: &str = "the answer";
const WEBHOOK: &str = r#"{"event":"avatar.changed","userId":"u1"}"#;
const SIGNATURE: &str = "sha256=6b86b273ff34fce19d6b804eff5a3f57";

/// A test server on 127.0.0.1 and a count of the body bytes it produced.
struct Server {
    port: u16,
    sent: Arc<AtomicU64>,
}

impl Server {
    async fn start() -> Server {
        let sent = Arc::new(AtomicU64::new(0));
        let app = Router::new()
            .route(
                "/avatar.png",
                get(|| async { ([(CONTENT_TYPE, AVATAR_TYPE)], AVATAR) }),
            )
            .route("/status/{code}", any(status))
            .route("/answer/{code}", any(answer))
            .route("/mirror", any(mirror))
            .route("/echo/{header}", get(echo_header))
            .route("/stream/{total}", get(stream))
            .route("/sized/{total}", get(sized))
            .route("/declared/{total}", get(declared))
            .route("/sleep", any(sleep))
            .route("/trickle", get(trickle))
            .with_state(Arc::clone(&sent));
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local address").port();
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Server { port, sent }
    }

    fn url(&self, host: &str, path: &str) -> String {
        format!("http://{host}:{}{path}", self.port)
    }

    fn sent(&self) -> u64 {
        self.sent.load(Ordering::SeqCst)
    }
}

/// Any status, with a Location header and a body the client must not read.
async fn status(Path(code): Path<u16>) -> impl IntoResponse {
    let code = StatusCode::from_u16(code).expect("test status");
    (
        code,
        [(LOCATION, "/avatar.png"), (CONTENT_TYPE, "text/plain")],
        "do not read me",
    )
}

/// Any status, with headers worth copying (one of them repeated) and a body.
async fn answer(Path(code): Path<u16>) -> impl IntoResponse {
    let code = StatusCode::from_u16(code).expect("test status");
    let x_test = HeaderName::from_static("x-test");
    (
        code,
        AppendHeaders([
            (CACHE_CONTROL, "public, max-age=60"),
            (x_test.clone(), "answered"),
            (x_test, "twice"),
        ]),
        ANSWER,
    )
}

/// Shows what arrived: the method as `x-seen-method`, every request header
/// `name` as `x-seen-name` (repeats kept), and the request body as the body.
async fn mirror(method: Method, headers: HeaderMap, body: Bytes) -> (HeaderMap, Bytes) {
    let mut seen = HeaderMap::new();
    seen.insert(
        "x-seen-method",
        HeaderValue::from_str(method.as_str()).expect("method"),
    );
    for (name, value) in &headers {
        let name = HeaderName::try_from(format!("x-seen-{name}")).expect("header name");
        seen.append(name, value.clone());
    }
    (seen, body)
}

/// The values of request header `name` that reached [`mirror`].
fn seen(response: &Response, name: &str) -> Vec<String> {
    response
        .headers
        .get_all(format!("x-seen-{name}"))
        .iter()
        .map(|value| value.to_str().expect("ASCII header").to_owned())
        .collect()
}

/// A webhook delivery: the JSON body, its type and a signature.
fn webhook(url: String) -> Request {
    Request::post(url, WEBHOOK)
        .with_header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
        .with_header(
            HeaderName::from_static("x-avatard-signature"),
            HeaderValue::from_static(SIGNATURE),
        )
}

async fn echo_header(Path(name): Path<String>, headers: HeaderMap) -> String {
    headers
        .get(name.as_str())
        .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
        .unwrap_or_default()
}

/// `total` bytes in 64 KiB chunks, one every 5 ms, counted as produced:
/// 50 MB takes over four seconds to send in full.
fn slow_body(total: u64, sent: Arc<AtomicU64>) -> Body {
    let chunks = futures_util::stream::unfold(0, move |done| {
        let sent = Arc::clone(&sent);
        async move {
            if done >= total {
                return None;
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
            let len = CHUNK.min(total - done);
            sent.fetch_add(len, Ordering::SeqCst);
            let chunk = Bytes::from(vec![b'x'; len as usize]);
            Some((Ok::<_, Infallible>(chunk), done + len))
        }
    });
    Body::from_stream(chunks)
}

/// A streamed body without a length (chunked encoding).
async fn stream(Path(total): Path<u64>, State(sent): State<Arc<AtomicU64>>) -> Body {
    slow_body(total, sent)
}

/// The same body with its length declared up front.
async fn sized(Path(total): Path<u64>, State(sent): State<Arc<AtomicU64>>) -> impl IntoResponse {
    (
        [(CONTENT_LENGTH, total.to_string())],
        slow_body(total, sent),
    )
}

/// A declared length, with the body itself held back for five seconds.
async fn declared(Path(total): Path<u64>) -> impl IntoResponse {
    let late = futures_util::stream::once(async move {
        tokio::time::sleep(Duration::from_secs(5)).await;
        Ok::<_, Infallible>(Bytes::from(vec![b'x'; total as usize]))
    });
    (
        [(CONTENT_LENGTH, total.to_string())],
        Body::from_stream(late),
    )
}

async fn sleep() -> &'static str {
    tokio::time::sleep(Duration::from_secs(5)).await;
    "too late"
}

/// Headers at once, then a body that takes 30 seconds.
async fn trickle() -> Body {
    let chunks = futures_util::stream::unfold(0, |n| async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        (n < 100).then(|| (Ok::<_, Infallible>(Bytes::from_static(b"x")), n + 1))
    });
    Body::from_stream(chunks)
}

fn allowing(setting: &str) -> FetchPolicy {
    FetchPolicy {
        allowlist: Allowlist::parse(setting),
        ..FetchPolicy::default()
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

#[tokio::test]
async fn an_allow_listed_server_is_fetched_by_ip_name_or_network() {
    let server = Server::start().await;
    for (setting, host) in [
        ("127.0.0.1", "127.0.0.1"),
        ("localhost", "localhost"),
        ("127.0.0.0/8", "127.0.0.1"),
        ("127.0.0.1, ::1", "localhost"),
    ] {
        let fetched = Fetcher::new()
            .get(&server.url(host, "/avatar.png"), &allowing(setting))
            .await
            .unwrap_or_else(|e| panic!("allowlist {setting:?}, host {host}: {e}"));
        assert_eq!(fetched.status, 200);
        assert_eq!(fetched.content_type.as_deref(), Some(AVATAR_TYPE));
        assert_eq!(fetched.body.as_ref(), AVATAR);
    }
}

#[tokio::test]
async fn other_statuses_are_returned_without_their_body() {
    let server = Server::start().await;
    for code in [404, 201, 203, 500] {
        let fetched = Fetcher::new()
            .get(
                &server.url("127.0.0.1", &format!("/status/{code}")),
                &allowing("127.0.0.1"),
            )
            .await
            .expect("fetch");
        assert_eq!(fetched.status, code);
        assert_eq!(fetched.content_type.as_deref(), Some("text/plain"));
        assert!(fetched.body.is_empty(), "{code}: {:?}", fetched.body);
    }
}

#[tokio::test]
async fn redirects_are_errors() {
    let server = Server::start().await;
    for code in [300, 301, 302, 303, 304, 307, 308] {
        let result = Fetcher::new()
            .get(
                &server.url("127.0.0.1", &format!("/status/{code}")),
                &allowing("127.0.0.1"),
            )
            .await;
        assert!(
            matches!(result, Err(FetchError::Redirect(c)) if c == code),
            "{code}: {result:?}"
        );
    }
}

#[tokio::test]
async fn the_name_is_sent_while_the_connection_goes_to_the_checked_address() {
    let server = Server::start().await;
    let fetcher = Fetcher::new();
    let host = fetcher
        .get(
            &server.url("localhost", "/echo/host"),
            &allowing("localhost"),
        )
        .await
        .expect("fetch");
    assert_eq!(host.body, format!("localhost:{}", server.port));

    let agent = fetcher
        .get(
            &server.url("127.0.0.1", "/echo/user-agent"),
            &allowing("127.0.0.1"),
        )
        .await
        .expect("fetch");
    assert_eq!(agent.body, concat!("avatard/", env!("CARGO_PKG_VERSION")));
}

#[tokio::test]
async fn a_listed_name_does_not_list_its_address_and_vice_versa() {
    let server = Server::start().await;
    let fetcher = Fetcher::new();
    let loopback = ip("127.0.0.1");

    // The name is listed, the literal address is not.
    let result = fetcher
        .get(
            &server.url("127.0.0.1", "/avatar.png"),
            &allowing("localhost"),
        )
        .await;
    assert!(
        matches!(result, Err(FetchError::Blocked(a)) if a == loopback),
        "{result:?}"
    );

    // An address is listed, but not the one the name resolves to.
    let result = fetcher
        .get(&server.url("localhost", "/avatar.png"), &allowing("::1"))
        .await;
    assert!(
        matches!(result, Err(FetchError::Blocked(a)) if a == loopback),
        "{result:?}"
    );

    // Another network is listed.
    let result = fetcher
        .get(
            &server.url("127.0.0.1", "/avatar.png"),
            &allowing("10.0.0.0/8"),
        )
        .await;
    assert!(
        matches!(result, Err(FetchError::Blocked(a)) if a == loopback),
        "{result:?}"
    );

    // Nothing is listed.
    let result = fetcher
        .get(&server.url("localhost", "/avatar.png"), &allowing(""))
        .await;
    assert!(
        matches!(result, Err(FetchError::Blocked(a)) if a == loopback),
        "{result:?}"
    );
}

#[tokio::test]
async fn a_body_at_the_cap_is_accepted_and_one_byte_more_is_not() {
    let server = Server::start().await;
    for route in ["stream", "sized"] {
        let url = server.url("127.0.0.1", &format!("/{route}/100000"));
        let policy = |max| FetchPolicy {
            max_bytes: Some(max),
            ..allowing("127.0.0.1")
        };
        let fetched = Fetcher::new()
            .get(&url, &policy(100_000))
            .await
            .expect("fetch");
        assert_eq!(fetched.body.len(), 100_000, "{route}");
        let result = Fetcher::new().get(&url, &policy(99_999)).await;
        assert!(
            matches!(result, Err(FetchError::TooLarge(99_999))),
            "{route}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_huge_body_is_abandoned_early() {
    for route in ["stream", "sized"] {
        let server = Server::start().await;
        let policy = FetchPolicy {
            max_bytes: Some(200_000),
            ..allowing("127.0.0.1")
        };
        let started = Instant::now();
        let result = Fetcher::new()
            .get(
                &server.url("127.0.0.1", &format!("/{route}/{FIFTY_MB}")),
                &policy,
            )
            .await;
        let elapsed = started.elapsed();
        assert!(
            matches!(result, Err(FetchError::TooLarge(200_000))),
            "{route}: {result:?}"
        );
        // Sending it all takes over four seconds.
        assert!(
            elapsed < Duration::from_secs(1),
            "{route}: took {elapsed:?}"
        );
        // Once the client hangs up the server stops producing.
        tokio::time::sleep(Duration::from_millis(300)).await;
        let sent = server.sent();
        assert!(
            sent < 4 * 1024 * 1024,
            "{route}: the server produced {sent} bytes"
        );
    }
}

#[tokio::test]
async fn a_declared_length_over_the_cap_fails_before_reading() {
    let server = Server::start().await;
    let url = server.url("127.0.0.1", "/declared/1000");
    let policy = |max| FetchPolicy {
        max_bytes: Some(max),
        timeout: Duration::from_secs(1),
        ..allowing("127.0.0.1")
    };
    let started = Instant::now();
    let result = Fetcher::new().get(&url, &policy(999)).await;
    assert!(
        matches!(result, Err(FetchError::TooLarge(999))),
        "{result:?}"
    );
    assert!(started.elapsed() < Duration::from_millis(500));
    // Within the cap the client does wait for the body (and runs out of time).
    let result = Fetcher::new().get(&url, &policy(1000)).await;
    assert!(matches!(result, Err(FetchError::Timeout)), "{result:?}");
}

#[tokio::test]
async fn a_slow_server_times_out() {
    let server = Server::start().await;
    let policy = FetchPolicy {
        timeout: Duration::from_secs(1),
        ..allowing("127.0.0.1")
    };
    for path in ["/sleep", "/trickle"] {
        let started = Instant::now();
        let result = Fetcher::new()
            .get(&server.url("127.0.0.1", path), &policy)
            .await;
        let elapsed = started.elapsed();
        assert!(
            matches!(result, Err(FetchError::Timeout)),
            "{path}: {result:?}"
        );
        assert!(
            elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(1500),
            "{path}: took {elapsed:?}"
        );
    }
}

#[tokio::test]
async fn one_fetcher_serves_concurrent_tasks() {
    let server = Server::start().await;
    let fetcher = Arc::new(Fetcher::new());
    let policy = Arc::new(allowing("127.0.0.1"));
    let url = server.url("127.0.0.1", "/avatar.png");
    let tasks: Vec<_> = (0..8)
        .map(|_| {
            let (fetcher, policy, url) = (Arc::clone(&fetcher), Arc::clone(&policy), url.clone());
            tokio::spawn(async move { fetcher.get(&url, &policy).await })
        })
        .collect();
    for task in tasks {
        let fetched = task.await.expect("task").expect("fetch");
        assert_eq!(fetched.body.as_ref(), AVATAR);
    }
}

#[tokio::test]
async fn a_closed_port_is_a_network_error() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    drop(listener);
    let result = Fetcher::new()
        .get(&format!("http://127.0.0.1:{port}/"), &allowing("127.0.0.1"))
        .await;
    assert!(matches!(result, Err(FetchError::Network(_))), "{result:?}");
}

#[tokio::test]
async fn a_post_delivers_its_body_and_headers() {
    let server = Server::start().await;
    let request = webhook(server.url("localhost", "/mirror")).with_header(
        HeaderName::from_static("x-attempt"),
        HeaderValue::from_static("1"),
    );
    let response = Fetcher::new()
        .send(request, &allowing("localhost"))
        .await
        .expect("post");
    assert_eq!(response.status, 200);
    assert_eq!(seen(&response, "method"), ["POST"]);
    assert_eq!(seen(&response, "content-type"), ["application/json"]);
    assert_eq!(seen(&response, "x-avatard-signature"), [SIGNATURE]);
    assert_eq!(seen(&response, "x-attempt"), ["1"]);
    assert_eq!(
        seen(&response, "content-length"),
        [WEBHOOK.len().to_string()]
    );
    assert_eq!(
        seen(&response, "user-agent"),
        [concat!("avatard/", env!("CARGO_PKG_VERSION"))]
    );
    assert_eq!(response.body, WEBHOOK);
}

#[tokio::test]
async fn a_get_sent_as_a_request_carries_its_headers_and_no_body() {
    let server = Server::start().await;
    let request = Request::get(server.url("127.0.0.1", "/mirror")).with_header(
        HeaderName::from_static("x-test"),
        HeaderValue::from_static("asked"),
    );
    let response = Fetcher::new()
        .send(request, &allowing("127.0.0.1"))
        .await
        .expect("get");
    assert_eq!(seen(&response, "method"), ["GET"]);
    assert_eq!(seen(&response, "x-test"), ["asked"]);
    assert!(response.body.is_empty(), "{:?}", response.body);
}

#[tokio::test]
async fn every_2xx_answer_is_returned_with_its_headers_and_body() {
    let server = Server::start().await;
    let fetcher = Fetcher::new();
    for code in [200, 201, 202, 203, 204, 206] {
        let url = server.url("127.0.0.1", &format!("/answer/{code}"));
        for request in [Request::get(url.clone()), webhook(url)] {
            let method = request.method();
            let response = fetcher
                .send(request, &allowing("127.0.0.1"))
                .await
                .unwrap_or_else(|e| panic!("{code} {method:?}: {e}"));
            assert_eq!(response.status, code, "{method:?}");
            assert_eq!(
                response
                    .headers
                    .get(CACHE_CONTROL)
                    .map(HeaderValue::as_bytes),
                Some(&b"public, max-age=60"[..]),
                "{code} {method:?}"
            );
            let x_test: Vec<_> = response.headers.get_all("x-test").iter().collect();
            assert_eq!(x_test, ["answered", "twice"], "{code} {method:?}");
            // A 204 has no body by definition; the server sends none.
            let expected = if code == 204 { "" } else { ANSWER };
            assert_eq!(response.body, expected, "{code} {method:?}");
        }
    }
}

#[tokio::test]
async fn other_statuses_are_returned_with_their_headers_but_without_their_body() {
    let server = Server::start().await;
    for code in [400, 404, 500, 503] {
        let response = Fetcher::new()
            .send(
                webhook(server.url("127.0.0.1", &format!("/status/{code}"))),
                &allowing("127.0.0.1"),
            )
            .await
            .expect("post");
        assert_eq!(response.status, code);
        assert_eq!(
            response
                .headers
                .get(CONTENT_TYPE)
                .map(HeaderValue::as_bytes),
            Some(&b"text/plain"[..]),
            "{code}"
        );
        assert!(response.body.is_empty(), "{code}: {:?}", response.body);
    }
}

#[tokio::test]
async fn the_body_of_any_2xx_is_capped() {
    let server = Server::start().await;
    let url = server.url("127.0.0.1", "/answer/201");
    let policy = |max| FetchPolicy {
        max_bytes: Some(max),
        ..allowing("127.0.0.1")
    };
    let cap = ANSWER.len() as u64;
    let response = Fetcher::new()
        .send(webhook(url.clone()), &policy(cap))
        .await
        .expect("post");
    assert_eq!(response.body, ANSWER);
    let result = Fetcher::new().send(webhook(url), &policy(cap - 1)).await;
    assert!(
        matches!(result, Err(FetchError::TooLarge(max)) if max == cap - 1),
        "{result:?}"
    );
}

#[tokio::test]
async fn the_caller_cannot_set_host_length_or_connection_headers() {
    let server = Server::start().await;
    let fetcher = Fetcher::new();
    for (host, setting) in [("127.0.0.1", "127.0.0.1"), ("localhost", "localhost")] {
        let request = webhook(server.url(host, "/mirror"))
            .with_header(HOST, HeaderValue::from_static("internal.example"))
            .with_header(
                HeaderName::from_static("host"),
                HeaderValue::from_static("admin.internal.example"),
            )
            .with_header(CONTENT_LENGTH, HeaderValue::from_static("4096"))
            .with_header(
                HeaderName::from_static("transfer-encoding"),
                HeaderValue::from_static("chunked"),
            )
            .with_header(
                HeaderName::from_static("connection"),
                HeaderValue::from_static("close"),
            )
            .with_header(
                HeaderName::from_static("proxy-authorization"),
                HeaderValue::from_static("Basic c2VjcmV0"),
            );
        let response = fetcher
            .send(request, &allowing(setting))
            .await
            .unwrap_or_else(|e| panic!("{host}: {e}"));
        assert_eq!(response.status, 200, "{host}");
        assert_eq!(
            seen(&response, "host"),
            [format!("{host}:{}", server.port)],
            "{host}"
        );
        assert_eq!(
            seen(&response, "content-length"),
            [WEBHOOK.len().to_string()],
            "{host}"
        );
        for dropped in ["transfer-encoding", "proxy-authorization"] {
            assert!(seen(&response, dropped).is_empty(), "{host}: {dropped}");
        }
        // The client may add its own Connection header, never the caller's.
        assert!(
            !seen(&response, "connection").contains(&"close".to_owned()),
            "{host}"
        );
        assert_eq!(
            seen(&response, "x-avatard-signature"),
            [SIGNATURE],
            "{host}"
        );
        assert_eq!(response.body, WEBHOOK, "{host}");
    }
}

#[tokio::test]
async fn a_post_to_a_refused_address_never_connects() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let fetcher = Fetcher::new();
    let loopback = ip("127.0.0.1");
    for (host, setting) in [
        ("127.0.0.1", ""),
        ("localhost", ""),
        ("127.0.0.1", "localhost"),
        ("127.0.0.1", "10.0.0.0/8"),
    ] {
        let result = fetcher
            .send(
                webhook(format!("http://{host}:{port}/hook")),
                &allowing(setting),
            )
            .await;
        assert!(
            matches!(result, Err(FetchError::Blocked(a)) if a == loopback),
            "{host} with {setting:?}: {result:?}"
        );
    }
    let connection = tokio::time::timeout(Duration::from_millis(200), listener.accept()).await;
    assert!(connection.is_err(), "a refused POST connected");

    let metadata = ip("169.254.169.254");
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://metadata.google.internal/computeMetadata/v1/",
    ] {
        let result = fetcher
            .send(webhook(url.to_owned()), &FetchPolicy::default())
            .await;
        assert!(
            matches!(result, Err(FetchError::Blocked(a)) if a == metadata),
            "{url}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_redirect_answer_to_a_post_is_an_error() {
    let server = Server::start().await;
    for code in [300, 301, 302, 303, 304, 307, 308] {
        let result = Fetcher::new()
            .send(
                webhook(server.url("127.0.0.1", &format!("/status/{code}"))),
                &allowing("127.0.0.1"),
            )
            .await;
        assert!(
            matches!(result, Err(FetchError::Redirect(c)) if c == code),
            "{code}: {result:?}"
        );
    }
}

#[tokio::test]
async fn a_post_to_a_slow_server_times_out() {
    let server = Server::start().await;
    let policy = FetchPolicy {
        timeout: Duration::from_secs(1),
        ..allowing("127.0.0.1")
    };
    let started = Instant::now();
    let result = Fetcher::new()
        .send(webhook(server.url("127.0.0.1", "/sleep")), &policy)
        .await;
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(FetchError::Timeout)), "{result:?}");
    assert!(
        elapsed >= Duration::from_millis(900) && elapsed < Duration::from_millis(1500),
        "took {elapsed:?}"
    );
}
