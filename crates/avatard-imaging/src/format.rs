//! Recognising image formats from their first bytes.
//!
//! Declared content types and file names come from the client and cannot be
//! trusted, so the pipeline only ever looks at magic bytes. Formats we can
//! recognise but refuse are reported by name so the caller can tell the user
//! "HEIC images are not supported" instead of a vague "unknown format".

/// An image format the pipeline accepts.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Format {
    Png,
    Jpeg,
    Gif,
    WebP,
    Svg,
    Bmp,
    Ico,
    Tiff,
    Avif,
}

impl Format {
    const ALL: [Format; 9] = [
        Format::Png,
        Format::Jpeg,
        Format::Gif,
        Format::WebP,
        Format::Svg,
        Format::Bmp,
        Format::Ico,
        Format::Tiff,
        Format::Avif,
    ];

    /// The MIME type to serve this format with.
    pub fn mime(self) -> &'static str {
        match self {
            Format::Png => "image/png",
            Format::Jpeg => "image/jpeg",
            Format::Gif => "image/gif",
            Format::WebP => "image/webp",
            Format::Svg => "image/svg+xml",
            Format::Bmp => "image/bmp",
            Format::Ico => "image/vnd.microsoft.icon",
            Format::Tiff => "image/tiff",
            Format::Avif => "image/avif",
        }
    }

    /// The format [`Format::mime`] names; `None` for any other type.
    pub fn from_mime(mime: &str) -> Option<Format> {
        Format::ALL.into_iter().find(|format| format.mime() == mime)
    }
}

/// What the magic bytes say.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Sniffed {
    Supported(Format),
    /// A recognisable format that this version refuses; the name is meant
    /// for messages ("HEIC", "AVIF", ...).
    Unsupported(&'static str),
    Unknown,
}

/// Identifies the format of `bytes` from its signature alone.
pub fn sniff(bytes: &[u8]) -> Sniffed {
    if let Some(format) = sniff_supported(bytes) {
        Sniffed::Supported(format)
    } else if let Some(name) = sniff_refused(bytes) {
        Sniffed::Unsupported(name)
    } else {
        Sniffed::Unknown
    }
}

fn sniff_supported(b: &[u8]) -> Option<Format> {
    let simple: &[(&[u8], Format)] = &[
        (b"\x89PNG\r\n\x1a\n", Format::Png),
        (&[0xFF, 0xD8, 0xFF], Format::Jpeg),
        (b"GIF87a", Format::Gif),
        (b"GIF89a", Format::Gif),
        (b"II*\0", Format::Tiff),
        (b"MM\0*", Format::Tiff),
    ];
    if let Some((_, format)) = simple.iter().find(|(magic, _)| b.starts_with(magic)) {
        Some(*format)
    } else if b.len() >= 12 && b.starts_with(b"RIFF") && &b[8..12] == b"WEBP" {
        Some(Format::WebP)
    } else if iso_bmff_image(b) == Some("AVIF") {
        Some(Format::Avif)
    } else if is_bmp(b) {
        Some(Format::Bmp)
    } else if is_ico(b) {
        Some(Format::Ico)
    } else if is_svg(b) {
        Some(Format::Svg)
    } else {
        None
    }
}

fn sniff_refused(b: &[u8]) -> Option<&'static str> {
    if let Some(name) = iso_bmff_image(b) {
        return Some(name);
    }
    let simple: &[(&[u8], &'static str)] = &[
        (b"%PDF-", "PDF"),
        (b"8BPS", "PSD"),
        (b"qoif", "QOI"),
        (b"\x76\x2f\x31\x01", "OpenEXR"),
        (b"#?RADIANCE", "HDR"),
        (b"\xFF\x0A", "JPEG XL"),
        (b"\0\0\0\x0CJXL \r\n\x87\n", "JPEG XL"),
        (b"\0\0\0\x0CjP  \r\n\x87\n", "JPEG 2000"),
    ];
    simple
        .iter()
        .find(|(magic, _)| b.starts_with(magic))
        .map(|(_, name)| *name)
}

