//! Flags and their environment twins.

use std::net::SocketAddr;
use std::num::NonZeroUsize;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "avatard",
    version,
    about = "A Rocket.Chat-compatible avatar server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Bring the database schema up to date (the server also does this at start).
    Migrate(MigrateArgs),
    /// Copy every user, setting, permission and avatar to other stores (resumable, verified).
    MigrateStorage(MigrateStorageArgs),
    /// Manage user accounts (works while the server runs).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add(AddUserArgs),
}

/// Where metadata and avatars are stored.
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Folder for the embedded SQLite database and avatar files (when the URLs below are not given).
    #[arg(long, env = "AVATARD_DATA_DIR", default_value = "./avatard-data")]
    pub data_dir: PathBuf,
    /// Metadata database: `sqlite://PATH` or `postgres://USER:PASS@HOST/DB`
    /// [default: sqlite://<data-dir>/avatard.db].
    #[arg(long, env = "AVATARD_DATABASE_URL")]
    pub database_url: Option<String>,
    /// Avatar storage: `file://PATH`, `s3://BUCKET/PREFIX` (configured by the AWS_* variables,
    /// AWS_ENDPOINT_URL for S3-compatible servers) or `memory://` [default: file://<data-dir>/blobs].
    #[arg(long, env = "AVATARD_STORAGE_URL")]
    pub storage_url: Option<String>,
    /// Most database connections this process opens.
    #[arg(long, env = "AVATARD_DATABASE_MAX_CONNECTIONS", default_value_t = 16)]
    pub database_max_connections: u32,
    /// Longest a database statement may run (PostgreSQL `statement_timeout`, SQLite busy timeout).
    #[arg(
        long,
        env = "AVATARD_DATABASE_STATEMENT_TIMEOUT_MS",
        default_value_t = 10_000
    )]
    pub database_statement_timeout_ms: u64,
}

impl StorageArgs {
    pub fn database_url(&self) -> String {
        self.database_url.clone().unwrap_or_else(|| {
            format!(
                "sqlite://{}?mode=rwc",
                self.data_dir.join("avatard.db").display()
            )
        })
    }

    pub fn storage_url(&self) -> String {
        self.storage_url
            .clone()
            .unwrap_or_else(|| format!("file://{}", self.data_dir.join("blobs").display()))
    }

    /// The data folder is needed only by the embedded defaults.
    pub fn uses_data_dir(&self) -> bool {
        self.database_url.is_none() || self.storage_url.is_none()
    }
}

#[derive(Args)]
pub struct MigrateArgs {
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AVATARD_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// How many reverse proxies in front of avatard append to `X-Forwarded-For`: the client address
    /// (for rate limits and login blocking) is the one this many hops from the right. 0 uses the
    /// connection's peer address and ignores the header, which clients can forge.
    #[arg(long, env = "AVATARD_TRUSTED_PROXIES", default_value_t = 0)]
    pub trusted_proxies: usize,
    /// Close a connection whose request headers take longer than this to arrive (slowloris).
    #[arg(long, env = "AVATARD_HEADER_READ_TIMEOUT_SECS", default_value_t = 30)]
    pub header_read_timeout_secs: u64,
    /// Give up on a request body that pauses longer than this between two pieces.
    #[arg(long, env = "AVATARD_BODY_IDLE_TIMEOUT_SECS", default_value_t = 30)]
    pub body_idle_timeout_secs: u64,
    /// External base URL, for absolute links such as the users.getAvatar redirect
    /// [default: http://<listen address>].
    #[arg(long, env = "AVATARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The most bytes read for one uploaded or fetched image, whatever FileUpload_MaxFileSize says.
    #[arg(long, env = "AVATARD_MAX_UPLOAD_BYTES", default_value_t = 104_857_600)]
    pub max_upload_bytes: u64,
    /// Memory that uploaded files being read may hold together; uploads beyond it wait, then get
    /// a 429. Never less than --max-upload-bytes.
    #[arg(long, env = "AVATARD_UPLOAD_MEMORY_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub upload_memory_bytes: u64,
    /// How long an upload waits for room in --upload-memory-bytes before it gets a 429; at most
    /// half of --body-idle-timeout-secs.
    #[arg(long, env = "AVATARD_UPLOAD_WAIT_SECS", default_value_t = 15)]
    pub upload_wait_secs: u64,
    /// Memory for cached avatar bytes.
    #[arg(long, env = "AVATARD_AVATAR_CACHE_BYTES", default_value_t = 64 * 1024 * 1024)]
    pub avatar_cache_bytes: u64,
    /// Reload cached settings and permissions at least this often, so a missed change notification
    /// from another replica delays it by no more than this.
    #[arg(long, env = "AVATARD_CACHE_REFRESH_SECS", default_value_t = 30)]
    pub cache_refresh_secs: u64,
    /// How often to look for blobs no avatar names (one replica at a time).
    #[arg(long, env = "AVATARD_ORPHAN_SWEEP_SECS", default_value_t = 600)]
    pub orphan_sweep_secs: u64,
    /// How old an unreferenced blob must be before the sweep removes it.
    #[arg(long, env = "AVATARD_ORPHAN_GRACE_SECS", default_value_t = 3600)]
    pub orphan_grace_secs: u64,
    /// Threads that run the async runtime (request handling); image work runs on a separate
    /// blocking pool [default: the number of CPUs].
    #[arg(long, env = "AVATARD_WORKER_THREADS", value_name = "N")]
    pub worker_threads: Option<NonZeroUsize>,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct MigrateStorageArgs {
    /// The deployment to copy from: `<database-url>,<storage-url>`.
    #[arg(long, value_parser = parse_deployment)]
    pub from: (String, String),
    /// The deployment to copy to: `<database-url>,<storage-url>`.
    #[arg(long, value_parser = parse_deployment)]
    pub to: (String, String),
}

fn parse_deployment(value: &str) -> Result<(String, String), String> {
    match value.rsplit_once(',') {
        Some((database, storage)) if !database.is_empty() && !storage.is_empty() => {
            Ok((database.to_owned(), storage.to_owned()))
        }
        _ => Err("expected <database-url>,<storage-url>".to_owned()),
    }
}

#[derive(Args)]
pub struct AddUserArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub password: String,
    #[arg(long)]
    pub email: Option<String>,
    /// Display name [default: the username].
    #[arg(long)]
    pub name: Option<String>,
    /// Roles to give (repeatable) [default: user].
    #[arg(long = "role")]
    pub roles: Vec<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
}
