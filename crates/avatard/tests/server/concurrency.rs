//! Many clients at once: setting, resetting and reading the same and different users' avatars
//! concurrently. No request fails or gets a 5xx, nothing hangs, every read shows an image written
//! for that user (or initials), and one the user could have had while the read ran: not one a
//! write acknowledged before the read began had already replaced. Afterwards each user shows the
//! write the server committed last (the last event of the avatar event log), with no blob left
//! behind.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures_util::StreamExt as _;
use image::GenericImageView as _;
use serde_json::Value;

use crate::common::{Rng, Server, Session, tag_of, tagged_png, test_seed};

const TASKS: usize = 32;
const OPS_PER_TASK: usize = 16;
const USERS: usize = 3;
/// The whole storm must end within this: a deadlock shows up as a timeout, not a hung suite.
const DEADLINE: Duration = Duration::from_secs(120);

#[derive(Default)]
struct Counts {
    uploads_own: AtomicUsize,
    uploads_by_admin: AtomicUsize,
    resets_own: AtomicUsize,
    resets_by_admin: AtomicUsize,
    avatar_reads: AtomicUsize,
    rendition_reads: AtomicUsize,
    initials_seen: AtomicUsize,
    info_reads: AtomicUsize,
    /// The slowest request: milliseconds and what it was.
    slowest: Mutex<(u128, &'static str)>,
}

impl Counts {
    fn total(&self) -> usize {
        [
            &self.uploads_own,
            &self.uploads_by_admin,
            &self.resets_own,
            &self.resets_by_admin,
            &self.avatar_reads,
            &self.rendition_reads,
            &self.info_reads,
        ]
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum()
    }
}

/// What every task shares: the server, who is who, and which user each image was written for.
struct Shared {
    server: Server,
    users: Vec<Session>,
    /// Image tag → the user it was uploaded for, recorded before the upload is sent.
    written_for: Mutex<HashMap<u32, usize>>,
    /// Uploads answered 200, per user.
    committed: Vec<AtomicUsize>,
    /// Every write per user, as the clients saw it: when it was sent and when it was answered.
    writes: Vec<Mutex<Vec<Write>>>,
    /// Before the first write: when every user showed initials.
    began: Instant,
    next_tag: AtomicUsize,
    counts: Counts,
}

/// A write as its client saw it; the server committed it somewhere between `sent` and `answered`.
struct Write {
    /// The image uploaded; `None` for a reset.
    tag: Option<u32>,
    sent: Instant,
    /// `None` while in flight.
    answered: Option<Instant>,
}

impl Shared {
    fn write_sent(&self, user: usize, tag: Option<u32>) -> usize {
        let mut writes = self.writes[user].lock().unwrap();
        writes.push(Write {
            tag,
            sent: Instant::now(),
            answered: None,
        });
        writes.len() - 1
    }

    fn write_answered(&self, user: usize, index: usize) {
        self.writes[user].lock().unwrap()[index].answered = Some(Instant::now());
    }

    /// Whether a read of `user` sent at `sent` and answered at `answered` may show `shown` (an
    /// image tag, or `None` for initials): some write producing it was sent before the read was
    /// answered, and no other write was both sent after it was answered and answered before the
    /// read was sent (that one certainly replaced it before the read began). Initials are also
    /// what every user showed before the first write.
    fn explains(&self, user: usize, shown: Option<u32>, sent: Instant, answered: Instant) -> bool {
        let writes = self.writes[user].lock().unwrap();
        let replaced_before_read = |done: Option<Instant>| {
            done.is_some_and(|done| {
                writes
                    .iter()
                    .any(|w| w.sent > done && w.answered.is_some_and(|a| a < sent))
            })
        };
        let by_a_write = writes
            .iter()
            .any(|w| w.tag == shown && w.sent < answered && !replaced_before_read(w.answered));
        by_a_write || (shown.is_none() && !replaced_before_read(Some(self.began)))
    }

