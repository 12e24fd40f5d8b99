//! The audit trail of avatar changes (`avatars.history`) and restoring a previous avatar from it
//! (`avatars.restore`). Not Rocket.Chat's: its moderators can only reset an avatar, and nothing
//! records who changed it.

use std::net::IpAddr;

use chrono::Utc;

use super::{Actor, Avatars};
use crate::accounts::TargetParams;
use crate::authorization;
use crate::error::{Error, Result};
use crate::ids;
use crate::model::{AvatarChange, AvatarOrigin, AvatarRecord, UserRecord};

/// One page of a user's audit trail, newest first.
pub struct HistoryPage {
    pub changes: Vec<AvatarChange>,
    pub total: u64,
}

impl Avatars {
    /// The audit trail of the user `params` names; for those who moderate avatars.
    pub async fn history(
        &self,
        caller: &UserRecord,
        params: &TargetParams,
        offset: u64,
        count: u64,
    ) -> Result<HistoryPage> {
        let moderates = self
            .authz
            .has_permission(&caller.user, authorization::EDIT_OTHER_USER_AVATAR)
            || self
                .authz
                .has_permission(&caller.user, authorization::MANAGE_MODERATION_ACTIONS);
        if !moderates {
            return Err(Error::missing_permission());
        }
        let target = self.accounts.user_from_params(params).await?;
        let (changes, total) = self
            .store
            .avatar_history(&target.user.id, offset, count)
            .await?;
        Ok(HistoryPage { changes, total })
    }

    /// Make the avatar of audit entry `change_id` the current one again, while its bytes are kept.
    pub async fn restore(
        &self,
        caller: &UserRecord,
        params: &TargetParams,
        change_id: i64,
        ip: Option<IpAddr>,
    ) -> Result<AvatarRecord> {
        self.authz
            .require(&caller.user, authorization::EDIT_OTHER_USER_AVATAR)?;
        let target = self.accounts.user_from_params(params).await?;
        let not_restorable = |reason: &str| {
            Error::meteor(
                "error-avatar-not-restorable",
                Some(reason),
                Some(serde_json::json!({"historyId": change_id})),
            )
        };
        let change = self
            .store
            .avatar_change(change_id)
            .await?
            .filter(|change| change.user_id == target.user.id)
            .ok_or_else(|| not_restorable("No such change in this user's avatar history"))?;
        let (Some(blob_key), Some(etag), Some(content_type), Some(size)) = (
            change.blob_key,
            change.etag,
            change.content_type,
            change.size,
        ) else {
            return Err(not_restorable("This change removed the avatar"));
        };
        let Some(bytes) = self.blobs.get(&blob_key).await? else {
            return Err(not_restorable("This avatar is no longer kept"));
        };
        // Under a key of its own, as every write: the sweep may be removing the old key just now,
        // and a key once replaced is never referenced again.
        let record = AvatarRecord {
            blob_key: format!("{}/{}-{}", target.user.id, etag, ids::new_id()),
            etag,
            origin: AvatarOrigin::Rest,
            content_type,
            size,
            uploaded_at: Utc::now(),
        };
        self.blobs.put(&record.blob_key, bytes).await?;
        let actor = Actor {
            user: &caller.user,
            ip,
        };
        self.commit(&target.user, record, &actor.audit("restore"))
            .await
    }
}
