//! The outgoing webhook (`Avatar_Webhook_Url`): each avatar event POSTed to a real local receiver,
//! signed with `Avatar_Webhook_Secret`, retried when the receiver fails, and only to addresses the
//! SSRF rules allow.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use hmac::{KeyInit as _, Mac as _};
use serde_json::{Value, json};
use tokio::sync::mpsc;

use crate::common::{Server, png};

const SECRET: &str = "purge-hook-secret";

#[derive(Debug)]
struct Delivery {
    headers: HeaderMap,
    body: String,
}

/// Where the receiver reports deliveries, and the statuses it still has to answer with.
type ReceiverState = (mpsc::UnboundedSender<Delivery>, Arc<Mutex<Vec<u16>>>);

/// A receiver that records every delivery and answers each with the next of `answers` (then 200).
struct Receiver {
    url: String,
    deliveries: mpsc::UnboundedReceiver<Delivery>,
}

impl Receiver {
    async fn start(answers: &[u16]) -> Receiver {
        let (sender, deliveries) = mpsc::unbounded_channel();
        let answers = Arc::new(Mutex::new(answers.to_vec()));
        let app = Router::new()
            .route(
                "/hook",
                post(
                    |State((sender, answers)): State<ReceiverState>,
                     headers: HeaderMap,
                     body: String| async move {
                        sender.send(Delivery { headers, body }).unwrap();
                        let mut answers = answers.lock().unwrap();
                        let status = if answers.is_empty() {
                            200
                        } else {
                            answers.remove(0)
                        };
                        StatusCode::from_u16(status).unwrap()
                    },
                ),
            )
            .with_state((sender, answers));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            url: format!("http://{address}/hook"),
            deliveries,
        }
    }

    async fn next(&mut self, within: Duration) -> Option<Delivery> {
        tokio::time::timeout(within, self.deliveries.recv())
            .await
            .ok()
            .flatten()
    }
}

fn header<'a>(delivery: &'a Delivery, name: &str) -> &'a str {
    delivery.headers[name].to_str().unwrap()
}

/// Checks the signature the way a receiver would, independently of avatard's code.
fn signature_is_valid(delivery: &Delivery, secret: &str) -> bool {
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).unwrap();
    mac.update(
        format!(
            "{}.{}",
            header(delivery, "x-avatard-timestamp"),
            delivery.body
        )
        .as_bytes(),
    );
    let expected = format!("sha256={}", hex::encode(mac.finalize().into_bytes()));
    header(delivery, "x-avatard-signature") == expected
}

async fn configure(server: &Server, url: &str, secret: &str) {
    server
        .set_setting("SSRF_Allowlist", json!("127.0.0.1"))
        .await;
    server
        .set_setting("Avatar_Webhook_Secret", json!(secret))
        .await;
    server.set_setting("Avatar_Webhook_Url", json!(url)).await;
}

#[tokio::test]
async fn each_change_is_delivered_signed_and_in_order() {
    let mut receiver = Receiver::start(&[]).await;
    let server = Server::start().await;
    let erin = server.create_user("erin").await;
    // Changes made before the hook was configured are not replayed: the first delivery (they go
    // out in order) is of the change made after.
    assert_eq!(server.upload(&erin, png(30, 30), "image/png").await.0, 200);
    // The hook's task wakes on that change and moves its cursor past it within milliseconds.
    tokio::time::sleep(Duration::from_secs(1)).await;
    configure(&server, &receiver.url, SECRET).await;

    assert_eq!(server.upload(&erin, png(50, 50), "image/png").await.0, 200);
    let (_, info) = server
        .get(Some(&server.admin), "/api/v1/users.info?username=erin")
        .await;
    let set = receiver
        .next(Duration::from_secs(10))
        .await
        .expect("a delivery");
    assert_eq!(server.reset_avatar(&erin, "erin").await, 200);
    let reset = receiver
        .next(Duration::from_secs(10))
        .await
        .expect("a delivery");

    let set_body: Value = serde_json::from_str(&set.body).unwrap();
    assert_eq!(set_body["event"], "updateAvatar");
    assert_eq!(set_body["username"], "erin");
    assert_eq!(set_body["userId"], erin.user_id.as_str());
    assert_eq!(set_body["etag"], info["user"]["avatarETag"]);
    assert_eq!(header(&set, "content-type"), "application/json");
    assert_eq!(
        header(&set, "x-avatard-event-id"),
        set_body["id"].to_string()
    );
    let sent_at: i64 = header(&set, "x-avatard-timestamp").parse().unwrap();
    assert!((chrono::Utc::now().timestamp() - sent_at).abs() < 60);
    assert!(signature_is_valid(&set, SECRET));
    assert!(!signature_is_valid(&set, "another-secret"));

    let reset_body: Value = serde_json::from_str(&reset.body).unwrap();
    assert_eq!(reset_body["etag"], Value::Null);
    assert!(reset_body["id"].as_i64() > set_body["id"].as_i64());
    assert!(signature_is_valid(&reset, SECRET));
}

#[tokio::test]
async fn a_failing_receiver_gets_the_event_again_and_the_next_one_after() {
    // The first two attempts fail (a crash, then overload); the third is accepted.
    let mut receiver = Receiver::start(&[500, 503]).await;
    let server = Server::start().await;
    let frank = server.create_user("frank").await;
    configure(&server, &receiver.url, SECRET).await;
    assert_eq!(server.upload(&frank, png(50, 50), "image/png").await.0, 200);
    assert_eq!(server.upload(&frank, png(60, 60), "image/png").await.0, 200);

    let mut ids = Vec::new();
    for _ in 0..4 {
        let delivery = receiver
            .next(Duration::from_secs(15))
            .await
            .expect("a delivery");
        ids.push(header(&delivery, "x-avatard-event-id").to_owned());
    }
    assert_eq!(ids[0], ids[1]);
    assert_eq!(ids[1], ids[2]);
    assert_ne!(ids[2], ids[3]);
    assert!(receiver.next(Duration::from_secs(2)).await.is_none());
}

#[tokio::test]
async fn a_refusal_is_not_retried_and_deliveries_go_unsigned_without_a_secret() {
    let mut receiver = Receiver::start(&[400]).await;
    let server = Server::start().await;
    let gina = server.create_user("gina").await;
    configure(&server, &receiver.url, "").await;
    assert_eq!(server.upload(&gina, png(50, 50), "image/png").await.0, 200);
    assert_eq!(server.upload(&gina, png(40, 40), "image/png").await.0, 200);
    let refused = receiver
        .next(Duration::from_secs(10))
        .await
        .expect("a delivery");
    let next = receiver
        .next(Duration::from_secs(10))
        .await
        .expect("a delivery");
    assert_ne!(
        header(&refused, "x-avatard-event-id"),
        header(&next, "x-avatard-event-id")
    );
    assert!(next.headers.get("x-avatard-signature").is_none());
}

#[tokio::test]
async fn a_hook_on_a_private_address_needs_the_allowlist() {
    let mut receiver = Receiver::start(&[]).await;
    let server = Server::start().await;
    let hank = server.create_user("hank").await;
    server
        .set_setting("Avatar_Webhook_Url", json!(receiver.url))
        .await;
    assert_eq!(server.upload(&hank, png(50, 50), "image/png").await.0, 200);
    // Refused before connecting, on every attempt.
    assert!(receiver.next(Duration::from_secs(10)).await.is_none());
}
