//! The test harness: runs the real `avatard` binary on an ephemeral port with its own data folder,
//! and talks to it over real HTTP. Images are generated here, never checked in.

use std::io::{BufRead as _, BufReader, Cursor};
use std::path::Path;
use std::process::{Child, Command, Stdio};

use reqwest::StatusCode;
use serde_json::{Value, json};
use tempfile::TempDir;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASS: &str = "admin-pass";
pub const PASSWORD: &str = "s3cret-pass";

/// Where a test server keeps its data: its own SQLite file and folder, or, with
/// `AVATARD_TEST_SCALE_OUT=1`, its own database on the test PostgreSQL and its own prefix in the
/// test S3 bucket (scripts/services.sh starts both).
#[derive(Clone, Debug)]
pub struct Storage {
    pub database_url: String,
    pub storage_url: String,
}

impl Storage {
    /// SQLite and files under `dir`.
    pub fn embedded(dir: &Path) -> Storage {
        Storage {
            database_url: format!("sqlite://{}?mode=rwc", dir.join("avatard.db").display()),
            storage_url: format!("file://{}", dir.join("blobs").display()),
        }
    }

    /// The configuration under test: embedded, or scale-out with AVATARD_TEST_SCALE_OUT=1.
    pub async fn fresh(dir: &Path) -> Storage {
        if std::env::var("AVATARD_TEST_SCALE_OUT").is_err() {
            return Storage::embedded(dir);
        }
        let admin_url =
            std::env::var("AVATARD_TEST_POSTGRES_URL").expect("AVATARD_TEST_POSTGRES_URL");
        let bucket = std::env::var("AVATARD_TEST_S3_URL").expect("AVATARD_TEST_S3_URL");
        let database_url = avatard_storage::create_postgres_database(&admin_url, "avatard")
            .await
            .expect("create a test database");
        let name = database_url
            .rsplit('/')
            .next()
            .unwrap_or_default()
            .to_owned();
        Storage {
            storage_url: format!("{bucket}/{name}"),
            database_url,
        }
    }

    pub fn is_embedded(&self) -> bool {
        self.database_url.starts_with("sqlite:")
    }
}

pub struct Server {
    child: Child,
    pub base: String,
    pub dir: TempDir,
    pub storage: Storage,
    pub http: reqwest::Client,
    pub admin: Session,
}

#[derive(Clone, Debug)]
pub struct Session {
    pub user_id: String,
    pub token: String,
    pub username: String,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn spawn(dir: &Path, storage: &Storage, envs: &[(&str, &str)]) -> (Child, String) {
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.join("server.log"))
        .expect("server log");
    let mut child = Command::new(env!("CARGO_BIN_EXE_avatard"))
        .args(["serve", "--listen", "127.0.0.1:0", "--data-dir"])
        .arg(dir.join("data"))
        .args([
            "--database-url",
            &storage.database_url,
            "--storage-url",
            &storage.storage_url,
        ])
        .env("ADMIN_USERNAME", ADMIN)
        .env("ADMIN_PASS", ADMIN_PASS)
        .env("ADMIN_EMAIL", "admin@example.com")
        .env("RUST_LOG", "warn")
        // Rocket.Chat's test mode: no API rate limits (rate_limits.rs turns it off again).
        .env("TEST_MODE", "true")
        .envs(envs.iter().copied())
        .stdout(Stdio::piped())
        .stderr(log)
        .spawn()
        .expect("spawn avatard");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout"))
        .read_line(&mut line)
        .expect("read the listening line");
    let base = line
        .trim()
        .strip_prefix("avatard listening on ")
        .unwrap_or_else(|| {
            panic!(
                "unexpected first line {line:?}; see {}",
                dir.join("server.log").display()
            )
        })
        .to_owned();
    (child, base)
}

impl Server {
    pub async fn start() -> Server {
        Server::start_with(&[]).await
    }

    pub async fn start_with(envs: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        let storage = Storage::fresh(&dir.path().join("data")).await;
        Server::start_in(dir, storage, envs).await
    }

