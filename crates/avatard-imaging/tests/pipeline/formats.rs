//! Every supported input format through `process_avatar`: output format,
//! exact size, decodability, fit mode and metadata stripping.

use crate::common::*;
use avatard_imaging::{Avatar, Encoding, Format, Limits, process_avatar};
use image::{DynamicImage, ImageEncoder, ImageFormat, Rgb, RgbImage, Rgba, RgbaImage};

fn decoded(avatar: &Avatar) -> DynamicImage {
    let format = match avatar.format {
        Format::Png => ImageFormat::Png,
        Format::Jpeg => ImageFormat::Jpeg,
        Format::WebP => ImageFormat::WebP,
        Format::Gif => ImageFormat::Gif,
        other => panic!("unexpected output format {other:?}"),
    };
    let image =
        image::load_from_memory_with_format(&avatar.bytes, format).expect("decodable output");
    assert_eq!(
        (image.width(), image.height()),
        (avatar.width, avatar.height)
    );
    image
}

fn check(input: &[u8], expected: Format) -> DynamicImage {
    let avatar = process_avatar(input, &options(64, true)).expect("processed");
    assert_eq!(avatar.format, expected);
    assert_eq!((avatar.width, avatar.height), (64, 64));
    decoded(&avatar)
}

#[test]
fn png_with_alpha_stays_png_with_alpha() {
    let out = check(&png(&DynamicImage::ImageRgba8(disc(300, 150))), Format::Png);
    assert!(out.color().has_alpha());
}

#[test]
fn opaque_png_stays_png() {
    let out = check(
        &png(&DynamicImage::ImageRgb8(halves(300, 150))),
        Format::Png,
    );
    assert!(!out.color().has_alpha());
}

#[test]
fn jpeg_stays_jpeg() {
    check(&jpeg(&halves(300, 150)), Format::Jpeg);
}

#[test]
fn gif_becomes_png() {
    check(&gif(&disc(120, 90)), Format::Png);
}

#[test]
fn webp_stays_webp() {
    check(&webp(&halves(120, 90)), Format::WebP);
}

#[test]
fn svg_becomes_png() {
    let svg = br#"<svg xmlns="http://www.w3.org/2000/svg" width="40" height="20">
        <rect width="40" height="20" fill="red"/></svg>"#;
    let out = check(svg, Format::Png).to_rgba8();
    // 40x20 fitted "contain" into 64x64: a 64x32 band in the middle.
    assert_eq!(out.get_pixel(0, 0)[3], 0);
    assert_eq!(out.get_pixel(32, 10)[3], 0);
    assert_eq!(*out.get_pixel(32, 32), Rgba([255, 0, 0, 255]));
    assert_eq!(*out.get_pixel(1, 20), Rgba([255, 0, 0, 255]));
}

#[test]
fn cover_crops_the_centre_of_an_opaque_image() {
    // 400x200, red left half, blue right half: the centre square is
    // x = 100..300, so the avatar is still half red, half blue.
    let avatar = process_avatar(
        &png(&DynamicImage::ImageRgb8(halves(400, 200))),
        &options(64, true),
    )
    .expect("processed");
    let out = decoded(&avatar).to_rgb8();
    for y in [0, 31, 63] {
        for x in [0, 16, 24] {
            assert!(
                close(out.get_pixel(x, y).0, [255, 0, 0], 2),
                "({x},{y}) {:?}",
                out.get_pixel(x, y)
            );
        }
        for x in [40, 48, 63] {
            assert!(
                close(out.get_pixel(x, y).0, [0, 0, 255], 2),
                "({x},{y}) {:?}",
                out.get_pixel(x, y)
            );
        }
    }
}

#[test]
fn contain_keeps_an_alpha_image_whole_on_transparency() {
    let src = RgbaImage::from_pixel(400, 200, Rgba([200, 40, 10, 255]));
    let avatar = process_avatar(&png(&DynamicImage::ImageRgba8(src)), &options(64, true))
        .expect("processed");
    let out = decoded(&avatar).to_rgba8();
    for (x, y) in [(0, 0), (63, 0), (0, 63), (63, 63), (32, 10), (32, 53)] {
        assert_eq!(out.get_pixel(x, y)[3], 0, "({x},{y}) should be transparent");
    }
    for (x, y) in [(0, 32), (63, 32), (32, 17), (32, 46)] {
        assert_eq!(*out.get_pixel(x, y), Rgba([200, 40, 10, 255]), "({x},{y})");
    }
}

