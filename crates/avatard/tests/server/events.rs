//! `GET /api/v1/avatars.events`: every avatar change, as Server-Sent Events, to every subscriber,
//! with resumption from `Last-Event-ID`.

use std::time::Duration;

use futures_util::StreamExt as _;
use serde_json::{Value, json};

use crate::common::{Server, Session, png};

/// One server-sent event.
#[derive(Debug)]
pub struct SseEvent {
    pub event: String,
    pub id: Option<i64>,
    pub data: Value,
}

/// A subscription to `avatars.events`, read as the bytes arrive.
pub struct EventStream {
    body: futures_util::stream::BoxStream<'static, reqwest::Result<bytes::Bytes>>,
    buffer: String,
}

impl EventStream {
    pub async fn open(
        server: &Server,
        session: &Session,
        last_event_id: Option<i64>,
    ) -> EventStream {
        let mut request = reqwest::Client::new()
            .get(server.url("/api/v1/avatars.events"))
            .header("X-User-Id", &session.user_id)
            .header("X-Auth-Token", &session.token);
        if let Some(id) = last_event_id {
            request = request.header("Last-Event-ID", id.to_string());
        }
        let response = request.send().await.expect("subscribe");
        assert_eq!(response.status(), 200);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        EventStream {
            body: response.bytes_stream().boxed(),
            buffer: String::new(),
        }
    }

    /// The next event (keep-alive comments skipped); panics after ten seconds without one.
    pub async fn next(&mut self) -> SseEvent {
        tokio::time::timeout(Duration::from_secs(10), self.read())
            .await
            .expect("an event within ten seconds")
    }

    /// Whether no event arrives within `wait`.
    pub async fn stays_quiet(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, self.read()).await.is_err()
    }

    async fn read(&mut self) -> SseEvent {
        loop {
            while let Some(end) = self.buffer.find("\n\n") {
                let block: String = self.buffer.drain(..end + 2).collect();
                if let Some(event) = parse(&block) {
                    return event;
                }
            }
            let chunk = self
                .body
                .next()
                .await
                .expect("the stream stays open")
                .expect("stream bytes");
            self.buffer
                .push_str(std::str::from_utf8(&chunk).expect("UTF-8"));
        }
    }
}

fn parse(block: &str) -> Option<SseEvent> {
    let (mut event, mut id, mut data) = (None, None, None);
    for line in block.lines() {
        match line.split_once(':') {
            Some(("event", value)) => event = Some(value.trim().to_owned()),
            Some(("id", value)) => id = Some(value.trim().parse().expect("numeric id")),
            Some(("data", value)) => {
                data = Some(serde_json::from_str(value.trim()).expect("JSON data"))
            }
            _ => {}
        }
    }
    Some(SseEvent {
        event: event.unwrap_or_else(|| "message".into()),
        id,
        data: data?,
    })
}

async fn etag_of(server: &Server, username: &str) -> Value {
    let (status, body) = server
        .get(
            Some(&server.admin),
            &format!("/api/v1/users.info?username={username}"),
        )
        .await;
    assert_eq!(status, 200);
    body["user"]["avatarETag"].clone()
}

#[tokio::test]
async fn set_and_reset_reach_every_subscriber_after_the_change_is_served() {
    let server = Server::start().await;
    let alice = server.create_user("alice").await;
    let mut admin_stream = EventStream::open(&server, &server.admin, None).await;
    let mut alice_stream = EventStream::open(&server, &alice, None).await;

    assert_eq!(server.upload(&alice, png(64, 64), "image/png").await.0, 200);
    let etag = etag_of(&server, "alice").await;
    assert!(etag.is_string());
    let mut ids = Vec::new();
    for stream in [&mut admin_stream, &mut alice_stream] {
        let event = stream.next().await;
        assert_eq!(event.event, "updateAvatar");
        assert_eq!(event.data, json!({"username": "alice", "etag": etag}));
        ids.push(event.id.expect("an id"));
        // Whoever hears of the change and asks at once gets the new avatar.
        let response = server.avatar("/avatar/alice").await;
        assert_eq!(
            response.headers()["etag"],
            format!("\"{}\"", etag.as_str().unwrap()).as_str()
        );
    }
    assert_eq!(ids[0], ids[1]);

    assert_eq!(server.reset_avatar(&alice, "alice").await, 200);
    for stream in [&mut admin_stream, &mut alice_stream] {
        let event = stream.next().await;
        assert_eq!(event.data, json!({"username": "alice", "etag": null}));
        assert!(event.id.unwrap() > ids[0]);
        let response = server.avatar("/avatar/alice").await;
        assert_eq!(response.headers()["content-type"], "image/svg+xml");
    }
    // Resetting an avatar that is already initials changes nothing, so says nothing.
    assert_eq!(server.reset_avatar(&alice, "alice").await, 200);
    assert!(alice_stream.stays_quiet(Duration::from_millis(500)).await);
}

