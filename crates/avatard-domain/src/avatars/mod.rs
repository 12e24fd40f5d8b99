//! Avatars: who may change whose avatar, turning untrusted bytes or URLs into a stored avatar, and
//! what `/avatar/...` shows.
//!
//! The write path never loses an avatar: the new image is decoded, processed and written to the blob
//! store before the user's record is switched to it in one transaction, and the replaced blob is
//! removed only after that commit. A rejected upload therefore changes nothing. Every commit appends
//! an avatar event, which every replica applies (see [`crate::events`]).

mod history;
mod provider;
mod serve;

pub use history::HistoryPage;
pub use provider::Proxied;
pub use serve::{AvatarView, INITIALS_LAST_MODIFIED, Representation, StoredFile, Variant};

use std::collections::HashSet;
use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use avatard_fetch::{Allowlist, FetchError, FetchPolicy, Fetcher};
use avatard_imaging::{AvatarOptions, Limits, Sniffed};
use bytes::Bytes;
use chrono::Utc;
use serde_json::json;
use tokio::sync::Semaphore;

use crate::DomainConfig;
use crate::accounts::{Accounts, TargetParams};
use crate::authorization::{self, Authorization};
use crate::directory::Directory;
use crate::error::{Error, Result, StoreError};
use crate::events::AvatarEvents;
use crate::ids;
use crate::model::{Audit, AvatarOrigin, AvatarRecord, User, UserRecord};
use crate::settings::{self, Settings};
use crate::size::human_size;
use crate::store::{BlobStore, MetadataStore, take_lease};

/// The lease that makes one replica at a time run the orphan sweep.
const SWEEP_LEASE: &str = "orphan-sweep";

/// How long fetching an `avatarUrl` may take, all included (R3.4).
const URL_FETCH_TIMEOUT: Duration = Duration::from_secs(10);

/// An uploaded image file, as the multipart parser delivered it.
pub struct Upload {
    pub bytes: Bytes,
}

/// Who asks for an avatar change and from where, for the audit trail.
#[derive(Clone, Copy)]
pub struct Actor<'a> {
    pub user: &'a User,
    pub ip: Option<IpAddr>,
}

impl Actor<'_> {
    fn audit(&self, action: &'static str) -> Audit {
        Audit {
            actor_id: self.user.id.clone(),
            actor_username: self.user.username.clone(),
            action,
            ip: self.ip.map(|ip| ip.to_string()),
        }
    }
}

#[derive(Clone)]
pub struct Avatars {
    store: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    settings: Settings,
    authz: Authorization,
    accounts: Accounts,
    fetcher: Fetcher,
    /// Bounds concurrent image decoding: each decode may hold hundreds of MB of pixels.
    image_work: Arc<Semaphore>,
    /// Users as `/avatar/...` shows them.
    directory: Directory,
    events: AvatarEvents,
    /// Encoded images by what determines their bytes, bounded by size.
    representations: serve::Representations,
    /// Recent answers of the external avatar provider, by URL.
    provider_answers: provider::ProviderAnswers,
    /// The most bytes ever read for one image, whatever `FileUpload_MaxFileSize` says.
    upload_ceiling: u64,
}

impl Avatars {
    pub(crate) fn new(
        store: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        settings: Settings,
        authz: Authorization,
        accounts: Accounts,
        events: AvatarEvents,
        config: &DomainConfig,
    ) -> Self {
        Avatars {
            store,
            blobs,
            settings,
            authz,
            accounts,
            fetcher: Fetcher::new(),
            image_work: Arc::new(Semaphore::new(config.image_workers.max(1))),
            directory: events.directory().clone(),
            events,
            representations: serve::representations(config.avatar_cache_bytes),
            provider_answers: provider::answers(),
            upload_ceiling: config.upload_ceiling,
        }
    }

    /// How many bytes of an uploaded file to accept before failing it as truncated (R3.3): the
    /// `FileUpload_MaxFileSize` setting when it is positive, never more than the operator's ceiling.
    pub fn upload_stream_limit(&self) -> u64 {
        match self.settings.int(settings::MAX_FILE_SIZE) {
            limit if limit > 0 => (limit as u64).min(self.upload_ceiling),
            _ => self.upload_ceiling,
        }
    }

