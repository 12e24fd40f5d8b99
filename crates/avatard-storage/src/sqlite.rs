//! The embedded metadata store: SQLite through sqlx, in WAL mode with full synchronous commits, so
//! an acknowledged change survives a crash and readers never wait for writers.

use std::path::Path;
use std::str::FromStr as _;
use std::time::Duration;

use async_trait::async_trait;
use avatard_domain::StoreError;
use avatard_domain::model::{
    AvatarOrigin, AvatarRecord, Email, Permission, StoredSetting, User, UserRecord,
};
use avatard_domain::store::{MetadataStore, StoreResult};
use chrono::{DateTime, Utc};
use sqlx::Row as _;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");

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

pub struct SqliteMetadata {
    pool: SqlitePool,
}

impl SqliteMetadata {
    /// Open (creating if needed) the database file and run the embedded migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .connect_with(options)
            .await
            .map_err(backend)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(SqliteMetadata { pool })
    }

    /// An in-memory database (one connection, so it is one database), for tests.
    pub async fn in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")
            .map_err(backend)?
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(1)
            .connect_with(options)
            .await
            .map_err(backend)?;
        MIGRATOR
            .run(&pool)
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?;
        Ok(SqliteMetadata { pool })
    }

    async fn one_user(&self, query: &'static str, arg: &str) -> StoreResult<Option<UserRecord>> {
        let row = sqlx::query(query)
            .bind(arg)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)?;
        row.map(|r| user_from_row(&r)).transpose()
    }
}

fn backend(err: sqlx::Error) -> StoreError {
    StoreError::Backend(err.to_string())
}

fn millis(at: DateTime<Utc>) -> i64 {
    at.timestamp_millis()
}

fn from_millis(ms: i64) -> DateTime<Utc> {
    DateTime::from_timestamp_millis(ms).unwrap_or_default()
}

fn roles_json(roles: &[String]) -> String {
    serde_json::Value::from(roles.to_vec()).to_string()
}

fn roles_from(json: &str) -> StoreResult<Vec<String>> {
    serde_json::from_str(json).map_err(|e| StoreError::Backend(format!("corrupt roles: {e}")))
}

fn user_from_row(row: &SqliteRow) -> StoreResult<UserRecord> {
    let get = |e: sqlx::Error| backend(e);
    let email: Option<String> = row.try_get("email").map_err(get)?;
    let user = User {
        id: row.try_get("id").map_err(get)?,
        username: row.try_get("username").map_err(get)?,
        name: row.try_get("name").map_err(get)?,
        email: email.map(|address| Email {
            address,
            verified: row.try_get("email_verified").unwrap_or(false),
        }),
        password_hash: row.try_get("password_hash").map_err(get)?,
        roles: roles_from(&row.try_get::<String, _>("roles").map_err(get)?)?,
        active: row.try_get("active").map_err(get)?,
        created_at: from_millis(row.try_get("created_at").map_err(get)?),
    };
    let avatar = match row.try_get::<Option<String>, _>("blob_key").map_err(get)? {
        Some(blob_key) => Some(avatar_from_row(row, blob_key)?),
        None => None,
    };
    Ok(UserRecord { user, avatar })
}

