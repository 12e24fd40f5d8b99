//! The metadata store on SQL: one implementation for SQLite (embedded) and PostgreSQL (scale-out),
//! through sqlx's `Any` driver. The statements are portable; where the engines differ (how a write
//! transaction takes its locks, per-connection settings, migrations) the [`Engine`] says so.
//!
//! Both engines store flags as integers and times as Unix milliseconds, so rows decode the same way.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use avatard_domain::StoreError;
use avatard_domain::model::{
    Audit, AvatarChange, AvatarEvent, AvatarOrigin, AvatarRecord, Email, LoginToken, Permission,
    StoredSetting, User, UserRecord,
};
use avatard_domain::store::{MetadataStore, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::any::{AnyPoolOptions, AnyRow};
use sqlx::{AnyPool, Executor as _, Row as _};

static SQLITE_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES_MIGRATIONS: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

/// How many times a statement that failed for a passing reason is tried in all.
const ATTEMPTS: u32 = 4;

/// Every user query selects these columns, the avatar joined in.
macro_rules! user_select {
    ($tail:literal) => {
        concat!(
            "SELECT u.id, u.username, u.name, u.email, u.email_verified, u.password_hash, u.roles, u.active, u.created_at, ",
            "a.blob_key, a.etag, a.origin, a.content_type, a.size, a.uploaded_at ",
            "FROM users u LEFT JOIN avatars a ON a.user_id = u.id ",
            $tail
        )
    };
}

/// The database engine behind a URL.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Engine {
    Sqlite,
    Postgres,
}

impl Engine {
    pub fn of(url: &str) -> Option<Engine> {
        if url.starts_with("sqlite:") {
            Some(Engine::Sqlite)
        } else if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Some(Engine::Postgres)
        } else {
            None
        }
    }

    /// Starts a transaction that will write. SQLite's IMMEDIATE takes the write lock up front: a
    /// deferred transaction that reads and then writes fails when another writer committed between.
    fn begin_write(self) -> &'static str {
        match self {
            Engine::Sqlite => "BEGIN IMMEDIATE",
            Engine::Postgres => "BEGIN",
        }
    }

    /// Locks the user's row until the transaction ends, so concurrent avatar commits for one user
    /// (on any replica) take turns and each learns exactly which blob it replaced.
    fn lock_user(self) -> &'static str {
        match self {
            Engine::Sqlite => "SELECT username FROM users WHERE id = $1",
            Engine::Postgres => "SELECT username FROM users WHERE id = $1 FOR UPDATE",
        }
    }

    /// Makes appending avatar events take turns until the transaction ends, so sequence numbers
    /// are handed out in commit order (PostgreSQL's sequences are not; SQLite has one writer).
    /// Taken after the user's row lock by every writer, so the two locks never deadlock.
    fn lock_event_log(self) -> Option<&'static str> {
        match self {
            Engine::Sqlite => None,
            Engine::Postgres => Some("SELECT pg_advisory_xact_lock(7496541020616978291)"),
        }
    }

    fn migrator(self) -> &'static sqlx::migrate::Migrator {
        match self {
            Engine::Sqlite => &SQLITE_MIGRATIONS,
            Engine::Postgres => &POSTGRES_MIGRATIONS,
        }
    }
}

/// Pool and timeouts, from the operator's configuration.
#[derive(Clone, Debug)]
pub struct DatabaseConfig {
    pub url: String,
    pub max_connections: u32,
    /// PostgreSQL's `statement_timeout`; SQLite's busy timeout.
    pub statement_timeout: Duration,
}

pub struct SqlMetadata {
    pool: AnyPool,
    engine: Engine,
}

