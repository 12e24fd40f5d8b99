//! `users.register`, `users.create`, `users.info`, `users.delete`, `users.createToken`, `users.getAvatar`.

use crate::common::{PASSWORD, Server};
use serde_json::json;

#[tokio::test]
async fn register_is_open_while_the_form_is_public() {
    let server = Server::start().await;
    let (status, body) = server
        .post(
            None,
            "/api/v1/users.register",
            json!({"username": "newbie", "email": "newbie@example.com", "pass": PASSWORD, "name": "New Bie"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["user"]["username"], "newbie");
    assert_eq!(body["user"]["roles"], json!(["user"]));
    server.login("newbie", PASSWORD).await;

    // The username is taken case-insensitively.
    let (status, body) = server
        .post(
            None,
            "/api/v1/users.register",
            json!({"username": "NEWBIE", "email": "other@example.com", "pass": PASSWORD, "name": "x"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({"success": false, "error": "Username is already in use"})
        )
    );
}

#[tokio::test]
async fn register_validates_its_schema_and_the_registration_setting() {
    let server = Server::start().await;
    let (status, body) = server
        .post(
            None,
            "/api/v1/users.register",
            json!({"username": "a", "email": "a@example.com", "password": "p"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "must have required property 'pass' [invalid-params]"
    );
    assert_eq!(body["errorType"], "invalid-params");

    server
        .set_setting("Accounts_RegistrationForm", json!("Disabled"))
        .await;
    let (status, body) = server
        .post(
            None,
            "/api/v1/users.register",
            json!({"username": "late", "email": "late@example.com", "pass": PASSWORD, "name": "Late"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "User registration is disabled [error-user-registration-disabled]"
    );
    assert_eq!(body["errorType"], "error-user-registration-disabled");
}

#[tokio::test]
async fn invalid_usernames_and_emails_are_refused() {
    let server = Server::start().await;
    let (status, body) = server
        .post(
            None,
            "/api/v1/users.register",
            json!({"username": "bad name", "email": "x@example.com", "pass": PASSWORD, "name": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "username-invalid");
    let (status, body) = server
        .post(
            None,
            "/api/v1/users.register",
            json!({"username": "fine", "email": "not-an-email", "pass": PASSWORD, "name": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "error-invalid-email");
}

#[tokio::test]
async fn create_needs_the_create_user_permission() {
    let server = Server::start().await;
    let user = server.create_user("plain").await;
    let (status, body) = server
        .post(
            Some(&user),
            "/api/v1/users.create",
            json!({"username": "x", "email": "x@example.com", "password": "p", "name": "x"}),
        )
        .await;
    assert_eq!(status, 403);
    assert_eq!(
        body,
        json!({"success": false, "error": "User does not have the permissions required for this action [error-unauthorized]"})
    );
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/users.create",
            json!({"username": "x", "email": "x@example.com", "password": "p", "name": "x", "extra": 1}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "must NOT have additional properties [invalid-params]"
    );
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/users.create",
            json!({"username": "plain", "email": "p2@example.com", "password": "p", "name": "x"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "error-field-unavailable");
}

#[tokio::test]
async fn info_shows_the_avatar_etag_and_hides_private_fields_from_others() {
    let server = Server::start().await;
    let alice = server.create_user("alice").await;
    let bob = server.create_user("bob").await;
    let (status, body) = server
        .get(Some(&bob), "/api/v1/users.info?username=alice")
        .await;
    assert_eq!(status, 200);
    assert_eq!(body["user"]["_id"], alice.user_id.as_str());
    assert!(body["user"].get("emails").is_none(), "{body}");
    assert!(body["user"].get("avatarETag").is_none());

    assert_eq!(
        server
            .upload(&alice, crate::common::png(50, 50), "image/png")
            .await
            .0,
        200
    );
    let (_, body) = server
        .get(
            Some(&bob),
            &format!("/api/v1/users.info?userId={}", alice.user_id),
        )
        .await;
    let etag = body["user"]["avatarETag"]
        .as_str()
        .expect("avatarETag after upload")
        .to_owned();
    assert_eq!(body["user"]["avatarOrigin"], "rest");

    let (_, body) = server
        .get(Some(&alice), "/api/v1/users.info?username=alice")
        .await;
    assert_eq!(body["user"]["emails"][0]["address"], "alice@example.com");
    assert_eq!(body["user"]["avatarETag"], etag.as_str());
    let (_, body) = server
        .get(Some(&server.admin), "/api/v1/users.info?username=alice")
        .await;
    assert_eq!(body["user"]["emails"][0]["address"], "alice@example.com");

    let (status, body) = server
        .get(Some(&bob), "/api/v1/users.info?username=nobody")
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (400, json!({"success": false, "error": "User not found."}))
    );
    let (status, body) = server.get(Some(&bob), "/api/v1/users.info").await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({"success": false, "error": "Invalid search query."})
        )
    );
    assert_eq!(
        server
            .get(None, "/api/v1/users.info?username=alice")
            .await
            .0,
        401
    );

    server
        .set_setting("Accounts_AllowAnonymousRead", json!(true))
        .await;
    let (status, body) = server.get(None, "/api/v1/users.info?username=alice").await;
    assert_eq!(status, 200);
    assert!(body["user"].get("emails").is_none());
}

#[tokio::test]
async fn delete_removes_the_user_and_their_avatar() {
    let server = Server::start().await;
    let gone = server.create_user("gone").await;
    assert_eq!(
        server
            .upload(&gone, crate::common::png(40, 40), "image/png")
            .await
            .0,
        200
    );
    assert_eq!(server.blob_keys().await.len(), 1);

    let (status, _) = server
        .post(
            Some(&gone),
            "/api/v1/users.delete",
            json!({"userId": gone.user_id}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/users.delete",
            json!({"username": "gone"}),
        )
        .await;
    assert_eq!((status.as_u16(), body), (200, json!({"success": true})));
    assert!(
        server.blob_keys().await.is_empty(),
        "the avatar blob survived its user"
    );
    assert_eq!(server.get(Some(&gone), "/api/v1/me").await.0, 401);
    let (_, svg) = server.avatar_bytes("gone").await;
    assert!(String::from_utf8(svg).unwrap().starts_with("<svg"));
}

#[tokio::test]
async fn create_token_mints_a_working_token_for_admins_only() {
    let server = Server::start().await;
    let bot = server.create_user_with_roles("helper-bot", &["bot"]).await;
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/users.createToken",
            json!({"username": "helper-bot"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["data"]["userId"], bot.user_id.as_str());
    let minted = crate::common::Session {
        user_id: bot.user_id.clone(),
        token: body["data"]["authToken"].as_str().unwrap().into(),
        username: "helper-bot".into(),
    };
    let (status, me) = server.get(Some(&minted), "/api/v1/me").await;
    assert_eq!(status, 200);
    assert_eq!(me["type"], "bot");
    let (status, _) = server
        .post(
            Some(&bot),
            "/api/v1/users.createToken",
            json!({"userId": bot.user_id}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn get_avatar_redirects_to_the_public_avatar_url() {
    let server = Server::start_with(&[("AVATARD_PUBLIC_URL", "https://chat.example.com/")]).await;
    server.create_user("carol").await;
    let response = server
        .http
        .get(server.url("/api/v1/users.getAvatar?username=CAROL"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 307);
    assert_eq!(
        response.headers()["location"],
        "https://chat.example.com/avatar/carol"
    );
    assert_eq!(
        response.text().await.unwrap(),
        "\"https://chat.example.com/avatar/carol\""
    );

    let (status, body) = server.get(None, "/api/v1/users.getAvatar").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        r#"The required "userId" or "username" param was not provided [error-user-param-not-provided]"#
    );
    let (status, body) = server
        .get(None, "/api/v1/users.getAvatar?userId=nope")
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "error-invalid-user");
}

#[tokio::test]
async fn avatar_suggestions_are_off_unless_enabled() {
    let server = Server::start().await;
    let user = server.create_user("dave").await;
    assert_eq!(
        server
            .get(None, "/api/v1/users.getAvatarSuggestion")
            .await
            .0,
        401
    );
    let (status, body) = server
        .get(Some(&user), "/api/v1/users.getAvatarSuggestion")
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (200, json!({"suggestions": {}, "success": true}))
    );
}
