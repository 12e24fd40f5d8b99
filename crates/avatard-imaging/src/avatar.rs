//! The upload pipeline: sniff, decode or rasterise, orient, square, re-encode.
//!
//! Mirrors what Rocket.Chat does with sharp when a user sets an avatar, with
//! every step bounded: unknown formats are refused before any decoder runs,
//! declared dimensions are checked before pixels are allocated, and a panic
//! anywhere in third-party decoding code becomes an ordinary error.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::DynamicImage;

use crate::decode::{decode, raster_format};
use crate::encode::{Encoding, encode};
use crate::svg::{self, Target};
use crate::{Format, ImageError, Limits, Sniffed, resize, sniff};

/// How to turn an upload into a stored avatar.
#[derive(Clone, Debug)]
pub struct AvatarOptions {
    /// Width and height of the output when `resize` is set (and the fallback
    /// size of an SVG that declares none).
    pub size: u32,
    /// Produce exactly `size`×`size`; otherwise keep the image's own size.
    pub resize: bool,
    /// Apply the EXIF orientation so the avatar is upright.
    pub auto_orient: bool,
    pub limits: Limits,
}

/// A processed avatar, ready to store and serve.
#[derive(Clone, Debug)]
pub struct Avatar {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
}

/// Validates and normalises an uploaded avatar image.
///
/// The output format is the input format, except that GIF (first frame) and
/// SVG (rasterised) become PNG. The output carries no metadata.
pub fn process_avatar(input: &[u8], opts: &AvatarOptions) -> Result<Avatar, ImageError> {
    let format = match sniff(input) {
        Sniffed::Supported(format) => format,
        Sniffed::Unsupported(name) => {
            return Err(ImageError::Unsupported(format!(
                "{name} images are not supported"
            )));
        }
        Sniffed::Unknown => {
            return Err(ImageError::Unsupported("unrecognised image format".into()));
        }
    };
    if opts.resize {
        if opts.size == 0 {
            return Err(ImageError::Invalid(
                "the avatar size must be at least 1 pixel".into(),
            ));
        }
        opts.limits.check_dimensions(opts.size, opts.size)?;
    }
    let encoding = Encoding::for_input(format);
    catch_unwind(AssertUnwindSafe(|| {
        let image = render(input, format, opts)?;
        Ok(Avatar {
            bytes: encode(&image, encoding)?,
            format: encoding.format(),
            width: image.width(),
            height: image.height(),
        })
    }))
    .unwrap_or_else(|_| Err(ImageError::Invalid("the image could not be decoded".into())))
}

fn render(input: &[u8], format: Format, opts: &AvatarOptions) -> Result<DynamicImage, ImageError> {
    let Some(raster) = raster_format(format) else {
        let target = if opts.resize {
            Target::Square(opts.size)
        } else {
            Target::Natural {
                fallback: opts.size,
            }
        };
        return svg::rasterize(input, target, &opts.limits).map(DynamicImage::ImageRgba8);
    };
    let image = decode(input, raster, &opts.limits, opts.auto_orient)?;
    if opts.resize {
        resize::square(image, opts.size)
    } else {
        Ok(image)
    }
}