    fn describe_writes(&self, user: usize) -> String {
        let writes = self.writes[user].lock().unwrap();
        let ms = |at: Instant| at.duration_since(self.began).as_millis();
        writes
            .iter()
            .map(|w| {
                let what = w
                    .tag
                    .map_or("reset".to_owned(), |tag| format!("image {tag}"));
                let answered = w
                    .answered
                    .map_or("in flight".to_owned(), |a| format!("{} ms", ms(a)));
                format!("{what}: {} ms → {answered}", ms(w.sent))
            })
            .collect::<Vec<_>>()
            .join("; ")
    }
}

fn ok(what: &str, status: reqwest::StatusCode, body: &Value) {
    assert!(
        !status.is_server_error(),
        "{what}: a server error, {status}: {body}"
    );
    assert_eq!(status, 200, "{what}: {body}");
}

/// A read of `/avatar/<user>` (full size, or a 64-pixel rendition): a valid image written for that
/// user, or their initials.
async fn read_avatar(shared: &Shared, user: usize, rendition: bool) {
    let name = &shared.users[user].username;
    let path = if rendition {
        format!("/avatar/{name}?size=64")
    } else {
        format!("/avatar/{name}")
    };
    let sent = Instant::now();
    let response = shared.server.avatar(&path).await;
    let status = response.status();
    let headers = response.headers().clone();
    let body = response.bytes().await.expect("avatar bytes");
    let answered = Instant::now();
    ok(&path, status, &Value::Null);
    let plausible = |shown: Option<u32>| {
        assert!(
            shared.explains(user, shown, sent, answered),
            "{path} sent at {} ms, answered at {} ms, showed {}, which {name} did not have then \
             (the server logged {} \"avatar record names a missing blob\"); their writes: {}",
            sent.duration_since(shared.began).as_millis(),
            answered.duration_since(shared.began).as_millis(),
            shown.map_or("initials".to_owned(), |tag| format!("image {tag}")),
            shared.server.log().matches("names a missing blob").count(),
            shared.describe_writes(user)
        );
    };
    let etag = headers["etag"].to_str().unwrap().to_owned();
    if headers["content-type"] == "image/svg+xml" {
        assert!(body.starts_with(b"<svg"), "{path}: broken initials");
        assert!(
            etag.starts_with("\"i-"),
            "{path}: initials with ETag {etag}"
        );
        plausible(None);
        shared.counts.initials_seen.fetch_add(1, Ordering::SeqCst);
        return;
    }
    assert_eq!(headers["content-type"], "image/png", "{path}");
    let tag = tag_of(&body)
        .unwrap_or_else(|| panic!("{path}: served something that is not one uploaded image"));
    let owner = shared.written_for.lock().unwrap().get(&tag).copied();
    assert_eq!(
        owner,
        Some(user),
        "{path} shows image {tag}, which was uploaded for {owner:?}"
    );
    plausible(Some(tag));
    if rendition {
        assert_eq!(
            image::load_from_memory(&body).unwrap().dimensions(),
            (64, 64)
        );
        assert!(etag.ends_with("-64\""), "{path}: rendition ETag {etag}");
    } else {
        let hash = avatard_domain::ids::sha256_hex(&body);
        assert_eq!(etag, format!("\"{}\"", &hash[..32]), "{path}");
    }
}

async fn client(shared: Arc<Shared>, seed: u64) {
    let mut rng = Rng(seed);
    let server = &shared.server;
    let counts = &shared.counts;
    for _ in 0..OPS_PER_TASK {
        let user = rng.range(0, USERS as u64) as usize;
        let session = &shared.users[user];
        // The user acts on their own avatar, or the admin on theirs.
        let by_admin = rng.percent(30);
        let caller = if by_admin { &server.admin } else { session };
        let started = Instant::now();
        let kind = match rng.range(0, 100) {
            0..=34 => {
                let tag = shared.next_tag.fetch_add(1, Ordering::SeqCst) as u32;
                assert!(tag < 4096, "out of image tags");
                shared.written_for.lock().unwrap().insert(tag, user);
                let mut side = || rng.range(16, 600) as u32;
                let png = tagged_png(tag, side(), side(), 0);
                let fields: &[(&str, &str)] = if by_admin {
                    &[("username", &session.username)]
                } else {
                    &[]
                };
                let write = shared.write_sent(user, Some(tag));
                let (status, body) = server
                    .upload_as(caller, "image", png, "avatar.png", "image/png", fields)
                    .await;
                ok(&format!("upload for {}", session.username), status, &body);
                shared.write_answered(user, write);
                shared.committed[user].fetch_add(1, Ordering::SeqCst);
                let count = if by_admin {
                    &counts.uploads_by_admin
                } else {
                    &counts.uploads_own
                };
                count.fetch_add(1, Ordering::SeqCst);
                "upload"
            }
            35..=49 => {
                let write = shared.write_sent(user, None);
                let status = server.reset_avatar(caller, &session.username).await;
                ok(
                    &format!("reset of {}", session.username),
                    status,
                    &Value::Null,
                );
                shared.write_answered(user, write);
                let count = if by_admin {
                    &counts.resets_by_admin
                } else {
                    &counts.resets_own
                };
                count.fetch_add(1, Ordering::SeqCst);
                "reset"
            }
            50..=84 => {
                let rendition = rng.percent(25);
                read_avatar(&shared, user, rendition).await;
                let count = if rendition {
                    &counts.rendition_reads
                } else {
                    &counts.avatar_reads
                };
                count.fetch_add(1, Ordering::SeqCst);
                "avatar read"
            }
            _ => {
                let path = format!("/api/v1/users.info?username={}", session.username);
                let (status, info) = server.get(Some(caller), &path).await;
                ok(&path, status, &info);
                let etag = &info["user"]["avatarETag"];
                assert!(
                    etag.is_null()
                        || etag.as_str().is_some_and(|e| {
                            e.len() == 32 && e.bytes().all(|b| b.is_ascii_hexdigit())
                        }),
                    "{path}: avatarETag {etag}"
                );
                counts.info_reads.fetch_add(1, Ordering::SeqCst);
                "users.info"
            }
        };
        let took = started.elapsed().as_millis();
        let mut slowest = counts.slowest.lock().unwrap();
        if took > slowest.0 {
            *slowest = (took, kind);
        }
    }
}

/// Every avatar event in the log, in order, replayed through `avatars.events`: it ends once as many
/// set-events as uploads were answered 200 have arrived and the stream has gone quiet.
async fn event_log(shared: &Shared, uploads: usize) -> Vec<(String, Option<String>)> {
    let response = shared
        .server
        .http
        .get(shared.server.url("/api/v1/avatars.events"))
        .header("X-User-Id", &shared.server.admin.user_id)
        .header("X-Auth-Token", &shared.server.admin.token)
        .header("Last-Event-ID", "0")
        .send()
        .await
        .expect("subscribe");
    assert_eq!(response.status(), 200);
    let mut body = response.bytes_stream();
    let (mut buffer, mut events, mut sets) = (String::new(), Vec::new(), 0);
    let mut last_id = 0i64;
    loop {
        while let Some(end) = buffer.find("\n\n") {
            let block: String = buffer.drain(..end + 2).collect();
            let (mut id, mut data) = (None, None);
            for line in block.lines() {
                match line.split_once(':') {
                    Some(("id", value)) => id = value.trim().parse::<i64>().ok(),
                    Some(("data", value)) => data = serde_json::from_str::<Value>(value).ok(),
                    _ => {}
                }
            }
            let (Some(id), Some(data)) = (id, data) else {
                continue;
            };
            assert!(id > last_id, "events out of order: {id} after {last_id}");
            last_id = id;
            let etag = data["etag"].as_str().map(str::to_owned);
            sets += usize::from(etag.is_some());
            events.push((data["username"].as_str().unwrap().to_owned(), etag));
        }
        let quiet = if sets >= uploads {
            Duration::from_millis(500)
        } else {
            Duration::from_secs(10)
        };
        match tokio::time::timeout(quiet, body.next()).await {
            Ok(Some(chunk)) => buffer.push_str(std::str::from_utf8(&chunk.unwrap()).unwrap()),
            Ok(None) => panic!("the event stream ended"),
            Err(_) if sets >= uploads => return events,
            Err(_) => panic!("only {sets} set-events for {uploads} committed uploads"),
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_on_the_same_and_different_users_stay_consistent() {
    storm(Server::start().await, "concurrency test").await;
}

/// The same with the audit trail keeping no previous avatars: a replaced avatar's blob is deleted
/// right after the commit that replaced it, while readers may still be on their way to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_clients_stay_consistent_when_replaced_blobs_are_deleted_at_once() {
    let server = Server::start().await;
    // Without an audit trail (older schemas), replaced blobs are always deleted at once.
    server
        .post(
            Some(&server.admin),
            "/api/v1/settings/Avatar_History_Kept_Avatars",
            serde_json::json!({"value": 0}),
        )
        .await;
    storm(server, "concurrency test, no kept avatars").await;
}

async fn storm(server: Server, label: &str) {
    let seed = test_seed();
    eprintln!("{label}: seed {seed} (AVATARD_TEST_SEED={seed} replays the choices)");
    let mut users = Vec::new();
    for i in 0..USERS {
        users.push(server.create_user(&format!("busy{i}")).await);
    }
    let shared = Arc::new(Shared {
        server,
        users,
        written_for: Mutex::new(HashMap::new()),
        committed: (0..USERS).map(|_| AtomicUsize::new(0)).collect(),
        writes: (0..USERS).map(|_| Mutex::new(Vec::new())).collect(),
        began: Instant::now(),
        next_tag: AtomicUsize::new(1),
        counts: Counts::default(),
    });

    let started = Instant::now();
    let tasks: Vec<_> = (0..TASKS)
        .map(|i| tokio::spawn(client(shared.clone(), seed.wrapping_add(i as u64))))
        .collect();
    let finished = tokio::time::timeout(DEADLINE, futures_util::future::join_all(tasks))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the clients did not finish within {DEADLINE:?}: a deadlock? see {}",
                shared.server.log()
            )
        });
    for result in finished {
        if let Err(err) = result {
            std::panic::resume_unwind(err.into_panic());
        }
    }
    let storm = started.elapsed();

