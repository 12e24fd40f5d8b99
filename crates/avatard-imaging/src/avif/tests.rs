//! AVIF decoding against images encoded here with ravif, the avifenc fixtures of
//! `tests/fixtures/avif/` (see its README), and files assembled box by box by `Mux` for what no
//! encoder writes (forged sizes, grids without tiles, unknown essential properties).

use image::{DynamicImage, GenericImageView, Rgba, RgbaImage};
use ravif::{BitDepth, ColorModel, Encoder, Img, RGBA8};

use super::{decode, dimensions};
use crate::{ImageError, Limits};

macro_rules! fixture {
    ($name:literal) => {
        include_bytes!(concat!("../../tests/fixtures/avif/", $name)).as_slice()
    };
}

/// The 64×48 pattern the avifenc fixtures were made from: red grows to the right, green
/// downwards, blue is a diagonal wave, alpha grows towards the bottom right corner.
fn source() -> RgbaImage {
    let (w, h) = (64u32, 48u32);
    RgbaImage::from_fn(w, h, |x, y| {
        let (xf, yf) = (f64::from(x), f64::from(y));
        let r = 20.0 + 215.0 * xf / f64::from(w - 1);
        let g = 20.0 + 215.0 * yf / f64::from(h - 1);
        let b = 128.0 + 100.0 * ((xf + 2.0 * yf) / 9.0).sin();
        let a = 255.0 * (xf + yf) / f64::from(w + h - 2);
        Rgba([r, g, b, a].map(|v| v.round() as u8))
    })
}

fn opaque(mut image: RgbaImage) -> RgbaImage {
    image.pixels_mut().for_each(|p| p[3] = 255);
    image
}

/// A smooth pattern of any size, with alpha if asked.
fn pattern(w: u32, h: u32, alpha: bool) -> RgbaImage {
    RgbaImage::from_fn(w, h, |x, y| {
        let r = (x * 255 / w.max(2)) as u8;
        let g = (y * 255 / h.max(2)) as u8;
        let b = (128.0 + (f64::from(x + y) / 11.0).sin() * 90.0) as u8;
        let a = if alpha {
            (40 + (x + y) * 200 / (w + h)) as u8
        } else {
            255
        };
        Rgba([r, g, b, a])
    })
}

/// 8-bit YCbCr (BT.601) at high quality; ravif's own default would be 10-bit.
fn encoder() -> Encoder<'static> {
    Encoder::new()
        .with_bit_depth(BitDepth::Eight)
        .with_quality(95.0)
        .with_alpha_quality(95.0)
        .with_speed(10)
        .with_num_threads(Some(1))
}

fn encode(image: &RgbaImage, encoder: Encoder<'_>) -> Vec<u8> {
    let pixels: Vec<RGBA8> = image
        .pixels()
        .map(|p| RGBA8::new(p[0], p[1], p[2], p[3]))
        .collect();
    let img = Img::new(
        pixels.as_slice(),
        image.width() as usize,
        image.height() as usize,
    );
    encoder.encode_rgba(img).expect("ravif encodes").avif_file
}

/// Mean and maximum absolute channel difference over the pixels whose expected alpha is at
/// least `min_alpha` (colour under near-transparent pixels is not meaningful).
fn difference(actual: &DynamicImage, expected: &RgbaImage, min_alpha: u8) -> (f64, u8) {
    assert_eq!(actual.dimensions(), expected.dimensions());
    let actual = actual.to_rgba8();
    let (mut sum, mut max, mut count) = (0u64, 0u8, 0u64);
    for (a, e) in actual.pixels().zip(expected.pixels()) {
        let channels = if e[3] >= min_alpha { 0..4 } else { 3..4 };
        for c in channels {
            let d = a[c].abs_diff(e[c]);
            sum += u64::from(d);
            max = max.max(d);
            count += 1;
        }
    }
    (sum as f64 / count as f64, max)
}

fn assert_close(actual: &DynamicImage, expected: &RgbaImage, mean: f64, max: u8) {
    let (m, x) = difference(actual, expected, 64);
    assert!(
        m <= mean && x <= max,
        "mean {m:.2} (≤ {mean}), max {x} (≤ {max})"
    );
}

fn decoded(bytes: &[u8]) -> DynamicImage {
    let image = decode(bytes, &Limits::default()).expect("decodes");
    assert_eq!(dimensions(bytes).expect("dimensions"), image.dimensions());
    image
}

#[test]
fn decodes_ravif_colour_at_odd_sizes() {
    for (w, h) in [(1, 1), (333, 257), (2, 3), (17, 1)] {
        let source = pattern(w, h, false);
        let image = decoded(&encode(&source, encoder()));
        assert!(
            matches!(image, DynamicImage::ImageRgb8(_)),
            "{w}x{h}: {:?}",
            image.color()
        );
        assert_close(&image, &source, 2.0, 24);
    }
}

