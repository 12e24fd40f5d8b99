//! "Connects only to the address it checked", shown with names whose answers
//! the test chooses ([`Fetcher::with_lookup`]): several addresses with one
//! not public, an answer that changes between lookups (DNS rebinding), and
//! the name kept for `Host` and TLS SNI while the connection goes to the
//! checked address.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::Router;
use axum::http::HeaderMap;
use axum::http::header::HOST;
use axum::routing::get;
use tokio::io::AsyncReadExt;
use tokio::net::{TcpListener, TcpStream};

use super::{FetchPolicy, Fetcher};
use crate::allowlist::Allowlist;
use crate::error::FetchError;

const CHECKED: &str = "served by the checked address";

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

fn allowing(setting: &str) -> FetchPolicy {
    FetchPolicy {
        allowlist: Allowlist::parse(setting),
        timeout: Duration::from_secs(5),
        ..FetchPolicy::default()
    }
}

/// A fetcher whose every name resolves to `addrs`, counting the lookups.
fn answering(addrs: &[&str]) -> (Fetcher, Arc<AtomicUsize>) {
    let addrs: Vec<IpAddr> = addrs.iter().map(|a| ip(a)).collect();
    let lookups = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&lookups);
    let fetcher = Fetcher::with_lookup(move |_name| {
        counted.fetch_add(1, Ordering::SeqCst);
        addrs.clone()
    });
    (fetcher, lookups)
}

/// An HTTP server on `ip` answering `/who` with [`CHECKED`] and the `Host`
/// it was sent, counting the requests.
async fn http_server(ip: &str) -> (u16, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&hits);
    let app = Router::new().route(
        "/who",
        get(move |headers: HeaderMap| {
            counted.fetch_add(1, Ordering::SeqCst);
            let host = headers
                .get(HOST)
                .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned())
                .unwrap_or_default();
            async move { format!("{CHECKED}; host={host}") }
        }),
    );
    let listener = TcpListener::bind((ip, 0)).await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (port, hits)
}

/// A listener on `addr` that only counts the connections it accepts.
async fn trap(addr: SocketAddr) -> Arc<AtomicUsize> {
    let listener = TcpListener::bind(addr).await.expect("bind the trap");
    let accepted = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&accepted);
    tokio::spawn(async move {
        while let Ok((_stream, _)) = listener.accept().await {
            counted.fetch_add(1, Ordering::SeqCst);
        }
    });
    accepted
}

#[tokio::test]
async fn one_address_that_is_not_public_refuses_the_whole_name() {
    for (answer, refused) in [
        (&["93.184.216.34", "10.0.0.1"][..], "10.0.0.1"),
        (&["10.0.0.1", "93.184.216.34"], "10.0.0.1"),
        (&["2606:4700:4700::1111", "fd00::1"], "fd00::1"),
        (&["93.184.216.34", "::ffff:127.0.0.1"], "::ffff:127.0.0.1"),
        (&["93.184.216.34", "169.254.169.254"], "169.254.169.254"),
        (
            &["93.184.216.34", "93.184.216.35", "127.0.0.1"],
            "127.0.0.1",
        ),
    ] {
        let (fetcher, lookups) = answering(answer);
        let result = fetcher
            .get("http://avatars.example/a.png", &FetchPolicy::default())
            .await;
        assert!(
            matches!(result, Err(FetchError::Blocked(a)) if a == ip(refused)),
            "{answer:?}: {result:?}"
        );
        assert_eq!(lookups.load(Ordering::SeqCst), 1, "{answer:?}");
    }
}