#[test]
fn without_resize_the_size_is_kept() {
    for (input, format) in [
        (png(&DynamicImage::ImageRgba8(disc(123, 45))), Format::Png),
        (jpeg(&halves(123, 45)), Format::Jpeg),
        (gif(&disc(123, 45)), Format::Png),
        (webp(&halves(123, 45)), Format::WebP),
    ] {
        let avatar = process_avatar(&input, &options(64, false)).expect("processed");
        assert_eq!(avatar.format, format);
        assert_eq!((avatar.width, avatar.height), (123, 45));
        decoded(&avatar);
    }
}

#[test]
fn svg_without_resize_uses_its_own_size_or_the_fallback() {
    let sized = br#"<svg xmlns="http://www.w3.org/2000/svg" width="90" height="30"/>"#;
    let avatar = process_avatar(sized, &options(64, false)).expect("processed");
    assert_eq!((avatar.width, avatar.height), (90, 30));
    let view_box = br#"<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 50 25"/>"#;
    let avatar = process_avatar(view_box, &options(64, false)).expect("processed");
    assert_eq!((avatar.width, avatar.height), (50, 25));
    let without_size = br#"<svg xmlns="http://www.w3.org/2000/svg"><circle r="5"/></svg>"#;
    let avatar = process_avatar(without_size, &options(64, false)).expect("processed");
    assert_eq!((avatar.width, avatar.height), (64, 64));
    let huge = br#"<svg xmlns="http://www.w3.org/2000/svg" width="100000" height="50000"/>"#;
    let mut opts = options(64, false);
    opts.limits = Limits {
        max_dimension: 300,
        max_pixels: 20_000,
        ..Limits::default()
    };
    let avatar = process_avatar(huge, &opts).expect("processed");
    assert_eq!((avatar.width, avatar.height), (200, 100));
}

#[test]
fn jpeg_output_carries_no_exif() {
    let input = with_segment(&jpeg(&halves(64, 32)), &exif_app1(1));
    let mut comment = vec![0xFF, 0xFE, 0, 14];
    comment.extend_from_slice(b"secret note!");
    let input = with_segment(&input, &comment);
    assert!(jpeg_segments(&input).iter().any(|(m, _)| *m == 0xE1));
    for resize in [true, false] {
        let avatar = process_avatar(&input, &options(48, resize)).expect("processed");
        let segments = jpeg_segments(&avatar.bytes);
        assert!(segments.iter().any(|(m, _)| *m == 0xDA), "found the scan");
        for (marker, payload) in segments {
            assert_ne!(marker, 0xE1, "APP1 (Exif/XMP) must be stripped");
            assert_ne!(marker, 0xFE, "comments must be stripped");
            assert!(!payload.windows(4).any(|w| w == b"Exif"));
        }
        assert!(!avatar.bytes.windows(6).any(|w| w == b"SpyCam"));
    }
}

#[test]
fn png_output_carries_no_text_or_exif_chunks() {
    let clean = png(&DynamicImage::ImageRgb8(halves(64, 32)));
    let mut input = clean[..33].to_vec(); // signature + IHDR
    input.extend(png_chunk(b"tEXt", b"Comment\0taken at home"));
    input.extend(png_chunk(b"eXIf", &exif_app1(1)[10..]));
    input.extend_from_slice(&clean[33..]);
    assert!(png_chunk_types(&input).contains(b"tEXt"));
    for resize in [true, false] {
        let avatar = process_avatar(&input, &options(48, resize)).expect("processed");
        let types = png_chunk_types(&avatar.bytes);
        assert!(types.contains(b"IDAT"));
        assert!(
            !types.contains(b"tEXt") && !types.contains(b"eXIf"),
            "{types:?}"
        );
        assert!(!avatar.bytes.windows(7).any(|w| w == b"at home"));
    }
}

#[test]
fn mime_of_outputs() {
    let avatar = process_avatar(&gif(&disc(10, 10)), &options(16, true)).expect("processed");
    assert_eq!(avatar.format.mime(), "image/png");
}

fn encoded(image: &DynamicImage, format: ImageFormat) -> Vec<u8> {
    let mut out = std::io::Cursor::new(Vec::new());
    image.write_to(&mut out, format).expect("encode");
    out.into_inner()
}

#[test]
fn bmp_ico_and_tiff_become_png() {
    let opaque = DynamicImage::ImageRgb8(halves(120, 80));
    let alpha = DynamicImage::ImageRgba8(disc(120, 80));
    for (image, format, has_alpha) in [
        (&opaque, ImageFormat::Bmp, false),
        (&alpha, ImageFormat::Bmp, true),
        (&opaque, ImageFormat::Tiff, false),
        (&alpha, ImageFormat::Tiff, true),
        (&alpha, ImageFormat::Ico, true),
    ] {
        let input = encoded(image, format);
        let out = check(&input, Format::Png);
        assert_eq!(out.color().has_alpha(), has_alpha, "{format:?}");
    }
}

