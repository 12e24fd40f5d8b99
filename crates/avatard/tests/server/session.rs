//! Authentication and session endpoints: login forms, the 401 shapes, logout, me, info.

use crate::common::{ADMIN, ADMIN_PASS, Server};
use serde_json::json;

#[tokio::test]
async fn info_reports_a_rocket_chat_version() {
    let server = Server::start().await;
    let (status, body) = server.get(None, "/api/info").await;
    assert_eq!(status, 200);
    assert_eq!(body, json!({"version": "7.0.0", "success": true}));
}

#[tokio::test]
async fn missing_or_wrong_credentials_get_the_exact_401_body() {
    let server = Server::start().await;
    let expected = json!({
        "success": false,
        "error": "You must be logged in to do this.",
        "status": "error",
        "message": "You must be logged in to do this."
    });
    let (status, body) = server.get(None, "/api/v1/me").await;
    assert_eq!((status.as_u16(), &body), (401, &expected));

    let forged = crate::common::Session {
        user_id: server.admin.user_id.clone(),
        token: "not-the-token".into(),
        username: ADMIN.into(),
    };
    let (status, body) = server
        .post(Some(&forged), "/api/v1/users.setAvatar", json!({}))
        .await;
    assert_eq!((status.as_u16(), &body), (401, &expected));

    // Another user's id with a valid token is not a match either.
    let other = server.create_user("other").await;
    let mixed = crate::common::Session {
        user_id: other.user_id,
        token: server.admin.token.clone(),
        username: ADMIN.into(),
    };
    assert_eq!(server.get(Some(&mixed), "/api/v1/me").await.0, 401);
}

#[tokio::test]
async fn api_responses_are_never_cached() {
    let server = Server::start().await;
    let response = server
        .http
        .get(server.url("/api/v1/me"))
        .send()
        .await
        .unwrap();
    let headers = response.headers();
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["pragma"], "no-cache");
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/json")
    );
}

#[tokio::test]
async fn login_accepts_every_rocket_chat_form() {
    let server = Server::start().await;
    for body in [
        json!({"user": ADMIN, "password": ADMIN_PASS}),
        json!({"user": "admin@example.com", "password": ADMIN_PASS}),
        json!({"username": "ADMIN", "password": ADMIN_PASS}),
        json!({"email": "Admin@Example.com", "password": ADMIN_PASS}),
        // Meteor clients may send the SHA-256 digest instead of the password.
        json!({"user": ADMIN, "password": {
            "digest": avatard_domain::ids::sha256_hex(ADMIN_PASS.as_bytes()),
            "algorithm": "sha-256"
        }}),
        json!({"resume": server.admin.token}),
    ] {
        let (status, reply) = server.post(None, "/api/v1/login", body.clone()).await;
        assert_eq!(status, 200, "{body}: {reply}");
        assert_eq!(reply["status"], "success");
        assert_eq!(reply["success"], true);
        assert_eq!(reply["data"]["userId"], server.admin.user_id.as_str());
        assert_eq!(reply["data"]["me"]["username"], ADMIN);
        assert!(
            reply["data"]["me"]["avatarUrl"]
                .as_str()
                .unwrap()
                .ends_with("/avatar/admin")
        );
        assert!(reply["data"]["authToken"].as_str().unwrap().len() >= 40);
    }
}

#[tokio::test]
async fn failed_logins_look_alike() {
    let server = Server::start().await;
    let expected = json!({"success": false, "error": "Unauthorized", "status": "error", "message": "Unauthorized"});
    for body in [
        json!({"user": ADMIN, "password": "wrong"}),
        json!({"user": "nobody", "password": "wrong"}),
        json!({"resume": "no-such-token"}),
        json!({"user": ADMIN}),
    ] {
        let (status, reply) = server.post(None, "/api/v1/login", body.clone()).await;
        assert_eq!((status.as_u16(), &reply), (401, &expected), "{body}");
    }
}

#[tokio::test]
async fn logout_revokes_only_that_token() {
    let server = Server::start().await;
    let second = server.login(ADMIN, ADMIN_PASS).await;
    let (status, body) = server
        .post(Some(&second), "/api/v1/logout", json!({}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["data"]["message"], "You've been logged out!");
    assert_eq!(server.get(Some(&second), "/api/v1/me").await.0, 401);
    assert_eq!(server.get(Some(&server.admin), "/api/v1/me").await.0, 200);
}

#[tokio::test]
async fn tokens_are_stored_only_as_hashes() {
    let server = Server::start().await;
    let token = server.admin.token.clone();
    let hashed = avatard_domain::ids::hash_login_token(&token);
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&server.storage.database_url)
        .await
        .expect("connect to the server's database");
    let stored: Vec<String> = sqlx::query_scalar("SELECT hashed_token FROM login_tokens")
        .fetch_all(&mut db)
        .await
        .unwrap();
    assert!(stored.contains(&hashed), "the token's hash is stored");
    assert!(!stored.contains(&token));
    if server.storage.is_embedded() {
        // Nowhere in the database file either.
        let data = server.dir.path().join("data");
        for file in ["avatard.db", "avatard.db-wal"] {
            let bytes = std::fs::read(data.join(file)).unwrap_or_default();
            assert!(
                !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
                "raw token in {file}"
            );
        }
    }
}

#[tokio::test]
async fn me_returns_the_caller() {
    let server = Server::start().await;
    let (status, body) = server.get(Some(&server.admin), "/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(body["_id"], server.admin.user_id.as_str());
    assert_eq!(body["roles"], json!(["admin", "user"]));
    assert_eq!(body["emails"][0]["address"], "admin@example.com");
    assert_eq!(body["success"], true);
}

#[tokio::test]
async fn the_admin_bootstrap_is_idempotent() {
    let server = Server::start().await;
    let id = server.admin.user_id.clone();
    let server = server.restart().await;
    assert_eq!(
        server.admin.user_id, id,
        "the restart created a second admin"
    );
}

#[tokio::test]
async fn unknown_api_routes_are_404_in_the_envelope() {
    let server = Server::start().await;
    let (status, body) = server.get(None, "/api/v1/no.such.endpoint").await;
    assert_eq!(status, 404);
    assert_eq!(
        body,
        json!({"success": false, "error": "Resource not found"})
    );
}
