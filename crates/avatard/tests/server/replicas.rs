//! Two replicas on different ports sharing one PostgreSQL database and one S3 bucket prefix
//! (run by scripts/test.sh with AVATARD_TEST_SCALE_OUT=1). A write on one is visible on the other at
//! once; concurrent writes converge; a replica killed mid-stream comes back consistent.

use std::time::{Duration, Instant};

use crate::common::{Server, Session, decode, png};
use serde_json::{Value, json};

async fn pair() -> (Server, Server) {
    assert!(
        std::env::var("AVATARD_TEST_SCALE_OUT").is_ok(),
        "the replica tests need the scale-out test servers: run scripts/test.sh"
    );
    let a = Server::start().await;
    let b = Server::start_on(&a.storage, &[]).await;
    (a, b)
}

/// What a replica serves for a user, and the ETag it reports.
async fn view(server: &Server, session: &Session, username: &str) -> (String, Vec<u8>, Value) {
    let (content_type, bytes) = server.avatar_bytes(username).await;
    let (_, info) = server
        .get(
            Some(session),
            &format!("/api/v1/users.info?username={username}"),
        )
        .await;
    (content_type, bytes, info["user"]["avatarETag"].clone())
}

#[tokio::test]
async fn scale_out_two_replicas_see_each_others_writes_at_once() {
    let (a, b) = pair().await;
    let user_on_a = a.create_user("shared").await;
    // The token minted by A works on B: sessions live in the shared database.
    let (status, _) = b.get(Some(&user_on_a), "/api/v1/me").await;
    assert_eq!(status, 200);

    let uploads: [(&str, Vec<u8>); 5] = [
        ("image/png", png(300, 200)),
        ("image/jpeg", crate::common::jpeg(640, 480)),
        ("image/gif", crate::common::gif(90, 90)),
        ("image/webp", crate::common::webp(128, 256)),
        ("image/svg+xml", crate::common::SVG.as_bytes().to_vec()),
    ];
    for (mime, bytes) in uploads {
        assert_eq!(a.upload(&user_on_a, bytes, mime).await.0, 200, "{mime}");
        let on_a = view(&a, &user_on_a, "shared").await;
        let etag = on_a.2.as_str().expect("an ETag").to_owned();
        // A client that learnt the new version from A gets it from B at once, even before B's
        // change notification arrives; from then on B's unversioned URL serves it too.
        let versioned = b.avatar(&format!("/avatar/shared?etag={etag}")).await;
        assert_eq!(versioned.status(), 200, "{mime}");
        assert_eq!(versioned.bytes().await.unwrap().as_ref(), on_a.1.as_slice());
        let on_b = view(&b, &user_on_a, "shared").await;
        assert_eq!(on_a, on_b, "{mime}: B serves something else than A");
        for query in ["?size=64", "?format=png", ""] {
            let path = format!("/avatar/shared{query}");
            let from_a = a.avatar(&path).await.bytes().await.unwrap();
            let from_b = b.avatar(&path).await.bytes().await.unwrap();
            assert_eq!(from_a, from_b, "{mime} {query}");
        }
    }

    // Reset on B: A serves initials immediately.
    assert_eq!(b.reset_avatar(&user_on_a, "shared").await, 200);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        let response = a.avatar("/avatar/shared").await;
        if response.headers()["content-type"] == "image/svg+xml" {
            break;
        }
        assert!(Instant::now() < deadline, "A still serves the reset avatar");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(a.blob_keys().await.is_empty());
}

