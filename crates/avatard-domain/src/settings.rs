//! Rocket.Chat settings that govern avatars, accounts and uploads: their types, defaults, and the
//! values admins changed.
//!
//! Reads are hot (every avatar request consults several settings), so the current values live in
//! memory; a change is written to the metadata store first and only then published in memory, so a
//! value that was acknowledged is never lost on restart. The few that every avatar request reads
//! are mirrored once more, in atomics ([`AvatarServing`]).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::sync::{Arc, RwLock};

use chrono::Utc;
use serde_json::Value;

use crate::changes::{Change, ChangeFeed};
use crate::error::{Error, Result};
use crate::model::StoredSetting;
use crate::store::MetadataStore;

/// The shape a setting's value must have.
#[derive(Clone, Copy, Debug)]
pub enum SettingType {
    Boolean,
    Int,
    String,
    /// One of a fixed list of strings.
    Select(&'static [&'static str]),
}

/// A setting the server knows.
#[derive(Debug)]
pub struct SettingDefinition {
    pub id: &'static str,
    pub kind: SettingType,
    default: DefaultValue,
}

#[derive(Debug)]
enum DefaultValue {
    Bool(bool),
    Int(i64),
    Str(&'static str),
}

impl SettingDefinition {
    pub fn default_value(&self) -> Value {
        match self.default {
            DefaultValue::Bool(b) => Value::Bool(b),
            DefaultValue::Int(i) => Value::from(i),
            DefaultValue::Str(s) => Value::from(s),
        }
    }

