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