#[tokio::test]
async fn scale_out_avatar_events_reach_subscribers_of_every_replica() {
    let (a, b) = pair().await;
    let user = a.create_user("broadcast").await;
    let mut on_b = crate::events::EventStream::open(&b, &b.admin, None).await;
    // B learns the avatar before the change, so that it has something to forget.
    assert_eq!(
        b.avatar("/avatar/broadcast").await.headers()["content-type"],
        "image/svg+xml"
    );

    assert_eq!(a.upload(&user, png(90, 90), "image/png").await.0, 200);
    let event = on_b.next().await;
    assert_eq!(event.data["username"], "broadcast");
    let etag = event.data["etag"].as_str().expect("an etag").to_owned();
    // B forgot its cached view before telling subscribers: asking B at once gets the new avatar.
    let response = b.avatar("/avatar/broadcast").await;
    assert_eq!(response.headers()["etag"], format!("\"{etag}\"").as_str());

    assert_eq!(a.reset_avatar(&user, "broadcast").await, 200);
    let event = on_b.next().await;
    assert_eq!(event.data["etag"], Value::Null);
    let response = b.avatar("/avatar/broadcast").await;
    assert_eq!(response.headers()["content-type"], "image/svg+xml");

    // A subscriber of B resumes with an id B handed out, whichever replica made the change.
    let mut resumed =
        crate::events::EventStream::open(&b, &b.admin, event.id.map(|id| id - 1)).await;
    assert_eq!(resumed.next().await.id, event.id);
}

#[tokio::test]
async fn scale_out_two_replicas_share_settings_and_permissions_within_moments() {
    let (a, b) = pair().await;
    let user = a.create_user("locked").await;
    let started = Instant::now();
    a.set_setting("Accounts_AllowUserAvatarChange", json!(false))
        .await;
    let propagated = wait_until(|| async {
        b.upload(&user, png(20, 20), "image/png").await.1["errorType"] == "error-not-allowed"
    })
    .await;
    eprintln!(
        "setting visible on the other replica after {:?}",
        started.elapsed()
    );
    assert!(propagated, "B never applied A's setting change");
    // The settings every avatar request reads are kept apart from the others: they follow too.
    a.set_setting("Accounts_AvatarCacheTime", json!(77)).await;
    let propagated = wait_until(|| async {
        b.avatar("/avatar/locked").await.headers()["cache-control"] == "public, max-age=77"
    })
    .await;
    assert!(propagated, "B never applied A's cache time");

    let started = Instant::now();
    let (status, _) = a
        .post(
            Some(&a.admin),
            "/api/v1/permissions.update",
            json!({"permissions": [{"_id": "edit-other-user-avatar", "roles": ["admin", "user"]}]}),
        )
        .await;
    assert_eq!(status, 200);
    let propagated =
        wait_until(|| async { b.upload(&user, png(20, 20), "image/png").await.0 == 200 }).await;
    eprintln!(
        "permission visible on the other replica after {:?}",
        started.elapsed()
    );
    assert!(propagated, "B never applied A's permission change");
}

/// Poll for up to 3 s (a notification normally arrives within milliseconds).
async fn wait_until<F, Fut>(check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    wait_for(Duration::from_secs(3), check).await
}

