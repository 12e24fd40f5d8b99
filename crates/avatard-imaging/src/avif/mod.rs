//! AVIF input, decoded in pure Rust: the HEIF container by avif-parse and `container.rs`, the
//! AV1 bitstream by rav1d (`av1.rs`), colour conversion in `yuv.rs`.
//!
//! The order of work is the same as for the other raster formats: read what the file declares
//! (`ispe`, rotation, colour) and check it against the limits before any AV1 data is decoded;
//! give the decoder a frame size limit as a second line of defence; refuse a decoded frame
//! whose size is not the declared one. What we do not render correctly we refuse with
//! `ImageError::Unsupported` rather than show wrongly: grid images, cropping (`clap`),
//! unknown essential properties, exotic matrix coefficients, animations without a still image.
//! An animation that also carries a still primary image (brand `avis` with `avif` compatible)
//! yields that image.

mod av1;
mod container;
#[cfg(test)]
mod tests;
mod yuv;

use std::panic::{self, AssertUnwindSafe};

use avif_parse::{AV1Metadata, AvifData};
use image::DynamicImage;

use self::container::{Header, Mirror};
use crate::{ImageError, Limits};

/// Width and height from the container (`ispe`, after `irot`), without decoding any AV1 data.
pub(crate) fn dimensions(bytes: &[u8]) -> Result<(u32, u32), ImageError> {
    Ok(container::read(bytes)?.displayed_size())
}

/// Decodes the primary image (and its alpha item) within `limits`, turned and mirrored as the
/// container says.
pub(crate) fn decode(bytes: &[u8], limits: &Limits) -> Result<DynamicImage, ImageError> {
    let header = container::read(bytes)?;
    let (width, height) = header.displayed_size();
    limits.check_dimensions(width, height)?;

    let items = Items::parse(bytes, &header)?;
    items.check_memory(&header, limits)?;

    // The decoder refuses, before allocating it, any frame larger than the declared size
    // (which the limits have just accepted; u32::MAX only if they allow more than that).
    let frame_limit = u32::try_from(u64::from(width) * u64::from(height)).unwrap_or(u32::MAX);
    let color = decode_item("AV1 frame", &items.data.primary_item, frame_limit, &header)?;
    let alpha = match items.data.alpha_item.as_deref() {
        Some(payload) => Some(decode_item("alpha frame", payload, frame_limit, &header)?),
        None => None,
    };

    // A `colr` box of type `nclx` takes precedence over the AV1 sequence header.
    let (matrix_code, full_range) = match header.nclx {
        Some(nclx) => (nclx.matrix_coefficients, nclx.full_range),
        None => (
            u16::from(color.color().matrix_coefficients),
            color.color().full_range,
        ),
    };
    let conversion = yuv::Conversion {
        matrix: yuv::Matrix::from_code(matrix_code)?,
        full_range,
        premultiplied: items.data.premultiplied_alpha,
    };
    let image = yuv::to_image(&color, alpha.as_ref(), &conversion)?;
    Ok(orient(image, header.quarter_turns, header.mirror))
}

/// The AV1 payloads, and what their sequence headers say, as avif-parse extracts them.
struct Items {
    data: AvifData,
    color: AV1Metadata,
    alpha: Option<AV1Metadata>,
}

impl Items {
    fn parse(bytes: &[u8], header: &Header) -> Result<Items, ImageError> {
        // avif-parse refuses every major brand but `avif`, although `container::read` has
        // checked that the compatible brands promise an AVIF still image (an `avis` animation
        // that carries one, say). Give it the same file with the major brand it wants.
        let patched;
        let input = match header.foreign_major_brand {
            Some(offset) => {
                let mut copy = bytes.to_vec();
                if let Some(brand) = copy.get_mut(offset..offset + 4) {
                    brand.copy_from_slice(b"avif");
                }
                patched = copy;
                &patched[..]
            }
            None => bytes,
        };
        // avif-parse has `debug_assert!`s that hostile input can reach; they are off in release
        // builds, but a parser panic must be an error in every build.
        let parsed = panic::catch_unwind(AssertUnwindSafe(|| {
            let data = avif_parse::read_avif(&mut &input[..])?;
            let color = data.primary_item_metadata()?;
            let alpha = data.alpha_item_metadata()?;
            Ok::<_, avif_parse::Error>(Items { data, color, alpha })
        }));
        match parsed {
            Ok(Ok(items)) => Ok(items),
            Ok(Err(avif_parse::Error::Unsupported(what))) => Err(ImageError::Unsupported(format!(
                "this AVIF image is not supported: {what}"
            ))),
            Ok(Err(err)) => Err(invalid(err)),
            Err(_) => Err(invalid("the container is malformed")),
        }
    }

