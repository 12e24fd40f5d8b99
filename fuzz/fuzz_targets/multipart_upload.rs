//! The streaming multipart parser of `users.setAvatar` (crates/avatard-http/src/upload.rs) over
//! arbitrary bodies, delivered in chunks of arbitrary size so that boundaries and headers straddle
//! chunk edges as they do on a real connection.
//!
//! Input: two control bytes, then the body.
//! - byte 0, bits 0..1: the Content-Type: `multipart/form-data; boundary=AvatardFuzzBoundary` /
//!   the same boundary quoted, with a charset and odd case / the body's first line is the whole
//!   Content-Type header (fuzzed boundary, or not multipart at all) / no Content-Type;
//! - byte 0, bits 2..3: the file size limit: 1 MiB (about a server's) / 64 KiB / 100 / 0 bytes;
//! - byte 1: the chunk size; 0 means the whole body in one chunk.

#![no_main]

use std::cell::RefCell;

use libfuzzer_sys::fuzz_target;
use tokio::runtime::{Builder, Runtime};

/// Parts beyond this many are refused (upload.rs `MAX_PARTS`).
const MAX_PARTS: usize = 32;
const BOUNDARY_TYPE: &str = "multipart/form-data; boundary=AvatardFuzzBoundary";
const QUOTED_TYPE: &str = "Multipart/Form-Data; charset=utf-8; boundary=\"AvatardFuzzBoundary\"";

thread_local! {
    /// The server drives the parser on tokio; one current-thread runtime serves every run.
    static RUNTIME: RefCell<Runtime> =
        RefCell::new(Builder::new_current_thread().enable_time().build().expect("runtime"));
}

fuzz_target!(|data: &[u8]| {
    let [mode, chunk, body @ ..] = data else {
        return;
    };
    let (content_type, body) = match mode & 3 {
        0 => (Some(BOUNDARY_TYPE.to_owned()), body),
        1 => (Some(QUOTED_TYPE.to_owned()), body),
        2 => {
            let end = body.iter().position(|&b| b == b'\n').unwrap_or(body.len());
            let header = String::from_utf8_lossy(&body[..end]).trim_end().to_owned();
            (Some(header), body.get(end + 1..).unwrap_or_default())
        }
        _ => (None, body),
    };
    let file_limit: u64 = match (mode >> 2) & 3 {
        0 => 1024 * 1024,
        1 => 64 * 1024,
        2 => 100,
        _ => 0,
    };
    let chunks: Vec<Vec<u8>> = match *chunk {
        0 => vec![body.to_vec()],
        size => body.chunks(usize::from(size)).map(<[u8]>::to_vec).collect(),
    };

    let form = RUNTIME.with(|rt| {
        rt.borrow().block_on(avatard_http::fuzzing::read_image_form(
            content_type.as_deref(),
            chunks,
            file_limit,
        ))
    });
    if let Ok((image, fields)) = form {
        assert!(
            image.len() as u64 <= file_limit,
            "{} > {file_limit}",
            image.len()
        );
        assert!(fields.len() < MAX_PARTS, "{} fields", fields.len());
        // The file is a slice of the body, never invented (text fields may grow: their invalid
        // UTF-8 is replaced).
        assert!(image.len() <= body.len());
    }
});
