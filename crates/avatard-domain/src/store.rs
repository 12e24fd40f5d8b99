//! The two storage ports of the domain: metadata (users, tokens, permissions, settings, which avatar is
//! current) and blobs (the avatar bytes). Each has an embedded implementation and a scale-out one; the
//! domain only ever sees these traits.
//!
//! Invariant: a blob is written and durable before the metadata row that names it is committed, and is
//! deleted only after the row stops naming it. So a crash at any point leaves a user with the old or the
//! new avatar, never a row that points at nothing.

use async_trait::async_trait;
use bytes::Bytes;
use chrono::{DateTime, Utc};

use crate::error::StoreError;
use crate::model::{
    Audit, AvatarChange, AvatarEvent, AvatarRecord, LoginToken, Permission, StoredSetting, User,
    UserRecord,
};

pub type StoreResult<T> = Result<T, StoreError>;

/// Users, login tokens, permissions, settings and avatar records.
#[async_trait]
pub trait MetadataStore: Send + Sync + 'static {
    /// Insert a new user; `StoreError::Conflict` when the id, username (case-insensitively) or email is taken.
    async fn insert_user(&self, user: &User) -> StoreResult<()>;
    async fn user_by_id(&self, id: &str) -> StoreResult<Option<UserRecord>>;
    /// Case-insensitive, like Rocket.Chat's username lookups.
    async fn user_by_username(&self, username: &str) -> StoreResult<Option<UserRecord>>;
    /// Case-insensitive.
    async fn user_by_email(&self, email: &str) -> StoreResult<Option<UserRecord>>;
    /// The user owning a login token, found by the token's hash; `user_id` narrows it when given.
    async fn user_by_token(
        &self,
        user_id: Option<&str>,
        hashed_token: &str,
    ) -> StoreResult<Option<UserRecord>>;
    /// Delete a user with their tokens and avatar record, appending an [`AvatarEvent`] without etag;
    /// returns the avatar's blob key, if any, so the caller can remove the blob once the row is gone.
    async fn delete_user(&self, id: &str) -> StoreResult<Option<String>>;

    async fn insert_login_token(
        &self,
        user_id: &str,
        hashed_token: &str,
        created_at: DateTime<Utc>,
    ) -> StoreResult<()>;
    async fn delete_login_token(&self, user_id: &str, hashed_token: &str) -> StoreResult<()>;

    /// Make `avatar` the user's current avatar and append its [`AvatarEvent`] and, given an
    /// `audit`, an [`AvatarChange`] to the audit trail, in one transaction; returns the blob key
    /// it replaced.
    async fn commit_avatar(
        &self,
        user_id: &str,
        avatar: &AvatarRecord,
        audit: Option<&Audit>,
    ) -> StoreResult<Option<String>>;
    /// Remove the user's avatar record and, when there was one, append an [`AvatarEvent`] without
    /// etag and the `audit` entry, in one transaction; returns the blob key it named.
    async fn clear_avatar(
        &self,
        user_id: &str,
        audit: Option<&Audit>,
    ) -> StoreResult<Option<String>>;

    /// A page of the user's audit trail, newest first, and how many entries it has in all.
    async fn avatar_history(
        &self,
        user_id: &str,
        offset: u64,
        count: u64,
    ) -> StoreResult<(Vec<AvatarChange>, u64)>;
    /// One entry of the audit trail.
    async fn avatar_change(&self, id: i64) -> StoreResult<Option<AvatarChange>>;

    /// Up to `limit` avatar events after sequence number `after`, oldest first. Every event a
    /// reader can see was committed after all events with smaller numbers.
    async fn avatar_events(&self, after: i64, limit: u32) -> StoreResult<Vec<AvatarEvent>>;
    /// The newest event's sequence number; 0 before the first event.
    async fn last_avatar_event(&self) -> StoreResult<i64>;
    /// The oldest event still kept (after pruning); `None` when there is none.
    async fn first_avatar_event(&self) -> StoreResult<Option<i64>>;
    /// Forget events older than `before`; returns how many.
    async fn prune_avatar_events(&self, before: DateTime<Utc>) -> StoreResult<u64>;
    /// How far the consumer `name` has processed the event log; 0 when it never has.
    async fn cursor(&self, name: &str) -> StoreResult<i64>;
    async fn set_cursor(&self, name: &str, seq: i64) -> StoreResult<()>;

    async fn permissions(&self) -> StoreResult<Vec<Permission>>;
    /// Insert the permissions that do not exist yet; existing ones keep their (possibly edited) roles.
    async fn seed_permissions(&self, defaults: &[Permission]) -> StoreResult<()>;
    /// Replace the roles of several permissions in one transaction.
    async fn update_permissions(&self, updates: &[Permission]) -> StoreResult<()>;

    async fn settings(&self) -> StoreResult<Vec<StoredSetting>>;
    async fn put_setting(&self, setting: &StoredSetting) -> StoreResult<()>;

    /// Every user with their avatar record, for copying a deployment.
    async fn all_users(&self) -> StoreResult<Vec<UserRecord>>;
    /// Every login token, for copying a deployment without logging everyone out.
    async fn all_login_tokens(&self) -> StoreResult<Vec<LoginToken>>;
    /// The blob keys the orphan sweep keeps: those avatar records name, and those of the newest
    /// `kept_previous + 1` audit entries of every existing user (the current avatar and
    /// `kept_previous` before it, for restoring).
    async fn referenced_blob_keys(&self, kept_previous: u32) -> StoreResult<Vec<String>>;

    /// Take or renew the lease `name` for `holder` until `expires_at`; false while another holder's
    /// lease is still valid. Lets one replica at a time run periodic work.
    async fn try_lease(
        &self,
        name: &str,
        holder: &str,
        now: DateTime<Utc>,
        expires_at: DateTime<Utc>,
    ) -> StoreResult<bool>;

    /// Succeeds when the database answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
}