#[tokio::test]
async fn a_listed_address_does_not_carry_an_unlisted_one_along() {
    let (port, hits) = http_server("127.0.0.1").await;
    let url = format!("http://mixed.example:{port}/who");
    let policy = allowing("127.0.0.1");

    // With 10.0.0.1 in the answer, nothing is contacted, not even the
    // listed address.
    for answer in [["127.0.0.1", "10.0.0.1"], ["10.0.0.1", "127.0.0.1"]] {
        let (fetcher, _) = answering(&answer);
        let result = fetcher.get(&url, &policy).await;
        assert!(
            matches!(result, Err(FetchError::Blocked(a)) if a == ip("10.0.0.1")),
            "{answer:?}: {result:?}"
        );
    }
    assert_eq!(hits.load(Ordering::SeqCst), 0, "a refused name connected");

    // The same name with only the listed address is fetched: the refusals
    // above are the address rule, not a broken setup.
    let (fetcher, _) = answering(&["127.0.0.1"]);
    let fetched = fetcher.get(&url, &policy).await.expect("fetch");
    assert_eq!(fetched.status, 200);
    assert_eq!(hits.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_rebinding_name_is_looked_up_once_and_the_connection_goes_to_the_checked_address() {
    let (port, hits) = http_server("127.0.0.1").await;
    // The address the name "rebinds" to, on the same port; only 127.0.0.1
    // is allow-listed, so the check would refuse it.
    let rebound = trap(SocketAddr::new(ip("127.0.0.2"), port)).await;
    let lookups = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&lookups);
    let fetcher = Fetcher::with_lookup(move |_name| {
        if counted.fetch_add(1, Ordering::SeqCst) == 0 {
            vec![ip("127.0.0.1")]
        } else {
            vec![ip("127.0.0.2")]
        }
    });
    let policy = allowing("127.0.0.1");
    let url = format!("http://rebind.example:{port}/who");

    let fetched = fetcher.get(&url, &policy).await.expect("fetch");
    assert_eq!(
        fetched.body,
        format!("{CHECKED}; host=rebind.example:{port}"),
        "the name is the Host, the checked address the peer"
    );
    assert_eq!(
        lookups.load(Ordering::SeqCst),
        1,
        "the name was looked up again"
    );
    assert_eq!(hits.load(Ordering::SeqCst), 1);

    // The next fetch sees the new answer, and its check refuses it.
    let result = fetcher.get(&url, &policy).await;
    assert!(
        matches!(result, Err(FetchError::Blocked(a)) if a == ip("127.0.0.2")),
        "{result:?}"
    );
    assert_eq!(lookups.load(Ordering::SeqCst), 2);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(
        rebound.load(Ordering::SeqCst),
        0,
        "the rebound address was contacted"
    );
}

#[tokio::test]
async fn tls_names_the_host_while_connecting_to_the_checked_address() {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let port = listener.local_addr().expect("local address").port();
    let server_name = tokio::spawn(async move {
        let (mut stream, _) = listener.accept().await.expect("accept");
        client_hello_server_name(&mut stream).await
        // Dropping the stream ends the handshake: the fetch fails, which is
        // fine, the ClientHello has been seen.
    });
    let (fetcher, lookups) = answering(&["127.0.0.1"]);
    let result = fetcher
        .get(
            &format!("https://avatars.example:{port}/a.png"),
            &allowing("127.0.0.1"),
        )
        .await;
    assert!(matches!(result, Err(FetchError::Network(_))), "{result:?}");
    let server_name = server_name.await.expect("listener task");
    assert_eq!(server_name.as_deref(), Some("avatars.example"));
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_public_name_on_another_port_needs_the_allowlist() {
    let (fetcher, lookups) = answering(&["93.184.216.34"]);
    let result = fetcher
        .get("http://avatars.example:8080/a.png", &FetchPolicy::default())
        .await;
    assert!(
        matches!(&result, Err(FetchError::InvalidUrl(m)) if m.contains("port 8080")),
        "{result:?}"
    );
    assert_eq!(lookups.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn what_the_url_alone_refuses_asks_no_resolver() {
    let (fetcher, lookups) = answering(&["93.184.216.34"]);
    for url in [
        "http://user@avatars.example/",
        "http://user:pw@avatars.example/",
        "ftp://avatars.example/",
        "gopher://avatars.example/",
        "http://metadata.google.internal/",
        "http://metadata.platformequinix.com/metadata",
        "http://api.metadata.cloud.ibm.com/",
    ] {
        let result = fetcher.get(url, &FetchPolicy::default()).await;
        assert!(
            matches!(
                result,
                Err(FetchError::InvalidUrl(_) | FetchError::Blocked(_))
            ),
            "{url}: {result:?}"
        );
    }
    assert_eq!(lookups.load(Ordering::SeqCst), 0);
}

/// The server name (SNI) of the TLS ClientHello the peer sends first.
async fn client_hello_server_name(stream: &mut TcpStream) -> Option<String> {
    let mut header = [0; 5];
    stream.read_exact(&mut header).await.ok()?;
    // A handshake record.
    if header[0] != 22 {
        return None;
    }
    let mut record = vec![0; usize::from(u16::from_be_bytes([header[3], header[4]]))];
    stream.read_exact(&mut record).await.ok()?;
    server_name(&record)
}

/// The `server_name` extension of a ClientHello handshake message (RFC 8446
/// 4.1.2, RFC 6066 3).
fn server_name(hello: &[u8]) -> Option<String> {
    let mut hello = Reader(hello);
    // ClientHello, its length, legacy version and random.
    if hello.u8()? != 1 {
        return None;
    }
    hello.take(3 + 2 + 32)?;
    let session_id = usize::from(hello.u8()?);
    hello.take(session_id)?;
    let cipher_suites = usize::from(hello.u16()?);
    hello.take(cipher_suites)?;
    let compression = usize::from(hello.u8()?);
    hello.take(compression)?;
    let extensions = usize::from(hello.u16()?);
    let mut extensions = Reader(hello.take(extensions)?);
    while !extensions.0.is_empty() {
        let kind = extensions.u16()?;
        let len = usize::from(extensions.u16()?);
        let data = extensions.take(len)?;
        if kind == 0 {
            let mut list = Reader(data);
            list.u16()?;
            // host_name
            if list.u8()? != 0 {
                return None;
            }
            let len = usize::from(list.u16()?);
            return String::from_utf8(list.take(len)?.to_vec()).ok();
        }
    }
    None
}

struct Reader<'a>(&'a [u8]);

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize) -> Option<&'a [u8]> {
        if self.0.len() < n {
            return None;
        }
        let (head, rest) = self.0.split_at(n);
        self.0 = rest;
        Some(head)
    }

    fn u8(&mut self) -> Option<u8> {
        self.take(1).map(|b| b[0])
    }

    fn u16(&mut self) -> Option<u16> {
        self.take(2).map(|b| u16::from_be_bytes([b[0], b[1]]))
    }
}
