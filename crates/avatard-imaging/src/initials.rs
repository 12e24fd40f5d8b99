//! Letter avatars for users and rooms without an uploaded image.
//!
//! Clients cache and compare these, so the SVG must be byte-for-byte what
//! Rocket.Chat's `renderSVGLetters` produces (apps/meteor/server/routes/
//! avatar/utils.ts), including its JavaScript-isms: UTF-16 lengths, `parseInt`,
//! number formatting, and initials taken from sanitize-html's output.

mod entities;
mod html;
mod js;
#[cfg(test)]
mod raster_tests;

use image::DynamicImage;

use crate::encode::{Encoding, encode};
use crate::picture::Picture;
use crate::svg::{self, Target};
use crate::{ImageError, fonts};

/// `getAvatarColor`'s palette, indexed by the name's UTF-16 length.
const COLORS: [&str; 6] = [
    "#158D65", "#7F1B9F", "#B68D00", "#E26D0E", "#10529E", "#6C727A",
];
const DEFAULT_SIZE: u32 = 200;
const MIN_SIZE: u32 = 16;
const MAX_SIZE: u32 = 1024;
const MAX_INITIALS: usize = 3;
/// How many characters of a part [`drawn_letter`] tries before settling for `?`:
/// names come from URLs and can be long, and the search rescans markup.
const MAX_CANDIDATES: usize = 64;

/// The raster formats `?format=` can ask for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RasterFormat {
    Png,
    Jpeg,
}

/// Rocket.Chat's handling of the `size` query parameter: `parseInt`, a
/// falsy result (missing, empty, `0`, `NaN`) means 200, anything else is
/// clamped to 16..=1024.
pub fn view_size(raw: Option<&str>) -> u32 {
    match raw.and_then(js::parse_int) {
        Some(size) if size != 0.0 => size.clamp(f64::from(MIN_SIZE), f64::from(MAX_SIZE)) as u32,
        _ => DEFAULT_SIZE,
    }
}

/// The letter avatar for `name`: its first initial, or with `all_initials`
/// the initials of its first three space-separated words.
pub fn svg(name: &str, view_size: u32, all_initials: bool) -> String {
    document(name, view_size, all_initials, Reader::Client)
}

/// [`svg`] made drawable for [`rasterize`]. Served as SVG the document stays
/// byte for byte Rocket.Chat's (browsers draw it with their own fonts); for
/// pixels only the letters differ, and only where Rocket.Chat's would not draw.
/// Colour and font size stay Rocket.Chat's. Each part of the name (the whole
/// name without `all_initials`) is drawn as:
///
/// 1. its initial as Rocket.Chat takes it (sanitize-html's output, upper-cased),
///    but as a whole character where Rocket.Chat writes U+FFFD for the first half
///    of a surrogate pair, so `😀bob` draws the smiley (DejaVu Sans has it);
/// 2. if no embedded font has a glyph for that (`fonts::has_glyph`), which
///    would draw an empty `.notdef` box, or it is a control character (which
///    would make a document no XML parser reads): the next character
///    after it in the part that can be drawn, upper-cased, so `🎉party` draws
///    `P` (at most 64 characters are tried);
/// 3. and if none can: `?`.
///
/// An empty part draws nothing, as in Rocket.Chat. `&`, `<` and `>` are escaped:
/// Rocket.Chat writes them unescaped (sanitize-html's `&lt;` starts with `&`).
pub fn raster_svg(name: &str, view_size: u32, all_initials: bool) -> String {
    document(name, view_size, all_initials, Reader::Rasterizer)
}

/// Who the document is for.
#[derive(Clone, Copy)]
enum Reader {
    /// Clients, who get Rocket.Chat's exact bytes.
    Client,
    /// resvg, which gets letters it can draw with the embedded fonts.
    Rasterizer,
}

fn document(name: &str, view_size: u32, all_initials: bool, reader: Reader) -> String {
    let parts: Vec<&str> = if all_initials {
        name.split(' ').take(MAX_INITIALS).collect()
    } else {
        vec![name]
    };
    // For "?" this is "?" too; only its colour is special.
    let initials: String = parts.iter().map(|part| first_letter(part)).collect();
    let color = if name == "?" {
        "#000"
    } else {
        COLORS[utf16_len(name) % COLORS.len()]
    };
    let count = utf16_len(&initials);
    let reduction = if count > 1 {
        (count * count) as f64 / 10.0
    } else {
        0.0
    };
    let font_size = js::number_to_string(f64::from(view_size) / (1.6 + reduction));
    let initials = match reader {
        Reader::Client => initials,
        Reader::Rasterizer => parts.iter().map(|part| drawn_letter(part)).collect(),
    };
    format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 {view_size} {view_size}\">\n\
         <rect width=\"100%\" height=\"100%\" fill=\"{color}\"/>\n\
         <text x=\"50%\" y=\"50%\" dy=\"0.36em\" text-anchor=\"middle\" pointer-events=\"none\" \
         fill=\"#ffffff\" font-family=\"'Helvetica', 'Arial', 'Lucida Grande', 'sans-serif'\" \
         font-size=\"{font_size}\">\n{initials}\n</text>\n</svg>"
    )
}

