//! What an AVIF file declares about its primary image, read from the HEIF boxes without touching
//! any AV1 data.
//!
//! avif-parse (used by `mod.rs` to pull out the AV1 payloads) reads only the items' data, the
//! alpha link and the premultiplication flag: it ignores the item properties that decide the
//! image's size and look (`ispe`, `irot`, `imir`, `colr`, `clap`) and cannot say which
//! unknown properties are marked essential. So this module walks `ftyp` and `meta`
//! (`pitm`, `iinf`, `iprp`) itself. It works on the byte slice with checked slicing only, reads
//! no `mdat`, and allocates nothing that the input size does not bound.

use super::invalid;
use crate::ImageError;

/// The `ftyp` brands and primary-item properties that matter for decoding.
#[derive(Debug)]
pub(super) struct Header {
    /// `ispe`: the primary image's size as coded, before `irot`.
    pub(super) width: u32,
    pub(super) height: u32,
    /// `irot`: anticlockwise quarter turns, 0–3.
    pub(super) quarter_turns: u8,
    /// `imir`: the mirroring, applied after the rotation.
    pub(super) mirror: Option<Mirror>,
    /// The first `colr` box of type `nclx`; overrides the AV1 sequence header's colour fields.
    pub(super) nclx: Option<Nclx>,
    /// Where the major brand sits in the file, if it is something other than `avif` (e.g.
    /// `avis` for an animation that also carries a still primary image): avif-parse refuses
    /// those.
    pub(super) foreign_major_brand: Option<usize>,
}

impl Header {
    /// Width and height as displayed, after the rotation.
    pub(super) fn displayed_size(&self) -> (u32, u32) {
        if self.quarter_turns % 2 == 1 {
            (self.height, self.width)
        } else {
            (self.width, self.height)
        }
    }
}

/// `imir` modes. (The 2017 HEIF text called the field `axis` and described 0 as a vertical
/// axis; implementations flipped top and bottom for 0, and the standard was corrected to match
/// them.)
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Mirror {
    /// Mode 0: top and bottom swap.
    TopBottom,
    /// Mode 1: left and right swap.
    LeftRight,
}

/// Colour description from a `colr` box of type `nclx`.
#[derive(Clone, Copy, Debug)]
pub(super) struct Nclx {
    pub(super) matrix_coefficients: u16,
    pub(super) full_range: bool,
}

/// Item properties we read or may safely ignore. Any other property marked essential means the
/// image cannot be shown correctly without it, so the file is refused.
const UNDERSTOOD: [&[u8; 4]; 13] = [
    b"ispe", b"irot", b"imir", b"colr", b"pixi", b"av1C", b"auxC", b"pasp", b"clli", b"mdcv",
    b"cclv", b"amve", b"a1lx",
];

/// Reads the `ftyp` and `meta` boxes.
pub(super) fn read(bytes: &[u8]) -> Result<Header, ImageError> {
    let mut boxes = Boxes::new(bytes);
    let foreign_major_brand = match boxes.next()? {
        Some((b"ftyp", body)) => {
            // The ftyp payload ends where the remaining boxes begin.
            let offset = bytes.len() - boxes.0.len() - body.len();
            check_brands(body)?.then_some(offset)
        }
        _ => return Err(invalid("the file does not start with an ftyp box")),
    };
    let meta = loop {
        match boxes.next()? {
            Some((b"meta", body)) => break full_box(body)?.1,
            Some(_) => continue,
            None => return Err(invalid("the file has no meta box")),
        }
    };

    let mut primary = None;
    let mut item_types = Vec::new();
    let mut properties = Vec::new();
    let mut associations = Vec::new();
    let mut boxes = Boxes::new(meta);
    while let Some((kind, body)) = boxes.next()? {
        match kind {
            b"pitm" => primary = Some(read_pitm(body)?),
            b"iinf" => item_types = read_iinf(body)?,
            b"iprp" => (properties, associations) = read_iprp(body)?,
            _ => {}
        }
    }

    let primary = primary.ok_or_else(|| invalid("the file names no primary image (pitm)"))?;
    let primary_type = item_types
        .iter()
        .find(|(id, _)| *id == primary)
        .map(|(_, kind)| kind);
    match primary_type {
        Some(b"av01") => {}
        Some(b"grid") => {
            return Err(ImageError::Unsupported(
                "AVIF grid images are not supported".into(),
            ));
        }
        Some(kind) => {
            return Err(ImageError::Unsupported(format!(
                "AVIF images whose primary item is of type '{}' are not supported",
                String::from_utf8_lossy(kind)
            )));
        }
        None => return Err(invalid("the primary image is not listed in iinf")),
    }

    let mut size = None;
    let mut header = Header {
        width: 0,
        height: 0,
        quarter_turns: 0,
        mirror: None,
        nclx: None,
        foreign_major_brand,
    };
    for association in associations.iter().filter(|a| a.item == primary) {
        let Some(&(kind, body)) = properties.get(association.property) else {
            return Err(invalid("an item property association points nowhere"));
        };
        match kind {
            b"ispe" => size = Some(read_ispe(body)?),
            b"irot" => header.quarter_turns = first_byte(body)? & 0b11,
            b"imir" => {
                header.mirror = Some(if first_byte(body)? & 1 == 0 {
                    Mirror::TopBottom
                } else {
                    Mirror::LeftRight
                })
            }
            b"colr" if header.nclx.is_none() => header.nclx = read_nclx(body)?,
            b"clap" => {
                return Err(ImageError::Unsupported(
                    "AVIF images with a clean aperture (cropping) are not supported".into(),
                ));
            }
            _ if association.essential && !UNDERSTOOD.contains(&kind) => {
                return Err(ImageError::Unsupported(format!(
                    "AVIF images that need the '{}' property are not supported",
                    String::from_utf8_lossy(kind)
                )));
            }
            _ => {}
        }
    }
    let (width, height) =
        size.ok_or_else(|| invalid("the primary image declares no size (ispe)"))?;
    if width == 0 || height == 0 {
        return Err(invalid("the image has no pixels"));
    }
    header.width = width;
    header.height = height;
    Ok(header)
}