#[test]
fn decodes_ravif_alpha() {
    let source = pattern(96, 64, true);
    let image = decoded(&encode(&source, encoder()));
    assert!(matches!(image, DynamicImage::ImageRgba8(_)));
    assert_close(&image, &source, 2.0, 24);
}

#[test]
fn unpremultiplies_premultiplied_alpha() {
    // (ravif 0.13's premultiplied mode divides instead of multiplying; avifenc's is right.)
    let image = decoded(fixture!("alpha-premultiplied.avif"));
    // Unpremultiplying amplifies coding error by up to 255/64 where alpha is 64.
    assert_close(&image, &source(), 2.0, 40);
}

#[test]
fn decodes_ten_bit_to_eight_bit() {
    let source = pattern(80, 60, true);
    let bytes = encode(&source, encoder().with_bit_depth(BitDepth::Ten));
    let image = decoded(&bytes);
    assert!(matches!(image, DynamicImage::ImageRgba8(_)));
    assert_close(&image, &source, 2.0, 24);
}

#[test]
fn decodes_identity_matrix_rgb() {
    let source = pattern(70, 50, false);
    let bytes = encode(
        &source,
        encoder().with_internal_color_model(ColorModel::RGB),
    );
    assert_close(&decoded(&bytes), &source, 2.0, 24);
}

#[test]
fn decodes_avifenc_fixtures() {
    let source = source();
    let rgb = opaque(source.clone());
    let cases: [(&str, &[u8], &RgbaImage, f64, u8); 6] = [
        ("4:2:0 12-bit", fixture!("yuv420-12bit.avif"), &rgb, 1.5, 20),
        ("4:2:2 10-bit", fixture!("yuv422-10bit.avif"), &rgb, 1.5, 16),
        (
            "limited range BT.709",
            fixture!("limited-bt709.avif"),
            &rgb,
            1.5,
            24,
        ),
        ("BT.2020", fixture!("bt2020.avif"), &rgb, 1.5, 12),
        (
            "4:2:0 with alpha",
            fixture!("alpha-420.avif"),
            &source,
            2.0,
            20,
        ),
        (
            "animation, still image",
            fixture!("anim.avif"),
            &rgb,
            1.5,
            10,
        ),
    ];
    for (name, bytes, expected, mean, max) in cases {
        let image = decoded(bytes);
        let (m, x) = difference(&image, expected, 64);
        assert!(m <= mean && x <= max, "{name}: mean {m:.2}, max {x}");
    }
}

#[test]
fn decodes_monochrome_to_luma() {
    let image = decoded(fixture!("yuv400.avif"));
    let DynamicImage::ImageLuma8(gray) = &image else {
        panic!("expected Luma8, got {:?}", image.color());
    };
    // avifenc took Y with the BT.601 weights its nclx box names.
    for (actual, expected) in gray.pixels().zip(source().pixels()) {
        let y = 0.299 * f64::from(expected[0])
            + 0.587 * f64::from(expected[1])
            + 0.114 * f64::from(expected[2]);
        assert!(
            (f64::from(actual[0]) - y).abs() <= 6.0,
            "{} vs {y}",
            actual[0]
        );
    }
}

#[test]
fn applies_rotation_and_mirroring() {
    let rgb = DynamicImage::ImageRgba8(opaque(source()));
    let cases = [
        // irot 1 is a quarter turn anticlockwise, then imir 0 swaps top and bottom.
        (
            "irot 1, imir 0",
            fixture!("irot1-imir0.avif"),
            rgb.rotate270().flipv(),
        ),
        ("imir 1", fixture!("imir1.avif"), rgb.fliph()),
        ("irot 3", fixture!("irot3.avif"), rgb.rotate90()),
    ];
    for (name, bytes, expected) in cases {
        let image = decoded(bytes);
        let (m, x) = difference(&image, &expected.to_rgba8(), 0);
        assert!(m <= 1.5 && x <= 16, "{name}: mean {m:.2}, max {x}");
    }
}

#[test]
fn refuses_grid_images_by_name() {
    let bytes = fixture!("grid.avif");
    for result in [
        dimensions(bytes).map(|_| ()),
        decode(bytes, &Limits::default()).map(|_| ()),
    ] {
        let err = result.unwrap_err();
        assert!(matches!(err, ImageError::Unsupported(_)));
        assert_eq!(err.to_string(), "AVIF grid images are not supported");
    }
}

