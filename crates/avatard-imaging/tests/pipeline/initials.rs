//! Rasterised letter avatars: the requested pixel size, the background
//! colour, and a glyph actually drawn from the embedded font.

use avatard_imaging::initials::{self, RasterFormat};
use image::{ImageFormat, RgbImage};

fn raster(name: &str, size: u32, format: RasterFormat) -> RgbImage {
    let svg = initials::svg(name, size, false);
    let bytes = initials::rasterize(&svg, format).expect("rasterised");
    let expected = match format {
        RasterFormat::Png => ImageFormat::Png,
        RasterFormat::Jpeg => ImageFormat::Jpeg,
    };
    assert_eq!(image::guess_format(&bytes).expect("known format"), expected);
    let image = image::load_from_memory(&bytes).expect("decodable");
    assert_eq!((image.width(), image.height()), (size, size));
    image.to_rgb8()
}

fn near(actual: [u8; 3], expected: [u8; 3], tolerance: u8) -> bool {
    actual
        .iter()
        .zip(expected)
        .all(|(a, e)| a.abs_diff(e) <= tolerance)
}

#[test]
fn png_and_jpeg_have_the_viewbox_size_and_a_drawn_glyph() {
    for format in [RasterFormat::Png, RasterFormat::Jpeg] {
        for size in [200, 64] {
            let image = raster("arthur", size, format);
            let background = [0x15, 0x8D, 0x65];
            for (x, y) in [(0, 0), (size - 1, 0), (0, size - 1), (size - 1, size - 1)] {
                assert!(
                    near(image.get_pixel(x, y).0, background, 12),
                    "{format:?} corner"
                );
            }
            // The white "A" covers part of the central region.
            let c = size / 2;
            let r = size / 4;
            let white = (c - r..c + r)
                .flat_map(|y| (c - r..c + r).map(move |x| (x, y)))
                .filter(|&(x, y)| image.get_pixel(x, y).0.iter().all(|&v| v > 220))
                .count();
            let area = (2 * r * 2 * r) as usize;
            assert!(
                white * 20 > area,
                "{format:?} {size}: {white} white pixels of {area}"
            );
            assert!(
                white * 2 < area,
                "{format:?} {size}: the centre is not all white"
            );
        }
    }
}

#[test]
fn question_mark_is_black() {
    let image = raster("?", 32, RasterFormat::Png);
    assert!(near(image.get_pixel(0, 0).0, [0, 0, 0], 2));
}

#[test]
fn markup_that_breaks_the_svg_is_an_error_not_a_panic() {
    // sanitize-html keeps <b>, so Rocket.Chat's own SVG for this name is
    // not well-formed XML; rasterising it fails cleanly.
    let svg = initials::svg("<b>bold</b>", 64, false);
    assert!(initials::rasterize(&svg, RasterFormat::Png).is_err());
}

/// The same names rendered to pixels: the document made for rasterising escapes what XML needs
/// escaped and replaces what no embedded font can draw, so `?format=png` of any name draws an image.
#[test]
fn any_name_rasterises_from_its_raster_document() {
    for name in ["<b>bold</b>", "&amp", "<", ">x", "\u{1}x", "a\u{FFFF}"] {
        for all_initials in [false, true] {
            let svg = initials::raster_svg(name, 48, all_initials);
            let png = initials::rasterize(&svg, RasterFormat::Png)
                .unwrap_or_else(|err| panic!("{name:?}: {err}"));
            let image = image::load_from_memory_with_format(&png, ImageFormat::Png).unwrap();
            assert_eq!((image.width(), image.height()), (48, 48), "{name:?}");
        }
    }
    // Where nothing needs escaping the two documents are the same bytes.
    assert_eq!(
        initials::raster_svg("Zaphod Beeblebrox", 64, true),
        initials::svg("Zaphod Beeblebrox", 64, true)
    );
}
