//! The decoder against the full decoder (zune-jpeg, through `image`), on files written by
//! `jpeg-encoder` and by the DC-only [`Layout`] writer; and against damaged input.

use image::{DynamicImage, GenericImageView};
use jpeg_encoder::{ColorType, Encoder, SamplingFactor};
use proptest::prelude::*;

use super::decode_reduced;
use super::test_writer::Layout;
use crate::{ImageError, Limits};

/// A deterministic test picture: colour that changes over tens of pixels, as in photographs,
/// under grey texture at every scale down to single pixels.
fn picture(width: u16, height: u16) -> Vec<u8> {
    let mut rgb = Vec::with_capacity(usize::from(width) * usize::from(height) * 3);
    for y in 0..height {
        for x in 0..width {
            let (xf, yf) = (f64::from(x), f64::from(y));
            let hash = (u32::from(x).wrapping_mul(73_856_093)
                ^ u32::from(y).wrapping_mul(19_349_663))
            .wrapping_mul(2_654_435_761);
            let texture = f64::from(hash >> 24) / 255.0 * 24.0 - 12.0
                + 10.0 * (xf / 3.0).sin() * (yf / 5.0).cos()
                + 12.0 * (xf / 17.0 + yf / 23.0).sin();
            let r = 128.0 + 60.0 * (xf / 97.0 + yf / 131.0).sin() + texture;
            let g = 128.0 + 60.0 * (xf / 113.0 - yf / 89.0).cos() + texture;
            let b = 128.0 + 50.0 * ((xf + yf) / 151.0).sin() + texture;
            rgb.extend([r, g, b].map(|v| v.round().clamp(0.0, 255.0) as u8));
        }
    }
    rgb
}

#[derive(Clone, Copy, Debug)]
enum Sampling {
    Grey,
    Subsampled(SamplingFactor),
}

/// `rgb` is `width` × `height` pixels of [`picture`] (made once per size: it is not cheap in an
/// unoptimised test build).
fn encode(
    rgb: &[u8],
    width: u16,
    height: u16,
    sampling: Sampling,
    progressive: bool,
    restart_interval: u16,
    optimized: bool,
) -> Vec<u8> {
    let mut out = Vec::new();
    let mut encoder = Encoder::new(&mut out, 90);
    encoder.set_progressive(progressive);
    if restart_interval != 0 {
        encoder.set_restart_interval(restart_interval);
    }
    // jpeg-encoder writes optimized files with one scan per component.
    encoder.set_optimized_huffman_tables(optimized);
    match sampling {
        Sampling::Grey => {
            let grey: Vec<u8> = rgb.chunks_exact(3).map(|p| p[1]).collect();
            encoder.encode(&grey, width, height, ColorType::Luma)
        }
        Sampling::Subsampled(factor) => {
            encoder.set_sampling_factor(factor);
            encoder.encode(rgb, width, height, ColorType::Rgb)
        }
    }
    .expect("encodable");
    out
}

fn reduce(bytes: &[u8]) -> Result<Option<DynamicImage>, ImageError> {
    decode_reduced(bytes, 8, &Limits::default())
}

fn reduce_by(bytes: &[u8], shrink: u32) -> Result<Option<DynamicImage>, ImageError> {
    decode_reduced(bytes, shrink, &Limits::default())
}

/// How far a reduced image is from the full decode averaged over each `shrink` × `shrink`
/// square, over all channels: mean and largest absolute difference inside the image, and the
/// largest over the partial squares at the right and bottom edges, where the encoder's padding
/// is part of the blocks but not of the full decoder's output.
#[derive(Debug)]
struct Differences {
    mean: f64,
    max: f64,
    edge_max: f64,
}

