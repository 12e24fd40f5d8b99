//! A writer of DC-only JPEG files, for tests: every block is flat, so the expected 1/8-scale
//! image is known exactly, and the file structure (sampling factors, scan order, successive
//! approximation, restart intervals, colour transform) is whatever the test asks for, including
//! structures that no encoder at hand produces.

/// A Huffman code for each symbol that occurs: (code, length).
struct Codes([(u16, u8); 256]);

impl Codes {
    fn new(counts: &[u8; 16], symbols: &[u8]) -> Self {
        let mut codes = [(0, 0); 256];
        let (mut code, mut index) = (0u16, 0);
        for (length, &count) in (1u8..).zip(counts) {
            for _ in 0..count {
                codes[usize::from(symbols[index])] = (code, length);
                code += 1;
                index += 1;
            }
            code <<= 1;
        }
        Codes(codes)
    }
}

/// T.81 Table K.3, the usual luminance DC table: categories 0 to 11.
const DC_COUNTS: [u8; 16] = [0, 1, 5, 1, 1, 1, 1, 1, 1, 0, 0, 0, 0, 0, 0, 0];
const DC_SYMBOLS: [u8; 12] = [0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11];
/// An AC table with EOB (and, for variety, ZRL) only: every block has no AC coefficient.
const AC_COUNTS: [u8; 16] = [0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];
const AC_SYMBOLS: [u8; 2] = [0x00, 0xF0];

/// Entropy-coded bits, MSB first, with 0xFF bytes stuffed (T.81 F.1.2.3).
#[derive(Default)]
pub(super) struct BitWriter {
    pub(super) bytes: Vec<u8>,
    accumulator: u32,
    count: u32,
}

impl BitWriter {
    pub(super) fn put(&mut self, value: u32, length: u32) {
        for i in (0..length).rev() {
            self.accumulator = self.accumulator << 1 | (value >> i & 1);
            self.count += 1;
            if self.count == 8 {
                self.bytes.push(self.accumulator as u8);
                if self.accumulator == 0xFF {
                    self.bytes.push(0);
                }
                (self.accumulator, self.count) = (0, 0);
            }
        }
    }

    /// Pads the last byte with 1 bits.
    pub(super) fn flush(&mut self) {
        while self.count != 0 {
            self.put(1, 1);
        }
    }
}

/// Puts a DC difference (or an AC value) as magnitude category plus additional bits.
fn put_value(bits: &mut BitWriter, codes: &Codes, value: i32) {
    let category = 32 - value.unsigned_abs().leading_zeros();
    let (code, length) = codes.0[category as usize];
    bits.put(u32::from(code), u32::from(length));
    let extra = if value < 0 { value - 1 } else { value };
    bits.put(extra as u32 & ((1 << category) - 1), category);
}

/// How the DC-only file is laid out.
#[derive(Clone, Debug)]
pub(super) struct Layout {
    pub(super) width: u16,
    pub(super) height: u16,
    /// (Ci, Hi, Vi) per component.
    pub(super) components: Vec<(u8, u8, u8)>,
    pub(super) progressive: bool,
    /// Progressive only: the DC in a first scan with Al = 1 and a refinement scan.
    pub(super) successive: bool,
    /// All components in one scan (per pass) rather than one scan each.
    pub(super) interleaved: bool,
    pub(super) restart_interval: u16,
    pub(super) adobe_transform: Option<u8>,
    /// Q0 of the (only) quantization table.
    pub(super) q0: u8,
}

impl Layout {
    pub(super) fn new(width: u16, height: u16, sampling: &[(u8, u8)]) -> Self {
        Layout {
            width,
            height,
            components: (1..)
                .zip(sampling)
                .map(|(id, &(h, v))| (id, h, v))
                .collect(),
            progressive: false,
            successive: false,
            interleaved: true,
            restart_interval: 0,
            adobe_transform: None,
            q0: 8,
        }
    }

    fn max_sampling(&self) -> (usize, usize) {
        let h = self.components.iter().map(|c| usize::from(c.1)).max();
        let v = self.components.iter().map(|c| usize::from(c.2)).max();
        (h.unwrap_or(1), v.unwrap_or(1))
    }

    /// Blocks of component `c` that a non-interleaved scan codes (T.81 A.2.2).
    pub(super) fn component_blocks(&self, c: usize) -> (usize, usize) {
        let (h_max, v_max) = self.max_sampling();
        let (_, h, v) = self.components[c];
        let width = (usize::from(self.width) * usize::from(h)).div_ceil(h_max);
        let height = (usize::from(self.height) * usize::from(v)).div_ceil(v_max);
        (width.div_ceil(8), height.div_ceil(8))
    }

