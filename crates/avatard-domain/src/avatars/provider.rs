//! `Accounts_AvatarExternalProviderUrl` (R6.7, the hardened variant): every avatar comes from the
//! operator's provider, fetched through the SSRF-checked client with the name URL-encoded into the
//! `{username}` placeholder. Answers are kept for a minute, so a popular avatar costs the provider
//! one request a minute per replica rather than one per view; concurrent misses share one fetch.

use std::sync::Arc;
use std::time::Duration;

use avatard_fetch::header::{HeaderName, HeaderValue};
use avatard_fetch::{Allowlist, FetchPolicy, Request};
use bytes::Bytes;

use super::Avatars;
use super::serve::AvatarView;
use crate::settings;

/// How long a provider's answer is reused.
pub(super) const REUSE_FOR: Duration = Duration::from_secs(60);
/// How many answers are kept, and how large one may be.
pub(super) const KEPT: u64 = 10_000;
const MAX_BYTES: u64 = 10 * 1024 * 1024;
const TIMEOUT: Duration = Duration::from_secs(10);

/// A provider's answer, as passed on: its headers (less those that describe the connection or the
/// provider's own session) and body.
#[derive(Debug)]
pub struct Proxied {
    pub headers: Vec<(HeaderName, HeaderValue)>,
    pub body: Bytes,
}

pub(super) type ProviderAnswers = moka::future::Cache<String, Arc<Proxied>>;

pub(super) fn answers() -> ProviderAnswers {
    moka::future::Cache::builder()
        .max_capacity(KEPT)
        .time_to_live(REUSE_FOR)
        .build()
}

/// Not passed on: hop-by-hop headers, the length and encoding (the body is re-framed), and the
/// provider's cookies, which must never reach our users under our origin.
fn passed_on(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "content-length"
            | "connection"
            | "keep-alive"
            | "set-cookie"
            | "transfer-encoding"
            | "content-encoding"
            | "te"
            | "trailer"
            | "upgrade"
            | "proxy-authenticate"
            | "proxy-connection"
    )
}

impl Avatars {
    /// The provider's URL template, when one is configured.
    pub(super) fn provider(&self) -> Option<String> {
        self.settings
            .avatar_serving()
            .external_provider
            .then(|| self.settings.string(settings::AVATAR_EXTERNAL_PROVIDER_URL))
    }

    /// The provider's avatar for `username`; [`AvatarView::ProviderFailed`] when it cannot be had.
    pub(super) async fn ask_provider(&self, template: &str, username: &str) -> AvatarView {
        let url = template.replace("{username}", &super::encode_uri_component(username));
        let fetched = self
            .provider_answers
            .try_get_with(url.clone(), async {
                let policy = FetchPolicy {
                    allowlist: Allowlist::parse(&self.settings.string(settings::SSRF_ALLOWLIST)),
                    max_bytes: Some(MAX_BYTES),
                    timeout: TIMEOUT,
                };
                let answer = self
                    .fetcher
                    .send(Request::get(url.as_str()), &policy)
                    .await?;
                if !(200..300).contains(&answer.status) || answer.body.is_empty() {
                    return Err(ProviderError::Status(answer.status));
                }
                let headers = answer
                    .headers
                    .iter()
                    .filter(|(name, _)| passed_on(name))
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                Ok(Arc::new(Proxied {
                    headers,
                    body: answer.body,
                }))
            })
            .await;
        match fetched {
            Ok(proxied) => AvatarView::Proxied(proxied),
            Err(err) => {
                tracing::warn!(%url, %err, "the external avatar provider failed");
                AvatarView::ProviderFailed
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
enum ProviderError {
    #[error(transparent)]
    Fetch(#[from] avatard_fetch::FetchError),
    #[error("answered {0} or without a body")]
    Status(u16),
}
