//! Image pipeline for avatard: format sniffing, bounded decoding, avatar
//! processing and Rocket.Chat-compatible letter avatars.
//!
//! Everything here is synchronous CPU work meant to run on a blocking pool.
//! All input is treated as hostile: formats are recognised from magic bytes
//! only, sizes are checked before allocation, SVGs are measured before they
//! are laid out and can reach neither the file system nor system fonts, and
//! decoder panics are turned into errors.

mod animation;
mod avatar;
mod avif;
mod color;
mod decode;
mod encode;
mod error;
mod fonts;
mod format;
pub mod initials;
mod jpeg;
mod limits;
mod picture;
mod resize;
mod svg;
mod webp;

pub use animation::frames;
pub use avatar::{Avatar, AvatarOptions, process_avatar};
pub use decode::dimensions;
pub use encode::Encoding;
pub use error::ImageError;
pub use format::{Format, Sniffed, sniff};
pub use limits::Limits;