    fn accepts(&self, value: &Value) -> bool {
        match self.kind {
            SettingType::Boolean => value.is_boolean(),
            SettingType::Int => value.as_i64().is_some(),
            SettingType::String => value.is_string(),
            SettingType::Select(options) => value.as_str().is_some_and(|v| options.contains(&v)),
        }
    }
}

const fn boolean(id: &'static str, default: bool) -> SettingDefinition {
    SettingDefinition {
        id,
        kind: SettingType::Boolean,
        default: DefaultValue::Bool(default),
    }
}

const fn int(id: &'static str, default: i64) -> SettingDefinition {
    SettingDefinition {
        id,
        kind: SettingType::Int,
        default: DefaultValue::Int(default),
    }
}

const fn string(id: &'static str, default: &'static str) -> SettingDefinition {
    SettingDefinition {
        id,
        kind: SettingType::String,
        default: DefaultValue::Str(default),
    }
}

pub const ALLOW_USER_AVATAR_CHANGE: &str = "Accounts_AllowUserAvatarChange";
pub const AVATAR_RESIZE: &str = "Accounts_AvatarResize";
pub const AVATAR_SIZE: &str = "Accounts_AvatarSize";
/// Not Rocket.Chat's (which keeps only a GIF's first frame): whether animated GIF, WebP and APNG
/// avatars stay animated.
pub const AVATAR_ANIMATED: &str = "Accounts_AvatarAnimated";
pub const AVATAR_CACHE_TIME: &str = "Accounts_AvatarCacheTime";
pub const AVATAR_BLOCK_UNAUTHENTICATED_ACCESS: &str = "Accounts_AvatarBlockUnauthenticatedAccess";
pub const AVATAR_EXTERNAL_PROVIDER_URL: &str = "Accounts_AvatarExternalProviderUrl";
pub const ROOM_AVATAR_EXTERNAL_PROVIDER_URL: &str = "Accounts_RoomAvatarExternalProviderUrl";
pub const SET_DEFAULT_AVATAR: &str = "Accounts_SetDefaultAvatar";
pub const AVATAR_SUGGEST_GRAVATAR: &str = "Accounts_AvatarSuggestGravatar";
pub const MAX_FILE_SIZE: &str = "FileUpload_MaxFileSize";
pub const ROTATE_IMAGES: &str = "FileUpload_RotateImages";
pub const STORAGE_TYPE: &str = "FileUpload_Storage_Type";
pub const USE_NAME_AVATAR: &str = "UI_Use_Name_Avatar";
pub const ALLOW_ANONYMOUS_READ: &str = "Accounts_AllowAnonymousRead";
pub const REGISTRATION_FORM: &str = "Accounts_RegistrationForm";
pub const SSRF_ALLOWLIST: &str = "SSRF_Allowlist";
/// Not Rocket.Chat's: where avatard POSTs each avatar change (e.g. a CDN purge hook); empty for none.
pub const AVATAR_WEBHOOK_URL: &str = "Avatar_Webhook_Url";
/// Not Rocket.Chat's: the HMAC-SHA256 key that signs webhook deliveries; empty sends them unsigned.
pub const AVATAR_WEBHOOK_SECRET: &str = "Avatar_Webhook_Secret";

/// Not Rocket.Chat's: how many previous avatars per user the audit trail keeps for
/// `avatars.restore`; 0 deletes a replaced avatar at once, as Rocket.Chat does.
pub const AVATAR_HISTORY_KEPT: &str = "Avatar_History_Kept_Avatars";
pub const RATE_LIMITER_ENABLED: &str = "API_Enable_Rate_Limiter";
pub const RATE_LIMIT_CALLS: &str = "API_Enable_Rate_Limiter_Limit_Calls_Default";
/// Milliseconds.
pub const RATE_LIMIT_TIME: &str = "API_Enable_Rate_Limiter_Limit_Time_Default";
pub const BLOCK_FAILED_LOGINS: &str = "Block_Multiple_Failed_Logins_Enabled";
pub const BLOCK_FAILED_LOGINS_BY_USER: &str = "Block_Multiple_Failed_Logins_By_User";
pub const FAILED_LOGINS_UNTIL_USER_BLOCK: &str =
    "Block_Multiple_Failed_Logins_Attempts_Until_Block_by_User";
pub const USER_UNBLOCK_MINUTES: &str =
    "Block_Multiple_Failed_Logins_Time_To_Unblock_By_User_In_Minutes";
pub const BLOCK_FAILED_LOGINS_BY_IP: &str = "Block_Multiple_Failed_Logins_By_Ip";
pub const FAILED_LOGINS_UNTIL_IP_BLOCK: &str =
    "Block_Multiple_Failed_Logins_Attempts_Until_Block_By_Ip";
pub const IP_UNBLOCK_MINUTES: &str =
    "Block_Multiple_Failed_Logins_Time_To_Unblock_By_Ip_In_Minutes";

/// Every setting the server knows, with Rocket.Chat's defaults (spec §7).
pub static DEFINITIONS: &[SettingDefinition] = &[
    boolean(ALLOW_USER_AVATAR_CHANGE, true),
    boolean(AVATAR_RESIZE, true),
    int(AVATAR_SIZE, 200),
    boolean(AVATAR_ANIMATED, true),
    int(AVATAR_CACHE_TIME, 3600),
    boolean(AVATAR_BLOCK_UNAUTHENTICATED_ACCESS, false),
    string(AVATAR_EXTERNAL_PROVIDER_URL, ""),
    string(ROOM_AVATAR_EXTERNAL_PROVIDER_URL, ""),
    boolean(SET_DEFAULT_AVATAR, true),
    // Off by default: suggesting a Gravatar sends a hash of the user's address to a third party.
    boolean(AVATAR_SUGGEST_GRAVATAR, false),
    int(MAX_FILE_SIZE, 104_857_600),
    boolean(ROTATE_IMAGES, true),
    SettingDefinition {
        id: STORAGE_TYPE,
        kind: SettingType::Select(&["FileSystem", "AmazonS3", "Memory"]),
        default: DefaultValue::Str("FileSystem"),
    },
    boolean(USE_NAME_AVATAR, false),
    boolean(ALLOW_ANONYMOUS_READ, false),
    SettingDefinition {
        id: REGISTRATION_FORM,
        kind: SettingType::Select(&["Public", "Disabled", "Secret URL"]),
        default: DefaultValue::Str("Public"),
    },
    string(SSRF_ALLOWLIST, ""),
    string(AVATAR_WEBHOOK_URL, ""),
    string(AVATAR_WEBHOOK_SECRET, ""),
    // Off unless an operator opts in: a user who replaces or resets an avatar expects it gone.
    int(AVATAR_HISTORY_KEPT, 0),
    boolean(RATE_LIMITER_ENABLED, true),
    int(RATE_LIMIT_CALLS, 10),
    int(RATE_LIMIT_TIME, 60_000),
    boolean(BLOCK_FAILED_LOGINS, true),
    boolean(BLOCK_FAILED_LOGINS_BY_USER, true),
    int(FAILED_LOGINS_UNTIL_USER_BLOCK, 10),
    int(USER_UNBLOCK_MINUTES, 5),
    boolean(BLOCK_FAILED_LOGINS_BY_IP, true),
    int(FAILED_LOGINS_UNTIL_IP_BLOCK, 50),
    int(IP_UNBLOCK_MINUTES, 5),
];

pub fn definition(id: &str) -> Option<&'static SettingDefinition> {
    DEFINITIONS.iter().find(|d| d.id == id)
}

