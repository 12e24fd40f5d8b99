//! Change notifications between replicas through PostgreSQL `LISTEN`/`NOTIFY`.
//!
//! A replica that changed a cached view publishes on one channel after its commit; every replica
//! follows the channel and reloads what changed. When the listening connection drops, notifications
//! may have been missed, so the follower reloads everything once it is back.

use std::future::Future;
use std::time::Duration;

use async_trait::async_trait;
use avatard_domain::changes::{Change, ChangeFeed};
use avatard_domain::store::StoreResult;
use sqlx::AnyPool;
use sqlx::postgres::PgListener;

use crate::sql::{Engine, classify};

const CHANNEL: &str = "avatard_changes";
const LONGEST_BACKOFF: Duration = Duration::from_secs(30);

/// Publishes changes through the metadata database. On SQLite there is one process per database
/// and nothing to tell, so publishing does nothing.
pub struct SqlChangeFeed {
    pub(crate) pool: AnyPool,
    pub(crate) engine: Engine,
}

#[async_trait]
impl ChangeFeed for SqlChangeFeed {
    async fn publish(&self, change: Change) -> StoreResult<()> {
        if self.engine == Engine::Sqlite {
            return Ok(());
        }
        // NOTIFY takes no bind parameters; the payload is one of a fixed set of identifiers.
        let statement = format!("NOTIFY {CHANNEL}, '{}'", change.as_str());
        sqlx::query(sqlx::AssertSqlSafe(statement))
            .execute(&self.pool)
            .await
            .map_err(classify)?;
        Ok(())
    }
}

/// Follow other replicas' changes for as long as the process runs: `apply(Some(change))` for each
/// notification, `apply(None)` whenever notifications may have been missed (at every (re)connect).
pub async fn follow_changes<F, Fut>(database_url: &str, mut apply: F)
where
    F: FnMut(Option<Change>) -> Fut,
    Fut: Future<Output = ()>,
{
    let mut backoff = Duration::from_secs(1);
    loop {
        match listen(database_url).await {
            Ok(mut listener) => {
                backoff = Duration::from_secs(1);
                // Anything may have changed while nobody was listening.
                apply(None).await;
                loop {
                    match listener.try_recv().await {
                        Ok(Some(notification)) => {
                            apply(Change::parse(notification.payload())).await
                        }
                        // The connection dropped; sqlx reconnects on the next call.
                        Ok(None) => {
                            tracing::warn!(
                                "change notifications interrupted; reloading everything"
                            );
                            apply(None).await;
                        }
                        Err(err) => {
                            tracing::warn!(%err, "change notifications failed; reconnecting");
                            break;
                        }
                    }
                }
            }
            Err(err) => tracing::warn!(%err, "cannot listen for changes; retrying"),
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(LONGEST_BACKOFF);
    }
}

async fn listen(database_url: &str) -> Result<PgListener, sqlx::Error> {
    let mut listener = PgListener::connect(database_url).await?;
    listener.listen(CHANNEL).await?;
    Ok(listener)
}
