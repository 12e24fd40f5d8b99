//! Hostile URLs are refused before any connection, with the right error.
//!
//! None of these may reach a server; the few that resolve a name only use
//! /etc/hosts (`localhost`) or fail to resolve (no DNS is needed).

use std::fmt::Debug;
use std::net::IpAddr;
use std::time::Duration;

use avatard_fetch::header::{CONTENT_TYPE, HeaderValue};
use avatard_fetch::{Allowlist, FetchError, FetchPolicy, Fetcher, Request};

#[derive(Debug, PartialEq)]
enum Kind {
    Fetched,
    InvalidUrl,
    Blocked,
    Resolve,
    Redirect,
    Network,
    Timeout,
    TooLarge,
}

/// The outcome of a `get` or a `send`, without its details.
fn kind<T>(result: &Result<T, FetchError>) -> Kind {
    match result {
        Ok(_) => Kind::Fetched,
        Err(FetchError::InvalidUrl(_)) => Kind::InvalidUrl,
        Err(FetchError::Blocked(_)) => Kind::Blocked,
        Err(FetchError::Resolve(_)) => Kind::Resolve,
        Err(FetchError::Redirect(_)) => Kind::Redirect,
        Err(FetchError::Network(_)) => Kind::Network,
        Err(FetchError::Timeout) => Kind::Timeout,
        Err(FetchError::TooLarge(_)) => Kind::TooLarge,
    }
}

fn ip(text: &str) -> IpAddr {
    text.parse().expect("test address")
}

const HOSTILE: &[(&str, Kind)] = &[
    // Loopback and "this host".
    ("http://127.0.0.1/", Kind::Blocked),
    ("http://127.255.255.254/", Kind::Blocked),
    ("http://[::1]/", Kind::Blocked),
    ("http://0.0.0.0/", Kind::Blocked),
    ("http://0/", Kind::Blocked),
    ("http://[::]/", Kind::Blocked),
    // Private, shared and link-local, cloud metadata addresses.
    ("http://10.0.0.1/", Kind::Blocked),
    ("http://172.16.0.1/", Kind::Blocked),
    ("http://172.31.255.255/", Kind::Blocked),
    ("http://192.168.1.1/", Kind::Blocked),
    ("http://100.64.0.1/", Kind::Blocked),
    ("http://100.100.100.200/latest/meta-data/", Kind::Blocked),
    ("http://169.254.169.254/latest/meta-data/", Kind::Blocked),
    ("http://[fe80::1]/", Kind::Blocked),
    ("http://[fd00::1]/", Kind::Blocked),
    ("http://[fec0::1]/", Kind::Blocked),
    // Broadcast, multicast, reserved.
    ("http://255.255.255.255/", Kind::Blocked),
    ("http://224.0.0.1/", Kind::Blocked),
    ("http://240.0.0.1/", Kind::Blocked),
    ("http://[ff02::1]/", Kind::Blocked),
    // Documentation and benchmarking.
    ("http://192.0.2.1/", Kind::Blocked),
    ("http://198.51.100.7/", Kind::Blocked),
    ("http://203.0.113.9/", Kind::Blocked),
    ("http://198.18.0.1/", Kind::Blocked),
    ("http://[2001:db8::1]/", Kind::Blocked),
    ("http://[2001:2::1]/", Kind::Blocked),
    // IPv4 wrapped in IPv6, and tunnels.
    ("http://[::ffff:127.0.0.1]/", Kind::Blocked),
    ("http://[::ffff:7f00:1]/", Kind::Blocked),
    ("http://[::ffff:93.184.216.34]/", Kind::Blocked),
    ("http://[::127.0.0.1]/", Kind::Blocked),
    ("http://[64:ff9b::7f00:1]/", Kind::Blocked),
    ("http://[64:ff9b:1::1]/", Kind::Blocked),
    ("http://[2002:7f00:1::]/", Kind::Blocked),
    (
        "http://[2001:0:4136:e378:8000:63bf:3fff:fdd2]/",
        Kind::Blocked,
    ),
    ("http://192.88.99.1/", Kind::Blocked),
    // Odd spellings of 127.0.0.1.
    ("http://2130706433/", Kind::Blocked),
    ("http://0177.0.0.1/", Kind::Blocked),
    ("http://0x7f.1/", Kind::Blocked),
    ("http://0x7f000001/", Kind::Blocked),
    ("http://127.1/", Kind::Blocked),
    ("http://127.0.0.1./", Kind::Blocked),
    ("https://0x7F.0.0.1:443/", Kind::Blocked),
    // Names: resolved ones (via /etc/hosts) and cloud metadata names.
    ("http://localhost/", Kind::Blocked),
    ("http://LOCALHOST:80/", Kind::Blocked),
    (
        "http://metadata.google.internal/computeMetadata/v1/",
        Kind::Blocked,
    ),
    ("http://METADATA.GOOGLE.INTERNAL./", Kind::Blocked),
    ("http://x.metadata.google.internal/", Kind::Blocked),
    ("http://metadata/", Kind::Blocked),
    ("http://metadata.goog/", Kind::Blocked),
    ("http://instance-data/latest/", Kind::Blocked),
    ("http://metadata.azure.internal/", Kind::Blocked),
    ("http://nonexistent.invalid/", Kind::Resolve),
    // Schemes other than http and https.
    ("ftp://example.com/a.png", Kind::InvalidUrl),
    ("file:///etc/passwd", Kind::InvalidUrl),
    ("gopher://127.0.0.1:70/_stats", Kind::InvalidUrl),
    ("javascript:alert(1)", Kind::InvalidUrl),
    ("data:image/png;base64,iVBORw0KGgo=", Kind::InvalidUrl),
    ("ws://example.com/", Kind::InvalidUrl),
    // Credentials in the URL.
    ("http://user:pw@example.com/", Kind::InvalidUrl),
    ("http://user@example.com/", Kind::InvalidUrl),
    ("http://:pw@example.com/", Kind::InvalidUrl),
    ("http://example.com@127.0.0.1/", Kind::InvalidUrl),
    // A non-default port on a public, not allow-listed address.
    ("http://93.184.216.34:8080/", Kind::InvalidUrl),
    ("https://93.184.216.34:80/", Kind::InvalidUrl),
    (
        "http://[2606:2800:220:1:248:1893:25c8:1946]:22/",
        Kind::InvalidUrl,
    ),
    // Not URLs at all.
    ("http://exa mple.com/", Kind::InvalidUrl),
    ("http://", Kind::InvalidUrl),
    ("http://[::1/", Kind::InvalidUrl),
    ("http://256.0.0.1/", Kind::InvalidUrl),
    ("not a url", Kind::InvalidUrl),
    ("", Kind::InvalidUrl),
];

