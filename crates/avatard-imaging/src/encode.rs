//! Encoding output images and animations.
//!
//! Output is always re-encoded from pixels: the encoders are given no metadata, so EXIF
//! (including GPS), ICC profiles, comments and text chunks of the upload never reach the stored
//! avatar. Quality settings are sharp's defaults, which Rocket.Chat relies on: JPEG 80, WebP 80.

use std::io::Cursor;

use image::codecs::gif::{GifEncoder, Repeat};
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;
use image::{DynamicImage, RgbaImage};

use crate::picture::{Frame, Picture};
use crate::{Format, ImageError};

const JPEG_QUALITY: u8 = 80;
const WEBP_QUALITY: f32 = 80.0;
/// ravif's scale; 60 is about what JPEG 80 looks like, at a third of the bytes.
const AVIF_QUALITY: f32 = 60.0;
/// rav1e's speed (0–10): 8 encodes a 200 px avatar in tens of milliseconds.
const AVIF_SPEED: u8 = 8;

/// The formats avatars are stored and served in.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Encoding {
    /// PNG, or APNG for an animation.
    Png,
    Jpeg,
    Gif,
    WebP {
        lossless: bool,
    },
    Avif,
}

impl Encoding {
    /// The encoding a `?format=` value names (`png`, `jpg`, `jpeg`, `webp`, `avif`, `gif`).
    pub fn from_name(name: &str) -> Option<Encoding> {
        Some(match name {
            "png" => Encoding::Png,
            "jpg" | "jpeg" => Encoding::Jpeg,
            "gif" => Encoding::Gif,
            "webp" => Encoding::WebP { lossless: false },
            "avif" => Encoding::Avif,
            _ => return None,
        })
    }

    pub fn format(self) -> Format {
        match self {
            Encoding::Png => Format::Png,
            Encoding::Jpeg => Format::Jpeg,
            Encoding::Gif => Format::Gif,
            Encoding::WebP { .. } => Format::WebP,
            Encoding::Avif => Format::Avif,
        }
    }

    /// Whether this encoding can carry an animation; the others get the first frame.
    pub fn animates(self) -> bool {
        matches!(self, Encoding::Png | Encoding::Gif | Encoding::WebP { .. })
    }
}

/// Encodes `picture`; an animation given to an encoding that cannot animate must have been
/// turned into its still first (see [`Encoding::animates`]).
pub(crate) fn encode(picture: &Picture, encoding: Encoding) -> Result<Vec<u8>, ImageError> {
    match picture {
        Picture::Still(image) => encode_still(image, encoding),
        Picture::Animation(frames) => match encoding {
            Encoding::Gif => encode_gif(frames),
            Encoding::WebP { lossless } => encode_animated_webp(frames, lossless),
            Encoding::Png => encode_apng(frames),
            Encoding::Jpeg | Encoding::Avif => encode_still(picture.first(), encoding),
        },
    }
}

fn encode_still(image: &DynamicImage, encoding: Encoding) -> Result<Vec<u8>, ImageError> {
    let mut out = Cursor::new(Vec::new());
    let result = match encoding {
        Encoding::Png => image.write_with_encoder(PngEncoder::new(&mut out)),
        Encoding::Jpeg => DynamicImage::ImageRgb8(image.to_rgb8())
            .write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY)),
        Encoding::Gif => {
            return encode_gif(&[Frame {
                image: image.clone(),
                delay: image::Delay::from_numer_denom_ms(0, 1),
            }]);
        }
        Encoding::WebP { lossless: true } => {
            eight_bit(image).write_with_encoder(WebPEncoder::new_lossless(&mut out))
        }
        Encoding::WebP { lossless: false } => return encode_lossy_webp(image),
        Encoding::Avif => return encode_avif(image),
    };
    result.map_err(ImageError::from_encoder)?;
    Ok(out.into_inner())
}

/// The 8-bit RGB or RGBA form of `image` (the WebP encoders take nothing else).
fn eight_bit(image: &DynamicImage) -> DynamicImage {
    if image.color().has_alpha() {
        DynamicImage::ImageRgba8(image.to_rgba8())
    } else {
        DynamicImage::ImageRgb8(image.to_rgb8())
    }
}

fn encode_lossy_webp(image: &DynamicImage) -> Result<Vec<u8>, ImageError> {
    let (width, height) = (image.width(), image.height());
    let encoded = if image.color().has_alpha() {
        webp::Encoder::from_rgba(image.to_rgba8().as_raw(), width, height).encode(WEBP_QUALITY)
    } else {
        webp::Encoder::from_rgb(image.to_rgb8().as_raw(), width, height).encode(WEBP_QUALITY)
    };
    Ok(encoded.to_vec())
}

fn encode_avif(image: &DynamicImage) -> Result<Vec<u8>, ImageError> {
    use ravif::{Img, RGBA8};
    let rgba = image.to_rgba8();
    let pixels: Vec<RGBA8> = rgba
        .pixels()
        .map(|p| RGBA8::new(p[0], p[1], p[2], p[3]))
        .collect();
    let encoder = ravif::Encoder::new()
        .with_quality(AVIF_QUALITY)
        .with_alpha_quality(AVIF_QUALITY)
        .with_speed(AVIF_SPEED)
        .with_num_threads(Some(1));
    let img = Img::new(
        pixels.as_slice(),
        rgba.width() as usize,
        rgba.height() as usize,
    );
    encoder
        .encode_rgba(img)
        .map(|encoded| encoded.avif_file)
        .map_err(|e| ImageError::Invalid(format!("the image could not be encoded: {e}")))
}

