//! Storage engines behind the domain's [`MetadataStore`](avatard_domain::store::MetadataStore) and
//! [`BlobStore`](avatard_domain::store::BlobStore) traits, chosen by URL:
//!
//! | metadata | blobs |
//! |---|---|
//! | `sqlite://…` — [`SqlMetadata`], embedded | `file://…` — [`FileBlobStore`], embedded |
//! | `postgres://…` — [`SqlMetadata`], scale-out | `s3://bucket/prefix` — [`ObjectBlobStore`], scale-out |
//! | | `memory://` — [`ObjectBlobStore`], tests |

pub mod files;
pub mod notify;
pub mod object;
pub mod sql;

use std::sync::Arc;

use avatard_domain::StoreError;
use avatard_domain::store::{BlobStore, StoreResult};

pub use files::FileBlobStore;
pub use notify::{SqlChangeFeed, follow_changes};
pub use object::ObjectBlobStore;
pub use sql::{DatabaseConfig, Engine, SqlMetadata, create_postgres_database};

/// Open the blob store a storage URL names.
pub fn open_blobs(url: &str) -> StoreResult<Arc<dyn BlobStore>> {
    match url.strip_prefix("file://") {
        Some(path) => Ok(Arc::new(FileBlobStore::open(path)?)),
        None if url.starts_with("s3://") || url.starts_with("memory:") => {
            Ok(Arc::new(ObjectBlobStore::open(url)?))
        }
        None => Err(StoreError::Backend(format!(
            "unsupported storage URL {url:?}"
        ))),
    }
}

/// Rocket.Chat's `FileUpload_Storage_Type` name for a storage URL.
pub fn storage_type(url: &str) -> &'static str {
    if url.starts_with("s3://") {
        "AmazonS3"
    } else if url.starts_with("memory:") {
        "Memory"
    } else {
        "FileSystem"
    }
}
