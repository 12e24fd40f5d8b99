//! Request limits: oversized heads, slow heads and bodies (slowloris), deep JSON, many-part forms,
//! large bodies. Each is refused with a 4xx or a closed connection, and the server goes on serving.

use std::time::{Duration, Instant};

use crate::common::{self, Server};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt as _, AsyncWriteExt as _};
use tokio::net::TcpStream;

async fn still_serves(server: &Server) {
    let (status, body) = server.get(None, "/api/info").await;
    assert_eq!(status, 200, "{body}");
}

/// Connect to the server's port directly, to send what a well-behaved client would not.
async fn raw(server: &Server) -> TcpStream {
    let address = server.url("").trim_start_matches("http://").to_owned();
    TcpStream::connect(address).await.expect("connect")
}

/// Everything the server sends until it closes the connection, or `None` if it is still open
/// after `within`.
async fn until_closed(stream: &mut TcpStream, within: Duration) -> Option<String> {
    let mut received = Vec::new();
    let read = tokio::time::timeout(within, stream.read_to_end(&mut received)).await;
    match read {
        Ok(_) => Some(String::from_utf8_lossy(&received).into_owned()),
        Err(_) => None,
    }
}

#[tokio::test]
async fn oversized_request_heads_get_431() {
    let server = Server::start().await;
    let client = reqwest::Client::new();
    let big = "x".repeat(80 * 1024);
    let response = client
        .get(server.url("/api/info"))
        .header("X-Padding", &big)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 431);
    let many = (0..150).fold(client.get(server.url("/avatar/admin")), |request, i| {
        request.header(format!("x-header-{i}"), "v")
    });
    assert_eq!(many.send().await.expect("request").status(), 431);
    still_serves(&server).await;
}

#[tokio::test]
async fn slow_heads_and_stalled_bodies_are_cut_off() {
    let server = Server::start_with(&[
        ("AVATARD_HEADER_READ_TIMEOUT_SECS", "1"),
        ("AVATARD_BODY_IDLE_TIMEOUT_SECS", "1"),
    ])
    .await;

    // Half a request head, then nothing: the connection is closed after about a second.
    let mut stream = raw(&server).await;
    let started = Instant::now();
    stream
        .write_all(b"GET /api/info HTTP/1.1\r\nHost: avatard\r\nX-Slow: ")
        .await
        .unwrap();
    let answer = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.is_some(), "a slow head kept its connection open");
    assert!(started.elapsed() < Duration::from_secs(4));
    assert!(!answer.unwrap().contains("200 OK"));

    // An idle keep-alive connection is closed the same way.
    let mut stream = raw(&server).await;
    stream
        .write_all(b"GET /api/info HTTP/1.1\r\nHost: avatard\r\n\r\n")
        .await
        .unwrap();
    let answer = until_closed(&mut stream, Duration::from_secs(5)).await;
    assert!(answer.expect("closed").starts_with("HTTP/1.1 200"));

    // A body that stops halfway: a 4xx after the idle timeout, not a connection held forever.
    let mut stream = raw(&server).await;
    let started = Instant::now();
    stream
        .write_all(
            b"POST /api/v1/login HTTP/1.1\r\nHost: avatard\r\nContent-Type: application/json\r\n\
              Content-Length: 100\r\nConnection: close\r\n\r\n{\"user\": \"adm",
        )
        .await
        .unwrap();
    let answer = until_closed(&mut stream, Duration::from_secs(5))
        .await
        .expect("a stalled body kept its connection open");
    let status: u16 = answer
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| panic!("no status in {answer:?}"));
    assert!((400..500).contains(&status), "{answer}");
    assert!(started.elapsed() < Duration::from_secs(4));
    still_serves(&server).await;
}

