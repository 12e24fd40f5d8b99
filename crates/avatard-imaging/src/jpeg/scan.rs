//! Decoding one scan's entropy-coded data into the coefficients the reduced scale needs
//! (T.81 F.2 and G.2).
//!
//! At 1/8 scale a block is its DC coefficient, so a sequential scan decodes the DC difference
//! and skips the 63 AC coefficients, and a progressive DC scan decodes the DC bits it carries;
//! progressive AC scans never reach this module, they are skipped unread. At 1/4 and 1/2 scale
//! (sequential only) the block's lowest 2×2 or 4×4 frequencies are decoded and the rest skipped.

use super::Stop;
use super::bits::BitReader;
use super::entropy::EntropyData;
use super::huffman::{AcSkipTable, BadCode, HuffmanTable, ac_advance};
use super::markers::{Frame, ScanHeader};

impl From<BadCode> for Stop {
    fn from(_: BadCode) -> Self {
        Stop::Corrupt("bad Huffman code")
    }
}

/// Natural (row-major) position of the coefficient at each zig-zag index (T.81 Figure A.6).
pub(super) const ZIGZAG: [u8; 64] = [
    0, 1, 8, 16, 9, 2, 3, 10, 17, 24, 32, 25, 18, 11, 4, 5, 12, 19, 26, 33, 40, 48, 41, 34, 27, 20,
    13, 6, 7, 14, 21, 28, 35, 42, 49, 56, 57, 50, 43, 36, 29, 22, 15, 23, 30, 37, 44, 51, 58, 59,
    52, 45, 38, 31, 39, 46, 53, 60, 61, 54, 47, 55, 62, 63,
];

/// What a scan codes for each block, by scan component (at most four).
pub(super) trait BlockCoder {
    /// Decodes one block of scan component `component` into `block`, the block's kept
    /// coefficients (see [`Sequential`]); `prediction` is that component's DC predictor. The
    /// reader has just been refilled.
    fn block(
        &self,
        reader: &mut BitReader,
        component: usize,
        prediction: &mut i32,
        block: &mut [i16],
    ) -> Result<(), Stop>;
}

/// Sequential at 1/8 scale: DC difference, then AC coefficients, which are skipped. Apart
/// from [`Sequential`] so that the hottest loop carries nothing it does not need.
pub(super) struct SequentialDc<'t> {
    pub(super) dc: Vec<&'t HuffmanTable>,
    pub(super) ac: Vec<(&'t HuffmanTable, &'t AcSkipTable)>,
}

impl BlockCoder for SequentialDc<'_> {
    #[inline(always)]
    fn block(
        &self,
        reader: &mut BitReader,
        component: usize,
        prediction: &mut i32,
        block: &mut [i16],
    ) -> Result<(), Stop> {
        sequential_dc(reader, self.dc[component], prediction, block)?;
        let (table, skip) = self.ac[component];
        skip.skip_block(table, reader, 1)?;
        Ok(())
    }
}

/// Sequential: DC difference, then AC coefficients, of which each scan component's lowest
/// `size` × `size` frequencies are kept (row by row, in `block`) and the rest skipped.
pub(super) struct Sequential<'t> {
    dc: Vec<&'t HuffmanTable>,
    ac: Vec<(&'t HuffmanTable, &'t AcSkipTable)>,
    kept: Vec<Kept>,
}

/// Which coefficients of a block are kept.
struct Kept {
    /// The last zig-zag index that is: 0, 4 or 24.
    last: u32,
    /// Where each zig-zag index up to `last` goes in the block, if it is kept.
    places: [Option<u8>; 64],
}