/// The current values by id. Every avatar request reads a few, so the hash is a fast one; its keys
/// are the fixed ids of [`DEFINITIONS`], nothing a client can choose, so a keyed (DoS-resistant)
/// hash would buy nothing here.
type Values = HashMap<&'static str, Value, foldhash::fast::FixedState>;

/// The settings every `/avatar` request reads, as one value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct AvatarServing {
    /// `Accounts_AvatarBlockUnauthenticatedAccess`.
    pub block_unauthenticated: bool,
    /// `Accounts_AvatarExternalProviderUrl` is set.
    pub external_provider: bool,
    /// `UI_Use_Name_Avatar`.
    pub use_name: bool,
    /// `Accounts_AvatarCacheTime`, in seconds.
    pub cache_time: i64,
}

/// [`AvatarServing`] beside the map, so that the hot path reads it without a lock or a hash. Its
/// fields are stored one by one: a request that races a change may see some of the new values and
/// some of the old, as it could have arrived on either side of the change.
#[derive(Debug, Default)]
struct ServingMirror {
    block_unauthenticated: AtomicBool,
    external_provider: AtomicBool,
    use_name: AtomicBool,
    cache_time: AtomicI64,
}

impl ServingMirror {
    /// Copy the values from the map; called with its write lock held, after every change.
    fn update(&self, values: &Values) {
        let flag = |id: &str| values.get(id).and_then(Value::as_bool).unwrap_or(false);
        let text_set = |id: &str| {
            values
                .get(id)
                .and_then(Value::as_str)
                .is_some_and(|text| !text.is_empty())
        };
        let cache_time = values
            .get(AVATAR_CACHE_TIME)
            .and_then(Value::as_i64)
            .unwrap_or(0);
        self.block_unauthenticated
            .store(flag(AVATAR_BLOCK_UNAUTHENTICATED_ACCESS), Ordering::Relaxed);
        self.external_provider
            .store(text_set(AVATAR_EXTERNAL_PROVIDER_URL), Ordering::Relaxed);
        self.use_name
            .store(flag(USE_NAME_AVATAR), Ordering::Relaxed);
        self.cache_time.store(cache_time, Ordering::Relaxed);
    }

    fn read(&self) -> AvatarServing {
        AvatarServing {
            block_unauthenticated: self.block_unauthenticated.load(Ordering::Relaxed),
            external_provider: self.external_provider.load(Ordering::Relaxed),
            use_name: self.use_name.load(Ordering::Relaxed),
            cache_time: self.cache_time.load(Ordering::Relaxed),
        }
    }
}

/// The settings service: typed reads from memory, validated writes through the store.
#[derive(Clone)]
pub struct Settings {
    store: Arc<dyn MetadataStore>,
    feed: Arc<dyn ChangeFeed>,
    values: Arc<RwLock<Values>>,
    serving: Arc<ServingMirror>,
    storage_type: &'static str,
}

