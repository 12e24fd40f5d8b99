//! Wiring: open the stores, build the domain, bootstrap the admin, serve until a signal.

use std::sync::Arc;

use anyhow::Context as _;
use avatard_domain::accounts::NewAccount;
use avatard_domain::authorization::USER;
use avatard_domain::{Domain, DomainConfig};
use avatard_http::AppState;
use avatard_storage::{FileBlobStore, SqliteMetadata};
use tokio::net::TcpListener;

use crate::cli::{AddUserArgs, ServeArgs, StorageArgs};

async fn open_domain(storage: &StorageArgs, upload_ceiling: u64) -> anyhow::Result<Domain> {
    let dir = &storage.data_dir;
    std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    let metadata = SqliteMetadata::open(&dir.join("avatard.db"))
        .await
        .context("opening the database")?;
    let blobs = FileBlobStore::open(dir.join("blobs")).context("opening the blob folder")?;
    let swept = avatard_domain::store::BlobStore::sweep_incomplete(&blobs).await?;
    if swept > 0 {
        tracing::info!(
            swept,
            "removed blobs left incomplete by an interrupted write"
        );
    }
    let config = DomainConfig {
        upload_ceiling,
        image_workers: std::thread::available_parallelism().map_or(2, |n| n.get()),
        storage_type: "FileSystem",
    };
    Ok(Domain::open(Arc::new(metadata), Arc::new(blobs), &config).await?)
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

pub async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    let domain = open_domain(&args.storage, args.max_upload_bytes).await?;
    bootstrap_admin(&domain).await?;
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
        AppState::new(domain, &public_url),
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

pub async fn add_user(args: AddUserArgs) -> anyhow::Result<()> {
    let domain = open_domain(&args.storage, 0).await?;
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
