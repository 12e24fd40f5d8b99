//! `users.setAvatar` by upload (R3.1–R3.3, R3.5): order of checks, every error body, permissions,
//! processing, and that a rejected upload never loses the previous avatar.

use crate::common::{Server, Session, decode, png};
use image::GenericImageView as _;
use serde_json::json;

async fn served(server: &Server, username: &str) -> Vec<u8> {
    server.avatar_bytes(username).await.1
}

/// Upload a first avatar and return its bytes as served.
async fn with_avatar(server: &Server, user: &Session) -> Vec<u8> {
    let (status, body) = server.upload(user, png(64, 64), "image/png").await;
    assert_eq!((status.as_u16(), body), (200, json!({"success": true})));
    served(server, &user.username).await
}

#[tokio::test]
async fn upload_sets_a_square_avatar_and_the_etag() {
    let server = Server::start().await;
    let user = server.create_user("alice").await;
    let (status, body) = server.upload(&user, png(400, 200), "image/png").await;
    assert_eq!((status.as_u16(), body), (200, json!({"success": true})));
    let (content_type, bytes) = server.avatar_bytes("alice").await;
    assert_eq!(content_type, "image/png");
    let image = decode(&bytes);
    assert_eq!(image.dimensions(), (200, 200));
    // Opaque images are cropped to cover: the centre column boundary sits in the middle.
    assert!(image.get_pixel(10, 100)[0] > 150 && image.get_pixel(190, 100)[2] > 150);
    let (_, info) = server
        .get(Some(&user), "/api/v1/users.info?username=alice")
        .await;
    assert_eq!(info["user"]["avatarOrigin"], "rest");
    assert_eq!(info["user"]["avatarETag"].as_str().unwrap().len(), 32);
    assert_eq!(server.blob_keys().await.len(), 1);
}

#[tokio::test]
async fn every_supported_format_is_accepted_and_normalised() {
    let server = Server::start().await;
    let user = server.create_user("formats").await;
    let cases: [(&str, Vec<u8>, &str); 5] = [
        ("png", png(300, 300), "image/png"),
        ("jpeg", crate::common::jpeg(300, 240), "image/jpeg"),
        ("gif", crate::common::gif(120, 120), "image/png"),
        ("webp", crate::common::webp(220, 220), "image/webp"),
        ("svg", crate::common::SVG.as_bytes().to_vec(), "image/png"),
    ];
    for (name, bytes, served_type) in cases {
        let (status, body) = server.upload(&user, bytes, &format!("image/{name}")).await;
        assert_eq!(status, 200, "{name}: {body}");
        let (content_type, served) = server.avatar_bytes("formats").await;
        assert_eq!(content_type, served_type, "{name}");
        assert_eq!(decode(&served).dimensions(), (200, 200), "{name}");
    }
    // Each replacement removed the blob it replaced.
    assert_eq!(server.blob_keys().await.len(), 1);
}

#[tokio::test]
async fn transparency_is_kept_and_the_image_contained() {
    let server = Server::start().await;
    let user = server.create_user("alpha").await;
    assert_eq!(
        server
            .upload(&user, crate::common::png_with_alpha(300, 150), "image/png")
            .await
            .0,
        200
    );
    let image = decode(&served(&server, "alpha").await);
    assert_eq!(image.dimensions(), (200, 200));
    assert_eq!(image.get_pixel(2, 2)[3], 0, "corner must stay transparent");
    assert_eq!(image.get_pixel(100, 100)[3], 255);
}

#[tokio::test]
async fn the_declared_type_is_not_trusted() {
    let server = Server::start().await;
    let user = server.create_user("liar").await;
    // A real PNG declared as something else is still a PNG…
    let (status, _) = server
        .upload_as(
            &user,
            "image",
            png(50, 50),
            "x.bin",
            "application/octet-stream",
            &[],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(server.avatar_bytes("liar").await.0, "image/png");
    // …and HTML declared as PNG is refused.
    let (status, body) = server
        .upload(
            &user,
            b"<html><script>alert(1)</script></html>".to_vec(),
            "image/png",
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"success": false, "error": "File type is not accepted. [error-invalid-file-type]", "errorType": "error-invalid-file-type"})
    );
}