impl Settings {
    /// Load the stored values over the defaults.
    ///
    /// `storage_type` is what `FileUpload_Storage_Type` reports: storage is chosen by the operator's
    /// configuration, so the setting tells the truth about it and cannot be changed through the API.
    pub async fn load(
        store: Arc<dyn MetadataStore>,
        feed: Arc<dyn ChangeFeed>,
        storage_type: &'static str,
    ) -> Result<Self> {
        let settings = Settings {
            store,
            feed,
            values: Arc::default(),
            serving: Arc::default(),
            storage_type,
        };
        settings.reload().await?;
        Ok(settings)
    }

    /// Re-read every value from the store, e.g. after another replica changed one. A stored value
    /// the current definition no longer accepts (after a type change) yields to the default.
    pub async fn reload(&self) -> Result<()> {
        let mut values: Values = DEFINITIONS
            .iter()
            .map(|d| (d.id, d.default_value()))
            .collect();
        for stored in self.store.settings().await? {
            match definition(&stored.id) {
                Some(def) if def.accepts(&stored.value) => {
                    values.insert(def.id, stored.value);
                }
                _ => {
                    tracing::warn!(setting = %stored.id, "ignoring a stored setting the server does not accept")
                }
            }
        }
        values.insert(STORAGE_TYPE, Value::from(self.storage_type));
        let mut current = self.write();
        self.serving.update(&values);
        *current = values;
        Ok(())
    }

    /// The current value of a known setting; `None` for ids the server does not know.
    pub fn get(&self, id: &str) -> Option<Value> {
        self.read().get(id).cloned()
    }

    pub fn bool(&self, id: &str) -> bool {
        self.read()
            .get(id)
            .and_then(Value::as_bool)
            .unwrap_or(false)
    }

    pub fn int(&self, id: &str) -> i64 {
        self.read().get(id).and_then(Value::as_i64).unwrap_or(0)
    }

    /// What every `/avatar` request reads: no lock, no hashing.
    pub fn avatar_serving(&self) -> AvatarServing {
        self.serving.read()
    }

    pub fn string(&self, id: &str) -> String {
        self.read()
            .get(id)
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned()
    }

    /// Change a setting. Unknown ids give Rocket.Chat's bare `{"success":false}` (R8.6); a value of the
    /// wrong type is refused rather than stored.
    pub async fn set(&self, id: &str, value: Value) -> Result<()> {
        let def = definition(id).ok_or(Error::Rejected)?;
        if def.id == STORAGE_TYPE {
            return Err(Error::meteor(
                "error-setting-read-only",
                Some("FileUpload_Storage_Type follows the server's storage configuration"),
                None,
            ));
        }
        if !def.accepts(&value) {
            return Err(Error::meteor(
                "error-invalid-setting-value",
                Some(&format!("Invalid value for setting {id}")),
                None,
            ));
        }
        self.store
            .put_setting(&StoredSetting {
                id: def.id.to_owned(),
                value: value.clone(),
                updated_at: Utc::now(),
            })
            .await?;
        {
            let mut current = self.write();
            current.insert(def.id, value);
            self.serving.update(&current);
        }
        publish(&self.feed, Change::Settings).await;
        Ok(())
    }

    fn read(&self) -> std::sync::RwLockReadGuard<'_, Values> {
        // A panic while holding the lock cannot leave a half-written map (inserts are atomic), so a
        // poisoned lock is still safe to read.
        self.values
            .read()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    fn write(&self) -> std::sync::RwLockWriteGuard<'_, Values> {
        self.values
            .write()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Tell the other replicas. The change is committed already, so a failure here only delays them
/// until their periodic reload; it is logged, not returned.
pub(crate) async fn publish(feed: &Arc<dyn ChangeFeed>, change: Change) {
    if let Err(err) = feed.publish(change).await {
        tracing::warn!(change = change.as_str(), %err, "could not notify other replicas");
    }
}
