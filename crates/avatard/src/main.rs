//! `avatard`: the command line. `serve` runs the server; `user add` manages accounts from a shell.

mod cli;
mod logging;
mod runtime;

use clap::Parser as _;

use cli::{Cli, Command, UserCommand};

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    logging::init();
    match cli.command {
        Command::Serve(args) => runtime::serve(args).await,
        Command::Migrate(args) => runtime::migrate(args).await,
        Command::MigrateStorage(args) => runtime::migrate_storage(args).await,
        Command::User {
            command: UserCommand::Add(args),
        } => runtime::add_user(args).await,
    }
}
