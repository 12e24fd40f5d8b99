//! Who an `/avatar/...` request names, remembered between requests so that serving a known user's
//! avatar needs no database round trip.
//!
//! Entries are dropped when the [`AvatarEvents`](crate::events::AvatarEvents) log reports a change
//! for the user, on this replica or (through the change feed) on any other. Unknown names are
//! remembered only for a few seconds: creating a user writes no avatar event (nothing about their
//! avatar changed), and the only thing a new user can change about a name's initials is to show
//! their display name instead (`UI_Use_Name_Avatar`). Meanwhile floods of unknown names (initials
//! for everyone) stay off the database.

use std::borrow::Cow;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::avatars::StoredFile;
use crate::error::StoreError;
use crate::model::{AvatarRecord, UserRecord};

/// How many users are remembered.
const CAPACITY: usize = 100_000;
/// How long "nobody has this name" is remembered.
const UNKNOWN_FOR: Duration = Duration::from_secs(5);

/// What serving an avatar needs to know about a user; nothing secret.
#[derive(Debug)]
pub struct Displayed {
    pub user_id: String,
    pub username: String,
    pub name: String,
    pub avatar: Option<AvatarRecord>,
    /// The stored file of `avatar` once served, so that the next request for it needs one cache
    /// lookup (this entry) instead of two.
    pub(crate) stored_file: StoredFile,
}

impl From<UserRecord> for Displayed {
    fn from(found: UserRecord) -> Displayed {
        Displayed {
            user_id: found.user.id,
            username: found.user.username,
            name: found.user.name,
            avatar: found.avatar,
            stored_file: StoredFile::default(),
        }
    }
}

#[derive(Clone)]
pub(crate) struct Directory {
    /// quick_cache rather than moka: this lookup is on every `/avatar` request, and moka's
    /// bookkeeping per read (a clock read, a read-log entry, epoch pinning) was a few percent of
    /// the serving CPU. A sharded map with S3-FIFO eviction is all a bounded directory needs.
    entries: Arc<quick_cache::sync::Cache<EntryKey, Entry>>,
    /// Bumped by every invalidation. A lookup that raced one (read the database before a change
    /// committed, finished after it was announced) must not cache what it read.
    generation: Arc<AtomicU64>,
}

/// A remembered answer: the user, or that nobody has the name (for [`UNKNOWN_FOR`]).
#[derive(Clone)]
enum Entry {
    Known(Arc<Displayed>),
    Unknown { until: Instant },
}

impl Directory {
    pub fn new() -> Directory {
        Directory {
            entries: Arc::new(quick_cache::sync::Cache::new(CAPACITY)),
            generation: Arc::new(AtomicU64::new(0)),
        }
    }

    /// The remembered answer for `key`, if it has not expired.
    fn remembered(&self, key: &Normalized<'_>) -> Option<Option<Arc<Displayed>>> {
        match self.entries.get(key)? {
            Entry::Known(user) => Some(Some(user)),
            Entry::Unknown { until } if Instant::now() < until => Some(None),
            Entry::Unknown { .. } => None,
        }
    }

    /// The user `key` names, from memory or else from `load`. A remembered entry showing another
    /// avatar version than `expected` is read again: the client learnt of a change (made on another
    /// replica) before this replica's notification arrived.
    pub async fn lookup<F, Fut>(
        &self,
        key: Key<'_>,
        expected: Option<&str>,
        load: F,
    ) -> Result<Option<Arc<Displayed>>, StoreError>
    where
        F: FnOnce() -> Fut,
        Fut: Future<Output = Result<Option<UserRecord>, StoreError>>,
    {
        let key = key.normalized();
        if let Some(hit) = self.remembered(&key) {
            let version = hit
                .as_ref()
                .and_then(|user| user.avatar.as_ref())
                .map(|avatar| avatar.etag.as_str());
            if expected.is_none() || expected == version {
                return Ok(hit);
            }
        }
        let before = self.generation.load(Ordering::SeqCst);
        let displayed = load().await?.map(|found| Arc::new(Displayed::from(found)));
        if self.generation.load(Ordering::SeqCst) == before {
            let entry = match &displayed {
                Some(user) => Entry::Known(user.clone()),
                None => Entry::Unknown {
                    until: Instant::now() + UNKNOWN_FOR,
                },
            };
            self.entries.insert(key.to_owned(), entry);
            // An invalidation between the check and the insert would otherwise be lost.
            if self.generation.load(Ordering::SeqCst) != before {
                self.entries.remove(&key);
            }
        }
        Ok(displayed)
    }

