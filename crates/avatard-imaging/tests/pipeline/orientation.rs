//! EXIF orientation: a JPEG with a hand-written APP1 Exif segment for each
//! of the eight orientations must come out upright.

use crate::common::*;
use avatard_imaging::{Format, process_avatar};
use image::{Rgb, RgbImage};

const W: u32 = 64;
const H: u32 = 32;
const RED: [u8; 3] = [255, 0, 0];
const GREEN: [u8; 3] = [0, 255, 0];
const BLUE: [u8; 3] = [0, 0, 255];
const YELLOW: [u8; 3] = [255, 255, 0];

/// Four quadrants, so every flip and rotation is distinguishable.
fn source() -> RgbImage {
    RgbImage::from_fn(W, H, |x, y| Rgb(stored_colour(x, y)))
}

fn stored_colour(x: u32, y: u32) -> [u8; 3] {
    match (x < W / 2, y < H / 2) {
        (true, true) => RED,
        (false, true) => GREEN,
        (true, false) => BLUE,
        (false, false) => YELLOW,
    }
}

/// Where a displayed pixel comes from in the stored image, per the Exif
/// definition of each orientation (display size is W'×H').
fn stored_position(orientation: u16, x: u32, y: u32) -> (u32, u32) {
    match orientation {
        1 => (x, y),
        2 => (W - 1 - x, y),
        3 => (W - 1 - x, H - 1 - y),
        4 => (x, H - 1 - y),
        5 => (y, x),
        6 => (y, H - 1 - x),
        7 => (W - 1 - y, H - 1 - x),
        8 => (W - 1 - y, x),
        _ => unreachable!(),
    }
}

#[test]
fn all_eight_orientations_are_applied() {
    let plain = jpeg(&source());
    for orientation in 1..=8u16 {
        let input = with_segment(&plain, &exif_app1(orientation));
        let avatar = process_avatar(&input, &options(64, false)).expect("processed");
        assert_eq!(avatar.format, Format::Jpeg);
        let rotated = orientation >= 5;
        let (dw, dh) = if rotated { (H, W) } else { (W, H) };
        assert_eq!(
            (avatar.width, avatar.height),
            (dw, dh),
            "orientation {orientation}"
        );
        let out = image::load_from_memory(&avatar.bytes)
            .expect("decodable")
            .to_rgb8();
        // Sample the middle of each displayed quadrant.
        for (x, y) in [
            (dw / 4, dh / 4),
            (3 * dw / 4, dh / 4),
            (dw / 4, 3 * dh / 4),
            (3 * dw / 4, 3 * dh / 4),
        ] {
            let (sx, sy) = stored_position(orientation, x, y);
            let expected = stored_colour(sx, sy);
            let actual = out.get_pixel(x, y).0;
            assert!(
                close(actual, expected, 40),
                "orientation {orientation}: ({x},{y}) is {actual:?}, expected {expected:?}"
            );
        }
    }
}

#[test]
fn orientation_is_ignored_when_not_requested() {
    let input = with_segment(&jpeg(&source()), &exif_app1(6));
    let mut opts = options(64, false);
    opts.auto_orient = false;
    let avatar = process_avatar(&input, &opts).expect("processed");
    assert_eq!((avatar.width, avatar.height), (W, H));
    let out = image::load_from_memory(&avatar.bytes)
        .expect("decodable")
        .to_rgb8();
    assert!(close(out.get_pixel(8, 8).0, RED, 40));
}

#[test]
fn orientation_applies_before_cropping() {
    // Rotated 90° the 64x32 image is 32x64; the centre crop of that keeps
    // rows 16..48, which show all four colours.
    let input = with_segment(&jpeg(&source()), &exif_app1(6));
    let avatar = process_avatar(&input, &options(32, true)).expect("processed");
    assert_eq!((avatar.width, avatar.height), (32, 32));
    let out = image::load_from_memory(&avatar.bytes)
        .expect("decodable")
        .to_rgb8();
    let (sx, sy) = stored_position(6, 4, 4 + 16);
    assert!(close(out.get_pixel(4, 4).0, stored_colour(sx, sy), 40));
    let (sx, sy) = stored_position(6, 28, 28 + 16);
    assert!(close(out.get_pixel(28, 28).0, stored_colour(sx, sy), 40));
}

/// A large photo takes the shrink-on-load path (decoded at 1/8 from its DC coefficients), where
/// orientation is applied to the small image: every orientation must still come out upright.
#[test]
fn orientation_survives_shrink_on_load() {
    const N: u32 = 512;
    let quadrant = |x: u32, y: u32| match (x < N / 2, y < N / 2) {
        (true, true) => RED,
        (false, true) => GREEN,
        (true, false) => BLUE,
        (false, false) => YELLOW,
    };
    let plain = jpeg(&RgbImage::from_fn(N, N, |x, y| Rgb(quadrant(x, y))));
    for orientation in 1..=8u16 {
        let input = with_segment(&plain, &exif_app1(orientation));
        let avatar = process_avatar(&input, &options(64, true)).expect("processed");
        let out = image::load_from_memory(&avatar.bytes)
            .expect("decodable")
            .to_rgb8();
        for (x, y) in [(16, 16), (48, 16), (16, 48), (48, 48)] {
            // Output pixel → displayed position at full size → stored position.
            let (dx, dy) = (x * N / 64, y * N / 64);
            let (sx, sy) = match orientation {
                1 => (dx, dy),
                2 => (N - 1 - dx, dy),
                3 => (N - 1 - dx, N - 1 - dy),
                4 => (dx, N - 1 - dy),
                5 => (dy, dx),
                6 => (dy, N - 1 - dx),
                7 => (N - 1 - dy, N - 1 - dx),
                _ => (N - 1 - dy, dx),
            };
            let (actual, expected) = (out.get_pixel(x, y).0, quadrant(sx, sy));
            assert!(
                close(actual, expected, 40),
                "orientation {orientation}: ({x},{y}) is {actual:?}, expected {expected:?}"
            );
        }
    }
}
