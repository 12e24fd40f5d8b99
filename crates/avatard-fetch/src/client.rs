//! The fetch itself: resolve, check, pin, request, read.
//!
//! The host is resolved here, every address is checked, and the HTTP client
//! is then told to connect only to those addresses
//! (`ClientBuilder::resolve_to_addrs`). It keeps the host name for the Host
//! header and TLS SNI, and never asks DNS again, so a name cannot answer
//! "public" to the check and "internal" to the connection (DNS rebinding).
//!
//! reqwest's address overrides belong to a `Client`, not to a request, so
//! each fetch builds its own small client. Sharing one would need a resolver
//! fed with per-request pins, racing between concurrent fetches of the same
//! name. The cost (no connection reuse, TLS roots loaded per client) is paid
//! once per outgoing request (an avatar change, a webhook delivery), and
//! those are rare next to the requests avatard serves.

use std::fmt;
#[cfg(test)]
use std::net::IpAddr;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use reqwest::StatusCode;
use reqwest::dns::{Name, Resolve, Resolving};
use reqwest::header::CONTENT_TYPE;
use reqwest::redirect;

use crate::allowlist::Allowlist;
use crate::body::read_capped;
use crate::error::FetchError;
use crate::request::{Method, Request, Response};
use crate::target::{Target, TargetHost};

const USER_AGENT: &str = concat!("avatard/", env!("CARGO_PKG_VERSION"));

/// What one fetch may do.
#[derive(Clone, Debug)]
pub struct FetchPolicy {
    /// Hosts and networks exempt from the range check and the port rule.
    pub allowlist: Allowlist,
    /// The largest body accepted; `None` for no limit.
    pub max_bytes: Option<u64>,
    /// The limit for the whole fetch: resolve, connect, headers and body.
    pub timeout: Duration,
}

impl Default for FetchPolicy {
    /// Empty allowlist, no size limit, 10 seconds.
    fn default() -> FetchPolicy {
        FetchPolicy {
            allowlist: Allowlist::default(),
            max_bytes: None,
            timeout: Duration::from_secs(10),
        }
    }
}

/// A response to [`Fetcher::get`] that was not a redirect.
#[derive(Debug)]
pub struct Fetched {
    pub status: u16,
    /// The raw `Content-Type` header value, parameters included.
    pub content_type: Option<String>,
    /// The body when `status` is 200; empty (and not downloaded) otherwise.
    pub body: Bytes,
}

/// The product's one outgoing HTTP client. Cheap to clone and share.
#[derive(Clone, Debug)]
pub struct Fetcher {
    user_agent: &'static str,
    lookup: Lookup,
}

/// Where the names of fetch targets get their addresses.
#[derive(Clone)]
enum Lookup {
    /// The system resolver (`getaddrinfo`: /etc/hosts, then DNS). The only
    /// one outside unit tests.
    System,
    /// Fixed answers, so unit tests can give a name several addresses or a
    /// different answer on each lookup (DNS rebinding). Whatever it answers
    /// goes through the same checks and the same pinning.
    #[cfg(test)]
    Fixed(Arc<FixedAnswer>),
}

/// The answers of [`Lookup::Fixed`]: a name's addresses.
#[cfg(test)]
type FixedAnswer = dyn Fn(&str) -> Vec<IpAddr> + Send + Sync;

impl fmt::Debug for Lookup {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lookup::System => f.write_str("System"),
            #[cfg(test)]
            Lookup::Fixed(_) => f.write_str("Fixed"),
        }
    }
}

impl Default for Fetcher {
    fn default() -> Fetcher {
        Fetcher::new()
    }
}

impl Fetcher {
    /// A fetcher that identifies itself as `avatard/<version>`.
    pub fn new() -> Fetcher {
        Fetcher {
            user_agent: USER_AGENT,
            lookup: Lookup::System,
        }
    }

    /// A fetcher whose names resolve through `answer` instead of the system.
    #[cfg(test)]
    pub(crate) fn with_lookup(
        answer: impl Fn(&str) -> Vec<IpAddr> + Send + Sync + 'static,
    ) -> Fetcher {
        Fetcher {
            user_agent: USER_AGENT,
            lookup: Lookup::Fixed(Arc::new(answer)),
        }
    }

    /// GETs `url` under `policy`, refusing anything that could reach the
    /// server's own network. A 3xx answer is an error (`Redirect`); any other
    /// status is returned, with the body read only for 200.
    pub async fn get(&self, url: &str, policy: &FetchPolicy) -> Result<Fetched, FetchError> {
        // A fetched image is only ever the body of a 200; reading the body of
        // a 201 or 206 would cost bytes nobody uses.
        let response = self
            .exchange(Request::get(url), policy, |status| status == StatusCode::OK)
            .await?;
        let content_type = response
            .headers
            .get(CONTENT_TYPE)
            .map(|value| String::from_utf8_lossy(value.as_bytes()).into_owned());
        Ok(Fetched {
            status: response.status,
            content_type,
            body: response.body,
        })
    }