    /// Forget a user whose avatar (or existence) changed.
    pub fn forget(&self, user_id: &str, username: &str) {
        self.generation.fetch_add(1, Ordering::SeqCst);
        for key in [Key::Username(username), Key::Id(user_id)] {
            self.entries.remove(&key.normalized());
        }
    }
}

/// How a request names a user.
#[derive(Clone, Copy, Debug)]
pub enum Key<'a> {
    /// Case-insensitively, like Rocket.Chat's lookups.
    Username(&'a str),
    Id(&'a str),
}

impl<'a> Key<'a> {
    /// The key as the cache holds it: usernames lowercased, copied only when that changes them
    /// (on the hot path it rarely does).
    fn normalized(self) -> Normalized<'a> {
        match self {
            Key::Username(name) => Normalized {
                username: true,
                name: if name.chars().all(|c| c.to_lowercase().eq([c])) {
                    Cow::Borrowed(name)
                } else {
                    Cow::Owned(name.to_lowercase())
                },
            },
            Key::Id(id) => Normalized {
                username: false,
                name: Cow::Borrowed(id),
            },
        }
    }
}

/// A [`Key`] as the cache compares them. Lookups borrow the request's name; the cache keeps its
/// own copy ([`EntryKey`]).
#[derive(Hash, PartialEq, Eq)]
struct Normalized<'a> {
    username: bool,
    name: Cow<'a, str>,
}

impl Normalized<'_> {
    fn to_owned(&self) -> EntryKey {
        EntryKey(Normalized {
            username: self.username,
            name: Cow::Owned(self.name.clone().into_owned()),
        })
    }
}

/// The cache's key: a [`Normalized`] that owns its name. A type of its own so that a borrowed
/// one can look it up ([`quick_cache::Equivalent`]).
#[derive(Hash, PartialEq, Eq)]
struct EntryKey(Normalized<'static>);

impl quick_cache::Equivalent<EntryKey> for Normalized<'_> {
    fn equivalent(&self, key: &EntryKey) -> bool {
        *self == key.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn usernames_are_compared_lowercased_and_borrowed_when_already_lowercase() {
        let borrowed = Key::Username("zoë.smith").normalized();
        assert!(matches!(borrowed.name, Cow::Borrowed("zoë.smith")));
        for spelling in ["Zoë.Smith", "ZOË.SMITH"] {
            let key = Key::Username(spelling).normalized();
            assert!(matches!(key.name, Cow::Owned(_)), "{spelling}");
            assert!(key == borrowed, "{spelling}");
        }
        // Titlecase letters are not uppercase, yet lowercasing changes them.
        let titlecase = Key::Username("ǅemal").normalized();
        assert_eq!(titlecase.name, "ǆemal");
        // Ids are exact, and never equal to a username.
        assert!(Key::Id("AbC").normalized().name == "AbC");
        assert!(Key::Id("abc").normalized() != Key::Username("abc").normalized());
    }

    #[test]
    fn a_borrowed_key_finds_the_entry_its_owned_copy_made() {
        let directory = Directory::new();
        let user = Arc::new(Displayed {
            user_id: "u1".into(),
            username: "Alice".into(),
            name: String::new(),
            avatar: None,
            stored_file: StoredFile::default(),
        });
        let key = Key::Username("Alice").normalized();
        directory
            .entries
            .insert(key.to_owned(), Entry::Known(user.clone()));
        for spelling in ["alice", "ALICE", "Alice"] {
            let found = directory.remembered(&Key::Username(spelling).normalized());
            assert!(
                found.flatten().is_some_and(|f| Arc::ptr_eq(&f, &user)),
                "{spelling}"
            );
        }
        assert!(
            directory
                .remembered(&Key::Id("alice").normalized())
                .is_none()
        );
        directory.forget("u1", "ALICE");
        assert!(directory.remembered(&key).is_none());
    }
}
