//! The HTTP face of avatard: Rocket.Chat's REST API under `/api` and the avatar images under
//! `/avatar`. Handlers are thin: they extract parameters, call the domain and map the result to
//! Rocket.Chat's wire format; no rule of the product lives here.

mod api;
mod auth;
mod avatar_route;
mod client;
mod connections;
mod envelope;
mod health;
mod params;
mod present;
mod upload;

pub use connections::{MAX_HEAD_BYTES, Timeouts, serve};
pub use upload::UploadMemory;

use std::convert::Infallible;
use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use avatard_domain::Domain;
use axum::Router;
use axum::extract::Request;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse as _, Response};
use axum::routing::get;
use futures_util::FutureExt as _;
use futures_util::future::BoxFuture;
use tower::{Service, ServiceExt as _};
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::timeout::RequestBodyTimeoutLayer;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Behind one `Arc`: axum clones the state for every request, and `Domain` is a few dozen
    /// reference counts wide.
    pub domain: Arc<Domain>,
    /// The server's external base URL without a trailing slash, for absolute links.
    pub public_url: Arc<str>,
    /// Reverse proxies whose `X-Forwarded-For` entries are trusted (see [`client::address`]).
    pub trusted_proxies: usize,
    /// What uploaded files being read may hold in memory together.
    pub upload_memory: UploadMemory,
}

impl AppState {
    pub fn new(
        domain: Domain,
        public_url: &str,
        trusted_proxies: usize,
        upload_memory: UploadMemory,
    ) -> Self {
        AppState {
            domain: Arc::new(domain),
            public_url: public_url.trim_end_matches('/').into(),
            trusted_proxies,
            upload_memory,
        }
    }
}

/// Everything but the avatars: the API and the probes.
fn router(state: AppState, body_idle: Duration) -> Router {
    // Request spans (and the header redaction that keeps tokens out of them) for the API and the
    // probes. Avatar requests are the hot path, thousands per write: they skip both.
    let traced = Router::new()
        .merge(api::routes(state.clone()))
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        // A client that stops sending its body halfway is cut off, not waited for.
        .layer(RequestBodyTimeoutLayer::new(body_idle))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::HeaderName::from_static("x-auth-token"),
        ]));
    traced.with_state(state)
}

/// The whole application: `/avatar/...` straight to its handler, everything else to the router.
pub fn app(state: AppState, body_idle: Duration) -> App {
    App {
        router: router(state.clone(), body_idle),
        state,
    }
}

/// Whether a request goes to the `/avatar/` handler rather than the router.
fn is_avatar_request<B>(request: &axum::http::Request<B>) -> bool {
    request.uri().path().starts_with("/avatar/")
}

/// See [`app`].
#[derive(Clone)]
pub struct App {
    router: Router,
    state: AppState,
}

impl Service<Request> for App {
    type Response = Response;
    type Error = Infallible;
    type Future = BoxFuture<'static, Result<Response, Infallible>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.handle(request).map(Ok).boxed()
    }
}

impl App {
    /// Answers one request. Only what the request's handler needs is cloned, and each kind of
    /// request gets a future of its own size: the avatar hot path does not move the router's
    /// larger future around.
    pub fn handle(&self, request: Request) -> BoxFuture<'static, Response> {
        if is_avatar_request(&request) {
            catch_panics(avatar_route::serve(self.state.clone(), request))
        } else {
            catch_panics(
                self.router
                    .clone()
                    .oneshot(request)
                    .map(|Ok(response)| response),
            )
        }
    }
}

/// A panic is a 500 for that request, not a dropped connection.
fn catch_panics(
    handling: impl Future<Output = Response> + Send + 'static,
) -> BoxFuture<'static, Response> {
    AssertUnwindSafe(handling)
        .catch_unwind()
        .map(|outcome| {
            outcome.unwrap_or_else(|_| {
                tracing::error!("request handler panicked");
                StatusCode::INTERNAL_SERVER_ERROR.into_response()
            })
        })
        .boxed()
}

/// Entry points for the cargo-fuzz targets in `fuzz/` (see `fuzz/README.md`) and for nothing else:
/// not part of the API, hidden from the docs, free to change along with the fuzzers. Each one only
/// forwards to a private parser, taking plain bytes so the fuzzers need no axum types.
#[doc(hidden)]
pub mod fuzzing {
    use std::collections::HashMap;

    use axum::body::Body;
    use axum::http::{HeaderMap, HeaderValue, header};
    use bytes::Bytes;
    use serde_json::Value;

    pub use crate::params::{Kind, Schema};

    /// The body schemas of `users.setAvatar`, `users.register` and `users.create`.
    pub const SET_AVATAR: Schema = crate::api::avatars::SET_AVATAR;
    pub const REGISTRATION: Schema = crate::api::users::REGISTRATION;
    pub const CREATION: Schema = crate::api::users::CREATION;

    /// `users.setAvatar`'s multipart parser over a body that arrives in `chunks`: the file and the
    /// text fields, or the error's message.
    pub async fn read_image_form(
        content_type: Option<&str>,
        chunks: Vec<Vec<u8>>,
        file_limit: u64,
    ) -> Result<(Bytes, HashMap<String, String>), String> {
        let length = chunks.iter().map(|c| c.len() as u64).sum();
        let chunks = chunks
            .into_iter()
            .map(|c| Ok::<_, std::io::Error>(Bytes::from(c)));
        let body = Body::from_stream(futures_util::stream::iter(chunks));
        let memory = crate::upload::UploadMemory::new(file_limit, std::time::Duration::ZERO);
        crate::upload::read_image_form(content_type, Some(length), body, file_limit, &memory)
            .await
            .map(|form| (form.image, form.fields))
            .map_err(|err| err.to_string())
    }

    /// A request body's parameters as handlers see them, for a `Content-Type` header of these bytes
    /// (none if absent or not a valid header value).
    pub async fn read_params(content_type: Option<&[u8]>, body: Vec<u8>) -> Result<Value, String> {
        let mut headers = HeaderMap::new();
        if let Some(value) = content_type.and_then(|ct| HeaderValue::from_bytes(ct).ok()) {
            headers.insert(header::CONTENT_TYPE, value);
        }
        crate::params::read_params(&headers, Body::from(body))
            .await
            .map_err(|err| err.0.to_string())
    }
}