    /// Refuses an image whose decoding would need more than `limits.max_alloc` bytes: for
    /// each AV1 item, the picture (one or two bytes a sample) and, twice its size, the
    /// coefficients rav1d keeps for the whole frame when it decodes with frame threads; about a
    /// byte a pixel of other decoder state; the 8-bit output, and a copy of it if it must be
    /// turned or mirrored. (Measured: a 2000×2000 8-bit 4:4:4 image raises peak memory by
    /// about 50 MiB; this estimates 50.)
    fn check_memory(&self, header: &Header, limits: &Limits) -> Result<(), ImageError> {
        let pixels = u64::from(header.width) * u64::from(header.height);
        let decoder = |meta: &AV1Metadata, with_chroma: bool| {
            let sample_bytes = if meta.bit_depth > 8 { 2 } else { 1 };
            let chroma_quarters = match (with_chroma && !meta.monochrome, meta.chroma_subsampling) {
                (false, _) => 0,
                (true, (true, true)) => 2,
                (true, (true, false) | (false, true)) => 4,
                (true, (false, false)) => 8,
            };
            let picture = pixels * sample_bytes * (4 + chroma_quarters) / 4;
            3 * picture + pixels
        };
        let channels = if self.alpha.is_some() { 4 } else { 3 };
        let outputs = if header.quarter_turns == 0 && header.mirror.is_none() {
            1
        } else {
            2
        };
        let needed = decoder(&self.color, true)
            + self.alpha.as_ref().map_or(0, |alpha| decoder(alpha, false))
            + outputs * pixels * channels;
        if needed > limits.max_alloc {
            return Err(ImageError::TooLarge(format!(
                "decoding this AVIF image needs about {} MiB, more than the limit of {} MiB",
                needed.div_ceil(1 << 20),
                limits.max_alloc >> 20
            )));
        }
        Ok(())
    }
}

/// Decodes one AV1 item (`what` names it in errors) and checks that it is as large as the
/// container declares.
fn decode_item(
    what: &str,
    payload: &[u8],
    frame_limit: u32,
    header: &Header,
) -> Result<av1::Frame, ImageError> {
    let frame = av1::decode(payload, frame_limit).map_err(|err| match err {
        av1::Av1Error::TooLarge => invalid(format!(
            "the {what} is larger than the declared {}x{}",
            header.width, header.height
        )),
        av1::Av1Error::Invalid(reason) => invalid(reason),
    })?;
    if (frame.width(), frame.height()) != (header.width as usize, header.height as usize) {
        return Err(invalid(format!(
            "the {what} is {}x{} but the container declares {}x{}",
            frame.width(),
            frame.height(),
            header.width,
            header.height
        )));
    }
    Ok(frame)
}

/// Applies `irot` (anticlockwise quarter turns) and then `imir`, the order HEIF prescribes.
fn orient(image: DynamicImage, quarter_turns: u8, mirror: Option<Mirror>) -> DynamicImage {
    let image = match quarter_turns {
        1 => image.rotate270(),
        2 => image.rotate180(),
        3 => image.rotate90(),
        _ => image,
    };
    match mirror {
        Some(Mirror::TopBottom) => image.flipv(),
        Some(Mirror::LeftRight) => image.fliph(),
        None => image,
    }
}

fn invalid(reason: impl std::fmt::Display) -> ImageError {
    ImageError::Invalid(format!("the AVIF image could not be decoded: {reason}"))
}
