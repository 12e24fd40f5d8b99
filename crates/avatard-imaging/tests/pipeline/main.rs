//! The image pipeline from the outside: every format, hostile input, initials and orientation.
//! One binary (allocation.rs stays apart: it installs its own global allocator).

mod animation;
mod common;
mod formats;
mod hostile;
mod initials;
mod orientation;
