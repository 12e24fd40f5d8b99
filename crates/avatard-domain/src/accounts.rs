//! Accounts: users, passwords and login tokens, and how a request names a target user.
//!
//! Passwords are hashed with Argon2id (deliberately slow, so verification runs on the blocking pool);
//! login tokens are long random secrets stored only as base64(SHA-256), exactly as Rocket.Chat stores
//! them, so a token check is one indexed lookup.

use std::sync::Arc;

use argon2::Argon2;
use argon2::password_hash::{PasswordHasher as _, PasswordVerifier as _, phc::PasswordHash};
use chrono::Utc;
use serde_json::json;

use crate::authorization::{self, Authorization};
use crate::error::{Error, Result, StoreError};
use crate::events::AvatarEvents;
use crate::ids;
use crate::model::{Email, User, UserRecord};
use crate::settings::{self, Settings};
use crate::store::{BlobStore, MetadataStore};

/// How a request names a user: Rocket.Chat's `userId` / `username` / `user` parameters.
#[derive(Clone, Debug, Default)]
pub struct TargetParams {
    pub user_id: Option<String>,
    pub username: Option<String>,
    pub user: Option<String>,
}

fn given(value: &Option<String>) -> Option<&str> {
    // Rocket.Chat tests these for truthiness: an empty string counts as absent.
    value.as_deref().filter(|v| !v.is_empty())
}

impl TargetParams {
    /// `isUserFromParams`: no target named, or the caller named by id or username.
    pub fn names_self(&self, caller: &User) -> bool {
        let (id, username, user) = (
            given(&self.user_id),
            given(&self.username),
            given(&self.user),
        );
        (id.is_none() && username.is_none() && user.is_none())
            || id == Some(caller.id.as_str())
            || username == Some(caller.username.as_str())
            || user == Some(caller.username.as_str())
    }
}

/// What `login` accepts (R8.1).
pub enum Credentials {
    /// `user` (an email when it contains `@`), or explicit `username` / `email`, with a password.
    Password {
        identity: Identity,
        password: Password,
    },
    /// `resume`: an existing login token.
    Resume(String),
}

/// Meteor clients may send the password itself or its SHA-256 digest. Like Meteor, the server hashes
/// the digest, so both forms verify against the same stored hash.
pub enum Password {
    Plain(String),
    /// Lower-case hex SHA-256 of the password.
    Sha256Digest(String),
}

impl Password {
    fn digest(self) -> String {
        match self {
            Password::Plain(plain) => ids::sha256_hex(plain.as_bytes()),
            Password::Sha256Digest(digest) => digest.to_ascii_lowercase(),
        }
    }
}

pub enum Identity {
    Username(String),
    Email(String),
}

impl Credentials {
    /// The name a password login gives (a username or an address); failed logins are counted
    /// against it.
    pub fn login_name(&self) -> Option<&str> {
        match self {
            Credentials::Password {
                identity: Identity::Username(name) | Identity::Email(name),
                ..
            } => Some(name),
            Credentials::Resume(_) => None,
        }
    }
}

/// A successful login: the raw token is shown to the client once and never stored.
pub struct Session {
    pub user: UserRecord,
    pub token: String,
}

/// The fields of a new account.
#[derive(Clone, Debug)]
pub struct NewAccount {
    pub username: String,
    pub name: String,
    pub email: Option<String>,
    pub password: Option<String>,
    pub roles: Vec<String>,
    pub active: bool,
    pub verified: bool,
}

impl NewAccount {
    /// An ordinary active user with the `user` role.
    pub fn user(username: &str, name: &str, email: Option<&str>, password: &str) -> Self {
        NewAccount {
            username: username.to_owned(),
            name: name.to_owned(),
            email: email.map(str::to_owned),
            password: Some(password.to_owned()),
            roles: vec![authorization::USER.to_owned()],
            active: true,
            verified: false,
        }
    }
}

#[derive(Clone)]
pub struct Accounts {
    store: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
    settings: Settings,
    authz: Authorization,
    events: AvatarEvents,
}

const LOGIN_FAILED: &str = "Unauthorized";