#[tokio::test]
async fn deep_json_large_bodies_and_many_part_forms_are_client_errors() {
    let server = Server::start().await;
    let client = reqwest::Client::new();

    // Nesting beyond serde_json's recursion limit is invalid JSON, which Rocket.Chat reads as {}.
    for depth in [200, 100_000] {
        let body = "[".repeat(depth) + &"]".repeat(depth);
        let response = client
            .post(server.url("/api/v1/login"))
            .header("Content-Type", "application/json")
            .body(body)
            .send()
            .await
            .expect("request");
        assert_eq!(response.status(), 401, "depth {depth}");
    }
    let deep = json!({"user": "admin", "password": (0..300).fold(json!(1), |v, _| json!([v]))});
    let (status, _) = server.post(None, "/api/v1/login", deep).await;
    assert_eq!(status, 401);

    // A JSON body far beyond any parameter's size.
    let huge = json!({"user": "x".repeat(3 * 1024 * 1024), "password": "p"});
    let (status, body) = server.post(None, "/api/v1/login", huge).await;
    assert!(status.is_client_error(), "{status} {body}");

    // A form with more parts than any client sends (with a length, as browsers send forms).
    let mut form = Vec::new();
    for i in 0..40 {
        form.extend_from_slice(
            format!("--b0undary\r\nContent-Disposition: form-data; name=\"field{i}\"\r\n\r\nv\r\n")
                .as_bytes(),
        );
    }
    form.extend_from_slice(b"--b0undary--\r\n");
    let response = client
        .post(server.url("/api/v1/users.setAvatar"))
        .header("X-User-Id", &server.admin.user_id)
        .header("X-Auth-Token", &server.admin.token)
        .header("Content-Type", "multipart/form-data; boundary=b0undary")
        .body(form)
        .send()
        .await
        .expect("request");
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "Too many parts in the form");
    still_serves(&server).await;
}

#[tokio::test]
async fn uploads_wait_for_room_in_the_shared_memory_budget() {
    // A budget of one largest upload (1 MiB): one upload being read can hold all of it.
    let server = Server::start_with(&[
        ("AVATARD_MAX_UPLOAD_BYTES", "1048576"),
        ("AVATARD_UPLOAD_MEMORY_BYTES", "1048576"),
        ("AVATARD_UPLOAD_WAIT_SECS", "2"),
        ("AVATARD_BODY_IDLE_TIMEOUT_SECS", "60"),
    ])
    .await;
    let admin = &server.admin;

    // The first upload sends most of a 1 MB file, then pauses: what it has sent already fills
    // most of the budget.
    let boundary = "avatard-budget-test";
    let file = common::tagged_png(1, 8, 8, 1_000_000);
    let body = [
        format!(
            "--{boundary}\r\nContent-Disposition: form-data; name=\"image\"; \
             filename=\"a.png\"\r\nContent-Type: image/png\r\n\r\n"
        )
        .as_bytes(),
        &file,
        format!("\r\n--{boundary}--\r\n").as_bytes(),
    ]
    .concat();
    let mut first = raw(&server).await;
    first
        .write_all(
            format!(
                "POST /api/v1/users.setAvatar HTTP/1.1\r\nHost: avatard\r\nX-User-Id: {}\r\n\
                 X-Auth-Token: {}\r\nContent-Type: multipart/form-data; boundary={boundary}\r\n\
                 Content-Length: {}\r\nConnection: close\r\n\r\n",
                admin.user_id,
                admin.token,
                body.len()
            )
            .as_bytes(),
        )
        .await
        .unwrap();
    let (sent, rest) = body.split_at(900_000);
    first.write_all(sent).await.unwrap();
    tokio::time::sleep(Duration::from_millis(500)).await;

    // A second upload of 300 kB finds no room: it waits, then gets Rocket.Chat's 429.
    let started = Instant::now();
    let (status, answer) = server
        .upload(admin, common::tagged_png(2, 8, 8, 300_000), "image/png")
        .await;
    assert_eq!(status, 429, "{answer}");
    assert_eq!(answer["errorType"], "error-too-many-requests", "{answer}");
    assert!(
        started.elapsed() >= Duration::from_secs(2),
        "refused after {:?}, without waiting for room",
        started.elapsed()
    );

    // The first upload completes as if nothing happened, and its room is returned.
    first.write_all(rest).await.unwrap();
    let answer = until_closed(&mut first, Duration::from_secs(10))
        .await
        .expect("the first upload was answered");
    assert!(answer.starts_with("HTTP/1.1 200"), "{answer}");
    let (_, shown) = server.avatar_bytes("admin").await;
    assert_eq!(common::tag_of(&shown), Some(1));
    let (status, answer) = server
        .upload(admin, common::tagged_png(3, 8, 8, 300_000), "image/png")
        .await;
    assert_eq!(status, 200, "{answer}");
}
