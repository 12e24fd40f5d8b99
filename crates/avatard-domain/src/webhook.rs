//! The outgoing webhook: every avatar event, POSTed to `Avatar_Webhook_Url` so an operator's hook
//! (a CDN purge, a search index) hears of a change at once.
//!
//! The event log is the outbox. One replica at a time (the holder of a lease) delivers, in order,
//! from a cursor kept in the database, so a restart or a fail-over resumes where delivery stopped
//! and no event is sent twice by two replicas. Each event gets a bounded number of attempts: a hook
//! that stays down costs a few seconds per event, then the event is logged as undelivered and
//! delivery moves on, so one dead hook never stalls the stream behind it.
//!
//! Deliveries are signed like Stripe's and GitHub's: `X-Avatard-Signature: sha256=<hex>` is the
//! HMAC-SHA256, keyed with `Avatar_Webhook_Secret`, of `<X-Avatard-Timestamp>.<body>`; the receiver
//! recomputes it and rejects old timestamps to stop replays. The request goes through the same
//! SSRF-checked client as avatar URLs: an internal hook must be listed in `SSRF_Allowlist`.

use std::sync::Arc;
use std::time::Duration;

use avatard_fetch::header::{CONTENT_TYPE, HeaderName, HeaderValue};
use avatard_fetch::{Allowlist, FetchPolicy, Fetcher, Request};
use chrono::Utc;
use hmac::{KeyInit as _, Mac as _};
use serde_json::json;

use crate::error::Result;
use crate::model::AvatarEvent;
use crate::settings::{self, Settings};
use crate::store::{MetadataStore, take_lease};

/// The lease that makes one replica at a time deliver.
const LEASE: &str = "avatar-webhook";
/// How long a lease lasts without renewal; renewed before every event.
const LEASE_FOR: Duration = Duration::from_secs(60);
/// The cursor delivery resumes from.
const CURSOR: &str = "avatar-webhook";
/// Attempts per event, and the pause before each retry (doubling).
const ATTEMPTS: u32 = 4;
const FIRST_RETRY: Duration = Duration::from_secs(1);
/// For each attempt: connect, send, and read the (discarded) answer.
const TIMEOUT: Duration = Duration::from_secs(10);
/// Events read at a time.
const PAGE: u32 = 100;

pub const SIGNATURE: &str = "x-avatard-signature";
pub const TIMESTAMP: &str = "x-avatard-timestamp";
pub const EVENT_ID: &str = "x-avatard-event-id";

#[derive(Clone)]
pub struct Webhook {
    store: Arc<dyn MetadataStore>,
    settings: Settings,
    fetcher: Fetcher,
}

/// The outcome of one delivery round on the replica holding the lease.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Delivered {
    pub sent: usize,
    pub failed: usize,
}

impl Webhook {
    pub(crate) fn new(store: Arc<dyn MetadataStore>, settings: Settings) -> Webhook {
        Webhook {
            store,
            settings,
            fetcher: Fetcher::new(),
        }
    }

    /// Deliver every event after the cursor, if this replica (`holder`) holds the lease; `None` when
    /// another replica does. With no URL configured, the cursor just moves to the end of the log:
    /// turning the hook on later does not replay history.
    pub async fn deliver_pending(&self, holder: &str) -> Result<Option<Delivered>> {
        if !self.renew_lease(holder).await? {
            return Ok(None);
        }
        let mut cursor = self.store.cursor(CURSOR).await?;
        let mut delivered = Delivered::default();
        loop {
            let url = self.settings.string(settings::AVATAR_WEBHOOK_URL);
            if url.is_empty() {
                let end = self.store.last_avatar_event().await?;
                if end > cursor {
                    self.store.set_cursor(CURSOR, end).await?;
                }
                return Ok(Some(delivered));
            }
            let page = self.store.avatar_events(cursor, PAGE).await?;
            for event in &page {
                // Renewed per event: retries can take longer than a lease.
                if !self.renew_lease(holder).await? {
                    return Ok(Some(delivered));
                }
                if self.deliver(&url, event).await {
                    delivered.sent += 1;
                } else {
                    delivered.failed += 1;
                }
                cursor = event.seq;
                self.store.set_cursor(CURSOR, cursor).await?;
            }
            if page.len() < PAGE as usize {
                return Ok(Some(delivered));
            }
        }
    }

