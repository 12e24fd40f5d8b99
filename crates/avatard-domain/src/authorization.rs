//! Roles and permissions: Rocket.Chat's permission→roles table, editable by admins, and the one
//! function that answers "may this user do that".

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use chrono::Utc;

use crate::changes::{Change, ChangeFeed};
use crate::error::{Error, Result};
use crate::model::{Permission, User};
use crate::store::MetadataStore;

pub const ADMIN: &str = "admin";
pub const USER: &str = "user";
pub const MODERATOR: &str = "moderator";
pub const BOT: &str = "bot";

/// The roles that exist; `permissions.update` refuses any other (R8.5).
pub const ROLES: &[&str] = &[ADMIN, USER, MODERATOR, BOT];

pub const EDIT_OTHER_USER_AVATAR: &str = "edit-other-user-avatar";
pub const MANAGE_MODERATION_ACTIONS: &str = "manage-moderation-actions";
pub const ACCESS_PERMISSIONS: &str = "access-permissions";
pub const EDIT_PRIVILEGED_SETTING: &str = "edit-privileged-setting";
pub const VIEW_PRIVILEGED_SETTING: &str = "view-privileged-setting";
pub const CREATE_USER: &str = "create-user";
pub const DELETE_USER: &str = "delete-user";
pub const VIEW_FULL_OTHER_USER_INFO: &str = "view-full-other-user-info";
pub const USER_GENERATE_ACCESS_TOKEN: &str = "user-generate-access-token";
pub const API_BYPASS_RATE_LIMIT: &str = "api-bypass-rate-limit";

/// Rocket.Chat's defaults for the permissions this server enforces (spec §7 and the permissions the
/// surrounding endpoints check).
pub const DEFAULT_PERMISSIONS: &[(&str, &[&str])] = &[
    (EDIT_OTHER_USER_AVATAR, &[ADMIN]),
    (MANAGE_MODERATION_ACTIONS, &[ADMIN]),
    (ACCESS_PERMISSIONS, &[ADMIN]),
    (EDIT_PRIVILEGED_SETTING, &[ADMIN]),
    (VIEW_PRIVILEGED_SETTING, &[ADMIN]),
    (CREATE_USER, &[ADMIN]),
    (DELETE_USER, &[ADMIN]),
    (VIEW_FULL_OTHER_USER_INFO, &[ADMIN]),
    (USER_GENERATE_ACCESS_TOKEN, &[ADMIN]),
    (API_BYPASS_RATE_LIMIT, &[ADMIN, BOT]),
];

/// The authorization service. The table is small and read on most requests, so it is kept in memory
/// and written through to the store.
#[derive(Clone)]
pub struct Authorization {
    store: Arc<dyn MetadataStore>,
    feed: Arc<dyn ChangeFeed>,
    table: Arc<RwLock<HashMap<String, Permission>>>,
}

impl Authorization {
    /// Seed missing permissions with their defaults and load the table.
    pub async fn load(store: Arc<dyn MetadataStore>, feed: Arc<dyn ChangeFeed>) -> Result<Self> {
        let now = Utc::now();
        let defaults: Vec<Permission> = DEFAULT_PERMISSIONS
            .iter()
            .map(|(id, roles)| Permission {
                id: (*id).to_owned(),
                roles: roles.iter().map(|r| (*r).to_owned()).collect(),
                updated_at: now,
            })
            .collect();
        store.seed_permissions(&defaults).await?;
        let authz = Authorization {
            store,
            feed,
            table: Arc::default(),
        };
        authz.reload().await?;
        Ok(authz)
    }

    /// Re-read the table from the store, e.g. after another replica changed it.
    pub async fn reload(&self) -> Result<()> {
        let table = self
            .store
            .permissions()
            .await?
            .into_iter()
            .map(|p| (p.id.clone(), p))
            .collect();
        *self.table.write().unwrap_or_else(|p| p.into_inner()) = table;
        Ok(())
    }

    /// Whether any of the user's roles holds the permission.
    pub fn has_permission(&self, user: &User, permission: &str) -> bool {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        table
            .get(permission)
            .is_some_and(|p| p.roles.iter().any(|role| user.roles.contains(role)))
    }

    /// R1.8: fail with Rocket.Chat's 403 unless the user holds the permission.
    pub fn require(&self, user: &User, permission: &str) -> Result<()> {
        if self.has_permission(user, permission) {
            Ok(())
        } else {
            Err(Error::missing_permission())
        }
    }

    /// Every permission, sorted by id for stable output.
    pub fn list(&self) -> Vec<Permission> {
        let table = self.table.read().unwrap_or_else(|p| p.into_inner());
        let mut all: Vec<Permission> = table.values().cloned().collect();
        all.sort_by(|a, b| a.id.cmp(&b.id));
        all
    }

    /// `permissions.update` (R8.5): every permission and role is checked before anything is written,
    /// and all changes land in one transaction.
    pub async fn update(&self, caller: &User, updates: Vec<(String, Vec<String>)>) -> Result<()> {
        self.require(caller, ACCESS_PERMISSIONS)?;
        let now = Utc::now();
        let mut changes = Vec::with_capacity(updates.len());
        {
            let table = self.table.read().unwrap_or_else(|p| p.into_inner());
            for (id, roles) in updates {
                if !table.contains_key(&id) {
                    return Err(Error::failure(
                        "Invalid permission",
                        Some("error-invalid-permission"),
                    ));
                }
                if roles.iter().any(|r| !ROLES.contains(&r.as_str())) {
                    return Err(Error::failure("Invalid role", Some("error-invalid-role")));
                }
                let mut roles = roles;
                roles.dedup();
                changes.push(Permission {
                    id,
                    roles,
                    updated_at: now,
                });
            }
        }
        self.store.update_permissions(&changes).await?;
        self.reload().await?;
        crate::settings::publish(&self.feed, Change::Permissions).await;
        Ok(())
    }
}

/// True for roles that exist (used when creating users).
pub fn is_role(role: &str) -> bool {
    ROLES.contains(&role)
}