    /// R3.2 steps 3–4: may the caller set an avatar, and for whom (from the JSON body only).
    pub async fn authorize_set(
        &self,
        caller: &UserRecord,
        params: &TargetParams,
    ) -> Result<UserRecord> {
        let can_edit = self
            .authz
            .has_permission(&caller.user, authorization::EDIT_OTHER_USER_AVATAR);
        if !self.settings.bool(settings::ALLOW_USER_AVATAR_CHANGE) && !can_edit {
            return Err(Error::meteor(
                "error-not-allowed",
                Some("Change avatar is not allowed"),
                Some(json!({"method": "users.setAvatar"})),
            ));
        }
        if params.names_self(&caller.user) {
            return Ok(caller.clone());
        }
        if !can_edit {
            return Err(Error::forbidden());
        }
        self.accounts.user_from_params(params).await
    }

    /// R3.2 step 7: multipart form fields `userId` (preferred) or `username` replace the target.
    pub async fn retarget_upload(
        &self,
        caller: &UserRecord,
        target: UserRecord,
        form_user_id: Option<&str>,
        form_username: Option<&str>,
    ) -> Result<UserRecord> {
        let found = match (
            form_user_id.filter(|v| !v.is_empty()),
            form_username.filter(|v| !v.is_empty()),
        ) {
            (Some(id), _) => self.accounts.by_id(id).await?,
            (None, Some(name)) => self.accounts.by_username(name).await?,
            (None, None) => return Ok(target),
        };
        let Some(found) = found else {
            return Err(Error::meteor(
                "error-invalid-user",
                Some(
                    r#"The optional "userId" or "username" param provided does not match any users"#,
                ),
                None,
            ));
        };
        if found.user.id != caller.user.id
            && !self
                .authz
                .has_permission(&caller.user, authorization::EDIT_OTHER_USER_AVATAR)
        {
            return Err(Error::meteor(
                "error-not-allowed",
                Some("Not allowed"),
                None,
            ));
        }
        Ok(found)
    }

    /// R3.5, "rest" flow: store an uploaded file as the target's avatar.
    pub async fn set_from_upload(
        &self,
        target: &User,
        upload: Upload,
        actor: Actor<'_>,
    ) -> Result<AvatarRecord> {
        self.store_avatar(target, upload.bytes, AvatarOrigin::Rest, actor)
            .await
    }

    /// R3.4: fetch `url` through the SSRF-checked client and store it as the target's avatar.
    pub async fn set_from_url(
        &self,
        target: &User,
        url: &str,
        actor: Actor<'_>,
    ) -> Result<AvatarRecord> {
        let invalid_encoded = || invalid_url(&encode_uri(url), url);
        let policy = FetchPolicy {
            allowlist: Allowlist::parse(&self.settings.string(settings::SSRF_ALLOWLIST)),
            max_bytes: Some(self.upload_stream_limit()),
            timeout: URL_FETCH_TIMEOUT,
        };
        let fetched = match self.fetcher.get(url, &policy).await {
            Ok(fetched) => fetched,
            Err(FetchError::TooLarge(_)) => return Err(self.too_large()),
            Err(err) => {
                tracing::info!(%url, %err, "avatar URL refused or unreachable");
                return Err(invalid_encoded());
            }
        };
        match fetched.status {
            200 => {}
            404 => return Err(invalid_url(url, url)),
            _ => {
                return Err(Error::meteor(
                    "error-avatar-url-handling",
                    Some(&format!(
                        "Error while handling avatar setting from a URL ({}) for {}",
                        encode_uri(url),
                        target.username
                    )),
                    Some(
                        json!({"function": "RocketChat.setUserAvatar", "url": url, "username": target.username}),
                    ),
                ));
            }
        }
        let is_image = fetched
            .content_type
            .as_deref()
            .and_then(|ct| ct.find("image/").map(|at| ct.len() > at + "image/".len()))
            .unwrap_or(false);
        if !is_image {
            return Err(invalid_url(url, url));
        }
        self.store_avatar(target, fetched.body, AvatarOrigin::Url, actor)
            .await
    }