impl Accounts {
    pub(crate) fn new(
        store: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        settings: Settings,
        authz: Authorization,
        events: AvatarEvents,
    ) -> Self {
        Accounts {
            store,
            blobs,
            settings,
            authz,
            events,
        }
    }

    /// R2.2: the user whose id is `user_id` and who holds `token`. No expiry, as in Rocket.Chat.
    pub async fn authenticate(&self, user_id: &str, token: &str) -> Result<UserRecord> {
        let hashed = ids::hash_login_token(token);
        self.store
            .user_by_token(Some(user_id), &hashed)
            .await?
            .ok_or_else(Error::not_logged_in)
    }

    /// R8.1. Every failure looks the same to the client, so it cannot probe which usernames exist.
    pub async fn login(&self, credentials: Credentials) -> Result<Session> {
        let failed = || Error::Unauthenticated(LOGIN_FAILED.to_owned());
        match credentials {
            Credentials::Resume(token) => {
                let user = self
                    .store
                    .user_by_token(None, &ids::hash_login_token(&token))
                    .await?
                    .filter(|u| u.user.active)
                    .ok_or_else(failed)?;
                Ok(Session { user, token })
            }
            Credentials::Password { identity, password } => {
                let found = match &identity {
                    Identity::Username(name) => self.store.user_by_username(name).await?,
                    Identity::Email(email) => self.store.user_by_email(email).await?,
                };
                let user = found.filter(|u| u.user.active).ok_or_else(failed)?;
                let hash = user.user.password_hash.clone().ok_or_else(failed)?;
                if !verify_password(password.digest(), hash).await? {
                    return Err(failed());
                }
                let token = self.issue_token(&user.user.id).await?;
                Ok(Session { user, token })
            }
        }
    }

    /// Create a login token for `user_id` and return it (the only time the raw token exists).
    async fn issue_token(&self, user_id: &str) -> Result<String> {
        let token = ids::new_secret();
        self.store
            .insert_login_token(user_id, &ids::hash_login_token(&token), Utc::now())
            .await?;
        Ok(token)
    }

    pub async fn logout(&self, user: &User, token: &str) -> Result<()> {
        Ok(self
            .store
            .delete_login_token(&user.id, &ids::hash_login_token(token))
            .await?)
    }

    /// `users.register`: self sign-up while `Accounts_RegistrationForm` is `Public`.
    pub async fn register(&self, account: NewAccount) -> Result<UserRecord> {
        match self.settings.string(settings::REGISTRATION_FORM).as_str() {
            "Public" => {}
            "Secret URL" => {
                return Err(Error::meteor(
                    "error-user-registration-secret",
                    Some("User registration is only allowed via Secret URL"),
                    Some(json!({"method": "registerUser"})),
                ));
            }
            _ => {
                return Err(Error::meteor(
                    "error-user-registration-disabled",
                    Some("User registration is disabled"),
                    Some(json!({"method": "registerUser"})),
                ));
            }
        }
        if self
            .store
            .user_by_username(&account.username)
            .await?
            .is_some()
        {
            return Err(Error::plain("Username is already in use"));
        }
        self.insert(account).await
    }

    /// `users.create` (R8.2): needs `create-user`.
    pub async fn create(&self, caller: &User, account: NewAccount) -> Result<UserRecord> {
        self.authz.require(caller, authorization::CREATE_USER)?;
        self.insert(account).await
    }

    /// Create an account without a caller: the operator's CLI and the admin bootstrap.
    pub async fn add(&self, account: NewAccount) -> Result<UserRecord> {
        self.insert(account).await
    }

    /// First-start bootstrap (`ADMIN_USERNAME`/`ADMIN_PASS`/`ADMIN_EMAIL`): create the admin unless a
    /// user of that name exists. Returns whether it created one.
    pub async fn ensure_admin(
        &self,
        username: &str,
        password: &str,
        email: Option<&str>,
    ) -> Result<bool> {
        if self.store.user_by_username(username).await?.is_some() {
            return Ok(false);
        }
        let mut account = NewAccount::user(username, username, email, password);
        account.roles = vec![
            authorization::ADMIN.to_owned(),
            authorization::USER.to_owned(),
        ];
        account.verified = email.is_some();
        match self.insert(account).await {
            Ok(_) => Ok(true),
            // Another replica or process created it between the check and the insert.
            Err(_) if self.store.user_by_username(username).await?.is_some() => Ok(false),
            Err(err) => Err(err),
        }
    }

