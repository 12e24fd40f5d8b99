//! Reading the entropy-coded data bit by bit, most significant bit first.
//!
//! The scan's entropy-coded segments have already been copied out of the file with the stuffed
//! zero bytes removed (see `entropy.rs`), so refilling is a plain big-endian load with no marker
//! checks: this is the innermost loop of the decoder.

/// A 64-bit window onto destuffed entropy-coded data.
///
/// `buffer` holds the next `count` bits left-aligned; the bits below them are either zero or
/// the correct following bits, so a refill may OR the same bytes in again.
pub(super) struct BitReader<'a> {
    data: &'a [u8],
    /// The next byte of `data` not yet in `buffer`.
    position: usize,
    buffer: u64,
    count: u32,
}

/// Bits a refill guarantees, enough for one Huffman code (≤ 16 bits) and its additional bits
/// (≤ 15 bits) with room to spare.
pub(super) const REFILL_BITS: u32 = 56;

impl<'a> BitReader<'a> {
    /// `data` must end with at least 8 zero bytes past the last entropy-coded segment, so that a
    /// refill inside the real data always finds a whole word.
    pub(super) fn new(data: &'a [u8]) -> Self {
        BitReader {
            data,
            position: 0,
            buffer: 0,
            count: 0,
        }
    }

    /// Starts over at byte `offset`, at the beginning of a restart interval.
    pub(super) fn seek(&mut self, offset: usize) {
        self.position = offset;
        self.buffer = 0;
        self.count = 0;
    }

    /// Tops the window up to at least [`REFILL_BITS`] bits without a branch on the count.
    ///
    /// Past the end of `data` the reader sees zero bits; the caller notices the overrun through
    /// [`BitReader::consumed_bytes_ceil`].
    #[inline(always)]
    pub(super) fn refill(&mut self) {
        let word = self
            .data
            .get(self.position..)
            .and_then(|rest| rest.first_chunk::<8>())
            .copied()
            .unwrap_or([0; 8]);
        self.buffer |= u64::from_be_bytes(word) >> self.count;
        // Whole bytes only: (63 - count) / 8 of them fit, which brings the count to count | 56.
        self.position += ((63 - self.count) >> 3) as usize;
        self.count |= REFILL_BITS;
    }

    /// The next `n` bits (1 ≤ n ≤ 32) without consuming them.
    #[inline(always)]
    pub(super) fn peek(&self, n: u32) -> u32 {
        (self.buffer >> (64 - n)) as u32
    }

    /// The next 16 bits, left-aligned, for the canonical-code comparison.
    #[inline(always)]
    pub(super) fn peek16(&self) -> u32 {
        (self.buffer >> 48) as u32
    }

    /// Drops `n` bits; `n` never exceeds what the last refill guaranteed.
    #[inline(always)]
    pub(super) fn consume(&mut self, n: u32) {
        debug_assert!(n <= self.count, "consumed {n} of {} bits", self.count);
        self.buffer <<= n;
        self.count = self.count.wrapping_sub(n);
    }

    /// Reads `n` bits (0 ≤ n ≤ 16) as an unsigned number.
    #[inline(always)]
    pub(super) fn bits(&mut self, n: u32) -> u32 {
        // Two shifts so that n = 0 yields 0 instead of an out-of-range shift.
        let value = ((self.buffer >> 32) >> (32 - n)) as u32;
        self.consume(n);
        value
    }

    /// Reads an `n`-bit additional-bits field (0 ≤ n ≤ 15) and turns it into the signed value
    /// it codes (T.81 F.2.2.1, EXTEND): a clear top bit means a negative value, v - 2^n + 1.
    ///
    /// Branch-free, because the sign of a DC difference is a coin toss for the predictor.
    #[inline(always)]
    pub(super) fn extended(&mut self, n: u32) -> i32 {
        let value = self.bits(n) as i32;
        // For n = 0 the "top bit" read is bit 31 of 0, and 1 - 2^0 = 0 adds nothing.
        let negative = ((value >> (n.wrapping_sub(1) & 31)) & 1) - 1;
        value + (negative & (1 - (1 << n)))
    }

    /// How many bits of `data` have been consumed, counted from its start.
    pub(super) fn consumed_bits(&self) -> usize {
        self.position * 8 - self.count as usize
    }

    /// How many bytes of `data` the decoded symbols reached into.
    pub(super) fn consumed_bytes_ceil(&self) -> usize {
        self.consumed_bits().div_ceil(8)
    }

    /// The next byte a refill would load; a cheap bound for noticing a runaway decode.
    pub(super) fn position(&self) -> usize {
        self.position
    }
}