    /// A server on the given storage (another replica, or a migrated deployment).
    pub async fn start_on(storage: &Storage, envs: &[(&str, &str)]) -> Server {
        let dir = tempfile::tempdir().expect("tempdir");
        Server::start_in(dir, storage.clone(), envs).await
    }

    async fn start_in(dir: TempDir, storage: Storage, envs: &[(&str, &str)]) -> Server {
        std::fs::create_dir_all(dir.path().join("data")).expect("data folder");
        let (child, base) = spawn(dir.path(), &storage, envs);
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .expect("client");
        let mut server = Server {
            child,
            base,
            dir,
            storage,
            http,
            admin: Session {
                user_id: String::new(),
                token: String::new(),
                username: ADMIN.into(),
            },
        };
        server.admin = server.login(ADMIN, ADMIN_PASS).await;
        server
    }

    /// Stop the server (SIGKILL: nothing gets to tidy up) and start it again on the same data.
    pub async fn restart(mut self) -> Server {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let dir = tempfile::tempdir().expect("tempdir");
        let old = std::mem::replace(&mut self.dir, dir);
        let storage = self.storage.clone();
        drop(self);
        Server::start_in(old, storage, &[]).await
    }

    /// [`Server::restart`] with environment variables for the new process (a plain `restart`
    /// starts it with none, whatever the first one had).
    pub async fn restart_with(mut self, envs: &[(&str, &str)]) -> Server {
        self.kill();
        let dir = tempfile::tempdir().expect("tempdir");
        let old = std::mem::replace(&mut self.dir, dir);
        let storage = self.storage.clone();
        drop(self);
        Server::start_in(old, storage, envs).await
    }