fn canvases(frames: &[Frame]) -> Vec<(RgbaImage, image::Delay)> {
    frames
        .iter()
        .map(|frame| (frame.image.to_rgba8(), frame.delay))
        .collect()
}

fn encode_gif(frames: &[Frame]) -> Result<Vec<u8>, ImageError> {
    let mut out = Vec::new();
    {
        // Speed 10 is the gif crate's balance of palette quality and time (1 best, 30 fastest).
        let mut encoder = GifEncoder::new_with_speed(&mut out, 10);
        encoder
            .set_repeat(Repeat::Infinite)
            .map_err(ImageError::from_encoder)?;
        encoder
            .encode_frames(
                canvases(frames)
                    .into_iter()
                    .map(|(canvas, delay)| image::Frame::from_parts(canvas, 0, 0, delay)),
            )
            .map_err(ImageError::from_encoder)?;
    }
    Ok(out)
}

fn encode_animated_webp(frames: &[Frame], lossless: bool) -> Result<Vec<u8>, ImageError> {
    let canvases = canvases(frames);
    let (width, height) = canvases[0].0.dimensions();
    let mut config = webp::WebPConfig::new()
        .map_err(|()| ImageError::Invalid("the WebP encoder could not start".into()))?;
    config.lossless = i32::from(lossless);
    config.quality = WEBP_QUALITY;
    let mut encoder = webp::AnimEncoder::new(width, height, &config);
    encoder.set_loop_count(0);
    let mut timestamp = 0i32;
    for (canvas, delay) in &canvases {
        encoder.add_frame(webp::AnimFrame::from_rgba(
            canvas.as_raw(),
            width,
            height,
            timestamp,
        ));
        timestamp = timestamp.saturating_add(delay_ms(*delay));
    }
    let mut encoded = encoder
        .try_encode()
        .map(|encoded| encoded.to_vec())
        .map_err(|e| ImageError::Invalid(format!("the animation could not be encoded: {e:?}")))?;
    if let Some((_, last)) = canvases.last() {
        set_last_frame_duration(&mut encoded, delay_ms(*last));
    }
    Ok(encoded)
}

/// The webp crate closes the animation at timestamp 0 instead of at its end, which leaves
/// libwebp to guess how long the last frame shows; this writes the real duration into the last
/// `ANMF` chunk (24 bits at offset 12 of its payload).
fn set_last_frame_duration(webp: &mut [u8], duration_ms: i32) {
    let last = crate::decode::webp_chunks(webp)
        .filter(|(id, payload)| id == b"ANMF" && payload.len() >= 16)
        .map(|(_, payload)| payload.as_ptr() as usize - webp.as_ptr() as usize)
        .last();
    if let Some(offset) = last {
        let duration = u32::try_from(duration_ms).unwrap_or(0).min(0xFF_FFFF);
        webp[offset + 12..offset + 15].copy_from_slice(&duration.to_le_bytes()[..3]);
    }
}

fn encode_apng(frames: &[Frame]) -> Result<Vec<u8>, ImageError> {
    let failed = |e: png::EncodingError| {
        ImageError::Invalid(format!("the animation could not be encoded: {e}"))
    };
    let canvases = canvases(frames);
    let (width, height) = canvases[0].0.dimensions();
    let mut out = Vec::new();
    {
        let mut encoder = png::Encoder::new(&mut out, width, height);
        encoder.set_color(png::ColorType::Rgba);
        encoder.set_depth(png::BitDepth::Eight);
        let count = u32::try_from(canvases.len()).unwrap_or(u32::MAX);
        encoder.set_animated(count, 0).map_err(failed)?;
        let mut writer = encoder.write_header().map_err(failed)?;
        for (canvas, delay) in &canvases {
            let (numerator, denominator) = delay.numer_denom_ms();
            let (numerator, denominator) = fit_u16(numerator, denominator);
            writer
                .set_frame_delay(numerator, denominator)
                .map_err(failed)?;
            writer.write_image_data(canvas.as_raw()).map_err(failed)?;
        }
        writer.finish().map_err(failed)?;
    }
    Ok(out)
}

fn delay_ms(delay: image::Delay) -> i32 {
    let (numerator, denominator) = delay.numer_denom_ms();
    i32::try_from(numerator / denominator.max(1)).unwrap_or(i32::MAX)
}

/// APNG delays are u16 fractions of a second; scale a millisecond fraction down until it fits.
fn fit_u16(numerator: u32, denominator: u32) -> (u16, u16) {
    // n/d milliseconds = n/(1000·d) seconds.
    let (mut n, mut d) = (u64::from(numerator), u64::from(denominator.max(1)) * 1000);
    while n > u64::from(u16::MAX) || d > u64::from(u16::MAX) {
        n = n.div_ceil(2);
        d = d.div_ceil(2);
    }
    (n as u16, d as u16)
}
