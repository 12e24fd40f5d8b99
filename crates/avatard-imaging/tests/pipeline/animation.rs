//! Animated GIF, WebP and APNG through `process_avatar`: frames, timing and format kept, each frame
//! resized; stills where animation is off or the output format cannot animate; frame limits
//! enforced before decoding.

use std::io::Cursor;

use crate::common::*;
use avatard_imaging::{Encoding, Format, ImageError, Limits, process_avatar};
use image::codecs::gif::{GifDecoder, GifEncoder, Repeat};
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, Delay, Frame, Rgba, RgbaImage};

const COLOURS: [[u8; 4]; 4] = [
    [255, 0, 0, 255],
    [0, 255, 0, 255],
    [0, 0, 255, 255],
    [255, 255, 0, 255],
];
const DELAYS_MS: [u32; 4] = [100, 200, 50, 500];

/// Four solid frames of 120×80, each with its own colour and delay.
fn frames() -> Vec<(RgbaImage, u32)> {
    COLOURS
        .iter()
        .zip(DELAYS_MS)
        .map(|(colour, delay)| (RgbaImage::from_pixel(120, 80, Rgba(*colour)), delay))
        .collect()
}

fn animated_gif() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = GifEncoder::new(&mut out);
        encoder.set_repeat(Repeat::Infinite).expect("repeat");
        encoder
            .encode_frames(frames().into_iter().map(|(canvas, delay)| {
                Frame::from_parts(canvas, 0, 0, Delay::from_numer_denom_ms(delay, 1))
            }))
            .expect("encode gif");
    }
    out
}

fn animated_webp() -> Vec<u8> {
    let frames = frames();
    let config = webp::WebPConfig::new().expect("config");
    let mut encoder = webp::AnimEncoder::new(120, 80, &config);
    let mut timestamp = 0;
    for (canvas, delay) in &frames {
        encoder.add_frame(webp::AnimFrame::from_rgba(
            canvas.as_raw(),
            120,
            80,
            timestamp,
        ));
        timestamp += *delay as i32;
    }
    let mut webp = encoder.try_encode().expect("encode webp").to_vec();
    // The webp crate leaves the last duration to libwebp's guess: set it (ANMF payload offset 12,
    // after the 8-byte chunk header), as the pipeline does for its own output.
    let last = webp.windows(4).rposition(|w| w == b"ANMF").expect("frames");
    webp[last + 20..last + 23].copy_from_slice(&DELAYS_MS[3].to_le_bytes()[..3]);
    webp
}

fn apng() -> Vec<u8> {
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, 120, 80);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_animated(4, 0).expect("animated");
        let mut writer = encoder.write_header().expect("header");
        for (canvas, delay) in frames() {
            writer
                .set_frame_delay(u16::try_from(delay).expect("fits"), 1000)
                .expect("delay");
            writer.write_image_data(canvas.as_raw()).expect("frame");
        }
        writer.finish().expect("finish");
    }
    out
}

/// The frames of an animated output as (centre pixel, delay in ms).
fn played(bytes: &[u8], format: Format) -> Vec<([u8; 4], u32)> {
    let cursor = Cursor::new(bytes);
    let frames = match format {
        Format::Gif => GifDecoder::new(cursor).expect("gif").into_frames(),
        Format::WebP => WebPDecoder::new(cursor).expect("webp").into_frames(),
        Format::Png => PngDecoder::new(cursor)
            .expect("png")
            .apng()
            .expect("apng")
            .into_frames(),
        other => panic!("{other:?} cannot animate"),
    };
    frames
        .map(|frame| {
            let frame = frame.expect("frame");
            let (numerator, denominator) = frame.delay().numer_denom_ms();
            let canvas = frame.into_buffer();
            assert_eq!(canvas.dimensions(), (64, 64));
            (canvas.get_pixel(32, 32).0, numerator / denominator)
        })
        .collect()
}

fn assert_same_animation(bytes: &[u8], format: Format) {
    let played = played(bytes, format);
    assert_eq!(played.len(), COLOURS.len(), "frame count");
    for ((pixel, delay), (colour, expected_delay)) in
        played.iter().zip(COLOURS.iter().zip(DELAYS_MS))
    {
        let rgb = [pixel[0], pixel[1], pixel[2]];
        // GIF palettes are quantised and lossy WebP is lossy: near is enough.
        assert!(
            close(rgb, [colour[0], colour[1], colour[2]], 24),
            "{pixel:?} vs {colour:?}"
        );
        assert_eq!(*delay, expected_delay);
    }
}

