//! Rasterised initials in every script the embedded fonts cover: real
//! rendering, compared with the `.notdef` box a missing glyph would draw.

use image::{ImageFormat, RgbImage};

use super::{MAX_CANDIDATES, RasterFormat, raster_svg, rasterize, svg};

/// A character no embedded font has (unassigned in the Greek block).
const MISSING: &str = "\u{0378}";

fn pixels(document: &str, size: u32) -> RgbImage {
    let png = rasterize(document, RasterFormat::Png).expect("rasterised");
    let image = image::load_from_memory_with_format(&png, ImageFormat::Png).expect("a PNG");
    assert_eq!((image.width(), image.height()), (size, size));
    image.to_rgb8()
}

/// How much of each pixel is the white text over the background (read at a
/// corner, which no initial reaches): 0 is background, 1 is white.
fn ink(image: &RgbImage) -> Vec<f32> {
    let background = image.get_pixel(0, 0).0;
    // The channel with the most room between background and white measures best.
    let channel = (0..3)
        .min_by_key(|&i| background[i])
        .expect("three channels");
    let room = f32::from(255 - background[channel]);
    image
        .pixels()
        .map(|pixel| (f32::from(pixel.0[channel]) - f32::from(background[channel])).max(0.0) / room)
        .collect()
}

/// The text of a document, between `<text …>` and `</text>`.
fn text_of(document: &str) -> &str {
    let start = document.find("\">\n").expect("rect end") + 3;
    let rest = &document[start..];
    let start = rest.find("\">\n").expect("text start") + 3;
    &rest[start..rest.find("\n</text>").expect("text end")]
}

/// Rasterises `name` at `size` and checks that the raster document draws
/// `drawn`, that it covers a meaningful part of the canvas in white, and that
/// it is not the `.notdef` box: their ink differs over at least half of what
/// either covers.
fn assert_draws(name: &str, all_initials: bool, size: u32, drawn: &str) {
    let document = raster_svg(name, size, all_initials);
    assert_eq!(text_of(&document), drawn, "{name:?}");
    let glyph = ink(&pixels(&document, size));
    let notdef = ink(&pixels(&svg(MISSING, size, false), size));

    let area = (size * size) as f32;
    let covered: f32 = glyph.iter().sum();
    assert!(
        covered > area * 0.02,
        "{name:?} at {size}: ink over {covered} of {area} pixels"
    );
    let union: f32 = glyph.iter().zip(&notdef).map(|(a, b)| a.max(*b)).sum();
    let difference: f32 = glyph.iter().zip(&notdef).map(|(a, b)| (a - b).abs()).sum();
    assert!(
        difference > union / 2.0,
        "{name:?} at {size}: differs from .notdef over {difference} of {union}"
    );
}

#[test]
fn notdef_reference_is_a_box_that_draws() {
    // The reference really is usvg's `.notdef`: a missing glyph in Rocket.Chat's own document.
    assert_eq!(text_of(&svg(MISSING, 200, false)), MISSING);
    let notdef: f32 = ink(&pixels(&svg(MISSING, 200, false), 200)).iter().sum();
    assert!(notdef > 200.0, "{notdef}");
}

#[test]
fn latin_initials_draw() {
    assert_draws("arthur", false, 200, "A");
    assert_draws("émile", false, 200, "É");
    assert_draws("arthur void jackson", true, 200, "AVJ");
}

#[test]
fn cyrillic_initial_draws() {
    assert_draws("Борис", false, 200, "Б");
    assert_draws("жанна", false, 200, "Ж");
}

#[test]
fn greek_initial_draws() {
    assert_draws("Σοφία", false, 200, "Σ");
    assert_draws("ωμέγα", false, 200, "Ω");
}

#[test]
fn cjk_initials_draw() {
    assert_draws("张伟", false, 200, "张");
    assert_draws("山田", false, 200, "山");
    assert_draws("山田 太郎", true, 200, "山太");
    assert_draws("김", false, 200, "김");
    assert_draws("김민준", false, 200, "김");
    assert_draws("さくら", false, 200, "さ");
    assert_draws("カタカナ", false, 200, "カ");
}

#[test]
fn arabic_initials_draw() {
    assert_draws("محمد", false, 200, "م");
    assert_draws("محمد علي", true, 200, "مع");
    // Urdu: a letter DejaVu Sans lacks, drawn from Noto Sans Arabic.
    assert_draws("ہما", false, 200, "ہ");
}

#[test]
fn hebrew_initial_draws() {
    assert_draws("דוד", false, 200, "ד");
    assert_draws("שרה", false, 200, "ש");
}

#[test]
fn emoji_led_names_draw_the_emoji_or_the_next_letter() {
    // Rocket.Chat's SVG keeps U+FFFD for the half surrogate pair…
    assert_eq!(text_of(&svg("😀bob", 200, false)), "\u{FFFD}");
    // …the raster takes the whole character, which DejaVu Sans has,
    assert_draws("😀bob", false, 200, "😀");
    // and for an emoji no embedded font has, the next letter.
    assert_draws("🎉party", false, 200, "P");
    assert_draws("🎉 😀 x", true, 200, "?😀X");
}

#[test]
fn names_of_only_undrawable_characters_draw_a_question_mark() {
    assert_draws("🎉🎊", false, 200, "?");
    assert_draws(&MISSING.repeat(3), false, 200, "?");
    assert_draws("\u{1}\u{2}", false, 200, "?");
}

#[test]
fn undrawable_initials_fall_back_within_their_part() {
    let text = |name: &str, all_initials: bool| {
        let document = raster_svg(name, 64, all_initials);
        text_of(&document).to_owned()
    };
    assert_eq!(text("\u{1}x", false), "X");
    assert_eq!(text("🎉<img src=x>é", false), "É");
    assert_eq!(text("🎉<script>y</script>z", false), "Z");
    // A character reference the name does not spell out ends the search.
    assert_eq!(text("&#127881;bob", false), "?");
    // The search is bounded.
    let party = "🎉".repeat(MAX_CANDIDATES - 1);
    assert_eq!(text(&format!("{party}x"), false), "X");
    assert_eq!(text(&format!("{party}🎉x"), false), "?");
    // Empty parts still draw nothing.
    assert_eq!(text("a  🎉b", true), "AB");
    assert_eq!(text("", false), "");
    // The font size stays Rocket.Chat's, from its own initials.
    let served = svg("🎉 😀 x", 200, true);
    let drawn = raster_svg("🎉 😀 x", 200, true);
    assert_eq!(
        served.replace("\u{FFFD}\u{FFFD}X", ""),
        drawn.replace("?😀X", "")
    );
}

#[test]
fn every_script_draws_at_16_64_and_1024() {
    for size in [16, 64, 1024] {
        for (name, drawn) in [
            ("arthur", "A"),
            ("Борис", "Б"),
            ("Σοφία", "Σ"),
            ("张伟", "张"),
            ("山田", "山"),
            ("김", "김"),
            ("محمد", "م"),
            ("דוד", "ד"),
            ("😀bob", "😀"),
            ("🎉party", "P"),
            ("🎉🎊", "?"),
        ] {
            assert_draws(name, false, size, drawn);
        }
    }
}
