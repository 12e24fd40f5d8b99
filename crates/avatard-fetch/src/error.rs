//! Why a fetch was refused or failed.
//!
//! The variants separate what the caller must treat differently: a request
//! that was refused before any packet left (`InvalidUrl`, `Blocked`), a name
//! that does not exist (`Resolve`), and a server that misbehaved or was too
//! slow or too big (`Redirect`, `Network`, `Timeout`, `TooLarge`).

use std::error::Error as _;
use std::net::IpAddr;

/// Why [`Fetcher::get`](crate::Fetcher::get) or
/// [`Fetcher::send`](crate::Fetcher::send) returned no response.
#[derive(Debug, thiserror::Error)]
pub enum FetchError {
    /// Not parseable, scheme not http/https, userinfo present, no host, or a
    /// port that is not allowed for this host.
    #[error("invalid URL: {0}")]
    InvalidUrl(String),
    /// An address (literal or resolved) is not public and not allow-listed,
    /// or the host is a cloud metadata name (reported as the metadata
    /// address 169.254.169.254 those names stand for).
    #[error("address {0} is not allowed")]
    Blocked(IpAddr),
    /// The host name did not resolve, or resolved to no address.
    #[error("cannot resolve {0}")]
    Resolve(String),
    /// The server answered with a 3xx status; redirects are never followed.
    #[error("the server redirected with status {0}")]
    Redirect(u16),
    /// Connect, TLS, protocol or read failure.
    #[error("network error: {0}")]
    Network(String),
    /// The whole fetch (resolve, connect, headers, body) overran the policy's
    /// time limit.
    #[error("the fetch timed out")]
    Timeout,
    /// The body is larger than the limit carried here (`max_bytes`).
    #[error("the body is larger than {0} bytes")]
    TooLarge(u64),
}

impl FetchError {
    /// A reqwest failure as `Network`, with the whole cause chain: reqwest's own
    /// message ("error sending request") says nothing about what went wrong.
    /// The URL is left out because the caller already knows it.
    pub(crate) fn network(err: reqwest::Error) -> FetchError {
        let err = err.without_url();
        let mut message = err.to_string();
        let mut cause = err.source();
        while let Some(inner) = cause {
            message.push_str(": ");
            message.push_str(&inner.to_string());
            cause = inner.source();
        }
        FetchError::Network(message)
    }
}
