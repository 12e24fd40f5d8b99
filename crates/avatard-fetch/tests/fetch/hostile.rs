//! The hostile-URL table of the SSRF requirement: every row is one URL a user
//! could give (`avatarUrl`, a provider template, a webhook) and the exact
//! reason it must be refused. Each row goes through the crate's public API as
//! the server calls it, `Fetcher::get` (avatar URLs) and `Fetcher::send` with
//! a POST (webhooks), under the default policy: an empty `SSRF_Allowlist`.
//!
//! Three kinds of rows:
//! - [`TABLE`]: literal URLs, refused before any packet leaves;
//! - names that resolve to loopback through the system resolver
//!   (/etc/hosts), refused after resolution;
//! - redirects from an allow-listed local server to internal targets,
//!   refused as redirects.
//!
//! A listening "trap" on 127.0.0.1 stands for the hidden internal service:
//! several rows aim at it in different spellings, and redirects point at it.
//! It must never see a connection.

use std::collections::BTreeSet;
use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use avatard_fetch::header::{CONTENT_TYPE, HeaderValue};
use avatard_fetch::{Allowlist, FetchError, FetchPolicy, Fetcher, Request, is_public};
use axum::Router;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::http::header::LOCATION;
use axum::response::IntoResponse;
use axum::routing::any;
use tokio::net::TcpListener;

/// The requirement asks for at least 40 hostile URLs; the table alone must
/// hold at least 45.
const REQUIRED: usize = 40;
const TABLE_MINIMUM: usize = 45;

/// Replaced in a row's URL by the trap's port.
const TRAP: &str = "{trap}";

