//! What a caller may ask the fetcher to send, and what it gets back.
//!
//! A request carries only what the caller may choose: the method (GET or
//! POST), the URL (checked like any other), extra headers and a body. The
//! headers that steer the connection itself are the fetcher's alone, so
//! they are dropped from what the caller supplies (see
//! [`Request::with_header`]).

use bytes::Bytes;
use reqwest::header::{
    CONNECTION, CONTENT_LENGTH, HOST, HeaderMap, HeaderName, HeaderValue, TE, TRAILER,
    TRANSFER_ENCODING, UPGRADE,
};

/// The methods the fetcher sends. Only these two: the product reads
/// resources and delivers webhooks, nothing else.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Method {
    /// Read a resource; sent without a body.
    Get,
    /// Deliver a body, e.g. a webhook's JSON.
    Post,
}

/// One outgoing request, checked and sent by [`Fetcher::send`](crate::Fetcher::send).
#[derive(Clone, Debug)]
pub struct Request {
    pub(crate) method: Method,
    pub(crate) url: String,
    pub(crate) headers: HeaderMap,
    pub(crate) body: Option<Bytes>,
}

impl Request {
    /// A GET of `url`, without a body.
    pub fn get(url: impl Into<String>) -> Request {
        Request {
            method: Method::Get,
            url: url.into(),
            headers: HeaderMap::new(),
            body: None,
        }
    }

    /// A POST of `body` to `url`. Its `Content-Length` is the body's length;
    /// say what it is with a `Content-Type` header.
    pub fn post(url: impl Into<String>, body: impl Into<Bytes>) -> Request {
        Request {
            method: Method::Post,
            url: url.into(),
            headers: HeaderMap::new(),
            body: Some(body.into()),
        }
    }

    /// Adds a header to send, keeping any earlier value of the same name (so
    /// a header can be repeated).
    ///
    /// Headers that steer the connection rather than describe the request
    /// are never sent from here, whatever their case:
    /// - `Host`: it always names the URL's host, so a caller cannot aim a
    ///   checked connection at another virtual host behind the same address;
    /// - `Content-Length`: always the body's real length, so the request
    ///   cannot be framed differently from what is sent;
    /// - the hop-by-hop headers `Connection`, `Keep-Alive`, `TE`, `Trailer`,
    ///   `Transfer-Encoding` and `Upgrade`, which belong to the HTTP client;
    /// - every `Proxy-*` header: no proxy is ever used, and credentials for
    ///   one must not reach the target.
    ///
    /// They are dropped when the request is sent, so they cannot slip in
    /// through [`with_headers`](Self::with_headers) either.
    pub fn with_header(mut self, name: HeaderName, value: HeaderValue) -> Request {
        self.headers.append(name, value);
        self
    }

    /// Adds every header of `headers`, under the rules of
    /// [`with_header`](Self::with_header).
    pub fn with_headers(mut self, headers: HeaderMap) -> Request {
        for (name, value) in &headers {
            self.headers.append(name, value.clone());
        }
        self
    }

    /// The method this request is sent with.
    pub fn method(&self) -> Method {
        self.method
    }

    /// The URL as the caller gave it (checked only when sent).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The headers the caller added, before the connection headers are
    /// dropped.
    pub fn headers(&self) -> &HeaderMap {
        &self.headers
    }

    /// The body, for a POST.
    pub fn body(&self) -> Option<&Bytes> {
        self.body.as_ref()
    }

    /// The caller's headers without those the fetcher alone decides (see
    /// [`with_header`](Self::with_header)). The one place they are dropped.
    pub(crate) fn sendable_headers(&self) -> HeaderMap {
        let mut sendable = HeaderMap::with_capacity(self.headers.len());
        for (name, value) in self.headers.iter().filter(|(name, _)| is_sendable(name)) {
            sendable.append(name, value.clone());
        }
        sendable
    }
}

/// Whether a caller may set this header. `HeaderName`s are lower case.
fn is_sendable(name: &HeaderName) -> bool {
    const FETCHER_ONLY: [HeaderName; 7] = [
        HOST,
        CONTENT_LENGTH,
        CONNECTION,
        TE,
        TRAILER,
        TRANSFER_ENCODING,
        UPGRADE,
    ];
    !FETCHER_ONLY.contains(name)
        && name.as_str() != "keep-alive"
        && !name.as_str().starts_with("proxy-")
}

/// A response that was not a redirect.
#[derive(Debug)]
pub struct Response {
    /// The status code, never 3xx (a redirect is `FetchError::Redirect`).
    pub status: u16,
    /// Every header of the response, repeated ones included.
    pub headers: HeaderMap,
    /// The body for a 2xx status (capped by the policy's `max_bytes`); empty,
    /// and not downloaded, for any other.
    pub body: Bytes,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connection_headers_are_dropped_and_the_rest_kept_in_order() {
        let request = Request::post("http://example.com/", "{}")
            .with_header(
                HeaderName::from_static("x-one"),
                HeaderValue::from_static("1"),
            )
            .with_header(HOST, HeaderValue::from_static("internal"))
            .with_header(
                HeaderName::from_static("x-one"),
                HeaderValue::from_static("2"),
            );
        let mut more = HeaderMap::new();
        for name in [
            "content-length",
            "connection",
            "keep-alive",
            "te",
            "trailer",
            "transfer-encoding",
            "upgrade",
            "proxy-authorization",
            "proxy-connection",
            "proxy-anything",
        ] {
            more.insert(HeaderName::from_static(name), HeaderValue::from_static("x"));
        }
        more.insert(
            HeaderName::from_static("content-type"),
            HeaderValue::from_static("application/json"),
        );
        let sendable = request.with_headers(more).sendable_headers();

        let kept: Vec<_> = sendable
            .iter()
            .map(|(name, value)| (name.as_str(), value.to_str().expect("ASCII")))
            .collect();
        assert_eq!(
            kept,
            [
                ("x-one", "1"),
                ("x-one", "2"),
                ("content-type", "application/json")
            ]
        );
    }

    #[test]
    fn only_a_post_has_a_body() {
        let get = Request::get("http://example.com/");
        assert_eq!(get.method(), Method::Get);
        assert!(get.body().is_none());
        let post = Request::post("http://example.com/", "payload");
        assert_eq!(post.method(), Method::Post);
        assert_eq!(post.body().map(Bytes::as_ref), Some(&b"payload"[..]));
        assert_eq!(post.url(), "http://example.com/");
    }
}
