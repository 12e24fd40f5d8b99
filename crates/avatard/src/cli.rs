//! Flags and their environment twins.

use std::net::SocketAddr;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "avatard",
    version,
    about = "A Rocket.Chat-compatible avatar server"
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Subcommand)]
pub enum Command {
    /// Run the HTTP server.
    Serve(ServeArgs),
    /// Manage user accounts (works while the server runs).
    User {
        #[command(subcommand)]
        command: UserCommand,
    },
}

#[derive(Subcommand)]
pub enum UserCommand {
    /// Create a user.
    Add(AddUserArgs),
}

/// Where the embedded storage lives.
#[derive(Args, Clone)]
pub struct StorageArgs {
    /// Folder for the SQLite database and the avatar blobs.
    #[arg(long, env = "AVATARD_DATA_DIR", default_value = "./avatard-data")]
    pub data_dir: PathBuf,
}

#[derive(Args)]
pub struct ServeArgs {
    /// Address to listen on.
    #[arg(long, env = "AVATARD_LISTEN", default_value = "127.0.0.1:3000")]
    pub listen: SocketAddr,
    /// External base URL, for absolute links such as the users.getAvatar redirect
    /// [default: http://<listen address>].
    #[arg(long, env = "AVATARD_PUBLIC_URL")]
    pub public_url: Option<String>,
    /// The most bytes read for one uploaded or fetched image, whatever FileUpload_MaxFileSize says.
    #[arg(long, env = "AVATARD_MAX_UPLOAD_BYTES", default_value_t = 104_857_600)]
    pub max_upload_bytes: u64,
    #[command(flatten)]
    pub storage: StorageArgs,
}

#[derive(Args)]
pub struct AddUserArgs {
    #[arg(long)]
    pub username: String,
    #[arg(long)]
    pub password: String,
    #[arg(long)]
    pub email: Option<String>,
    /// Display name [default: the username].
    #[arg(long)]
    pub name: Option<String>,
    /// Roles to give (repeatable) [default: user].
    #[arg(long = "role")]
    pub roles: Vec<String>,
    #[command(flatten)]
    pub storage: StorageArgs,
}
