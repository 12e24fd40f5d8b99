//! Huffman tables (T.81 Annex C) and the two ways the decoder reads codes with them: one symbol
//! at a time, and whole runs of AC symbols skipped at once.

use super::bits::BitReader;

/// Codes up to this length resolve in one table look-up; longer ones (rare: they are the
/// least frequent symbols) take the canonical-code comparison of [`HuffmanTable::decode_from`].
const LOOKUP_BITS: u32 = 9;

/// A Huffman table as a DHT segment defines it, ready for decoding.
pub(super) struct HuffmanTable {
    /// Indexed by the next [`LOOKUP_BITS`] bits: `code length << 8 | symbol`, or 0 when the
    /// code there is longer (or does not exist).
    lookup: [u16; 1 << LOOKUP_BITS],
    /// `limits[l]`: one past the last code of length `l`, left-aligned in 16 bits, so the code
    /// at the head of the stream has length `l` for the smallest `l` with `peek16 < limits[l]`.
    limits: [u32; 17],
    /// `offsets[l]`: added to a code of length `l` gives its index in `symbols`.
    offsets: [i32; 17],
    /// BITS: how many codes there are of each length, 1 to 16.
    counts: [u8; 16],
    /// HUFFVAL, in order of increasing code length.
    symbols: Vec<u8>,
}

/// A Huffman code in the stream that the table does not define.
pub(super) struct BadCode;

/// A DHT table whose code lengths overflow their code space.
pub(super) struct BadTable;

impl HuffmanTable {
    /// Builds the table from BITS (`counts[l - 1]` codes of length `l`) and HUFFVAL.
    pub(super) fn new(counts: &[u8; 16], symbols: &[u8]) -> Result<Self, BadTable> {
        let mut table = HuffmanTable {
            lookup: [0; 1 << LOOKUP_BITS],
            limits: [0; 17],
            offsets: [0; 17],
            counts: *counts,
            symbols: symbols.to_vec(),
        };
        // Canonical code assignment (T.81 C.2): codes of one length are consecutive, and the
        // first code of the next length is one past the last, doubled.
        let mut code: u32 = 0;
        let mut index: usize = 0;
        for length in 1..=16u32 {
            table.offsets[length as usize] = index as i32 - code as i32;
            for _ in 0..counts[length as usize - 1] {
                if code >= 1 << length {
                    return Err(BadTable);
                }
                if length <= LOOKUP_BITS {
                    let symbol = *symbols.get(index).ok_or(BadTable)?;
                    let shift = LOOKUP_BITS - length;
                    let first = (code << shift) as usize;
                    let entry = (length as u16) << 8 | u16::from(symbol);
                    table.lookup[first..first + (1 << shift)].fill(entry);
                }
                code += 1;
                index += 1;
            }
            table.limits[length as usize] = code << (16 - length);
            code <<= 1;
        }
        if index != symbols.len() {
            return Err(BadTable);
        }
        Ok(table)
    }

    /// Decodes the code at the head of `reader`, which must hold at least 16 bits.
    #[inline(always)]
    pub(super) fn decode(&self, reader: &mut BitReader) -> Result<u8, BadCode> {
        let entry = self.lookup[reader.peek(LOOKUP_BITS) as usize];
        if entry != 0 {
            reader.consume(u32::from(entry >> 8));
            return Ok(entry as u8);
        }
        let (length, symbol) = self
            .decode_from(LOOKUP_BITS + 1, reader.peek16())
            .ok_or(BadCode)?;
        reader.consume(length);
        Ok(symbol)
    }

    /// The length and symbol of the code at the head of the left-aligned 16 bits `peek16`,
    /// a code known to be at least `shortest` bits long.
    ///
    /// Only the first `length` bits of `peek16` matter for the answer: each comparison with
    /// `limits[l]` looks at the top `l` bits only, as the limits are zero below.
    fn decode_from(&self, shortest: u32, peek16: u32) -> Option<(u32, u8)> {
        let length = (shortest..=16).find(|&l| peek16 < self.limits[l as usize])?;
        let code = (peek16 >> (16 - length)) as i32;
        let index = usize::try_from(code + self.offsets[length as usize]).ok()?;
        Some((length, *self.symbols.get(index)?))
    }