    fn too_large(&self) -> Error {
        let limit = self.settings.int(settings::MAX_FILE_SIZE);
        let limit = if limit >= 0 {
            limit as u64
        } else {
            self.upload_ceiling
        };
        Error::meteor(
            "error-file-too-large",
            Some(&format!(
                "File size exceeds upload limit of {}.",
                human_size(limit)
            )),
            None,
        )
    }

    /// The shared tail of both flows: validate, process, write the blob, switch the record, clean up.
    async fn store_avatar(
        &self,
        target: &User,
        bytes: Bytes,
        origin: AvatarOrigin,
        actor: Actor<'_>,
    ) -> Result<AvatarRecord> {
        if bytes.is_empty() {
            return Err(Error::meteor(
                "file-too-small",
                Some("File size (size = 0) is too small (min = 1)"),
                None,
            ));
        }
        let max = self.settings.int(settings::MAX_FILE_SIZE);
        if max > -1 && bytes.len() as u64 > max as u64 || bytes.len() as u64 > self.upload_ceiling {
            return Err(self.too_large());
        }
        if let Sniffed::Unknown = avatard_imaging::sniff(&bytes) {
            return Err(Error::meteor(
                "error-invalid-file-type",
                Some("File type is not accepted."),
                None,
            ));
        }
        let avatar = self.process(bytes).await?;
        let hash = ids::sha256_hex(&avatar.bytes);
        let record = AvatarRecord {
            // The content hash names the bytes; the nonce makes every write's key new, so deleting a
            // replaced key can never delete bytes another request (or replica) is about to commit.
            blob_key: format!("{}/{hash}-{}", target.id, ids::new_id()),
            etag: hash[..32].to_owned(),
            origin,
            content_type: avatar.format.mime().to_owned(),
            size: avatar.bytes.len() as u64,
            uploaded_at: Utc::now(),
        };

        self.blobs
            .put(&record.blob_key, Bytes::from(avatar.bytes))
            .await?;
        self.commit(target, record, &actor.audit(origin.as_str()))
            .await
    }

    /// Make `record` (whose bytes are stored) the target's avatar, then tidy up what it replaced.
    async fn commit(
        &self,
        target: &User,
        record: AvatarRecord,
        audit: &Audit,
    ) -> Result<AvatarRecord> {
        let replaced = match self
            .store
            .commit_avatar(&target.id, &record, Some(audit))
            .await
        {
            Ok(replaced) => replaced,
            Err(err) => {
                self.discard_blob(&record.blob_key).await;
                return Err(match err {
                    StoreError::NotFound => {
                        Error::meteor("error-invalid-user", Some("Invalid user"), None)
                    }
                    other => other.into(),
                });
            }
        };
        self.events.committed(&target.id, &target.username).await;
        if let Some(old) = replaced {
            self.discard_replaced(&old).await;
        }
        Ok(record)
    }

    /// Decode and process on the blocking pool, a bounded number at a time.
    async fn process(&self, bytes: Bytes) -> Result<avatard_imaging::Avatar> {
        let size = self.settings.int(settings::AVATAR_SIZE).clamp(16, 1024) as u32;
        let options = AvatarOptions {
            size,
            resize: self.settings.bool(settings::AVATAR_RESIZE),
            auto_orient: self.settings.bool(settings::ROTATE_IMAGES),
            animated: self.settings.bool(settings::AVATAR_ANIMATED),
            output: None,
            limits: Limits::default(),
        };
        self.on_image_pool(move || avatard_imaging::process_avatar(&bytes, &options))
            .await?
            .map_err(|err| Error::meteor("error-invalid-file-type", Some(&err.to_string()), None))
    }

    /// Run image work on the blocking pool, a bounded number of jobs at a time.
    async fn on_image_pool<T, F>(&self, work: F) -> Result<T>
    where
        F: FnOnce() -> T + Send + 'static,
        T: Send + 'static,
    {
        let _permit = self.image_work.acquire().await.map_err(Error::internal)?;
        tokio::task::spawn_blocking(work)
            .await
            .map_err(Error::internal)
    }

    /// The bytes of a replaced avatar go at once, unless the audit trail keeps previous avatars for
    /// restoring; then the orphan sweep removes them once they are no longer among the kept.
    async fn discard_replaced(&self, key: &str) {
        if self.kept_previous() == 0 {
            self.discard_blob(key).await;
        }
    }

