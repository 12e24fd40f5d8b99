//! The domain of avatard: accounts, authorization, settings and avatars, with Rocket.Chat's rules.
//!
//! This crate knows nothing of HTTP servers or storage engines. It talks to storage through the
//! [`store::MetadataStore`] and [`store::BlobStore`] traits, processes images with `avatard-imaging`
//! and fetches remote images only through `avatard-fetch`'s SSRF-checked client. Errors are
//! Rocket.Chat's own vocabulary ([`Error`]); the HTTP layer maps them to status codes.

pub mod accounts;
pub mod authorization;
pub mod avatars;
mod error;
pub mod ids;
pub mod model;
pub mod settings;
mod size;
pub mod store;

use std::sync::Arc;

pub use error::{Error, NOT_LOGGED_IN, Result, StoreError};

use accounts::Accounts;
use authorization::Authorization;
use avatars::Avatars;
use settings::Settings;
use store::{BlobStore, MetadataStore};

/// What the operator configures (as opposed to settings, which admins change at run time).
#[derive(Clone, Debug)]
pub struct DomainConfig {
    /// The most bytes ever read for one image, whatever `FileUpload_MaxFileSize` says, so memory
    /// stays bounded even when that setting is -1 (unlimited).
    pub upload_ceiling: u64,
    /// How many images may be decoded at once.
    pub image_workers: usize,
    /// The storage backend's name as Rocket.Chat's `FileUpload_Storage_Type` spells it.
    pub storage_type: &'static str,
}

/// All domain services, wired to one metadata store and one blob store.
#[derive(Clone)]
pub struct Domain {
    pub accounts: Accounts,
    pub authorization: Authorization,
    pub settings: Settings,
    pub avatars: Avatars,
}

impl Domain {
    /// Load settings and permissions (seeding defaults) and build the services.
    pub async fn open(
        store: Arc<dyn MetadataStore>,
        blobs: Arc<dyn BlobStore>,
        config: &DomainConfig,
    ) -> Result<Self> {
        let settings = Settings::load(store.clone(), config.storage_type).await?;
        let authorization = Authorization::load(store.clone()).await?;
        let accounts = Accounts::new(
            store.clone(),
            blobs.clone(),
            settings.clone(),
            authorization.clone(),
        );
        let avatars = Avatars::new(
            store,
            blobs,
            settings.clone(),
            authorization.clone(),
            accounts.clone(),
            config,
        );
        Ok(Domain {
            accounts,
            authorization,
            settings,
            avatars,
        })
    }
}
