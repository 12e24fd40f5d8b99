//! Animated GIF, WebP and PNG (APNG): how many frames a file declares, and its frames.
//!
//! Frames are counted by walking the container's blocks or chunks, without decompressing
//! anything, so a file announcing ten thousand frames is refused before the first one is decoded.
//! Decoding then hands out one composited canvas at a time, and the caller shrinks each before the
//! next is decoded: memory follows the output, not the input.

use std::io::Cursor;

use image::codecs::gif::GifDecoder;
use image::codecs::png::PngDecoder;
use image::codecs::webp::WebPDecoder;
use image::{AnimationDecoder, DynamicImage, Frames, ImageDecoder};

use crate::picture::Frame;
use crate::{Format, ImageError, Limits};

/// How many frames an image declares: 1 for a still, or anything unreadable.
pub fn frames(bytes: &[u8]) -> u32 {
    match crate::sniff(bytes) {
        crate::Sniffed::Supported(format) => declared_frames(bytes, format),
        _ => 1,
    }
}

/// How many frames `bytes` declares; 1 for formats that cannot animate. Counting stops at the
/// first damaged block: the decoder reports damage in its own words.
pub(crate) fn declared_frames(bytes: &[u8], format: Format) -> u32 {
    match format {
        Format::Gif => gif_frames(bytes),
        Format::WebP => crate::decode::webp_chunks(bytes)
            .filter(|(id, _)| id == b"ANMF")
            .count()
            .try_into()
            .unwrap_or(u32::MAX)
            .max(1),
        Format::Png => apng_frames(bytes).unwrap_or(1),
        _ => 1,
    }
}

/// Image descriptors in a GIF: the header, the logical screen and its colour table are skipped,
/// then every extension and image block by its sub-block lengths.
fn gif_frames(bytes: &[u8]) -> u32 {
    let colour_table = |flags: u8| {
        if flags & 0x80 != 0 {
            3 << ((flags & 7) + 1)
        } else {
            0
        }
    };
    let Some(&screen_flags) = bytes.get(10) else {
        return 1;
    };
    let mut pos = 13 + colour_table(screen_flags);
    let mut frames = 0u32;
    let skip_sub_blocks = |mut pos: usize| -> Option<usize> {
        loop {
            let len = usize::from(*bytes.get(pos)?);
            pos += 1 + len;
            if len == 0 {
                return Some(pos);
            }
        }
    };
    loop {
        let next = match bytes.get(pos) {
            Some(0x21) => skip_sub_blocks(pos + 2),
            Some(0x2C) => {
                frames = frames.saturating_add(1);
                let Some(&flags) = bytes.get(pos + 9) else {
                    break;
                };
                // Descriptor (10 bytes), local colour table, LZW code size, data sub-blocks.
                skip_sub_blocks(pos + 10 + colour_table(flags) + 1)
            }
            _ => None, // trailer, end of data or damage
        };
        match next {
            Some(next) => pos = next,
            None => break,
        }
    }
    frames.max(1)
}

/// The frame count of an APNG's `acTL` chunk; `None` for a plain PNG. The chunk must come before
/// the image data to count, as the APNG specification requires.
fn apng_frames(bytes: &[u8]) -> Option<u32> {
    let mut pos = 8;
    loop {
        let header = bytes.get(pos..pos + 8)?;
        let len = u32::from_be_bytes([header[0], header[1], header[2], header[3]]) as usize;
        match &header[4..8] {
            b"acTL" => {
                let count = bytes.get(pos + 8..pos + 12)?;
                return Some(u32::from_be_bytes([count[0], count[1], count[2], count[3]]).max(1));
            }
            b"IDAT" | b"IEND" => return None,
            _ => pos = pos.checked_add(12)?.checked_add(len)?,
        }
    }
}

/// Decodes every frame of an animation, passing each composited canvas through `shrink` before
/// the next one is decoded.
pub(crate) fn decode_frames(
    bytes: &[u8],
    format: Format,
    limits: &Limits,
    mut shrink: impl FnMut(DynamicImage) -> Result<DynamicImage, ImageError>,
) -> Result<Vec<Frame>, ImageError> {
    let frames = animation_frames(bytes, format, limits)?;
    let mut out = Vec::new();
    for frame in frames {
        let frame = frame.map_err(ImageError::from_decoder)?;
        let (delay, canvas) = (frame.delay(), frame.into_buffer());
        out.push(Frame {
            image: shrink(DynamicImage::ImageRgba8(canvas))?,
            delay,
        });
    }
    if out.is_empty() {
        return Err(ImageError::Invalid("the animation has no frames".into()));
    }
    Ok(out)
}

fn animation_frames<'a>(
    bytes: &'a [u8],
    format: Format,
    limits: &Limits,
) -> Result<Frames<'a>, ImageError> {
    let cursor = Cursor::new(bytes);
    let limited = |decoder: &mut dyn ImageDecoder| {
        decoder
            .set_limits(limits.decoder_limits())
            .map_err(ImageError::from_decoder)
    };
    Ok(match format {
        Format::Gif => {
            let mut decoder = GifDecoder::new(cursor).map_err(ImageError::from_decoder)?;
            limited(&mut decoder)?;
            decoder.into_frames()
        }
        Format::WebP => {
            let mut decoder = WebPDecoder::new(cursor).map_err(ImageError::from_decoder)?;
            limited(&mut decoder)?;
            decoder.into_frames()
        }
        Format::Png => {
            let mut decoder = PngDecoder::new(cursor).map_err(ImageError::from_decoder)?;
            limited(&mut decoder)?;
            decoder
                .apng()
                .map_err(ImageError::from_decoder)?
                .into_frames()
        }
        other => {
            return Err(ImageError::Unsupported(format!(
                "{} images cannot be animated",
                other.mime()
            )));
        }
    })
}