#[test]
fn animated_inputs_stay_animated_in_their_format() {
    for (input, format) in [
        (animated_gif(), Format::Gif),
        (animated_webp(), Format::WebP),
        (apng(), Format::Png),
    ] {
        assert_eq!(avatard_imaging::frames(&input), 4, "{format:?} input");
        let avatar = process_avatar(&input, &options(64, true)).expect("processed");
        assert_eq!(avatar.format, format);
        assert_eq!((avatar.width, avatar.height, avatar.frames), (64, 64, 4));
        assert_eq!(
            avatard_imaging::frames(&avatar.bytes),
            4,
            "{format:?} output"
        );
        assert_same_animation(&avatar.bytes, format);
    }
}

#[test]
fn with_animation_off_the_first_frame_is_the_avatar() {
    let mut opts = options(64, true);
    opts.animated = false;
    for (input, format) in [
        // A GIF becomes a PNG, as Rocket.Chat stores it.
        (animated_gif(), Format::Png),
        (animated_webp(), Format::WebP),
        (apng(), Format::Png),
    ] {
        let avatar = process_avatar(&input, &opts).expect("processed");
        assert_eq!((avatar.format, avatar.frames), (format, 1));
        assert_eq!(avatard_imaging::frames(&avatar.bytes), 1);
        let still = image::load_from_memory(&avatar.bytes)
            .expect("decodable")
            .to_rgb8();
        assert!(
            close(still.get_pixel(32, 32).0, [255, 0, 0], 24),
            "{format:?}"
        );
    }
}

#[test]
fn renditions_convert_animations_or_take_their_first_frame() {
    let gif = animated_gif();
    let mut opts = options(64, true);
    opts.output = Some(Encoding::WebP { lossless: false });
    let webp = process_avatar(&gif, &opts).expect("webp");
    assert_eq!((webp.format, webp.frames), (Format::WebP, 4));
    assert_same_animation(&webp.bytes, Format::WebP);

    opts.output = Some(Encoding::Jpeg);
    let jpeg = process_avatar(&gif, &opts).expect("jpeg");
    assert_eq!((jpeg.format, jpeg.frames), (Format::Jpeg, 1));
    let still = image::load_from_memory(&jpeg.bytes)
        .expect("jpeg")
        .to_rgb8();
    assert!(close(still.get_pixel(32, 32).0, [255, 0, 0], 24));
}

/// A GIF of `count` 1×1 frames: tiny on disk, but it declares `count` frames.
fn gif_with_frames(count: usize) -> Vec<u8> {
    let mut out = b"GIF89a\x01\x00\x01\x00\x80\x00\x00\x00\x00\x00\xff\xff\xff".to_vec();
    for _ in 0..count {
        out.extend_from_slice(b"\x2c\x00\x00\x00\x00\x01\x00\x01\x00\x00\x02\x02\x44\x01\x00");
    }
    out.push(0x3b);
    out
}

#[test]
fn ten_thousand_frames_are_refused_before_decoding() {
    let bomb = gif_with_frames(10_000);
    assert_eq!(avatard_imaging::frames(&bomb), 10_000);
    let err = process_avatar(&bomb, &options(64, true)).expect_err("refused");
    assert!(matches!(err, ImageError::TooLarge(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the animation has 10000 frames, more than the limit of 1000"
    );
    // Within the limit the same construction decodes: the refusal is the count, not the file.
    let fine = process_avatar(&gif_with_frames(3), &options(16, true)).expect("three frames");
    assert_eq!((fine.format, fine.frames), (Format::Gif, 3));
}

#[test]
fn total_pixels_over_all_frames_are_bounded() {
    let mut opts = options(64, true);
    opts.limits = Limits {
        max_animation_pixels: 3 * 120 * 80,
        ..Limits::default()
    };
    let err = process_avatar(&animated_gif(), &opts).expect_err("refused");
    assert_eq!(
        err.to_string(),
        "the animation has 4 frames of 120x80, more than the limit of 28800 pixels over all frames"
    );
}

#[test]
fn truncated_animations_are_errors_not_panics() {
    for input in [animated_gif(), animated_webp(), apng()] {
        for len in (0..input.len()).step_by(7) {
            let _ = process_avatar(&input[..len], &options(32, true));
        }
    }
}
