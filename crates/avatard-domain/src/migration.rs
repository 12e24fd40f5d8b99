//! Copying a whole deployment to other stores: every user (with password hash and login tokens),
//! setting, permission and avatar, e.g. from embedded SQLite + files to PostgreSQL + S3.
//!
//! The copy is resumable: users and avatars already at the destination are verified and skipped, so
//! an interrupted run is simply started again. Every avatar is verified by its content hash (part of
//! its key) when read from the source and again after it was written to the destination, and its
//! record is committed only then, so the destination never names a blob it does not hold intact.

use std::sync::Arc;

use crate::error::{Error, Result, StoreError};
use crate::ids;
use crate::model::AvatarRecord;
use crate::store::{BlobStore, MetadataStore};

/// One deployment's stores.
pub struct Deployment {
    pub metadata: Arc<dyn MetadataStore>,
    pub blobs: Arc<dyn BlobStore>,
}

/// What a copy did.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct MigrationReport {
    pub users_copied: usize,
    pub users_present: usize,
    pub avatars_copied: usize,
    pub avatars_present: usize,
    pub avatar_bytes: u64,
    pub settings: usize,
    pub permissions: usize,
    pub login_tokens: usize,
}

/// Copy everything from `from` to `to`; `progress(done, total)` after each user.
pub async fn migrate(
    from: &Deployment,
    to: &Deployment,
    mut progress: impl FnMut(usize, usize),
) -> Result<MigrationReport> {
    let mut report = MigrationReport::default();

    let settings = from.metadata.settings().await?;
    for setting in &settings {
        to.metadata.put_setting(setting).await?;
    }
    report.settings = settings.len();
    let permissions = from.metadata.permissions().await?;
    to.metadata.update_permissions(&permissions).await?;
    report.permissions = permissions.len();

    let users = from.metadata.all_users().await?;
    for (done, record) in users.iter().enumerate() {
        match to.metadata.user_by_id(&record.user.id).await? {
            Some(_) => report.users_present += 1,
            None => {
                to.metadata.insert_user(&record.user).await.map_err(|err| match err {
                    StoreError::Conflict(field) => Error::internal(format!(
                        "user {} ({}) collides on {field} with a different user at the destination",
                        record.user.username, record.user.id
                    )),
                    other => other.into(),
                })?;
                report.users_copied += 1;
            }
        }
        if let Some(avatar) = &record.avatar {
            if copy_avatar(from, to, &record.user.id, avatar).await? {
                report.avatars_copied += 1;
                report.avatar_bytes += avatar.size;
            } else {
                report.avatars_present += 1;
            }
        }
        progress(done + 1, users.len());
    }

    let tokens = from.metadata.all_login_tokens().await?;
    for token in &tokens {
        to.metadata
            .insert_login_token(&token.user_id, &token.hashed_token, token.created_at)
            .await?;
    }
    report.login_tokens = tokens.len();
    Ok(report)
}

/// The content hash a blob key carries (`<user>/<sha256>-<nonce>`).
fn expected_hash(key: &str) -> Option<&str> {
    let name = key.rsplit('/').next()?;
    let hash = name.split('-').next()?;
    (hash.len() == 64).then_some(hash)
}

fn verify(key: &str, bytes: &[u8], side: &str) -> Result<()> {
    let expected = expected_hash(key)
        .ok_or_else(|| Error::internal(format!("blob key {key} carries no content hash")))?;
    if ids::sha256_hex(bytes) == expected {
        Ok(())
    } else {
        Err(Error::internal(format!(
            "blob {key} does not match its content hash at the {side}"
        )))
    }
}

/// Copy one avatar unless the destination already has it intact; returns whether it copied.
async fn copy_avatar(
    from: &Deployment,
    to: &Deployment,
    user_id: &str,
    avatar: &AvatarRecord,
) -> Result<bool> {
    let key = &avatar.blob_key;
    let committed = to
        .metadata
        .user_by_id(user_id)
        .await?
        .and_then(|u| u.avatar)
        .is_some_and(|current| current.blob_key == *key);
    if committed && let Some(bytes) = to.blobs.get(key).await? {
        verify(key, &bytes, "destination")?;
        return Ok(false);
    }
    let bytes = from.blobs.get(key).await?.ok_or_else(|| {
        Error::internal(format!("the source has no blob {key} for user {user_id}"))
    })?;
    verify(key, &bytes, "source")?;
    to.blobs.put(key, bytes).await?;
    let written = to
        .blobs
        .get(key)
        .await?
        .ok_or_else(|| Error::internal(format!("blob {key} vanished after writing it")))?;
    verify(key, &written, "destination")?;
    to.metadata.commit_avatar(user_id, avatar, None).await?;
    Ok(true)
}

#[cfg(test)]
mod tests {
    use super::expected_hash;

    #[test]
    fn keys_carry_their_hash() {
        let hash = "a".repeat(64);
        assert_eq!(
            expected_hash(&format!("user/{hash}-n0nce")),
            Some(hash.as_str())
        );
        assert_eq!(expected_hash("user/short-n0nce"), None);
    }
}