/// Renders an SVG from [`svg`] at its viewBox size, as sharp does for
/// `?format=png|jpg|jpeg`.
pub fn rasterize(svg: &str, format: RasterFormat) -> Result<Vec<u8>, ImageError> {
    let limits = crate::Limits::default();
    let image = svg::rasterize(
        svg.as_bytes(),
        Target::Natural {
            fallback: DEFAULT_SIZE,
        },
        &limits,
    )?;
    let encoding = match format {
        RasterFormat::Png => Encoding::Png,
        RasterFormat::Jpeg => Encoding::Jpeg,
    };
    encode(&Picture::Still(DynamicImage::ImageRgba8(image)), encoding)
}

/// `sanitizeHtml(part).substring(0, 1).toUpperCase()`, written out as Node
/// would: half of a surrogate pair becomes U+FFFD.
fn first_letter(part: &str) -> String {
    match html::first_char(part) {
        None => String::new(),
        Some(c) if c.len_utf16() > 1 => '\u{FFFD}'.to_string(),
        Some(c) => c.to_uppercase().collect(),
    }
}

/// The letter [`raster_svg`] draws for one part of a name (see there).
fn drawn_letter(part: &str) -> String {
    let Some(initial) = html::first_char(part) else {
        return String::new();
    };
    let mut candidate = initial;
    let mut rest = part;
    for _ in 0..MAX_CANDIDATES {
        let upper: String = candidate.to_uppercase().collect();
        if upper.chars().all(drawable) {
            return upper
                .chars()
                .map(|c| match c {
                    '&' => "&amp;".to_owned(),
                    '<' => "&lt;".to_owned(),
                    '>' => "&gt;".to_owned(),
                    c => c.to_string(),
                })
                .collect();
        }
        // What sanitize-html writes after the candidate. A candidate that is not
        // in the name as written (decoded from a character reference) ends the search.
        let Some(at) = rest.find(candidate) else {
            break;
        };
        rest = &rest[at + candidate.len_utf8()..];
        let Some(next) = html::first_char(rest) else {
            break;
        };
        candidate = next;
    }
    "?".to_owned()
}

/// Whether resvg draws `c` with a real glyph: XML can hold it (control characters
/// and U+FFFE/U+FFFF make a document no parser reads, and draw nothing anyway)
/// and an embedded font has it.
fn drawable(c: char) -> bool {
    !(c.is_control() || c == '\u{FFFE}' || c == '\u{FFFF}') && fonts::has_glyph(c)
}

