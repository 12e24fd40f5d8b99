//! The fonts every rasterised SVG is drawn with.
//!
//! System fonts are never loaded: what a server happens to have installed
//! must not change how an avatar looks, and a hostile SVG must not be able to
//! make usvg scan or open font files. The faces below are compiled into the
//! binary (`assets/fonts/README.md` says where each comes from and how it was
//! cut down to what initials need):
//!
//! 1. DejaVu Sans answers for every family name, generic or not (usvg falls
//!    back to the serif family when a named family is missing), so every text
//!    starts in it: Latin, Greek, Cyrillic, Armenian, Georgian, Hebrew, most
//!    Arabic letters, and symbols (arrows, mathematical operators, dingbats,
//!    geometric shapes, a set of emoticons such as U+1F600).
//! 2. WenQuanYi Micro Hei, subset: Han ideographs (simplified and traditional),
//!    kana, bopomofo, Hangul syllables and jamo, CJK punctuation and full-width
//!    forms.
//! 3. Noto Sans Arabic, subset: the Arabic letters DejaVu Sans lacks (Urdu and
//!    other extended letters, presentation forms).
//!
//! usvg 0.49 shapes a text with the face its `font-family` resolves to and, for
//! each character that face has no glyph for, takes the first other face in
//! database order that maps it (`FontResolver::default_fallback_selector`: it
//! walks `Database::faces()`, which is load order here, and skips a face only
//! when style, weight and stretch all differ, which none of these regular faces
//! do). So the order above is the order of preference, and a character no face
//! maps is drawn as DejaVu Sans' `.notdef` box. [`has_glyph`] asks the same
//! question before rendering, so that callers can avoid the box.

use std::sync::{Arc, OnceLock};

use resvg::usvg::fontdb::{Database, Source};

/// The family name stored inside the first embedded font file.
pub(crate) const FAMILY: &str = "DejaVu Sans";

/// The embedded font files, in order of preference.
static FONTS: [&[u8]; 3] = [
    include_bytes!("../assets/fonts/DejaVuSans.ttf"),
    include_bytes!("../assets/fonts/WenQuanYiMicroHei-CJK.ttf"),
    include_bytes!("../assets/fonts/NotoSansArabic-Regular.ttf"),
];

/// The shared font database, built on first use.
pub(crate) fn database() -> Arc<Database> {
    static DATABASE: OnceLock<Arc<Database>> = OnceLock::new();
    DATABASE
        .get_or_init(|| {
            let mut db = Database::new();
            for font in FONTS {
                db.load_font_source(Source::Binary(Arc::new(font)));
            }
            db.set_serif_family(FAMILY);
            db.set_sans_serif_family(FAMILY);
            db.set_cursive_family(FAMILY);
            db.set_fantasy_family(FAMILY);
            db.set_monospace_family(FAMILY);
            Arc::new(db)
        })
        .clone()
}

/// Whether some embedded face has a glyph for `c`: exactly when usvg's
/// fallback (see the module documentation) draws `c`, in a text of its own,
/// with a real glyph rather than `.notdef`.
pub(crate) fn has_glyph(c: char) -> bool {
    let db = database();
    db.faces().any(|face| {
        db.with_face_data(face.id, |data, index| glyph(data, index, c))
            .flatten()
            .is_some()
    })
}

/// The glyph `c` maps to in face `index` of `data`, by the font's `cmap`
/// read with skrifa, the same reader usvg shapes with; `None` when there is
/// none or it is `.notdef` (glyph 0).
fn glyph(data: &[u8], index: u32, c: char) -> Option<u32> {
    use skrifa::MetadataProvider as _;
    let font = skrifa::FontRef::from_index(data, index).ok()?;
    let glyph = font.charmap().map(c)?.to_u32();
    (glyph != 0).then_some(glyph)
}

#[cfg(test)]
mod tests {
    use super::*;
    use resvg::usvg;

