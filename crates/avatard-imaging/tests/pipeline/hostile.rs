//! Junk, truncated files, refused formats and hostile SVGs: always an error
//! or a harmless image, never a panic, a file read or a huge allocation.

use std::time::{Duration, Instant};

use crate::common::*;
use avatard_imaging::{Format, ImageError, Limits, process_avatar};
use image::{DynamicImage, Rgb, RgbImage};
use proptest::prelude::*;

fn error(input: &[u8]) -> ImageError {
    process_avatar(input, &options(64, true)).expect_err("must be refused")
}

/// A PNG whose IHDR declares `width`×`height`, with a valid CRC and a token
/// IDAT; only the header is real.
fn png_declaring(width: u32, height: u32) -> Vec<u8> {
    let mut ihdr = Vec::new();
    ihdr.extend_from_slice(&width.to_be_bytes());
    ihdr.extend_from_slice(&height.to_be_bytes());
    ihdr.extend_from_slice(&[8, 6, 0, 0, 0]);
    let mut png = b"\x89PNG\r\n\x1a\n".to_vec();
    png.extend(png_chunk(b"IHDR", &ihdr));
    png.extend(png_chunk(
        b"IDAT",
        &[0x78, 0x9C, 0x03, 0x00, 0x00, 0x00, 0x00, 0x01],
    ));
    png.extend(png_chunk(b"IEND", &[]));
    png
}

