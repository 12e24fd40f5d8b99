//! Encoding output images.
//!
//! Output is always re-encoded from pixels: the encoders are given no
//! metadata, so EXIF (including GPS), ICC profiles, comments and text chunks
//! of the upload never reach the stored avatar.

use std::borrow::Cow;
use std::io::Cursor;

use image::DynamicImage;
use image::codecs::jpeg::JpegEncoder;
use image::codecs::png::PngEncoder;
use image::codecs::webp::WebPEncoder;

use crate::{Format, ImageError};

/// sharp's default JPEG quality, which Rocket.Chat relies on.
const JPEG_QUALITY: u8 = 80;

/// The formats avatars are stored and served in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Encoding {
    Png,
    Jpeg,
    WebP,
}

impl Encoding {
    /// Keeps the upload's format where we can encode it; GIF (first frame
    /// only) and SVG (rasterised) become PNG.
    pub(crate) fn for_input(format: Format) -> Self {
        match format {
            Format::Jpeg => Encoding::Jpeg,
            Format::WebP => Encoding::WebP,
            Format::Png | Format::Gif | Format::Svg => Encoding::Png,
        }
    }

    pub(crate) fn format(self) -> Format {
        match self {
            Encoding::Png => Format::Png,
            Encoding::Jpeg => Format::Jpeg,
            Encoding::WebP => Format::WebP,
        }
    }
}

/// Encodes `image`; JPEG drops any alpha channel, WebP is lossless.
pub(crate) fn encode(image: &DynamicImage, encoding: Encoding) -> Result<Vec<u8>, ImageError> {
    let mut out = Cursor::new(Vec::new());
    let result = match encoding {
        Encoding::Png => image.write_with_encoder(PngEncoder::new(&mut out)),
        Encoding::Jpeg => {
            let opaque = match image {
                DynamicImage::ImageRgb8(_) | DynamicImage::ImageLuma8(_) => Cow::Borrowed(image),
                other => Cow::Owned(DynamicImage::ImageRgb8(other.to_rgb8())),
            };
            opaque.write_with_encoder(JpegEncoder::new_with_quality(&mut out, JPEG_QUALITY))
        }
        Encoding::WebP => {
            // The WebP encoder only takes 8-bit samples.
            let eight_bit = match image {
                DynamicImage::ImageRgb8(_)
                | DynamicImage::ImageRgba8(_)
                | DynamicImage::ImageLuma8(_)
                | DynamicImage::ImageLumaA8(_) => Cow::Borrowed(image),
                other if other.color().has_alpha() => {
                    Cow::Owned(DynamicImage::ImageRgba8(other.to_rgba8()))
                }
                other => Cow::Owned(DynamicImage::ImageRgb8(other.to_rgb8())),
            };
            eight_bit.write_with_encoder(WebPEncoder::new_lossless(&mut out))
        }
    };
    result.map_err(ImageError::from_encoder)?;
    Ok(out.into_inner())
}
