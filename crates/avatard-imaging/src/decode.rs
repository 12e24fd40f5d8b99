//! Bounded decoding of still raster images.
//!
//! The header is read first and its declared dimensions are checked before a single pixel buffer
//! exists; the decoder then runs with `image::Limits` as a second line of defence. The EXIF
//! orientation and the ICC profile are read from the header too and handed back with the pixels,
//! so the pipeline can apply them to the downsized image, where they cost least. GIF, animated
//! WebP and APNG yield their first frame here ([`crate::animation`] decodes all of them).

use std::io::Cursor;

use image::metadata::Orientation;
use image::{DynamicImage, ImageDecoder, ImageFormat, ImageReader};

use crate::{Format, ImageError, Limits};

/// Pixels and what must still be done to them to show them as intended.
pub(crate) struct Decoded {
    pub image: DynamicImage,
    /// The EXIF orientation, when it was asked for.
    pub orientation: Option<Orientation>,
    /// The embedded ICC profile, if any.
    pub icc: Option<Vec<u8>>,
}

/// The width and height a raster image declares in its header, without decoding pixels; `None`
/// for SVG and for anything unreadable.
pub fn dimensions(bytes: &[u8]) -> Option<(u32, u32)> {
    let format = match crate::sniff(bytes) {
        crate::Sniffed::Supported(Format::Avif) => return crate::avif::dimensions(bytes).ok(),
        crate::Sniffed::Supported(format) => raster_format(format)?,
        _ => return None,
    };
    ImageReader::with_format(Cursor::new(bytes), format)
        .into_dimensions()
        .ok()
}

/// The `image` crate's name for a raster format it decodes; `None` for SVG and AVIF.
pub(crate) fn raster_format(format: Format) -> Option<ImageFormat> {
    match format {
        Format::Png => Some(ImageFormat::Png),
        Format::Jpeg => Some(ImageFormat::Jpeg),
        Format::Gif => Some(ImageFormat::Gif),
        Format::WebP => Some(ImageFormat::WebP),
        Format::Bmp => Some(ImageFormat::Bmp),
        Format::Ico => Some(ImageFormat::Ico),
        Format::Tiff => Some(ImageFormat::Tiff),
        Format::Svg | Format::Avif => None,
    }
}

/// Decodes the first frame of a raster image of `format` within `limits`, reading its EXIF
/// orientation when `auto_orient` is set. A JPEG may come out `shrink` (2, 4 or 8) times smaller
/// in each direction, decoded at that scale from its DCT coefficients ([`crate::jpeg`]); the
/// caller must cope with either size.
pub(crate) fn decode(
    bytes: &[u8],
    format: ImageFormat,
    limits: &Limits,
    auto_orient: bool,
    shrink: u32,
) -> Result<Decoded, ImageError> {
    let mut reader = ImageReader::with_format(Cursor::new(bytes), format);
    // Only the allocation cap while reading the header: the dimension check
    // below must see the declared size so that the refusal can name it.
    let mut header_limits = image::Limits::default();
    header_limits.max_alloc = Some(limits.max_alloc);
    reader.limits(header_limits);
    let mut decoder = reader.into_decoder().map_err(ImageError::from_decoder)?;

    let (width, height) = decoder.dimensions();
    limits.check_dimensions(width, height)?;
    if width == 0 || height == 0 {
        return Err(ImageError::Invalid("the image has no pixels".into()));
    }
    if format == ImageFormat::WebP {
        ensure_webp_chunks_fit(bytes)?;
    }

    let mut decoder_limits = limits.decoder_limits();
    decoder_limits
        .reserve(decoder.total_bytes())
        .map_err(ImageError::from_decoder)?;
    decoder
        .set_limits(decoder_limits)
        .map_err(ImageError::from_decoder)?;

    let orientation = if auto_orient {
        Some(decoder.orientation().map_err(ImageError::from_decoder)?)
    } else {
        None
    };
    // A broken profile only loses colour accuracy: the pixels are still good.
    let icc = decoder.icc_profile().ok().flatten();
    let reduced = match format {
        // The reduced decoder refuses truncated files itself, reading no further than it must.
        ImageFormat::Jpeg if shrink > 1 => crate::jpeg::decode_reduced(bytes, shrink, limits)?,
        _ => None,
    };
    let image = if let Some(image) = reduced {
        image
    } else if format == ImageFormat::WebP && is_lossy_still_webp(bytes) {
        drop(decoder);
        crate::webp::decode_lossy(bytes, (width, height), shrink)?
    } else {
        if format == ImageFormat::Jpeg {
            ensure_jpeg_complete(bytes)?;
        }
        DynamicImage::from_decoder(decoder).map_err(ImageError::from_decoder)?
    };
    Ok(Decoded {
        image,
        orientation,
        icc,
    })
}