#[test]
fn lossy_webp_and_avif_outputs_on_request() {
    let input = png(&DynamicImage::ImageRgb8(halves(120, 80)));
    let mut opts = options(64, true);
    opts.output = Some(Encoding::WebP { lossless: false });
    let webp = process_avatar(&input, &opts).expect("webp");
    assert_eq!(webp.format, Format::WebP);
    assert_eq!(&webp.bytes[12..16], b"VP8 ", "lossy VP8 data");
    let pixels = decoded(&webp).to_rgb8();
    assert!(close(pixels.get_pixel(5, 32).0, [255, 0, 0], 40));
    assert!(close(pixels.get_pixel(58, 32).0, [0, 0, 255], 40));

    opts.output = Some(Encoding::Avif);
    let avif = process_avatar(&input, &opts).expect("avif");
    assert_eq!(avif.format, Format::Avif);
    assert_eq!(
        avatard_imaging::sniff(&avif.bytes),
        avatard_imaging::Sniffed::Supported(Format::Avif)
    );
    assert_eq!((avif.width, avif.height), (64, 64));

    // And AVIF in: it stays AVIF, and its pixels survive both trips.
    let again = process_avatar(&avif.bytes, &options(32, true)).expect("avif input");
    assert_eq!(
        (again.format, again.width, again.height),
        (Format::Avif, 32, 32)
    );
    let mut to_png = options(32, true);
    to_png.output = Some(Encoding::Png);
    let pixels = decoded(&process_avatar(&avif.bytes, &to_png).expect("to png")).to_rgb8();
    assert!(
        close(pixels.get_pixel(4, 16).0, [255, 0, 0], 48),
        "{:?}",
        pixels.get_pixel(4, 16)
    );
    assert!(
        close(pixels.get_pixel(28, 16).0, [0, 0, 255], 48),
        "{:?}",
        pixels.get_pixel(28, 16)
    );
}

#[test]
fn lossy_webp_stays_lossy_and_lossless_stays_lossless() {
    let lossless = webp(&halves(120, 80));
    let out = process_avatar(&lossless, &options(64, true)).expect("lossless");
    assert_eq!(&out.bytes[12..16], b"VP8L");
    let lossy = webp::Encoder::from_rgb(halves(120, 80).as_raw(), 120, 80)
        .encode(90.0)
        .to_vec();
    let out = process_avatar(&lossy, &options(64, true)).expect("lossy");
    assert_eq!(&out.bytes[12..16], b"VP8 ");
}

#[test]
fn downscaling_averages_light_not_srgb_codes() {
    // One-pixel black and white stripes: half the light of white. Averaging the codes would
    // give 128; the sRGB code of 50% linear light is 188. Both the box pre-shrink (large
    // reductions) and the direct Lanczos path (small ones) must get it right.
    for (source, size) in [(800, 50), (100, 64)] {
        let stripes = RgbImage::from_fn(source, source, |x, _| {
            if x % 2 == 0 {
                Rgb([0, 0, 0])
            } else {
                Rgb([255, 255, 255])
            }
        });
        let input = png(&DynamicImage::ImageRgb8(stripes));
        let out = decoded(&process_avatar(&input, &options(size, true)).expect("processed"));
        let Rgb([r, g, b]) = *out.to_rgb8().get_pixel(size / 2, size / 2);
        for c in [r, g, b] {
            assert!((184..=192).contains(&c), "{source}->{size}: {c}");
        }
    }
}

#[test]
fn transparent_pixels_do_not_bleed_their_hidden_colour() {
    // Opaque white dots on fully transparent *red*: the red must never show.
    let image = RgbaImage::from_fn(800, 800, |x, y| {
        if (x + y) % 2 == 0 {
            Rgba([255, 255, 255, 255])
        } else {
            Rgba([255, 0, 0, 0])
        }
    });
    let out = decoded(
        &process_avatar(&png(&DynamicImage::ImageRgba8(image)), &options(50, true)).expect("ok"),
    );
    let Rgba([r, g, b, a]) = *out.to_rgba8().get_pixel(25, 25);
    assert!(g > 245 && b > 245 && r > 245, "{r},{g},{b}");
    assert!((120..=136).contains(&a), "alpha {a}");
}

