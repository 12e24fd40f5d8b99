//! The marker segments (T.81 Annex B) the decoder needs, parsed from their payloads, and the
//! geometry of the frame they describe.

use super::Stop;
use super::huffman::HuffmanTable;

/// What the frame header (SOF) declares, with the block geometry derived from it.
pub(super) struct Frame {
    pub(super) progressive: bool,
    /// X and Y: samples per line and lines.
    pub(super) width: u32,
    pub(super) height: u32,
    pub(super) components: Vec<FrameComponent>,
    pub(super) h_max: u32,
    pub(super) v_max: u32,
    /// MCUs per line and MCU rows of an interleaved scan.
    pub(super) mcus_x: u32,
    pub(super) mcus_y: u32,
}

pub(super) struct FrameComponent {
    /// Ci, how scan headers refer to the component.
    pub(super) id: u8,
    /// Hi and Vi.
    pub(super) h: u32,
    pub(super) v: u32,
    /// Tqi.
    pub(super) quant_table: usize,
    /// Blocks that cover the component's samples (what a non-interleaved scan codes).
    pub(super) blocks_x: u32,
    pub(super) blocks_y: u32,
    /// Blocks per line including the MCU padding of interleaved scans (the row stride of the
    /// component's coefficient store).
    pub(super) stride: u32,
    pub(super) rows: u32,
}

/// A scan header (SOS).
pub(super) struct ScanHeader {
    pub(super) components: Vec<ScanComponent>,
    /// Ss, Se: the spectral selection.
    pub(super) ss: u8,
    pub(super) se: u8,
    /// Ah, Al: the successive approximation bit positions.
    pub(super) ah: u8,
    pub(super) al: u8,
}

pub(super) struct ScanComponent {
    /// Index into [`Frame::components`].
    pub(super) index: usize,
    /// Td and Ta.
    pub(super) dc_table: usize,
    pub(super) ac_table: usize,
}

/// A quantization table in zig-zag order, as DQT stores it.
pub(super) type QuantTable = [u16; 64];

/// Reads the big-endian 16-bit number at `at`.
fn u16_at(bytes: &[u8], at: usize) -> Option<u16> {
    let pair = bytes.get(at..)?.first_chunk::<2>()?;
    Some(u16::from_be_bytes(*pair))
}

/// Where the next marker is, at or after `position`, and its code.
///
/// Any number of 0xFF fill bytes may precede a marker (T.81 B.1.1.2). Garbage between segments
/// is skipped as libjpeg does, since some writers leave a stray byte or two.
pub(super) fn next_marker(bytes: &[u8], mut position: usize) -> Result<(u8, usize), Stop> {
    loop {
        let rest = bytes.get(position..).ok_or(Stop::Truncated)?;
        let ff = rest
            .iter()
            .position(|&b| b == 0xFF)
            .ok_or(Stop::Truncated)?;
        position += ff;
        let mut code_at = position + 1;
        while bytes.get(code_at) == Some(&0xFF) {
            code_at += 1;
        }
        match bytes.get(code_at) {
            None => return Err(Stop::Truncated),
            // A stuffed zero outside entropy-coded data is garbage too.
            Some(0) => position = code_at + 1,
            Some(&code) => return Ok((code, code_at + 1)),
        }
    }
}

/// The payload of the marker segment whose length field is at `at`, and the position after it.
pub(super) fn segment(bytes: &[u8], at: usize) -> Result<(&[u8], usize), Stop> {
    let length = usize::from(u16_at(bytes, at).ok_or(Stop::Truncated)?);
    if length < 2 {
        return Err(Stop::Corrupt("bad marker segment length"));
    }
    let end = at + length;
    let payload = bytes.get(at + 2..end).ok_or(Stop::Truncated)?;
    Ok((payload, end))
}

/// SOF0, SOF1 or SOF2 (T.81 B.2.2).
pub(super) fn parse_frame(payload: &[u8], progressive: bool) -> Result<Frame, Stop> {
    let bad = || Stop::Corrupt("bad frame header");
    let [precision, y1, y0, x1, x0, count, ref specs @ ..] = *payload else {
        return Err(bad());
    };
    if precision != 8 {
        return Err(Stop::Unsupported);
    }
    let height = u32::from(u16::from_be_bytes([y1, y0]));
    let width = u32::from(u16::from_be_bytes([x1, x0]));
    match count {
        0 => return Err(bad()),
        1 | 3 => {}
        _ => return Err(Stop::Unsupported),
    }
    // Y = 0 means the height comes in a DNL segment after the first scan.
    if height == 0 {
        return Err(Stop::Unsupported);
    }
    if width == 0 || specs.len() != 3 * usize::from(count) {
        return Err(bad());
    }
    let mut components: Vec<FrameComponent> = Vec::with_capacity(usize::from(count));
    for spec in specs.chunks_exact(3) {
        let (id, h, v, quant_table) = (
            spec[0],
            u32::from(spec[1] >> 4),
            u32::from(spec[1] & 15),
            usize::from(spec[2]),
        );
        if !(1..=4).contains(&h) || !(1..=4).contains(&v) || quant_table > 3 {
            return Err(bad());
        }
        if components.iter().any(|c| c.id == id) {
            return Err(Stop::Unsupported);
        }
        components.push(FrameComponent {
            id,
            h,
            v,
            quant_table,
            blocks_x: 0,
            blocks_y: 0,
            stride: 0,
            rows: 0,
        });
    }
    let h_max = components.iter().map(|c| c.h).max().unwrap_or(1);
    let v_max = components.iter().map(|c| c.v).max().unwrap_or(1);
    // Fractional ratios such as 3:2 exist in the standard but not in practice, and libjpeg
    // does not upsample them either.
    if components
        .iter()
        .any(|c| h_max % c.h != 0 || v_max % c.v != 0)
    {
        return Err(Stop::Unsupported);
    }
    let mcus_x = width.div_ceil(8 * h_max);
    let mcus_y = height.div_ceil(8 * v_max);
    for c in &mut components {
        // T.81 A.1.1: a component has ceil(X · Hi / Hmax) samples per line.
        c.blocks_x = (width * c.h).div_ceil(h_max).div_ceil(8);
        c.blocks_y = (height * c.v).div_ceil(v_max).div_ceil(8);
        c.stride = mcus_x * c.h;
        c.rows = mcus_y * c.v;
    }
    Ok(Frame {
        progressive,
        width,
        height,
        components,
        h_max,
        v_max,
        mcus_x,
        mcus_y,
    })
}