    /// The blocks a scan of `components` visits, MCU by MCU: (MCU number, component, x, y).
    fn scan_blocks(&self, components: &[usize]) -> Vec<(usize, usize, usize, usize)> {
        let mut blocks = Vec::new();
        if let [c] = components {
            let (blocks_x, blocks_y) = self.component_blocks(*c);
            for y in 0..blocks_y {
                for x in 0..blocks_x {
                    blocks.push((y * blocks_x + x, *c, x, y));
                }
            }
            return blocks;
        }
        let (h_max, v_max) = self.max_sampling();
        let mcus_x = usize::from(self.width).div_ceil(8 * h_max);
        let mcus_y = usize::from(self.height).div_ceil(8 * v_max);
        for mcu_y in 0..mcus_y {
            for mcu_x in 0..mcus_x {
                for &c in components {
                    let (_, h, v) = self.components[c];
                    let (h, v) = (usize::from(h), usize::from(v));
                    for y in 0..v {
                        for x in 0..h {
                            let mcu = mcu_y * mcus_x + mcu_x;
                            blocks.push((mcu, c, mcu_x * h + x, mcu_y * v + y));
                        }
                    }
                }
            }
        }
        blocks
    }

    /// The file, with `dc(component, x, y)` as the quantized DC coefficient of each block.
    pub(super) fn encode(&self, dc: impl Fn(usize, usize, usize) -> i32) -> Vec<u8> {
        let mut out = vec![0xFF, 0xD8];
        let segment = |out: &mut Vec<u8>, marker: u8, payload: &[u8]| {
            out.extend([0xFF, marker]);
            out.extend((payload.len() as u16 + 2).to_be_bytes());
            out.extend(payload);
        };
        if let Some(transform) = self.adobe_transform {
            let mut adobe = b"Adobe\x00\x64\x00\x00\x00\x00".to_vec();
            adobe.push(transform);
            segment(&mut out, 0xEE, &adobe);
        }
        let mut quant = vec![0, self.q0];
        quant.extend([1; 63]);
        segment(&mut out, 0xDB, &quant);
        let mut frame = vec![8];
        frame.extend(self.height.to_be_bytes());
        frame.extend(self.width.to_be_bytes());
        frame.push(self.components.len() as u8);
        for &(id, h, v) in &self.components {
            frame.extend([id, h << 4 | v, 0]);
        }
        segment(&mut out, if self.progressive { 0xC2 } else { 0xC0 }, &frame);
        let mut tables = vec![0x00];
        tables.extend(DC_COUNTS);
        tables.extend(DC_SYMBOLS);
        tables.push(0x10);
        tables.extend(AC_COUNTS);
        tables.extend(AC_SYMBOLS);
        segment(&mut out, 0xC4, &tables);
        if self.restart_interval != 0 {
            segment(&mut out, 0xDD, &self.restart_interval.to_be_bytes());
        }

        let all: Vec<usize> = (0..self.components.len()).collect();
        let groups: Vec<Vec<usize>> = if self.interleaved {
            vec![all.clone()]
        } else {
            all.iter().map(|&c| vec![c]).collect()
        };
        // (Ss, Se, Ah, Al) of each pass over the groups.
        let mut passes: Vec<(u8, u8, u8, u8)> = vec![];
        if !self.progressive {
            passes.push((0, 63, 0, 0));
        } else if self.successive {
            passes.extend([(0, 0, 0, 1), (0, 0, 1, 0)]);
        } else {
            passes.push((0, 0, 0, 0));
        }
        let mut scans: Vec<_> = passes
            .iter()
            .flat_map(|&pass| groups.iter().map(move |g| (g.clone(), pass)))
            .collect();
        if self.progressive {
            scans.extend(all.iter().map(|&c| (vec![c], (1, 63, 0, 0))));
        }

        let dc_codes = Codes::new(&DC_COUNTS, &DC_SYMBOLS);
        let ac_codes = Codes::new(&AC_COUNTS, &AC_SYMBOLS);
        for (components, (ss, se, ah, al)) in scans {
            let mut header = vec![components.len() as u8];
            for &c in &components {
                header.extend([self.components[c].0, 0x00]);
            }
            header.extend([ss, se, ah << 4 | al]);
            segment(&mut out, 0xDA, &header);
            let mut bits = BitWriter::default();
            let mut predictions = [0i32; 4];
            let mut current_mcu = 0;
            for (mcu, c, x, y) in self.scan_blocks(&components) {
                let interval = usize::from(self.restart_interval);
                if mcu != current_mcu && interval != 0 && mcu % interval == 0 {
                    bits.flush();
                    bits.bytes
                        .extend([0xFF, 0xD0 + ((mcu / interval - 1) % 8) as u8]);
                    predictions = [0; 4];
                }
                current_mcu = mcu;
                let value = dc(c, x, y);
                if ss != 0 {
                    // AC first scan: EOB, sometimes after a ZRL that changes nothing visible.
                    if (x + y) % 3 == 0 {
                        bits.put(u32::from(ac_codes.0[0xF0].0), u32::from(ac_codes.0[0xF0].1));
                    }
                    bits.put(u32::from(ac_codes.0[0].0), u32::from(ac_codes.0[0].1));
                } else if ah != 0 {
                    bits.put(value as u32 >> al & 1, 1);
                } else {
                    let shifted = value >> al;
                    put_value(&mut bits, &dc_codes, shifted - predictions[c]);
                    predictions[c] = shifted;
                    if !self.progressive {
                        bits.put(u32::from(ac_codes.0[0].0), u32::from(ac_codes.0[0].1));
                    }
                }
            }
            bits.flush();
            out.extend(bits.bytes);
        }
        out.extend([0xFF, 0xD9]);
        out
    }
}
