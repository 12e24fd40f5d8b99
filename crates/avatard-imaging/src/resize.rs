//! Squaring an image the way Rocket.Chat's sharp pipeline does, but in linear light.
//!
//! Images with an alpha channel are fitted "contain" (scaled to fit, centred on a transparent
//! square) so logos with transparent margins keep their shape; opaque images are fitted "cover"
//! (scaled to fill, centre-cropped) so photos fill the avatar.
//!
//! Averaging sRGB values darkens fine detail (a black-and-white hatch becomes 50% grey instead of
//! the 73% grey the eye sees), so pixels are mapped to linear light first, in 16 bits so no shade
//! is lost, and back to sRGB at the end. A large reduction starts with an exact box average over
//! k×k blocks, done while mapping, so the full-size 16-bit copy never exists; fast_image_resize's
//! SIMD Lanczos3 then does the last factor of two or less, which is what keeps small sizes sharp.
//! Colour is averaged premultiplied by alpha, so transparent pixels do not bleed their hidden
//! colour into the edges.

use std::sync::OnceLock;

use fast_image_resize::images::{Image, ImageRef};
use fast_image_resize::{
    FilterType, MulDiv, PixelComponentMapper, PixelType, ResizeAlg, ResizeOptions, Resizer,
    create_srgb_mapper,
};
use image::{DynamicImage, RgbImage, RgbaImage, imageops};

use crate::ImageError;

/// Returns a `size`×`size` version of `image`; `size` must be at least 1.
pub(crate) fn square(image: DynamicImage, size: u32) -> Result<DynamicImage, ImageError> {
    if image.color().has_alpha() {
        let src = image.into_rgba8();
        let (width, height) = contain_size(src.width(), src.height(), size);
        let whole = Region::whole(src.width(), src.height());
        let pixels = scale_linear::<4>(src.as_raw(), src.width(), whole, width, height)?;
        let scaled = RgbaImage::from_raw(width, height, pixels).ok_or_else(resize_failed)?;
        let mut canvas = RgbaImage::new(size, size);
        imageops::replace(
            &mut canvas,
            &scaled,
            i64::from((size - width) / 2),
            i64::from((size - height) / 2),
        );
        Ok(DynamicImage::ImageRgba8(canvas))
    } else {
        let src = image.into_rgb8();
        let centre = Region::centre_square(src.width(), src.height());
        let pixels = scale_linear::<3>(src.as_raw(), src.width(), centre, size, size)?;
        RgbImage::from_raw(size, size, pixels)
            .map(DynamicImage::ImageRgb8)
            .ok_or_else(resize_failed)
    }
}

/// A rectangle of source pixels.
#[derive(Clone, Copy, Debug)]
struct Region {
    x: u32,
    y: u32,
    width: u32,
    height: u32,
}

impl Region {
    fn whole(width: u32, height: u32) -> Region {
        Region {
            x: 0,
            y: 0,
            width,
            height,
        }
    }