/// DHT (T.81 B.2.4.2): any number of tables, each stored into its slot of `dc` or `ac`.
pub(super) fn parse_huffman_tables(
    mut payload: &[u8],
    dc: &mut [Option<HuffmanTable>; 4],
    ac: &mut [Option<HuffmanTable>; 4],
) -> Result<(), Stop> {
    let bad = || Stop::Corrupt("bad Huffman table");
    while let [class_and_slot, ref rest @ ..] = *payload {
        let counts: &[u8; 16] = rest.first_chunk().ok_or_else(bad)?;
        let total: usize = counts.iter().map(|&c| usize::from(c)).sum();
        let symbols = rest.get(16..16 + total).ok_or_else(bad)?;
        let table = HuffmanTable::new(counts, symbols).map_err(|_| bad())?;
        let slot = usize::from(class_and_slot & 15);
        match class_and_slot >> 4 {
            0 if slot < 4 && table.is_valid_dc() => dc[slot] = Some(table),
            1 if slot < 4 => ac[slot] = Some(table),
            _ => return Err(bad()),
        }
        payload = &rest[16 + total..];
    }
    Ok(())
}

/// DQT (T.81 B.2.4.1): any number of tables, 8- or 16-bit.
pub(super) fn parse_quant_tables(
    mut payload: &[u8],
    tables: &mut [Option<QuantTable>; 4],
) -> Result<(), Stop> {
    let bad = || Stop::Corrupt("bad quantization table");
    while let [precision_and_slot, ref rest @ ..] = *payload {
        let slot = usize::from(precision_and_slot & 15);
        let wide = match precision_and_slot >> 4 {
            0 => false,
            1 => true,
            _ => return Err(bad()),
        };
        let size = if wide { 128 } else { 64 };
        let values = rest.get(..size).ok_or_else(bad)?;
        let mut table = [0u16; 64];
        for (i, q) in table.iter_mut().enumerate() {
            *q = if wide {
                u16::from_be_bytes([values[2 * i], values[2 * i + 1]])
            } else {
                u16::from(values[i])
            };
        }
        *tables.get_mut(slot).ok_or_else(bad)? = Some(table);
        payload = &rest[size..];
    }
    Ok(())
}

/// DRI (T.81 B.2.4.4): MCUs per restart interval, 0 for none.
pub(super) fn parse_restart_interval(payload: &[u8]) -> Result<u32, Stop> {
    match *payload {
        [hi, lo] => Ok(u32::from(u16::from_be_bytes([hi, lo]))),
        _ => Err(Stop::Corrupt("bad restart interval")),
    }
}

/// The colour transform flag of an Adobe APP14 segment, if this APP14 is one.
pub(super) fn parse_adobe(payload: &[u8]) -> Option<u8> {
    match payload {
        [b'A', b'd', b'o', b'b', b'e', rest @ ..] => rest.get(6).copied(),
        _ => None,
    }
}

/// SOS (T.81 B.2.3), checked against the frame.
pub(super) fn parse_scan(payload: &[u8], frame: &Frame) -> Result<ScanHeader, Stop> {
    let bad = || Stop::Corrupt("bad scan header");
    let [count, ref rest @ ..] = *payload else {
        return Err(bad());
    };
    let count = usize::from(count);
    if !(1..=4).contains(&count) || rest.len() != 2 * count + 3 {
        return Err(bad());
    }
    let mut components: Vec<ScanComponent> = Vec::with_capacity(count);
    for spec in rest[..2 * count].chunks_exact(2) {
        let index = frame
            .components
            .iter()
            .position(|c| c.id == spec[0])
            .ok_or_else(bad)?;
        if components.iter().any(|c| c.index == index) {
            return Err(bad());
        }
        let (dc_table, ac_table) = (usize::from(spec[1] >> 4), usize::from(spec[1] & 15));
        if dc_table > 3 || ac_table > 3 {
            return Err(bad());
        }
        components.push(ScanComponent {
            index,
            dc_table,
            ac_table,
        });
    }
    // T.81 B.2.3: at most 10 blocks in an interleaved MCU.
    let blocks: u32 = components
        .iter()
        .map(|c| frame.components[c.index].h * frame.components[c.index].v)
        .sum();
    if count > 1 && blocks > 10 {
        return Err(bad());
    }
    let [ss, se, a] = rest[2 * count..] else {
        return Err(bad());
    };
    let scan = ScanHeader {
        components,
        ss,
        se,
        ah: a >> 4,
        al: a & 15,
    };
    // Sequential scans ignore Ss, Se, Ah and Al, as libjpeg does; progressive ones must make
    // sense (T.81 G.1.1.1.1): DC alone (and possibly interleaved) or one component's AC band.
    if frame.progressive {
        let valid = if scan.ss == 0 {
            scan.se == 0
        } else {
            scan.se >= scan.ss && scan.se <= 63 && count == 1
        };
        if !valid || scan.ah > 13 || scan.al > 13 {
            return Err(bad());
        }
    }
    Ok(scan)
}
