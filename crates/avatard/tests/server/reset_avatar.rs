//! `users.resetAvatar` (R4): a mandatory target, the two-level permission check, and its effects.

use crate::common::{Server, Session, png};
use serde_json::{Value, json};

async fn reset(server: &Server, caller: &Session, body: Value) -> (u16, Value) {
    let (status, body) = server
        .post(Some(caller), "/api/v1/users.resetAvatar", body)
        .await;
    (status.as_u16(), body)
}

async fn has_avatar(server: &Server, username: &str) -> bool {
    server
        .avatar(&format!("/avatar/{username}"))
        .await
        .headers()["content-type"]
        != "image/svg+xml"
}

#[tokio::test]
async fn a_target_is_mandatory_even_for_yourself() {
    let server = Server::start().await;
    let user = server.create_user("me").await;
    assert_eq!(
        reset(&server, &user, json!({})).await,
        (
            400,
            json!({
                "success": false,
                "error": "The required \"userId\" or \"username\" param was not provided [error-user-param-not-provided]",
                "errorType": "error-user-param-not-provided"
            })
        )
    );
    let (status, body) = reset(&server, &user, json!({"username": "ghost"})).await;
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "error-invalid-user");
    assert_eq!(
        server
            .post(None, "/api/v1/users.resetAvatar", json!({"username": "me"}))
            .await
            .0,
        401
    );
}

#[tokio::test]
async fn self_reset_removes_the_avatar_and_its_blob() {
    let server = Server::start().await;
    let user = server.create_user("me").await;
    assert_eq!(server.upload(&user, png(40, 40), "image/png").await.0, 200);
    assert!(has_avatar(&server, "me").await);
    assert_eq!(
        reset(&server, &user, json!({"userId": user.user_id})).await,
        (200, json!({"success": true}))
    );
    assert!(!has_avatar(&server, "me").await);
    assert!(server.blob_keys().await.is_empty());
    let (_, info) = server
        .get(Some(&user), "/api/v1/users.info?username=me")
        .await;
    assert!(info["user"].get("avatarETag").is_none() && info["user"].get("avatarOrigin").is_none());
    // Resetting again is harmless; `user` works as a name too.
    assert_eq!(reset(&server, &user, json!({"user": "me"})).await.0, 200);
}

#[tokio::test]
async fn others_need_edit_other_user_avatar() {
    let server = Server::start().await;
    let alice = server.create_user("alice").await;
    let bob = server.create_user("bob").await;
    assert_eq!(server.upload(&bob, png(40, 40), "image/png").await.0, 200);
    assert_eq!(
        reset(&server, &alice, json!({"username": "bob"})).await,
        (
            400,
            json!({
                "success": false,
                "error": "Reset avatar is not allowed [error-not-allowed]",
                "errorType": "error-not-allowed",
                "details": {"method": "users.resetAvatar"}
            })
        )
    );
    assert!(has_avatar(&server, "bob").await);
    assert_eq!(
        reset(&server, &server.admin, json!({"username": "BOB"}))
            .await
            .0,
        200
    );
    assert!(!has_avatar(&server, "bob").await);
}

#[tokio::test]
async fn moderation_alone_never_suffices() {
    let server = Server::start().await;
    let moderator = server.create_user_with_roles("mod", &["moderator"]).await;
    let victim = server.create_user("victim").await;
    assert_eq!(
        server.upload(&victim, png(40, 40), "image/png").await.0,
        200
    );
    let (status, _) = server
        .post(
            Some(&server.admin),
            "/api/v1/permissions.update",
            json!({"permissions": [{"_id": "manage-moderation-actions", "roles": ["admin", "moderator"]}]}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        reset(&server, &moderator, json!({"username": "victim"})).await,
        (
            403,
            json!({"success": false, "error": "Unauthorized [error-unauthorized]"})
        )
    );
    assert!(has_avatar(&server, "victim").await);

    server
        .set_setting("Accounts_AllowUserAvatarChange", json!(false))
        .await;
    assert_eq!(
        reset(&server, &moderator, json!({"username": "mod"})).await,
        (
            400,
            json!({
                "success": false,
                "error": "Not allowed [error-not-allowed]",
                "errorType": "error-not-allowed",
                "details": {"method": "resetAvatar"}
            })
        )
    );
}

#[tokio::test]
async fn with_avatar_change_disabled_only_editors_reset() {
    let server = Server::start().await;
    let user = server.create_user("plain").await;
    assert_eq!(server.upload(&user, png(40, 40), "image/png").await.0, 200);
    server
        .set_setting("Accounts_AllowUserAvatarChange", json!(false))
        .await;
    let (status, body) = reset(&server, &user, json!({"username": "plain"})).await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "Reset avatar is not allowed [error-not-allowed]"
    );
    assert!(has_avatar(&server, "plain").await);
    assert_eq!(
        reset(&server, &server.admin, json!({"username": "admin"}))
            .await
            .0,
        200
    );
    assert_eq!(
        reset(&server, &server.admin, json!({"username": "plain"}))
            .await
            .0,
        200
    );
    assert!(!has_avatar(&server, "plain").await);
}
