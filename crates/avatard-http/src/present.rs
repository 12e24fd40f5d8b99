//! Domain records as Rocket.Chat's JSON documents.

use avatard_domain::model::{AvatarChange, Permission, UserRecord};
use chrono::{DateTime, SecondsFormat, Utc};
use serde_json::{Map, Value, json};

pub fn date(at: DateTime<Utc>) -> Value {
    at.to_rfc3339_opts(SecondsFormat::Millis, true).into()
}

/// How much of a user document the reader may see.
#[derive(Clone, Copy, PartialEq)]
pub enum Detail {
    /// What any logged-in user sees of another (`users.info` default fields).
    Public,
    /// Emails, roles and dates: the user themself, or admins.
    Full,
}

pub fn user(record: &UserRecord, detail: Detail) -> Value {
    let user = &record.user;
    let mut doc = Map::new();
    doc.insert("_id".into(), user.id.clone().into());
    doc.insert("username".into(), user.username.clone().into());
    doc.insert("name".into(), user.name.clone().into());
    doc.insert("status".into(), "offline".into());
    doc.insert("active".into(), user.active.into());
    let kind = if user.roles.iter().any(|r| r == "bot") {
        "bot"
    } else {
        "user"
    };
    doc.insert("type".into(), kind.into());
    doc.insert("utcOffset".into(), 0.into());
    if let Some(avatar) = &record.avatar {
        doc.insert("avatarETag".into(), avatar.etag.clone().into());
        doc.insert("avatarOrigin".into(), avatar.origin.as_str().into());
    }
    if detail == Detail::Full {
        doc.insert("roles".into(), user.roles.clone().into());
        doc.insert("createdAt".into(), date(user.created_at));
        if let Some(email) = &user.email {
            doc.insert(
                "emails".into(),
                json!([{"address": email.address, "verified": email.verified}]),
            );
        }
    }
    Value::Object(doc)
}

/// The logged-in user's own document (`/me`, `login`'s `data.me`).
pub fn me(record: &UserRecord, public_url: &str) -> Value {
    let mut doc = user(record, Detail::Full);
    if let Value::Object(fields) = &mut doc {
        fields.insert(
            "avatarUrl".into(),
            format!("{public_url}/avatar/{}", record.user.username).into(),
        );
        fields.insert("settings".into(), json!({"preferences": {}}));
    }
    doc
}

pub fn permission(p: &Permission) -> Value {
    json!({"_id": p.id, "roles": p.roles, "_updatedAt": date(p.updated_at)})
}

/// An entry of the avatar audit trail (`avatars.history`).
pub fn avatar_change(change: &AvatarChange) -> Value {
    json!({
        "_id": change.id.to_string(),
        "userId": change.user_id,
        "username": change.username,
        "actor": {"_id": change.actor_id, "username": change.actor_username},
        "action": change.action,
        "previousETag": change.previous_etag,
        "etag": change.etag,
        "contentType": change.content_type,
        "size": change.size,
        "ip": change.ip,
        "ts": date(change.at),
    })
}