#[tokio::test]
async fn a_subscriber_resumes_after_its_last_event_id() {
    let server = Server::start().await;
    let bob = server.create_user("bob").await;
    let carol = server.create_user("carol").await;
    let mut stream = EventStream::open(&server, &bob, None).await;
    assert_eq!(server.upload(&bob, png(50, 50), "image/png").await.0, 200);
    let seen = stream.next().await.id.unwrap();
    drop(stream);

    // While bob is away: carol changes twice, bob once.
    assert_eq!(server.upload(&carol, png(60, 60), "image/png").await.0, 200);
    let carol_first = etag_of(&server, "carol").await;
    assert_eq!(server.upload(&carol, png(70, 30), "image/png").await.0, 200);
    let carol_second = etag_of(&server, "carol").await;
    assert_ne!(carol_first, carol_second);
    assert_eq!(server.reset_avatar(&bob, "bob").await, 200);

    let mut resumed = EventStream::open(&server, &bob, Some(seen)).await;
    let missed: Vec<_> = [
        resumed.next().await,
        resumed.next().await,
        resumed.next().await,
    ]
    .into_iter()
    .map(|event| (event.id.unwrap(), event.data))
    .collect();
    assert_eq!(
        missed
            .iter()
            .map(|(_, data)| data.clone())
            .collect::<Vec<_>>(),
        [
            json!({"username": "carol", "etag": carol_first}),
            json!({"username": "carol", "etag": carol_second}),
            json!({"username": "bob", "etag": null}),
        ]
    );
    assert!(missed.windows(2).all(|pair| pair[0].0 < pair[1].0));
    assert!(missed[0].0 > seen);

    // Then live events, without repeating any.
    assert_eq!(server.upload(&carol, png(40, 40), "image/png").await.0, 200);
    let live = resumed.next().await;
    assert_eq!(live.data["username"], "carol");
    assert!(live.id.unwrap() > missed[2].0);
    assert_eq!(live.data["etag"], etag_of(&server, "carol").await);

    // Resuming from the newest id gives nothing old.
    let mut current = EventStream::open(&server, &bob, live.id).await;
    assert!(current.stays_quiet(Duration::from_millis(500)).await);
}

#[tokio::test]
async fn deleting_a_user_is_an_event() {
    let server = Server::start().await;
    let dave = server.create_user("dave").await;
    assert_eq!(server.upload(&dave, png(50, 50), "image/png").await.0, 200);
    let mut stream = EventStream::open(&server, &server.admin, None).await;
    let (status, body) = server
        .post(
            Some(&server.admin),
            "/api/v1/users.delete",
            json!({"userId": dave.user_id}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    let event = stream.next().await;
    assert_eq!(event.data, json!({"username": "dave", "etag": null}));
    let response = server.avatar("/avatar/dave").await;
    assert_eq!(response.headers()["content-type"], "image/svg+xml");
}

#[tokio::test]
async fn the_stream_needs_a_login_and_a_valid_last_event_id() {
    let server = Server::start().await;
    let (status, body) = server.get(None, "/api/v1/avatars.events").await;
    assert_eq!(status, 401);
    assert_eq!(body["status"], "error");

    let response = server
        .http
        .get(server.url("/api/v1/avatars.events"))
        .header("X-User-Id", &server.admin.user_id)
        .header("X-Auth-Token", &server.admin.token)
        .header("Last-Event-ID", "yesterday")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 400);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["success"], false);
}
