//! YUV → RGB for decoded AV1 frames.
//!
//! The output is always 8 bits per channel: the rest of the pipeline (resizing, colour
//! management, encoding) works on 8-bit images and would convert a 16-bit one straight away, so
//! 10- and 12-bit samples are rounded once, here, from floating point, instead of twice.
//! Chroma is upsampled bilinearly with each sample sited at the centre of the luma samples it
//! covers (weights ¾ and ¼), as libyuv does; nearest-neighbour would leave visible 2×2 blocks
//! on sharp colour edges.

use image::{DynamicImage, GrayAlphaImage, GrayImage, RgbImage, RgbaImage};

use super::av1::{Frame, Layout, Plane, Samples};
use super::invalid;
use crate::ImageError;

/// How Y, Cb and Cr combine into R, G and B (ITU-T H.273 matrix coefficients).
#[derive(Clone, Copy, Debug, PartialEq)]
pub(super) enum Matrix {
    /// Y'CbCr with the luma weights of red and blue.
    YCbCr { kr: f32, kb: f32 },
    /// No matrix: the planes hold G, B and R (`MatrixCoefficients` 0).
    Identity,
    /// YCgCo (`MatrixCoefficients` 8).
    YCgCo,
}

impl Matrix {
    /// The matrix for an H.273 `MatrixCoefficients` value.
    pub(super) fn from_code(code: u16) -> Result<Matrix, ImageError> {
        let ycbcr = |kr, kb| Ok(Matrix::YCbCr { kr, kb });
        match code {
            0 => Ok(Matrix::Identity),
            1 => ycbcr(0.2126, 0.0722),
            // 2 is "unspecified": BT.601, as libavif assumes.
            2 | 5 | 6 => ycbcr(0.299, 0.114),
            4 => ycbcr(0.30, 0.11),
            7 => ycbcr(0.212, 0.087),
            8 => Ok(Matrix::YCgCo),
            9 => ycbcr(0.2627, 0.0593),
            other => Err(ImageError::Unsupported(format!(
                "AVIF images with matrix coefficients {other} are not supported"
            ))),
        }
    }

    /// The rows of the linear map from (Y, Cb, Cr) to (R, G, B), for Y in 0..=255 and chroma in
    /// −127.5..=127.5 (for the identity matrix, whose "chroma" planes hold B and R, 0..=255
    /// like Y).
    fn coefficients(self) -> [[f32; 3]; 3] {
        match self {
            Matrix::YCbCr { kr, kb } => {
                let kg = 1.0 - kr - kb;
                [
                    [1.0, 0.0, 2.0 * (1.0 - kr)],
                    [
                        1.0,
                        -2.0 * kb * (1.0 - kb) / kg,
                        -2.0 * kr * (1.0 - kr) / kg,
                    ],
                    [1.0, 2.0 * (1.0 - kb), 0.0],
                ]
            }
            Matrix::Identity => [[0.0, 0.0, 1.0], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0]],
            // Cb holds Cg and Cr holds Co.
            Matrix::YCgCo => [[1.0, -1.0, 1.0], [1.0, 1.0, 0.0], [1.0, -1.0, -1.0]],
        }
    }
}

/// How to turn a decoded colour frame (and optional alpha frame) into pixels.
pub(super) struct Conversion {
    pub(super) matrix: Matrix,
    pub(super) full_range: bool,
    /// The colour was multiplied by alpha before encoding (`prem`).
    pub(super) premultiplied: bool,
}