    /// Every code as (code, length, symbol), in canonical order (T.81 C.2).
    fn codes(&self) -> impl Iterator<Item = (u32, u32, u8)> + '_ {
        let lengths = (1..=16u32).flat_map(|length| {
            std::iter::repeat_n(length, usize::from(self.counts[length as usize - 1]))
        });
        let mut next = (0u32, 0u32);
        lengths.zip(&self.symbols).map(move |(length, &symbol)| {
            let (mut code, previous) = next;
            code <<= length - previous;
            next = (code + 1, length);
            (code, length, symbol)
        })
    }

    /// Every symbol is a valid DC magnitude category (T.81 F.1.2.1: at most 15 even for
    /// 16-bit coefficients), so the additional bits never exceed what a refill provides.
    pub(super) fn is_valid_dc(&self) -> bool {
        self.symbols.iter().all(|&s| s <= 15)
    }
}

/// How far an AC symbol (RRRRSSSS, T.81 F.1.2.2) moves the coefficient index `k`, with the
/// end of block (EOB) counted as a whole block so that `k ≥ 64` means "block done".
///
/// As in libjpeg, a zero SSSS with a run other than 15 ends the block: only 0x00 is a real EOB
/// in sequential mode, and the others do not occur in valid data.
pub(super) fn ac_advance(symbol: u8) -> u32 {
    let (run, size) = (u32::from(symbol >> 4), symbol & 15);
    match (run, size) {
        (15, 0) => 16,
        (_, 0) => 64,
        _ => run + 1,
    }
}

/// The additional bits that follow an AC symbol's code.
pub(super) fn ac_extra_bits(symbol: u8) -> u32 {
    u32::from(symbol & 15)
}

/// Index bits of an [`AcSkipTable`]: 8192 entries of 2 bytes, so that the luminance and the
/// chrominance table stay in the L1 cache together. Wider windows take more symbols per
/// look-up but fall out of the cache.
const SKIP_BITS: u32 = 13;

/// Skips the AC coefficients of sequential blocks without producing them, several symbols per
/// look-up: at 1/8 scale only the DC coefficient is used, but every AC symbol must still be
/// read to find where the next block starts.
///
/// An entry, indexed by the next [`SKIP_BITS`] bits, describes the longest run of whole symbols
/// (codes and additional bits) inside those bits, up to and including an EOB:
/// - bits 0..4: its length in bits (0 when not even one symbol fits);
/// - bits 4..10: the largest `k` at which the run stays inside the block, because past the
///   block's last coefficient the next bits belong to the next block's DC code (0: never);
/// - bits 10..16: how far it moves `k`; 63 when it ends with EOB, which ends the block from
///   any `k`.
///
/// When the run does not apply, one symbol is decoded the ordinary way.
pub(super) struct AcSkipTable {
    entries: Box<[u16; 1 << SKIP_BITS]>,
}

/// A run of whole AC symbols inside a window of bits, packed: bits used (0 for none), the sum
/// of their advances, and whether the last is EOB (whose advance is not in the sum).
#[derive(Clone, Copy, Default)]
struct Run(u16);

impl Run {
    fn new(used: u32, sum: u32, eob: bool) -> Self {
        Run((used | sum << 4 | u32::from(eob) << 11) as u16)
    }

    fn used(self) -> u32 {
        u32::from(self.0 & 15)
    }

    fn sum(self) -> u32 {
        u32::from(self.0 >> 4 & 127)
    }

    fn eob(self) -> bool {
        self.0 >> 11 != 0
    }
}