impl SqlMetadata {
    /// Connect. Migrations are not run here: see [`SqlMetadata::migrate`].
    pub async fn connect(config: &DatabaseConfig) -> StoreResult<Self> {
        sqlx::any::install_default_drivers();
        let engine = Engine::of(&config.url).ok_or_else(|| {
            StoreError::Backend(format!(
                "unsupported database URL {:?}",
                redact(&config.url)
            ))
        })?;
        let timeout_ms = config.statement_timeout.as_millis();
        let pool = AnyPoolOptions::new()
            // No ping before every query (a round trip to SQLite's worker thread, a fifth of the
            // serving CPU): a dead connection fails its query, and `retry` runs it again on another.
            .test_before_acquire(false)
            // An in-memory SQLite database exists once per connection.
            .max_connections(if config.url.contains(":memory:") { 1 } else { config.max_connections })
            .acquire_timeout(config.statement_timeout.max(Duration::from_secs(5)))
            .after_connect(move |conn, _| {
                Box::pin(async move {
                    let setup = match engine {
                        // Full sync: an acknowledged change survives power loss, not just a crash.
                        Engine::Sqlite => format!(
                            "PRAGMA journal_mode = WAL; PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON; PRAGMA busy_timeout = {timeout_ms};"
                        ),
                        Engine::Postgres => format!("SET statement_timeout = {timeout_ms}"),
                    };
                    conn.execute(sqlx::AssertSqlSafe(setup)).await.map(|_| ())
                })
            })
            .connect(&config.url)
            .await
            .map_err(classify)?;
        Ok(SqlMetadata { pool, engine })
    }

    /// Bring the schema up to date. On PostgreSQL the migrator holds an advisory lock, so replicas
    /// starting at once apply each migration exactly once.
    pub async fn migrate(&self) -> StoreResult<()> {
        self.engine
            .migrator()
            .run(&self.pool)
            .await
            .map_err(|e| StoreError::Backend(format!("migrations failed: {e}")))
    }

    /// Connect and migrate: what the server does at start.
    pub async fn open(config: &DatabaseConfig) -> StoreResult<Self> {
        let store = SqlMetadata::connect(config).await?;
        store.migrate().await?;
        Ok(store)
    }

    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// The change feed that goes with this database.
    pub fn change_feed(&self) -> crate::notify::SqlChangeFeed {
        crate::notify::SqlChangeFeed {
            pool: self.pool.clone(),
            engine: self.engine,
        }
    }

    async fn one_user(&self, query: &'static str, arg: &str) -> StoreResult<Option<UserRecord>> {
        retry(|| async {
            let row = sqlx::query(query)
                .bind(arg)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
            row.map(|r| user_from_row(&r)).transpose()
        })
        .await
    }

    /// Lock the user's row for the rest of `tx`; their username, or `None` when there is no such user.
    async fn lock_user(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        user_id: &str,
    ) -> StoreResult<Option<String>> {
        sqlx::query_scalar(self.engine.lock_user())
            .bind(user_id)
            .fetch_optional(&mut **tx)
            .await
            .map_err(classify)
    }

    /// Append an avatar event as part of `tx`.
    async fn append_event(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        user_id: &str,
        username: &str,
        etag: Option<&str>,
    ) -> StoreResult<()> {
        if let Some(lock) = self.engine.lock_event_log() {
            sqlx::query(lock)
                .execute(&mut **tx)
                .await
                .map_err(classify)?;
        }
        sqlx::query(
            "INSERT INTO avatar_events (user_id, username, etag, at) VALUES ($1, $2, $3, $4)",
        )
        .bind(user_id)
        .bind(username)
        .bind(etag)
        .bind(millis(Utc::now()))
        .execute(&mut **tx)
        .await
        .map_err(classify)?;
        Ok(())
    }

    async fn begin_write(&self) -> StoreResult<sqlx::Transaction<'static, sqlx::Any>> {
        self.pool
            .begin_with(self.engine.begin_write())
            .await
            .map_err(classify)
    }
}

