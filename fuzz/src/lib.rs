//! Helpers shared by the fuzz targets in `fuzz_targets/`: chunk patterns, a checker for the bytes
//! a connection transmits, and the driver behind `connection_server` and `connection_client`.

pub mod conn;
pub mod wire;

/// Cuts `len` bytes into chunks chosen by `seed`: 0 = one piece, 1 = one byte at a time, else
/// pseudo-random sizes (xorshift seeded by `seed`) up to a maximum that `seed` also picks.
/// Yields the end offset of each chunk; the last one is `len`.
pub fn chunk_ends(seed: u8, len: usize) -> Vec<usize> {
    let mut ends = Vec::new();
    match seed {
        0 => {}
        1 => ends.extend(1..len),
        _ => {
            let max = 1usize << (seed % 12);
            let mut x = u32::from(seed).wrapping_mul(0x9E37_79B9) | 1;
            let mut end = 0;
            loop {
                x ^= x << 13;
                x ^= x >> 17;
                x ^= x << 5;
                end += 1 + (x as usize % max);
                if end >= len {
                    break;
                }
                ends.push(end);
            }
        }
    }
    ends.push(len);
    ends
}

/// Whether `b` is valid UTF-8 or a valid prefix of it (it may stop inside a code point).
pub fn is_utf8_prefix(b: &[u8]) -> bool {
    match std::str::from_utf8(b) {
        Ok(_) => true,
        Err(e) => e.error_len().is_none(),
    }
}
