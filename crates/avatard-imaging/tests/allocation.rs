//! Decompression bombs are refused from their headers, before any buffer of
//! the declared size is allocated. This test binary has a single test so the
//! allocation watermark is not disturbed by other tests running in parallel.

#[path = "pipeline/common/mod.rs"]
mod common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicUsize, Ordering};

use avatard_imaging::{ImageError, process_avatar};
use common::*;

/// Records the largest single allocation request.
struct Watermark;

static LARGEST: AtomicUsize = AtomicUsize::new(0);

unsafe impl GlobalAlloc for Watermark {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        LARGEST.fetch_max(layout.size(), Ordering::Relaxed);
        // SAFETY: forwarding the caller's layout unchanged to the system allocator.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: `ptr` was allocated by `System` with this layout.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        LARGEST.fetch_max(new_size, Ordering::Relaxed);
        // SAFETY: as for `dealloc`, and `new_size` comes from the caller.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: Watermark = Watermark;

fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = width.to_be_bytes().to_vec();
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

/// A real small JPEG whose SOF0 header is patched to claim `width`×`height`.
fn jpeg_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut jpeg = jpeg(&halves(16, 16));
    let sof = jpeg
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("baseline JPEG has SOF0");
    jpeg[sof + 5..sof + 7].copy_from_slice(&height.to_be_bytes());
    jpeg[sof + 7..sof + 9].copy_from_slice(&width.to_be_bytes());
    jpeg
}

/// A GIF whose logical screen and only frame claim `width`×`height`.
fn gif_declaring(width: u16, height: u16) -> Vec<u8> {
    let mut gif = b"GIF89a".to_vec();
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.extend_from_slice(&[0x80, 0, 0]); // global colour table of 2 entries
    gif.extend_from_slice(&[0, 0, 0, 255, 255, 255]);
    gif.push(0x2C); // image descriptor
    gif.extend_from_slice(&[0, 0, 0, 0]);
    gif.extend_from_slice(&width.to_le_bytes());
    gif.extend_from_slice(&height.to_le_bytes());
    gif.push(0);
    gif.extend_from_slice(&[2, 2, 0x4C, 0x01, 0]); // a few LZW bytes
    gif.push(0x3B);
    gif
}

#[test]
fn bombs_are_refused_without_allocating_their_declared_size() {
    const BUDGET: usize = 16 * 1024 * 1024;
    let bombs = [
        ("png 30000x30000", png_declaring(30_000, 30_000)),
        ("png 16000x16000", png_declaring(16_000, 16_000)),
        ("jpeg 65000x65000", jpeg_declaring(65_000, 65_000)),
        ("gif 65535x65535", gif_declaring(65_535, 65_535)),
    ];
    for (name, bomb) in bombs {
        LARGEST.store(0, Ordering::Relaxed);
        let result = process_avatar(&bomb, &options(64, true));
        let largest = LARGEST.load(Ordering::Relaxed);
        assert!(
            matches!(result, Err(ImageError::TooLarge(_))),
            "{name}: {result:?}"
        );
        assert!(
            largest < BUDGET,
            "{name}: allocated {largest} bytes at once"
        );
    }
}