async fn wait_for<F, Fut>(limit: Duration, mut check: F) -> bool
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while Instant::now() < deadline {
        if check().await {
            return true;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    false
}

#[tokio::test]
async fn scale_out_two_replicas_concurrent_writes_converge_on_one_avatar() {
    let (a, b) = pair().await;
    let user = a.create_user("contested").await;
    let rounds = 12;
    let started = Instant::now();
    let mut writes = Vec::new();
    for i in 0..rounds {
        for (n, server) in [&a, &b].into_iter().enumerate() {
            let user = &user;
            // Distinct pictures, so every write has its own content.
            let image = png(40 + i, 30 + n as u32);
            writes.push(async move { server.upload(user, image, "image/png").await.0 });
        }
    }
    let statuses = futures_util::future::join_all(writes).await;
    eprintln!(
        "{} concurrent writes on two replicas in {:?}",
        statuses.len(),
        started.elapsed()
    );
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");

    let on_a = view(&a, &user, "contested").await;
    let on_b = view(&b, &user, "contested").await;
    assert_eq!(on_a, on_b);
    // The committed ETag is the hash of the bytes served, and exactly one blob remains.
    let hash = avatard_domain::ids::sha256_hex(&on_a.1);
    assert_eq!(on_a.2, json!(hash[..32]));
    assert_eq!(
        a.blob_keys().await.len(),
        1,
        "replaced blobs were left behind"
    );
}

#[tokio::test]
async fn scale_out_two_replicas_a_replica_killed_mid_stream_recovers() {
    let (a, b) = pair().await;
    let mut users = Vec::new();
    for i in 0..4 {
        users.push(a.create_user(&format!("u{i}")).await);
    }
    let writer = {
        let users = users.clone();
        let base_b = b.base.clone();
        tokio::spawn(async move {
            let http = reqwest::Client::new();
            for round in 0..30u32 {
                for user in &users {
                    let part =
                        reqwest::multipart::Part::bytes(png(30 + round, 30)).file_name("a.png");
                    let _ = http
                        .post(format!("{base_b}/api/v1/users.setAvatar"))
                        .header("X-User-Id", &user.user_id)
                        .header("X-Auth-Token", &user.token)
                        .multipart(reqwest::multipart::Form::new().part("image", part))
                        .send()
                        .await;
                }
            }
        })
    };
    // Let some writes land on B, then kill A (SIGKILL) while B keeps writing, and bring it back.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let a = a.restart().await;
    writer.await.unwrap();

    let referenced: Vec<String> = futures_util::future::join_all(users.iter().map(|u| async {
        let (content_type, bytes, etag) = view(&a, u, &u.username).await;
        assert_eq!(content_type, "image/png");
        assert_eq!(
            view(&b, u, &u.username).await.1,
            bytes,
            "replicas disagree for {}",
            u.username
        );
        assert_eq!(decode(&bytes).width(), 200);
        etag.as_str().unwrap().to_owned()
    }))
    .await;
    assert_eq!(referenced.len(), users.len());
    assert_eq!(
        a.blob_keys().await.len(),
        users.len(),
        "blobs and records disagree"
    );
}

/// A TCP relay to the test PostgreSQL that a test can cut and restore: a real database outage as a
/// replica sees it (established connections die, new ones are refused).
struct Relay {
    address: std::net::SocketAddr,
    cut: tokio::sync::watch::Sender<bool>,
}

impl Relay {
    async fn to(target: String) -> Relay {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        let (cut, watch) = tokio::sync::watch::channel(false);
        tokio::spawn(async move {
            while let Ok((mut client, _)) = listener.accept().await {
                if *watch.borrow() {
                    continue; // dropped: refused
                }
                let (target, mut cut) = (target.clone(), watch.clone());
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                        return;
                    };
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.wait_for(|cut| *cut) => {}
                    }
                });
            }
        });
        Relay { address, cut }
    }

    fn set_cut(&self, cut: bool) {
        self.cut.send_replace(cut);
    }
}

/// `direct` with its database reached through a new relay.
async fn relayed(direct: &crate::common::Storage) -> (Relay, crate::common::Storage) {
    let url = url::Url::parse(&direct.database_url).unwrap();
    let relay = Relay::to(format!(
        "{}:{}",
        url.host_str().unwrap(),
        url.port().unwrap()
    ))
    .await;
    let mut through = url.clone();
    through.set_port(Some(relay.address.port())).unwrap();
    let storage = crate::common::Storage {
        database_url: through.to_string(),
        ..direct.clone()
    };
    (relay, storage)
}

