//! The avatar pipeline: sniff, decode or rasterise, shrink, orient, convert to sRGB, encode.
//!
//! Mirrors what Rocket.Chat does with sharp when a user sets an avatar, with every step bounded:
//! unknown formats are refused before any decoder runs, declared dimensions and frame counts are
//! checked before pixels are allocated, and a panic anywhere in third-party decoding code becomes
//! an ordinary error. Orientation and colour conversion run after the resize: both commute with
//! a centred square fit, and on a 200 px avatar they cost next to nothing.

use std::panic::{AssertUnwindSafe, catch_unwind};

use image::DynamicImage;

use crate::decode::{self, raster_format};
use crate::encode::{Encoding, encode};
use crate::picture::Picture;
use crate::svg::{self, Target};
use crate::{Format, ImageError, Limits, Sniffed, color, resize, sniff};
use crate::{animation, avif};

/// How to turn an image into an avatar.
#[derive(Clone, Debug)]
pub struct AvatarOptions {
    /// Width and height of the output when `resize` is set (and the fallback
    /// size of an SVG that declares none).
    pub size: u32,
    /// Produce exactly `size`×`size`; otherwise keep the image's own size.
    pub resize: bool,
    /// Apply the EXIF orientation so the avatar is upright.
    pub auto_orient: bool,
    /// Keep animations animated (GIF, WebP, APNG); otherwise their first frame is the avatar.
    pub animated: bool,
    /// The output encoding; `None` keeps the input's format where it can (see [`Encoding`]).
    pub output: Option<Encoding>,
    pub limits: Limits,
}

/// A processed avatar, ready to store and serve.
#[derive(Clone, Debug)]
pub struct Avatar {
    pub bytes: Vec<u8>,
    pub format: Format,
    pub width: u32,
    pub height: u32,
    /// 1 for a still image.
    pub frames: u32,
}

/// Validates and normalises an image into an avatar.
///
/// Without an explicit `output`, the format is the input's, as sharp keeps it, except that SVG
/// (rasterised), BMP, ICO and TIFF become PNG, and a GIF that is not kept animated becomes PNG
/// as Rocket.Chat does. The output carries no metadata.
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
    catch_unwind(AssertUnwindSafe(|| {
        let picture = render(input, format, opts)?;
        let encoding = opts
            .output
            .unwrap_or_else(|| keep_format(input, format, &picture));
        let picture = if encoding.animates() {
            picture
        } else {
            Picture::Still(picture.into_still())
        };
        let (width, height) = (picture.first().width(), picture.first().height());
        Ok(Avatar {
            bytes: encode(&picture, encoding)?,
            format: encoding.format(),
            width,
            height,
            frames: picture.frame_count(),
        })
    }))
    .unwrap_or_else(|_| Err(ImageError::Invalid("the image could not be decoded".into())))
}

/// The encoding that keeps the input's format, where there is one to keep.
fn keep_format(input: &[u8], format: Format, picture: &Picture) -> Encoding {
    let animated = matches!(picture, Picture::Animation(_));
    match format {
        Format::Jpeg => Encoding::Jpeg,
        Format::WebP => Encoding::WebP {
            lossless: !decode::webp_is_lossy(input),
        },
        Format::Avif => Encoding::Avif,
        Format::Gif if animated => Encoding::Gif,
        Format::Png | Format::Gif | Format::Svg | Format::Bmp | Format::Ico | Format::Tiff => {
            Encoding::Png
        }
    }
}

fn render(input: &[u8], format: Format, opts: &AvatarOptions) -> Result<Picture, ImageError> {
    let fit = |image: DynamicImage| {
        if opts.resize {
            resize::square(image, opts.size)
        } else {
            Ok(image)
        }
    };
    if format == Format::Avif {
        // Rotation and mirroring come from the container and are applied by the decoder.
        return Ok(Picture::Still(fit(avif::decode(input, &opts.limits)?)?));
    }
    let Some(raster) = raster_format(format) else {
        let target = if opts.resize {
            Target::Square(opts.size)
        } else {
            Target::Natural {
                fallback: opts.size,
            }
        };
        return svg::rasterize(input, target, &opts.limits)
            .map(|image| Picture::Still(DynamicImage::ImageRgba8(image)));
    };
    let frames = animation::declared_frames(input, format);
    if opts.animated && frames > 1 {
        let (width, height) = decode::dimensions(input)
            .ok_or_else(|| ImageError::Invalid("the image could not be decoded".into()))?;
        opts.limits.check_dimensions(width, height)?;
        opts.limits.check_animation(width, height, frames)?;
        let mut frames = animation::decode_frames(input, format, &opts.limits, fit)?;
        return Ok(if frames.len() == 1 {
            Picture::Still(frames.remove(0).image)
        } else {
            Picture::Animation(frames)
        });
    }
    let decoded = decode::decode(
        input,
        raster,
        &opts.limits,
        opts.auto_orient,
        shrink_on_load(input, format, opts),
    )?;
    let mut image = fit(decoded.image)?;
    if let Some(orientation) = decoded.orientation {
        image.apply_orientation(orientation);
    }
    if let Some(icc) = &decoded.icc {
        image = color::to_srgb(image, icc);
    }
    Ok(Picture::Still(image))
}

/// How much smaller the decoder may deliver the image ("shrink-on-load", as sharp does): a JPEG
/// by 8 or 4 from its DCT coefficients, a lossy WebP by any factor through libwebp's rescaler,
/// always leaving the shorter side at least twice the avatar size (at least the size for
/// the DCT's fixed steps), so the final linear-light resize has real pixels to work with.
fn shrink_on_load(input: &[u8], format: Format, opts: &AvatarOptions) -> u32 {
    if !opts.resize || !matches!(format, Format::Jpeg | Format::WebP) {
        return 1;
    }
    let Some((width, height)) = decode::dimensions(input) else {
        return 1;
    };
    let factor = width.min(height) / opts.size.max(1);
    match (format, factor) {
        (Format::WebP, _) => (factor / 2).max(1),
        (_, 8..) => 8,
        (_, 4..8) => 4,
        _ => 1,
    }
}