/// Accepts a file whose brands promise an AVIF still image; says whether the major brand is a
/// different one (an image sequence that also carries a primary image lists `avif` as
/// compatible).
fn check_brands(ftyp: &[u8]) -> Result<bool, ImageError> {
    let major = ftyp
        .get(..4)
        .ok_or_else(|| invalid("the ftyp box is truncated"))?;
    if major == b"avif" {
        return Ok(false);
    }
    let compatible = ftyp.get(8..).unwrap_or_default();
    if compatible.chunks_exact(4).any(|brand| brand == b"avif") {
        return Ok(true);
    }
    if major == b"avis" || compatible.chunks_exact(4).any(|brand| brand == b"avis") {
        return Err(ImageError::Unsupported(
            "animated AVIF images without a still image are not supported".into(),
        ));
    }
    Err(invalid("the file is not an AVIF image"))
}

fn read_pitm(body: &[u8]) -> Result<u32, ImageError> {
    let (version, body) = full_box(body)?;
    let mut reader = Reader(body);
    if version == 0 {
        reader.u16().map(u32::from)
    } else {
        reader.u32()
    }
}

/// Item ids and types from `iinf`.
fn read_iinf(body: &[u8]) -> Result<Vec<(u32, [u8; 4])>, ImageError> {
    let (version, body) = full_box(body)?;
    let mut reader = Reader(body);
    if version == 0 {
        reader.u16()?;
    } else {
        reader.u32()?;
    }
    let mut items = Vec::new();
    let mut boxes = Boxes::new(reader.0);
    while let Some((kind, body)) = boxes.next()? {
        if kind != b"infe" {
            continue;
        }
        let (version, body) = full_box(body)?;
        let mut reader = Reader(body);
        let id = match version {
            2 => u32::from(reader.u16()?),
            3 => reader.u32()?,
            // Versions 0 and 1 describe files, not image items.
            _ => continue,
        };
        reader.u16()?; // item_protection_index
        items.push((id, reader.fourcc()?));
    }
    Ok(items)
}

struct Association {
    item: u32,
    /// Index into `ipco`, zero-based.
    property: usize,
    essential: bool,
}

type Property<'a> = (&'a [u8; 4], &'a [u8]);

fn read_iprp(body: &[u8]) -> Result<(Vec<Property<'_>>, Vec<Association>), ImageError> {
    let mut properties = Vec::new();
    let mut associations = Vec::new();
    let mut boxes = Boxes::new(body);
    while let Some((kind, body)) = boxes.next()? {
        match kind {
            b"ipco" => {
                let mut inner = Boxes::new(body);
                while let Some(property) = inner.next()? {
                    properties.push(property);
                }
            }
            b"ipma" => read_ipma(body, &mut associations)?,
            _ => {}
        }
    }
    Ok((properties, associations))
}