/// Create a new, empty PostgreSQL database named `prefix_<random>` on the server `server_url` points
/// at (any database of it; the role needs CREATEDB) and return its URL. For provisioning tools and
/// tests that need an isolated database per run.
pub async fn create_postgres_database(server_url: &str, prefix: &str) -> StoreResult<String> {
    use sqlx::Connection as _;
    let name = format!("{prefix}_{}", avatard_domain::ids::new_id().to_lowercase());
    if !name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_')
    {
        return Err(StoreError::Backend(format!(
            "invalid database name {name:?}"
        )));
    }
    let mut admin = sqlx::PgConnection::connect(server_url)
        .await
        .map_err(classify)?;
    admin
        .execute(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
        .await
        .map_err(classify)?;
    let base = server_url
        .rsplit_once('/')
        .map_or(server_url, |(base, _)| base);
    Ok(format!("{base}/{name}"))
}

/// A URL without its password, for messages.
fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

/// Sort sqlx errors into those worth retrying and the rest.
pub(crate) fn classify(err: sqlx::Error) -> StoreError {
    let transient = match &err {
        sqlx::Error::Io(_)
        | sqlx::Error::PoolTimedOut
        | sqlx::Error::Tls(_)
        | sqlx::Error::Protocol(_) => true,
        sqlx::Error::Database(db) => matches!(
            db.code().as_deref(),
            // serialization_failure, deadlock_detected, admin/crash shutdown, cannot connect now,
            // query_canceled (statement timeout); SQLITE_BUSY and SQLITE_LOCKED.
            Some("40001" | "40P01" | "57P01" | "57P02" | "57P03" | "57014" | "5" | "6" | "517")
        ),
        _ => false,
    };
    if transient {
        StoreError::Unavailable(err.to_string())
    } else {
        StoreError::Backend(err.to_string())
    }
}

/// Run `attempt` until it succeeds, fails for good, or [`ATTEMPTS`] are used, backing off between.
/// Every operation retried this way is a single statement or a whole transaction, so a retry never
/// repeats half of something.
async fn retry<T, F, Fut>(mut attempt: F) -> StoreResult<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = StoreResult<T>>,
{
    let mut delay = Duration::from_millis(50);
    let mut tries = 1;
    loop {
        match attempt().await {
            Err(StoreError::Unavailable(reason)) if tries < ATTEMPTS => {
                tracing::warn!(%reason, tries, "database unavailable; retrying");
                tokio::time::sleep(delay).await;
                delay *= 2;
                tries += 1;
            }
            other => return other,
        }
    }
}

/// The columns [`change_from_row`] reads (a macro, so queries stay `&'static str`).
macro_rules! history_columns {
    () => {
        "id, user_id, username, actor_id, actor_username, action, previous_etag, etag, blob_key, \
         content_type, size, ip, at"
    };
}

fn change_from_row(row: &AnyRow) -> StoreResult<AvatarChange> {
    let size: Option<i64> = column(row, "size")?;
    Ok(AvatarChange {
        id: column(row, "id")?,
        user_id: column(row, "user_id")?,
        username: column(row, "username")?,
        actor_id: column(row, "actor_id")?,
        actor_username: column(row, "actor_username")?,
        action: column(row, "action")?,
        previous_etag: column(row, "previous_etag")?,
        etag: column(row, "etag")?,
        blob_key: column(row, "blob_key")?,
        content_type: column(row, "content_type")?,
        size: size.and_then(|s| u64::try_from(s).ok()),
        ip: column(row, "ip")?,
        at: from_millis(column(row, "at")?),
    })
}

/// An avatar change as the audit trail records it, inside the change's own transaction.
struct Recorded<'a> {
    user_id: &'a str,
    username: &'a str,
    previous_etag: Option<&'a str>,
    /// The new avatar; `None` for a reset.
    avatar: Option<&'a AvatarRecord>,
}

impl Recorded<'_> {
    async fn insert(
        &self,
        tx: &mut sqlx::Transaction<'static, sqlx::Any>,
        audit: &Audit,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO avatar_history (user_id, username, actor_id, actor_username, action, \
             previous_etag, etag, blob_key, content_type, size, ip, at) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12)",
        )
        .bind(self.user_id)
        .bind(self.username)
        .bind(&audit.actor_id)
        .bind(&audit.actor_username)
        .bind(audit.action)
        .bind(self.previous_etag)
        .bind(self.avatar.map(|a| a.etag.as_str()))
        .bind(self.avatar.map(|a| a.blob_key.as_str()))
        .bind(self.avatar.map(|a| a.content_type.as_str()))
        .bind(self.avatar.map(|a| a.size as i64))
        .bind(audit.ip.as_deref())
        .bind(millis(Utc::now()))
        .execute(&mut **tx)
        .await
        .map_err(classify)?;
        Ok(())
    }
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn flag(on: bool) -> i64 {
    i64::from(on)
}

fn roles_json(roles: &[String]) -> String {
    serde_json::Value::from(roles.to_vec()).to_string()
}