// Multi-threaded: the relay must keep running while the harness waits (blocking) for the server.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_out_avatars_are_served_through_a_database_blip() {
    assert!(
        std::env::var("AVATARD_TEST_SCALE_OUT").is_ok(),
        "needs the scale-out test servers"
    );
    let direct = crate::common::Storage::fresh(std::path::Path::new("/nonexistent")).await;
    let (relay, storage) = relayed(&direct).await;
    let server = Server::start_on(
        &storage,
        &[("AVATARD_DATABASE_STATEMENT_TIMEOUT_MS", "1000")],
    )
    .await;
    let user = server.create_user("steady").await;
    assert_eq!(server.upload(&user, png(64, 64), "image/png").await.0, 200);
    let before = server.avatar_bytes("steady").await.1;

    relay.set_cut(true);
    let started = Instant::now();
    let (content_type, during) = server.avatar_bytes("steady").await;
    eprintln!(
        "avatar served from memory during the outage in {:?}",
        started.elapsed()
    );
    assert_eq!((content_type.as_str(), &during), ("image/png", &before));
    let (status, ready) = server.get(None, "/ready").await;
    assert_eq!(status, 503, "{ready}");
    assert!(
        ready["database"]
            .as_str()
            .unwrap()
            .starts_with("unreachable")
    );
    // A name never served before cannot be answered from memory: 503, not an error page.
    assert_eq!(server.avatar("/avatar/never-seen").await.status(), 503);
    let (status, body) = server.get(Some(&user), "/api/v1/me").await;
    assert_eq!(
        (status.as_u16(), &body["error"]),
        (503, &json!("Service temporarily unavailable"))
    );

    relay.set_cut(false);
    let recovered = wait_until(|| async { server.get(None, "/ready").await.0 == 200 }).await;
    assert!(
        recovered,
        "the replica did not recover after the database came back"
    );
    assert_eq!(
        server
            .upload(&user, crate::common::jpeg(50, 50), "image/jpeg")
            .await
            .0,
        200
    );
    assert_eq!(server.avatar_bytes("steady").await.0, "image/jpeg");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scale_out_a_replica_that_missed_notifications_catches_up_on_reconnect() {
    let (a, _) = pair().await;
    let (relay, storage) = relayed(&a.storage).await;
    // Periodic reloads far away: only the reload on reconnect can explain B catching up.
    let b = Server::start_on(&storage, &[("AVATARD_CACHE_REFRESH_SECS", "600")]).await;
    let user = a.create_user("late").await;
    assert_eq!(b.upload(&user, png(20, 20), "image/png").await.0, 200);

    relay.set_cut(true);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // B's notification connection is down: it cannot hear this.
    a.set_setting("Accounts_AllowUserAvatarChange", json!(false))
        .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let started = Instant::now();
    relay.set_cut(false);
    let caught_up = wait_for(Duration::from_secs(20), || async {
        b.upload(&user, png(20, 20), "image/png").await.1["errorType"] == "error-not-allowed"
    })
    .await;
    eprintln!(
        "replica caught up {:?} after the database came back",
        started.elapsed()
    );
    assert!(caught_up, "B kept the setting it had before the outage");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn scale_out_replicas_starting_together_migrate_and_bootstrap_once() {
    assert!(
        std::env::var("AVATARD_TEST_SCALE_OUT").is_ok(),
        "needs the scale-out test servers"
    );
    let storage = crate::common::Storage::fresh(std::path::Path::new("/nonexistent")).await;
    // Three processes on one empty database at the same moment (each task blocks its own thread
    // while its server starts).
    let starting: Vec<_> = (0..3)
        .map(|_| {
            let storage = storage.clone();
            tokio::spawn(async move { Server::start_on(&storage, &[]).await })
        })
        .collect();
    let servers: Vec<Server> = futures_util::future::join_all(starting)
        .await
        .into_iter()
        .map(|started| started.expect("a replica failed to start"))
        .collect();
    for server in &servers {
        assert_eq!(server.get(None, "/ready").await.0, 200);
        assert_eq!(
            server.admin.user_id, servers[0].admin.user_id,
            "two admins were created"
        );
    }
    sqlx::any::install_default_drivers();
    let mut db = <sqlx::AnyConnection as sqlx::Connection>::connect(&storage.database_url)
        .await
        .unwrap();
    let applied: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM _sqlx_migrations")
        .fetch_one(&mut db)
        .await
        .unwrap();
    let migrations = std::fs::read_dir(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../avatard-storage/migrations/postgres"
    ))
    .unwrap()
    .count();
    assert_eq!(
        applied as usize, migrations,
        "each migration applied exactly once"
    );
    let admins: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM users WHERE username_key = 'admin'")
        .fetch_one(&mut db)
        .await
        .unwrap();
    assert_eq!(admins, 1);
}