fn read_ipma(body: &[u8], associations: &mut Vec<Association>) -> Result<(), ImageError> {
    let (version, flags, body) = full_box_with_flags(body)?;
    let mut reader = Reader(body);
    let entries = reader.u32()?;
    for _ in 0..entries {
        let item = if version < 1 {
            u32::from(reader.u16()?)
        } else {
            reader.u32()?
        };
        let count = reader.u8()?;
        for _ in 0..count {
            let (essential, index) = if flags & 1 == 1 {
                let value = reader.u16()?;
                (value & 0x8000 != 0, usize::from(value & 0x7fff))
            } else {
                let value = reader.u8()?;
                (value & 0x80 != 0, usize::from(value & 0x7f))
            };
            // Index 0 means "no property".
            if let Some(property) = index.checked_sub(1) {
                associations.push(Association {
                    item,
                    property,
                    essential,
                });
            }
        }
    }
    Ok(())
}

fn read_ispe(body: &[u8]) -> Result<(u32, u32), ImageError> {
    let (_, body) = full_box(body)?;
    let mut reader = Reader(body);
    Ok((reader.u32()?, reader.u32()?))
}

/// The colour description of a `colr` box, if it is of type `nclx` (an ICC profile is left to
/// the colour management stage).
fn read_nclx(body: &[u8]) -> Result<Option<Nclx>, ImageError> {
    let mut reader = Reader(body);
    if &reader.fourcc()? != b"nclx" {
        return Ok(None);
    }
    reader.u16()?; // colour_primaries
    reader.u16()?; // transfer_characteristics
    let matrix_coefficients = reader.u16()?;
    let full_range = reader.u8()? & 0x80 != 0;
    Ok(Some(Nclx {
        matrix_coefficients,
        full_range,
    }))
}

fn first_byte(body: &[u8]) -> Result<u8, ImageError> {
    Reader(body).u8()
}

/// Splits a full box into its version and payload.
fn full_box(body: &[u8]) -> Result<(u8, &[u8]), ImageError> {
    let (version, _, rest) = full_box_with_flags(body)?;
    Ok((version, rest))
}

fn full_box_with_flags(body: &[u8]) -> Result<(u8, u32, &[u8]), ImageError> {
    let mut reader = Reader(body);
    let word = reader.u32()?;
    Ok(((word >> 24) as u8, word & 0x00ff_ffff, reader.0))
}

/// Iterates over the boxes laid end to end in a slice.
struct Boxes<'a>(&'a [u8]);

impl<'a> Boxes<'a> {
    fn new(bytes: &'a [u8]) -> Self {
        Boxes(bytes)
    }

    /// The next box's type and payload; `None` at the end. A box running past its container is
    /// an error, not the end.
    fn next(&mut self) -> Result<Option<Property<'a>>, ImageError> {
        if self.0.is_empty() {
            return Ok(None);
        }
        let mut reader = Reader(self.0);
        let size = reader.u32()?;
        let kind = reader.0.get(..4).ok_or_else(truncated)?;
        reader.0 = &reader.0[4..];
        let (header_len, size) = match size {
            0 => (8, self.0.len() as u64),
            1 => (16, reader.u64()?),
            size => (8, u64::from(size)),
        };
        let size = usize::try_from(size).map_err(|_| truncated())?;
        if size < header_len || size > self.0.len() {
            return Err(truncated());
        }
        let kind: &[u8; 4] = kind.try_into().map_err(|_| truncated())?;
        let body = &self.0[header_len..size];
        self.0 = &self.0[size..];
        Ok(Some((kind, body)))
    }
}

/// Big-endian reads from a shrinking slice.
struct Reader<'a>(&'a [u8]);

impl Reader<'_> {
    fn take<const N: usize>(&mut self) -> Result<[u8; N], ImageError> {
        let (head, rest) = self.0.split_first_chunk::<N>().ok_or_else(truncated)?;
        self.0 = rest;
        Ok(*head)
    }

    fn u8(&mut self) -> Result<u8, ImageError> {
        Ok(self.take::<1>()?[0])
    }

    fn u16(&mut self) -> Result<u16, ImageError> {
        self.take().map(u16::from_be_bytes)
    }

    fn u32(&mut self) -> Result<u32, ImageError> {
        self.take().map(u32::from_be_bytes)
    }

    fn u64(&mut self) -> Result<u64, ImageError> {
        self.take().map(u64::from_be_bytes)
    }

    fn fourcc(&mut self) -> Result<[u8; 4], ImageError> {
        self.take()
    }
}

fn truncated() -> ImageError {
    invalid("a box is truncated")
}