    fn centre_square(width: u32, height: u32) -> Region {
        let side = width.min(height);
        Region {
            x: (width - side) / 2,
            y: (height - side) / 2,
            width: side,
            height: side,
        }
    }
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

/// Scales `region` of an 8-bit sRGB image with `C` channels (3, or 4 with alpha last) to
/// `out_width`×`out_height`, in linear light.
fn scale_linear<const C: usize>(
    pixels: &[u8],
    width: u32,
    region: Region,
    out_width: u32,
    out_height: u32,
) -> Result<Vec<u8>, ImageError> {
    let (u8_type, u16_type) = if C == 4 {
        (PixelType::U8x4, PixelType::U16x4)
    } else {
        (PixelType::U8x3, PixelType::U16x3)
    };
    let ratio = (region.width / out_width).min(region.height / out_height);
    let block = ratio / 2;
    let mut options = ResizeOptions::new().resize_alg(ResizeAlg::Convolution(FilterType::Lanczos3));
    let linear = if block >= 2 {
        // Box-shrunk blocks come out premultiplied: the resizer must not multiply again.
        options = options.use_alpha(false);
        box_shrink::<C>(pixels, width, region, block, u16_type)
    } else {
        let height = u32::try_from(pixels.len() / C / width.max(1) as usize).unwrap_or(0);
        let src = ImageRef::new(width, height, pixels, u8_type).map_err(|_| resize_failed())?;
        let mut linear = Image::new(width, height, u16_type);
        srgb_mapper()
            .forward_map(&src, &mut linear)
            .map_err(|_| resize_failed())?;
        options = options.crop(
            f64::from(region.x),
            f64::from(region.y),
            f64::from(region.width),
            f64::from(region.height),
        );
        linear
    };
    let mut scaled = Image::new(out_width, out_height, u16_type);
    Resizer::new()
        .resize(&linear, &mut scaled, &options)
        .map_err(|e| ImageError::Invalid(format!("the image could not be resized: {e}")))?;
    if C == 4 && block >= 2 {
        MulDiv::default()
            .divide_alpha_inplace(&mut scaled)
            .map_err(|_| resize_failed())?;
    }
    let mut out = Image::new(out_width, out_height, u8_type);
    srgb_mapper()
        .backward_map(&scaled, &mut out)
        .map_err(|_| resize_failed())?;
    Ok(out.into_vec())
}

/// Averages `block`×`block` squares of `region` in linear light into a 16-bit image of whole
/// blocks. With alpha (`C` is 4) colour comes out premultiplied (the mean of linear × alpha/255)
/// and alpha is widened from 8 to 16 bits. The few rows and columns that do not fill a
/// block are split between the two edges so the result stays centred.
fn box_shrink<const C: usize>(
    pixels: &[u8],
    width: u32,
    region: Region,
    block: u32,
    pixel_type: PixelType,
) -> Image<'static> {
    let (out_width, out_height) = (region.width / block, region.height / block);
    let x0 = (region.x + region.width % block / 2) as usize;
    let y0 = (region.y + region.height % block / 2) as usize;
    let (block, stride) = (block as usize, width as usize * C);
    let to_linear = linear_table();
    let area = (block * block) as u64;
    let mut out = Image::new(out_width, out_height, pixel_type);
    let mut sums = vec![0u64; out_width as usize * C];
    for (out_row, dst) in out
        .buffer_mut()
        .chunks_exact_mut(out_width as usize * C * 2)
        .enumerate()
    {
        sums.fill(0);
        for row in 0..block {
            let start = (y0 + out_row * block + row) * stride + x0 * C;
            let src = &pixels[start..start + out_width as usize * block * C];
            for (sum, src) in sums.chunks_exact_mut(C).zip(src.chunks_exact(block * C)) {
                for px in src.chunks_exact(C) {
                    if C == 4 {
                        let alpha = u64::from(px[3]);
                        for c in 0..3 {
                            sum[c] += u64::from(to_linear[usize::from(px[c])]) * alpha;
                        }
                        sum[3] += alpha;
                    } else {
                        for c in 0..C {
                            sum[c] += u64::from(to_linear[usize::from(px[c])]);
                        }
                    }
                }
            }
        }
        for (i, (value, sum)) in dst.chunks_exact_mut(2).zip(&sums).enumerate() {
            let average = match (C, i % C) {
                (4, 3) => sum * 257 / area,
                (4, _) => sum / (area * 255),
                _ => sum / area,
            };
            value.copy_from_slice(&u16::try_from(average).unwrap_or(u16::MAX).to_ne_bytes());
        }
    }
    out
}

/// sRGB 8-bit code → linear light in 16 bits, with the same curve as [`srgb_mapper`].
fn linear_table() -> &'static [u16; 256] {
    static TABLE: OnceLock<[u16; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        std::array::from_fn(|code| {
            let v = code as f64 / 255.0;
            let linear = if v < 0.04045 {
                v / 12.92
            } else {
                ((v + 0.055) / 1.055).powf(2.4)
            };
            (linear * 65535.0).round() as u16
        })
    })
}

/// Building the mapper's tables costs more than a small resize, so it is built once.
fn srgb_mapper() -> &'static PixelComponentMapper {
    static MAPPER: OnceLock<PixelComponentMapper> = OnceLock::new();
    MAPPER.get_or_init(create_srgb_mapper)
}

fn resize_failed() -> ImageError {
    ImageError::Invalid("the image could not be resized".into())
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
