//! From coefficients to pixels at the reduced scale: sample planes, chroma upsampling and the
//! colour conversion.

/// One component's samples, row by row.
pub(super) struct Plane {
    pub(super) width: usize,
    pub(super) height: usize,
    pub(super) samples: Vec<u8>,
}

/// A component's decoded blocks: the lowest `size` × `size` frequencies of each, row by row,
/// one block after another, `stride` blocks per row.
pub(super) struct Blocks<'a> {
    pub(super) coefficients: &'a [i16],
    pub(super) stride: usize,
    pub(super) size: usize,
    /// The quantization table, in zig-zag order.
    pub(super) quant: &'a [u16; 64],
}

/// A component's samples at the reduced scale, cropped to `width` × `height`: each block
/// becomes `size` × `size` samples.
///
/// At 1/8 scale that is the block's mean, DC · Q0 / 8 + 128, exactly what the inverse DCT of
/// a block with only its DC coefficient gives (T.81 A.3.3) and rounded as libjpeg's 1×1 IDCT
/// does. Larger sizes take the inverse DCT of the kept frequencies alone, which samples the
/// block's continuous reconstruction at the centres of the larger pixels, as libjpeg's reduced
/// IDCTs since version 7 do. (libjpeg-turbo's add the higher odd frequencies, which brings
/// each pixel closer to the mean of those it covers but needs every coefficient decoded.)
pub(super) fn component_plane(blocks: &Blocks, width: usize, height: usize) -> Plane {
    let size = blocks.size;
    let mut samples = vec![128; width * height];
    if size == 1 {
        let q0 = i32::from(blocks.quant[0]);
        for (row, coefficients) in samples
            .chunks_exact_mut(width.max(1))
            .zip(blocks.coefficients.chunks(blocks.stride.max(1)))
        {
            for (sample, &coefficient) in row.iter_mut().zip(coefficients) {
                // |coefficient · q0| < 2^31: both fit in 16 bits, one of them unsigned.
                let mean = (i32::from(coefficient) * q0 + 4) >> 3;
                *sample = (mean + 128).clamp(0, 255) as u8;
            }
        }
    } else {
        reduced_idct(blocks, width, &mut samples);
    }
    Plane {
        width,
        height,
        samples,
    }
}

/// The inverse DCT (T.81 A.3.3) of each block's lowest `size` × `size` frequencies, evaluated
/// at the centres of `size` × `size` pixels instead of 8 × 8, written into `samples` (rows of
/// `width`; blocks past its edges are left out).
fn reduced_idct(blocks: &Blocks, width: usize, samples: &mut [u8]) {
    match blocks.size {
        2 => reduced_idct_n::<2, 4>(blocks, width, samples),
        _ => reduced_idct_n::<4, 16>(blocks, width, samples),
    }
}

/// [`reduced_idct`] for `N` × `N` samples per block (`KEPT` = N²), sized at compile time so
/// that the sums unroll.
fn reduced_idct_n<const N: usize, const KEPT: usize>(
    blocks: &Blocks,
    width: usize,
    samples: &mut [u8],
) {
    // basis[x][u] = C(u) / 2 · cos((2x + 1) u π / 2N), with C(0) = 1/√2.
    let mut basis = [[0.0f32; N]; N];
    for (x, row) in basis.iter_mut().enumerate() {
        for (u, value) in row.iter_mut().enumerate() {
            let c = if u == 0 {
                std::f32::consts::FRAC_1_SQRT_2
            } else {
                1.0
            };
            let angle = (2 * x + 1) as f32 * u as f32 * std::f32::consts::PI / (2 * N) as f32;
            *value = c / 2.0 * angle.cos();
        }
    }
    // The quantization step of each kept frequency, row by row.
    let mut steps = [0.0f32; KEPT];
    for (k, &natural) in super::scan::ZIGZAG.iter().enumerate() {
        let (row, column) = (usize::from(natural / 8), usize::from(natural % 8));
        if row < N && column < N {
            steps[row * N + column] = f32::from(blocks.quant[k]);
        }
    }
    let rows = samples.len() / width.max(1);
    for (index, block) in blocks.coefficients.chunks_exact(KEPT).enumerate() {
        let (x0, y0) = ((index % blocks.stride) * N, (index / blocks.stride) * N);
        if x0 >= width || y0 >= rows {
            continue;
        }
        let mut frequencies = [0.0f32; KEPT];
        for ((f, &c), &q) in frequencies.iter_mut().zip(block).zip(&steps) {
            *f = f32::from(c) * q;
        }
        // Along each row of frequencies, then down each column.
        let mut across = [[0.0f32; N]; N];
        for (v, out) in across.iter_mut().enumerate() {
            for (x, out) in out.iter_mut().enumerate() {
                *out = (0..N).map(|u| frequencies[v * N + u] * basis[x][u]).sum();
            }
        }
        for y in 0..N.min(rows - y0) {
            let row = &mut samples[(y0 + y) * width..][..width];
            for x in 0..N.min(width - x0) {
                let value: f32 = (0..N).map(|v| across[v][x] * basis[y][v]).sum();
                // Rounds half up, as the integer 1/8 path does; `as` saturates.
                row[x0 + x] = (value + 128.5).max(0.0) as u8;
            }
        }
    }
}