    fn kept_previous(&self) -> u32 {
        u32::try_from(self.settings.int(settings::AVATAR_HISTORY_KEPT)).unwrap_or(0)
    }

    async fn discard_blob(&self, key: &str) {
        discard_blob(self.blobs.as_ref(), key).await;
    }

    /// Remove blobs that no avatar record names and that are older than `grace`: writes whose commit
    /// never happened (a crash, a failed commit) or whose clean-up failed. Because keys are never
    /// reused and a commit follows its write within seconds, nothing older than `grace` can still
    /// become referenced. Only the replica holding the sweep lease (for `lease_for`) sweeps; the
    /// others get `None`.
    pub async fn sweep_orphans(
        &self,
        holder: &str,
        grace: Duration,
        lease_for: Duration,
    ) -> Result<Option<usize>> {
        if !take_lease(self.store.as_ref(), SWEEP_LEASE, holder, lease_for).await? {
            return Ok(None);
        }
        let now = Utc::now();
        let cutoff = now - chrono::Duration::from_std(grace).map_err(Error::internal)?;
        let referenced: HashSet<String> = self
            .store
            .referenced_blob_keys(self.kept_previous())
            .await?
            .into_iter()
            .collect();
        let mut removed = 0;
        for blob in self.blobs.list().await? {
            // A rendition (`<key>.<suffix>`, see `serve::rendition`) lives as long as its avatar.
            let avatar_key = blob.key.split_once('.').map_or(&*blob.key, |(key, _)| key);
            if blob.written_at < cutoff && !referenced.contains(avatar_key) {
                self.blobs.delete(&blob.key).await?;
                removed += 1;
            }
        }
        Ok(Some(removed))
    }

    /// `users.resetAvatar` (R4.1–R4.5).
    pub async fn reset(
        &self,
        caller: &UserRecord,
        params: &TargetParams,
        ip: Option<IpAddr>,
    ) -> Result<()> {
        let target = self.accounts.user_from_params(params).await?;
        let allow_change = self.settings.bool(settings::ALLOW_USER_AVATAR_CHANGE);
        let caller_user = &caller.user;
        let resets_own = allow_change && target.user.id == caller_user.id;
        let moderates = self
            .authz
            .has_permission(caller_user, authorization::EDIT_OTHER_USER_AVATAR)
            || self
                .authz
                .has_permission(caller_user, authorization::MANAGE_MODERATION_ACTIONS);
        if !(resets_own || moderates) {
            return Err(Error::meteor(
                "error-not-allowed",
                Some("Reset avatar is not allowed"),
                Some(json!({"method": "users.resetAvatar"})),
            ));
        }
        // The inner reset re-checks only `edit-other-user-avatar`, so moderation alone never suffices.
        let can_edit = self
            .authz
            .has_permission(caller_user, authorization::EDIT_OTHER_USER_AVATAR);
        if !allow_change && !can_edit {
            return Err(Error::meteor(
                "error-not-allowed",
                Some("Not allowed"),
                Some(json!({"method": "resetAvatar"})),
            ));
        }
        if target.user.id != caller_user.id && !can_edit {
            return Err(Error::meteor(
                "error-unauthorized",
                Some("Unauthorized"),
                None,
            ));
        }
        let actor = Actor {
            user: caller_user,
            ip,
        };
        if let Some(old) = self
            .store
            .clear_avatar(&target.user.id, Some(&actor.audit("reset")))
            .await?
        {
            self.events
                .committed(&target.user.id, &target.user.username)
                .await;
            self.discard_replaced(&old).await;
        }
        Ok(())
    }
}