/// Converts `color` (and `alpha`, of the same size) to an 8-bit image: `Luma8` or `LumaA8` for
/// monochrome frames, `Rgb8` or `Rgba8` otherwise.
pub(super) fn to_image(
    color: &Frame,
    alpha: Option<&Frame>,
    conversion: &Conversion,
) -> Result<DynamicImage, ImageError> {
    let broken = || invalid("the decoder returned unusable planes");
    let (width, height) = (color.width(), color.height());
    let luma = color.plane(0).ok_or_else(broken)?;
    let mut chroma = match color.layout() {
        Layout::Monochrome => None,
        layout => {
            if conversion.matrix == Matrix::Identity && layout != Layout::Yuv444 {
                return Err(invalid("identity matrix coefficients need 4:4:4 sampling"));
            }
            let cb = color.plane(1).ok_or_else(broken)?;
            let cr = color.plane(2).ok_or_else(broken)?;
            Some(ChromaRows::new(cb, cr, layout, width))
        }
    };
    let alpha = match alpha {
        Some(frame) => Some((
            frame.plane(0).ok_or_else(broken)?,
            full_range_lut(frame.bit_depth()),
        )),
        None => None,
    };
    let ranges = Ranges::new(color.bit_depth(), conversion.full_range, conversion.matrix);
    let coefficients = conversion.matrix.coefficients();
    let channels = match (chroma.is_some(), alpha.is_some()) {
        (false, false) => 1,
        (false, true) => 2,
        (true, false) => 3,
        (true, true) => 4,
    };

    let mut out = vec![0u8; width * height * channels];
    let mut y_row = vec![0f32; width];
    let mut a_row = vec![0f32; width];
    for (y, out_row) in out.chunks_exact_mut(width * channels).enumerate() {
        read_row(&luma, y, &ranges.luma, &mut y_row);
        if let Some(chroma) = &mut chroma {
            let (cb_row, cr_row) = chroma.row(y, &ranges.chroma);
            // The pixel size as a constant lets the compiler unroll and vectorise the loop.
            if channels == 4 {
                rgb_row::<4>(out_row, &y_row, cb_row, cr_row, &coefficients);
            } else {
                rgb_row::<3>(out_row, &y_row, cb_row, cr_row, &coefficients);
            }
        } else {
            for (pixel, y) in out_row.chunks_exact_mut(channels).zip(&y_row) {
                pixel[0] = to_u8(*y);
            }
        }
        if let Some((plane, lut)) = &alpha {
            read_row(plane, y, lut, &mut a_row);
            for (pixel, a) in out_row.chunks_exact_mut(channels).zip(&a_row) {
                if let Some((alpha_slot, color)) = pixel.split_last_mut() {
                    *alpha_slot = to_u8(*a);
                    if conversion.premultiplied {
                        for c in color {
                            *c = unpremultiply(*c, *alpha_slot);
                        }
                    }
                }
            }
        }
    }

    let (w, h) = (width as u32, height as u32);
    let image = match channels {
        1 => GrayImage::from_raw(w, h, out).map(DynamicImage::ImageLuma8),
        2 => GrayAlphaImage::from_raw(w, h, out).map(DynamicImage::ImageLumaA8),
        3 => RgbImage::from_raw(w, h, out).map(DynamicImage::ImageRgb8),
        _ => RgbaImage::from_raw(w, h, out).map(DynamicImage::ImageRgba8),
    };
    image.ok_or_else(broken)
}

/// Fills the colour channels of a row of `C`-byte pixels.
fn rgb_row<const C: usize>(
    out: &mut [u8],
    y_row: &[f32],
    cb_row: &[f32],
    cr_row: &[f32],
    [r, g, b]: &[[f32; 3]; 3],
) {
    let pixels = out.chunks_exact_mut(C);
    for (((pixel, &y), &cb), &cr) in pixels.zip(y_row).zip(cb_row).zip(cr_row) {
        pixel[0] = to_u8(r[0] * y + r[1] * cb + r[2] * cr);
        pixel[1] = to_u8(g[0] * y + g[1] * cb + g[2] * cr);
        pixel[2] = to_u8(b[0] * y + b[1] * cb + b[2] * cr);
    }
}

/// Lookup tables from a sample value to Y on the 0..=255 scale and chroma on −127.5..=127.5.
struct Ranges {
    luma: Vec<f32>,
    chroma: Vec<f32>,
}

impl Ranges {
    fn new(depth: u8, full_range: bool, matrix: Matrix) -> Ranges {
        let max = (1u32 << depth) - 1;
        let scale = f32::from(1u16 << (depth - 8));
        let (y_offset, y_span, c_span) = if full_range {
            (0.0, max as f32, max as f32)
        } else {
            (16.0 * scale, 219.0 * scale, 224.0 * scale)
        };
        let c_center = if matrix == Matrix::Identity {
            // B and R, coded like G.
            y_offset
        } else {
            f32::from(1u16 << (depth - 1))
        };
        let c_span = if matrix == Matrix::Identity {
            y_span
        } else {
            c_span
        };
        Ranges {
            luma: (0..=max)
                .map(|v| (v as f32 - y_offset) * 255.0 / y_span)
                .collect(),
            chroma: (0..=max)
                .map(|v| (v as f32 - c_center) * 255.0 / c_span)
                .collect(),
        }
    }
}

/// Alpha is always full range (as in libavif since 1.0).
fn full_range_lut(depth: u8) -> Vec<f32> {
    let max = (1u32 << depth) - 1;
    (0..=max).map(|v| v as f32 * 255.0 / max as f32).collect()
}