#[test]
fn icc_tagged_pixels_are_converted_to_srgb() {
    let pixels = RgbImage::from_pixel(64, 64, Rgb([200, 60, 60]));
    let plain = jpeg(&pixels);
    let mut tagged = Vec::new();
    {
        let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut tagged, 95);
        encoder
            .set_icc_profile(moxcms::ColorProfile::new_display_p3().encode().expect("p3"))
            .expect("profile");
        encoder
            .write_image(pixels.as_raw(), 64, 64, image::ExtendedColorType::Rgb8)
            .expect("encode");
    }
    let centre = |input: &[u8]| {
        let avatar = process_avatar(input, &options(32, true)).expect("processed");
        decoded(&avatar).to_rgb8().get_pixel(16, 16).0
    };
    let [r0, g0, b0] = centre(&plain);
    let [r1, g1, b1] = centre(&tagged);
    // Display P3's red is beyond sRGB's: in sRGB the same colour is redder and less green/blue.
    assert!(
        r1 > r0 + 10 && g1 < g0 && b1 < b0,
        "{r0},{g0},{b0} -> {r1},{g1},{b1}"
    );
    // And the profile itself is not carried over.
    assert!(
        !jpeg_segments(&process_avatar(&tagged, &options(32, true)).unwrap().bytes)
            .iter()
            .any(|(marker, data)| *marker == 0xE2 && data.starts_with(b"ICC_PROFILE"))
    );
}

/// `halves` through jpeg-encoder, which writes what `image`'s encoder cannot: progressive scans,
/// CMYK (with Adobe's APP14 marker) and restart intervals.
fn jpeg_variant(progressive: bool, cmyk: bool) -> Vec<u8> {
    let rgb = halves(120, 80);
    let mut out = Vec::new();
    let mut encoder = jpeg_encoder::Encoder::new(&mut out, 92);
    encoder.set_progressive(progressive);
    encoder.set_restart_interval(4);
    if cmyk {
        // Red is M+Y, blue is C+M.
        let pixels: Vec<u8> = rgb
            .pixels()
            .flat_map(|p| [255 - p[0], 255 - p[1], 255 - p[2], 0])
            .collect();
        encoder
            .encode(&pixels, 120, 80, jpeg_encoder::ColorType::Cmyk)
            .expect("cmyk");
    } else {
        encoder
            .encode(rgb.as_raw(), 120, 80, jpeg_encoder::ColorType::Rgb)
            .expect("rgb");
    }
    out
}

#[test]
fn progressive_and_cmyk_jpegs_decode_to_the_right_colours() {
    for (progressive, cmyk) in [(true, false), (false, true), (true, true)] {
        let out = check(&jpeg_variant(progressive, cmyk), Format::Jpeg).to_rgb8();
        // Cover crops 80×80 out of the middle: left of centre red, right of centre blue.
        let (left, right) = (out.get_pixel(8, 32).0, out.get_pixel(56, 32).0);
        assert!(
            close(left, [255, 0, 0], 40),
            "{progressive} {cmyk}: {left:?}"
        );
        assert!(
            close(right, [0, 0, 255], 40),
            "{progressive} {cmyk}: {right:?}"
        );
    }
}

#[test]
fn large_lossy_webp_is_scaled_while_decoding() {
    // 2000×1000 → 100: libwebp hands over a 10× smaller image (with and without alpha).
    let opaque = halves(2000, 1000);
    let input = webp::Encoder::from_rgb(opaque.as_raw(), 2000, 1000)
        .encode(90.0)
        .to_vec();
    let out = check_at(&input, 100, Format::WebP).to_rgb8();
    assert!(close(out.get_pixel(10, 50).0, [255, 0, 0], 40));
    assert!(close(out.get_pixel(90, 50).0, [0, 0, 255], 40));

    // libwebp drops an alpha channel that is opaque everywhere: make a transparent edge.
    let mut transparent = DynamicImage::ImageRgb8(opaque).to_rgba8();
    for y in 0..1000 {
        transparent.get_pixel_mut(0, y)[3] = 0;
    }
    let input = webp::Encoder::from_rgba(transparent.as_raw(), 2000, 1000)
        .encode(90.0)
        .to_vec();
    let out = check_at(&input, 100, Format::WebP).to_rgba8();
    // Alpha is "contain": a 100×50 band in the middle.
    assert_eq!(out.get_pixel(50, 5)[3], 0);
    assert!(close(
        [
            out.get_pixel(10, 50)[0],
            out.get_pixel(10, 50)[1],
            out.get_pixel(10, 50)[2]
        ],
        [255, 0, 0],
        40
    ));
}

fn check_at(input: &[u8], size: u32, expected: Format) -> DynamicImage {
    let avatar = process_avatar(input, &options(size, true)).expect("processed");
    assert_eq!(
        (avatar.format, avatar.width, avatar.height),
        (expected, size, size)
    );
    decoded(&avatar)
}
