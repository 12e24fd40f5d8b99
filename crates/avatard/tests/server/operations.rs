//! Operating the binary: the `user add` command beside a running server, graceful shutdown on
//! SIGTERM, and JSON logs.

use std::process::Command;
use std::time::Duration;

use crate::common::Server;

/// `avatard user add ARGS` on the server's own storage.
fn user_add(server: &Server, args: &[&str]) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_avatard"))
        .args(["user", "add"])
        .args(args)
        .args(["--database-url", &server.storage.database_url])
        .args(["--storage-url", &server.storage.storage_url])
        .env("RUST_LOG", "warn")
        .output()
        .expect("run user add")
}

#[tokio::test]
async fn user_add_works_while_the_server_runs() {
    let server = Server::start().await;
    let output = user_add(
        &server,
        &[
            "--username",
            "operator",
            "--password",
            "op-pass",
            "--email",
            "op@example.com",
            "--role",
            "admin",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(String::from_utf8_lossy(&output.stdout).starts_with("created user operator"));

    let operator = server.login("operator", "op-pass").await;
    let (_, me) = server.get(Some(&operator), "/api/v1/me").await;
    assert_eq!(me["roles"], serde_json::json!(["admin", "user"]));

    // A second add of the same name fails cleanly.
    let again = user_add(&server, &["--username", "OPERATOR", "--password", "x"]);
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("already in use"));
}

#[tokio::test]
async fn sigterm_stops_the_server_gracefully() {
    let mut server = Server::start_with(&[("RUST_LOG", "info")]).await;
    let status = Command::new("kill")
        .args(["-TERM", &server.pid().to_string()])
        .status()
        .expect("kill");
    assert!(status.success());
    assert_eq!(server.wait_for_exit(Duration::from_secs(10)), Some(true));
    assert!(server.log().contains("shutting down"), "{}", server.log());
}

#[tokio::test]
async fn logs_can_be_json_lines() {
    let server = Server::start_with(&[("AVATARD_LOG_FORMAT", "json"), ("RUST_LOG", "info")]).await;
    let log = server.log();
    let lines: Vec<&str> = log.lines().filter(|l| !l.trim().is_empty()).collect();
    assert!(!lines.is_empty());
    for line in lines {
        let entry: serde_json::Value =
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not JSON: {line}"));
        assert!(entry.get("level").is_some() && entry.get("timestamp").is_some());
    }
}

#[tokio::test]
async fn the_orphan_sweep_removes_only_unreferenced_old_blobs() {
    let server = Server::start_with(&[
        ("AVATARD_ORPHAN_SWEEP_SECS", "1"),
        ("AVATARD_ORPHAN_GRACE_SECS", "2"),
    ])
    .await;
    let user = server.create_user("kept").await;
    assert_eq!(
        server
            .upload(&user, crate::common::png(40, 40), "image/png")
            .await
            .0,
        200
    );
    let committed = server.blob_keys().await;
    assert_eq!(committed.len(), 1);
    // A write whose commit never happened, as a crash between the two would leave it.
    let blobs = avatard_storage::open_blobs(&server.storage.storage_url).unwrap();
    blobs
        .put(
            &format!("{}/{}-orphan", user.user_id, "0".repeat(64)),
            bytes::Bytes::from_static(b"x"),
        )
        .await
        .unwrap();
    assert_eq!(server.blob_keys().await.len(), 2);
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while server.blob_keys().await.len() > 1 && std::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    assert_eq!(
        server.blob_keys().await,
        committed,
        "the sweep must remove the orphan and keep the avatar"
    );
    assert_eq!(server.avatar_bytes("kept").await.0, "image/png");
}

#[tokio::test]
async fn health_and_readiness_follow_the_storage() {
    let server = Server::start().await;
    let (status, body) = server.get(None, "/ready").await;
    assert_eq!(status, 200);
    assert_eq!(
        body,
        serde_json::json!({"status": "ready", "database": "ok", "storage": "ok"})
    );
    let (status, body) = server.get(None, "/health").await;
    assert_eq!(
        (status.as_u16(), &body["status"]),
        (200, &serde_json::json!("ok"))
    );

    // Break the avatar storage: the embedded folder disappears, or a replica names a missing bucket.
    let broken = if server.storage.is_embedded() {
        std::fs::remove_dir_all(server.dir.path().join("data/blobs")).unwrap();
        None
    } else {
        let storage = crate::common::Storage {
            storage_url: "s3://avatard-no-such-bucket/x".into(),
            ..server.storage.clone()
        };
        Some(Server::start_on(&storage, &[]).await)
    };
    let target = broken.as_ref().unwrap_or(&server);
    let (status, body) = target.get(None, "/ready").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["database"], "ok");
    assert!(
        body["storage"].as_str().unwrap().starts_with("unreachable"),
        "{body}"
    );
    let (status, body) = target.get(None, "/health").await;
    assert_eq!(
        (status.as_u16(), &body["status"]),
        (200, &serde_json::json!("degraded"))
    );
}