impl<'t> Sequential<'t> {
    /// `sizes`, `dc` and `ac` by scan component.
    pub(super) fn new(
        sizes: &[usize],
        dc: Vec<&'t HuffmanTable>,
        ac: Vec<(&'t HuffmanTable, &'t AcSkipTable)>,
    ) -> Self {
        let kept = sizes
            .iter()
            .map(|&size| {
                let mut kept = Kept {
                    last: 0,
                    places: [None; 64],
                };
                for (k, &natural) in ZIGZAG.iter().enumerate() {
                    let (row, column) = (usize::from(natural / 8), usize::from(natural % 8));
                    if row < size && column < size {
                        kept.places[k] = Some((row * size + column) as u8);
                        kept.last = k as u32;
                    }
                }
                kept
            })
            .collect();
        Sequential { dc, ac, kept }
    }
}

impl BlockCoder for Sequential<'_> {
    #[inline(always)]
    fn block(
        &self,
        reader: &mut BitReader,
        component: usize,
        prediction: &mut i32,
        block: &mut [i16],
    ) -> Result<(), Stop> {
        sequential_dc(reader, self.dc[component], prediction, block)?;
        let (table, skip) = self.ac[component];
        let kept = &self.kept[component];
        let mut k = 1;
        while k <= kept.last {
            reader.refill();
            let symbol = table.decode(reader)?;
            let size = u32::from(symbol & 15);
            if size == 0 {
                k += ac_advance(symbol);
                continue;
            }
            k += u32::from(symbol >> 4);
            let value = reader.extended(size);
            let at = kept.places.get(k as usize).copied().flatten();
            if let Some(coefficient) = at.and_then(|at| block.get_mut(usize::from(at))) {
                *coefficient = value as i16;
            }
            k += 1;
        }
        skip.skip_block(table, reader, k)?;
        Ok(())
    }
}

/// Progressive DC first scan: the DC difference, scaled by 2^Al (T.81 G.1.2.1).
pub(super) struct DcFirst<'t> {
    pub(super) dc: Vec<&'t HuffmanTable>,
    pub(super) al: u8,
}

impl BlockCoder for DcFirst<'_> {
    #[inline(always)]
    fn block(
        &self,
        reader: &mut BitReader,
        component: usize,
        prediction: &mut i32,
        block: &mut [i16],
    ) -> Result<(), Stop> {
        *prediction = prediction.wrapping_add(dc_diff(reader, self.dc[component])?);
        if let Some(dc) = block.first_mut() {
            *dc = prediction.wrapping_shl(u32::from(self.al)) as i16;
        }
        Ok(())
    }
}

/// Progressive DC refinement: bit Al of every DC coefficient (T.81 G.1.2.1).
pub(super) struct DcRefine {
    pub(super) al: u8,
}

impl BlockCoder for DcRefine {
    #[inline(always)]
    fn block(
        &self,
        reader: &mut BitReader,
        _component: usize,
        _prediction: &mut i32,
        block: &mut [i16],
    ) -> Result<(), Stop> {
        let bit = (reader.bits(1) as i16) << self.al;
        if let Some(dc) = block.first_mut() {
            *dc |= bit;
        }
        Ok(())
    }
}

/// A sequential block's DC coefficient: the predictor plus the coded difference. As in libjpeg,
/// the coefficient keeps the low 16 bits of a runaway predictor.
#[inline(always)]
fn sequential_dc(
    reader: &mut BitReader,
    table: &HuffmanTable,
    prediction: &mut i32,
    block: &mut [i16],
) -> Result<(), Stop> {
    *prediction = prediction.wrapping_add(dc_diff(reader, table)?);
    if let Some(dc) = block.first_mut() {
        *dc = *prediction as i16;
    }
    Ok(())
}

/// The DC difference of one block (T.81 F.2.2.1).
#[inline(always)]
fn dc_diff(reader: &mut BitReader, table: &HuffmanTable) -> Result<i32, Stop> {
    let size = table.decode(reader)?;
    Ok(reader.extended(u32::from(size)))
}

/// One block of an MCU.
struct Slot {
    /// Index into the scan's components.
    component: usize,
    /// Index into the frame's components and so into the coefficient stores.
    store: usize,
    /// Offset in the store from the MCU's top-left block of this component.
    offset: usize,
    /// Coefficients kept per block of this component.
    kept: usize,
}