#[test]
fn refuses_a_forged_size_before_decoding() {
    // The payload is not AV1 at all: reaching the decoder would be an `Invalid` error.
    let bytes = Mux::new(vec![0x55; 64]).size(30_000, 30_000).build();
    assert_eq!(dimensions(&bytes).unwrap(), (30_000, 30_000));
    let err = decode(&bytes, &Limits::default()).unwrap_err();
    assert!(matches!(err, ImageError::TooLarge(_)), "{err}");
    assert_eq!(
        err.to_string(),
        "image dimensions 30000x30000 exceed the limit of 50000000 pixels"
    );
}

#[test]
fn refuses_a_frame_that_differs_from_the_declared_size() {
    let payload = primary_payload(&encode(&pattern(64, 48, false), encoder()));
    let smaller = Mux::new(payload.clone()).size(32, 24).build();
    let err = decode(&smaller, &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the AVIF image could not be decoded: the AV1 frame is larger than the declared 32x24"
    );
    let larger = Mux::new(payload).size(100, 100).build();
    let err = decode(&larger, &Limits::default()).unwrap_err();
    assert_eq!(
        err.to_string(),
        "the AVIF image could not be decoded: the AV1 frame is 64x48 but the container declares \
         100x100"
    );
}

#[test]
fn refuses_what_it_cannot_render_faithfully() {
    let payload = primary_payload(&encode(&pattern(64, 48, false), encoder()));
    let cases = [
        (
            Mux::new(payload.clone()).property(b"clap", &[0; 32], false),
            "AVIF images with a clean aperture (cropping) are not supported",
        ),
        (
            Mux::new(payload.clone()).property(b"zzzz", &[], true),
            "AVIF images that need the 'zzzz' property are not supported",
        ),
        (
            Mux::new(payload.clone()).brands(b"avis", &[b"avis", b"msf1"]),
            "animated AVIF images without a still image are not supported",
        ),
        (
            Mux::new(payload.clone()).property(b"colr", b"nclx\0\x01\0\x0d\0\x0e\x80", false),
            "AVIF images with matrix coefficients 14 are not supported",
        ),
    ];
    for (mux, message) in cases {
        let err = decode(&mux.build(), &Limits::default()).unwrap_err();
        assert!(matches!(err, ImageError::Unsupported(_)), "{err}");
        assert_eq!(err.to_string(), message);
    }
    // An unknown property that is not essential is ignored.
    let image = decode(
        &Mux::new(payload).property(b"zzzz", &[], false).build(),
        &Limits::default(),
    );
    assert!(image.is_ok());
}

#[test]
fn an_nclx_box_overrides_the_sequence_header() {
    // ravif codes BT.601; a colr box claiming BT.709 must change the colours.
    let source = pattern(64, 48, false);
    let payload = primary_payload(&encode(&source, encoder()));
    let bt601 = decode(&Mux::new(payload.clone()).build(), &Limits::default()).unwrap();
    let bt709 = Mux::new(payload)
        .property(b"colr", b"nclx\0\x01\0\x0d\0\x01\x80", false)
        .build();
    let bt709 = decode(&bt709, &Limits::default()).unwrap();
    assert_close(&bt601, &source, 2.0, 24);
    assert!(difference(&bt709, &source, 0).1 > 10);
}

#[test]
fn refuses_when_decoding_would_exceed_the_memory_limit() {
    let bytes = encode(&pattern(200, 200, true), encoder());
    let limits = Limits {
        max_alloc: 200 * 200 * 4,
        ..Limits::default()
    };
    let err = decode(&bytes, &limits).unwrap_err();
    assert!(matches!(err, ImageError::TooLarge(_)), "{err}");
}

#[test]
fn truncated_files_are_errors() {
    let ravif = encode(&pattern(40, 30, true), encoder());
    for bytes in [
        ravif.as_slice(),
        fixture!("yuv420-12bit.avif"),
        fixture!("anim.avif"),
    ] {
        for len in 0..bytes.len() {
            let truncated = &bytes[..len];
            assert!(
                decode(truncated, &Limits::default()).is_err(),
                "length {len}"
            );
            assert_eq!(
                dimensions(truncated).is_ok(),
                len >= meta_end(bytes),
                "length {len}"
            );
        }
    }
}

#[test]
fn corrupted_files_never_panic() {
    let ravif = encode(&pattern(40, 30, true), encoder());
    let files = [
        ravif.as_slice(),
        fixture!("yuv422-10bit.avif"),
        fixture!("alpha-420.avif"),
        fixture!("irot1-imir0.avif"),
    ];
    // xorshift64, so that a failure can be replayed.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for bytes in files {
        for _ in 0..300 {
            let mut corrupted = bytes.to_vec();
            for _ in 0..1 + next() % 4 {
                let at = (next() % corrupted.len() as u64) as usize;
                corrupted[at] ^= 1 << (next() % 8);
            }
            // Either outcome is fine; a panic (or an abort inside the decoder) is not.
            let decoded = decode(&corrupted, &Limits::default());
            if let Ok(image) = decoded {
                assert_eq!(dimensions(&corrupted).unwrap(), image.dimensions());
            }
        }
    }
}