/// The top-level chunks of a WebP file (`id`, payload), up to the first one that does not fit.
pub(crate) fn webp_chunks(bytes: &[u8]) -> impl Iterator<Item = ([u8; 4], &[u8])> {
    let mut pos = 12; // after "RIFF", the RIFF size and "WEBP"
    std::iter::from_fn(move || {
        let header = bytes.get(pos..pos + 8)?;
        let size = u32::from_le_bytes([header[4], header[5], header[6], header[7]]) as usize;
        let payload = bytes.get(pos + 8..(pos + 8).checked_add(size)?)?;
        // Chunks are padded to an even length.
        pos = pos + 8 + size + (size & 1);
        Some(([header[0], header[1], header[2], header[3]], payload))
    })
}

/// A still lossy WebP: its VP8 data is a top-level chunk (an animation nests it in `ANMF`).
fn is_lossy_still_webp(bytes: &[u8]) -> bool {
    webp_chunks(bytes).any(|(id, _)| id == *b"VP8 ")
}

/// Whether a WebP holds lossy (VP8) data, still or in any animation frame.
pub(crate) fn webp_is_lossy(bytes: &[u8]) -> bool {
    webp_chunks(bytes).any(|(id, payload)| {
        id == *b"VP8 " || (id == *b"ANMF" && payload.windows(4).any(|w| w == b"VP8 "))
    })
}

/// image-webp allocates whatever a chunk header declares before reading it (`image` does not pass
/// our allocation limit on), so a 65-byte file whose EXIF chunk claims 2.5 GB asks for 2.5 GB, which
/// aborts the process wherever address space is limited (found by `fuzz/`, image_pipeline). Every
/// chunk must fit in the file, as in any intact WebP.
fn ensure_webp_chunks_fit(bytes: &[u8]) -> Result<(), ImageError> {
    let walked: usize = webp_chunks(bytes)
        .map(|(_, payload)| 8 + payload.len() + (payload.len() & 1))
        .sum();
    // Every chunk was whole, except that the last one may omit its padding byte.
    if 12 + walked >= bytes.len() {
        Ok(())
    } else {
        Err(ImageError::Invalid("the WebP image is truncated".into()))
    }
}

/// `image` runs zune-jpeg in lenient mode, which pads a truncated scan with
/// grey instead of failing. sharp refuses such files ("premature end of JPEG
/// file"), and so do we: the marker segments must be intact up to the first
/// scan, and an end-of-image marker must follow it. Inside entropy-coded data
/// a 0xFF byte is always followed by 0x00 or a restart/next marker, so
/// searching for FF D9 after the scan header is exact.
fn ensure_jpeg_complete(bytes: &[u8]) -> Result<(), ImageError> {
    let truncated = || ImageError::Invalid("the JPEG image is truncated".into());
    let mut pos = 2; // after SOI
    let scan = loop {
        let marker = *bytes.get(pos + 1).ok_or_else(truncated)?;
        if bytes[pos] != 0xFF {
            // Not a marker where one must be: leave the diagnosis to the decoder.
            return Ok(());
        }
        match marker {
            0xFF => pos += 1, // fill byte
            0x01 | 0xD0..=0xD7 => pos += 2,
            0xD9 => return Ok(()), // EOI before any scan: the decoder will refuse it
            _ => {
                let len = bytes.get(pos + 2..pos + 4).ok_or_else(truncated)?;
                let len = usize::from(u16::from_be_bytes([len[0], len[1]]));
                let next = pos + 2 + len;
                if marker == 0xDA {
                    break bytes.get(next..).ok_or_else(truncated)?;
                }
                pos = next;
            }
        }
    };
    if scan.windows(2).any(|w| w == [0xFF, 0xD9]) {
        Ok(())
    } else {
        Err(truncated())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::codecs::jpeg::JpegEncoder;
    use image::{ExtendedColorType, ImageEncoder};

    fn small_jpeg() -> Vec<u8> {
        let pixels: Vec<u8> = (0..16 * 16 * 3).map(|i| (i * 7 % 256) as u8).collect();
        let mut out = Vec::new();
        JpegEncoder::new_with_quality(&mut out, 90)
            .write_image(&pixels, 16, 16, ExtendedColorType::Rgb8)
            .expect("encode");
        out
    }

    #[test]
    fn complete_jpeg_passes_the_truncation_check() {
        let jpeg = small_jpeg();
        ensure_jpeg_complete(&jpeg).expect("complete");
        let mut trailing = jpeg.clone();
        trailing.extend_from_slice(b"trailing bytes after EOI");
        ensure_jpeg_complete(&trailing).expect("data after EOI is tolerated");
    }

    #[test]
    fn every_truncation_is_caught() {
        let jpeg = small_jpeg();
        for len in 2..jpeg.len() - 1 {
            assert!(
                ensure_jpeg_complete(&jpeg[..len]).is_err(),
                "truncated to {len} bytes was accepted"
            );
        }
    }
}
