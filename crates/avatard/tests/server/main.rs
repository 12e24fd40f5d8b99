//! The integration suite: the real `avatard` binary, spoken to over real HTTP.
//! One binary for every file keeps linking (and the disk it needs) to a single pass.

mod common;
mod concurrency;
mod crash;
mod events;
mod history;
mod image_formats;
mod limits;
mod migrate_storage;
mod openapi;
mod operations;
mod permissions_settings;
mod provider;
mod rate_limits;
mod replicas;
mod reset_avatar;
mod serve_avatar;
mod session;
mod set_avatar;
mod url_avatar;
mod users;
mod versioned_urls;
mod webhook;