    let uploads: usize = shared
        .committed
        .iter()
        .map(|c| c.load(Ordering::SeqCst))
        .sum();
    let events = event_log(&shared, uploads).await;
    let server = &shared.server;
    let mut with_avatar = 0;
    for (i, user) in shared.users.iter().enumerate() {
        let mine: Vec<&Option<String>> = events
            .iter()
            .filter(|(name, _)| *name == user.username)
            .map(|(_, etag)| etag)
            .collect();
        // One event per committed upload: none lost, none doubled.
        assert_eq!(
            mine.iter().filter(|e| e.is_some()).count(),
            shared.committed[i].load(Ordering::SeqCst),
            "{}: set-events and committed uploads differ",
            user.username
        );
        // What the user shows, from every side, is what the last committed change made it.
        let shown = server.shown_avatar(&user.username).await;
        let last = mine.last().and_then(|etag| etag.as_ref());
        assert_eq!(
            shown.etag.as_ref(),
            last,
            "{}: shows {:?}, but the last committed change made it {last:?}",
            user.username,
            shown.etag
        );
        if shown.etag.is_some() {
            with_avatar += 1;
            let tag = tag_of(&shown.bytes).expect("one uploaded image");
            assert_eq!(
                shared.written_for.lock().unwrap().get(&tag),
                Some(&i),
                "{} ends with another user's image",
                user.username
            );
        }
    }
    // Every replaced blob was removed, unless the audit trail keeps it for restoring; every
    // avatar's blob is there.
    let references = server.blob_references().await;
    assert_eq!(references.current.len(), with_avatar);
    let keys: HashSet<String> = server.blob_keys().await.into_iter().collect();
    for (key, _) in references.current.values() {
        assert!(keys.contains(key), "an avatar names the missing blob {key}");
    }
    // A rendition (`<key>.<suffix>`) belongs to the avatar whose key it extends.
    let leaked: Vec<&String> = keys
        .iter()
        .filter(|key| {
            let avatar = key
                .split_once('.')
                .map_or(key.as_str(), |(avatar, _)| avatar);
            !references.history.contains(avatar)
                && !references
                    .current
                    .values()
                    .any(|(current, _)| current == avatar)
        })
        .collect();
    assert!(leaked.is_empty(), "blobs were left behind: {leaked:?}");

