//! Wiring: open the stores the URLs name, build the domain, bootstrap the admin, run the
//! maintenance tasks, and serve until a signal.

use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use avatard_domain::accounts::NewAccount;
use avatard_domain::authorization::USER;
use avatard_domain::migration::{self, Deployment};
use avatard_domain::{Domain, DomainConfig};
use avatard_http::{AppState, UploadMemory};
use avatard_storage::{DatabaseConfig, Engine, SqlMetadata};
use futures_util::StreamExt as _;
use tokio::net::TcpListener;

use crate::cli::{AddUserArgs, MigrateArgs, MigrateStorageArgs, ServeArgs, StorageArgs};

/// How often the webhook looks for undelivered events without being woken.
const WEBHOOK_POLL: Duration = Duration::from_secs(10);

fn database_config(storage: &StorageArgs) -> anyhow::Result<DatabaseConfig> {
    if storage.uses_data_dir() {
        let dir = &storage.data_dir;
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    Ok(DatabaseConfig {
        url: storage.database_url(),
        max_connections: storage.database_max_connections,
        statement_timeout: Duration::from_millis(storage.database_statement_timeout_ms),
    })
}

/// The domain on the configured stores, and the database engine it runs on.
async fn open_domain(
    storage: &StorageArgs,
    upload_ceiling: u64,
    avatar_cache_bytes: u64,
) -> anyhow::Result<(Domain, Engine)> {
    let metadata = SqlMetadata::open(&database_config(storage)?)
        .await
        .context("opening the database")?;
    let engine = metadata.engine();
    let feed = Arc::new(metadata.change_feed());
    let storage_url = storage.storage_url();
    let blobs = avatard_storage::open_blobs(&storage_url).context("opening the avatar storage")?;
    let swept = blobs.sweep_incomplete().await?;
    if swept > 0 {
        tracing::info!(
            swept,
            "removed blobs left incomplete by an interrupted write"
        );
    }
    let config = DomainConfig {
        upload_ceiling,
        image_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        avatar_cache_bytes,
        storage_type: avatard_storage::storage_type(&storage_url),
        // Rocket.Chat's TEST_MODE switches the API rate limiter off (R1.10); test suites call the
        // same route hundreds of times from one address.
        api_rate_limits: std::env::var("TEST_MODE").as_deref() != Ok("true"),
    };
    let domain = Domain::open(Arc::new(metadata), blobs, feed, &config).await?;
    Ok((domain, engine))
}

/// Rocket.Chat's first-start variables: create the admin when ADMIN_USERNAME and ADMIN_PASS are set.
async fn bootstrap_admin(domain: &Domain) -> anyhow::Result<()> {
    let (Ok(username), Ok(password)) =
        (std::env::var("ADMIN_USERNAME"), std::env::var("ADMIN_PASS"))
    else {
        return Ok(());
    };
    let email = std::env::var("ADMIN_EMAIL").ok().filter(|e| !e.is_empty());
    if domain
        .accounts
        .ensure_admin(&username, &password, email.as_deref())
        .await?
    {
        tracing::info!(%username, "created the admin user");
    }
    Ok(())
}

/// Background work every replica runs: following other replicas' changes (PostgreSQL), reloading
/// cached views periodically in case a notification was missed, and the lease-guarded orphan sweep.
fn spawn_maintenance(domain: &Domain, engine: Engine, args: &ServeArgs) {
    if engine == Engine::Postgres {
        let (following, url) = (domain.clone(), args.storage.database_url());
        tokio::spawn(async move {
            avatard_storage::follow_changes(&url, |change| {
                let domain = following.clone();
                async move {
                    if let Err(err) = domain.refresh(change).await {
                        tracing::warn!(%err, "could not reload after a change");
                    }
                }
            })
            .await;
        });
        let (refreshing, every) = (
            domain.clone(),
            Duration::from_secs(args.cache_refresh_secs.max(1)),
        );
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            loop {
                ticks.tick().await;
                if let Err(err) = refreshing.refresh(None).await {
                    tracing::warn!(%err, "periodic reload failed");
                }
            }
        });
    }
    // Identifies this process as a lease holder.
    let holder = format!("{}-{}", std::process::id(), avatard_domain::ids::new_id());
    spawn_webhook(domain.clone(), holder.clone());
    let sweeping = domain.clone();
    let every = Duration::from_secs(args.orphan_sweep_secs.max(1));
    let grace = Duration::from_secs(args.orphan_grace_secs);
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(every);
        loop {
            ticks.tick().await;
            match sweeping
                .avatars
                .sweep_orphans(&holder, grace, every * 2)
                .await
            {
                // The lease holder also keeps the avatar event log short.
                Ok(Some(removed)) => {
                    if removed > 0 {
                        tracing::info!(removed, "removed orphaned avatar blobs");
                    }
                    if let Err(err) = sweeping.events.prune().await {
                        tracing::warn!(%err, "pruning the avatar event log failed");
                    }
                }
                Ok(None) => {}
                Err(err) => tracing::warn!(%err, "orphan sweep failed"),
            }
        }
    });
}

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let (domain, engine) = open_domain(
        &args.storage,
        args.max_upload_bytes,
        args.avatar_cache_bytes,
    )
    .await?;
    bootstrap_admin(&domain).await?;
    spawn_maintenance(&domain, engine, &args);
    let listener = TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("listening on {}", args.listen))?;
    let address = listener.local_addr()?;
    let public_url = args
        .public_url
        .unwrap_or_else(|| format!("http://{address}"));
    tracing::info!(%address, %public_url, "avatard is serving");
    // A plain line on stdout for scripts and tests that started us with port 0.
    println!("avatard listening on http://{address}");
    avatard_http::serve(
        listener,
        AppState::new(
            domain,
            &public_url,
            args.trusted_proxies,
            // Never less than one largest upload, or such an upload could never be read. An
            // upload waiting for room is not reading its body, and that pause counts against the
            // body's idle timeout: the wait ends well before it.
            UploadMemory::new(
                args.upload_memory_bytes.max(args.max_upload_bytes),
                Duration::from_secs(args.upload_wait_secs.min(args.body_idle_timeout_secs / 2)),
            ),
        ),
        avatard_http::Timeouts {
            header_read: Duration::from_secs(args.header_read_timeout_secs),
            body_idle: Duration::from_secs(args.body_idle_timeout_secs),
        },
        shutdown_signal(),
    )
    .await?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let interrupt = tokio::signal::ctrl_c();
    let mut terminate =
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(signal) => signal,
            Err(err) => {
                tracing::warn!(%err, "cannot listen for SIGTERM; only SIGINT stops the server");
                let _ = interrupt.await;
                return;
            }
        };
    tokio::select! {
        _ = interrupt => {}
        _ = terminate.recv() => {}
    }
    tracing::info!("shutting down: finishing requests in flight");
}

