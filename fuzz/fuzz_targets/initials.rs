//! Letter avatars for arbitrary names: the `?size=` parsing, the Rocket.Chat-compatible SVG (with
//! its sanitize-html emulation and UTF-16 arithmetic) and its rasterisation for `?format=png|jpg`.
//!
//! Input: one flag byte, then UTF-8 text (invalid sequences become U+FFFD, as in a decoded URL).
//! Flags: bit 0 = all initials (`?initials`-style rooms), bit 1 = the text's first line is the
//! raw `?size=` value, bits 2..3 = rasterise to nothing / PNG / JPEG / PNG.

#![no_main]

use avatard_imaging::initials::{self, RasterFormat};
use avatard_imaging::{Format, Sniffed, dimensions, sniff};
use libfuzzer_sys::fuzz_target;

/// Rasterising costs about the square of the size while exercising the same code, so larger
/// avatars are rendered from the same name at this size instead.
const MAX_RASTER_SIZE: u32 = 48;

/// Characters XML 1.0 does not allow in text; Rocket.Chat writes initials into the SVG unescaped.
fn breaks_xml(c: char) -> bool {
    let xml_char = matches!(c, '\t' | '\n' | '\r' | '\u{20}'..='\u{D7FF}')
        || matches!(c, '\u{E000}'..='\u{FFFD}' | '\u{10000}'..);
    matches!(c, '<' | '&') || !xml_char
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let text = String::from_utf8_lossy(rest);
    let all_initials = flags & 1 != 0;
    let (size, name) = if flags & 2 != 0 {
        match text.split_once('\n') {
            Some((size, name)) => (Some(size), name),
            None => (Some(text.as_ref()), ""),
        }
    } else {
        (None, text.as_ref())
    };

    let view_size = initials::view_size(size);
    assert!((16..=1024).contains(&view_size), "size {view_size}");

    let svg = initials::svg(name, view_size, all_initials);
    let head = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {view_size} {view_size}\">\n"
    );
    assert!(svg.starts_with(&head));
    assert!(svg.ends_with("\n</text>\n</svg>"));
    assert_eq!(svg.matches("<text ").count(), 1);
    assert_eq!(sniff(svg.as_bytes()), Sniffed::Supported(Format::Svg));
    // The initials: what the name can put into the document, at most three letters (each of
    // which may upper-case to a few characters, like 'ß' to "SS").
    let start = svg
        .find("\">\n")
        .and_then(|i| svg[i + 3..].find("\">\n").map(|j| i + 3 + j + 3));
    let initials =
        svg[start.expect("the text element")..svg.len() - "\n</text>\n</svg>".len()].to_owned();
    assert!(initials.chars().count() <= 9, "initials {initials:?}");

    let format = match (flags >> 2) & 3 {
        0 => return,
        2 => RasterFormat::Jpeg,
        _ => RasterFormat::Png,
    };
    let raster_size = view_size.min(MAX_RASTER_SIZE);
    let svg = if raster_size == view_size {
        svg
    } else {
        initials::svg(name, raster_size, all_initials)
    };
    match initials::rasterize(&svg, format) {
        Ok(raster) => {
            let expected = match format {
                RasterFormat::Png => Format::Png,
                RasterFormat::Jpeg => Format::Jpeg,
            };
            assert_eq!(sniff(&raster), Sniffed::Supported(expected));
            assert_eq!(dimensions(&raster), Some((raster_size, raster_size)));
        }
        // Known and Rocket.Chat-compatible: an initial of `<`, `&` or a character XML forbids
        // makes the SVG ill-formed, so it cannot be rasterised. Anything else must render.
        Err(err) => assert!(
            initials.chars().any(breaks_xml),
            "initials {initials:?} did not render: {err}"
        ),
    }
});