#[tokio::test]
async fn rejected_uploads_keep_the_previous_avatar() {
    let server = Server::start().await;
    let user = server.create_user("keeper").await;
    let before = with_avatar(&server, &user).await;
    let mut truncated = png(300, 300);
    truncated.truncate(truncated.len() / 2);
    let mut bomb = png(1, 1);
    // Rewrite the IHDR to claim 30000×30000 pixels and fix its CRC.
    bomb[16..20].copy_from_slice(&30000u32.to_be_bytes());
    bomb[20..24].copy_from_slice(&30000u32.to_be_bytes());
    let crc = crc32fast::hash(&bomb[12..29]);
    bomb[29..33].copy_from_slice(&crc.to_be_bytes());
    let heic = [&[0, 0, 0, 24][..], b"ftypheic", &[0, 0, 0, 0], b"mif1heic"].concat();

    for (name, bytes) in [
        ("truncated", truncated),
        ("bomb", bomb),
        ("heic", heic),
        ("text", b"hello".to_vec()),
    ] {
        let (status, body) = server.upload(&user, bytes, "image/png").await;
        assert_eq!(status, 400, "{name}: {body}");
        assert_eq!(
            body["errorType"], "error-invalid-file-type",
            "{name}: {body}"
        );
        assert_eq!(
            served(&server, "keeper").await,
            before,
            "{name} changed the avatar"
        );
    }
    let (status, body) = server.upload(&user, Vec::new(), "image/png").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"success": false, "error": "File size (size = 0) is too small (min = 1) [file-too-small]", "errorType": "file-too-small"})
    );
    assert_eq!(served(&server, "keeper").await, before);
    assert_eq!(
        server.blob_keys().await.len(),
        1,
        "a rejected upload left a blob behind"
    );
}

#[tokio::test]
async fn the_file_size_limit_is_enforced_while_streaming() {
    let server = Server::start().await;
    let user = server.create_user("big").await;
    let before = with_avatar(&server, &user).await;
    server
        .set_setting("FileUpload_MaxFileSize", json!(1000))
        .await;
    let (status, body) = server.upload(&user, vec![0x89; 5000], "image/png").await;
    assert_eq!(status, 400);
    assert_eq!(
        body,
        json!({"success": false, "error": "[error-file-too-large]", "errorType": "error-file-too-large"})
    );
    assert_eq!(served(&server, "big").await, before);

    // 0 means every non-empty file is too large (the store's filter, R3.5).
    server.set_setting("FileUpload_MaxFileSize", json!(0)).await;
    let (status, body) = server.upload(&user, png(10, 10), "image/png").await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "File size exceeds upload limit of 0 B. [error-file-too-large]"
    );
}

#[tokio::test]
async fn multipart_errors_have_rocket_chat_bodies() {
    let server = Server::start().await;
    let user = server.create_user("forms").await;
    let (status, body) = server
        .upload_as(&user, "picture", png(10, 10), "a.png", "image/png", &[])
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({"success": false, "error": "[invalid-field]", "errorType": "invalid-field"})
        )
    );

    let two_files = reqwest::multipart::Form::new()
        .part(
            "image",
            reqwest::multipart::Part::bytes(png(10, 10)).file_name("a.png"),
        )
        .part(
            "image",
            reqwest::multipart::Part::bytes(png(10, 10)).file_name("b.png"),
        );
    let (status, body) = server.post_form(&user, two_files).await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({"success": false, "error": "Just 1 file is allowed"})
        )
    );

    let no_file = reqwest::multipart::Form::new().text("username", "forms");
    let (status, body) = server.post_form(&user, no_file).await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({"success": false, "error": "[No file uploaded]", "errorType": "No file uploaded"})
        )
    );

    // A JSON body without avatarUrl reaches the multipart parser, which refuses it.
    let (status, body) = server
        .post(Some(&user), "/api/v1/users.setAvatar", json!({}))
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({"success": false, "error": "Unsupported content type: application/json"})
        )
    );
}