fn compare_with_full(bytes: &[u8], reduced: &DynamicImage, shrink: usize) -> Differences {
    let full = image::load_from_memory_with_format(bytes, image::ImageFormat::Jpeg)
        .expect("the full decoder reads it");
    assert_eq!(full.color(), reduced.color());
    let (width, height) = full.dimensions();
    let scaled = |samples: u32| samples.div_ceil(shrink as u32);
    assert_eq!(reduced.dimensions(), (scaled(width), scaled(height)));
    let channels = usize::from(full.color().channel_count());
    let (full_px, reduced_px) = (full.as_bytes(), reduced.as_bytes());
    let (width, height) = (width as usize, height as usize);
    let (mut sum, mut count) = (0.0, 0);
    let mut differences = Differences {
        mean: 0.0,
        max: 0.0,
        edge_max: 0.0,
    };
    for by in 0..height.div_ceil(shrink) {
        for bx in 0..width.div_ceil(shrink) {
            let edge = (by + 1) * shrink > height || (bx + 1) * shrink > width;
            for c in 0..channels {
                let (mut total, mut n) = (0.0, 0.0);
                for y in by * shrink..((by + 1) * shrink).min(height) {
                    for x in bx * shrink..((bx + 1) * shrink).min(width) {
                        total += f64::from(full_px[(y * width + x) * channels + c]);
                        n += 1.0;
                    }
                }
                let ours = reduced_px[(by * width.div_ceil(shrink) + bx) * channels + c];
                let difference = (total / n - f64::from(ours)).abs();
                if edge {
                    differences.edge_max = differences.edge_max.max(difference);
                } else {
                    sum += difference;
                    count += 1;
                    differences.max = differences.max.max(difference);
                }
            }
        }
    }
    differences.mean = if count == 0 {
        0.0
    } else {
        sum / f64::from(count)
    };
    differences
}

const SIZES: [(u16, u16); 6] = [(1, 1), (7, 13), (16, 16), (17, 9), (333, 257), (1000, 750)];

/// Bounds (mean, max, edge max) for one sampling, picture size and scale; see
/// `matches_the_full_decoder`.
fn bounds(sampling: Sampling, width: u16, height: u16, shrink: u32) -> (f64, f64, f64) {
    // In a picture a few chroma blocks wide, most of them are at an edge.
    let small = u32::from(width) * u32::from(height) < 64 * 64;
    match (sampling, shrink) {
        (Sampling::Grey, 8) => (0.35, 1.0, 3.0),
        (Sampling::Subsampled(SamplingFactor::F_1_1), 8) => (0.75, 2.5, 5.0),
        (Sampling::Subsampled(_), 8) if small => (2.0, 12.0, 8.0),
        (Sampling::Subsampled(_), 8) => (1.0, 12.0, 8.0),
        (_, 4) if small => (2.0, 8.0, 11.0),
        (_, 4) => (1.2, 8.0, 11.0),
        (_, _) => (2.0, 13.0, 11.0),
    }
}

/// Where every block has its own value (no chroma subsampling), the only differences are
/// rounding: the full decoder's 64 rounded samples against DC · Q0 / 8 rounded once (at most
/// a level for grey), and for colour the conversion of rounded Y, Cb and Cr (up to
/// 0.5 · (1 + 1.772) more for blue). Where chroma is subsampled, a chroma block covers several output pixels and only
/// its mean is known, so the interpolated chroma misses the block's slope and curvature: on
/// this picture, whose colour changes over ~100 pixels as in photographs, that is a level or
/// so on average. Partial blocks at the right and bottom edges differ more, by however much
/// the encoder's padding differs from the pixels the full decoder keeps, and for chroma by
/// having no neighbour to interpolate towards.
///
/// At 1/4 and 1/2 scale, each pixel is the block's lowest frequencies evaluated at its centre
/// rather than the mean over the pixels it covers, so texture finer than the output pixels
/// makes a difference: one to two levels on average on this picture, whose grey texture goes
/// down to single pixels (±12 of noise, waves 20 pixels long), and up to a dozen where the
/// texture peaks.
///
/// The same picture written sequentially, with restart intervals or with one scan per
/// component has the same coefficients (jpeg-encoder's progressive mode only splits the
/// spectrum), so it must give exactly the same image; progressive files are only covered at
/// 1/8 scale. The full decoder reads the progressive file: zune-jpeg 0.5 misreads sequential
/// files with one scan per component (all of them for 4:1:1), which libjpeg reads as this
/// decoder does.
#[test]
fn matches_the_full_decoder() {
    let samplings = [
        Sampling::Grey,
        Sampling::Subsampled(SamplingFactor::F_1_1),
        Sampling::Subsampled(SamplingFactor::F_2_1),
        Sampling::Subsampled(SamplingFactor::F_2_2),
        Sampling::Subsampled(SamplingFactor::F_1_2),
        Sampling::Subsampled(SamplingFactor::F_4_1),
        Sampling::Subsampled(SamplingFactor::F_2_4),
    ];
    let variants = [
        (false, 0, false),
        (false, 3, false),
        (false, 0, true),
        (false, 2, true),
        (true, 0, false),
        (true, 5, false),
    ];
    for (width, height) in SIZES {
        let rgb = picture(width, height);
        for sampling in samplings {
            let progressive = encode(&rgb, width, height, sampling, true, 0, false);
            // The larger scales cost more in an unoptimised test build; 333×257 is enough.
            let shrinks: &[u32] = if width > 500 { &[8] } else { &[8, 4, 2] };
            for &shrink in shrinks {
                let case = format!("{width}x{height} {sampling:?} 1/{shrink}");
                let mut reduced = None;
                for (progressive, restart_interval, optimized) in variants {
                    let bytes = encode(
                        &rgb,
                        width,
                        height,
                        sampling,
                        progressive,
                        restart_interval,
                        optimized,
                    );
                    let variant = format!(
                        "{case} progressive={progressive} restart={restart_interval} \
                         optimized={optimized}"
                    );
                    let image =
                        reduce_by(&bytes, shrink).unwrap_or_else(|e| panic!("{variant}: {e}"));
                    if progressive && shrink != 8 {
                        assert!(image.is_none(), "{variant}");
                        continue;
                    }
                    let image = image.unwrap_or_else(|| panic!("{variant}: not covered"));
                    match &reduced {
                        None => reduced = Some(image),
                        Some(first) => assert!(first == &image, "{variant}"),
                    }
                }
                let reduced = reduced.expect("a sequential variant");
                let found = compare_with_full(&progressive, &reduced, shrink as usize);
                let (mean, max, edge_max) = bounds(sampling, width, height, shrink);
                assert!(
                    found.mean < mean && found.max < max && found.edge_max < edge_max,
                    "{case}: {found:?}"
                );
            }
        }
    }
}