/// HEIF containers (HEIC, AVIF) are ISO-BMFF files whose first box is `ftyp`;
/// the major brand or one of the compatible brands says which codec is inside.
fn iso_bmff_image(b: &[u8]) -> Option<&'static str> {
    if b.len() < 16 || &b[4..8] != b"ftyp" {
        return None;
    }
    let box_len = u32::from_be_bytes([b[0], b[1], b[2], b[3]]) as usize;
    let end = box_len.clamp(16, b.len());
    // Major brand at 8..12, minor version at 12..16, compatible brands after.
    let brands = std::iter::once(&b[8..12]).chain(b[16..end].chunks_exact(4));
    let mut heif = false;
    for brand in brands {
        match brand {
            b"avif" | b"avis" => return Some("AVIF"),
            b"heic" | b"heix" | b"hevc" | b"hevx" | b"heim" | b"heis" | b"mif1" | b"msf1" => {
                heif = true
            }
            _ => {}
        }
    }
    heif.then_some("HEIC")
}

/// "BM" alone is too weak a signature; also require zero reserved fields and
/// a known DIB header size.
fn is_bmp(b: &[u8]) -> bool {
    if b.len() < 18 || !b.starts_with(b"BM") || b[6..10] != [0, 0, 0, 0] {
        return false;
    }
    let dib = u32::from_le_bytes([b[14], b[15], b[16], b[17]]);
    matches!(dib, 12 | 40 | 52 | 56 | 64 | 108 | 124)
}

/// ICO/CUR: reserved zero, type 1 or 2, at least one image.
fn is_ico(b: &[u8]) -> bool {
    b.len() >= 6 && b[0..2] == [0, 0] && matches!(b[2..4], [1, 0] | [2, 0]) && b[4..6] != [0, 0]
}

/// An SVG document is XML whose root element is `svg`. Only the prolog that
/// may precede the root is skipped; anything else before `<svg` means it is
/// not an SVG (an HTML page with an inline SVG, for instance).
fn is_svg(b: &[u8]) -> bool {
    let mut rest = b.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(b);
    loop {
        rest = trim_xml_space(rest);
        if rest.starts_with(b"<?") {
            rest = match after(rest, b"?>") {
                Some(r) => r,
                None => return false,
            };
        } else if rest.starts_with(b"<!--") {
            rest = match after(&rest[4..], b"-->") {
                Some(r) => r,
                None => return false,
            };
        } else if rest.starts_with(b"<!DOCTYPE") || rest.starts_with(b"<!doctype") {
            rest = match after_doctype(rest) {
                Some(r) => r,
                None => return false,
            };
        } else {
            return rest.starts_with(b"<svg")
                && rest
                    .get(4)
                    .is_some_and(|&c| matches!(c, b' ' | b'\t' | b'\r' | b'\n' | b'>' | b'/'));
        }
    }
}

fn trim_xml_space(b: &[u8]) -> &[u8] {
    let start = b
        .iter()
        .position(|c| !matches!(c, b' ' | b'\t' | b'\r' | b'\n'))
        .unwrap_or(b.len());
    &b[start..]
}

/// The bytes after the first occurrence of `needle`.
fn after<'a>(hay: &'a [u8], needle: &[u8]) -> Option<&'a [u8]> {
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|i| &hay[i + needle.len()..])
}

