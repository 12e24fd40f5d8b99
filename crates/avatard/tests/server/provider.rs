//! `Accounts_AvatarExternalProviderUrl` (R6.7, the hardened variant): avatars proxied from a real
//! local provider through the SSRF-checked client.

use std::sync::{Arc, Mutex};

use axum::Router;
use axum::extract::{Path, State};
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::json;

use crate::common::{Server, png};

/// The names asked for so far, and the image the provider answers with.
type ProviderState = (Arc<Mutex<Vec<String>>>, Vec<u8>);

/// A provider that records the names it is asked for; `missing` has no avatar.
async fn provider() -> (String, Arc<Mutex<Vec<String>>>) {
    let asked = Arc::new(Mutex::new(Vec::new()));
    let image = png(32, 32);
    let app = Router::new()
        .route(
            "/avatars/{name}",
            get(
                |State((asked, image)): State<ProviderState>, Path(name): Path<String>| async move {
                    asked.lock().unwrap().push(name.clone());
                    if name == "missing" {
                        return StatusCode::NOT_FOUND.into_response();
                    }
                    (
                        [
                            (header::CONTENT_TYPE, "image/png"),
                            (header::CACHE_CONTROL, "public, max-age=5"),
                            (header::SET_COOKIE, "provider-session=secret"),
                            (header::CONNECTION, "keep-alive"),
                            (header::HeaderName::from_static("x-provider"), "yes"),
                            // The provider may not relax our protections.
                            (header::CONTENT_SECURITY_POLICY, "default-src *"),
                        ],
                        image,
                    )
                        .into_response()
                },
            ),
        )
        .with_state((asked.clone(), image));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (format!("http://{address}/avatars/{{username}}"), asked)
}

#[tokio::test]
async fn avatars_come_from_the_provider_with_its_headers_but_not_its_cookies() {
    let (template, asked) = provider().await;
    let server = Server::start().await;
    let user = server.create_user("ivy").await;
    // A stored avatar does not matter while a provider is configured.
    assert_eq!(server.upload(&user, png(80, 80), "image/png").await.0, 200);
    server
        .set_setting("SSRF_Allowlist", json!("127.0.0.1"))
        .await;
    server
        .set_setting("Accounts_AvatarExternalProviderUrl", json!(template))
        .await;

    let response = server.avatar("/avatar/ivy").await;
    assert_eq!(response.status(), 200);
    let headers = response.headers().clone();
    assert_eq!(headers["content-type"], "image/png");
    assert_eq!(headers["x-provider"], "yes");
    assert_eq!(headers["cache-control"], "public, max-age=5");
    assert_eq!(headers["content-disposition"], "inline");
    assert_eq!(headers["content-security-policy"], "default-src 'none'");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert!(headers.get("set-cookie").is_none());
    assert_eq!(response.bytes().await.unwrap().to_vec(), png(32, 32));

    // The name is URL-encoded into the placeholder; `@name` and uid requests go there too.
    assert_eq!(server.avatar("/avatar/a%20b%2Fc").await.status(), 200);
    assert_eq!(server.avatar("/avatar/@bot").await.status(), 200);
    let uid = format!("/avatar/uid/{}", user.user_id);
    assert_eq!(server.avatar(&uid).await.status(), 200);
    assert_eq!(server.avatar("/avatar/uid/nobody").await.status(), 404);
    assert_eq!(
        asked.lock().unwrap().clone(),
        ["ivy", "a b/c", "@bot"],
        "the uid request reused ivy's answer"
    );
    // Within a minute an answer is reused, not fetched again.
    assert_eq!(server.avatar("/avatar/ivy").await.status(), 200);
    assert_eq!(asked.lock().unwrap().len(), 3);
}

#[tokio::test]
async fn a_failing_or_forbidden_provider_is_a_502() {
    let (template, asked) = provider().await;
    let server = Server::start().await;
    server
        .set_setting("Accounts_AvatarExternalProviderUrl", json!(template))
        .await;
    // Loopback is refused until the operator allows it, before any connection.
    let response = server.avatar("/avatar/ivy").await;
    assert_eq!(response.status(), 502);
    assert!(response.bytes().await.unwrap().is_empty());
    assert!(asked.lock().unwrap().is_empty());

    server
        .set_setting("SSRF_Allowlist", json!("127.0.0.1"))
        .await;
    let response = server.avatar("/avatar/missing").await;
    assert_eq!(response.status(), 502);
    assert!(response.bytes().await.unwrap().is_empty());

    // An unreachable provider is a 502 too.
    server
        .set_setting(
            "Accounts_AvatarExternalProviderUrl",
            json!("http://127.0.0.1:9/avatars/{username}"),
        )
        .await;
    assert_eq!(server.avatar("/avatar/ivy").await.status(), 502);
}