/// A DC-only file: every block is flat, so the full decoder's output is known per block and
/// the reduced image must be the DC values exactly, whatever the file's structure (give or
/// take a level for the floating-point IDCT of the larger scales).
fn check_dc_only(layout: &Layout, dc: impl Fn(usize, usize, usize) -> i32 + Copy) {
    let bytes = layout.encode(dc);
    let shrinks: &[u32] = if layout.progressive { &[8] } else { &[8, 4, 2] };
    for &shrink in shrinks {
        let case = format!("{layout:?} 1/{shrink}");
        let reduced = reduce_by(&bytes, shrink)
            .unwrap_or_else(|e| panic!("{case}: {e}"))
            .unwrap_or_else(|| panic!("{case}: not covered"));
        let (width, height) = (
            u32::from(layout.width).div_ceil(shrink),
            u32::from(layout.height).div_ceil(shrink),
        );
        assert_eq!(reduced.dimensions(), (width, height), "{case}");
        let level = |value: i32| ((value * i32::from(layout.q0) + 4) >> 3) + 128;
        let per_block = (8 / shrink) as usize;
        let tolerance = if shrink == 8 { 0 } else { 1 };
        for (x, y, pixel) in reduced.to_rgb8().enumerate_pixels() {
            // Component 0 carries the picture, at full resolution; the others are neutral.
            let (bx, by) = (x as usize / per_block, y as usize / per_block);
            let expected = level(dc(0, bx, by)).clamp(0, 255);
            for value in pixel.0 {
                let error = (i32::from(value) - expected).abs();
                assert!(
                    error <= tolerance,
                    "{case} at {x},{y}: {pixel:?} for {expected}"
                );
            }
        }
    }
}

/// Values that use every DC magnitude category and both signs.
fn pattern(component: usize, x: usize, y: usize) -> i32 {
    if component != 0 {
        return 0;
    }
    let v = (x * 37 + y * 101) % 255;
    (v as i32 - 127) * (1 + (x + y) as i32 % 7) / 3
}

#[test]
fn dc_only_structures() {
    let samplings: [&[(u8, u8)]; 7] = [
        &[(1, 1)],
        &[(2, 2)],
        &[(1, 1), (1, 1), (1, 1)],
        &[(2, 2), (1, 1), (1, 1)],
        &[(2, 1), (1, 1), (1, 1)],
        &[(4, 4), (1, 1), (2, 2)],
        &[(3, 1), (1, 1), (3, 1)],
    ];
    for sampling in samplings {
        for (width, height) in [(1, 1), (9, 30), (77, 41), (200, 96)] {
            for progressive in [false, true] {
                for successive in [false, true] {
                    for interleaved in [false, true] {
                        for restart_interval in [0, 1, 5] {
                            // T.81 B.2.3: at most 10 blocks in an interleaved MCU.
                            let blocks: u8 = sampling.iter().map(|(h, v)| h * v).sum();
                            if (successive && !progressive) || (interleaved && blocks > 10) {
                                continue;
                            }
                            let mut layout = Layout::new(width, height, sampling);
                            layout.progressive = progressive;
                            layout.successive = successive;
                            layout.interleaved = interleaved;
                            layout.restart_interval = restart_interval;
                            layout.q0 = 5;
                            check_dc_only(&layout, pattern);
                        }
                    }
                }
            }
        }
    }
}

