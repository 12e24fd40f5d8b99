//! A JPEG decoder that produces the image directly at 1/8, 1/4 or 1/2 scale ("shrink on load").
//!
//! An avatar is at most a few hundred pixels wide, and a 12-megapixel photo decoded in full only
//! to be shrunk spends nearly all its time on pixels that are thrown away. At 1/8 scale each
//! 8×8 block is its DC coefficient, so progressive AC scans are skipped unread and sequential
//! ones are Huffman-decoded only far enough to find each block's end, with tables that skip
//! several AC symbols per look-up (see `huffman.rs`). At 1/4 and 1/2 scale a block becomes 2×2
//! or 4×4 pixels through a reduced inverse DCT of its lowest frequencies, and only those are
//! decoded; that needs every AC scan of a progressive file, so those are left to the full
//! decoder.
//!
//! It covers what cameras, phones and image libraries write: Huffman-coded baseline, extended
//! sequential and progressive JPEG with 8-bit samples, greyscale or three components, any
//! whole sampling ratios. Everything else (arithmetic coding, 12-bit, lossless, hierarchical,
//! CMYK and YCCK, ...) is left to the full decoder.

mod bits;
mod color;
mod entropy;
mod huffman;
mod markers;
mod scan;
#[cfg(test)]
mod test_writer;
#[cfg(test)]
mod tests;

use image::{DynamicImage, GrayImage, RgbImage};

use crate::{ImageError, Limits};
use color::Plane;
use huffman::{AcSkipTable, HuffmanTable};
use markers::{Frame, QuantTable};

/// Beyond this many scans a file is not one any encoder wrote (a progressive JPEG has about
/// ten); refusing it bounds the work spent on table set-ups.
const MAX_SCANS: u32 = 128;

/// Why decoding stopped early.
#[derive(Debug)]
enum Stop {
    /// Valid JPEG, perhaps, but not something this decoder covers.
    Unsupported,
    /// The data ends before the image does.
    Truncated,
    Corrupt(&'static str),
    Limit(ImageError),
}

/// Decodes a JPEG at 1/`shrink` of its size (rounded up, as libjpeg does), or returns `None`
/// when the file or the shrink factor is not covered and the full decoder should be used.
///
/// `shrink` is 8, or 4 or 2 for sequential (not progressive) files. At 1/2 scale most of the
/// entropy-coded data has to be decoded, which takes about as long as the full decoder does
/// (what is saved is resizing a larger image). The result is RGB, or greyscale for
/// one-component files; the EXIF orientation is not applied. `limits` are checked against the
/// declared full size before anything is allocated. A truncated or corrupt file is an error,
/// as with the full decoder.
pub(crate) fn decode_reduced(
    bytes: &[u8],
    shrink: u32,
    limits: &Limits,
) -> Result<Option<DynamicImage>, ImageError> {
    // Samples per block side at this scale.
    let size = match shrink {
        8 => 1,
        4 => 2,
        2 => 4,
        _ => return Ok(None),
    };
    let decoder = Decoder {
        size,
        ..Decoder::default()
    };
    match decoder.decode(bytes, limits) {
        Ok(image) => Ok(Some(image)),
        Err(Stop::Unsupported) => Ok(None),
        Err(Stop::Truncated) => Err(ImageError::Invalid("the JPEG image is truncated".into())),
        Err(Stop::Corrupt(what)) => Err(ImageError::Invalid(format!(
            "the JPEG image is corrupt: {what}"
        ))),
        Err(Stop::Limit(error)) => Err(error),
    }
}

/// The state the marker segments build up, in file order.
#[derive(Default)]
struct Decoder {
    /// Samples per block side in the output: 1, 2 or 4.
    size: usize,
    frame: Option<Frame>,
    dc_tables: [Option<HuffmanTable>; 4],
    ac_tables: [Option<HuffmanTable>; 4],
    /// Built on first use by a sequential scan; dropped when DHT redefines the table.
    skip_tables: [Option<AcSkipTable>; 4],
    quant_tables: [Option<QuantTable>; 4],
    /// Each component's quantization table, fixed when its first scan starts, as libjpeg
    /// does: a DQT may redefine a table between scans for components still to come.
    component_quant: Vec<Option<QuantTable>>,
    restart_interval: u32,
    adobe_transform: Option<u8>,
    /// Samples per block side of each frame component; see [`Decoder::start_frame`].
    component_sizes: Vec<usize>,
    /// The kept coefficients (`size` × `size` per block) of each frame component, `stride` ×
    /// `rows` blocks.
    coefficients: Vec<Vec<i16>>,
    scans: u32,
}

impl Decoder {
    fn decode(mut self, bytes: &[u8], limits: &Limits) -> Result<DynamicImage, Stop> {
        if !bytes.starts_with(&[0xFF, 0xD8]) {
            return Err(Stop::Corrupt("no start of image"));
        }
        let mut position = 2;
        loop {
            let (code, after) = markers::next_marker(bytes, position)?;
            position = after;
            match code {
                0xD9 => break,
                // Parameterless: TEM, and restart markers out of place (libjpeg ignores them).
                0x01 | 0xD0..=0xD7 => continue,
                0xD8 => return Err(Stop::Corrupt("unexpected start of image")),
                _ => {}
            }
            let (payload, next) = markers::segment(bytes, after)?;
            position = next;
            match code {
                0xC0..=0xC2 => self.start_frame(payload, code == 0xC2, limits)?,
                0xC4 => {
                    markers::parse_huffman_tables(
                        payload,
                        &mut self.dc_tables,
                        &mut self.ac_tables,
                    )?;
                    self.skip_tables = Default::default();
                }
                0xDB => markers::parse_quant_tables(payload, &mut self.quant_tables)?,
                0xDD => self.restart_interval = markers::parse_restart_interval(payload)?,
                0xDA => position = self.scan(bytes, payload, next)?,
                0xEE => {
                    if let Some(transform) = markers::parse_adobe(payload) {
                        self.adobe_transform = Some(transform);
                    }
                }
                // Lossless, hierarchical and arithmetic-coded frames, arithmetic conditioning
                // (DAC), hierarchical progression (DHP, EXP), JPEG-LS (SOF55, LSE).
                0xC3 | 0xC5..=0xCF | 0xDE | 0xDF | 0xF7 | 0xF8 => return Err(Stop::Unsupported),
                // APPn, COM, DNL (the frame height is known), reserved JPGn.
                _ => {}
            }
        }
        let frame = self.frame.as_ref().ok_or(Stop::Corrupt("no frame"))?;
        if self.scans == 0 {
            return Err(Stop::Corrupt("no scan"));
        }
        self.image(frame)
    }

