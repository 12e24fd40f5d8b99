//! Storage engines behind the domain's [`MetadataStore`](avatard_domain::store::MetadataStore) and
//! [`BlobStore`](avatard_domain::store::BlobStore) traits.
//!
//! - [`sqlite::SqliteMetadata`]: the embedded metadata store (one file, WAL mode).
//! - [`files::FileBlobStore`]: the embedded blob store (a folder; write, fsync, rename).

pub mod files;
pub mod sqlite;

pub use files::FileBlobStore;
pub use sqlite::SqliteMetadata;