/// Take or renew the lease `name` for `holder` for `lease_for` from now; false while another holder's
/// lease is still valid.
pub(crate) async fn take_lease(
    store: &dyn MetadataStore,
    name: &str,
    holder: &str,
    lease_for: std::time::Duration,
) -> crate::Result<bool> {
    let now = Utc::now();
    let until = now + chrono::Duration::from_std(lease_for).map_err(crate::Error::internal)?;
    Ok(store.try_lease(name, holder, now, until).await?)
}

/// A blob and when it was written, for the orphan sweep.
#[derive(Clone, Debug)]
pub struct BlobInfo {
    pub key: String,
    pub written_at: DateTime<Utc>,
}

/// Immutable avatar bytes. Keys are never reused: each write gets a fresh key (content hash plus a
/// nonce), so removing a replaced blob can never remove bytes another writer is about to commit.
#[async_trait]
pub trait BlobStore: Send + Sync + 'static {
    /// Store `bytes` under `key` durably (it survives a crash once this returns). Writing a key that
    /// exists is allowed and leaves the same bytes.
    async fn put(&self, key: &str, bytes: Bytes) -> StoreResult<()>;
    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>>;
    /// Remove a blob; removing a missing blob is not an error.
    async fn delete(&self, key: &str) -> StoreResult<()>;
    /// Remove what interrupted writes left behind (run at startup); returns how many were removed.
    async fn sweep_incomplete(&self) -> StoreResult<usize>;
    /// Every blob.
    async fn list(&self) -> StoreResult<Vec<BlobInfo>>;
    /// The keys in one folder (the part of a key before its `/`): one user's blobs.
    async fn list_folder(&self, folder: &str) -> StoreResult<Vec<String>>;
    /// Succeeds when the store answers (readiness).
    async fn ping(&self) -> StoreResult<()>;
}