impl Avatars {
    /// `users.getAvatarSuggestion` (R5.2): a Gravatar for the user's email, only when the operator
    /// enabled `Accounts_AvatarSuggestGravatar`; an unreachable or missing Gravatar suggests nothing.
    pub async fn suggestions(&self, user: &User) -> serde_json::Map<String, serde_json::Value> {
        let mut suggestions = serde_json::Map::new();
        let Some(email) = user
            .email
            .as_ref()
            .filter(|_| self.settings.bool(settings::AVATAR_SUGGEST_GRAVATAR))
        else {
            return suggestions;
        };
        // Gravatar accepts SHA-256 of the trimmed, lower-cased address.
        let hash = ids::sha256_hex(email.address.trim().to_lowercase().as_bytes());
        let url = format!("https://www.gravatar.com/avatar/{hash}?default=404&size=200");
        let policy = FetchPolicy {
            allowlist: Allowlist::default(),
            max_bytes: Some(self.upload_stream_limit()),
            timeout: URL_FETCH_TIMEOUT,
        };
        match self.fetcher.get(&url, &policy).await {
            Ok(fetched) if fetched.status == 200 => {
                let content_type = fetched
                    .content_type
                    .unwrap_or_else(|| "image/jpeg".to_owned());
                let blob = format!(
                    "data:{content_type};base64,{}",
                    base64::Engine::encode(
                        &base64::engine::general_purpose::STANDARD,
                        &fetched.body
                    )
                );
                suggestions.insert(
                    "gravatar".into(),
                    json!({"blob": blob, "contentType": content_type, "service": "gravatar", "url": url}),
                );
            }
            Ok(_) => {}
            Err(err) => tracing::debug!(%err, "no Gravatar suggestion"),
        }
        suggestions
    }
}

/// `error-avatar-invalid-url`: the reason shows `shown` (encoded or not, depending on the branch,
/// as in Rocket.Chat), the details the URL as given.
fn invalid_url(shown: &str, url: &str) -> Error {
    Error::meteor(
        "error-avatar-invalid-url",
        Some(&format!("Invalid avatar URL: {shown}")),
        Some(json!({"function": "setUserAvatar", "url": url})),
    )
}

/// JavaScript's `encodeURI`: percent-encode everything but the URI's reserved and unreserved marks.
pub fn encode_uri(s: &str) -> String {
    percent_encode_except(s, b";,/?:@&=+$-_.!~*'()#")
}

/// JavaScript's `encodeURIComponent`: percent-encode everything but the unreserved marks, so the
/// result is one path segment or query value.
pub fn encode_uri_component(s: &str) -> String {
    percent_encode_except(s, b"-_.!~*'()")
}

/// Percent-encode every byte of `s` (UTF-8) but ASCII letters, digits and `keep`.
fn percent_encode_except(s: &str, keep: &[u8]) -> String {
    let mut out = String::with_capacity(s.len());
    for byte in s.bytes() {
        if byte.is_ascii_alphanumeric() || keep.contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

/// Removes an avatar's bytes that nothing references any more, with the renditions made of them
/// (`<key>.<suffix>`, see `serve::rendition`). Unreferenced either way: a failure leaves only
/// garbage for the orphan sweep, never a broken avatar.
pub(crate) async fn discard_blob(blobs: &dyn BlobStore, key: &str) {
    let mut doomed = vec![key.to_owned()];
    if let Some((folder, _)) = key.split_once('/') {
        match blobs.list_folder(folder).await {
            Ok(keys) => doomed.extend(keys.into_iter().filter(|other| {
                other
                    .strip_prefix(key)
                    .is_some_and(|suffix| suffix.starts_with('.'))
            })),
            Err(err) => tracing::warn!(%key, %err, "could not list an avatar's renditions"),
        }
    }
    for key in doomed {
        if let Err(err) = blobs.delete(&key).await {
            tracing::warn!(%key, %err, "could not remove an unreferenced avatar blob");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{encode_uri, encode_uri_component};

    #[test]
    fn encode_uri_matches_javascript() {
        assert_eq!(
            encode_uri("http://a.b/c d?e=f&g#h"),
            "http://a.b/c%20d?e=f&g#h"
        );
        assert_eq!(encode_uri("http://x/ä%"), "http://x/%C3%A4%25");
        assert_eq!(encode_uri("http://x/[1]"), "http://x/%5B1%5D");
    }

    #[test]
    fn encode_uri_component_matches_javascript() {
        // encodeURIComponent("a b/c?d=é!~*'()") in a browser.
        assert_eq!(
            encode_uri_component("a b/c?d=é!~*'()"),
            "a%20b%2Fc%3Fd%3D%C3%A9!~*'()"
        );
    }
}
