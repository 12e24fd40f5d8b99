//! Avatar blobs as files in a folder.
//!
//! A blob is written to `.incomplete/` first, fsynced, renamed to its key's path and the directory
//! fsynced, so after `put` returns the bytes survive a crash, and a crash before that leaves only a
//! file in `.incomplete/` that the startup sweep removes. Readers never see a partial blob.

use std::io::{ErrorKind, Write as _};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use avatard_domain::StoreError;
use avatard_domain::store::{BlobInfo, BlobStore, StoreResult};
use bytes::Bytes;

const INCOMPLETE: &str = ".incomplete";

pub struct FileBlobStore {
    root: PathBuf,
}

impl FileBlobStore {
    /// Use (and create) `root` as the blob folder.
    pub fn open(root: impl Into<PathBuf>) -> StoreResult<Self> {
        let root = root.into();
        std::fs::create_dir_all(root.join(INCOMPLETE)).map_err(backend)?;
        Ok(FileBlobStore { root })
    }

    /// The path of a key; keys come from the domain, but are checked so no key can escape the folder.
    fn path_of(&self, key: &str) -> StoreResult<PathBuf> {
        let safe = !key.is_empty()
            && key.split('/').all(|part| {
                !part.is_empty()
                    && !part.starts_with('.')
                    && part
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
            });
        if safe {
            Ok(self.root.join(key))
        } else {
            Err(StoreError::Backend(format!("invalid blob key {key:?}")))
        }
    }
}

fn backend(err: std::io::Error) -> StoreError {
    StoreError::Backend(err.to_string())
}

fn sync_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::File::open(dir)?.sync_all()
}

fn write_durably(root: &Path, target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let parent = target.parent().unwrap_or(root);
    std::fs::create_dir_all(parent)?;
    let staging = root.join(INCOMPLETE).join(avatard_domain::ids::new_id());
    let result = (|| {
        let mut file = std::fs::File::create(&staging)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&staging, target)?;
        sync_dir(parent)
    })();
    if result.is_err() {
        let _ = std::fs::remove_file(&staging);
    }
    result
}

#[async_trait]
impl BlobStore for FileBlobStore {
    async fn put(&self, key: &str, bytes: Bytes) -> StoreResult<()> {
        let target = self.path_of(key)?;
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || write_durably(&root, &target, &bytes))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .map_err(backend)
    }

    async fn get(&self, key: &str) -> StoreResult<Option<Bytes>> {
        match tokio::fs::read(self.path_of(key)?).await {
            Ok(bytes) => Ok(Some(Bytes::from(bytes))),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(None),
            Err(err) => Err(backend(err)),
        }
    }

    async fn delete(&self, key: &str) -> StoreResult<()> {
        match tokio::fs::remove_file(self.path_of(key)?).await {
            Ok(()) => Ok(()),
            Err(err) if err.kind() == ErrorKind::NotFound => Ok(()),
            Err(err) => Err(backend(err)),
        }
    }

    async fn sweep_incomplete(&self) -> StoreResult<usize> {
        let dir = self.root.join(INCOMPLETE);
        tokio::task::spawn_blocking(move || {
            let mut removed = 0;
            for entry in std::fs::read_dir(&dir)? {
                std::fs::remove_file(entry?.path())?;
                removed += 1;
            }
            Ok(removed)
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(backend)
    }

    async fn list(&self) -> StoreResult<Vec<BlobInfo>> {
        let root = self.root.clone();
        tokio::task::spawn_blocking(move || list_files(&root))
            .await
            .map_err(|e| StoreError::Backend(e.to_string()))?
            .map_err(backend)
    }

    async fn list_folder(&self, folder: &str) -> StoreResult<Vec<String>> {
        let dir = self.path_of(folder)?;
        let folder = folder.to_owned();
        tokio::task::spawn_blocking(move || {
            let entries = match std::fs::read_dir(&dir) {
                Ok(entries) => entries,
                Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
                Err(err) => return Err(err),
            };
            entries
                .map(|entry| Ok(format!("{folder}/{}", entry?.file_name().to_string_lossy())))
                .collect()
        })
        .await
        .map_err(|e| StoreError::Backend(e.to_string()))?
        .map_err(backend)
    }

    async fn ping(&self) -> StoreResult<()> {
        tokio::fs::metadata(self.root.join(INCOMPLETE))
            .await
            .map(|_| ())
            .map_err(backend)
    }
}

/// Every blob under `root`: keys are `<folder>/<file>`, the layout `path_of` creates.
fn list_files(root: &Path) -> std::io::Result<Vec<BlobInfo>> {
    let mut blobs = Vec::new();
    for folder in std::fs::read_dir(root)? {
        let folder = folder?;
        let name = folder.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') || !folder.file_type()?.is_dir() {
            continue;
        }
        for file in std::fs::read_dir(folder.path())? {
            let file = file?;
            let written = file.metadata()?.modified()?;
            blobs.push(BlobInfo {
                key: format!("{name}/{}", file.file_name().to_string_lossy()),
                written_at: written.into(),
            });
        }
    }
    Ok(blobs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn put_get_delete_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBlobStore::open(dir.path()).unwrap();
        store
            .put("u1/abc", Bytes::from_static(b"one"))
            .await
            .unwrap();
        assert_eq!(store.get("u1/abc").await.unwrap().unwrap(), "one");
        // Writing a key again keeps it readable (content addressing makes the bytes the same).
        store
            .put("u1/abc", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store.delete("u1/abc").await.unwrap();
        assert!(store.get("u1/abc").await.unwrap().is_none());
        store.delete("u1/abc").await.unwrap();
        assert_eq!(
            std::fs::read_dir(dir.path().join(INCOMPLETE))
                .unwrap()
                .count(),
            0
        );
    }

    #[tokio::test]
    async fn keys_cannot_escape_the_folder() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBlobStore::open(dir.path().join("blobs")).unwrap();
        for key in [
            "../x",
            "/etc/passwd",
            "a/../../b",
            "",
            "a//b",
            ".incomplete/x",
        ] {
            assert!(
                store.put(key, Bytes::from_static(b"x")).await.is_err(),
                "{key}"
            );
        }
        assert!(!dir.path().join("x").exists());
    }

    #[tokio::test]
    async fn sweep_removes_interrupted_writes_only() {
        let dir = tempfile::tempdir().unwrap();
        let store = FileBlobStore::open(dir.path()).unwrap();
        store.put("u/kept", Bytes::from_static(b"k")).await.unwrap();
        std::fs::write(dir.path().join(INCOMPLETE).join("half"), b"partial").unwrap();
        assert_eq!(store.sweep_incomplete().await.unwrap(), 1);
        assert_eq!(store.get("u/kept").await.unwrap().unwrap(), "k");
        let listed: Vec<String> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.key)
            .collect();
        assert_eq!(listed, vec!["u/kept".to_owned()]);
    }
}
