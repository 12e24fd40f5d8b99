//! The one outgoing HTTP client of avatard.
//!
//! It fetches URLs that users choose (`users.setAvatar` with `avatarUrl`),
//! Gravatar suggestions and external avatar providers, and posts webhooks, so
//! hostile users will aim it at internal services (SSRF).
//! [`Fetcher::get`] reads an image; [`Fetcher::send`] sends a GET or a POST
//! with headers and a body and returns the status, every header and the body
//! of any 2xx. Both take the one path, so every request:
//!
//! - accepts only `http` and `https`, and refuses credentials in the URL;
//! - refuses cloud metadata names and checks IP literals directly;
//! - resolves names itself and refuses the name if ANY address is not public
//!   ([`is_public`]) and not allow-listed;
//! - connects only to the addresses it checked (pinned, so no DNS rebinding),
//!   never through a proxy;
//! - allows a non-default port only for allow-listed hosts;
//! - never follows redirects;
//! - never lets the caller set `Host`, `Content-Length`, hop-by-hop or
//!   `Proxy-*` headers;
//! - runs under one time limit covering resolve, connect, headers and body;
//! - stops reading as soon as the body passes the size cap.
//!
//! The operator's [`Allowlist`] is the only way around the range and port
//! rules.

mod allowlist;
mod body;
mod client;
mod error;
mod ranges;
mod request;
mod target;

pub use allowlist::Allowlist;
pub use client::{FetchPolicy, Fetched, Fetcher};
pub use error::FetchError;
pub use ranges::is_public;
pub use request::{Method, Request, Response};
/// The header types and names of [`Request`] and [`Response`] (`http`'s own,
/// re-exported so callers need not depend on `http` to build a request).
pub use reqwest::header;