impl AcSkipTable {
    /// Builds the entries from the runs in every shorter window: the run in an `r`-bit window
    /// is its first symbol followed by the run in the bits after that symbol, a window of
    /// fewer bits. Each window is visited once, from the code that starts it, so the table
    /// costs about 2^(SKIP_BITS + 1) small steps: a small image should not pay more for its
    /// tables than for its pixels.
    pub(super) fn new(table: &HuffmanTable) -> Self {
        // runs[1 << r | w]: the run in the r-bit window w, for r = 0..=SKIP_BITS.
        let mut runs = vec![Run::default(); 2 << SKIP_BITS];
        for r in 1..=SKIP_BITS {
            let (shorter, windows) = runs.split_at_mut(1 << r);
            let windows = &mut windows[..1 << r];
            for (code, length, symbol) in table.codes() {
                let total = length + ac_extra_bits(symbol);
                if total > r {
                    continue;
                }
                // The windows that start with this code: for each value of its additional
                // bits, a copy of the runs in the rest of the window.
                let first = (code << (r - length)) as usize;
                let starting = &mut windows[first..first + (1 << (r - length))];
                let step = ac_advance(symbol);
                if step == 64 {
                    starting.fill(Run::new(total, 0, true));
                    continue;
                }
                let rest = r - total;
                let after = &shorter[1 << rest..2 << rest];
                let alone = Run::new(total, step, false);
                for copy in starting.chunks_exact_mut(after.len()) {
                    for (run, &after) in copy.iter_mut().zip(after) {
                        // Packed fields add up without carries: at most SKIP_BITS bits used
                        // and 63 + 16 coefficients.
                        let joined = Run(after.0 + alone.0);
                        *run = if joined.sum() + u32::from(joined.eob()) > 63 {
                            alone
                        } else {
                            joined
                        };
                    }
                }
            }
        }
        let mut entries = Box::new([0u16; 1 << SKIP_BITS]);
        for (entry, &run) in entries.iter_mut().zip(&runs[1 << SKIP_BITS..]) {
            if run.used() == 0 {
                continue;
            }
            let (sum, eob) = (run.sum(), run.eob());
            // Without EOB the run may end exactly on coefficient 63 (k reaches 64); an EOB
            // must itself come while k ≤ 63.
            let last_k = 64 - sum - u32::from(eob);
            // 63 ends the block from any k, like an EOB.
            let advance = if eob { 63 } else { sum };
            *entry = (run.used() | last_k << 4 | advance << 10) as u16;
        }
        AcSkipTable { entries }
    }

    /// Skips the AC coefficients of one block from coefficient `k` (1 for all of them) on.
    #[inline(always)]
    pub(super) fn skip_block(
        &self,
        table: &HuffmanTable,
        reader: &mut BitReader,
        mut k: u32,
    ) -> Result<(), BadCode> {
        if k >= 64 {
            return Ok(());
        }
        loop {
            // Four steps per refill: a run takes at most SKIP_BITS bits, 4 · 13 of the 56 a
            // refill guarantees, and the slow path refills for itself.
            reader.refill();
            for _ in 0..4 {
                self.step(table, reader, &mut k)?;
                if k >= 64 {
                    return Ok(());
                }
            }
        }
    }

