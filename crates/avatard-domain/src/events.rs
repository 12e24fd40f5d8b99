//! The avatar event log, followed live: every change of what a user's avatar shows is appended to
//! the metadata store in the transaction that makes it (see [`MetadataStore::commit_avatar`]), and
//! each replica follows the log in order. Following it drops the replica's cached view of that user
//! and hands the event to every `avatars.events` subscriber; the webhook reads the same log.
//!
//! The log, not the notification, is the truth: a notification only says "read the log", so a
//! missed one delays a change until the next read (the next notification, reconnect or periodic
//! refresh) but never loses it.

use std::collections::VecDeque;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use futures_util::Stream;
use tokio::sync::{Mutex, broadcast};

use crate::changes::{Change, ChangeFeed};
use crate::directory::Directory;
use crate::error::Result;
use crate::model::AvatarEvent;
use crate::store::MetadataStore;

/// How long events are kept: how long a disconnected `avatars.events` client can resume, and how far
/// the webhook may fall behind before it skips events.
const RETENTION: chrono::TimeDelta = chrono::TimeDelta::days(7);
/// Events read from the store at a time.
const PAGE: u32 = 500;
/// Events buffered per subscriber before it has to catch up from the store.
const BUFFERED: usize = 1024;

/// What an `avatars.events` subscriber receives.
#[derive(Clone, Debug, PartialEq)]
pub enum Notice {
    /// An avatar changed.
    Changed(Arc<AvatarEvent>),
    /// Events after the subscriber's last one are no longer kept: it should refresh every avatar
    /// it shows. Sent first, at most once.
    Missed,
}

#[derive(Clone)]
pub struct AvatarEvents {
    inner: Arc<Inner>,
}

struct Inner {
    store: Arc<dyn MetadataStore>,
    feed: Arc<dyn ChangeFeed>,
    directory: Directory,
    /// The last event applied here; held while applying, so events are applied once and in order.
    applying: Mutex<i64>,
    /// The same number, readable without waiting.
    head: AtomicI64,
    sender: broadcast::Sender<Arc<AvatarEvent>>,
}

impl AvatarEvents {
    /// Start following at the log's current end: what happened before is already in the store,
    /// and this process has nothing cached yet.
    pub(crate) async fn open(
        store: Arc<dyn MetadataStore>,
        feed: Arc<dyn ChangeFeed>,
        directory: Directory,
    ) -> Result<AvatarEvents> {
        let head = store.last_avatar_event().await?;
        Ok(AvatarEvents {
            inner: Arc::new(Inner {
                store,
                feed,
                directory,
                applying: Mutex::new(head),
                head: AtomicI64::new(head),
                sender: broadcast::channel(BUFFERED).0,
            }),
        })
    }

    /// The cached users this log keeps current.
    pub(crate) fn directory(&self) -> &Directory {
        &self.inner.directory
    }

    /// After this process committed a change for a user: forget them at once (even if reading the
    /// log fails now), apply the log, and tell the other replicas to read it.
    pub(crate) async fn committed(&self, user_id: &str, username: &str) {
        self.inner.directory.forget(user_id, username);
        if let Err(err) = self.catch_up().await {
            tracing::warn!(%err, "could not read the avatar event log; the next refresh will");
        }
        if let Err(err) = self.inner.feed.publish(Change::Avatars).await {
            tracing::warn!(%err, "could not tell other replicas about an avatar change");
        }
    }

    /// Apply every event after the last one applied here.
    pub async fn catch_up(&self) -> Result<()> {
        let inner = &self.inner;
        let mut applied = inner.applying.lock().await;
        loop {
            let page = inner.store.avatar_events(*applied, PAGE).await?;
            for event in &page {
                inner.directory.forget(&event.user_id, &event.username);
                *applied = event.seq;
                inner.head.store(event.seq, Ordering::SeqCst);
                // No subscribers is not an error.
                let _ = inner.sender.send(Arc::new(event.clone()));
            }
            if page.len() < PAGE as usize {
                return Ok(());
            }
        }
    }

    /// Forget events older than the retention period.
    pub async fn prune(&self) -> Result<u64> {
        Ok(self
            .inner
            .store
            .prune_avatar_events(chrono::Utc::now() - RETENTION)
            .await?)
    }

    /// The events after `last_event_id` (those still kept), then every new one as this replica
    /// applies it. Without `last_event_id`, only new ones. The stream ends when the store fails
    /// while catching up; a client resumes with its last event id.
    pub async fn subscribe(
        &self,
        last_event_id: Option<i64>,
    ) -> Result<impl Stream<Item = Result<Notice>> + Send + use<>> {
        // Subscribe before reading the head: an event applied in between arrives twice (and is
        // skipped by sequence number) rather than not at all.
        let live = self.inner.sender.subscribe();
        let head = self.inner.head.load(Ordering::SeqCst);
        let mut missed = false;
        let cursor = match last_event_id {
            Some(last) => {
                let first = self.inner.store.first_avatar_event().await?;
                missed = first.is_some_and(|first| last.saturating_add(1) < first);
                last
            }
            None => head,
        };
        let subscription = Subscription {
            inner: self.inner.clone(),
            live,
            cursor,
            backlog: VecDeque::new(),
            behind: last_event_id.is_some(),
            missed,
        };
        Ok(futures_util::stream::unfold(
            subscription,
            |mut subscription| async move {
                let next = subscription.next().await?;
                Some((next, subscription))
            },
        ))
    }
}

struct Subscription {
    inner: Arc<Inner>,
    live: broadcast::Receiver<Arc<AvatarEvent>>,
    /// The last event delivered.
    cursor: i64,
    backlog: VecDeque<Arc<AvatarEvent>>,
    /// Whether events between `cursor` and the live stream must be read from the store.
    behind: bool,
    missed: bool,
}

impl Subscription {
    async fn next(&mut self) -> Option<Result<Notice>> {
        if std::mem::take(&mut self.missed) {
            return Some(Ok(Notice::Missed));
        }
        loop {
            if let Some(event) = self.backlog.pop_front() {
                self.cursor = event.seq;
                return Some(Ok(Notice::Changed(event)));
            }
            if self.behind {
                if let Err(err) = self.read_backlog().await {
                    return Some(Err(err));
                }
                continue;
            }
            match self.live.recv().await {
                Ok(event) if event.seq <= self.cursor => continue,
                Ok(event) => {
                    self.cursor = event.seq;
                    return Some(Ok(Notice::Changed(event)));
                }
                Err(broadcast::error::RecvError::Lagged(_)) => self.behind = true,
                Err(broadcast::error::RecvError::Closed) => return None,
            }
        }
    }

    /// Read missed events from the store, but only those this replica has applied: a newer one
    /// would reach the client before this replica forgot its cached avatar, and the client, asking
    /// at once, would get the old image. Newer ones arrive live once applied.
    async fn read_backlog(&mut self) -> Result<()> {
        let head = self.inner.head.load(Ordering::SeqCst);
        let page = self.inner.store.avatar_events(self.cursor, PAGE).await?;
        let full = page.len() == PAGE as usize;
        let applied: VecDeque<_> = page
            .into_iter()
            .take_while(|event| event.seq <= head)
            .map(Arc::new)
            .collect();
        self.behind = full && applied.len() == PAGE as usize;
        self.backlog = applied;
        Ok(())
    }
}
