//! Keeping every replica's in-memory views current.
//!
//! Settings and permissions are read on almost every request, so each process keeps them in memory;
//! users and avatars are remembered for serving. When one replica changes them it commits to the
//! database first and then publishes a [`Change`]; the other replicas reload that view (for avatars:
//! read the event log). The database stays the source of truth: a missed message only delays a
//! refresh until the next periodic reload.

use async_trait::async_trait;

use crate::store::StoreResult;

/// A view that changed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Change {
    Settings,
    Permissions,
    /// New entries in the avatar event log.
    Avatars,
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::Settings => "settings",
            Change::Permissions => "permissions",
            Change::Avatars => "avatars",
        }
    }

    pub fn parse(s: &str) -> Option<Change> {
        match s {
            "settings" => Some(Change::Settings),
            "permissions" => Some(Change::Permissions),
            "avatars" => Some(Change::Avatars),
            _ => None,
        }
    }
}

/// Tells the other replicas about committed changes.
#[async_trait]
pub trait ChangeFeed: Send + Sync + 'static {
    async fn publish(&self, change: Change) -> StoreResult<()>;
}
