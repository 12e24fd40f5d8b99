//! `permissions.listAll`, `permissions.update`, `settings/{_id}`.

use crate::common::Server;
use serde_json::{Value, json};

fn roles_of<'a>(permissions: &'a Value, id: &str) -> &'a Value {
    &permissions
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["_id"] == id)
        .unwrap_or_else(|| panic!("permission {id} missing"))["roles"]
}

#[tokio::test]
async fn list_all_has_rocket_chat_defaults() {
    let server = Server::start().await;
    let user = server.create_user("u").await;
    let (status, body) = server.get(Some(&user), "/api/v1/permissions.listAll").await;
    assert_eq!(status, 200);
    assert_eq!(body["remove"], json!([]));
    for id in [
        "edit-other-user-avatar",
        "manage-moderation-actions",
        "access-permissions",
        "edit-privileged-setting",
        "create-user",
        "delete-user",
        "view-full-other-user-info",
    ] {
        assert_eq!(roles_of(&body["update"], id), &json!(["admin"]), "{id}");
    }
    assert!(
        body["update"][0]["_updatedAt"]
            .as_str()
            .unwrap()
            .ends_with('Z')
    );
    assert_eq!(server.get(None, "/api/v1/permissions.listAll").await.0, 401);
}

#[tokio::test]
async fn update_replaces_roles_and_takes_effect() {
    let server = Server::start().await;
    let moderator = server.create_user_with_roles("mod", &["moderator"]).await;
    let target = server.create_user("target").await;
    let (status, _) = server
        .post(
            Some(&moderator),
            "/api/v1/users.setAvatar",
            json!({"username": "target", "avatarUrl": ""}),
        )
        .await;
    assert_eq!(status, 403);

    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/permissions.update",
            json!({"permissions": [{"_id": "edit-other-user-avatar", "roles": ["admin", "moderator"]}]}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        roles_of(&body["permissions"], "edit-other-user-avatar"),
        &json!(["admin", "moderator"])
    );
    let (status, body) = server
        .upload_as(
            &moderator,
            "image",
            crate::common::png(30, 30),
            "a.png",
            "image/png",
            &[("userId", &target.user_id)],
        )
        .await;
    assert_eq!(status, 200, "{body}");
}

#[tokio::test]
async fn update_reports_rocket_chat_errors() {
    let server = Server::start().await;
    let cases = [
        (
            json!({}),
            "Invalid body params",
            "error-invalid-body-params",
        ),
        (
            json!({"permissions": "x"}),
            "Invalid body params",
            "error-invalid-body-params",
        ),
        (
            json!({"permissions": [{"_id": "no-such", "roles": ["admin"]}]}),
            "Invalid permission",
            "error-invalid-permission",
        ),
        (
            json!({"permissions": [{"_id": "create-user", "roles": ["wizard"]}]}),
            "Invalid role",
            "error-invalid-role",
        ),
    ];
    for (body, error, error_type) in cases {
        let (status, reply) = server
            .post(
                Some(&server.admin),
                "/api/v1/permissions.update",
                body.clone(),
            )
            .await;
        assert_eq!(status, 400, "{body}");
        assert_eq!(
            reply,
            json!({"success": false, "error": error, "errorType": error_type}),
            "{body}"
        );
    }
    // Nothing was changed by the failed calls.
    let (_, body) = server
        .get(Some(&server.admin), "/api/v1/permissions.listAll")
        .await;
    assert_eq!(roles_of(&body["update"], "create-user"), &json!(["admin"]));
    let user = server.create_user("u").await;
    let (status, _) = server
        .post(
            Some(&user),
            "/api/v1/permissions.update",
            json!({"permissions": []}),
        )
        .await;
    assert_eq!(status, 403);
}

#[tokio::test]
async fn settings_read_write_validate_and_persist() {
    let server = Server::start().await;
    for (id, default) in [
        ("Accounts_AllowUserAvatarChange", json!(true)),
        ("Accounts_AvatarResize", json!(true)),
        ("Accounts_AvatarSize", json!(200)),
        ("Accounts_AvatarCacheTime", json!(3600)),
        ("Accounts_AvatarBlockUnauthenticatedAccess", json!(false)),
        ("Accounts_AvatarExternalProviderUrl", json!("")),
        ("Accounts_RoomAvatarExternalProviderUrl", json!("")),
        ("Accounts_SetDefaultAvatar", json!(true)),
        ("FileUpload_MaxFileSize", json!(104857600)),
        ("FileUpload_RotateImages", json!(true)),
        (
            "FileUpload_Storage_Type",
            json!(if server.storage.is_embedded() {
                "FileSystem"
            } else {
                "AmazonS3"
            }),
        ),
        ("UI_Use_Name_Avatar", json!(false)),
        ("Accounts_AllowAnonymousRead", json!(false)),
        ("Accounts_RegistrationForm", json!("Public")),
        ("SSRF_Allowlist", json!("")),
        ("Accounts_AvatarSuggestGravatar", json!(false)),
    ] {
        let (status, body) = server
            .get(Some(&server.admin), &format!("/api/v1/settings/{id}"))
            .await;
        assert_eq!(status, 200, "{id}");
        assert_eq!(body, json!({"_id": id, "value": default, "success": true}));
    }
    let (status, body) = server
        .get(Some(&server.admin), "/api/v1/settings/No_Such_Setting")
        .await;
    assert_eq!((status.as_u16(), body), (400, json!({"success": false})));
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/settings/No_Such_Setting",
            json!({"value": 1}),
        )
        .await;
    assert_eq!((status.as_u16(), body), (400, json!({"success": false})));

    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/settings/Accounts_AvatarSize",
            json!({"value": "big"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "error-invalid-setting-value");
    let (status, _) = server
        .post(
            Some(&server.admin),
            "/api/v1/settings/Accounts_RegistrationForm",
            json!({"value": "Sometimes"}),
        )
        .await;
    assert_eq!(status, 400);
    let (status, _) = server
        .post(
            Some(&server.admin),
            "/api/v1/settings/FileUpload_Storage_Type",
            json!({"value": "AmazonS3"}),
        )
        .await;
    assert_eq!(
        status, 400,
        "storage is configured by the operator, not through the API"
    );

    server.set_setting("Accounts_AvatarSize", json!(64)).await;
    let server = server.restart().await;
    let (_, body) = server
        .get(Some(&server.admin), "/api/v1/settings/Accounts_AvatarSize")
        .await;
    assert_eq!(body["value"], 64, "settings must survive a restart");
}

#[tokio::test]
async fn settings_need_privileges() {
    let server = Server::start().await;
    let user = server.create_user("u").await;
    let (status, body) = server
        .get(Some(&user), "/api/v1/settings/Accounts_AvatarSize")
        .await;
    assert_eq!(status, 403, "{body}");
    let (status, _) = server
        .post(
            Some(&user),
            "/api/v1/settings/Accounts_AvatarSize",
            json!({"value": 10}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/settings/Accounts_AvatarSize",
            json!({}),
        )
        .await;
    assert_eq!(status, 400, "{body}");
}
