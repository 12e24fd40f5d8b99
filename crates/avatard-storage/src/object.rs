//! Avatar blobs in object storage through `object_store`: S3 and S3-compatible servers (MinIO, Ceph,
//! SeaweedFS, Garage, R2 …) for scale-out, and an in-memory store for tests.
//!
//! An S3 PUT is atomic and durable when it returns, so a blob is either wholly there or absent; there
//! is nothing half-written to sweep.

use std::sync::Arc;

use async_trait::async_trait;
use avatard_domain::StoreError;
use avatard_domain::store::{BlobInfo, BlobStore, StoreResult};
use bytes::Bytes;
use futures_util::TryStreamExt as _;
use object_store::aws::AmazonS3Builder;
use object_store::memory::InMemory;
use object_store::path::Path;
use object_store::{ObjectStore, ObjectStoreExt as _, PutPayload};

pub struct ObjectBlobStore {
    store: Arc<dyn ObjectStore>,
    /// Where avatars live inside the bucket, so a bucket can be shared with other data.
    prefix: Path,
}

fn backend(err: object_store::Error) -> StoreError {
    match err {
        object_store::Error::Generic { .. } => StoreError::Unavailable(err.to_string()),
        other => StoreError::Backend(other.to_string()),
    }
}

impl ObjectBlobStore {
    /// `memory://`, or `s3://bucket/prefix` configured by the usual `AWS_*` variables
    /// (`AWS_ACCESS_KEY_ID`, `AWS_SECRET_ACCESS_KEY`, `AWS_DEFAULT_REGION`, and `AWS_ENDPOINT_URL`
    /// for S3-compatible servers; an `http://` endpoint is allowed without TLS).
    pub fn open(url: &str) -> StoreResult<Self> {
        if url == "memory://" || url == "memory:" {
            return Ok(ObjectBlobStore {
                store: Arc::new(InMemory::new()),
                prefix: Path::from("avatars"),
            });
        }
        let parsed =
            url::Url::parse(url).map_err(|e| StoreError::Backend(format!("storage URL: {e}")))?;
        if parsed.scheme() != "s3" {
            return Err(StoreError::Backend(format!(
                "unsupported storage URL scheme {:?}",
                parsed.scheme()
            )));
        }
        let bucket = parsed
            .host_str()
            .filter(|b| !b.is_empty())
            .ok_or_else(|| StoreError::Backend("the storage URL names no bucket".into()))?;
        let plain_http = ["AWS_ENDPOINT_URL", "AWS_ENDPOINT", "AWS_ENDPOINT_URL_S3"]
            .iter()
            .filter_map(|name| std::env::var(name).ok())
            .any(|endpoint| endpoint.starts_with("http://"));
        let mut builder = AmazonS3Builder::from_env().with_bucket_name(bucket);
        if plain_http {
            builder = builder.with_allow_http(true);
        }
        let store = builder.build().map_err(backend)?;
        let prefix = parsed.path().trim_matches('/');
        Ok(ObjectBlobStore {
            store: Arc::new(store),
            prefix: Path::from(if prefix.is_empty() { "avatars" } else { prefix }),
        })
    }

    fn path_of(&self, key: &str) -> Path {
        let mut path = self.prefix.clone();
        for part in key.split('/') {
            path = path.join(part);
        }
        path
    }
}

#[async_trait]
impl BlobStore for ObjectBlobStore {
    async fn put(&self, key: &str, bytes: Bytes) -> StoreResult<()> {
        self.store
            .put(&self.path_of(key), PutPayload::from_bytes(bytes))
            .await
            .map_err(backend)?;
        Ok(())
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>> {
        match self.store.get(&self.path_of(key)).await {
            Ok(found) => Ok(Some(found.bytes().await.map_err(backend)?)),
            Err(object_store::Error::NotFound { .. }) => Ok(None),
            Err(err) => Err(backend(err)),
        }
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        match self.store.delete(&self.path_of(key)).await {
            Ok(()) | Err(object_store::Error::NotFound { .. }) => Ok(()),
            Err(err) => Err(backend(err)),
        }
    }

    async fn sweep_incomplete(&self) -> StoreResult<usize> {
        Ok(0)
    }

    async fn list(&self) -> StoreResult<Vec<BlobInfo>> {
        let prefix = format!("{}/", self.prefix);
        self.store
            .list(Some(&self.prefix))
            .map_err(backend)
            .map_ok(|meta| BlobInfo {
                key: meta
                    .location
                    .as_ref()
                    .strip_prefix(&prefix)
                    .unwrap_or(meta.location.as_ref())
                    .to_owned(),
                written_at: meta.last_modified,
            })
            .try_collect()
            .await
    }

    async fn list_folder(&self, folder: &str) -> StoreResult<Vec<String>> {
        let prefix = format!("{}/", self.prefix);
        self.store
            .list(Some(&self.path_of(folder)))
            .map_err(backend)
            .map_ok(|meta| {
                let key = meta.location.as_ref();
                key.strip_prefix(&prefix).unwrap_or(key).to_owned()
            })
            .try_collect()
            .await
    }

    async fn ping(&self) -> StoreResult<()> {
        self.store
            .list_with_delimiter(Some(&self.prefix))
            .await
            .map_err(backend)?;
        Ok(())
    }
}