/// The writer and the reader could share a misunderstanding of the structure; the full
/// decoder is the referee where it reads the file (it does not take 3:1 sampling, and
/// misreads sequential files with one scan per component).
#[test]
fn dc_only_files_match_the_full_decoder() {
    for progressive in [false, true] {
        for interleaved in [!progressive, true] {
            let mut layout = Layout::new(61, 35, &[(2, 2), (1, 1), (1, 1)]);
            layout.progressive = progressive;
            layout.successive = progressive;
            layout.interleaved = interleaved;
            layout.restart_interval = 2;
            let bytes = layout.encode(pattern);
            let reduced = reduce(&bytes).unwrap().unwrap();
            let found = compare_with_full(&bytes, &reduced, 8);
            assert!(
                found.mean < 0.6 && found.max <= 2.0,
                "{layout:?}: {found:?}"
            );
        }
    }
}

/// Chroma upsampling: with luma flat and chroma a linear ramp, linear interpolation of the
/// block values is exact away from the edges.
#[test]
fn chroma_is_interpolated_between_block_centres() {
    let layout = Layout::new(160, 64, &[(2, 2), (1, 1), (1, 1)]);
    // Cb steps by 8 per chroma block: 4 levels per output pixel in the interior.
    let bytes = layout.encode(|c, x, _| if c == 1 { x as i32 * 8 - 40 } else { 0 });
    let reduced = reduce(&bytes).unwrap().unwrap().to_rgb8();
    // Output pixel x sits at chroma block position (x + 0.5) / 2 - 0.5.
    for x in 1..reduced.width() - 1 {
        let cb = (f64::from(x) + 0.5) / 2.0 - 0.5;
        let cb = cb * 8.0 - 40.0;
        let blue = 128.0 + 1.772 * cb;
        let pixel = reduced.get_pixel(x, 4).0;
        assert!(
            (f64::from(pixel[2]) - blue).abs() <= 1.0,
            "x {x}: {pixel:?} vs blue {blue}"
        );
    }
}

#[test]
fn adobe_rgb_is_not_converted() {
    let mut layout = Layout::new(24, 16, &[(1, 1), (1, 1), (1, 1)]);
    layout.adobe_transform = Some(0);
    let bytes = layout.encode(|c, x, _| [10, -20, 30][c] + x as i32);
    let reduced = reduce(&bytes).unwrap().unwrap().to_rgb8();
    assert_eq!(reduced.get_pixel(0, 0).0, [138, 108, 158]);
    assert_eq!(reduced.get_pixel(2, 1).0, [140, 110, 160]);
    let found = compare_with_full(&bytes, &DynamicImage::ImageRgb8(reduced), 8);
    assert!(found.max <= 1.0 && found.edge_max <= 1.0, "{found:?}");
}

#[test]
fn uncovered_files_are_left_to_the_full_decoder() {
    let baseline = encode(
        &picture(40, 24),
        40,
        24,
        Sampling::Subsampled(SamplingFactor::F_2_2),
        false,
        0,
        false,
    );
    let sof = baseline
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    let with = |offset: usize, value: u8| {
        let mut bytes = baseline.clone();
        bytes[sof + offset] = value;
        bytes
    };
    // Arithmetic coding, lossless, hierarchical (SOF9, SOF3, SOF5).
    for marker in [0xC9, 0xC3, 0xC5] {
        assert!(matches!(reduce(&with(1, marker)), Ok(None)), "{marker:x}");
    }
    // 12-bit samples.
    assert!(matches!(reduce(&with(4, 12)), Ok(None)));
    // Other scales, and progressive files above 1/8 scale.
    for shrink in [0, 1, 3, 16] {
        assert!(matches!(reduce_by(&baseline, shrink), Ok(None)));
    }
    let progressive = encode(
        &picture(40, 24),
        40,
        24,
        Sampling::Subsampled(SamplingFactor::F_2_2),
        true,
        0,
        false,
    );
    for shrink in [2, 4] {
        assert!(matches!(reduce_by(&progressive, shrink), Ok(None)));
    }
    // CMYK.
    let mut cmyk = Vec::new();
    Encoder::new(&mut cmyk, 90)
        .encode(&[0; 16 * 8 * 4], 16, 8, ColorType::Cmyk)
        .unwrap();
    assert!(matches!(reduce(&cmyk), Ok(None)));
}