    /// SIGKILL the server now (nothing gets to tidy up) and reap it, leaving its data as the kill
    /// left it; `restart`/`restart_with` bring it back on that data. Killing twice is harmless.
    pub fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// The server's process id, for signals.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Wait for the server to exit on its own and return whether it exited successfully.
    pub fn wait_for_exit(&mut self, within: std::time::Duration) -> Option<bool> {
        let deadline = std::time::Instant::now() + within;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.success());
            }
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
        None
    }

    /// What the server logged to stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default()
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    fn authed(
        &self,
        builder: reqwest::RequestBuilder,
        session: Option<&Session>,
    ) -> reqwest::RequestBuilder {
        match session {
            Some(s) => builder
                .header("X-User-Id", &s.user_id)
                .header("X-Auth-Token", &s.token),
            None => builder,
        }
    }

    pub async fn post(
        &self,
        session: Option<&Session>,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let response = self
            .authed(self.http.post(self.url(path)), session)
            .json(&body)
            .send()
            .await
            .expect("request");
        read_json(response).await
    }

    pub async fn get(&self, session: Option<&Session>, path: &str) -> (StatusCode, Value) {
        let response = self
            .authed(self.http.get(self.url(path)), session)
            .send()
            .await
            .expect("request");
        read_json(response).await
    }

    pub async fn login(&self, user: &str, password: &str) -> Session {
        let (status, body) = self
            .post(
                None,
                "/api/v1/login",
                json!({"user": user, "password": password}),
            )
            .await;
        assert_eq!(status, 200, "login {user}: {body}");
        Session {
            user_id: body["data"]["userId"].as_str().expect("userId").into(),
            token: body["data"]["authToken"]
                .as_str()
                .expect("authToken")
                .into(),
            username: user.into(),
        }
    }

    /// Create a user through the admin's `users.create` and log in as them.
    pub async fn create_user(&self, username: &str) -> Session {
        self.create_user_with_roles(username, &["user"]).await
    }

    pub async fn create_user_with_roles(&self, username: &str, roles: &[&str]) -> Session {
        let (status, body) = self
            .post(
                Some(&self.admin),
                "/api/v1/users.create",
                json!({
                    "username": username,
                    "email": format!("{username}@example.com"),
                    "password": PASSWORD,
                    "name": format!("{username} Name"),
                    "roles": roles,
                }),
            )
            .await;
        assert_eq!(status, 200, "users.create {username}: {body}");
        self.login(username, PASSWORD).await
    }

    /// `users.resetAvatar` of `username`, as `session`; the status.
    pub async fn reset_avatar(&self, session: &Session, username: &str) -> StatusCode {
        self.post(
            Some(session),
            "/api/v1/users.resetAvatar",
            json!({"username": username}),
        )
        .await
        .0
    }

    pub async fn set_setting(&self, id: &str, value: Value) {
        let (status, body) = self
            .post(
                Some(&self.admin),
                &format!("/api/v1/settings/{id}"),
                json!({"value": value}),
            )
            .await;
        assert_eq!(status, 200, "setting {id}: {body}");
    }

    /// `users.setAvatar` with a multipart body: the file under `file_field` plus text fields.
    pub async fn upload_as(
        &self,
        session: &Session,
        file_field: &str,
        bytes: Vec<u8>,
        file_name: &str,
        mime: &str,
        fields: &[(&str, &str)],
    ) -> (StatusCode, Value) {
        let part = reqwest::multipart::Part::bytes(bytes)
            .file_name(file_name.to_owned())
            .mime_str(mime)
            .expect("mime");
        let mut form = reqwest::multipart::Form::new();
        for (name, value) in fields {
            form = form.text(name.to_string(), value.to_string());
        }
        self.post_form(session, form.part(file_field.to_owned(), part))
            .await
    }

    /// `users.setAvatar` with any multipart form.
    pub async fn post_form(
        &self,
        session: &Session,
        form: reqwest::multipart::Form,
    ) -> (StatusCode, Value) {
        let response = self
            .authed(
                self.http.post(self.url("/api/v1/users.setAvatar")),
                Some(session),
            )
            .multipart(form)
            .send()
            .await
            .expect("upload");
        read_json(response).await
    }

    pub async fn upload(
        &self,
        session: &Session,
        bytes: Vec<u8>,
        mime: &str,
    ) -> (StatusCode, Value) {
        self.upload_as(session, "image", bytes, "avatar.png", mime, &[])
            .await
    }

    /// `GET /avatar/...` as raw bytes, with headers.
    pub async fn avatar(&self, path: &str) -> reqwest::Response {
        self.http
            .get(self.url(path))
            .send()
            .await
            .expect("avatar request")
    }

    /// `GET /avatar/...` with extra request headers (validators, ranges, encodings, credentials).
    /// The client follows no redirects and decompresses nothing: what the server sent is what
    /// the response holds.
    pub async fn avatar_with(&self, path: &str, headers: &[(&str, &str)]) -> reqwest::Response {
        headers
            .iter()
            .fold(self.http.get(self.url(path)), |request, (name, value)| {
                request.header(*name, *value)
            })
            .send()
            .await
            .expect("avatar request")
    }

    pub async fn avatar_bytes(&self, username: &str) -> (String, Vec<u8>) {
        let response = self.avatar(&format!("/avatar/{username}")).await;
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .unwrap()
            .to_owned();
        (content_type, response.bytes().await.unwrap().to_vec())
    }

    /// The keys of every stored blob, read through the same storage engine the server uses.
    pub async fn blob_keys(&self) -> Vec<String> {
        let blobs =
            avatard_storage::open_blobs(&self.storage.storage_url).expect("open the blob store");
        blobs
            .list()
            .await
            .expect("list blobs")
            .into_iter()
            .map(|blob| blob.key)
            .collect()
    }
}

pub async fn read_json(response: reqwest::Response) -> (StatusCode, Value) {
    let status = response.status();
    let text = response.text().await.expect("body");
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

fn encode(image: image::DynamicImage, format: image::ImageFormat) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode test image");
    out.into_inner()
}

/// An opaque image whose left half is red and right half blue, so crops and flips are visible.
pub fn two_tone(width: u32, height: u32) -> image::RgbImage {
    image::RgbImage::from_fn(width, height, |x, _| {
        if x < width / 2 {
            image::Rgb([220, 20, 20])
        } else {
            image::Rgb([20, 20, 220])
        }
    })
}

pub fn png(width: u32, height: u32) -> Vec<u8> {
    encode(two_tone(width, height).into(), image::ImageFormat::Png)
}