    async fn insert(&self, account: NewAccount) -> Result<UserRecord> {
        validate_username(&account.username)?;
        if let Some(email) = &account.email
            && !is_plausible_email(email)
        {
            return Err(Error::meteor(
                "error-invalid-email",
                Some(&format!("Invalid email {email}")),
                Some(json!({"method": "insertOrUpdateUser", "email": email})),
            ));
        }
        if let Some(role) = account.roles.iter().find(|r| !authorization::is_role(r)) {
            return Err(Error::meteor(
                "error-invalid-role",
                Some("Invalid role"),
                Some(json!({"method": "insertOrUpdateUser", "role": role})),
            ));
        }
        let password_hash = match account.password {
            Some(password) if !password.is_empty() => {
                Some(hash_password(Password::Plain(password).digest()).await?)
            }
            _ => None,
        };
        let user = User {
            id: ids::new_id(),
            username: account.username.clone(),
            name: account.name,
            email: account.email.clone().map(|address| Email {
                address: address.trim().to_owned(),
                verified: account.verified,
            }),
            password_hash,
            roles: account.roles,
            active: account.active,
            created_at: Utc::now(),
        };
        match self.store.insert_user(&user).await {
            Ok(()) => Ok(UserRecord { user, avatar: None }),
            Err(StoreError::Conflict(field)) => {
                let taken = if field == "email" {
                    account.email.unwrap_or_default()
                } else {
                    account.username
                };
                Err(Error::meteor(
                    "error-field-unavailable",
                    Some(&format!("{taken} is already in use :(")),
                    Some(json!({"method": "insertOrUpdateUser", "field": taken})),
                ))
            }
            Err(err) => Err(err.into()),
        }
    }

    /// `getUserFromParams`: by `userId`, else `username`, else `user` (both case-insensitive).
    pub async fn user_from_params(&self, params: &TargetParams) -> Result<UserRecord> {
        let found = if let Some(id) = given(&params.user_id).filter(|v| !v.trim().is_empty()) {
            self.store.user_by_id(id).await?
        } else if let Some(name) = given(&params.username)
            .filter(|v| !v.trim().is_empty())
            .or_else(|| given(&params.user).filter(|v| !v.trim().is_empty()))
        {
            self.store.user_by_username(name).await?
        } else {
            return Err(Error::meteor(
                "error-user-param-not-provided",
                Some(r#"The required "userId" or "username" param was not provided"#),
                None,
            ));
        };
        found.ok_or_else(|| {
            Error::meteor(
                "error-invalid-user",
                Some(r#"The required "userId" or "username" param provided does not match any users"#),
                None,
            )
        })
    }

    pub async fn by_id(&self, id: &str) -> Result<Option<UserRecord>> {
        Ok(self.store.user_by_id(id).await?)
    }

    pub async fn by_username(&self, username: &str) -> Result<Option<UserRecord>> {
        Ok(self.store.user_by_username(username).await?)
    }

    /// `users.info` (R8.3): `userId` or `username`; the caller sees full details of themselves, or of
    /// anyone with `view-full-other-user-info`. Returns the user and whether full details are allowed.
    /// Without a caller (anonymous read), only public details.
    pub async fn info(
        &self,
        caller: Option<&User>,
        params: &TargetParams,
    ) -> Result<(UserRecord, bool)> {
        let found = if let Some(id) = given(&params.user_id) {
            self.store.user_by_id(id).await?
        } else if let Some(name) = given(&params.username) {
            self.store.user_by_username(name).await?
        } else {
            return Err(Error::plain("Invalid search query."));
        };
        let user = found.ok_or_else(|| Error::plain("User not found."))?;
        let full = caller.is_some_and(|caller| {
            user.user.id == caller.id
                || self
                    .authz
                    .has_permission(caller, authorization::VIEW_FULL_OTHER_USER_INFO)
        });
        Ok((user, full))
    }

    /// `users.delete` (R8.4): needs `delete-user`; removes the user's avatar too.
    pub async fn delete(&self, caller: &User, params: &TargetParams) -> Result<()> {
        self.authz.require(caller, authorization::DELETE_USER)?;
        let target = self.user_from_params(params).await?;
        let removed = self.store.delete_user(&target.user.id).await?;
        self.events
            .committed(&target.user.id, &target.user.username)
            .await;
        if let Some(key) = removed {
            // The row is gone, so the blob is unreachable.
            crate::avatars::discard_blob(self.blobs.as_ref(), &key).await;
        }
        Ok(())
    }

    /// `users.createToken`: an admin mints a login token for a user (for bots and integrations).
    pub async fn create_token(
        &self,
        caller: &User,
        params: &TargetParams,
    ) -> Result<(String, String)> {
        self.authz
            .require(caller, authorization::USER_GENERATE_ACCESS_TOKEN)?;
        let target = self.user_from_params(params).await?;
        let token = self.issue_token(&target.user.id).await?;
        Ok((target.user.id, token))
    }
}

/// Rocket.Chat's default `UTF8_User_Names_Validation`: `[0-9a-zA-Z-_.]+`.
fn validate_username(username: &str) -> Result<()> {
    let valid = !username.is_empty()
        && username.len() <= 64
        && username
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if valid {
        Ok(())
    } else {
        Err(Error::meteor(
            "username-invalid",
            Some(&format!(
                "{} is not a valid username, use only letters, numbers, dots, hyphens and underscores",
                escape_html(username)
            )),
            None,
        ))
    }
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#x27;")
}

fn is_plausible_email(email: &str) -> bool {
    let email = email.trim();
    match email.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && domain.contains('.')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
                && !email.chars().any(char::is_whitespace)
        }
        None => false,
    }
}