/// The two source samples (nearest first) and the weight of the second, out of 2·`factor`,
/// for output position `i` when upsampling by `factor` with sample centres aligned (linear
/// interpolation; for a factor of 2 this is libjpeg's "fancy" triangle filter, 3/4 and 1/4).
fn taps(i: usize, factor: usize, len: usize) -> (usize, usize, u32) {
    let nearest = (i / factor).min(len - 1);
    // Distance to the nearest source centre in units of 1 / (2 · factor).
    let distance = 2 * (i % factor) as isize + 1 - factor as isize;
    let other = if distance < 0 {
        nearest.saturating_sub(1)
    } else {
        (nearest + 1).min(len - 1)
    };
    (nearest, other, distance.unsigned_abs() as u32)
}

/// One row upsampled horizontally by `factor`, each sample scaled by 2·`factor`.
fn widen_row(row: &[u8], factor: usize, out: &mut [u16]) {
    match factor {
        1 => {
            for (out, &sample) in out.iter_mut().zip(row) {
                *out = 2 * u16::from(sample);
            }
        }
        2 => {
            // 3/4 of the sample and 1/4 of its neighbour on that side, the edges repeated.
            let previous = std::iter::once(row[0]).chain(row.iter().copied());
            let next = row
                .iter()
                .copied()
                .skip(1)
                .chain(std::iter::once(row[row.len() - 1]));
            let pairs = out.chunks_exact_mut(2);
            for (((pair, &sample), previous), next) in pairs.zip(row).zip(previous).zip(next) {
                let centre = 3 * u16::from(sample);
                pair[0] = centre + u16::from(previous);
                pair[1] = centre + u16::from(next);
            }
        }
        _ => {
            for (x, out) in out.iter_mut().enumerate() {
                let (near, far, far_weight) = taps(x, factor, row.len());
                let near_weight = 2 * factor as u32 - far_weight;
                *out =
                    (u32::from(row[near]) * near_weight + u32::from(row[far]) * far_weight) as u16;
            }
        }
    }
}

/// Upsamples `plane` by whole factors to `width` × `height` samples; the plane covers at least
/// that much once scaled (a component's last block may extend past the image).
///
/// Horizontally first into 16-bit rows, then vertically, so that each pass is a plain loop
/// over rows; the weights add up to 2·factor in each direction.
pub(super) fn upsample(
    plane: &Plane,
    factor_x: usize,
    factor_y: usize,
    width: usize,
    height: usize,
) -> Plane {
    let mut samples = vec![128; width * height];
    if plane.width == 0 || plane.height == 0 {
        return Plane {
            width,
            height,
            samples,
        };
    }
    let wide_width = plane.width * factor_x;
    let mut wide = vec![0u16; wide_width * plane.height];
    for (out, row) in wide
        .chunks_exact_mut(wide_width)
        .zip(plane.samples.chunks_exact(plane.width))
    {
        widen_row(row, factor_x, out);
    }
    let total = 4 * (factor_x * factor_y) as u32;
    for (y, out) in samples.chunks_exact_mut(width).enumerate() {
        let (near, far, far_weight) = taps(y, factor_y, plane.height);
        let near_weight = 2 * factor_y as u32 - far_weight;
        let near = &wide[near * wide_width..][..wide_width];
        let far = &wide[far * wide_width..][..wide_width];
        let blend = |(&near, &far): (&u16, &u16)| {
            u32::from(near) * near_weight + u32::from(far) * far_weight + total / 2
        };
        let pairs = out.iter_mut().zip(near.iter().zip(far).map(blend));
        if total.is_power_of_two() {
            let shift = total.trailing_zeros();
            pairs.for_each(|(out, sum)| *out = (sum >> shift) as u8);
        } else {
            pairs.for_each(|(out, sum)| *out = (sum / total) as u8);
        }
    }
    Plane {
        width,
        height,
        samples,
    }
}

/// YCbCr to RGB as JFIF defines it (full-range BT.601), in libjpeg's 16-bit fixed point.
pub(super) fn ycbcr_to_rgb(y: &Plane, cb: &Plane, cr: &Plane) -> Vec<u8> {
    const HALF: i32 = 1 << 15;
    let fix = |x: f64| (x * 65536.0 + 0.5) as i32;
    let (cr_r, cb_b, cr_g, cb_g) = (fix(1.402), fix(1.772), fix(0.71414), fix(0.34414));
    let mut rgb = vec![0; y.samples.len() * 3];
    let (pixels, _) = rgb.as_chunks_mut::<3>();
    for (((pixel, &y), &cb), &cr) in pixels
        .iter_mut()
        .zip(&y.samples)
        .zip(&cb.samples)
        .zip(&cr.samples)
    {
        let (y, cb, cr) = (i32::from(y), i32::from(cb) - 128, i32::from(cr) - 128);
        let r = y + ((cr_r * cr + HALF) >> 16);
        let g = y + ((-cb_g * cb - cr_g * cr + HALF) >> 16);
        let b = y + ((cb_b * cb + HALF) >> 16);
        *pixel = [r, g, b].map(|v| v.clamp(0, 255) as u8);
    }
    rgb
}

/// Components that already are R, G and B, interleaved.
pub(super) fn interleave(r: &Plane, g: &Plane, b: &Plane) -> Vec<u8> {
    let mut rgb = vec![0; r.samples.len() * 3];
    let (pixels, _) = rgb.as_chunks_mut::<3>();
    for (((pixel, &r), &g), &b) in pixels
        .iter_mut()
        .zip(&r.samples)
        .zip(&g.samples)
        .zip(&b.samples)
    {
        *pixel = [r, g, b];
    }
    rgb
}
