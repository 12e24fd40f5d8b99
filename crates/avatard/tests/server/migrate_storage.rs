//! `avatard migrate-storage`: an embedded deployment with many users is copied to another (PostgreSQL
//! and S3 in the scale-out run, another embedded one otherwise); the copy serves identical bytes for
//! every user, keeps passwords, settings and permissions, and a second run is a verified no-op.

use std::process::Command;

use crate::common::{PASSWORD, Server, Storage};
use serde_json::{Value, json};

/// An avatar as the source deployment served it: its bytes and its ETag.
type Served = (Vec<u8>, Value);

fn migrate(from: &Storage, to: &Storage) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_avatard"))
        .arg("migrate-storage")
        .arg("--from")
        .arg(format!("{},{}", from.database_url, from.storage_url))
        .arg("--to")
        .arg(format!("{},{}", to.database_url, to.storage_url))
        .env("RUST_LOG", "warn")
        .output()
        .expect("run migrate-storage");
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test]
async fn an_embedded_deployment_moves_with_every_avatar_intact() {
    let source_dir = tempfile::tempdir().unwrap();
    let source = Storage::embedded(source_dir.path());
    let server = Server::start_on(&source, &[]).await;
    server.set_setting("Accounts_AvatarSize", json!(128)).await;
    let (status, _) = server
        .post(
            Some(&server.admin),
            "/api/v1/permissions.update",
            json!({"permissions": [{"_id": "edit-other-user-avatar", "roles": ["admin", "moderator"]}]}),
        )
        .await;
    assert_eq!(status, 200);

    let mut expected: Vec<(String, Option<Served>)> = Vec::new();
    for i in 0..30u32 {
        let username = format!("mover{i}");
        let user = server.create_user(&username).await;
        let upload = match i % 5 {
            0 => Some((crate::common::png(60 + i, 50), "image/png")),
            1 => Some((crate::common::jpeg(80, 60 + i), "image/jpeg")),
            2 => Some((crate::common::webp(70 + i, 70), "image/webp")),
            3 => Some((crate::common::gif(50, 40 + i), "image/gif")),
            _ => None,
        };
        let avatar = match upload {
            Some((bytes, mime)) => {
                assert_eq!(server.upload(&user, bytes, mime).await.0, 200);
                let (_, info) = server
                    .get(
                        Some(&user),
                        &format!("/api/v1/users.info?username={username}"),
                    )
                    .await;
                Some((
                    server.avatar_bytes(&username).await.1,
                    info["user"]["avatarETag"].clone(),
                ))
            }
            None => None,
        };
        expected.push((username, avatar));
    }
    drop(server);

    let target_dir = tempfile::tempdir().unwrap();
    let target = Storage::fresh(target_dir.path()).await;
    let first = migrate(&source, &target);
    assert!(
        first.contains("users: 31 copied, 0 already there"),
        "{first}"
    );
    assert!(first.contains("avatars: 24 copied"), "{first}");
    let again = migrate(&source, &target);
    assert!(
        again.contains("users: 0 copied, 31 already there"),
        "{again}"
    );
    assert!(
        again.contains("avatars: 0 copied (0 bytes, verified), 24 already there"),
        "{again}"
    );

    let moved = Server::start_on(&target, &[]).await;
    for (username, avatar) in &expected {
        let session = moved.login(username, PASSWORD).await;
        let (content_type, bytes) = moved.avatar_bytes(username).await;
        let (_, info) = moved
            .get(
                Some(&session),
                &format!("/api/v1/users.info?username={username}"),
            )
            .await;
        match avatar {
            Some((original, etag)) => {
                assert_eq!(
                    &bytes, original,
                    "{username}: different bytes after the move"
                );
                assert_eq!(&info["user"]["avatarETag"], etag, "{username}");
            }
            None => assert_eq!(content_type, "image/svg+xml", "{username}"),
        }
    }
    assert_eq!(moved.blob_keys().await.len(), 24);
    let (_, size) = moved
        .get(Some(&moved.admin), "/api/v1/settings/Accounts_AvatarSize")
        .await;
    assert_eq!(size["value"], 128);
    let (_, permissions) = moved
        .get(Some(&moved.admin), "/api/v1/permissions.listAll")
        .await;
    let edit = permissions["update"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["_id"] == "edit-other-user-avatar")
        .unwrap();
    assert_eq!(edit["roles"], json!(["admin", "moderator"]));
}
