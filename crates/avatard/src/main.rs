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
    // Tokio's default is one worker thread per CPU; `serve --worker-threads` overrides it. One
    // worker has nobody to share work with: the current-thread scheduler runs it without the
    // work-stealing machinery.
    let worker_threads = match &cli.command {
        Command::Serve(args) => args.worker_threads,
        _ => None,
    };
    let mut builder = match worker_threads {
        Some(threads) if threads.get() == 1 => tokio::runtime::Builder::new_current_thread(),
        Some(threads) => {
            let mut builder = tokio::runtime::Builder::new_multi_thread();
            builder.worker_threads(threads.get());
            builder
        }
        None => tokio::runtime::Builder::new_multi_thread(),
    };
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