#[test]
fn limits_are_checked_before_decoding() {
    let mut bytes = Layout::new(16, 16, &[(1, 1)]).encode(|_, _, _| 0);
    let sof = bytes
        .windows(2)
        .position(|w| w == [0xFF, 0xC0])
        .expect("SOF0");
    // Y and X: 30000 × 30000, more than the frame's data could ever fill.
    bytes[sof + 5..sof + 9].copy_from_slice(&[0x75, 0x30, 0x75, 0x30]);
    let error = reduce(&bytes).unwrap_err();
    assert!(matches!(error, ImageError::TooLarge(_)), "{error}");
}

/// Every proper prefix of a file is an error: the pipeline refuses truncated JPEGs, and a
/// prefix cannot be told from a file with blocks missing until EOI is missing.
#[test]
fn truncated_files_are_errors() {
    let files = [
        encode(
            &picture(64, 48),
            64,
            48,
            Sampling::Subsampled(SamplingFactor::F_2_2),
            false,
            0,
            false,
        ),
        encode(
            &picture(64, 48),
            64,
            48,
            Sampling::Subsampled(SamplingFactor::F_2_1),
            true,
            0,
            false,
        ),
        encode(&picture(64, 48), 64, 48, Sampling::Grey, false, 2, true),
    ];
    for (bytes, shrinks) in files.iter().zip([&[8, 4, 2][..], &[8], &[8, 4, 2]]) {
        assert!(reduce(bytes).unwrap().is_some());
        for length in 0..bytes.len() {
            let result = reduce_by(&bytes[..length], shrinks[length % shrinks.len()]);
            assert!(
                result.is_err(),
                "prefix of {length} of {} bytes",
                bytes.len()
            );
        }
    }
}

/// The entropy-coded data of a scan ending before its last block is an error even when the
/// file goes on: blocks would be missing.
#[test]
fn scans_that_end_early_are_errors() {
    let bytes = encode(
        &picture(64, 48),
        64,
        48,
        Sampling::Subsampled(SamplingFactor::F_2_2),
        false,
        0,
        false,
    );
    let eoi = bytes.len() - 2;
    for cut in [1, 10, 100] {
        let mut short = bytes[..eoi - cut].to_vec();
        short.extend([0xFF, 0xD9]);
        let error = reduce(&short).unwrap_err();
        assert!(matches!(error, ImageError::Invalid(_)), "{error}");
    }
}

/// A tiny xorshift, for damage that is random but the same on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Flipped bits give whatever they give (often a valid image with wrong pixels, as with any
/// decoder), but never a panic, and an image, if any, of the declared size.
#[test]
fn bit_flips_never_panic() {
    let files = [
        encode(
            &picture(96, 64),
            96,
            64,
            Sampling::Subsampled(SamplingFactor::F_2_2),
            false,
            0,
            false,
        ),
        encode(
            &picture(96, 64),
            96,
            64,
            Sampling::Subsampled(SamplingFactor::F_1_1),
            true,
            4,
            false,
        ),
        encode(&picture(96, 64), 96, 64, Sampling::Grey, false, 0, true),
    ];
    let mut random = Random(0x5EED_1234_ABCD_0001);
    for bytes in files {
        for _ in 0..1000 {
            let mut damaged = bytes.clone();
            for _ in 0..1 + random.next() % 4 {
                let at = (random.next() % damaged.len() as u64) as usize;
                damaged[at] ^= 1 << (random.next() % 8);
            }
            let shrink = [8, 4, 2][(random.next() % 3) as usize];
            if let Ok(Some(image)) = reduce_by(&damaged, shrink) {
                assert!(image.width() > 0 && image.height() > 0);
            }
        }
    }
}

proptest! {
    #[test]
    fn arbitrary_bytes_never_panic(
        bytes in proptest::collection::vec(any::<u8>(), 0..600),
        shrink in prop::sample::select(vec![8u32, 4, 2]),
    ) {
        let _ = reduce_by(&bytes, shrink);
    }

    #[test]
    fn arbitrary_bytes_after_a_jpeg_header_never_panic(
        tail in proptest::collection::vec(any::<u8>(), 0..400),
        keep in 0usize..600,
        shrink in prop::sample::select(vec![8u32, 4, 2]),
    ) {
        let bytes = encode(&picture(24, 16), 24, 16, Sampling::Subsampled(SamplingFactor::F_2_2), false, 0, false);
        let mut damaged = bytes[..keep.min(bytes.len())].to_vec();
        damaged.extend(tail);
        let _ = reduce_by(&damaged, shrink);
    }
}
