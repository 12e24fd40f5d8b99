//! The Rocket.Chat REST surface under `/api`. One module per resource family; every handler has the
//! same shape: extract → call the domain → answer in Rocket.Chat's envelope.

pub(crate) mod avatars;
mod events;
mod info;
mod openapi;
mod permissions;
mod session;
mod settings;
pub(crate) mod users;

use axum::Router;
use axum::http::{HeaderValue, header};
use axum::response::Response;
use axum::routing::{get, post};

use crate::AppState;
use crate::envelope::ApiError;

pub fn routes(state: AppState) -> Router<AppState> {
    Router::new()
        .route("/api/info", get(info::info))
        .route("/api/openapi.json", get(openapi::document))
        .route("/api/v1/login", post(session::login))
        .route("/api/v1/logout", post(session::logout).get(session::logout))
        .route("/api/v1/me", get(session::me))
        .route("/api/v1/users.register", post(users::register))
        .route("/api/v1/users.create", post(users::create))
        .route("/api/v1/users.info", get(users::info))
        .route("/api/v1/users.delete", post(users::delete))
        .route("/api/v1/users.createToken", post(users::create_token))
        .route("/api/v1/users.getAvatar", get(users::get_avatar))
        .route(
            "/api/v1/users.getAvatarSuggestion",
            get(users::get_avatar_suggestion),
        )
        .route("/api/v1/users.setAvatar", post(avatars::set_avatar))
        .route("/api/v1/users.resetAvatar", post(avatars::reset_avatar))
        .route("/api/v1/avatars.events", get(events::stream))
        .route("/api/v1/avatars.history", get(avatars::history))
        .route("/api/v1/avatars.restore", post(avatars::restore))
        .route("/api/v1/permissions.listAll", get(permissions::list_all))
        .route("/api/v1/permissions.update", post(permissions::update))
        .route(
            "/api/v1/settings/{id}",
            get(settings::get).post(settings::set),
        )
        .route_layer(axum::middleware::from_fn_with_state(
            state,
            crate::client::rate_limit,
        ))
        .fallback(|| async { ApiError::not_found() })
        .layer(axum::middleware::map_response(no_store))
}

/// R1.2: no API response may be cached.
async fn no_store(mut response: Response) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    headers.insert(header::PRAGMA, HeaderValue::from_static("no-cache"));
    response
}
