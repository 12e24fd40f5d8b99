//! Squaring an image the way Rocket.Chat's sharp pipeline does.
//!
//! Images with an alpha channel are fitted "contain" (scaled to fit, centred
//! on a transparent square) so logos with transparent margins keep their
//! shape; opaque images are fitted "cover" (scaled to fill, centre-cropped)
//! so photos fill the avatar. Scaling uses fast_image_resize's SIMD Lanczos3
//! convolution, which also premultiplies alpha so transparent pixels do not
//! bleed their hidden colour into the edges.

use fast_image_resize::{FilterType, IntoImageView, ResizeAlg, ResizeOptions, Resizer};
use image::{DynamicImage, RgbImage, RgbaImage, imageops};

use crate::ImageError;

/// Returns a `size`×`size` version of `image`; `size` must be at least 1.
pub(crate) fn square(image: DynamicImage, size: u32) -> Result<DynamicImage, ImageError> {
    if image.color().has_alpha() {
        contain(&image.into_rgba8(), size).map(DynamicImage::ImageRgba8)
    } else {
        cover(&image.into_rgb8(), size).map(DynamicImage::ImageRgb8)
    }
}

fn contain(src: &RgbaImage, size: u32) -> Result<RgbaImage, ImageError> {
    let (width, height) = contain_size(src.width(), src.height(), size);
    let mut scaled = RgbaImage::new(width, height);
    scale(src, &mut scaled, &options())?;
    let mut canvas = RgbaImage::new(size, size);
    imageops::replace(
        &mut canvas,
        &scaled,
        i64::from((size - width) / 2),
        i64::from((size - height) / 2),
    );
    Ok(canvas)
}

fn cover(src: &RgbImage, size: u32) -> Result<RgbImage, ImageError> {
    let mut dst = RgbImage::new(size, size);
    scale(src, &mut dst, &options().fit_into_destination(None))?;
    Ok(dst)
}

/// The largest size with the source's aspect ratio that fits in the square.
fn contain_size(width: u32, height: u32, size: u32) -> (u32, u32) {
    let (long, short) = (width.max(height), width.min(height));
    let long = u64::from(long.max(1));
    let scaled_short = (u64::from(short) * u64::from(size) + long / 2) / long;
    let scaled_short = u32::try_from(scaled_short).unwrap_or(size).clamp(1, size);
    if width >= height {
        (size, scaled_short)
    } else {
        (scaled_short, size)
    }
}

fn options() -> ResizeOptions {
    ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3))
}

fn scale<I>(src: &I, dst: &mut I, options: &ResizeOptions) -> Result<(), ImageError>
where
    I: IntoImageView + fast_image_resize::IntoImageViewMut,
{
    Resizer::new()
        .resize(src, dst, options)
        .map_err(|e| ImageError::Invalid(format!("the image could not be resized: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use image::{Rgb, Rgba};

    #[test]
    fn contain_sizes() {
        assert_eq!(contain_size(400, 200, 100), (100, 50));
        assert_eq!(contain_size(200, 400, 100), (50, 100));
        assert_eq!(contain_size(300, 300, 64), (64, 64));
        assert_eq!(contain_size(10_000, 1, 64), (64, 1));
        assert_eq!(contain_size(3, 2, 200), (200, 133));
    }

    #[test]
    fn cover_crops_the_centre() {
        // Left quarter red, middle half green, right quarter blue: a centre
        // crop of the 400x200 image to a square keeps only the green.
        let src = RgbImage::from_fn(400, 200, |x, _| match x {
            0..100 => Rgb([255, 0, 0]),
            100..300 => Rgb([0, 255, 0]),
            _ => Rgb([0, 0, 255]),
        });
        let out = square(DynamicImage::ImageRgb8(src), 50).expect("resize");
        let out = out.as_rgb8().expect("opaque stays RGB");
        assert_eq!(out.dimensions(), (50, 50));
        for (x, y) in [(5, 5), (44, 5), (5, 44), (44, 44), (25, 25)] {
            let Rgb([r, g, b]) = *out.get_pixel(x, y);
            assert!(g > 240 && r < 15 && b < 15, "({x},{y}) = {r},{g},{b}");
        }
    }

    #[test]
    fn contain_pads_with_transparency() {
        let src = RgbaImage::from_pixel(400, 200, Rgba([10, 200, 30, 255]));
        let out = square(DynamicImage::ImageRgba8(src), 100).expect("resize");
        let out = out.as_rgba8().expect("alpha stays RGBA");
        assert_eq!(out.dimensions(), (100, 100));
        assert_eq!(out.get_pixel(0, 0)[3], 0);
        assert_eq!(out.get_pixel(99, 99)[3], 0);
        assert_eq!(out.get_pixel(50, 10)[3], 0);
        assert_eq!(*out.get_pixel(50, 50), Rgba([10, 200, 30, 255]));
        assert_eq!(out.get_pixel(50, 26)[3], 255);
        assert_eq!(out.get_pixel(50, 74)[3], 255);
    }
}
