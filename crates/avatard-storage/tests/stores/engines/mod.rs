//! The engines a storage test runs on: always the embedded ones, plus PostgreSQL and S3 when
//! scripts/test.sh started them (AVATARD_TEST_POSTGRES_URL, AVATARD_TEST_S3_URL).

use std::time::Duration;

use avatard_storage::{DatabaseConfig, SqlMetadata};

/// A fresh, migrated metadata store on each available engine, with its name.
pub async fn databases() -> Vec<(String, SqlMetadata)> {
    let mut urls = vec![("sqlite".to_owned(), "sqlite::memory:".to_owned())];
    if let Ok(admin_url) = std::env::var("AVATARD_TEST_POSTGRES_URL") {
        let url = avatard_storage::create_postgres_database(&admin_url, "storage")
            .await
            .expect("create a test database");
        urls.push(("postgres".to_owned(), url));
    }
    let mut stores = Vec::new();
    for (engine, url) in urls {
        let config = DatabaseConfig {
            url,
            max_connections: 8,
            statement_timeout: Duration::from_secs(10),
        };
        stores.push((
            engine,
            SqlMetadata::open(&config).await.expect("open the database"),
        ));
    }
    stores
}

/// Storage URLs of each available blob engine (the file one under `dir`), each fresh.
pub fn blob_urls(dir: &std::path::Path) -> Vec<String> {
    let mut urls = vec![
        format!("file://{}", dir.join("blobs").display()),
        "memory://".to_owned(),
    ];
    if let Ok(bucket) = std::env::var("AVATARD_TEST_S3_URL") {
        urls.push(format!(
            "{bucket}/storage-{}",
            avatard_domain::ids::new_id()
        ));
    }
    urls
}
