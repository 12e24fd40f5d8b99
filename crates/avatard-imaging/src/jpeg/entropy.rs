//! Finding where a scan's entropy-coded data ends, and copying it out without the stuffed
//! zero bytes and the restart markers (T.81 B.1.1.5, F.1.2.3).
//!
//! Doing this in a separate pass keeps the Huffman decoder free of marker checks: in the copy,
//! every byte is data. It costs one memcpy-speed pass over the scan.

use super::Stop;

/// One scan's entropy-coded data, destuffed, followed by [`PADDING`] zero bytes.
pub(super) struct EntropyData {
    pub(super) bytes: Vec<u8>,
    /// Start and end of each restart interval within `bytes`.
    pub(super) intervals: Vec<(usize, usize)>,
}

/// Zero bytes after the data so that [`super::bits::BitReader`] can always load a whole word.
const PADDING: usize = 8;

/// The first 0xFF at or after `from`; 32 bytes at a time, as 0xFF is rare in entropy-coded
/// data and the scan may be megabytes long.
fn find_ff(bytes: &[u8], from: usize) -> Option<usize> {
    // Sets the high bit of each byte of `word` that is 0xFF (and possibly of bytes above one:
    // only whether there is one counts here).
    fn has_ff(word: &[u8; 8]) -> u64 {
        let inverted = !u64::from_le_bytes(*word);
        inverted.wrapping_sub(0x0101_0101_0101_0101) & !inverted & 0x8080_8080_8080_8080
    }
    let rest = bytes.get(from..)?;
    let (chunks, tail) = rest.as_chunks::<32>();
    for (i, chunk) in chunks.iter().enumerate() {
        let (words, _) = chunk.as_chunks::<8>();
        if words.iter().fold(0, |found, word| found | has_ff(word)) != 0 {
            let at = chunk.iter().position(|&b| b == 0xFF)?;
            return Some(from + i * 32 + at);
        }
    }
    let at = tail.iter().position(|&b| b == 0xFF)?;
    Some(from + chunks.len() * 32 + at)
}

/// The position of the marker that ends the entropy-coded data starting at `start`: the first
/// 0xFF that is neither a stuffed 0xFF00, nor a restart marker, nor a fill byte.
pub(super) fn find_end(bytes: &[u8], start: usize) -> Result<usize, Stop> {
    let mut position = start;
    loop {
        let ff = find_ff(bytes, position).ok_or(Stop::Truncated)?;
        match bytes.get(ff + 1) {
            None => return Err(Stop::Truncated),
            Some(0x00 | 0xD0..=0xD7) => position = ff + 2,
            Some(0xFF) => position = ff + 1,
            Some(_) => return Ok(ff),
        }
    }
}

/// Copies the entropy-coded data starting at `start` without stuffing and restart markers,
/// and finds where it ends (as [`find_end`] does) in the same pass.
pub(super) fn extract(bytes: &[u8], start: usize) -> Result<(EntropyData, usize), Stop> {
    // The data cannot be longer than the rest of the file; pages never written to cost nothing.
    let mut data = Vec::with_capacity(bytes.len().saturating_sub(start) + PADDING);
    let mut intervals = Vec::new();
    let mut interval_start = 0;
    let mut position = start;
    let end = loop {
        let ff = find_ff(bytes, position).ok_or(Stop::Truncated)?;
        data.extend_from_slice(bytes.get(position..ff).unwrap_or_default());
        match bytes.get(ff + 1) {
            None => return Err(Stop::Truncated),
            Some(0x00) => {
                data.push(0xFF);
                position = ff + 2;
            }
            Some(0xD0..=0xD7) => {
                intervals.push((interval_start, data.len()));
                interval_start = data.len();
                position = ff + 2;
            }
            // A fill byte, before a restart marker or the marker that ends the data.
            Some(0xFF) => position = ff + 1,
            Some(_) => break ff,
        }
    };
    intervals.push((interval_start, data.len()));
    data.resize(data.len() + PADDING, 0);
    let data = EntropyData {
        bytes: data,
        intervals,
    };
    Ok((data, end))
}