/// Where the `meta` box ends: a file cut before that has no complete header.
fn meta_end(bytes: &[u8]) -> usize {
    let mut at = 0;
    while at + 8 <= bytes.len() {
        let size = u32::from_be_bytes(bytes[at..at + 4].try_into().unwrap()) as usize;
        at += size;
        if &bytes[at - size + 4..at - size + 8] == b"meta" {
            return at;
        }
    }
    panic!("no meta box");
}

fn primary_payload(avif: &[u8]) -> Vec<u8> {
    avif_parse::read_avif(&mut &avif[..])
        .expect("parses")
        .primary_item
        .to_vec()
}

/// Assembles a minimal AVIF file around one AV1 payload: `ftyp`, `meta` (`hdlr`, `pitm`,
/// `iloc`, `iinf`, `iprp`) and `mdat`, with whatever item properties a test needs.
struct Mux {
    payload: Vec<u8>,
    major: [u8; 4],
    compatible: Vec<[u8; 4]>,
    item_type: [u8; 4],
    size: (u32, u32),
    properties: Vec<([u8; 4], Vec<u8>, bool)>,
}

impl Mux {
    fn new(payload: Vec<u8>) -> Mux {
        Mux {
            payload,
            major: *b"avif",
            compatible: vec![*b"avif", *b"mif1", *b"miaf"],
            item_type: *b"av01",
            size: (64, 48),
            properties: Vec::new(),
        }
    }

    fn size(mut self, width: u32, height: u32) -> Mux {
        self.size = (width, height);
        self
    }

    fn brands(mut self, major: &[u8; 4], compatible: &[&[u8; 4]]) -> Mux {
        self.major = *major;
        self.compatible = compatible.iter().map(|b| **b).collect();
        self
    }

    fn property(mut self, kind: &[u8; 4], body: &[u8], essential: bool) -> Mux {
        self.properties.push((*kind, body.to_vec(), essential));
        self
    }

    fn build(&self) -> Vec<u8> {
        let mut ftyp = self.major.to_vec();
        ftyp.extend([0; 4]);
        self.compatible.iter().for_each(|b| ftyp.extend(b));
        let ftyp = boxed(b"ftyp", &ftyp);

        let mut ispe = vec![0; 4];
        ispe.extend(self.size.0.to_be_bytes());
        ispe.extend(self.size.1.to_be_bytes());
        let mut properties = vec![(*b"ispe", ispe, false)];
        properties.extend(self.properties.iter().cloned());
        let ipco: Vec<u8> = properties
            .iter()
            .flat_map(|(k, b, _)| boxed(k, b))
            .collect();
        let mut ipma = vec![0, 0, 0, 0, 0, 0, 0, 1, 0, 1, properties.len() as u8];
        for (index, (_, _, essential)) in properties.iter().enumerate() {
            ipma.push((u8::from(*essential) << 7) | (index as u8 + 1));
        }
        let iprp = boxed(
            b"iprp",
            &[boxed(b"ipco", &ipco), boxed(b"ipma", &ipma)].concat(),
        );

        let hdlr = boxed(b"hdlr", &[&[0; 8][..], b"pict", &[0; 13]].concat());
        let pitm = boxed(b"pitm", &[0, 0, 0, 0, 0, 1]);
        let mut infe = vec![2, 0, 0, 0, 0, 1, 0, 0];
        infe.extend(self.item_type);
        infe.push(0);
        let iinf = boxed(
            b"iinf",
            &[&[0, 0, 0, 0, 0, 1][..], &boxed(b"infe", &infe)].concat(),
        );
        let iloc = |offset: u32| {
            let mut body = vec![0, 0, 0, 0, 0x44, 0, 0, 1, 0, 1, 0, 0, 0, 1];
            body.extend(offset.to_be_bytes());
            body.extend((self.payload.len() as u32).to_be_bytes());
            boxed(b"iloc", &body)
        };
        let meta = |offset| {
            let children = [
                hdlr.clone(),
                pitm.clone(),
                iloc(offset),
                iinf.clone(),
                iprp.clone(),
            ];
            boxed(b"meta", &[vec![0; 4], children.concat()].concat())
        };
        let offset = ftyp.len() + meta(0).len() + 8;
        [ftyp, meta(offset as u32), boxed(b"mdat", &self.payload)].concat()
    }
}

fn boxed(kind: &[u8; 4], body: &[u8]) -> Vec<u8> {
    let mut out = ((body.len() + 8) as u32).to_be_bytes().to_vec();
    out.extend(kind);
    out.extend(body);
    out
}