    async fn renew_lease(&self, holder: &str) -> Result<bool> {
        take_lease(self.store.as_ref(), LEASE, holder, LEASE_FOR).await
    }

    /// Try `event` up to [`ATTEMPTS`] times; whether the hook accepted it (any 2xx). A 4xx other than
    /// 408 and 429 is the hook refusing this event, and is not retried.
    async fn deliver(&self, url: &str, event: &AvatarEvent) -> bool {
        let body = json!({
            "event": "updateAvatar",
            "id": event.seq,
            "userId": event.user_id,
            "username": event.username,
            "etag": event.etag,
            "at": event.at.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        })
        .to_string();
        let mut pause = FIRST_RETRY;
        for attempt in 1..=ATTEMPTS {
            let policy = FetchPolicy {
                allowlist: Allowlist::parse(&self.settings.string(settings::SSRF_ALLOWLIST)),
                max_bytes: Some(64 * 1024),
                timeout: TIMEOUT,
            };
            let request = self.signed(url, event.seq, &body);
            let retry = match self.fetcher.send(request, &policy).await {
                Ok(answer) if (200..300).contains(&answer.status) => return true,
                Ok(answer) => {
                    tracing::warn!(
                        seq = event.seq,
                        status = answer.status,
                        attempt,
                        "webhook refused an avatar event"
                    );
                    matches!(answer.status, 408 | 429 | 500..)
                }
                Err(err) => {
                    tracing::warn!(seq = event.seq, %err, attempt, "webhook delivery failed");
                    true
                }
            };
            if !retry || attempt == ATTEMPTS {
                break;
            }
            tokio::time::sleep(pause).await;
            pause *= 2;
        }
        tracing::error!(seq = event.seq, username = %event.username, "avatar event not delivered to the webhook; moving on");
        false
    }

    fn signed(&self, url: &str, seq: i64, body: &str) -> Request {
        let timestamp = Utc::now().timestamp().to_string();
        let mut request = Request::post(url, body.to_owned())
            .with_header(CONTENT_TYPE, HeaderValue::from_static("application/json"))
            .with_header(HeaderName::from_static(EVENT_ID), HeaderValue::from(seq))
            .with_header(
                HeaderName::from_static(TIMESTAMP),
                HeaderValue::from_str(&timestamp).expect("digits are a valid header value"),
            );
        let secret = self.settings.string(settings::AVATAR_WEBHOOK_SECRET);
        if !secret.is_empty() {
            let signature = format!("sha256={}", sign(&secret, &timestamp, body));
            request = request.with_header(
                HeaderName::from_static(SIGNATURE),
                HeaderValue::from_str(&signature).expect("hex is a valid header value"),
            );
        }
        request
    }
}

/// Hex HMAC-SHA256 of `<timestamp>.<body>` under `secret`.
pub fn sign(secret: &str, timestamp: &str, body: &str) -> String {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
        .expect("HMAC takes keys of any length");
    mac.update(timestamp.as_bytes());
    mac.update(b".");
    mac.update(body.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::sign;

    #[test]
    fn the_signature_is_hmac_sha256_of_timestamp_dot_body() {
        // Computed independently with Python's hmac module.
        assert_eq!(
            sign(
                "webhook-secret",
                "1700000000",
                r#"{"event":"updateAvatar"}"#
            ),
            "d907ad44294288832ea140645b154ba05a47977ae6981d20ab4baab373f7e3b8"
        );
    }
}
