//! The single font every rasterised SVG is drawn with.
//!
//! System fonts are never loaded: what a server happens to have installed
//! must not change how an avatar looks, and a hostile SVG must not be able to
//! make usvg scan or open font files. DejaVu Sans is compiled into the binary
//! and answers for every family name, generic or not (usvg falls back to the
//! serif family when a named family is missing).

use std::sync::{Arc, OnceLock};

use resvg::usvg::fontdb::{Database, Source};

/// The family name stored inside the embedded font file.
pub(crate) const FAMILY: &str = "DejaVu Sans";

static FONT: &[u8] = include_bytes!("../assets/fonts/DejaVuSans.ttf");

/// The shared font database, built on first use.
pub(crate) fn database() -> Arc<Database> {
    static DATABASE: OnceLock<Arc<Database>> = OnceLock::new();
    DATABASE
        .get_or_init(|| {
            let mut db = Database::new();
            db.load_font_source(Source::Binary(Arc::new(FONT)));
            db.set_serif_family(FAMILY);
            db.set_sans_serif_family(FAMILY);
            db.set_cursive_family(FAMILY);
            db.set_fantasy_family(FAMILY);
            db.set_monospace_family(FAMILY);
            Arc::new(db)
        })
        .clone()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_the_embedded_font_is_loaded() {
        let db = database();
        assert_eq!(db.len(), 1);
        let face = db.faces().next().expect("one face");
        assert!(face.families.iter().any(|(name, _)| name == FAMILY));
    }
}
