//! The avatar audit trail (`avatars.history`) and restoring a previous avatar (`avatars.restore`).

use crate::common::{Server, png, two_tone};
use serde_json::{Value, json};

fn coloured_png(colour: [u8; 3]) -> Vec<u8> {
    let image = image::RgbImage::from_pixel(64, 64, image::Rgb(colour));
    let mut bytes = std::io::Cursor::new(Vec::new());
    image
        .write_to(&mut bytes, image::ImageFormat::Png)
        .expect("encode");
    bytes.into_inner()
}

#[tokio::test]
async fn every_change_is_recorded_with_its_actor_and_a_kept_avatar_can_be_restored() {
    let server = Server::start().await;
    let alice = server.create_user("alice").await;
    server
        .set_setting("Avatar_History_Kept_Avatars", json!(5))
        .await;

    assert_eq!(
        server
            .upload(&alice, coloured_png([200, 0, 0]), "image/png")
            .await
            .0,
        200
    );
    let (_, red) = server.avatar_bytes("alice").await;
    assert_eq!(
        server
            .upload(&alice, coloured_png([0, 0, 200]), "image/png")
            .await
            .0,
        200
    );
    // An admin resets it: moderation shows up as the admin's doing.
    assert_eq!(server.reset_avatar(&server.admin, "alice").await, 200);

    let (status, body) = server
        .get(
            Some(&server.admin),
            "/api/v1/avatars.history?username=alice",
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(
        (
            body["total"].clone(),
            body["count"].clone(),
            body["offset"].clone()
        ),
        (json!(3), json!(3), json!(0))
    );
    let history = body["history"].as_array().unwrap();
    let summary: Vec<(&str, &str, bool, bool)> = history
        .iter()
        .map(|c| {
            (
                c["action"].as_str().unwrap(),
                c["actor"]["username"].as_str().unwrap(),
                c["previousETag"].is_string(),
                c["etag"].is_string(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            ("reset", "admin", true, false),
            ("rest", "alice", true, true),
            ("rest", "alice", false, true),
        ]
    );
    for change in history {
        assert_eq!(change["username"], "alice");
        assert_eq!(change["userId"], alice.user_id);
        assert_eq!(change["ip"], "127.0.0.1");
        assert!(change["ts"].as_str().unwrap().ends_with('Z'));
    }
    assert_eq!(history[0]["previousETag"], history[1]["etag"]);
    assert_eq!(history[1]["previousETag"], history[2]["etag"]);
    assert_eq!(history[2]["contentType"], "image/png");

    // Paging as Rocket.Chat pages lists.
    let (_, page) = server
        .get(
            Some(&server.admin),
            "/api/v1/avatars.history?username=alice&offset=1&count=1",
        )
        .await;
    assert_eq!(page["history"].as_array().unwrap().len(), 1);
    assert_eq!(page["history"][0], history[1]);
    assert_eq!(page["total"], 3);
    let (status, bad) = server
        .get(
            Some(&server.admin),
            "/api/v1/avatars.history?username=alice&count=-1",
        )
        .await;
    assert_eq!(
        (status.as_u16(), &bad["errorType"]),
        (400, &json!("invalid-params"))
    );

    // The first upload comes back, under the ETag it had, and the restore is recorded too.
    let first: Value = history[2].clone();
    let history_id: i64 = first["_id"].as_str().unwrap().parse().unwrap();
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/avatars.restore",
            json!({"username": "alice", "historyId": history_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["avatarETag"], first["etag"]);
    assert_eq!(server.avatar_bytes("alice").await.1, red);
    let (_, info) = server
        .get(Some(&server.admin), "/api/v1/users.info?username=alice")
        .await;
    assert_eq!(info["user"]["avatarETag"], first["etag"]);
    let (_, body) = server
        .get(
            Some(&server.admin),
            "/api/v1/avatars.history?username=alice&count=1",
        )
        .await;
    assert_eq!(body["history"][0]["action"], "restore");
    assert_eq!(body["history"][0]["actor"]["username"], "admin");

    // A reset has no avatar to restore; another user's entry is not this user's.
    let reset_id: i64 = history[0]["_id"].as_str().unwrap().parse().unwrap();
    let bob = server.create_user("bob").await;
    for (username, id) in [("alice", reset_id), ("bob", history_id), ("alice", 999_999)] {
        let (status, body) = server
            .post(
                Some(&server.admin),
                "/api/v1/avatars.restore",
                json!({"username": username, "historyId": id}),
            )
            .await;
        assert_eq!(status, 400, "{username} {id}: {body}");
        assert_eq!(body["errorType"], "error-avatar-not-restorable");
    }

    // Neither the trail nor restoring is for ordinary users, even about themselves.
    let (status, _) = server
        .get(Some(&alice), "/api/v1/avatars.history?username=alice")
        .await;
    assert_eq!(status, 403);
    let (status, _) = server
        .post(
            Some(&bob),
            "/api/v1/avatars.restore",
            json!({"username": "bob", "historyId": history_id}),
        )
        .await;
    assert_eq!(status, 403);
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/avatars.restore",
            json!({"username": "alice"}),
        )
        .await;
    assert_eq!(
        (status.as_u16(), &body["errorType"]),
        (400, &json!("invalid-params"))
    );
}

#[tokio::test]
async fn previous_avatars_are_kept_only_as_configured() {
    let server = Server::start_with(&[
        ("AVATARD_ORPHAN_SWEEP_SECS", "1"),
        ("AVATARD_ORPHAN_GRACE_SECS", "0"),
    ])
    .await;
    let carol = server.create_user("carol").await;
    server
        .set_setting("Avatar_History_Kept_Avatars", json!(1))
        .await;
    for side in [40, 48, 56] {
        let image = two_tone(side, side);
        let mut bytes = std::io::Cursor::new(Vec::new());
        image.write_to(&mut bytes, image::ImageFormat::Png).unwrap();
        assert_eq!(
            server
                .upload(&carol, bytes.into_inner(), "image/png")
                .await
                .0,
            200
        );
    }
    // Current + one previous survive the sweep; the oldest goes.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.blob_keys().await.len() > 2 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(server.blob_keys().await.len(), 2);
    let (_, body) = server
        .get(
            Some(&server.admin),
            "/api/v1/avatars.history?username=carol",
        )
        .await;
    let ids: Vec<i64> = body["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["_id"].as_str().unwrap().parse().unwrap())
        .collect();
    let restore = async |id: i64| {
        server
            .post(
                Some(&server.admin),
                "/api/v1/avatars.restore",
                json!({"username": "carol", "historyId": id}),
            )
            .await
    };
    assert_eq!(
        restore(ids[2]).await.1["errorType"],
        "error-avatar-not-restorable"
    );
    assert_eq!(restore(ids[1]).await.0, 200);

    // With nothing kept, a replaced avatar is deleted at once, as Rocket.Chat does, and the sweep
    // takes the previous ones it kept.
    server
        .set_setting("Avatar_History_Kept_Avatars", json!(0))
        .await;
    let before = server.blob_keys().await;
    assert_eq!(server.upload(&carol, png(30, 30), "image/png").await.0, 200);
    let after = server.blob_keys().await;
    assert_eq!(after.len(), before.len(), "{before:?} -> {after:?}");
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while server.blob_keys().await.len() > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
    assert_eq!(server.blob_keys().await.len(), 1);
}