fn avatar_from_row(row: &SqliteRow, blob_key: String) -> StoreResult<AvatarRecord> {
    let get = |e: sqlx::Error| backend(e);
    let origin: String = row.try_get("origin").map_err(get)?;
    Ok(AvatarRecord {
        blob_key,
        etag: row.try_get("etag").map_err(get)?,
        origin: AvatarOrigin::parse(&origin)
            .ok_or_else(|| StoreError::Backend(format!("unknown avatar origin {origin:?}")))?,
        content_type: row.try_get("content_type").map_err(get)?,
        size: row.try_get::<i64, _>("size").map_err(get)? as u64,
        uploaded_at: from_millis(row.try_get("uploaded_at").map_err(get)?),
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
        _ => backend(err),
    }
}

#[async_trait]
impl MetadataStore for SqliteMetadata {
    async fn insert_user(&self, user: &User) -> StoreResult<()> {
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
        .bind(user.email.as_ref().is_some_and(|e| e.verified))
        .bind(&user.password_hash)
        .bind(roles_json(&user.roles))
        .bind(user.active)
        .bind(millis(user.created_at))
        .execute(&self.pool)
        .await
        .map_err(conflict)?;
        Ok(())
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
        let row = sqlx::query(user_select!(
            "JOIN login_tokens t ON t.user_id = u.id WHERE t.hashed_token = $1 AND ($2 IS NULL OR u.id = $2)"
        ))
        .bind(hashed_token)
        .bind(user_id)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        row.map(|r| user_from_row(&r)).transpose()
    }

    async fn delete_user(&self, id: &str) -> StoreResult<Option<String>> {
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let key: Option<String> =
            sqlx::query_scalar("SELECT blob_key FROM avatars WHERE user_id = $1")
                .bind(id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
        for statement in [
            "DELETE FROM avatars WHERE user_id = $1",
            "DELETE FROM login_tokens WHERE user_id = $1",
            "DELETE FROM users WHERE id = $1",
        ] {
            sqlx::query(statement)
                .bind(id)
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)?;
        Ok(key)
    }

    async fn insert_login_token(
        &self,
        user_id: &str,
        hashed_token: &str,
        created_at: DateTime<Utc>,
    ) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO login_tokens (hashed_token, user_id, created_at) VALUES ($1, $2, $3)",
        )
        .bind(hashed_token)
        .bind(user_id)
        .bind(millis(created_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }

    async fn delete_login_token(&self, user_id: &str, hashed_token: &str) -> StoreResult<()> {
        sqlx::query("DELETE FROM login_tokens WHERE user_id = $1 AND hashed_token = $2")
            .bind(user_id)
            .bind(hashed_token)
            .execute(&self.pool)
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn avatar_by_exact_username(&self, username: &str) -> StoreResult<Option<AvatarRecord>> {
        let row = sqlx::query(
            "SELECT a.blob_key, a.etag, a.origin, a.content_type, a.size, a.uploaded_at \
             FROM avatars a JOIN users u ON u.id = a.user_id WHERE u.username = $1",
        )
        .bind(username)
        .fetch_optional(&self.pool)
        .await
        .map_err(backend)?;
        match row {
            Some(row) => {
                let key: String = row.try_get("blob_key").map_err(backend)?;
                Ok(Some(avatar_from_row(&row, key)?))
            }
            None => Ok(None),
        }
    }

    async fn commit_avatar(
        &self,
        user_id: &str,
        avatar: &AvatarRecord,
    ) -> StoreResult<Option<String>> {
        // IMMEDIATE takes the write lock up front: a deferred transaction that reads and then writes
        // fails with SQLITE_BUSY when another writer committed in between.
        let mut tx = self
            .pool
            .begin_with("BEGIN IMMEDIATE")
            .await
            .map_err(backend)?;
        let exists: Option<i64> = sqlx::query_scalar("SELECT 1 FROM users WHERE id = $1")
            .bind(user_id)
            .fetch_optional(&mut *tx)
            .await
            .map_err(backend)?;
        if exists.is_none() {
            return Err(StoreError::NotFound);
        }
        let replaced: Option<String> =
            sqlx::query_scalar("SELECT blob_key FROM avatars WHERE user_id = $1")
                .bind(user_id)
                .fetch_optional(&mut *tx)
                .await
                .map_err(backend)?;
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
        .map_err(backend)?;
        tx.commit().await.map_err(backend)?;
        Ok(replaced)
    }

    async fn clear_avatar(&self, user_id: &str) -> StoreResult<Option<String>> {
        sqlx::query_scalar("DELETE FROM avatars WHERE user_id = $1 RETURNING blob_key")
            .bind(user_id)
            .fetch_optional(&self.pool)
            .await
            .map_err(backend)
    }

    async fn permissions(&self) -> StoreResult<Vec<Permission>> {
        let rows = sqlx::query("SELECT id, roles, updated_at FROM permissions")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                Ok(Permission {
                    id: row.try_get("id").map_err(backend)?,
                    roles: roles_from(&row.try_get::<String, _>("roles").map_err(backend)?)?,
                    updated_at: from_millis(row.try_get("updated_at").map_err(backend)?),
                })
            })
            .collect()
    }

    async fn seed_permissions(&self, defaults: &[Permission]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for permission in defaults {
            sqlx::query("INSERT INTO permissions (id, roles, updated_at) VALUES ($1, $2, $3) ON CONFLICT (id) DO NOTHING")
                .bind(&permission.id)
                .bind(roles_json(&permission.roles))
                .bind(millis(permission.updated_at))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn update_permissions(&self, updates: &[Permission]) -> StoreResult<()> {
        let mut tx = self.pool.begin().await.map_err(backend)?;
        for permission in updates {
            sqlx::query("UPDATE permissions SET roles = $2, updated_at = $3 WHERE id = $1")
                .bind(&permission.id)
                .bind(roles_json(&permission.roles))
                .bind(millis(permission.updated_at))
                .execute(&mut *tx)
                .await
                .map_err(backend)?;
        }
        tx.commit().await.map_err(backend)
    }

    async fn settings(&self) -> StoreResult<Vec<StoredSetting>> {
        let rows = sqlx::query("SELECT id, value, updated_at FROM settings")
            .fetch_all(&self.pool)
            .await
            .map_err(backend)?;
        rows.iter()
            .map(|row| {
                let value: String = row.try_get("value").map_err(backend)?;
                Ok(StoredSetting {
                    id: row.try_get("id").map_err(backend)?,
                    value: serde_json::from_str(&value)
                        .map_err(|e| StoreError::Backend(format!("corrupt setting value: {e}")))?,
                    updated_at: from_millis(row.try_get("updated_at").map_err(backend)?),
                })
            })
            .collect()
    }

    async fn put_setting(&self, setting: &StoredSetting) -> StoreResult<()> {
        sqlx::query(
            "INSERT INTO settings (id, value, updated_at) VALUES ($1, $2, $3) \
             ON CONFLICT (id) DO UPDATE SET value = excluded.value, updated_at = excluded.updated_at",
        )
        .bind(&setting.id)
        .bind(setting.value.to_string())
        .bind(millis(setting.updated_at))
        .execute(&self.pool)
        .await
        .map_err(backend)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user(id: &str, username: &str, email: &str) -> User {
        User {
            id: id.into(),
            username: username.into(),
            name: username.into(),
            email: Some(Email {
                address: email.into(),
                verified: false,
            }),
            password_hash: None,
            roles: vec!["user".into()],
            active: true,
            created_at: Utc::now(),
        }
    }

    fn avatar(key: &str) -> AvatarRecord {
        AvatarRecord {
            blob_key: key.into(),
            etag: "e".into(),
            origin: AvatarOrigin::Rest,
            content_type: "image/png".into(),
            size: 3,
            uploaded_at: from_millis(1_700_000_000_000),
        }
    }

    #[tokio::test]
    async fn usernames_and_emails_are_unique_case_insensitively() {
        let db = SqliteMetadata::in_memory().await.unwrap();
        db.insert_user(&user("1", "Arthur", "a@example.com"))
            .await
            .unwrap();
        assert!(matches!(
            db.insert_user(&user("2", "arthur", "b@example.com")).await,
            Err(StoreError::Conflict("username"))
        ));
        assert!(matches!(
            db.insert_user(&user("3", "zaphod", "A@Example.com")).await,
            Err(StoreError::Conflict("email"))
        ));
        let found = db.user_by_username("ARTHUR").await.unwrap().unwrap();
        assert_eq!(found.user.username, "Arthur");
        assert_eq!(
            db.user_by_email("a@EXAMPLE.com")
                .await
                .unwrap()
                .unwrap()
                .user
                .id,
            "1"
        );
    }

    #[tokio::test]
    async fn avatar_commit_returns_what_it_replaced_and_exact_lookup_is_case_sensitive() {
        let db = SqliteMetadata::in_memory().await.unwrap();
        db.insert_user(&user("1", "Arthur", "a@example.com"))
            .await
            .unwrap();
        assert_eq!(db.commit_avatar("1", &avatar("1/a")).await.unwrap(), None);
        assert_eq!(
            db.commit_avatar("1", &avatar("1/b"))
                .await
                .unwrap()
                .as_deref(),
            Some("1/a")
        );
        assert_eq!(
            db.avatar_by_exact_username("Arthur").await.unwrap(),
            Some(avatar("1/b"))
        );
        assert_eq!(db.avatar_by_exact_username("arthur").await.unwrap(), None);
        assert!(matches!(
            db.commit_avatar("nobody", &avatar("x/y")).await,
            Err(StoreError::NotFound)
        ));
        assert_eq!(db.clear_avatar("1").await.unwrap().as_deref(), Some("1/b"));
        assert_eq!(db.clear_avatar("1").await.unwrap(), None);
    }

    #[tokio::test]
    async fn tokens_find_their_user_and_deleting_a_user_removes_everything() {
        let db = SqliteMetadata::in_memory().await.unwrap();
        db.insert_user(&user("1", "arthur", "a@example.com"))
            .await
            .unwrap();
        db.insert_login_token("1", "hash", Utc::now())
            .await
            .unwrap();
        db.commit_avatar("1", &avatar("1/a")).await.unwrap();
        assert!(db.user_by_token(Some("1"), "hash").await.unwrap().is_some());
        assert!(db.user_by_token(None, "hash").await.unwrap().is_some());
        assert!(db.user_by_token(Some("2"), "hash").await.unwrap().is_none());
        assert_eq!(db.delete_user("1").await.unwrap().as_deref(), Some("1/a"));
        assert!(db.user_by_token(None, "hash").await.unwrap().is_none());
        assert!(db.user_by_id("1").await.unwrap().is_none());
    }

    #[tokio::test]
    async fn permissions_seed_without_overwriting_and_settings_persist() {
        let db = SqliteMetadata::in_memory().await.unwrap();
        let p = |roles: &[&str]| Permission {
            id: "edit-other-user-avatar".into(),
            roles: roles.iter().map(|r| r.to_string()).collect(),
            updated_at: Utc::now(),
        };
        db.seed_permissions(&[p(&["admin"])]).await.unwrap();
        db.update_permissions(&[p(&["admin", "moderator"])])
            .await
            .unwrap();
        db.seed_permissions(&[p(&["admin"])]).await.unwrap();
        assert_eq!(
            db.permissions().await.unwrap()[0].roles,
            vec!["admin", "moderator"]
        );

        let s = StoredSetting {
            id: "Accounts_AvatarSize".into(),
            value: serde_json::json!(64),
            updated_at: Utc::now(),
        };
        db.put_setting(&s).await.unwrap();
        db.put_setting(&StoredSetting {
            value: serde_json::json!(128),
            ..s
        })
        .await
        .unwrap();
        assert_eq!(
            db.settings().await.unwrap()[0].value,
            serde_json::json!(128)
        );
    }
}