    // Afterwards, one write per user, one at a time: each is what the user then shows.
    for (i, user) in shared.users.iter().enumerate() {
        let tag = 4000 + i as u32;
        let (status, body) = server
            .upload(user, tagged_png(tag, 90, 90, 0), "image/png")
            .await;
        ok("final upload", status, &body);
        assert_eq!(
            tag_of(&server.shown_avatar(&user.username).await.bytes),
            Some(tag)
        );
    }
    assert_eq!(server.blob_references().await.current.len(), USERS);

    let counts = &shared.counts;
    let load = |c: &AtomicUsize| c.load(Ordering::SeqCst);
    let by_user: BTreeMap<&str, usize> = shared
        .users
        .iter()
        .zip(&shared.committed)
        .map(|(u, c)| (u.username.as_str(), load(c)))
        .collect();
    let log = server.log();
    let missing = log.matches("names a missing blob").count();
    if missing > 0 {
        // Not a failure by itself (a read that raced a reset may show initials), but worth seeing.
        eprintln!("{label}: the server's warnings and errors:");
        for line in log
            .lines()
            .filter(|l| l.contains("WARN") || l.contains("ERROR"))
        {
            eprintln!("  {line}");
        }
    }
    let slowest = *counts.slowest.lock().unwrap();
    eprintln!(
        "{label}: {} operations by {TASKS} clients on {USERS} users in {storm:?} \
         (slowest: {} ms, {}): uploads {} own + {} by the admin (committed per user {by_user:?}), \
         resets {} own + {} by the admin, avatar reads {} full + {} at ?size=64 ({} showed \
         initials), users.info {}; {} avatar events replayed; no 5xx; {} \"missing blob\" errors \
         logged",
        counts.total(),
        slowest.0,
        slowest.1,
        load(&counts.uploads_own),
        load(&counts.uploads_by_admin),
        load(&counts.resets_own),
        load(&counts.resets_by_admin),
        load(&counts.avatar_reads),
        load(&counts.rendition_reads),
        load(&counts.initials_seen),
        load(&counts.info_reads),
        events.len(),
        missing,
    );
}