    fn start_frame(
        &mut self,
        payload: &[u8],
        progressive: bool,
        limits: &Limits,
    ) -> Result<(), Stop> {
        if self.frame.is_some() {
            return Err(Stop::Corrupt("more than one frame"));
        }
        // Above 1/8 scale a progressive file would need its AC scans decoded, refinements and
        // all: the full decoder's work.
        if progressive && self.size > 1 {
            return Err(Stop::Unsupported);
        }
        let frame = markers::parse_frame(payload, progressive)?;
        limits
            .check_dimensions(frame.width, frame.height)
            .map_err(Stop::Limit)?;
        // Above 1/8 scale, chroma subsampled alike in both directions gets as many samples per
        // block as it covers output pixels, up to 4, instead of being upsampled: libjpeg does the
        // same, and interpolation cannot restore what the block's frequencies hold.
        self.component_sizes = frame
            .components
            .iter()
            .map(|c| {
                let (across, down) = (frame.h_max / c.h, frame.v_max / c.v);
                let covered = if across == down { across as usize } else { 1 };
                if self.size == 1 {
                    1
                } else {
                    (self.size * covered).min(4)
                }
            })
            .collect();
        self.coefficients = frame
            .components
            .iter()
            .zip(&self.component_sizes)
            .map(|(c, size)| vec![0; (c.stride * c.rows) as usize * size * size])
            .collect();
        self.component_quant = vec![None; frame.components.len()];
        self.frame = Some(frame);
        Ok(())
    }