/// Decodes a scan into `stores`, the kept coefficients of each frame component (`kept[c]` per
/// block), blocks in raster order (`stride` × `rows` of [`super::markers::FrameComponent`]).
pub(super) fn decode_scan<C: BlockCoder>(
    frame: &Frame,
    scan: &ScanHeader,
    coder: &C,
    restart_interval: u32,
    data: &EntropyData,
    stores: &mut [Vec<i16>],
    kept: &[usize],
) -> Result<(), Stop> {
    // A non-interleaved scan has one block per MCU and covers only the component's own blocks
    // (T.81 A.2.2); an interleaved one covers whole MCUs, padding blocks included (A.2.3).
    // `mcu_steps` gives, per scan component, how far one MCU moves right and down in its store.
    let mut slots = Vec::new();
    let mut mcu_steps = Vec::new();
    let (mcus_x, mcus_y) = if let [only] = &scan.components[..] {
        let c = &frame.components[only.index];
        slots.push(Slot {
            component: 0,
            store: only.index,
            offset: 0,
            kept: kept.get(only.index).copied().unwrap_or(1),
        });
        mcu_steps.push((1, c.stride as usize));
        (c.blocks_x, c.blocks_y)
    } else {
        for (i, sc) in scan.components.iter().enumerate() {
            let c = &frame.components[sc.index];
            for v in 0..c.v {
                for h in 0..c.h {
                    slots.push(Slot {
                        component: i,
                        store: sc.index,
                        offset: (v * c.stride + h) as usize,
                        kept: kept.get(sc.index).copied().unwrap_or(1),
                    });
                }
            }
            mcu_steps.push((c.h as usize, (c.v * c.stride) as usize));
        }
        (frame.mcus_x, frame.mcus_y)
    };

    let mut reader = BitReader::new(&data.bytes);
    let mut intervals = data.intervals.iter();
    let mut interval_end = None;
    let mut to_next_restart = 0u32;
    let mut predictions = [0i32; 4];
    let mut origins = [0usize; 4];

    for mcu_y in 0..mcus_y as usize {
        for mcu_x in 0..mcus_x as usize {
            if to_next_restart == 0 {
                // Each restart interval starts byte-aligned with fresh DC predictions
                // (T.81 F.2.1.3.1); the previous one must not have read past its end.
                if interval_end.is_some_and(|end| reader.consumed_bytes_ceil() > end) {
                    return Err(Stop::Truncated);
                }
                let &(start, end) = intervals
                    .next()
                    .ok_or(Stop::Corrupt("missing restart marker"))?;
                reader.seek(start);
                interval_end = Some(end);
                to_next_restart = restart_interval;
                predictions = [0; 4];
            }
            to_next_restart = to_next_restart.wrapping_sub(1);

            for (origin, &(right, down)) in origins.iter_mut().zip(&mcu_steps) {
                *origin = mcu_y * down + mcu_x * right;
            }
            for slot in &slots {
                let index = (origins[slot.component] + slot.offset) * slot.kept;
                let block = stores
                    .get_mut(slot.store)
                    .and_then(|store| store.get_mut(index..index + slot.kept))
                    .ok_or(Stop::Corrupt("block outside the frame"))?;
                reader.refill();
                coder.block(
                    &mut reader,
                    slot.component,
                    &mut predictions[slot.component],
                    block,
                )?;
            }
            // A damaged stream can decode garbage from the zeros past its end for as long as
            // there are blocks; stop as soon as it is clearly past (a refill loads at most 8
            // bytes beyond what was consumed).
            if interval_end.is_some_and(|end| reader.position() > end + 8) {
                return Err(Stop::Truncated);
            }
        }
    }
    if interval_end.is_some_and(|end| reader.consumed_bytes_ceil() > end) {
        return Err(Stop::Truncated);
    }
    Ok(())
}
