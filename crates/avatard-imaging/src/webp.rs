//! Lossy WebP stills through libwebp, scaled while decoding.
//!
//! Photos arrive as lossy WebP more and more, and image-webp decodes them several times slower
//! than libwebp, which sharp uses. libwebp can also scale while it decodes ("shrink-on-load", as
//! for JPEG): rows go through its rescaler instead of into a full-size buffer, which saves most of
//! the time and memory of a large photo. The webp crate has no safe binding for the scaled
//! decode, so the few calls are made here directly. Lossless and animated WebP stay with
//! image-webp, in Rust: libwebp's lossless decoder is the part that had CVE-2023-4863 (fixed in
//! the vendored 1.3.1, but a smaller C surface is still the better default).
//!
//! libwebp's rescaler averages gamma-encoded values, like the DCT scaling of JPEGs; the final
//! resize, by at most the remaining factor of 4–8, is in linear light.

use image::{DynamicImage, RgbImage, RgbaImage};
use libwebp_sys::{
    VP8StatusCode, WEBP_CSP_MODE, WebPDecode, WebPDecoderConfig, WebPFreeDecBuffer,
    WebPInitDecoderConfig,
};

use crate::ImageError;

/// Decodes a still lossy WebP of the given (already limit-checked) size, `shrink` times smaller
/// in each direction (rounded up).
pub(crate) fn decode_lossy(
    bytes: &[u8],
    (width, height): (u32, u32),
    shrink: u32,
) -> Result<DynamicImage, ImageError> {
    let failed = || ImageError::Invalid("the WebP image could not be decoded".into());
    let alpha = webp::BitstreamFeatures::new(bytes)
        .ok_or_else(failed)?
        .has_alpha();
    let shrink = shrink.max(1);
    let (out_width, out_height) = (width.div_ceil(shrink), height.div_ceil(shrink));
    let channels: usize = if alpha { 4 } else { 3 };

    let mut config = std::mem::MaybeUninit::<WebPDecoderConfig>::uninit();
    // SAFETY: WebPInitDecoderConfig initialises every field of the config it is given and reports
    // a version mismatch as `false`, in which case the config is never read.
    if !unsafe { WebPInitDecoderConfig(config.as_mut_ptr()) } {
        return Err(failed());
    }
    // SAFETY: initialised just above.
    let mut config = unsafe { config.assume_init() };
    config.output.colorspace = if alpha {
        WEBP_CSP_MODE::MODE_RGBA
    } else {
        WEBP_CSP_MODE::MODE_RGB
    };
    if shrink > 1 {
        config.options.use_scaling = 1;
        config.options.scaled_width = i32::try_from(out_width).map_err(|_| failed())?;
        config.options.scaled_height = i32::try_from(out_height).map_err(|_| failed())?;
    }
    // SAFETY: `bytes` is valid for its length for the whole call, and `config` is initialised;
    // libwebp allocates the output buffer itself and records it in `config.output`.
    let status = unsafe { WebPDecode(bytes.as_ptr(), bytes.len(), &mut config) };
    let pixels = if status == VP8StatusCode::VP8_STATUS_OK {
        // SAFETY: after a successful decode into an RGB(A) mode, `u.RGBA` describes the buffer
        // libwebp allocated: `size` bytes at `rgba`, rows `stride` bytes apart.
        let buffer = unsafe { config.output.u.RGBA };
        let all = unsafe { std::slice::from_raw_parts(buffer.rgba, buffer.size) };
        let (row, stride) = (out_width as usize * channels, buffer.stride as usize);
        (stride >= row && config.output.width as u32 == out_width)
            .then(|| {
                all.chunks(stride)
                    .take(out_height as usize)
                    .flat_map(|line| &line[..row])
                    .copied()
                    .collect::<Vec<u8>>()
            })
            .filter(|pixels| pixels.len() == row * out_height as usize)
    } else {
        None
    };
    // SAFETY: frees what WebPDecode allocated (nothing after a failure before allocation);
    // `pixels` is an owned copy, and nothing refers to the buffer after this.
    unsafe { WebPFreeDecBuffer(&mut config.output) };
    let pixels = pixels.ok_or_else(failed)?;
    let image = if alpha {
        RgbaImage::from_raw(out_width, out_height, pixels).map(DynamicImage::ImageRgba8)
    } else {
        RgbImage::from_raw(out_width, out_height, pixels).map(DynamicImage::ImageRgb8)
    };
    image.ok_or_else(failed)
}
