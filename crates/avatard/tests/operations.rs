//! Operating the binary: the `user add` command beside a running server, graceful shutdown on
//! SIGTERM, and JSON logs.

mod common;

use std::process::Command;
use std::time::Duration;

use common::Server;

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