    /// Decodes (or skips) the scan whose header is `payload` and whose entropy-coded data
    /// starts at `start`; returns the position of the marker after the data.
    fn scan(&mut self, bytes: &[u8], payload: &[u8], start: usize) -> Result<usize, Stop> {
        let frame = self
            .frame
            .as_ref()
            .ok_or(Stop::Corrupt("scan before frame"))?;
        self.scans += 1;
        if self.scans > MAX_SCANS {
            return Err(Stop::Unsupported);
        }
        let header = markers::parse_scan(payload, frame)?;
        for sc in &header.components {
            let latched = &mut self.component_quant[sc.index];
            if latched.is_none() {
                let table = frame.components[sc.index].quant_table;
                *latched = Some(
                    self.quant_tables[table].ok_or(Stop::Corrupt("missing quantization table"))?,
                );
            }
        }
        if frame.progressive && header.ss != 0 {
            // An AC band: nothing in it shows at 1/8 scale.
            return entropy::find_end(bytes, start);
        }

        let missing = || Stop::Corrupt("missing Huffman table");
        if !frame.progressive {
            for sc in &header.components {
                let slot = sc.ac_table;
                let table = self.ac_tables[slot].as_ref().ok_or_else(missing)?;
                if self.skip_tables[slot].is_none() {
                    self.skip_tables[slot] = Some(AcSkipTable::new(table));
                }
            }
        }
        let (data, end) = entropy::extract(bytes, start)?;
        let restart_interval = self.restart_interval;
        let kept: Vec<usize> = self
            .component_sizes
            .iter()
            .map(|size| size * size)
            .collect();
        let stores = &mut self.coefficients;
        if frame.progressive && header.ah != 0 {
            let coder = scan::DcRefine { al: header.al };
            scan::decode_scan(
                frame,
                &header,
                &coder,
                restart_interval,
                &data,
                stores,
                &kept,
            )?;
            return Ok(end);
        }
        let mut dc_tables = Vec::with_capacity(header.components.len());
        for sc in &header.components {
            dc_tables.push(self.dc_tables[sc.dc_table].as_ref().ok_or_else(missing)?);
        }
        if frame.progressive {
            let coder = scan::DcFirst {
                dc: dc_tables,
                al: header.al,
            };
            scan::decode_scan(
                frame,
                &header,
                &coder,
                restart_interval,
                &data,
                stores,
                &kept,
            )?;
        } else {
            let mut ac = Vec::with_capacity(header.components.len());
            for sc in &header.components {
                let table = self.ac_tables[sc.ac_table].as_ref().ok_or_else(missing)?;
                let skip = self.skip_tables[sc.ac_table].as_ref().ok_or_else(missing)?;
                ac.push((table, skip));
            }
            if self.size == 1 {
                let coder = scan::SequentialDc { dc: dc_tables, ac };
                scan::decode_scan(
                    frame,
                    &header,
                    &coder,
                    restart_interval,
                    &data,
                    stores,
                    &kept,
                )?;
            } else {
                let sizes: Vec<usize> = header
                    .components
                    .iter()
                    .map(|sc| self.component_sizes[sc.index])
                    .collect();
                let coder = scan::Sequential::new(&sizes, dc_tables, ac);
                scan::decode_scan(
                    frame,
                    &header,
                    &coder,
                    restart_interval,
                    &data,
                    stores,
                    &kept,
                )?;
            }
        }
        Ok(end)
    }

    /// The decoded image: each component's plane, upsampled to the output size and converted.
    fn image(&self, frame: &Frame) -> Result<DynamicImage, Stop> {
        let scaled = |samples: u32, size: usize| (samples * size as u32).div_ceil(8);
        let (width, height) = (
            scaled(frame.width, self.size),
            scaled(frame.height, self.size),
        );
        // A component no scan mentioned has no data: it stays at zero, mid-grey.
        let unquantized = [1; 64];
        let planes: Vec<Plane> = frame
            .components
            .iter()
            .zip(&self.component_sizes)
            .zip(&self.coefficients)
            .zip(&self.component_quant)
            .map(|(((c, &size), coefficients), quant)| {
                let blocks = color::Blocks {
                    coefficients,
                    stride: c.stride as usize,
                    size,
                    quant: quant.as_ref().unwrap_or(&unquantized),
                };
                // T.81 A.1.1: the component has ceil(X · Hi / Hmax) samples per line.
                let plane = color::component_plane(
                    &blocks,
                    scaled((frame.width * c.h).div_ceil(frame.h_max), size) as usize,
                    scaled((frame.height * c.v).div_ceil(frame.v_max), size) as usize,
                );
                // Whole numbers: a component's size is the output's times a divisor of its
                // subsampling factors.
                let across = (frame.h_max / c.h) as usize * self.size / size;
                let down = (frame.v_max / c.v) as usize * self.size / size;
                color::upsample(&plane, across, down, width as usize, height as usize)
            })
            .collect();
        match &planes[..] {
            [grey] => GrayImage::from_raw(width, height, grey.samples.clone())
                .map(DynamicImage::ImageLuma8)
                .ok_or(Stop::Unsupported),
            [first, second, third] => {
                let rgb = if self.is_rgb(frame)? {
                    color::interleave(first, second, third)
                } else {
                    color::ycbcr_to_rgb(first, second, third)
                };
                RgbImage::from_raw(width, height, rgb)
                    .map(DynamicImage::ImageRgb8)
                    .ok_or(Stop::Unsupported)
            }
            _ => Err(Stop::Unsupported),
        }
    }

    /// Whether three components are R, G and B rather than YCbCr: an Adobe APP14 segment says so
    /// with transform 0, and some writers (jpegli) name the components 'R', 'G', 'B' instead.
    /// The same rules as zune-jpeg, the full decoder, so both show the same colours.
    fn is_rgb(&self, frame: &Frame) -> Result<bool, Stop> {
        let named_rgb = frame.components.iter().map(|c| c.id).eq(*b"RGB");
        match self.adobe_transform {
            Some(0) => Ok(true),
            None | Some(1) => Ok(named_rgb),
            Some(_) => Err(Stop::Unsupported),
        }
    }
}