/// Runs every [`HOSTILE`] URL through `request` and describes each outcome
/// that is not the expected one.
async fn misjudged<T, F>(request: impl Fn(&'static str) -> F) -> Vec<String>
where
    T: Debug,
    F: Future<Output = Result<T, FetchError>>,
{
    let mut wrong = Vec::new();
    for (url, expected) in HOSTILE {
        let result = request(url).await;
        if kind(&result) != *expected {
            wrong.push(format!("{url}: expected {expected:?}, got {result:?}"));
        }
    }
    wrong
}

#[tokio::test]
async fn hostile_urls_are_refused_with_the_right_error() {
    let fetcher = Fetcher::new();
    let policy = FetchPolicy::default();
    let wrong = misjudged(|url| fetcher.get(url, &policy)).await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn hostile_urls_are_refused_the_same_way_for_a_post() {
    let fetcher = Fetcher::new();
    let policy = FetchPolicy::default();
    let wrong = misjudged(|url| {
        let webhook = Request::post(url, r#"{"event":"test"}"#)
            .with_header(CONTENT_TYPE, HeaderValue::from_static("application/json"));
        fetcher.send(webhook, &policy)
    })
    .await;
    assert!(wrong.is_empty(), "{}", wrong.join("\n"));
}

#[tokio::test]
async fn odd_ipv4_spellings_are_checked_as_the_address_they_mean() {
    let fetcher = Fetcher::new();
    let policy = FetchPolicy::default();
    for url in [
        "http://2130706433/",
        "http://0177.0.0.1/",
        "http://0x7f.1/",
        "http://127.1/",
    ] {
        let result = fetcher.get(url, &policy).await;
        assert!(
            matches!(result, Err(FetchError::Blocked(a)) if a == ip("127.0.0.1")),
            "{url}: {result:?}"
        );
    }
}

#[tokio::test]
async fn metadata_names_are_reported_as_the_metadata_address() {
    let result = Fetcher::new()
        .get("http://metadata.google.internal/", &FetchPolicy::default())
        .await;
    assert!(matches!(result, Err(FetchError::Blocked(a)) if a == ip("169.254.169.254")));
}

#[tokio::test]
async fn an_allow_listed_metadata_name_is_resolved_like_any_other() {
    let policy = FetchPolicy {
        allowlist: Allowlist::parse("metadata.google.internal"),
        ..FetchPolicy::default()
    };
    // The name block is lifted; here the name then fails to resolve.
    let result = Fetcher::new()
        .get("http://metadata.google.internal/", &policy)
        .await;
    assert_eq!(kind(&result), Kind::Resolve, "{result:?}");
}

#[tokio::test]
async fn a_public_literal_on_the_default_port_passes_the_checks() {
    let policy = FetchPolicy {
        timeout: Duration::from_secs(1),
        ..FetchPolicy::default()
    };
    // Whatever the network does (here there is none: the connection fails or
    // hangs), the URL itself was accepted.
    let result = Fetcher::new().get("http://93.184.216.34/", &policy).await;
    assert!(
        !matches!(kind(&result), Kind::InvalidUrl | Kind::Blocked),
        "{result:?}"
    );
}

#[test]
fn a_fetcher_can_be_shared_between_tasks() {
    fn shareable<T: Clone + Send + Sync + 'static>() {}
    shareable::<Fetcher>();
    shareable::<FetchPolicy>();
    shareable::<Request>();
}
