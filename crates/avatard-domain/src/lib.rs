//! The domain of avatard: accounts, authorization, settings and avatars, with Rocket.Chat's rules.
//!
//! This crate knows nothing of HTTP servers or storage engines. It talks to storage through the
//! [`store::MetadataStore`] and [`store::BlobStore`] traits, processes images with `avatard-imaging`
//! and fetches remote images only through `avatard-fetch`'s SSRF-checked client. Errors are
//! Rocket.Chat's own vocabulary ([`Error`]); the HTTP layer maps them to status codes.

pub mod accounts;
pub mod authorization;
pub mod avatars;
pub mod changes;
pub mod directory;
mod error;
pub mod events;
pub mod ids;
pub mod migration;
pub mod model;
pub mod settings;
mod size;
pub mod store;
pub mod throttle;
pub mod webhook;

use std::sync::Arc;

pub use error::{Error, NOT_LOGGED_IN, Result, StoreError};

use accounts::Accounts;
use authorization::Authorization;
use avatars::Avatars;
use changes::{Change, ChangeFeed};
use directory::Directory;
use events::AvatarEvents;
use settings::Settings;
use store::{BlobStore, MetadataStore};
use throttle::Throttle;
use webhook::Webhook;

/// What the operator configures (as opposed to settings, which admins change at run time).
#[derive(Clone, Debug)]
pub struct DomainConfig {
    /// The most bytes ever read for one image, whatever `FileUpload_MaxFileSize` says, so memory
    /// stays bounded even when that setting is -1 (unlimited).
    pub upload_ceiling: u64,
    /// How many images may be decoded at once.
    pub image_workers: usize,
    /// Memory for cached avatar bytes.
    pub avatar_cache_bytes: u64,
    /// The storage backend's name as Rocket.Chat's `FileUpload_Storage_Type` spells it.
    pub storage_type: &'static str,
    /// Whether API calls are rate limited; off in Rocket.Chat's test mode (R1.10).
    pub api_rate_limits: bool,
}

/// All domain services, wired to one metadata store and one blob store.
#[derive(Clone)]
pub struct Domain {
    pub accounts: Accounts,
    pub authorization: Authorization,
    pub settings: Settings,
    pub avatars: Avatars,
    /// Avatar changes as they are applied on this replica.
    pub events: AvatarEvents,
    pub webhook: Webhook,
    pub throttle: Throttle,
    metadata: Arc<dyn MetadataStore>,
    blobs: Arc<dyn BlobStore>,
}

/// Whether the engines behind the domain answer.
pub struct Readiness {
    pub database: std::result::Result<(), StoreError>,
    pub storage: std::result::Result<(), StoreError>,
}

impl Readiness {
    pub fn is_ready(&self) -> bool {
        self.database.is_ok() && self.storage.is_ok()
    }
}

impl Domain {
    /// Load settings and permissions (seeding defaults) and build the services.
    pub async fn open(
        store: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        feed: Arc<dyn ChangeFeed>,
        config: &DomainConfig,
    ) -> Result<Self> {
        let settings = Settings::load(store.clone(), feed.clone(), config.storage_type).await?;
        let authorization = Authorization::load(store.clone(), feed.clone()).await?;
        let events = AvatarEvents::open(store.clone(), feed, Directory::new()).await?;
        let accounts = Accounts::new(
            store.clone(),
            blobs.clone(),
            settings.clone(),
            authorization.clone(),
            events.clone(),
        );
        let avatars = Avatars::new(
            store.clone(),
            blobs.clone(),
            settings.clone(),
            authorization.clone(),
            accounts.clone(),
            events.clone(),
            config,
        );
        let webhook = Webhook::new(store.clone(), settings.clone());
        let throttle = Throttle::new(
            settings.clone(),
            authorization.clone(),
            config.api_rate_limits,
        );
        Ok(Domain {
            throttle,
            webhook,
            accounts,
            authorization,
            settings,
            avatars,
            events,
            metadata: store,
            blobs,
        })
    }

    /// Reload what another replica changed; `None` (a missed notification, a periodic refresh)
    /// reloads every view.
    pub async fn refresh(&self, change: Option<Change>) -> Result<()> {
        if change.is_none_or(|c| c == Change::Settings) {
            self.settings.reload().await?;
        }
        if change.is_none_or(|c| c == Change::Permissions) {
            self.authorization.reload().await?;
        }
        if change.is_none_or(|c| c == Change::Avatars) {
            self.events.catch_up().await?;
        }
        Ok(())
    }

    /// Ask both engines whether they answer.
    pub async fn readiness(&self) -> Readiness {
        let (database, storage) = tokio::join!(self.metadata.ping(), self.blobs.ping());
        Readiness { database, storage }
    }
}
