//! `users.setAvatar` with `avatarUrl` (R3.4): fetched through the SSRF-checked client from a real
//! local HTTP server, reachable only once `SSRF_Allowlist` allows it.

use crate::common::{Server, Session, png};
use axum::Router;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use serde_json::{Value, json};

/// A local image host with the answers the URL flow must handle.
async fn image_host() -> String {
    let image = png(120, 80);
    let app = Router::new()
        .route(
            "/a.png",
            get(move || async move { ([(header::CONTENT_TYPE, "image/png")], image) }),
        )
        .route(
            "/error.png",
            get(|| async { StatusCode::INTERNAL_SERVER_ERROR }),
        )
        .route(
            "/page.html",
            get(|| async { ([(header::CONTENT_TYPE, "text/html")], "<html></html>") }),
        )
        .route(
            "/moved.png",
            get(|| async { (StatusCode::FOUND, [(header::LOCATION, "/a.png")]).into_response() }),
        )
        .route(
            "/big.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], vec![0u8; 50_000]) }),
        )
        .route(
            "/fake.png",
            get(|| async { ([(header::CONTENT_TYPE, "image/png")], "not a png at all") }),
        );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{address}")
}

async fn set_url(server: &Server, user: &Session, url: &str) -> (u16, Value) {
    let (status, body) = server
        .post(
            Some(user),
            "/api/v1/users.setAvatar",
            json!({"avatarUrl": url}),
        )
        .await;
    (status.as_u16(), body)
}

fn invalid_url(shown: &str, url: &str) -> Value {
    json!({
        "success": false,
        "error": format!("Invalid avatar URL: {shown} [error-avatar-invalid-url]"),
        "errorType": "error-avatar-invalid-url",
        "details": {"function": "setUserAvatar", "url": url}
    })
}

#[tokio::test]
async fn private_addresses_are_refused_until_allowlisted() {
    let server = Server::start().await;
    let host = image_host().await;
    let user = server.create_user("fetcher").await;
    let url = format!("{host}/a.png");
    assert_eq!(
        set_url(&server, &user, &url).await,
        (400, invalid_url(&url, &url))
    );

    server
        .set_setting("SSRF_Allowlist", json!("10.0.0.0/8, 127.0.0.1"))
        .await;
    assert_eq!(
        set_url(&server, &user, &url).await,
        (200, json!({"success": true}))
    );
    let (content_type, bytes) = server.avatar_bytes("fetcher").await;
    assert_eq!(content_type, "image/png");
    assert_eq!(
        image::GenericImageView::dimensions(&crate::common::decode(&bytes)),
        (200, 200)
    );
    let (_, info) = server
        .get(Some(&user), "/api/v1/users.info?username=fetcher")
        .await;
    assert_eq!(info["user"]["avatarOrigin"], "url");
}

#[tokio::test]
async fn hostile_urls_are_refused_with_the_encoded_url() {
    let server = Server::start().await;
    let user = server.create_user("fetcher").await;
    for url in [
        "http://169.254.169.254/",
        "http://127.0.0.1/",
        "http://localhost/a.png",
        "http://[::1]/a.png",
        "http://[::ffff:127.0.0.1]/a.png",
        "http://10.1.2.3/a.png",
        "http://2130706433/a.png",
        "http://0177.0.0.1/a.png",
        "http://metadata.google.internal/computeMetadata/v1/",
        "http://user:pass@example.com/a.png",
        "ftp://example.com/a.png",
        "file:///etc/passwd",
        "http://no-such-host.invalid/a b.png",
        "not a url",
    ] {
        let expected = invalid_url(&avatard_domain::avatars::encode_uri(url), url);
        assert_eq!(set_url(&server, &user, url).await, (400, expected), "{url}");
    }
    let (status, body) = set_url(&server, &user, "http://169.254.169.254/").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "Invalid avatar URL: http://169.254.169.254/ [error-avatar-invalid-url]"
    );
}

#[tokio::test]
async fn status_content_type_and_size_rules() {
    let server = Server::start().await;
    let host = image_host().await;
    let user = server.create_user("fetcher").await;
    server
        .set_setting("SSRF_Allowlist", json!("127.0.0.1"))
        .await;
    assert_eq!(
        set_url(&server, &user, &format!("{host}/a.png")).await.0,
        200
    );
    let before = server.avatar_bytes("fetcher").await.1;

    // 404: the reason shows the URL as given, not encoded.
    let missing = format!("{host}/missing file.png");
    assert_eq!(
        set_url(&server, &user, &missing).await,
        (400, invalid_url(&missing, &missing))
    );

    let failing = format!("{host}/error.png");
    assert_eq!(
        set_url(&server, &user, &failing).await,
        (
            400,
            json!({
                "success": false,
                "error": format!("Error while handling avatar setting from a URL ({failing}) for fetcher [error-avatar-url-handling]"),
                "errorType": "error-avatar-url-handling",
                "details": {"function": "RocketChat.setUserAvatar", "url": failing, "username": "fetcher"}
            })
        )
    );

    let page = format!("{host}/page.html");
    assert_eq!(
        set_url(&server, &user, &page).await,
        (400, invalid_url(&page, &page))
    );
    let moved = format!("{host}/moved.png");
    assert_eq!(
        set_url(&server, &user, &moved).await,
        (400, invalid_url(&moved, &moved))
    );
    let (status, body) = set_url(&server, &user, &format!("{host}/fake.png")).await;
    assert_eq!(
        (status, body["errorType"].as_str()),
        (400, Some("error-invalid-file-type"))
    );

    server
        .set_setting("FileUpload_MaxFileSize", json!(1000))
        .await;
    assert_eq!(
        set_url(&server, &user, &format!("{host}/big.png")).await,
        (
            400,
            json!({
                "success": false,
                "error": "File size exceeds upload limit of 1 kB. [error-file-too-large]",
                "errorType": "error-file-too-large"
            })
        )
    );
    assert_eq!(
        server.avatar_bytes("fetcher").await.1,
        before,
        "a failed fetch changed the avatar"
    );
}