    #[inline(always)]
    fn step(
        &self,
        table: &HuffmanTable,
        reader: &mut BitReader,
        k: &mut u32,
    ) -> Result<(), BadCode> {
        let entry = u32::from(self.entries[reader.peek(SKIP_BITS) as usize]);
        if *k <= (entry >> 4) & 63 {
            reader.consume(entry & 15);
            *k += entry >> 10;
        } else {
            reader.refill();
            let symbol = table.decode(reader)?;
            reader.consume(ac_extra_bits(symbol));
            *k += ac_advance(symbol);
            reader.refill();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// T.81 Table K.5's code lengths (the usual luminance AC table), over all 162 symbols.
    fn ac_table() -> HuffmanTable {
        let counts = [0, 2, 1, 3, 3, 2, 4, 3, 5, 5, 4, 4, 0, 0, 1, 0x7d];
        let mut symbols = vec![0x00];
        for run in 0..16u8 {
            symbols.extend((1..=10).map(|size| run << 4 | size));
        }
        symbols.push(0xF0);
        HuffmanTable::new(&counts, &symbols).ok().unwrap()
    }

    /// Code and length of every symbol of `table`, by brute force.
    fn codes(table: &HuffmanTable) -> [(u32, u32); 256] {
        let mut codes = [(0, 0); 256];
        for bits in (0..1 << 16).rev() {
            if let Some((length, symbol)) = table.decode_from(1, bits) {
                codes[usize::from(symbol)] = (bits >> (16 - length), length);
            }
        }
        codes
    }

    /// Bits without byte stuffing, as the reader sees them.
    #[derive(Default)]
    struct Bits {
        bytes: Vec<u8>,
        count: usize,
    }

    impl Bits {
        fn put(&mut self, value: u32, length: u32) {
            for i in (0..length).rev() {
                if self.count.is_multiple_of(8) {
                    self.bytes.push(0);
                }
                let bit = (value >> i & 1) as u8;
                *self.bytes.last_mut().unwrap() |= bit << (7 - self.count % 8);
                self.count += 1;
            }
        }
    }

    /// Blocks of random AC symbols: short and long codes, ZRL, blocks that end with EOB and
    /// blocks that fill all 63 coefficients without one.
    #[test]
    fn skipping_lands_where_decoding_symbol_by_symbol_does() {
        let table = ac_table();
        let skip = AcSkipTable::new(&table);
        let codes = codes(&table);
        let mut seed = 0x1234_5678_9ABC_DEF1u64;
        let mut random = move |n: u32| {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            (seed % u64::from(n)) as u32
        };
        let mut bits = Bits::default();
        let mut ends = Vec::new();
        for _ in 0..5000 {
            let mut k = 1;
            let dense = random(4) == 0;
            while k < 64 {
                if !dense && random(6) == 0 {
                    let (code, length) = codes[0x00];
                    bits.put(code, length);
                    break;
                }
                let run = if dense { 0 } else { random(16).min(63 - k) };
                let symbol = if run == 15 && random(2) == 0 && k + 16 <= 63 {
                    0xF0
                } else {
                    (run as u8) << 4 | (1 + random(10)) as u8
                };
                let (code, length) = codes[usize::from(symbol)];
                bits.put(code, length);
                bits.put(random(1 << 10), u32::from(symbol & 15));
                k += ac_advance(symbol);
            }
            ends.push(bits.count);
        }
        bits.bytes.extend([0; 8]);
        let mut reader = BitReader::new(&bits.bytes);
        for (block, &end) in ends.iter().enumerate() {
            reader.refill();
            skip.skip_block(&table, &mut reader, 1).ok().unwrap();
            assert_eq!(reader.consumed_bits(), end, "block {block}");
        }
    }

    #[test]
    fn additional_bits_extend_to_signed_values() {
        for size in 0..=15u32 {
            for value in [0u32, 1, (1 << size) / 2, (1 << size) - 1] {
                let value = value & ((1 << size) - 1);
                let mut bytes = (u64::from(value) << (64 - size.max(1)))
                    .to_be_bytes()
                    .to_vec();
                bytes.extend([0; 8]);
                let mut reader = BitReader::new(&bytes);
                reader.refill();
                let expected = if size == 0 {
                    0
                } else if value < 1 << (size - 1) {
                    value as i32 - (1 << size) + 1
                } else {
                    value as i32
                };
                assert_eq!(reader.extended(size), expected, "size {size} value {value}");
            }
        }
    }

    #[test]
    fn oversubscribed_tables_are_refused() {
        // Three codes of length 1.
        let mut counts = [0; 16];
        counts[0] = 3;
        assert!(HuffmanTable::new(&counts, &[1, 2, 3]).is_err());
        // Fewer symbols than the counts promise.
        counts[0] = 2;
        assert!(HuffmanTable::new(&counts, &[1]).is_err());
    }
}
