//! Colour management: pixels tagged with an ICC profile are converted to sRGB.
//!
//! Avatars are shown by browsers and apps that may or may not honour embedded profiles, and the
//! encoders write none, so the only safe output is sRGB. A phone photo in Display P3 or a scan in
//! Adobe RGB would otherwise look washed out. The conversion runs on the already downsized image,
//! where it costs little; resizing in the source's own primaries first is what sharp does too, and
//! those primaries share sRGB's transfer curve closely enough for the linear-light resize.

use image::{DynamicImage, RgbImage, RgbaImage};
use moxcms::{ColorProfile, DataColorSpace, Layout, TransformOptions};

/// Converts `image` from the colour space `icc` describes to sRGB. A profile that cannot be parsed
/// or does not describe the image's colour model (a CMYK profile on pixels the decoder already
/// turned into RGB, say) is ignored, as browsers do.
pub(crate) fn to_srgb(image: DynamicImage, icc: &[u8]) -> DynamicImage {
    let Ok(source) = ColorProfile::new_from_slice(icc) else {
        return image;
    };
    let layout = match (&image, source.color_space) {
        (DynamicImage::ImageRgb8(_), DataColorSpace::Rgb) => Layout::Rgb,
        (DynamicImage::ImageRgba8(_), DataColorSpace::Rgb) => Layout::Rgba,
        _ => return image,
    };
    let srgb = ColorProfile::new_srgb();
    let Ok(transform) =
        source.create_transform_8bit(layout, &srgb, layout, TransformOptions::default())
    else {
        return image;
    };
    let mut pixels = vec![0; image.as_bytes().len()];
    if transform.transform(image.as_bytes(), &mut pixels).is_err() {
        return image;
    }
    let (width, height) = (image.width(), image.height());
    // `pixels` has exactly the source's length, so the buffers always fit.
    let converted = match layout {
        Layout::Rgba => RgbaImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgba8),
        _ => RgbImage::from_raw(width, height, pixels).map(DynamicImage::ImageRgb8),
    };
    converted.unwrap_or(image)
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::Rgb;
    use moxcms::ColorProfile;

    fn display_p3() -> Vec<u8> {
        ColorProfile::new_display_p3()
            .encode()
            .expect("encode the Display P3 profile")
    }

    #[test]
    fn display_p3_red_becomes_a_more_saturated_srgb_red() {
        // P3's red primary lies outside sRGB: in sRGB it clips to full red, and P3's pure green
        // keeps less red than sRGB's would need, so each channel moves the documented way.
        let image = DynamicImage::ImageRgb8(RgbImage::from_pixel(4, 4, Rgb([200, 60, 60])));
        let out = to_srgb(image, &display_p3());
        let Rgb([r, g, b]) = *out.as_rgb8().expect("stays RGB").get_pixel(0, 0);
        assert!(r > 200, "red {r}");
        assert!(g < 60 && b < 60, "green {g}, blue {b}");
    }

    #[test]
    fn srgb_profile_changes_nothing_visible() {
        let srgb = ColorProfile::new_srgb().encode().expect("encode sRGB");
        let source = RgbImage::from_fn(16, 16, |x, y| Rgb([(x * 16) as u8, (y * 16) as u8, 128]));
        let out = to_srgb(DynamicImage::ImageRgb8(source.clone()), &srgb);
        for (a, b) in source.pixels().zip(out.as_rgb8().expect("rgb").pixels()) {
            for c in 0..3 {
                assert!(a[c].abs_diff(b[c]) <= 1, "{a:?} vs {b:?}");
            }
        }
    }

    #[test]
    fn unusable_profiles_are_ignored() {
        let source = RgbImage::from_pixel(2, 2, Rgb([1, 2, 3]));
        let out = to_srgb(DynamicImage::ImageRgb8(source.clone()), b"not a profile");
        assert_eq!(out.as_rgb8(), Some(&source));
    }
}