/// Why a row must be refused, as precisely as the error tells it.
#[derive(Clone, Debug)]
enum Refused {
    /// `Blocked` reporting exactly this address (metadata names report
    /// 169.254.169.254).
    Blocked(&'static str),
    /// `Blocked` reporting one of these addresses: a name's non-public
    /// answers from the system resolver.
    BlockedOneOf(Vec<IpAddr>),
    /// `InvalidUrl` whose message contains this text.
    Url(&'static str),
    /// `Redirect` with this status.
    Redirect(u16),
}

use Refused::{Blocked, Url};

const CREDENTIALS: &str = "credentials in the URL are not allowed";
const NOT_A_URL: &str = "not a URL";
const METADATA: &str = "169.254.169.254";

/// Literal hostile URLs and why each is refused.
const TABLE: &[(&str, Refused)] = &[
    // Loopback and "this host" (0.0.0.0 reaches localhost on Linux).
    ("http://127.0.0.1:{trap}/", Blocked("127.0.0.1")),
    ("http://127.255.255.254/", Blocked("127.255.255.254")),
    ("http://[::1]:{trap}/", Blocked("::1")),
    ("http://0.0.0.0:{trap}/", Blocked("0.0.0.0")),
    ("http://0.255.255.255/", Blocked("0.255.255.255")),
    ("http://[::]/", Blocked("::")),
    ("http://[0:0:0:0:0:0:0:1]/", Blocked("::1")),
    // Private (RFC 1918).
    ("http://10.0.0.1/", Blocked("10.0.0.1")),
    ("http://10.255.255.255/", Blocked("10.255.255.255")),
    ("http://172.16.0.1/", Blocked("172.16.0.1")),
    ("http://172.31.255.254/", Blocked("172.31.255.254")),
    ("http://192.168.0.1/", Blocked("192.168.0.1")),
    ("https://192.168.255.254/", Blocked("192.168.255.254")),
    // Shared address space (CGNAT), with Alibaba's metadata service.
    ("http://100.64.0.1/", Blocked("100.64.0.1")),
    ("http://100.127.255.254/", Blocked("100.127.255.254")),
    (
        "http://100.100.100.200/latest/meta-data/",
        Blocked("100.100.100.200"),
    ),
    // Link-local, with the cloud metadata address.
    ("http://169.254.0.1/", Blocked("169.254.0.1")),
    (
        "http://169.254.169.254/latest/meta-data/",
        Blocked(METADATA),
    ),
    (
        "http://169.254.169.254/computeMetadata/v1/?recursive=true",
        Blocked(METADATA),
    ),
    // IETF protocol assignments, documentation, benchmarking, 6to4 relay.
    ("http://192.0.0.1/", Blocked("192.0.0.1")),
    ("http://192.0.0.170/", Blocked("192.0.0.170")),
    ("http://192.0.2.1/", Blocked("192.0.2.1")),
    ("http://198.51.100.1/", Blocked("198.51.100.1")),
    ("http://203.0.113.1/", Blocked("203.0.113.1")),
    ("http://198.18.0.1/", Blocked("198.18.0.1")),
    ("http://198.19.255.254/", Blocked("198.19.255.254")),
    ("http://192.88.99.1/", Blocked("192.88.99.1")),
    // Multicast, reserved, broadcast.
    ("http://224.0.0.1/", Blocked("224.0.0.1")),
    ("http://239.255.255.250:1900/", Blocked("239.255.255.250")),
    ("http://240.0.0.1/", Blocked("240.0.0.1")),
    ("http://255.255.255.255/", Blocked("255.255.255.255")),
    // IPv6: link-local, site-local, unique-local (with AWS's IPv6 metadata
    // address), multicast.
    ("http://[fe80::1]/", Blocked("fe80::1")),
    ("http://[fe80::a9fe:a9fe]/", Blocked("fe80::a9fe:a9fe")),
    ("http://[febf:ffff::1]/", Blocked("febf:ffff::1")),
    ("http://[fec0::1]/", Blocked("fec0::1")),
    ("http://[fc00::1]/", Blocked("fc00::1")),
    ("http://[fd00::1]/", Blocked("fd00::1")),
    (
        "http://[fd00:ec2::254]/latest/meta-data/",
        Blocked("fd00:ec2::254"),
    ),
    ("http://[ff02::1]/", Blocked("ff02::1")),
    ("http://[ff05::1:3]/", Blocked("ff05::1:3")),
    // IPv6: documentation (old and RFC 9637), discard, benchmarking, ORCHID,
    // and the anycast PCP address of the IETF block.
    ("http://[2001:db8::1]/", Blocked("2001:db8::1")),
    ("http://[3fff::1]/", Blocked("3fff::1")),
    ("http://[100::1]/", Blocked("100::1")),
    ("http://[2001:2::1]/", Blocked("2001:2::1")),
    ("http://[2001:10::1]/", Blocked("2001:10::1")),
    ("http://[2001:20::1]/", Blocked("2001:20::1")),
    ("http://[2001:1::1]/", Blocked("2001:1::1")),
    // IPv4 inside IPv6: mapped, compatible, SIIT, NAT64 (well-known and
    // local-use), 6to4 and Teredo. All refused whatever they carry, a public
    // IPv4 address included.
    (
        "http://[::ffff:127.0.0.1]:{trap}/",
        Blocked("::ffff:127.0.0.1"),
    ),
    ("http://[::ffff:7f00:1]/", Blocked("::ffff:127.0.0.1")),
    (
        "http://[0:0:0:0:0:ffff:127.0.0.1]/",
        Blocked("::ffff:127.0.0.1"),
    ),
    (
        "http://[::ffff:a9fe:a9fe]/",
        Blocked("::ffff:169.254.169.254"),
    ),
    (
        "http://[::ffff:93.184.216.34]/",
        Blocked("::ffff:93.184.216.34"),
    ),
    ("http://[::127.0.0.1]/", Blocked("::127.0.0.1")),
    ("http://[::ffff:0:7f00:1]/", Blocked("::ffff:0:7f00:1")),
    ("http://[64:ff9b::7f00:1]/", Blocked("64:ff9b::7f00:1")),
    (
        "http://[64:ff9b::a9fe:a9fe]/",
        Blocked("64:ff9b::a9fe:a9fe"),
    ),
    ("http://[64:ff9b:1::7f00:1]/", Blocked("64:ff9b:1::7f00:1")),
    ("http://[2002:7f00:1::]/", Blocked("2002:7f00:1::")),
    ("http://[2002:a9fe:a9fe::]/", Blocked("2002:a9fe:a9fe::")),
    (
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        Blocked("2001:0:4136:e378:8000:63bf:3fff:fdd2"),
    ),
    // Odd spellings of 127.0.0.1: decimal, octal, hex, short forms, a
    // trailing dot, percent-encoding, full-width digits, a backslash, tabs.
    ("http://2130706433:{trap}/", Blocked("127.0.0.1")),
    ("http://0177.0.0.1/", Blocked("127.0.0.1")),
    ("http://017700000001/", Blocked("127.0.0.1")),
    ("http://0x7f.0.0.1/", Blocked("127.0.0.1")),
    ("http://0x7f000001/", Blocked("127.0.0.1")),
    ("http://0x7F.0x00.0x00.0x01/", Blocked("127.0.0.1")),
    ("http://0x7f.1:{trap}/", Blocked("127.0.0.1")),
    ("http://127.1/", Blocked("127.0.0.1")),
    ("http://127.0.1/", Blocked("127.0.0.1")),
    ("http://0/", Blocked("0.0.0.0")),
    ("http://127.0.0.1./", Blocked("127.0.0.1")),
    ("http://%31%32%37.0.0.1/", Blocked("127.0.0.1")),
    (
        "http://\u{ff11}\u{ff12}\u{ff17}.0.0.1/",
        Blocked("127.0.0.1"),
    ),
    ("http://127.0.0.1\\@example.com/", Blocked("127.0.0.1")),
    ("http://12\t7.0.0\n.1/", Blocked("127.0.0.1")),
    ("HTTP://127.0.0.1/", Blocked("127.0.0.1")),
    ("https://0x7f.1/", Blocked("127.0.0.1")),
    // Odd spellings of other internal addresses.
    ("http://2852039166/", Blocked(METADATA)),
    ("http://0251.0376.0251.0376/", Blocked(METADATA)),
    ("http://0xa9fea9fe/", Blocked(METADATA)),
    ("http://10.1/", Blocked("10.0.0.1")),
    ("http://192.168.1/", Blocked("192.168.0.1")),
    ("http://3232235777/", Blocked("192.168.1.1")),
    // Cloud metadata names, refused by name before any lookup (reported as
    // the metadata address).
    (
        "http://metadata.google.internal/computeMetadata/v1/",
        Blocked(METADATA),
    ),
    ("http://METADATA.Google.Internal./", Blocked(METADATA)),
    ("http://x.metadata.google.internal/", Blocked(METADATA)),
    ("http://metadata/", Blocked(METADATA)),
    ("http://metadata.goog/", Blocked(METADATA)),
    ("http://metadata.azure.internal/", Blocked(METADATA)),
    ("http://instance-data/latest/meta-data/", Blocked(METADATA)),
    ("http://instance-data.ec2.internal/", Blocked(METADATA)),
    ("http://api.metadata.cloud.ibm.com/", Blocked(METADATA)),
    ("http://metadata.tencentyun.com/latest/", Blocked(METADATA)),
    (
        "https://metadata.platformequinix.com/metadata",
        Blocked(METADATA),
    ),
    ("https://metadata.packet.net/userdata", Blocked(METADATA)),
    ("http://metadata.google.internal:{trap}/", Blocked(METADATA)),
    // Credentials in the URL.
    ("http://user:pass@example.com/", Url(CREDENTIALS)),
    ("http://user@example.com/", Url(CREDENTIALS)),
    ("http://:pass@example.com/", Url(CREDENTIALS)),
    ("http://example.com@127.0.0.1/", Url(CREDENTIALS)),
    ("http://127.0.0.1:80@example.com/", Url(CREDENTIALS)),
    ("https://token@169.254.169.254/", Url(CREDENTIALS)),
    // Schemes other than http and https.
    ("file:///etc/passwd", Url("scheme `file`")),
    ("gopher://127.0.0.1:70/_stats", Url("scheme `gopher`")),
    ("ftp://example.com/a.png", Url("scheme `ftp`")),
    ("data:image/png;base64,iVBORw0KGgo=", Url("scheme `data`")),
    ("javascript:alert(1)", Url("scheme `javascript`")),
    ("dict://127.0.0.1:11211/stats", Url("scheme `dict`")),
    ("ldap://127.0.0.1/", Url("scheme `ldap`")),
    ("ws://example.com/", Url("scheme `ws`")),
    ("jar:http://example.com/a.jar!/", Url("scheme `jar`")),
    // A non-default port on a public host, with no allowlist.
    (
        "http://93.184.216.34:8080/",
        Url("port 8080 is only allowed"),
    ),
    ("https://93.184.216.34:80/", Url("port 80 is only allowed")),
    ("http://1.1.1.1:25/", Url("port 25 is only allowed")),
    (
        "http://[2606:4700:4700::1111]:6379/",
        Url("port 6379 is only allowed"),
    ),
    // Not URLs at all.
    ("http://", Url(NOT_A_URL)),
    ("", Url(NOT_A_URL)),
    ("//127.0.0.1/", Url(NOT_A_URL)),
    ("http://[::1/", Url(NOT_A_URL)),
    ("http://256.0.0.1/", Url(NOT_A_URL)),
    ("http://0x100000000/", Url(NOT_A_URL)),
    ("http://exa mple.com/", Url(NOT_A_URL)),
    ("http://127.0.0.1%00.example.com/", Url(NOT_A_URL)),
];

/// Names that resolve to loopback through /etc/hosts. `localhost` and
/// `LOCALHOST` must resolve; the others are tried where the resolver knows
/// them, and reported as skipped otherwise.
const LOOPBACK_NAMES: &[(&str, bool)] = &[
    ("localhost", true),
    ("LOCALHOST", true),
    ("localhost.", false),
    ("ip6-localhost", false),
    ("ip6-loopback", false),
    ("avatars.localhost", false),
];

/// Where the allow-listed redirecting server sends the client, with the
/// status it uses. `{trap}` is the trap's port, `{self}` the server's own.
const REDIRECTS: &[(u16, &str)] = &[
    (302, "http://127.0.0.1:{trap}/secret"),
    (302, "http://127.0.0.1/"),
    (
        301,
        "http://169.254.169.254/latest/meta-data/iam/security-credentials/",
    ),
    (307, "http://metadata.google.internal/computeMetadata/v1/"),
    (308, "http://[::1]:{trap}/"),
    (303, "http://localhost:{trap}/admin"),
    (302, "http://2130706433:{trap}/"),
    (302, "http://[fd00:ec2::254]/latest/meta-data/"),
    (302, "file:///etc/passwd"),
    // Even the allow-listed server itself is not followed: no redirect ever
    // is, so `/hidden` must stay unvisited.
    (302, "http://localhost:{self}/hidden"),
];

/// One row as run: the URL and the refusal it must get.
struct Row {
    url: String,
    refused: Refused,
}

/// The hidden internal service: counts every connection it accepts.
struct Trap {
    port: u16,
    accepted: Arc<AtomicUsize>,
}

impl Trap {
    async fn start() -> Trap {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the trap");
        let port = listener.local_addr().expect("local address").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counted = Arc::clone(&accepted);
        tokio::spawn(async move {
            // Held open and never answered, like a service that listens.
            let mut open = Vec::new();
            while let Ok((stream, _)) = listener.accept().await {
                counted.fetch_add(1, Ordering::SeqCst);
                open.push(stream);
            }
        });
        Trap { port, accepted }
    }

    fn accepted(&self) -> usize {
        self.accepted.load(Ordering::SeqCst)
    }
}

/// The redirecting server, allow-listed as `localhost`: `/go/{i}` answers
/// with `REDIRECTS[i]`; every request and every visit to `/hidden` counted.
struct Redirector {
    port: u16,
    requests: Arc<AtomicUsize>,
    hidden: Arc<AtomicUsize>,
}

#[derive(Clone)]
struct Routes {
    targets: Arc<Vec<(u16, String)>>,
    requests: Arc<AtomicUsize>,
    hidden: Arc<AtomicUsize>,
}

impl Redirector {
    async fn start(trap: &Trap) -> Redirector {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let port = listener.local_addr().expect("local address").port();
        let targets = REDIRECTS
            .iter()
            .map(|(status, target)| {
                let target = target
                    .replace(TRAP, &trap.port.to_string())
                    .replace("{self}", &port.to_string());
                (*status, target)
            })
            .collect();
        let routes = Routes {
            targets: Arc::new(targets),
            requests: Arc::new(AtomicUsize::new(0)),
            hidden: Arc::new(AtomicUsize::new(0)),
        };
        let (requests, hidden) = (Arc::clone(&routes.requests), Arc::clone(&routes.hidden));
        let app = Router::new()
            .route("/go/{index}", any(redirect))
            .route("/hidden", any(visit_hidden))
            .with_state(routes);
        tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
        Redirector {
            port,
            requests,
            hidden,
        }
    }
}

async fn redirect(State(routes): State<Routes>, Path(index): Path<usize>) -> impl IntoResponse {
    routes.requests.fetch_add(1, Ordering::SeqCst);
    let (status, target) = routes.targets[index].clone();
    let status = StatusCode::from_u16(status).expect("test status");
    (status, [(LOCATION, target)], "redirecting")
}

async fn visit_hidden(State(routes): State<Routes>) -> &'static str {
    routes.hidden.fetch_add(1, Ordering::SeqCst);
    "hidden"
}

/// Whether `result` is the refusal `refused`.
fn judged<T>(result: &Result<T, FetchError>, refused: &Refused) -> bool {
    match (result, refused) {
        (Err(FetchError::Blocked(got)), Refused::Blocked(want)) => {
            *got == want.parse::<IpAddr>().expect("test address")
        }
        (Err(FetchError::Blocked(got)), Refused::BlockedOneOf(want)) => want.contains(got),
        (Err(FetchError::InvalidUrl(message)), Refused::Url(want)) => message.contains(want),
        (Err(FetchError::Redirect(got)), Refused::Redirect(want)) => got == want,
        _ => false,
    }
}

/// The non-public addresses the system resolver gives `name`, if any.
async fn loopback_answers(name: &str) -> Vec<IpAddr> {
    match tokio::net::lookup_host((name, 80)).await {
        Ok(addrs) => addrs
            .map(|addr: SocketAddr| addr.ip())
            .filter(|ip| !is_public(*ip))
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect(),
        Err(_) => Vec::new(),
    }
}

#[tokio::test]
async fn at_least_forty_hostile_urls_are_refused_for_the_right_reason() {
    let trap = Trap::start().await;
    let redirector = Redirector::start(&trap).await;
    let trap_port = trap.port.to_string();
    let mut rows: Vec<Row> = TABLE
        .iter()
        .map(|(url, refused)| Row {
            url: url.replace(TRAP, &trap_port),
            refused: refused.clone(),
        })
        .collect();

    // Names that resolve to loopback: refused once resolved.
    let mut resolved = 0;
    let mut skipped = Vec::new();
    for (name, required) in LOOPBACK_NAMES {
        let answers = loopback_answers(name).await;
        if answers.is_empty() {
            assert!(!required, "{name} does not resolve to loopback here");
            skipped.push(*name);
            continue;
        }
        assert!(
            answers.iter().all(IpAddr::is_loopback),
            "{name}: {answers:?}"
        );
        resolved += 2;
        rows.push(Row {
            url: format!("http://{name}/"),
            refused: Refused::BlockedOneOf(answers.clone()),
        });
        rows.push(Row {
            url: format!("http://{name}:{trap_port}/admin"),
            refused: Refused::BlockedOneOf(answers),
        });
    }

    // Redirects from the allow-listed server.
    let first_redirect = rows.len();
    for (index, (status, _)) in REDIRECTS.iter().enumerate() {
        rows.push(Row {
            url: format!("http://localhost:{}/go/{index}", redirector.port),
            refused: Refused::Redirect(*status),
        });
    }

    // Every row through both doors: an avatar GET and a webhook POST. The
    // redirecting server is reachable only through the allowlist, which
    // lists it by name: its address, 127.0.0.1, stays refused.
    let fetcher = Fetcher::new();
    let open = FetchPolicy {
        timeout: Duration::from_secs(5),
        ..FetchPolicy::default()
    };
    let listed = FetchPolicy {
        allowlist: Allowlist::parse("localhost"),
        ..open.clone()
    };
    let mut wrong = Vec::new();
    for (index, row) in rows.iter().enumerate() {
        let policy = if index >= first_redirect {
            &listed
        } else {
            &open
        };
        let got = fetcher.get(&row.url, policy).await;
        if !judged(&got, &row.refused) {
            wrong.push(format!(
                "GET  {:?}: expected {:?}, got {got:?}",
                row.url, row.refused
            ));
        }
        let webhook = Request::post(row.url.as_str(), r#"{"event":"updateAvatar"}"#)
            .with_header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        let sent = fetcher.send(webhook, policy).await;
        if !judged(&sent, &row.refused) {
            wrong.push(format!(
                "POST {:?}: expected {:?}, got {sent:?}",
                row.url, row.refused
            ));
        }
    }

    let redirects = rows.len() - first_redirect;
    eprintln!(
        "hostile URLs tried: {} ({} literal, {resolved} through the system resolver, \
         {redirects} redirects), each as a GET and as a POST; \
         skipped (not known to this resolver): {skipped:?}",
        rows.len(),
        TABLE.len(),
    );
    assert!(wrong.is_empty(), "misjudged:\n{}", wrong.join("\n"));

    // The redirecting server answered every redirect row, both times, so
    // those rows did reach it; nothing reached what it pointed at.
    assert_eq!(
        redirector.requests.load(Ordering::SeqCst),
        2 * redirects,
        "redirect rows that never reached the server"
    );
    assert_eq!(
        redirector.hidden.load(Ordering::SeqCst),
        0,
        "a redirect was followed"
    );
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(trap.accepted(), 0, "the hidden service was contacted");

    assert!(
        TABLE.len() >= TABLE_MINIMUM,
        "the table holds {} URLs",
        TABLE.len()
    );
    assert!(resolved >= 4, "localhost and LOCALHOST must be tried");
    assert!(rows.len() >= REQUIRED, "only {} hostile URLs", rows.len());
}

#[tokio::test]
async fn no_row_passes_vacuously() {
    // The judge refuses a success, a different error kind, a different
    // blocked address and a different redirect status.
    let blocked: Result<(), FetchError> = Err(FetchError::Blocked("127.0.0.1".parse().unwrap()));
    assert!(judged(&blocked, &Blocked("127.0.0.1")));
    assert!(!judged(&blocked, &Blocked("127.0.0.2")));
    assert!(!judged(&blocked, &Url(CREDENTIALS)));
    assert!(!judged(&Ok::<(), FetchError>(()), &Blocked("127.0.0.1")));
    let network: Result<(), FetchError> = Err(FetchError::Network("refused".into()));
    assert!(!judged(&network, &Blocked("127.0.0.1")));
    assert!(!judged(
        &Err::<(), _>(FetchError::Redirect(301)),
        &Refused::Redirect(302)
    ));

    // The same fetcher does fetch from the trap and the redirecting server
    // once they are allow-listed, so their refusals above are the rules at
    // work, not a dead setup.
    let trap = Trap::start().await;
    let redirector = Redirector::start(&trap).await;
    let listed = FetchPolicy {
        allowlist: Allowlist::parse("localhost"),
        timeout: Duration::from_secs(5),
        ..FetchPolicy::default()
    };
    let hidden = Fetcher::new()
        .get(
            &format!("http://localhost:{}/hidden", redirector.port),
            &listed,
        )
        .await
        .expect("the hidden route");
    assert_eq!(hidden.body, "hidden");
    assert_eq!(redirector.hidden.load(Ordering::SeqCst), 1);
    let trap_policy = FetchPolicy {
        allowlist: Allowlist::parse("127.0.0.1"),
        timeout: Duration::from_millis(300),
        ..FetchPolicy::default()
    };
    // The trap accepts and never answers: a timeout, after a connection.
    let result = Fetcher::new()
        .get(&format!("http://127.0.0.1:{}/", trap.port), &trap_policy)
        .await;
    assert!(matches!(result, Err(FetchError::Timeout)), "{result:?}");
    assert_eq!(trap.accepted(), 1);
}