fn roles_from(json: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("corrupt roles: {e}")))
}

fn column<'r, T>(row: &'r AnyRow, name: &str) -> StoreResult<T>
where
    T: sqlx::Decode<'r, sqlx::Any> + sqlx::Type<sqlx::Any>,
{
    row.try_get(name).map_err(classify)
}

fn user_from_row(row: &AnyRow) -> StoreResult<UserRecord> {
    let email: Option<String> = column(row, "email")?;
    let user = User {
        id: column(row, "id")?,
        username: column(row, "username")?,
        name: column(row, "name")?,
        email: email.map(|address| Email {
            address,
            verified: column::<i64>(row, "email_verified").unwrap_or(0) != 0,
        }),
        password_hash: column(row, "password_hash")?,
        roles: roles_from(&column::<String>(row, "roles")?)?,
        active: column::<i64>(row, "active")? != 0,
        created_at: from_millis(column(row, "created_at")?),
    };
    let avatar = match column::<Option<String>>(row, "blob_key")? {
        Some(blob_key) => Some(avatar_from_row(row, blob_key)?),
        None => None,
    };
    Ok(UserRecord { user, avatar })
}

fn avatar_from_row(row: &AnyRow, blob_key: String) -> StoreResult<AvatarRecord> {
    let origin: String = column(row, "origin")?;
    Ok(AvatarRecord {
        blob_key,
        etag: column(row, "etag")?,
        origin: AvatarOrigin::parse(&origin)
            .ok_or_else(|| StoreError::Backend(format!("unknown avatar origin {origin:?}")))?,
        content_type: column(row, "content_type")?,
        size: column::<i64>(row, "size")? as u64,
        uploaded_at: from_millis(column(row, "uploaded_at")?),
    })
}

/// Which unique column a failed insert collided with.
fn conflict(err: sqlx::Error) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => {
            let message = db.message();
            StoreError::Conflict(if message.contains("email") {
                "email"
            } else if message.contains("username") {
                "username"
            } else {
                "id"
            })
        }
        _ => classify(err),
    }
}