/// A PNG with a transparent border around an opaque green square.
pub fn png_with_alpha(width: u32, height: u32) -> Vec<u8> {
    let img = image::RgbaImage::from_fn(width, height, |x, y| {
        let inside = x > width / 4 && x < 3 * width / 4 && y > height / 4 && y < 3 * height / 4;
        if inside {
            image::Rgba([0, 200, 0, 255])
        } else {
            image::Rgba([0, 0, 0, 0])
        }
    });
    encode(img.into(), image::ImageFormat::Png)
}

pub fn jpeg(width: u32, height: u32) -> Vec<u8> {
    encode(two_tone(width, height).into(), image::ImageFormat::Jpeg)
}

pub fn gif(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgba8(
            image::DynamicImage::ImageRgb8(two_tone(width, height)).to_rgba8(),
        ),
        image::ImageFormat::Gif,
    )
}

pub fn webp(width: u32, height: u32) -> Vec<u8> {
    encode(
        image::DynamicImage::ImageRgba8(
            image::DynamicImage::ImageRgb8(two_tone(width, height)).to_rgba8(),
        ),
        image::ImageFormat::WebP,
    )
}

pub const SVG: &str = r##"<svg xmlns="http://www.w3.org/2000/svg" width="120" height="60"><rect width="120" height="60" fill="#ff8800"/></svg>"##;

/// Decode what the server stored or served.
pub fn decode(bytes: &[u8]) -> image::DynamicImage {
    image::load_from_memory(bytes).expect("served bytes decode")
}

/// The colour that tags image number `tag` (0..4096): each channel carries four bits of the tag,
/// in the middle of its band of 16 values, so resizing and re-encoding cannot change which tag a
/// served pixel reads as.
pub fn tag_colour(tag: u32) -> image::Rgb<u8> {
    let channel = |shift: u32| ((tag >> shift) & 0xF) as u8 * 16 + 8;
    image::Rgb([channel(8), channel(4), channel(0)])
}

/// A PNG of one colour, `tag_colour(tag)`, followed by `padding` bytes of an ancillary chunk that
/// decoders skip: an upload whose body is as large as wanted while its pixels stay cheap.
pub fn tagged_png(tag: u32, width: u32, height: u32, padding: usize) -> Vec<u8> {
    use image::ImageEncoder as _;
    use image::codecs::png::{CompressionType, FilterType, PngEncoder};
    // Built and compressed the quick way: tests make hundreds of these, some of 2000×2000.
    let pixels = tag_colour(tag).0.repeat(width as usize * height as usize);
    let mut png = Vec::new();
    PngEncoder::new_with_quality(&mut png, CompressionType::Fast, FilterType::Up)
        .write_image(&pixels, width, height, image::ExtendedColorType::Rgb8)
        .expect("encode a tagged image");
    if padding == 0 {
        return png;
    }
    // After the signature (8 bytes) and IHDR (4 length + 4 type + 13 data + 4 CRC).
    let (head, tail) = png.split_at(33);
    let mut chunk = Vec::with_capacity(padding + 12);
    chunk.extend_from_slice(&u32::try_from(padding).expect("padding").to_be_bytes());
    // Ancillary, private, safe to copy: every decoder skips it.
    chunk.extend_from_slice(b"paDd");
    chunk.resize(chunk.len() + padding, 0);
    let crc = crc32fast::hash(&chunk[4..]);
    chunk.extend_from_slice(&crc.to_be_bytes());
    [head, &chunk, tail].concat()
}

/// Which `tagged_png` an avatar shows: `Some(tag)` when every pixel reads as the same tag, `None`
/// for anything else (a mix of two images, a partial write, another picture).
pub fn tag_of(bytes: &[u8]) -> Option<u32> {
    let image = image::load_from_memory(bytes).ok()?.to_rgb8();
    let tag = |p: &image::Rgb<u8>| {
        (u32::from(p[0] / 16) << 8) | (u32::from(p[1] / 16) << 4) | u32::from(p[2] / 16)
    };
    let first = tag(image.pixels().next()?);
    image
        .pixels()
        .all(|p| {
            let expected = tag_colour(first);
            tag(p) == first && p.0.iter().zip(expected.0).all(|(a, b)| a.abs_diff(b) <= 4)
        })
        .then_some(first)
}