    const CJK: &str = "WenQuanYi Micro Hei";
    const ARABIC: &str = "Noto Sans Arabic";

    #[test]
    fn only_the_embedded_fonts_are_loaded() {
        let db = database();
        assert_eq!(db.len(), FONTS.len());
        let families: Vec<&str> = db.faces().map(|face| face.families[0].0.as_str()).collect();
        assert_eq!(families, [FAMILY, CJK, ARABIC]);
        for generic in [
            usvg::fontdb::Family::Serif,
            usvg::fontdb::Family::SansSerif,
            usvg::fontdb::Family::Cursive,
            usvg::fontdb::Family::Fantasy,
            usvg::fontdb::Family::Monospace,
        ] {
            assert_eq!(db.family_name(&generic), FAMILY);
        }
    }

    /// What usvg actually lays out for `c` in the initials' `font-family`: the
    /// family of the face of each glyph, or `None` for `.notdef`.
    fn laid_out(c: char) -> Vec<Option<String>> {
        let svg = format!(
            "<svg xmlns='http://www.w3.org/2000/svg' width='100' height='100'>\
             <text x='10' y='80' font-size='60' \
             font-family=\"'Helvetica', 'Arial', 'Lucida Grande', 'sans-serif'\">{c}</text></svg>"
        );
        let options = usvg::Options {
            font_family: FAMILY.to_owned(),
            fontdb: database(),
            ..usvg::Options::default()
        };
        let tree = usvg::Tree::from_str(&svg, &options).expect("parses");
        let Some(usvg::Node::Text(text)) = tree.root().children().first() else {
            panic!("{c:?}: no text node");
        };
        text.layouted()
            .iter()
            .flat_map(|span| &span.positioned_glyphs)
            .map(|glyph| {
                (glyph.id.0 != 0).then(|| {
                    let face = tree.fontdb().face(glyph.font).expect("face");
                    face.families[0].0.clone()
                })
            })
            .collect()
    }

    /// usvg's fallback picks the face this module documents, and
    /// [`has_glyph`] agrees with it on every character.
    #[test]
    fn usvg_falls_back_to_the_face_that_has_the_character() {
        let cases = [
            ('A', Some(FAMILY)),
            ('é', Some(FAMILY)),
            ('Б', Some(FAMILY)),
            ('Ω', Some(FAMILY)),
            ('Ա', Some(FAMILY)),
            ('★', Some(FAMILY)),
            ('😀', Some(FAMILY)),
            ('\u{FFFD}', Some(FAMILY)),
            ('张', Some(CJK)),
            ('山', Some(CJK)),
            ('國', Some(CJK)),
            ('さ', Some(CJK)),
            ('カ', Some(CJK)),
            ('김', Some(CJK)),
            ('ㄅ', Some(CJK)),
            ('Ａ', Some(CJK)),
            ('م', Some(FAMILY)),
            ('ہ', Some(ARABIC)),
            ('ے', Some(ARABIC)),
            ('ש', Some(FAMILY)),
            ('ד', Some(FAMILY)),
            ('🎉', None),
            ('\u{0378}', None),
            // Hebrew yod triangle (Unicode 11): no embedded font has it.
            ('\u{05EF}', None),
            ('\u{10FFFD}', None),
        ];
        for (c, expected) in cases {
            assert_eq!(laid_out(c), [expected.map(str::to_owned)], "{c:?}");
            assert_eq!(has_glyph(c), expected.is_some(), "{c:?}");
        }
    }

    #[test]
    fn every_embedded_face_has_a_readable_cmap() {
        let db = database();
        let probes = ['A', '山', 'ے'];
        for face in db.faces() {
            let maps = db
                .with_face_data(face.id, |data, index| {
                    probes.iter().any(|&c| glyph(data, index, c).is_some())
                })
                .expect("embedded data");
            assert!(maps, "{}", face.families[0].0);
        }
    }
}
