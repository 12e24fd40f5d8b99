//! `avatard`: the command line. `serve` runs the server; `user add` manages accounts from a shell.

mod cli;
mod logging;
mod runtime;

use clap::Parser as _;

use cli::{Cli, Command, UserCommand};

/// mimalloc rather than glibc's allocator: serving allocates and frees small buffers on every
/// request, and glibc spent a tenth of the serving CPU on it (see docs/performance.md).
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init();
    // Tokio's default is one worker thread per CPU; `serve --worker-threads` overrides it.
    let mut builder = tokio::runtime::Builder::new_multi_thread();
    if let Command::Serve(args) = &cli.command
        && let Some(threads) = args.worker_threads
    {
        builder.worker_threads(threads.get());
    }
    let rt = builder.enable_all().build()?;
    rt.block_on(async move {
        match cli.command {
            Command::Serve(args) => runtime::serve(args).await,
            Command::Migrate(args) => runtime::migrate(args).await,
            Command::MigrateStorage(args) => runtime::migrate_storage(args).await,
            Command::User {
                command: UserCommand::Add(args),
            } => runtime::add_user(args).await,
        }
    })
}
