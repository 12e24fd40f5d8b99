//! The HTTP face of avatard: Rocket.Chat's REST API under `/api` and the avatar images under
//! `/avatar`. Handlers are thin: they extract parameters, call the domain and map the result to
//! Rocket.Chat's wire format; no rule of the product lives here.

mod api;
mod auth;
mod avatar_route;
mod envelope;
mod health;
mod params;
mod present;
mod upload;

use std::future::Future;
use std::sync::Arc;

use avatard_domain::Domain;
use axum::Router;
use axum::http::header;
use axum::routing::get;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::compression::CompressionLayer;
use tower_http::sensitive_headers::SetSensitiveRequestHeadersLayer;
use tower_http::trace::TraceLayer;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// Behind one `Arc`: axum clones the state for every request, and `Domain` is a few dozen
    /// reference counts wide.
    pub domain: Arc<Domain>,
    /// The server's external base URL without a trailing slash, for absolute links.
    pub public_url: Arc<str>,
}

impl AppState {
    pub fn new(domain: Domain, public_url: &str) -> Self {
        AppState {
            domain: Arc::new(domain),
            public_url: public_url.trim_end_matches('/').into(),
        }
    }
}

/// The whole application.
pub fn router(state: AppState) -> Router {
    // Request spans (and the header redaction that keeps tokens out of them) for the API and the
    // probes. Avatar requests are the hot path, thousands per write: they skip both.
    let traced = Router::new()
        .merge(api::routes())
        .route("/health", get(health::health))
        .route("/ready", get(health::ready))
        .layer(TraceLayer::new_for_http())
        .layer(SetSensitiveRequestHeadersLayer::new([
            header::AUTHORIZATION,
            header::COOKIE,
            header::HeaderName::from_static("x-auth-token"),
        ]));
    let avatars = Router::new()
        .route("/avatar/", get(avatar_route::empty))
        // Only SVG compresses (tower-http leaves other images alone); never for the API's streams.
        .route(
            "/avatar/{*rest}",
            get(avatar_route::avatar)
                .layer(CompressionLayer::new())
                .layer(axum::middleware::map_response(avatar_route::mark_coding)),
        );
    traced
        .merge(avatars)
        .with_state(state)
        .layer(CatchPanicLayer::new())
}

/// Serve until `shutdown` resolves, then finish the requests in flight.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown)
        .await
}
