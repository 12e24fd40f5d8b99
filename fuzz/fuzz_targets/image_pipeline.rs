//! Uploaded bytes through the whole avatar pipeline: format sniffing, the header-only dimension
//! read, and `process_avatar` with the options and limits the server uses (see README.md).
//!
//! Errors are expected and fine; a panic (even one `process_avatar` would catch), an abort, a
//! sanitizer report, a timeout or memory beyond libFuzzer's limit is a finding. Beyond "does not
//! crash", the target checks what the server relies on when an upload is accepted.

#![no_main]

use avatard_imaging::{AvatarOptions, Format, Limits, Sniffed, dimensions, process_avatar, sniff};
use libfuzzer_sys::fuzz_target;

/// The settings the server can run with, picked by the input's length so that every byte of the
/// input stays part of the image: `Accounts_AvatarSize` (default 200, clamped to 16..=1024),
/// `Accounts_AvatarResize` and `FileUpload_RotateImages` (both on by default), and the rendition
/// of a stored avatar for `?size=` (resized, never re-oriented).
fn options(len: usize) -> AvatarOptions {
    let (size, resize, auto_orient) = match len % 4 {
        0 => (200, true, true),  // an upload with the default settings
        1 => (200, false, true), // Accounts_AvatarResize off: the image keeps its own size
        2 => (64, true, false),  // a rendition of the stored file for ?size=64
        _ => (16, true, false),  // the smallest avatar size, rotation off
    };
    AvatarOptions {
        size,
        resize,
        auto_orient,
        animated: true,
        output: None,
        limits: Limits::default(),
    }
}

fuzz_target!(|data: &[u8]| {
    let sniffed = sniff(data);
    let declared = dimensions(data);
    if declared.is_some() {
        assert!(
            matches!(sniffed, Sniffed::Supported(f) if f != Format::Svg),
            "dimensions read from a {sniffed:?} input"
        );
    }

    let opts = options(data.len());
    let Ok(avatar) = process_avatar(data, &opts) else {
        return;
    };

    // Accepted: it was recognised, and the output is what the server stores and serves.
    let Sniffed::Supported(input_format) = sniffed else {
        panic!("a {sniffed:?} input was accepted");
    };
    let expected_format = match input_format {
        Format::Jpeg => Format::Jpeg,
        Format::WebP => Format::WebP,
        Format::Avif => Format::Avif,
        Format::Gif if avatar.frames > 1 => Format::Gif,
        Format::Png | Format::Gif | Format::Svg | Format::Bmp | Format::Ico | Format::Tiff => {
            Format::Png
        }
    };
    assert_eq!(avatar.format, expected_format);
    if opts.resize {
        assert_eq!((avatar.width, avatar.height), (opts.size, opts.size));
    }
    let limits = &opts.limits;
    assert!(avatar.width >= 1 && avatar.height >= 1);
    assert!(avatar.width <= limits.max_dimension && avatar.height <= limits.max_dimension);
    assert!(u64::from(avatar.width) * u64::from(avatar.height) <= limits.max_pixels);
    // The stored bytes are recognised as what they are labelled, and their header agrees.
    assert_eq!(sniff(&avatar.bytes), Sniffed::Supported(avatar.format));
    assert_eq!(
        dimensions(&avatar.bytes),
        Some((avatar.width, avatar.height))
    );

    // A stored avatar must always be usable for a smaller rendition (avatars/serve.rs), which
    // maps any failure to a 500; keep it cheap by only doing it for modest outputs.
    if u64::from(avatar.width) * u64::from(avatar.height) <= 512 * 512 {
        let rendition = AvatarOptions {
            size: 16,
            resize: true,
            auto_orient: false,
            animated: true,
            output: None,
            limits: Limits::default(),
        };
        let small = process_avatar(&avatar.bytes, &rendition)
            .unwrap_or_else(|err| panic!("the stored avatar cannot be resized: {err}"));
        assert_eq!(
            (small.width, small.height, small.format),
            (16, 16, avatar.format)
        );
    }
});