/// A reader that found the old avatar record just before a new upload committed must still be
/// served an image: the old one (it was current when the read began) or the new one, never the
/// initials of a user who has an avatar the whole time. Readers hammer one user while four
/// writers replace the avatar; the audit trail keeps no previous avatars (replaced blobs are
/// deleted at once) and no encoded bytes are cached (every read goes to the blob store), which
/// widens the window the race needs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_racing_a_replacement_never_gets_initials() {
    let server = Arc::new(Server::start_with(&[("AVATARD_AVATAR_CACHE_BYTES", "0")]).await);
    server
        .post(
            Some(&server.admin),
            "/api/v1/settings/Avatar_History_Kept_Avatars",
            serde_json::json!({"value": 0}),
        )
        .await;
    let user = server.create_user("contested").await;
    let (status, body) = server
        .upload(&user, tagged_png(1, 50, 50, 0), "image/png")
        .await;
    ok("first upload", status, &body);
    let stop = Arc::new(std::sync::atomic::AtomicBool::new(false));
    let readers: Vec<_> = (0..8)
        .map(|_| {
            let (server, stop) = (server.clone(), stop.clone());
            tokio::spawn(async move {
                let (mut reads, mut initials) = (0, 0);
                while !stop.load(Ordering::SeqCst) {
                    let response = server.avatar("/avatar/contested").await;
                    ok("read", response.status(), &Value::Null);
                    initials += usize::from(response.headers()["content-type"] == "image/svg+xml");
                    response.bytes().await.expect("avatar bytes");
                    reads += 1;
                }
                (reads, initials)
            })
        })
        .collect();
    let writers: Vec<_> = (0..4u32)
        .map(|writer| {
            let (server, user) = (server.clone(), user.clone());
            tokio::spawn(async move {
                for i in 0..50 {
                    let png = tagged_png(2 + writer * 50 + i, 50, 50, 0);
                    let (status, body) = server.upload(&user, png, "image/png").await;
                    ok("upload", status, &body);
                }
            })
        })
        .collect();
    for writer in writers {
        writer.await.unwrap();
    }
    stop.store(true, Ordering::SeqCst);
    let (mut reads, mut initials) = (0, 0);
    for reader in readers {
        let (r, i) = reader.await.unwrap();
        (reads, initials) = (reads + r, initials + i);
    }
    let missing = server.log().matches("names a missing blob").count();
    eprintln!(
        "{reads} reads during 200 replacements: {initials} served initials; {missing} missing-blob errors logged"
    );
    assert_eq!(
        initials, 0,
        "initials served for a user who always had an avatar"
    );
}