#[async_trait]
impl MetadataStore for SqlMetadata {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
        retry(|| async {
            sqlx::query(
                "INSERT INTO users (id, username, username_key, name, email, email_key, email_verified, password_hash, roles, active, created_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
            )
            .bind(&user.id)
            .bind(&user.username)
            .bind(user.username.to_lowercase())
            .bind(&user.name)
            .bind(user.email.as_ref().map(|e| e.address.clone()))
            .bind(user.email.as_ref().map(|e| e.address.to_lowercase()))
            .bind(flag(user.email.as_ref().is_some_and(|e| e.verified)))
            .bind(&user.password_hash)
            .bind(roles_json(&user.roles))
            .bind(flag(user.active))
            .bind(millis(user.created_at))
            .execute(&self.pool)
            .await
            .map_err(conflict)?;
            Ok(())
        })
        .await
    }

    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>> {
        self.one_user(user_select!("WHERE u.id = $1"), id).await
    }

    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>> {
        self.one_user(
            user_select!("WHERE u.username_key = $1"),
            &username.to_lowercase(),
        )
        .await
    }

    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>> {
        self.one_user(
            user_select!("WHERE u.email_key = $1"),
            &email.trim().to_lowercase(),
        )
        .await
    }

    async fn user_by_token(
        &self,
        user_id: Option<&str>,
        hashed_token: &str,
    ) -> StoreResult<Option<UserRecord>> {
        retry(|| async {
            let row = sqlx::query(user_select!(
                "JOIN login_tokens t ON t.user_id = u.id WHERE t.hashed_token = $1 AND ($2 IS NULL OR u.id = $2)"
            ))
            .bind(hashed_token)
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?;
            row.map(|r| user_from_row(&r)).transpose()
        })
        .await
    }

    async fn delete_user(&self, id: &str) -> StoreResult<Option<String>> {
        retry(|| async {
            let mut tx = self.begin_write().await?;
            let Some(username) = self.lock_user(&mut tx, id).await? else {
                return Ok(None);
            };
            let key: Option<String> =
                sqlx::query_scalar("SELECT blob_key FROM avatars WHERE user_id = $1")
                    .bind(id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
            self.append_event(&mut tx, id, &username, None).await?;
            for statement in [
                "DELETE FROM avatars WHERE user_id = $1",
                "DELETE FROM login_tokens WHERE user_id = $1",
                "DELETE FROM users WHERE id = $1",
            ] {
                sqlx::query(statement)
                    .bind(id)
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(key)
        })
        .await
    }

    async fn insert_login_token(
        &self,
        user_id: &str,
        hashed_token: &str,
        created_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        retry(|| async {
            sqlx::query(
                "INSERT INTO login_tokens (hashed_token, user_id, created_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (hashed_token) DO NOTHING",
            )
            .bind(hashed_token)
            .bind(user_id)
            .bind(millis(created_at))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn delete_login_token(&self, user_id: &str, hashed_token: &str) -> StoreResult<()> {
        retry(|| async {
            sqlx::query("DELETE FROM login_tokens WHERE user_id = $1 AND hashed_token = $2")
                .bind(user_id)
                .bind(hashed_token)
                .execute(&self.pool)
                .await
                .map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn commit_avatar(
        &self,
        user_id: &str,
        avatar: &AvatarRecord,
        audit: Option<&Audit>,
    ) -> StoreResult<Option<String>> {
        retry(|| async {
            let mut tx = self.begin_write().await?;
            let Some(username) = self.lock_user(&mut tx, user_id).await? else {
                return Err(StoreError::NotFound);
            };
            let replaced = sqlx::query("SELECT blob_key, etag FROM avatars WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(classify)?;
            let (replaced, previous_etag): (Option<String>, Option<String>) = match &replaced {
                Some(row) => (Some(column(row, "blob_key")?), Some(column(row, "etag")?)),
                None => (None, None),
            };
            sqlx::query(
                "INSERT INTO avatars (user_id, blob_key, etag, origin, content_type, size, uploaded_at) \
                 VALUES ($1, $2, $3, $4, $5, $6, $7) \
                 ON CONFLICT (user_id) DO UPDATE SET blob_key = excluded.blob_key, etag = excluded.etag, \
                 origin = excluded.origin, content_type = excluded.content_type, size = excluded.size, \
                 uploaded_at = excluded.uploaded_at",
            )
            .bind(user_id)
            .bind(&avatar.blob_key)
            .bind(&avatar.etag)
            .bind(avatar.origin.as_str())
            .bind(&avatar.content_type)
            .bind(avatar.size as i64)
            .bind(millis(avatar.uploaded_at))
            .execute(&mut *tx)
            .await
            .map_err(classify)?;
            self.append_event(&mut tx, user_id, &username, Some(&avatar.etag))
                .await?;
            if let Some(audit) = audit {
                let change = Recorded {
                    user_id,
                    username: &username,
                    previous_etag: previous_etag.as_deref(),
                    avatar: Some(avatar),
                };
                change.insert(&mut tx, audit).await?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(replaced)
        })
        .await
    }

    async fn clear_avatar(
        &self,
        user_id: &str,
        audit: Option<&Audit>,
    ) -> StoreResult<Option<String>> {
        retry(|| async {
            let mut tx = self.begin_write().await?;
            let Some(username) = self.lock_user(&mut tx, user_id).await? else {
                return Ok(None);
            };
            let removed =
                sqlx::query("DELETE FROM avatars WHERE user_id = $1 RETURNING blob_key, etag")
                    .bind(user_id)
                    .fetch_optional(&mut *tx)
                    .await
                    .map_err(classify)?;
            let Some(removed) = removed else {
                tx.commit().await.map_err(classify)?;
                return Ok(None);
            };
            let key: String = column(&removed, "blob_key")?;
            let previous_etag: String = column(&removed, "etag")?;
            self.append_event(&mut tx, user_id, &username, None).await?;
            if let Some(audit) = audit {
                let change = Recorded {
                    user_id,
                    username: &username,
                    previous_etag: Some(&previous_etag),
                    avatar: None,
                };
                change.insert(&mut tx, audit).await?;
            }
            tx.commit().await.map_err(classify)?;
            Ok(Some(key))
        })
        .await
    }

    async fn avatar_events(&self, after: i64, limit: u32) -> StoreResult<Vec<AvatarEvent>> {
        retry(|| async {
            let rows = sqlx::query(
                "SELECT seq, user_id, username, etag, at FROM avatar_events \
                 WHERE seq > $1 ORDER BY seq LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit))
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    Ok(AvatarEvent {
                        seq: column(row, "seq")?,
                        user_id: column(row, "user_id")?,
                        username: column(row, "username")?,
                        etag: column(row, "etag")?,
                        at: from_millis(column(row, "at")?),
                    })
                })
                .collect()
        })
        .await
    }

    async fn last_avatar_event(&self) -> StoreResult<i64> {
        self.event_bound("SELECT MAX(seq) FROM avatar_events")
            .await
            .map(|seq| seq.unwrap_or(0))
    }

    async fn first_avatar_event(&self) -> StoreResult<Option<i64>> {
        self.event_bound("SELECT MIN(seq) FROM avatar_events").await
    }

    async fn prune_avatar_events(&self, before: DateTime<Utc>) -> StoreResult<u64> {
        retry(|| async {
            let done = sqlx::query("DELETE FROM avatar_events WHERE at < $1")
                .bind(millis(before))
                .execute(&self.pool)
                .await
                .map_err(classify)?;
            Ok(done.rows_affected())
        })
        .await
    }

    async fn cursor(&self, name: &str) -> StoreResult<i64> {
        retry(|| async {
            let seq: Option<i64> = sqlx::query_scalar("SELECT seq FROM cursors WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await
                .map_err(classify)?;
            Ok(seq.unwrap_or(0))
        })
        .await
    }

    async fn set_cursor(&self, name: &str, seq: i64) -> StoreResult<()> {
        retry(|| async {
            sqlx::query(
                "INSERT INTO cursors (name, seq) VALUES ($1, $2) \
                 ON CONFLICT (name) DO UPDATE SET seq = excluded.seq",
            )
            .bind(name)
            .bind(seq)
            .execute(&self.pool)
            .await
            .map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn permissions(&self) -> StoreResult<Vec<Permission>> {
        retry(|| async {
            let rows = sqlx::query("SELECT id, roles, updated_at FROM permissions")
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    Ok(Permission {
                        id: column(row, "id")?,
                        roles: roles_from(&column::<String>(row, "roles")?)?,
                        updated_at: from_millis(column(row, "updated_at")?),
                    })
                })
                .collect()
        })
        .await
    }

    async fn seed_permissions(&self, defaults: &[Permission]) -> StoreResult<()> {
        self.write_permissions(
            "INSERT INTO permissions (id, roles, updated_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING",
            defaults,
        )
        .await
    }

    async fn update_permissions(&self, updates: &[Permission]) -> StoreResult<()> {
        self.write_permissions(
            "INSERT INTO permissions (id, roles, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET roles = excluded.roles, updated_at = excluded.updated_at",
            updates,
        )
        .await
    }

    async fn settings(&self) -> StoreResult<Vec<StoredSetting>> {
        retry(|| async {
            let rows = sqlx::query("SELECT id, value, updated_at FROM settings")
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    let value: String = column(row, "value")?;
                    Ok(StoredSetting {
                        id: column(row, "id")?,
                        value: serde_json::from_str(&value).map_err(|e| {
                            StoreError::Backend(format!("corrupt setting value: {e}"))
                        })?,
                        updated_at: from_millis(column(row, "updated_at")?),
                    })
                })
                .collect()
        })
        .await
    }

    async fn put_setting(&self, setting: &StoredSetting) -> StoreResult<()> {
        retry(|| async {
            sqlx::query(
                "INSERT INTO settings (id, value, updated_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
            )
            .bind(&setting.id)
            .bind(setting.value.to_string())
            .bind(millis(setting.updated_at))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
            Ok(())
        })
        .await
    }

    async fn all_users(&self) -> StoreResult<Vec<UserRecord>> {
        retry(|| async {
            let rows = sqlx::query(user_select!("ORDER BY u.created_at, u.id"))
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
            rows.iter().map(user_from_row).collect()
        })
        .await
    }

    async fn all_login_tokens(&self) -> StoreResult<Vec<LoginToken>> {
        retry(|| async {
            let rows = sqlx::query("SELECT user_id, hashed_token, created_at FROM login_tokens")
                .fetch_all(&self.pool)
                .await
                .map_err(classify)?;
            rows.iter()
                .map(|row| {
                    Ok(LoginToken {
                        user_id: column(row, "user_id")?,
                        hashed_token: column(row, "hashed_token")?,
                        created_at: from_millis(column(row, "created_at")?),
                    })
                })
                .collect()
        })
        .await
    }

    async fn referenced_blob_keys(&self, kept_previous: u32) -> StoreResult<Vec<String>> {
        retry(|| async {
            sqlx::query_scalar(
                "SELECT blob_key FROM avatars \
                 UNION \
                 SELECT blob_key FROM ( \
                     SELECT h.blob_key, ROW_NUMBER() OVER (PARTITION BY h.user_id ORDER BY h.id DESC) AS n \
                     FROM avatar_history h JOIN users u ON u.id = h.user_id \
                     WHERE h.blob_key IS NOT NULL \
                 ) AS recent WHERE n <= $1",
            )
            .bind(i64::from(kept_previous) + 1)
            .fetch_all(&self.pool)
            .await
            .map_err(classify)
        })
        .await
    }

    async fn avatar_history(
        &self,
        user_id: &str,
        offset: u64,
        count: u64,
    ) -> StoreResult<(Vec<AvatarChange>, u64)> {
        retry(|| async {
            let total: i64 =
                sqlx::query_scalar("SELECT COUNT(*) FROM avatar_history WHERE user_id = $1")
                    .bind(user_id)
                    .fetch_one(&self.pool)
                    .await
                    .map_err(classify)?;
            let rows = sqlx::query(concat!(
                "SELECT ",
                history_columns!(),
                " FROM avatar_history WHERE user_id = $1 ORDER BY id DESC LIMIT $2 OFFSET $3"
            ))
            .bind(user_id)
            .bind(i64::try_from(count).unwrap_or(i64::MAX))
            .bind(i64::try_from(offset).unwrap_or(i64::MAX))
            .fetch_all(&self.pool)
            .await
            .map_err(classify)?;
            let changes = rows
                .iter()
                .map(change_from_row)
                .collect::<StoreResult<_>>()?;
            Ok((changes, u64::try_from(total).unwrap_or(0)))
        })
        .await
    }

    async fn avatar_change(&self, id: i64) -> StoreResult<Option<AvatarChange>> {
        retry(|| async {
            sqlx::query(concat!(
                "SELECT ",
                history_columns!(),
                " FROM avatar_history WHERE id = $1"
            ))
            .bind(id)
            .fetch_optional(&self.pool)
            .await
            .map_err(classify)?
            .as_ref()
            .map(change_from_row)
            .transpose()
        })
        .await
    }

    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool> {
        retry(|| async {
            let taken = sqlx::query(
                "INSERT INTO leases (name, holder, expires_at) VALUES ($1, $2, $3) \
                 ON CONFLICT (name) DO UPDATE SET holder = excluded.holder, expires_at = excluded.expires_at \
                 WHERE leases.expires_at < $4 OR leases.holder = excluded.holder",
            )
            .bind(name)
            .bind(holder)
            .bind(millis(expires_at))
            .bind(millis(now))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
            Ok(taken.rows_affected() == 1)
        })
        .await
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1")
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }
}

impl SqlMetadata {
    /// `MIN`/`MAX` of the event log's sequence numbers.
    async fn event_bound(&self, query: &'static str) -> StoreResult<Option<i64>> {
        retry(|| async {
            sqlx::query_scalar(query)
                .fetch_one(&self.pool)
                .await
                .map_err(classify)
        })
        .await
    }

    /// Write several permissions in one transaction with `statement` ($1 id, $2 roles, $3 time).
    async fn write_permissions(
        &self,
        statement: &'static str,
        permissions: &[Permission],
    ) -> StoreResult<()> {
        retry(|| async {
            let mut tx = self.begin_write().await?;
            for permission in permissions {
                sqlx::query(statement)
                    .bind(&permission.id)
                    .bind(roles_json(&permission.roles))
                    .bind(millis(permission.updated_at))
                    .execute(&mut *tx)
                    .await
                    .map_err(classify)?;
            }
            tx.commit().await.map_err(classify)
        })
        .await
    }
}