pub async fn migrate(args: MigrateArgs) -> anyhow::Result<()> {
    let metadata = SqlMetadata::connect(&database_config(&args.storage)?)
        .await
        .context("connecting to the database")?;
    metadata.migrate().await?;
    println!("the database schema is up to date");
    Ok(())
}

/// One side of a storage migration, migrated to the current schema.
async fn deployment((database_url, storage_url): &(String, String)) -> anyhow::Result<Deployment> {
    let config = DatabaseConfig {
        url: database_url.clone(),
        max_connections: 4,
        statement_timeout: Duration::from_secs(60),
    };
    let metadata = SqlMetadata::open(&config)
        .await
        .with_context(|| format!("opening the database of {storage_url}"))?;
    let blobs = avatard_storage::open_blobs(storage_url)
        .with_context(|| format!("opening {storage_url}"))?;
    Ok(Deployment {
        metadata: Arc::new(metadata),
        blobs,
    })
}

pub async fn migrate_storage(args: MigrateStorageArgs) -> anyhow::Result<()> {
    let from = deployment(&args.from).await?;
    let to = deployment(&args.to).await?;
    let bar = indicatif::ProgressBar::new(0).with_style(
        indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} users {elapsed}")
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar()),
    );
    let report = migration::migrate(&from, &to, |done, total| {
        bar.set_length(total as u64);
        bar.set_position(done as u64);
    })
    .await
    .map_err(|err| anyhow::anyhow!("{err}"))?;
    bar.finish();
    println!(
        "users: {} copied, {} already there; avatars: {} copied ({} bytes, verified), {} already there; \
         settings: {}; permissions: {}; login tokens: {}",
        report.users_copied,
        report.users_present,
        report.avatars_copied,
        report.avatar_bytes,
        report.avatars_present,
        report.settings,
        report.permissions,
        report.login_tokens
    );
    Ok(())
}

pub async fn add_user(args: AddUserArgs) -> anyhow::Result<()> {
    let (domain, _) = open_domain(&args.storage, 0, 0).await?;
    let name = args.name.as_deref().unwrap_or(&args.username);
    let mut account = NewAccount::user(&args.username, name, args.email.as_deref(), &args.password);
    if !args.roles.is_empty() {
        account.roles = args.roles;
        if !account.roles.iter().any(|r| r == USER) {
            account.roles.push(USER.to_owned());
        }
    }
    let user = domain
        .accounts
        .add(account)
        .await
        .map_err(|err| anyhow::anyhow!("{err}"))?;
    println!("created user {} ({})", user.user.username, user.user.id);
    Ok(())
}

/// Deliver avatar events to the webhook, woken by every event this replica applies and by a timer
/// (for the replica that takes the lease over from one that stopped).
fn spawn_webhook(domain: Domain, holder: String) {
    tokio::spawn(async move {
        let mut changes = match domain.events.subscribe(None).await {
            Ok(changes) => changes.boxed(),
            Err(err) => {
                tracing::warn!(%err, "cannot follow avatar events; the webhook runs on its timer");
                futures_util::stream::pending().boxed()
            }
        };
        let mut ticks = tokio::time::interval(WEBHOOK_POLL);
        loop {
            tokio::select! {
                next = changes.next() => if next.is_none() {
                    changes = futures_util::stream::pending().boxed();
                },
                _ = ticks.tick() => {}
            }
            match domain.webhook.deliver_pending(&holder).await {
                Ok(Some(done)) if done.sent + done.failed > 0 => {
                    tracing::info!(sent = done.sent, failed = done.failed, "webhook deliveries");
                }
                Ok(_) => {}
                Err(err) => tracing::warn!(%err, "webhook delivery round failed"),
            }
        }
    });
}
