//! The records the domain works with. They mirror Rocket.Chat's user document where clients see them.

use chrono::{DateTime, Utc};

/// A user account.
#[derive(Clone, Debug, PartialEq)]
pub struct User {
    /// Rocket.Chat-style 17-character id (`_id`).
    pub id: String,
    /// Unique case-insensitively; served avatars are found by the exact spelling (R6.4).
    pub username: String,
    /// Display name.
    pub name: String,
    pub email: Option<Email>,
    /// Argon2id PHC string; `None` for accounts that can only use tokens.
    pub password_hash: Option<String>,
    pub roles: Vec<String>,
    pub active: bool,
    pub created_at: DateTime<Utc>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Email {
    pub address: String,
    pub verified: bool,
}

/// A user together with the avatar fields Rocket.Chat keeps on the user document.
#[derive(Clone, Debug, PartialEq)]
pub struct UserRecord {
    pub user: User,
    pub avatar: Option<AvatarRecord>,
}

/// Where the current avatar came from: Rocket.Chat's `avatarOrigin` values.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum AvatarOrigin {
    /// A multipart upload.
    Rest,
    /// Fetched from `avatarUrl`.
    Url,
}

impl AvatarOrigin {
    pub fn as_str(self) -> &'static str {
        match self {
            AvatarOrigin::Rest => "rest",
            AvatarOrigin::Url => "url",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rest" => Some(AvatarOrigin::Rest),
            "url" => Some(AvatarOrigin::Url),
            _ => None,
        }
    }
}

/// The committed avatar of a user: which blob, and what clients need to serve and cache it.
#[derive(Clone, Debug, PartialEq)]
pub struct AvatarRecord {
    /// Key in the blob store; content-addressed, so a key's bytes never change.
    pub blob_key: String,
    /// `avatarETag`: derived from the content hash, so it changes exactly when the bytes do.
    pub etag: String,
    pub origin: AvatarOrigin,
    pub content_type: String,
    pub size: u64,
    pub uploaded_at: DateTime<Utc>,
}

/// Who changes an avatar, how and from where: what the audit trail records with the change.
#[derive(Clone, Debug)]
pub struct Audit {
    pub actor_id: String,
    pub actor_username: String,
    /// `rest` (an upload), `url`, `reset` or `restore`.
    pub action: &'static str,
    /// The client's address, when the change came over the network.
    pub ip: Option<String>,
}

/// One entry of a user's avatar audit trail.
#[derive(Clone, Debug, PartialEq)]
pub struct AvatarChange {
    pub id: i64,
    pub user_id: String,
    pub username: String,
    pub actor_id: String,
    pub actor_username: String,
    pub action: String,
    /// The avatarETag the change replaced; `None` when the user had none.
    pub previous_etag: Option<String>,
    /// The new avatarETag; `None` after a reset.
    pub etag: Option<String>,
    /// The new avatar's bytes, for restoring it while they are kept.
    pub blob_key: Option<String>,
    pub content_type: Option<String>,
    pub size: Option<u64>,
    pub ip: Option<String>,
    pub at: DateTime<Utc>,
}

/// A change of what a user's avatar shows, numbered in commit order. Clients receive it as
/// Rocket.Chat's `updateAvatar {username, etag}`.
#[derive(Clone, Debug, PartialEq)]
pub struct AvatarEvent {
    /// Increases with every event; never reused. Also the SSE event id.
    pub seq: i64,
    pub user_id: String,
    pub username: String,
    /// The new `avatarETag`; `None` when the user now shows initials (a reset, a deleted user).
    pub etag: Option<String>,
    pub at: DateTime<Utc>,
}

/// A permission and the roles that hold it.
#[derive(Clone, Debug, PartialEq)]
pub struct Permission {
    pub id: String,
    pub roles: Vec<String>,
    pub updated_at: DateTime<Utc>,
}

/// A setting value that an operator or admin changed from its default.
#[derive(Clone, Debug, PartialEq)]
pub struct StoredSetting {
    pub id: String,
    pub value: serde_json::Value,
    pub updated_at: DateTime<Utc>,
}

/// A stored login token (only its hash).
#[derive(Clone, Debug, PartialEq)]
pub struct LoginToken {
    pub user_id: String,
    pub hashed_token: String,
    pub created_at: DateTime<Utc>,
}