    /// Sends `request` under `policy`, with every check and limit of
    /// [`get`](Self::get): the URL, name and address rules, the connection
    /// pinned to the checked addresses, no proxy, one time limit for
    /// everything and the body cap. A 3xx answer is an error (`Redirect`);
    /// any other status is returned with all its headers, and with its body
    /// for every 2xx status.
    ///
    /// The connection headers the request may not set (`Host`,
    /// `Content-Length`, hop-by-hop and `Proxy-*` headers, see
    /// [`Request::with_header`]) are dropped, never sent.
    pub async fn send(
        &self,
        request: Request,
        policy: &FetchPolicy,
    ) -> Result<Response, FetchError> {
        self.exchange(request, policy, |status| status.is_success())
            .await
    }

    /// The one path of every request: the checks that need no network, then
    /// the rest under the time limit. `wants_body` says for which statuses
    /// the body is read.
    async fn exchange(
        &self,
        request: Request,
        policy: &FetchPolicy,
        wants_body: fn(StatusCode) -> bool,
    ) -> Result<Response, FetchError> {
        let target = Target::parse(&request.url)?;
        target.check_name(&policy.allowlist)?;
        tokio::time::timeout(
            policy.timeout,
            self.fetch(&target, request, policy, wants_body),
        )
        .await
        .map_err(|_elapsed| FetchError::Timeout)?
    }

    async fn fetch(
        &self,
        target: &Target,
        request: Request,
        policy: &FetchPolicy,
        wants_body: fn(StatusCode) -> bool,
    ) -> Result<Response, FetchError> {
        let addrs = resolve(&self.lookup, target).await?;
        let ips: Vec<_> = addrs.iter().map(SocketAddr::ip).collect();
        target.check_addrs(&ips, &policy.allowlist)?;

        let method = match request.method {
            Method::Get => reqwest::Method::GET,
            Method::Post => reqwest::Method::POST,
        };
        let mut outgoing = self
            .pinned_client(target, &addrs)?
            .request(method, target.url.clone())
            .headers(request.sendable_headers());
        if let Some(body) = request.body {
            outgoing = outgoing.body(body);
        }
        let response = outgoing.send().await.map_err(FetchError::network)?;
        let status = response.status();
        if status.is_redirection() {
            return Err(FetchError::Redirect(status.as_u16()));
        }
        let headers = response.headers().clone();
        // Any other status's body is not wanted; dropping the response
        // closes the connection without reading it.
        let body = if wants_body(status) {
            read_capped(response, policy.max_bytes).await?
        } else {
            Bytes::new()
        };
        Ok(Response {
            status: status.as_u16(),
            headers,
            body,
        })
    }

    /// A client that can only reach `addrs`: the target's name is pinned to
    /// them and any other name fails to resolve. IP literals need no pin, as
    /// the client connects to them directly.
    fn pinned_client(
        &self,
        target: &Target,
        addrs: &[SocketAddr],
    ) -> Result<reqwest::Client, FetchError> {
        let mut builder = reqwest::Client::builder()
            .user_agent(self.user_agent)
            .no_proxy()
            .redirect(redirect::Policy::none())
            .dns_resolver(Arc::new(NoDns));
        if let TargetHost::Name(name) = &target.host {
            builder = builder.resolve_to_addrs(name, addrs);
        }
        builder.build().map_err(FetchError::network)
    }
}

/// The target's addresses: the literal itself, or every address its name
/// resolves to (never empty). Called once per fetch: these are the addresses
/// that are checked and then pinned.
async fn resolve(lookup: &Lookup, target: &Target) -> Result<Vec<SocketAddr>, FetchError> {
    let name = match &target.host {
        TargetHost::Ip(ip) => return Ok(vec![SocketAddr::new(*ip, target.port)]),
        TargetHost::Name(name) => name,
    };
    let addrs: Vec<_> = match lookup {
        Lookup::System => tokio::net::lookup_host((name.as_str(), target.port))
            .await
            .map_err(|e| FetchError::Resolve(format!("{name}: {e}")))?
            .collect(),
        #[cfg(test)]
        Lookup::Fixed(answer) => answer(name)
            .into_iter()
            .map(|ip| SocketAddr::new(ip, target.port))
            .collect(),
    };
    if addrs.is_empty() {
        return Err(FetchError::Resolve(format!("{name}: no addresses")));
    }
    Ok(addrs)
}

/// The resolver behind the pins. reqwest consults it only for names without
/// a pin, which were not checked, so it refuses them all: a slip in pinning
/// fails closed instead of connecting somewhere unchecked.
struct NoDns;

impl Resolve for NoDns {
    fn resolve(&self, name: Name) -> Resolving {
        let error = format!("{} was not checked and will not be resolved", name.as_str());
        Box::pin(std::future::ready(Err(error.into())))
    }
}

#[cfg(test)]
mod tests;