/// JavaScript's `String.prototype.length`.
fn utf16_len(s: &str) -> usize {
    s.encode_utf16().count()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text_of(svg: &str) -> &str {
        let start = svg.find("\">\n").expect("text start") + 3;
        let svg = &svg[start..];
        let start = svg.find("\">\n").expect("initials start") + 3;
        let end = svg.find("\n</text>").expect("initials end");
        &svg[start..end]
    }

    fn fill_of(svg: &str) -> &str {
        let start = svg.find("fill=\"").expect("fill") + 6;
        &svg[start..start + svg[start..].find('"').expect("fill end")]
    }

    fn font_size_of(svg: &str) -> &str {
        let start = svg.find("font-size=\"").expect("font-size") + 11;
        &svg[start..start + svg[start..].find('"').expect("font-size end")]
    }

    #[test]
    fn arthur_at_200_is_byte_for_byte_rocket_chat() {
        let expected = "<svg xmlns=\"http://www.w3.org/2000/svg\" viewBox=\"0 0 200 200\">\n\
<rect width=\"100%\" height=\"100%\" fill=\"#158D65\"/>\n\
<text x=\"50%\" y=\"50%\" dy=\"0.36em\" text-anchor=\"middle\" pointer-events=\"none\" fill=\"#ffffff\" font-family=\"'Helvetica', 'Arial', 'Lucida Grande', 'sans-serif'\" font-size=\"125\">\n\
A\n\
</text>\n\
</svg>";
        assert_eq!(svg("arthur", 200, false), expected);
    }

    #[test]
    fn rocket_chat_spec_cases() {
        assert!(svg("arthur", 16, false).contains(">\nA\n</text>"));
        assert!(svg("Bob", 16, false).contains(">\nB\n</text>"));
        assert!(svg("yan", 16, false).contains(">\nY\n</text>"));
        assert!(svg("山田 太郎", 16, false).contains(">\n山\n</text>"));
        let question = svg("?", 16, false);
        assert!(question.contains(">\n?\n</text>"));
        assert!(question.contains("fill=\"#000\""));
        assert!(svg("arthur", 16, false).contains("viewBox=\"0 0 16 16\""));
        assert!(svg("Bob", 32, false).contains("viewBox=\"0 0 32 32\""));
        assert!(svg("yan", 64, false).contains("viewBox=\"0 0 64 64\""));
    }

    #[test]
    fn colour_follows_utf16_length_mod_6() {
        let expected = [
            "#158D65", "#7F1B9F", "#B68D00", "#E26D0E", "#10529E", "#6C727A", "#158D65",
        ];
        for (len, colour) in expected.iter().enumerate() {
            let name = "x".repeat(len);
            assert_eq!(fill_of(&svg(&name, 200, false)), *colour, "length {len}");
        }
        // An emoji is two UTF-16 units; the colour uses the raw name, tags
        // included (8 units here, where the sanitised "x" would be 1).
        assert_eq!(fill_of(&svg("😀", 200, false)), "#B68D00");
        assert_eq!(fill_of(&svg("<b>x</b>", 200, false)), "#B68D00");
        assert_eq!(fill_of(&svg("?", 200, false)), "#000");
    }

    #[test]
    fn size_parameter() {
        let cases = [
            (None, 200),
            (Some(""), 200),
            (Some("0"), 200),
            (Some("-0"), 200),
            (Some("abc"), 200),
            (Some("12abc"), 16),
            (Some("5"), 16),
            (Some("2000"), 1024),
            (Some("-3"), 16),
            (Some("64"), 64),
            (Some(" 100"), 100),
            (Some("0x40"), 64),
            (Some("99999999999999999999999"), 1024),
        ];
        for (raw, expected) in cases {
            assert_eq!(view_size(raw), expected, "{raw:?}");
        }
    }

    #[test]
    fn all_initials_mode() {
        let out = svg("arthur void jackson billie", 200, true);
        assert_eq!(text_of(&out), "AVJ");
        assert_eq!(font_size_of(&out), "80");
        let two = svg("arthur void", 200, true);
        assert_eq!(text_of(&two), "AV");
        assert_eq!(font_size_of(&two), "100");
        // Empty parts from double spaces add nothing but still count as parts.
        assert_eq!(text_of(&svg("a  b c", 200, true)), "AB");
        assert_eq!(text_of(&svg("arthur", 200, true)), "A");
    }

    #[test]
    fn font_sizes() {
        assert_eq!(font_size_of(&svg("arthur", 200, false)), "125");
        assert_eq!(font_size_of(&svg("arthur", 100, false)), "62.5");
        assert_eq!(font_size_of(&svg("arthur", 16, false)), "10");
        assert_eq!(font_size_of(&svg("arthur", 17, false)), "10.625");
        // 'ß' upper-cases to "SS": two letters, as in JavaScript.
        let sharp_s = svg("ßtraße", 200, false);
        assert_eq!(text_of(&sharp_s), "SS");
        assert_eq!(font_size_of(&sharp_s), "100");
        assert_eq!(font_size_of(&svg("", 200, false)), "125");
    }

    #[test]
    fn emoji_first_becomes_replacement_character() {
        let out = svg("😀 smile", 200, false);
        assert_eq!(text_of(&out), "\u{FFFD}");
        assert_eq!(font_size_of(&out), "125");
        let all = svg("😀 😎 x", 200, true);
        assert_eq!(text_of(&all), "\u{FFFD}\u{FFFD}X");
        assert_eq!(font_size_of(&all), "80");
    }

    #[test]
    fn html_in_names_is_sanitised() {
        assert_eq!(
            text_of(&svg("<img src=x onerror=alert(1)>mallory", 200, false)),
            "M"
        );
        assert_eq!(text_of(&svg("<script>x</script>eve", 200, false)), "E");
        // sanitize-html's defaults keep <b>, so Rocket.Chat's initial is "<".
        assert_eq!(text_of(&svg("<b>bold</b>", 200, false)), "<");
        assert_eq!(text_of(&svg("&co", 200, false)), "&");
        assert_eq!(text_of(&svg("&eacute;mile", 200, false)), "É");
        assert_eq!(text_of(&svg("<i>a</i> <u>b</u> c", 200, true)), "<<C");
    }

    proptest::proptest! {
        #[test]
        fn arbitrary_names_and_sizes_never_panic(
            name in "\\PC{0,40}",
            markup in "[<>&/!?#;=\"' a-zA-Z0-9-]{0,40}",
            size in proptest::option::of("\\PC{0,12}"),
            all in proptest::bool::ANY,
        ) {
            let size = view_size(size.as_deref());
            proptest::prop_assert!((MIN_SIZE..=MAX_SIZE).contains(&size));
            for name in [&name, &markup] {
                let out = svg(name, size, all);
                proptest::prop_assert!(out.ends_with("\n</text>\n</svg>"));
            }
        }
    }
}
