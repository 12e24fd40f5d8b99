//! Who is calling, as far as limits are concerned: the client's address, and the API's rate limit.

use std::net::{IpAddr, SocketAddr};

use std::convert::Infallible;

use axum::extract::{ConnectInfo, FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{Extensions, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::AppState;
use crate::auth::Caller;
use crate::envelope::ApiError;

/// The client's address: the connection's peer, or, behind `trusted` reverse proxies, the
/// `X-Forwarded-For` entry that many hops from the right (entries further left are whatever the
/// client chose to send). Falls back to the peer when the header is missing or unparseable.
pub fn address(headers: &HeaderMap, peer: IpAddr, trusted: usize) -> IpAddr {
    if trusted == 0 {
        return peer;
    }
    let hops: Vec<&str> = headers
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|line| line.split(','))
        .map(str::trim)
        .collect();
    hops.len()
        .checked_sub(trusted)
        .and_then(|i| hops[i].parse().ok())
        .unwrap_or(peer)
}

/// The address of the client of a request, from the connection info the server attaches.
fn of(headers: &HeaderMap, extensions: &Extensions, state: &AppState) -> Option<IpAddr> {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>()?.0.ip();
    Some(address(headers, peer, state.trusted_proxies))
}

/// The client's address as an extractor; `None` only where no connection info exists (a router
/// driven without a socket).
pub struct ClientIp(pub Option<IpAddr>);

impl FromRequestParts<AppState> for ClientIp {
    type Rejection = Infallible;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Infallible> {
        Ok(ClientIp(of(&parts.headers, &parts.extensions, state)))
    }
}

/// Rocket.Chat's per-route limit (R1.10): count the call per route and client address, answer
/// 429 once the window's calls are used up, and report the quota in `X-RateLimit-*` headers.
/// Callers with `api-bypass-rate-limit` are neither counted nor told; the caller is resolved
/// here only when the limiter is on, and handed on so the handler does not look it up again.
pub async fn rate_limit(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let throttle = &state.domain.throttle;
    let path = request
        .extensions()
        .get::<MatchedPath>()
        .map_or(request.uri().path(), MatchedPath::as_str);
    // Only the versioned API is limited (`/api/info` is not), as in Rocket.Chat.
    if !throttle.limits_api() || !path.starts_with("/api/v1/") {
        return next.run(request).await;
    }
    let route = format!("{} {path}", request.method());
    let Some(client) = of(request.headers(), request.extensions(), &state) else {
        return next.run(request).await;
    };
    let caller = Caller::resolve(request.headers(), &state).await;
    let quota = throttle.api_call(&route, client, caller.as_ref().map(|c| &c.record.user));
    if let Some(caller) = caller {
        request.extensions_mut().insert(caller);
    }
    let Some(quota) = quota else {
        return next.run(request).await;
    };
    let mut response = match quota.check() {
        Ok(()) => next.run(request).await,
        Err(refusal) => ApiError(refusal).into_response(),
    };
    let headers = response.headers_mut();
    headers.insert("x-ratelimit-limit", HeaderValue::from(quota.limit));
    headers.insert("x-ratelimit-remaining", HeaderValue::from(quota.remaining));
    headers.insert("x-ratelimit-reset", HeaderValue::from(quota.reset_at_ms));
    response
}
