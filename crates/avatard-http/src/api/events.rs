//! `GET /api/v1/avatars.events`: avatar changes as Server-Sent Events, so clients and CDN purgers
//! learn of a new avatar at once instead of when a cache expires. Not in Rocket.Chat's REST API; the
//! payload is that of its `updateAvatar` stream event, `{username, etag}`.

use std::convert::Infallible;
use std::future::ready;
use std::time::Duration;

use avatard_domain::Error;
use avatard_domain::events::Notice;
use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event, KeepAlive, Sse};
use futures_util::{Stream, StreamExt as _};
use serde_json::json;

use crate::AppState;
use crate::auth::Caller;
use crate::envelope::ApiError;

/// A comment line this often keeps proxies from closing an idle stream.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

/// Each event: `event: updateAvatar`, `id: <sequence number>`, `data: {"username","etag"}` (`etag`
/// null when the user went back to initials). A client that reconnects with `Last-Event-ID` gets what
/// it missed first; if that is no longer kept, one `event: reset` tells it to refresh everything.
pub async fn stream(
    State(state): State<AppState>,
    _caller: Caller,
    headers: HeaderMap,
) -> Result<impl IntoResponse, ApiError> {
    let last_event_id =
        match headers.get("last-event-id").map(|v| v.to_str()) {
            None => None,
            Some(Ok(id)) => Some(id.trim().parse::<i64>().map_err(|_| {
                Error::failure("Last-Event-ID must be an id this stream sent", None)
            })?),
            Some(Err(_)) => {
                return Err(
                    Error::failure("Last-Event-ID must be an id this stream sent", None).into(),
                );
            }
        };
    let notices = state.domain.events.subscribe(last_event_id).await?;
    Ok(Sse::new(events(notices)).keep_alive(KeepAlive::new().interval(KEEP_ALIVE)))
}

fn events(
    notices: impl Stream<Item = avatard_domain::Result<Notice>>,
) -> impl Stream<Item = Result<Event, Infallible>> {
    notices
        .take_while(|notice| {
            if let Err(err) = notice {
                // The client reconnects with its last event id and resumes from the log.
                tracing::warn!(%err, "avatar event stream ended: the event log could not be read");
            }
            ready(notice.is_ok())
        })
        .filter_map(|notice| ready(notice.ok()))
        .map(|notice| {
            Ok(match notice {
                Notice::Changed(change) => Event::default()
                    .event("updateAvatar")
                    .id(change.seq.to_string())
                    .data(json!({"username": change.username, "etag": change.etag}).to_string()),
                Notice::Missed => Event::default().event("reset").data("{}"),
            })
        })
}