#[tokio::test]
async fn the_json_schema_is_checked_before_anything_else() {
    let server = Server::start().await;
    let user = server.create_user("schema").await;
    let (status, body) = server
        .post(
            Some(&user),
            "/api/v1/users.setAvatar",
            json!({"avatarUrl": "http://x/y.png", "color": "red"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({"success": false, "error": "must NOT have additional properties [invalid-params]", "errorType": "invalid-params"})
        )
    );
    let (status, body) = server
        .post(
            Some(&user),
            "/api/v1/users.setAvatar",
            json!({"avatarUrl": 5}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(body["errorType"], "invalid-params");
}

#[tokio::test]
async fn avatar_change_can_be_disabled_except_for_editors() {
    let server = Server::start().await;
    let user = server.create_user("locked").await;
    let before = with_avatar(&server, &user).await;
    server
        .set_setting("Accounts_AllowUserAvatarChange", json!(false))
        .await;
    let (status, body) = server.upload(&user, png(90, 90), "image/png").await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({
                "success": false,
                "error": "Change avatar is not allowed [error-not-allowed]",
                "errorType": "error-not-allowed",
                "details": {"method": "users.setAvatar"}
            })
        )
    );
    assert_eq!(served(&server, "locked").await, before);
    // Admins hold edit-other-user-avatar, so the setting does not stop them.
    let (status, _) = server.upload(&server.admin, png(90, 90), "image/png").await;
    assert_eq!(status, 200);
}

#[tokio::test]
async fn targeting_another_user_needs_edit_other_user_avatar() {
    let server = Server::start().await;
    let alice = server.create_user("alice").await;
    let bob = server.create_user("bob").await;
    let before = with_avatar(&server, &bob).await;

    // JSON body naming someone else, without the permission: 403.
    let (status, body) = server
        .post(
            Some(&alice),
            "/api/v1/users.setAvatar",
            json!({"username": "bob", "avatarUrl": "http://example.com/a.png"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (403, json!({"success": false, "error": "unauthorized"}))
    );
    // Naming yourself is fine, exactly as spelled.
    let (status, body) = server
        .post(
            Some(&alice),
            "/api/v1/users.setAvatar",
            json!({"userId": alice.user_id}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), body["error"].as_str()),
        (400, Some("Unsupported content type: application/json"))
    );

    // Multipart form fields naming someone else, without the permission: 400 Not allowed.
    let (status, body) = server
        .upload_as(
            &alice,
            "image",
            png(20, 20),
            "a.png",
            "image/png",
            &[("username", "bob")],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({"success": false, "error": "Not allowed [error-not-allowed]", "errorType": "error-not-allowed"})
        )
    );
    assert_eq!(served(&server, "bob").await, before);

    let (status, body) = server
        .upload_as(
            &alice,
            "image",
            png(20, 20),
            "a.png",
            "image/png",
            &[("userId", "nobody")],
        )
        .await;
    assert_eq!(
        (status.as_u16(), body),
        (
            400,
            json!({
                "success": false,
                "error": "The optional \"userId\" or \"username\" param provided does not match any users [error-invalid-user]",
                "errorType": "error-invalid-user"
            })
        )
    );

    // An admin may, by form field (userId preferred over username) …
    let (status, _) = server
        .upload_as(
            &server.admin,
            "image",
            crate::common::jpeg(40, 40),
            "a.jpg",
            "image/jpeg",
            &[("username", "alice"), ("userId", &bob.user_id)],
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(server.avatar_bytes("bob").await.0, "image/jpeg");
    assert_eq!(
        server.avatar("/avatar/alice").await.headers()["content-type"],
        "image/svg+xml"
    );

    // … and the JSON body target is resolved (and checked) first.
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/users.setAvatar",
            json!({"username": "nobody", "avatarUrl": "http://x.example/a.png"}),
        )
        .await;
    assert_eq!(status, 400);
    assert_eq!(
        body["error"],
        "The required \"userId\" or \"username\" param provided does not match any users [error-invalid-user]"
    );
}

#[tokio::test]
async fn the_avatar_size_setting_and_content_addressing() {
    let server = Server::start().await;
    let user = server.create_user("sized").await;
    server.set_setting("Accounts_AvatarSize", json!(64)).await;
    let image = png(300, 300);
    assert_eq!(
        server.upload(&user, image.clone(), "image/png").await.0,
        200
    );
    assert_eq!(
        decode(&served(&server, "sized").await).dimensions(),
        (64, 64)
    );
    let (_, first) = server
        .get(Some(&user), "/api/v1/users.info?username=sized")
        .await;
    // The same picture again: the same ETag, the same single blob.
    assert_eq!(server.upload(&user, image, "image/png").await.0, 200);
    let (_, second) = server
        .get(Some(&user), "/api/v1/users.info?username=sized")
        .await;
    assert_eq!(first["user"]["avatarETag"], second["user"]["avatarETag"]);
    assert_eq!(server.blob_keys().await.len(), 1);
}

#[tokio::test]
async fn hostile_svg_is_rasterised_without_reading_local_files() {
    let server = Server::start().await;
    let user = server.create_user("svg").await;
    let svg = r#"<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="100" height="100">
        <script>alert(1)</script>
        <image href="/etc/hostname" width="100" height="100"/>
        <image xlink:href="file:///etc/passwd" width="100" height="100"/>
        <rect width="50" height="50" fill="blue"/></svg>"#;
    let (status, body) = server
        .upload(&user, svg.as_bytes().to_vec(), "image/svg+xml")
        .await;
    assert_eq!(status, 200, "{body}");
    let (content_type, bytes) = server.avatar_bytes("svg").await;
    assert_eq!(content_type, "image/png");
    let image = decode(&bytes);
    // Where the local files would have been drawn, the picture stays empty.
    assert_eq!(image.get_pixel(190, 190)[3], 0);
    assert!(!bytes.windows(6).any(|w| w == b"script"));
}