#[test]
fn png_bomb_is_refused_from_its_header() {
    let started = Instant::now();
    let err = error(&png_declaring(30_000, 30_000));
    assert!(started.elapsed() < Duration::from_secs(1));
    assert!(matches!(err, ImageError::TooLarge(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "image dimensions 30000x30000 exceed the limit of 50000000 pixels"
    );
    let err = error(&png_declaring(20_000, 10));
    assert!(matches!(err, ImageError::TooLarge(_)), "{err:?}");
}

#[test]
fn custom_limits_apply_to_rasters() {
    let input = png(&DynamicImage::ImageRgb8(halves(200, 100)));
    let mut opts = options(64, true);
    opts.limits = Limits {
        max_pixels: 10_000,
        ..Limits::default()
    };
    assert!(matches!(
        process_avatar(&input, &opts),
        Err(ImageError::TooLarge(_))
    ));
    opts.limits = Limits {
        max_dimension: 150,
        ..Limits::default()
    };
    assert!(matches!(
        process_avatar(&input, &opts),
        Err(ImageError::TooLarge(_))
    ));
    opts.limits = Limits {
        max_alloc: 1_000,
        ..Limits::default()
    };
    assert!(matches!(
        process_avatar(&input, &opts),
        Err(ImageError::TooLarge(_))
    ));
}

#[test]
fn requested_size_is_validated() {
    let input = png(&DynamicImage::ImageRgb8(halves(20, 10)));
    assert!(matches!(
        process_avatar(&input, &options(0, true)),
        Err(ImageError::Invalid(_))
    ));
    assert!(matches!(
        process_avatar(&input, &options(100_000, true)),
        Err(ImageError::TooLarge(_))
    ));
}

#[test]
fn truncated_files_are_invalid() {
    let image = RgbImage::from_fn(64, 64, |x, y| Rgb([(x * 4) as u8, (y * 4) as u8, 128]));
    let png = png(&DynamicImage::ImageRgb8(image.clone()));
    let jpeg = jpeg(&image);
    // Cut into the pixel data (a PNG missing only its IEND trailer still
    // holds the complete image and is accepted, as libpng would).
    for (name, data, tail) in [("png", &png, 20), ("jpeg", &jpeg, 3)] {
        for len in [data.len() / 2, data.len() - tail, 40] {
            let err = process_avatar(&data[..len], &options(64, true))
                .expect_err(&format!("{name} cut to {len} of {}", data.len()));
            assert!(
                matches!(err, ImageError::Invalid(_)),
                "{name} cut to {len}: {err:?}"
            );
        }
    }
}

/// Found by `fuzz/` (image_pipeline): a WebP whose EXIF chunk claims 0x94949494 bytes made
/// image-webp allocate 2.5 GB while reading the orientation, an abort wherever address space is
/// limited. It is refused from the chunk headers, before any decoder reads the chunk.
#[test]
fn a_webp_chunk_larger_than_the_file_is_refused_before_it_is_read() {
    let lying = b"\x52\x49\x46\x46\x52\x00\x00\x00\x57\x45\x42\x50\x56\x50\x38\x58\x0a\x00\x00\x00\x08\x00\x00\x00\x7e\x00\x00\x03\x00\x00\x56\x50\x38\x4c\x12\x00\x00\x00\x2f\x07\xc0\x00\x00\x00\x10\x70\x81\x0a\xd8\xff\x02\x30\xcf\x30\xcf\x00\x45\x58\x49\x46\x94\x94\x94\x94\x00";
    for auto_orient in [true, false] {
        let mut opts = options(64, true);
        opts.auto_orient = auto_orient;
        let err = process_avatar(lying, &opts).expect_err("refused");
        assert!(matches!(err, ImageError::Invalid(_)), "{err:?}");
        assert_eq!(err.to_string(), "the WebP image is truncated");
    }
}

#[test]
fn random_bytes_are_unsupported() {
    let err = error(b"this is not an image at all");
    assert!(matches!(err, ImageError::Unsupported(_)));
    assert_eq!(err.to_string(), "unrecognised image format");
    assert!(matches!(error(b""), ImageError::Unsupported(_)));
}

#[test]
fn heic_is_refused_by_name() {
    let mut heic = b"\0\0\0\x18ftypheic\0\0\0\0mif1heic".to_vec();
    heic.extend_from_slice(&[0u8; 64]);
    let err = error(&heic);
    assert!(matches!(err, ImageError::Unsupported(_)));
    assert_eq!(err.to_string(), "HEIC images are not supported");
    let err = error(b"%PDF-1.4\n%...");
    assert_eq!(err.to_string(), "PDF images are not supported");
}

#[test]
fn svg_element_bombs_are_refused() {
    let siblings = format!(
        "<svg xmlns='http://www.w3.org/2000/svg'>{}</svg>",
        "<rect width='1' height='1'/>".repeat(20_000)
    );
    assert!(matches!(
        error(siblings.as_bytes()),
        ImageError::TooLarge(_)
    ));
    let nested = format!(
        "<svg xmlns='http://www.w3.org/2000/svg'>{}{}</svg>",
        "<g>".repeat(20_000),
        "</g>".repeat(20_000)
    );
    assert!(matches!(error(nested.as_bytes()), ImageError::TooLarge(_)));
}

#[test]
fn svg_entity_expansion_is_refused() {
    let lol = "<?xml version='1.0'?><!DOCTYPE svg [<!ENTITY lol 'lollollollollol'>\
        <!ENTITY lol2 '&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;'>]>\
        <svg xmlns='http://www.w3.org/2000/svg'><text>&lol2;&lol2;&lol2;</text></svg>";
    assert!(matches!(error(lol.as_bytes()), ImageError::Unsupported(_)));
}

#[test]
fn broken_svg_is_invalid() {
    assert!(matches!(error(b"<svg><g></svg>"), ImageError::Invalid(_)));
    assert!(matches!(error(b"<svg \xff\xfe>"), ImageError::Invalid(_)));
}

/// An SVG that draws `href` over the whole canvas, on a white background.
fn svg_with_image(href: &str) -> String {
    format!(
        "<svg xmlns='http://www.w3.org/2000/svg' xmlns:xlink='http://www.w3.org/1999/xlink' \
         width='20' height='20'><rect width='20' height='20' fill='white'/>\
         <image width='20' height='20' href='{href}'/>\
         <image width='20' height='20' xlink:href='{href}'/></svg>"
    )
}

fn has_red(image: &DynamicImage) -> bool {
    image
        .to_rgba8()
        .pixels()
        .any(|p| p[0] > 200 && p[1] < 60 && p[2] < 60 && p[3] > 200)
}

#[test]
fn svg_cannot_reach_files_or_embedded_images() {
    let dir = std::env::temp_dir().join(format!("avatard-imaging-test-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let red = png(&DynamicImage::ImageRgb8(RgbImage::from_pixel(
        8,
        8,
        Rgb([255, 0, 0]),
    )));
    let red_path = dir.join("red.png");
    std::fs::write(&red_path, &red).expect("write red.png");
    let red_path = red_path.to_str().expect("utf-8 temp path");

    let hrefs = [
        red_path.to_owned(),
        format!("file://{red_path}"),
        format!("data:image/png;base64,{}", base64(&red)),
        "file:///etc/passwd".to_owned(),
        "/etc/hostname".to_owned(),
        "/etc/passwd".to_owned(),
    ];

    // Pixels alone cannot prove much (resvg is built without raster codecs);
    // the unit tests in src/svg.rs check on usvg's tree that nothing loads.
    for href in &hrefs {
        let avatar = process_avatar(svg_with_image(href).as_bytes(), &options(20, true))
            .unwrap_or_else(|e| panic!("{href}: {e}"));
        assert_eq!(avatar.format, Format::Png);
        let out = image::load_from_memory(&avatar.bytes).expect("decodable");
        assert!(!has_red(&out), "{href} was loaded");
        assert!(
            out.to_rgba8().pixels().all(|p| p.0 == [255, 255, 255, 255]),
            "{href}"
        );
    }
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn svg_scripts_and_external_references_are_inert() {
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="10" height="10" onload="alert(1)">
        <script>alert(document.cookie)</script>
        <style>@import url("https://example.invalid/x.css");</style>
        <use href="https://example.invalid/sprite.svg#icon"/>
        <rect width="10" height="10" fill="blue"/></svg>"#;
    let avatar = process_avatar(svg, &options(10, true)).expect("renders");
    let out = image::load_from_memory(&avatar.bytes)
        .expect("decodable")
        .to_rgba8();
    assert_eq!(out.get_pixel(5, 5).0, [0, 0, 255, 255]);
}

#[test]
fn svg_text_uses_the_embedded_font() {
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="60" height="60">
        <text x="5" y="50" font-family="NoSuchFont, serif" font-size="50">W</text></svg>"#;
    let avatar = process_avatar(svg, &options(60, true)).expect("renders");
    let out = image::load_from_memory(&avatar.bytes)
        .expect("decodable")
        .to_rgba8();
    let inked = out.pixels().filter(|p| p[3] > 128).count();
    assert!(inked > 100, "the glyph was drawn ({inked} pixels)");
}

/// Definitions that each refer to the next, as many as the default node
/// limit allows, used by one rectangle.
fn reference_chain(kind: &str) -> String {
    let mut svg =
        String::from("<svg xmlns='http://www.w3.org/2000/svg' width='10' height='10'><defs>");
    let (links, attribute) = if kind == "pattern" {
        (4_990, "fill")
    } else {
        (9_990, kind)
    };
    for i in 0..links {
        let next = i + 1;
        svg += &match kind {
            "pattern" => format!(
                "<pattern id='c{i}' width='1' height='1'>\
                 <rect width='1' height='1' fill='url(#c{next})'/></pattern>"
            ),
            "mask" => format!("<mask id='c{i}' mask='url(#c{next})'/>"),
            _ => format!("<clipPath id='c{i}' clip-path='url(#c{next})'/>"),
        };
    }
    svg + &format!("</defs><rect width='10' height='10' {attribute}='url(#c0)'/></svg>")
}

#[test]
fn deep_reference_chains_do_not_crash() {
    // usvg follows such chains recursively. The guard counts the depth of
    // masks and patterns, which usvg copies for each use, but not of clip
    // paths in user space, which it shares, so the render thread's stack
    // must absorb those.
    for kind in ["clip-path", "mask", "pattern"] {
        let _ = process_avatar(reference_chain(kind).as_bytes(), &options(10, true));
    }
}

/// A `viewBox='0 0 100 100'` document around `body`.
fn svg_of(body: &str) -> String {
    format!("<svg xmlns='http://www.w3.org/2000/svg' viewBox='0 0 100 100'>{body}</svg>")
}

/// The refusal of `svg` rendered at `size` px with `limits`, and how long it took.
fn refusal(svg: &str, size: u32, limits: Limits) -> (ImageError, Duration) {
    let mut opts = options(size, true);
    opts.limits = limits;
    let started = Instant::now();
    let err = process_avatar(svg.as_bytes(), &opts).expect_err("must be refused");
    (err, started.elapsed())
}

/// An ordinary exported avatar: a clipped card with gradients, a drop
/// shadow, a mask and a line of text.
fn exported_avatar() -> String {
    let mut shapes = String::new();
    for i in 0..60 {
        let (x, y) = (100 + i * 5, 120 + i * 4);
        shapes += &format!(
            "<path d='M{x} {y}C{} {} {} {} {} {}C330 {} {} {} {x} {y}Z' fill='#{:06x}'/>",
            140 + i,
            60 + i * 3,
            300 - i,
            90 + i,
            380 - i * 2,
            200 + i * 3,
            300 + i,
            200 - i,
            420 - i,
            i * 279_000 % 0xff_ffff
        );
    }
    format!(
        "<svg width='512' height='512' viewBox='0 0 512 512' xmlns='http://www.w3.org/2000/svg'>\
         <defs><clipPath id='card'><rect width='512' height='512' rx='256'/></clipPath>\
         <linearGradient id='sky' x2='1' y2='1'><stop stop-color='#7F7FD5'/>\
         <stop offset='1' stop-color='#91EAE4'/></linearGradient>\
         <radialGradient id='skin'><stop stop-color='#FFE0BD'/><stop offset='1' stop-color='#E0AC69'/>\
         </radialGradient>\
         <filter id='shadow' x='40' y='40' width='440' height='440' filterUnits='userSpaceOnUse'>\
         <feColorMatrix in='SourceAlpha' type='matrix' values='0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 127 0' \
         result='alpha'/><feOffset dy='4'/><feGaussianBlur stdDeviation='8'/>\
         <feComposite in2='alpha' operator='out'/><feBlend in='SourceGraphic'/></filter>\
         <mask id='face'><circle cx='256' cy='180' r='90' fill='white'/></mask></defs>\
         <g clip-path='url(#card)'><rect width='512' height='512' fill='#F5F5F5'/>\
         <circle cx='256' cy='256' r='220' fill='url(#sky)'/><g filter='url(#shadow)'>{shapes}</g>\
         <g mask='url(#face)'><circle cx='256' cy='180' r='90' fill='url(#skin)'/></g>\
         <text x='256' y='470' text-anchor='middle' font-size='48'>Ada L.</text></g></svg>"
    )
}

#[test]
fn svg_exports_render_within_the_default_limits() {
    for size in [200, 1024] {
        let avatar = process_avatar(exported_avatar().as_bytes(), &options(size, true))
            .unwrap_or_else(|e| panic!("{size} px: {e}"));
        let out = image::load_from_memory(&avatar.bytes)
            .expect("decodable")
            .to_rgba8();
        assert_eq!(out.dimensions(), (size, size));
        // The card is clipped to a circle: the corners stay transparent.
        assert_eq!(out.get_pixel(0, 0).0[3], 0);
        assert_eq!(out.get_pixel(size / 2, size / 2).0[3], 255);
    }
}

#[test]
fn svg_rendering_stops_at_the_time_limit() {
    // Thousands of canvas-sized gradients: each cheap enough to be drawn on
    // its own, a minute in all at 1024 px.
    let svg = svg_of(&format!(
        "<radialGradient id='g'><stop stop-color='red'/><stop offset='1' stop-color='blue'/>\
         </radialGradient>{}",
        "<rect width='100' height='100' fill='url(#g)'/>".repeat(9_000)
    ));
    let limit = Duration::from_millis(100);
    let (err, took) = refusal(
        &svg,
        1024,
        Limits {
            max_svg_render_time: limit,
            ..Limits::default()
        },
    );
    assert!(matches!(err, ImageError::TooLarge(_)), "{err:?}");
    assert_eq!(
        err.to_string(),
        "the SVG image took longer than 100ms to render"
    );
    // Not a benchmark: without the clock this takes a minute.
    assert!(took < 10 * limit + Duration::from_millis(500), "{took:?}");
}

#[test]
fn svg_time_limit_covers_parsing() {
    // Nothing to draw: only parsing takes time.
    let svg = svg_of(&format!(
        "<defs>{}</defs>",
        "<rect width='1' height='1'/>".repeat(5_000)
    ));
    let (err, took) = refusal(
        &svg,
        64,
        Limits {
            max_svg_render_time: Duration::from_millis(1),
            ..Limits::default()
        },
    );
    assert_eq!(
        err.to_string(),
        "the SVG image took longer than 1ms to render"
    );
    assert!(took < Duration::from_secs(1), "{took:?}");
}

#[test]
fn svg_work_resvg_does_in_one_call_is_priced_first() {
    let crossing: String = (0..100_000)
        .map(|i| format!("L{} {} ", (i * 37) % 100, (i * 61) % 100))
        .collect();
    let documents = [
        // Everything wrapped in one group resvg draws in one call.
        format!(
            "<radialGradient id='g'><stop stop-color='red'/><stop offset='1' stop-color='blue'/>\
             </radialGradient><g opacity='0.99'>{}</g>",
            "<rect width='100' height='100' fill='url(#g)'/>".repeat(9_000)
        ),
        // Filters whose cost grows with a number, not with the file.
        "<filter id='f'><feMorphology radius='1e6'/></filter>\
         <rect width='100' height='100' filter='url(#f)'/>"
            .into(),
        "<filter id='f'><feTurbulence baseFrequency='0.05' numOctaves='100000'/></filter>\
         <rect width='100' height='100' filter='url(#f)'/>"
            .into(),
        // A path whose scan conversion is quadratic in its length.
        format!("<path d='M0 0 {crossing}'/>"),
        // A million thick dashes.
        "<path d='M0 0 L100 100 L0 100 L100 0 Z' fill='none' stroke='black' \
         stroke-width='20' stroke-dasharray='0.0006'/>"
            .into(),
    ];
    for body in documents {
        let (err, took) = refusal(&svg_of(&body), 1024, Limits::default());
        assert!(matches!(err, ImageError::TooLarge(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the SVG image would take longer than 2s to render",
            "{}",
            &body[..60]
        );
        assert!(took < Duration::from_secs(1), "{took:?}: {}", &body[..60]);
    }
}

#[test]
fn svg_layers_are_bounded_in_memory() {
    let documents = [
        // resvg does not clamp a pattern's tile: 40 000 px square here.
        "<pattern id='p' width='1e5' height='1e5' patternUnits='userSpaceOnUse'>\
         <rect width='5' height='5'/></pattern><rect width='100' height='100' fill='url(#p)'/>"
            .to_owned(),
        // Every isolated group holds a layer up to 25 times the canvas.
        format!(
            "{}<rect x='-1e6' y='-1e6' width='2e6' height='2e6'/>{}",
            "<g opacity='0.99'>".repeat(200),
            "</g>".repeat(200)
        ),
    ];
    for body in documents {
        let (err, _) = refusal(&svg_of(&body), 200, Limits::default());
        assert!(matches!(err, ImageError::TooLarge(_)), "{err:?}");
        assert_eq!(
            err.to_string(),
            "the SVG image would need more than 268435456 bytes of memory to render"
        );
    }
}

#[test]
fn svg_parsing_costs_are_bounded() {
    let mut masks =
        String::from("<mask id='m0'><rect width='100' height='100' fill='white'/></mask>");
    for level in 1..=5 {
        let masked = format!(
            "<rect width='100' height='100' fill='white' mask='url(#m{})'/>",
            level - 1
        );
        masks += &format!("<mask id='m{level}'>{}</mask>", masked.repeat(10));
    }
    let mut gradients =
        String::from("<linearGradient id='g0'><stop stop-color='red'/></linearGradient>");
    for i in 1..=40 {
        gradients += &format!("<linearGradient id='g{i}' href='#g{}'/>", i - 1);
    }
    let cases = [
        (
            format!("<text y='50'>{}</text>", "Hello avatar ".repeat(1_000)),
            "the SVG image has more than 10000 characters of text",
        ),
        (
            format!(
                "<style>x g rect {{ fill: red }}</style>{}{}{}",
                "<g>".repeat(200),
                "<rect width='1' height='1'/>".repeat(1_000),
                "</g>".repeat(200)
            ),
            "the SVG image's stylesheet is too complex",
        ),
        (
            format!("{gradients}<rect width='100' height='100' fill='url(#g40)'/>"),
            "the SVG image chains gradients, patterns or filters through more than 32 links",
        ),
        (
            // usvg converts such a mask anew for every element it masks.
            format!("{masks}<rect width='100' height='100' mask='url(#m5)'/>"),
            "the SVG image has more than 10000 elements",
        ),
    ];
    for (body, message) in cases {
        let (err, took) = refusal(&svg_of(&body), 200, Limits::default());
        assert!(matches!(err, ImageError::TooLarge(_)), "{err:?}");
        assert_eq!(err.to_string(), message);
        assert!(took < Duration::from_secs(1), "{took:?}: {message}");
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn arbitrary_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = process_avatar(&bytes, &options(32, true));
    }

    #[test]
    fn magic_prefixed_junk_never_panics(
        magic in prop::sample::select(vec![
            &b"\x89PNG\r\n\x1a\n"[..], &b"\xFF\xD8\xFF"[..], &b"GIF89a"[..],
            &b"RIFF\0\0\0\0WEBP"[..], &b"<svg"[..],
        ]),
        tail in proptest::collection::vec(any::<u8>(), 0..2048),
    ) {
        let mut bytes = magic.to_vec();
        bytes.extend_from_slice(&tail);
        let result = process_avatar(&bytes, &options(32, true));
        prop_assert!(!matches!(result, Err(ImageError::Unsupported(_))) || magic == b"<svg");
    }

    #[test]
    fn corrupted_images_never_panic(
        which in 0usize..4,
        flips in proptest::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..12),
    ) {
        let source = RgbImage::from_fn(24, 16, |x, y| Rgb([(x * 10) as u8, (y * 15) as u8, 77]));
        let mut bytes = match which {
            0 => png(&DynamicImage::ImageRgb8(source)),
            1 => jpeg(&source),
            2 => gif(&DynamicImage::ImageRgb8(source).to_rgba8()),
            _ => webp(&source),
        };
        for (index, value) in flips {
            let i = index.index(bytes.len());
            bytes[i] = value;
        }
        let _ = process_avatar(&bytes, &options(32, true));
    }
}
