//! The one outgoing HTTP client of avatard.
//!
//! It fetches URLs that users choose (`users.setAvatar` with `avatarUrl`),
//! Gravatar suggestions and, later, webhooks, so hostile users will aim it at
//! internal services (SSRF). Every fetch therefore:
//!
//! - accepts only `http` and `https`, and refuses credentials in the URL;
//! - refuses cloud metadata names and checks IP literals directly;
//! - resolves names itself and refuses the name if ANY address is not public
//!   ([`is_public`]) and not allow-listed;
//! - connects only to the addresses it checked (pinned, so no DNS rebinding),
//!   never through a proxy;
//! - allows a non-default port only for allow-listed hosts;
//! - never follows redirects;
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
mod target;

pub use allowlist::Allowlist;
pub use client::{FetchPolicy, Fetched, Fetcher};
pub use error::FetchError;
pub use ranges::is_public;