/// A doctype ends at the first `>` outside its optional `[...]` internal subset.
fn after_doctype(b: &[u8]) -> Option<&[u8]> {
    let mut in_subset = false;
    for (i, &c) in b.iter().enumerate() {
        match c {
            b'[' => in_subset = true,
            b']' => in_subset = false,
            b'>' if !in_subset => return Some(&b[i + 1..]),
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raster_signatures() {
        assert_eq!(
            sniff(b"\x89PNG\r\n\x1a\nrest"),
            Sniffed::Supported(Format::Png)
        );
        assert_eq!(
            sniff(&[0xFF, 0xD8, 0xFF, 0xE0]),
            Sniffed::Supported(Format::Jpeg)
        );
        assert_eq!(sniff(b"GIF89a...."), Sniffed::Supported(Format::Gif));
        assert_eq!(sniff(b"GIF87a...."), Sniffed::Supported(Format::Gif));
        assert_eq!(
            sniff(b"RIFF\x10\0\0\0WEBPVP8L"),
            Sniffed::Supported(Format::WebP)
        );
        assert_eq!(sniff(b"RIFF\x10\0\0\0WAVEfmt "), Sniffed::Unknown);
    }

    #[test]
    fn svg_after_prolog() {
        let doc = b"\xEF\xBB\xBF  <?xml version=\"1.0\"?>\n<!-- made by hand -->\n\
            <!DOCTYPE svg PUBLIC \"-//W3C//DTD SVG 1.1//EN\" \"x\" [<!ENTITY a \"b\">]>\n\
            <svg xmlns=\"http://www.w3.org/2000/svg\"/>";
        assert_eq!(sniff(doc), Sniffed::Supported(Format::Svg));
        assert_eq!(sniff(b"<svg>"), Sniffed::Supported(Format::Svg));
        assert_eq!(sniff(b"<html><svg></svg></html>"), Sniffed::Unknown);
        assert_eq!(sniff(b"<svgfoo/>"), Sniffed::Unknown);
        assert_eq!(sniff(b"<!-- unterminated <svg>"), Sniffed::Unknown);
        assert_eq!(sniff(b"plain text"), Sniffed::Unknown);
    }

    #[test]
    fn refused_formats_are_named() {
        let heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic";
        assert_eq!(sniff(heic), Sniffed::Unsupported("HEIC"));
        // MP4 video is ISO-BMFF too but not an image.
        assert_eq!(
            sniff(b"\0\0\0\x18ftypisom\0\0\0\0isomiso2"),
            Sniffed::Unknown
        );
        assert_eq!(sniff(b"%PDF-1.7\n"), Sniffed::Unsupported("PDF"));
        assert_eq!(
            sniff(b"\0\0\0\x0CJXL \r\n\x87\n...."),
            Sniffed::Unsupported("JPEG XL")
        );
    }

    #[test]
    fn container_and_legacy_signatures() {
        let avif = b"\0\0\0\x1cftypavif\0\0\0\0avifmif1miaf";
        assert_eq!(sniff(avif), Sniffed::Supported(Format::Avif));
        // Generic HEIF major brand with AVIF listed as compatible is AVIF.
        let avif2 = b"\0\0\0\x18ftypmif1\0\0\0\0avifmiaf";
        assert_eq!(sniff(avif2), Sniffed::Supported(Format::Avif));
        assert_eq!(sniff(b"II*\0\x08\0\0\0"), Sniffed::Supported(Format::Tiff));
        assert_eq!(sniff(b"MM\0*\0\0\0\x08"), Sniffed::Supported(Format::Tiff));
        let mut bmp = b"BM\x46\0\0\0\0\0\0\0\x36\0\0\0\x28\0\0\0".to_vec();
        bmp.resize(64, 0);
        assert_eq!(sniff(&bmp), Sniffed::Supported(Format::Bmp));
        assert_eq!(sniff(b"BMW is a car brand"), Sniffed::Unknown);
        assert_eq!(
            sniff(b"\0\0\x01\0\x01\0\x10\x10"),
            Sniffed::Supported(Format::Ico)
        );
        assert_eq!(sniff(b"\0\0\x01\0\0\0"), Sniffed::Unknown);
    }

    #[test]
    fn mime_types() {
        assert_eq!(Format::Png.mime(), "image/png");
        assert_eq!(Format::Jpeg.mime(), "image/jpeg");
        assert_eq!(Format::Gif.mime(), "image/gif");
        assert_eq!(Format::WebP.mime(), "image/webp");
        assert_eq!(Format::Svg.mime(), "image/svg+xml");
        for format in Format::ALL {
            assert_eq!(Format::from_mime(format.mime()), Some(format));
        }
    }

    #[test]
    fn short_inputs_do_not_panic() {
        for len in 0..20 {
            let zeros = vec![0u8; len];
            let _ = sniff(&zeros);
            let _ = sniff(&b"\0\0\0\x18ftypheic\0\0\0\0mif1"[..len.min(20)]);
        }
    }
}