async fn hash_password(digest: String) -> Result<String> {
    tokio::task::spawn_blocking(move || {
        Argon2::default()
            .hash_password(digest.as_bytes())
            .map(|hash| hash.to_string())
            .map_err(Error::internal)
    })
    .await
    .map_err(Error::internal)?
}

async fn verify_password(digest: String, hash: String) -> Result<bool> {
    tokio::task::spawn_blocking(move || {
        let parsed = PasswordHash::new(&hash).map_err(Error::internal)?;
        Ok(Argon2::default()
            .verify_password(digest.as_bytes(), &parsed)
            .is_ok())
    })
    .await
    .map_err(Error::internal)?
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_follow_rocket_chat_default_rule() {
        for ok in ["arthur", "a.b-c_d", "X9"] {
            assert!(validate_username(ok).is_ok(), "{ok}");
        }
        for bad in ["", "with space", "ünï", "a/b", "<script>"] {
            assert!(validate_username(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn emails_need_a_local_part_and_a_dotted_domain() {
        assert!(is_plausible_email("a@example.com"));
        assert!(!is_plausible_email("a@localhost"));
        assert!(!is_plausible_email("@example.com"));
        assert!(!is_plausible_email("a b@example.com"));
    }

    #[test]
    fn self_is_recognised_like_is_user_from_params() {
        let me = User {
            id: "me".into(),
            username: "arthur".into(),
            name: "Arthur".into(),
            email: None,
            password_hash: None,
            roles: vec![],
            active: true,
            created_at: Utc::now(),
        };
        let p = |id: Option<&str>, un: Option<&str>| TargetParams {
            user_id: id.map(Into::into),
            username: un.map(Into::into),
            user: None,
        };
        assert!(p(None, None).names_self(&me));
        assert!(p(Some(""), Some("")).names_self(&me));
        assert!(p(Some("me"), None).names_self(&me));
        assert!(p(None, Some("arthur")).names_self(&me));
        // Exact and case-sensitive, as in Rocket.Chat.
        assert!(!p(None, Some("Arthur")).names_self(&me));
        assert!(!p(Some("other"), None).names_self(&me));
    }
}
