//! The blob stores (files, memory and, when available, S3) behave alike.

use crate::engines;
use bytes::Bytes;

#[tokio::test]
async fn put_get_list_delete_on_every_engine() {
    let dir = tempfile::tempdir().unwrap();
    for url in engines::blob_urls(dir.path()) {
        let store = avatard_storage::open_blobs(&url).unwrap();
        store.ping().await.unwrap();
        assert!(store.get("u1/missing").await.unwrap().is_none(), "{url}");
        store
            .put("u1/abc-1", Bytes::from_static(b"one"))
            .await
            .unwrap();
        store
            .put("u2/def-2", Bytes::from(vec![7u8; 100_000]))
            .await
            .unwrap();
        assert_eq!(
            store.get("u1/abc-1").await.unwrap().unwrap(),
            "one",
            "{url}"
        );
        assert_eq!(store.get("u2/def-2").await.unwrap().unwrap().len(), 100_000);

        let mut keys: Vec<String> = store
            .list()
            .await
            .unwrap()
            .into_iter()
            .map(|b| b.key)
            .collect();
        keys.sort();
        assert_eq!(keys, vec!["u1/abc-1", "u2/def-2"], "{url}");
        let written = store.list().await.unwrap()[0].written_at;
        assert!(
            (chrono::Utc::now() - written).num_seconds().abs() < 120,
            "{url}: {written}"
        );

        store.delete("u1/abc-1").await.unwrap();
        store.delete("u1/abc-1").await.unwrap();
        assert!(store.get("u1/abc-1").await.unwrap().is_none(), "{url}");
        assert_eq!(store.list().await.unwrap().len(), 1, "{url}");
    }
}

#[test]
fn unknown_storage_urls_are_refused() {
    for url in ["ftp://x", "gs://bucket", "s3://", "/just/a/path"] {
        assert!(avatard_storage::open_blobs(url).is_err(), "{url}");
    }
}