/// A user's avatar as the API shows it, after checking that every view of it agrees.
#[derive(Clone, Debug)]
pub struct ShownAvatar {
    /// `avatarETag` from `users.info`: `None` while the user shows initials.
    pub etag: Option<String>,
    pub content_type: String,
    pub bytes: Vec<u8>,
}

impl Server {
    /// `GET /avatar/<username>` and `users.info`, checked against each other: a user with an
    /// `avatarETag` is served bytes whose hash it is, under that `ETag`; a user without one is
    /// served initials.
    pub async fn shown_avatar(&self, username: &str) -> ShownAvatar {
        let response = self.avatar(&format!("/avatar/{username}")).await;
        assert_eq!(response.status(), 200, "GET /avatar/{username}");
        let header = |name: &str| {
            response.headers()[name]
                .to_str()
                .expect("an ASCII header")
                .to_owned()
        };
        let (content_type, served_etag) = (header("content-type"), header("etag"));
        let bytes = response.bytes().await.expect("avatar bytes").to_vec();
        let (status, info) = self
            .get(
                Some(&self.admin),
                &format!("/api/v1/users.info?username={username}"),
            )
            .await;
        assert_eq!(status, 200, "users.info {username}: {info}");
        let etag = info["user"]["avatarETag"].as_str().map(str::to_owned);
        match &etag {
            Some(etag) => {
                assert_ne!(
                    content_type, "image/svg+xml",
                    "{username} has avatarETag {etag} but is served initials: a missing blob?"
                );
                assert_eq!(
                    &avatard_domain::ids::sha256_hex(&bytes)[..32],
                    etag,
                    "{username}: the bytes served are not the ones avatarETag names"
                );
                assert_eq!(served_etag, format!("\"{etag}\""), "{username}");
            }
            None => assert_eq!(
                content_type, "image/svg+xml",
                "{username} has no avatarETag but is served an image"
            ),
        }
        ShownAvatar {
            etag,
            content_type,
            bytes,
        }
    }
}

/// SplitMix64: a small seeded generator, so a failing run can be replayed.
pub struct Rng(pub u64);

impl Rng {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `low..high`.
    pub fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next_u64() % (high - low).max(1)
    }

    /// True with probability `percent`/100.
    pub fn percent(&mut self, percent: u64) -> bool {
        self.next_u64() % 100 < percent
    }
}

/// The seed of a randomised test: `AVATARD_TEST_SEED` when set (to replay a failure), else the
/// clock. Tests print it.
pub fn test_seed() -> u64 {
    std::env::var("AVATARD_TEST_SEED")
        .ok()
        .and_then(|seed| seed.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
        })
}

/// What the database says about blobs, read from it directly.
#[derive(Debug, Default)]
pub struct BlobReferences {
    /// The avatar records: user id → (blob key, avatarETag).
    pub current: std::collections::BTreeMap<String, (String, String)>,
    /// Blob keys the avatar audit trail names (previous avatars, kept for restoring), when the
    /// schema has one.
    pub history: std::collections::HashSet<String>,
}

impl Server {
    /// The avatar records and the audit trail's blob keys, from the server's database.
    pub async fn blob_references(&self) -> BlobReferences {
        use sqlx::{Connection as _, Row as _};
        sqlx::any::install_default_drivers();
        let mut db = sqlx::AnyConnection::connect(&self.storage.database_url)
            .await
            .expect("open the database");
        let current = sqlx::query("SELECT user_id, blob_key, etag FROM avatars")
            .fetch_all(&mut db)
            .await
            .expect("read the avatar records")
            .iter()
            .map(|row| {
                (
                    row.get::<String, _>("user_id"),
                    (row.get("blob_key"), row.get("etag")),
                )
            })
            .collect();
        // An error here means a schema without an audit trail.
        let history = sqlx::query_scalar::<_, String>(
            "SELECT blob_key FROM avatar_history WHERE blob_key IS NOT NULL",
        )
        .fetch_all(&mut db)
        .await
        .unwrap_or_default()
        .into_iter()
        .collect();
        db.close().await.expect("close the database");
        BlobReferences { current, history }
    }
}