/// Produces the Cb and Cr rows for each luma row, upsampled to luma width.
struct ChromaRows<'a> {
    planes: [Plane<'a>; 2],
    /// Horizontal and vertical subsampling shifts.
    shifts: (u32, u32),
    /// Scratch: the two chroma rows a luma row lies between, for each plane.
    near: [Vec<f32>; 2],
    far: [Vec<f32>; 2],
    /// The result, at luma width.
    out: [Vec<f32>; 2],
}

impl<'a> ChromaRows<'a> {
    fn new(cb: Plane<'a>, cr: Plane<'a>, layout: Layout, width: usize) -> Self {
        let chroma_width = cb.width;
        ChromaRows {
            planes: [cb, cr],
            shifts: layout.shifts(),
            near: [vec![0.0; chroma_width], vec![0.0; chroma_width]],
            far: [vec![0.0; chroma_width], vec![0.0; chroma_width]],
            out: [vec![0.0; width], vec![0.0; width]],
        }
    }

    fn row(&mut self, y: usize, lut: &[f32]) -> (&[f32], &[f32]) {
        let (shift_x, shift_y) = self.shifts;
        for (index, plane) in self.planes.iter().enumerate() {
            let (near_y, far_y) = taps(y, shift_y, plane.height);
            let near = &mut self.near[index];
            let far = &mut self.far[index];
            read_row(plane, near_y, lut, near);
            if shift_y == 1 {
                read_row(plane, far_y, lut, far);
                for (n, f) in near.iter_mut().zip(far.iter()) {
                    *n = 0.75 * *n + 0.25 * f;
                }
            }
            let out = &mut self.out[index];
            if shift_x == 0 {
                for (o, n) in out.iter_mut().zip(near.iter()) {
                    *o = *n;
                }
            } else {
                upsample_row(near, out);
            }
        }
        (&self.out[0], &self.out[1])
    }
}

/// The two chroma rows that luma row `y` lies between under 2× vertical subsampling: the
/// nearer one (weight ¾) and the farther one (¼), clamped to the plane.
fn taps(y: usize, shift: u32, chroma_height: usize) -> (usize, usize) {
    let last = chroma_height.saturating_sub(1);
    if shift == 0 {
        return (y.min(last), y.min(last));
    }
    let near = (y >> 1).min(last);
    let far = if y.is_multiple_of(2) {
        near.saturating_sub(1)
    } else {
        (near + 1).min(last)
    };
    (near, far)
}

/// Doubles the width of a chroma row: output pixels 2i and 2i + 1 take ¾ of sample i and ¼ of
/// its left and right neighbour respectively (the edge sample standing in for a missing one).
fn upsample_row(chroma: &[f32], out: &mut [f32]) {
    let last = chroma.len().saturating_sub(1);
    for (i, pair) in out.chunks_mut(2).enumerate() {
        let (Some(&left), Some(&centre), Some(&right)) = (
            chroma.get(i.saturating_sub(1)),
            chroma.get(i.min(last)),
            chroma.get((i + 1).min(last)),
        ) else {
            return;
        };
        pair[0] = 0.75 * centre + 0.25 * left;
        if let Some(second) = pair.get_mut(1) {
            *second = 0.75 * centre + 0.25 * right;
        }
    }
}

/// Reads row `y` of `plane` through `lut` into `out` (as long as the plane is wide).
fn read_row(plane: &Plane<'_>, y: usize, lut: &[f32], out: &mut [f32]) {
    let start = y * plane.stride;
    let last = lut.len() - 1;
    match plane.samples {
        Samples::Eight(samples) => {
            let row = samples.get(start..start + plane.width).unwrap_or_default();
            for (o, &v) in out.iter_mut().zip(row) {
                *o = lut[usize::from(v).min(last)];
            }
        }
        Samples::Sixteen(samples) => {
            let row = samples.get(start..start + plane.width).unwrap_or_default();
            for (o, &v) in out.iter_mut().zip(row) {
                *o = lut[usize::from(v).min(last)];
            }
        }
    }
}

/// Undoes premultiplication of an 8-bit channel by an 8-bit alpha, rounding.
fn unpremultiply(value: u8, alpha: u8) -> u8 {
    if alpha == 0 {
        return 0;
    }
    let value = (u32::from(value) * 255 + u32::from(alpha) / 2) / u32::from(alpha);
    value.min(255) as u8
}

/// Rounds a value on the 0..=255 scale to a byte; `as` saturates out-of-range values (and maps
/// NaN to 0).
fn to_u8(value: f32) -> u8 {
    (value + 0.5) as u8
}
