//! The masking engine (RFC 6455 section 5.3).
//!
//! Owns one operation: XOR a buffer in place with a 4-byte key, starting at any offset into the
//! key, because payloads arrive (and are unmasked) in chunks. [`apply_mask`] is the fast path;
//! [`apply_mask_scalar`] is the byte-at-a-time reference that the fast path is tested against.
//! The fast path is written in safe Rust: it XORs eight bytes at a time through `u64`, which the
//! compiler turns into SIMD (SSE2 on x86_64, NEON on aarch64). On x86_64 with `std`, the same
//! loop is also compiled for AVX2 and chosen at run time; the one `unsafe` block is that call.
//!
//! Also owns where a client's masking keys come from ([`MaskSource`]): the core never draws from a
//! global generator.
// One `unsafe` block: calling the AVX2 build of the masking loop once the CPU is known to
// have AVX2 (see `mask_blocks_fastest`).
#![deny(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

/// A source of masking keys for a client's frames. With `std` the default draws them from a
/// ChaCha generator seeded once from the operating system; without it, give one (for example
/// [`RngMasks`] over the device's generator). Tests inject fixed keys.
pub trait MaskSource: Send {
    /// The key for the next frame.
    fn next_mask(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4] + Send> MaskSource for F {
    fn next_mask(&mut self) -> [u8; 4] {
        self()
    }
}

/// Masking keys from any random number generator of `rand`'s: the device's hardware generator,
/// or a cryptographic one seeded from it. What a client without `std` gives
/// [`Connection::client_with`](crate::Connection::client_with).
#[derive(Debug)]
pub struct RngMasks<R>(pub R);

impl<R: rand::Rng + Send> MaskSource for RngMasks<R> {
    fn next_mask(&mut self) -> [u8; 4] {
        self.0.next_u32().to_ne_bytes()
    }
}

/// The default source: a generator seeded from the operating system's entropy.
#[cfg(feature = "std")]
pub(crate) fn default_mask_source() -> Box<dyn MaskSource> {
    use rand::SeedableRng;
    // The OS entropy source failing at this point leaves no safe way to mask (RFC 6455 10.3
    // requires unpredictable keys); a client cannot proceed without one.
    let rng = rand::rngs::StdRng::try_from_rng(&mut rand::rngs::SysRng)
        .expect("operating system random source unavailable");
    Box::new(RngMasks(rng))
}

/// Without `std` there is no entropy to seed from: a client connection made by
/// [`Connection::open`](crate::Connection::open) that was not given a source
/// ([`Connection::with_mask_source`](crate::Connection::with_mask_source)) masks with keys
/// from this fixed-seed generator, which the network can predict (RFC 6455 10.3 wants them
/// unpredictable). Give it a source.
#[cfg(not(feature = "std"))]
pub(crate) fn default_mask_source() -> Box<dyn MaskSource> {
    let mut state: u64 = 0x9e37_79b9_7f4a_7c15;
    Box::new(move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        (state as u32).to_ne_bytes()
    })
}

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the masked payload.
///
/// The reference implementation: one byte at a time.
pub fn apply_mask_scalar(buf: &mut [u8], key: [u8; 4], offset: usize) {
    for (i, b) in buf.iter_mut().enumerate() {
        *b ^= key[offset.wrapping_add(i) & 3];
    }
}

/// XORs `buf` with `key`, as if `buf` started `offset` bytes into the masked payload.
///
/// Masking and unmasking are the same operation.
///
/// ```
/// use websock::proto::mask::apply_mask;
/// let key = [0x37, 0xfa, 0x21, 0x3d];
/// let mut data = *b"Hello";
/// apply_mask(&mut data, key, 0);
/// assert_eq!(data, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// // Unmask in two chunks: the second starts 2 bytes into the key.
/// let (a, b) = data.split_at_mut(2);
/// apply_mask(a, key, 0);
/// apply_mask(b, key, 2);
/// assert_eq!(&data, b"Hello");
/// ```
#[inline]
pub fn apply_mask(buf: &mut [u8], key: [u8; 4], offset: usize) {
    // Rotate the key so that index 0 of `buf` lines up with key byte 0.
    let k = u32::from_le_bytes(key).rotate_right(8 * (offset as u32 & 3));
    let k32 = k.to_le_bytes();
    if buf.len() < 16 {
        apply_mask_scalar(buf, k32, 0);
        return;
    }
    let k64 = u64::from_le_bytes([
        k32[0], k32[1], k32[2], k32[3], k32[0], k32[1], k32[2], k32[3],
    ]);
    // Four words per step gives the vectoriser a 32-byte body; the tail goes word by word, then
    // byte by byte. Each step covers a multiple of 4 bytes, so the key phase never shifts.
    let (blocks, rest) = buf.as_chunks_mut::<32>();
    mask_blocks_fastest(blocks, k64);
    let (words, tail) = rest.as_chunks_mut::<8>();
    for word in words {
        *word = (u64::from_le_bytes(*word) ^ k64).to_le_bytes();
    }
    apply_mask_scalar(tail, k32, 0);
}

/// XORs whole 32-byte blocks with the key repeated: the loop the compiler vectorises (SSE2 on
/// any x86_64, one 16-byte register per step).
#[inline(always)]
fn mask_blocks(blocks: &mut [[u8; 32]], k64: u64) {
    for block in blocks {
        for word in block.as_chunks_mut::<8>().0 {
            *word = (u64::from_le_bytes(*word) ^ k64).to_le_bytes();
        }
    }
}

/// The same loop compiled for AVX2 (32-byte registers): half the instructions of the SSE2 build
/// on a large payload. Safe code; only calling it needs the CPU to have AVX2.
#[cfg(all(feature = "std", target_arch = "x86_64"))]
#[target_feature(enable = "avx2")]
fn mask_blocks_avx2(blocks: &mut [[u8; 32]], k64: u64) {
    mask_blocks(blocks, k64)
}

/// [`mask_blocks`] with the widest registers the CPU has, detected at run time (std caches the
/// answer): AVX2 on x86_64 when present and the payload is worth it, the baseline build
/// otherwise. aarch64's baseline already has NEON, which the plain loop uses.
#[inline]
fn mask_blocks_fastest(blocks: &mut [[u8; 32]], k64: u64) {
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    if blocks.len() >= 4 && ::std::is_x86_feature_detected!("avx2") {
        // SAFETY: the one requirement of calling a `#[target_feature(enable = "avx2")]`
        // function is that the CPU supports AVX2, which was checked just above. Its body is
        // safe code; `fast_equals_scalar_every_length_and_offset` and `avx2_equals_scalar`
        // hold it equal to the byte-at-a-time reference, and Miri runs them.
        #[allow(unsafe_code)]
        unsafe {
            mask_blocks_avx2(blocks, k64)
        };
        return;
    }
    mask_blocks(blocks, k64);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc_example() {
        // RFC 6455 5.7: "Hello" masked with 37 fa 21 3d.
        let mut d = *b"Hello";
        apply_mask(&mut d, [0x37, 0xfa, 0x21, 0x3d], 0);
        assert_eq!(d, [0x7f, 0x9f, 0x4d, 0x51, 0x58]);
    }

    /// The property the fast path must hold: equal to the reference for every length 0..=1024,
    /// every key offset, and every alignment of the slice in memory.
    #[test]
    fn fast_equals_scalar_every_length_and_offset() {
        let key = [0x12, 0x9a, 0xfe, 0x01];
        let src: Vec<u8> = (0..1024 + 8).map(|i| (i * 31 + 7) as u8).collect();
        // Under Miri (which interprets every step) lengths up to 100 still take every path:
        // the scalar short path, 32-byte blocks, the word tail and the byte tail.
        let max = if cfg!(miri) { 100 } else { 1024 };
        for len in 0..=max {
            for offset in 0..4 {
                for align in [0usize, 1, 3] {
                    let mut a = src[align..align + len].to_vec();
                    let mut b = a.clone();
                    apply_mask(&mut a, key, offset);
                    apply_mask_scalar(&mut b, key, offset);
                    assert_eq!(a, b, "len {len} offset {offset} align {align}");
                }
            }
        }
    }

    /// The AVX2 build, called directly, against the reference (where the CPU has AVX2).
    #[cfg(all(feature = "std", target_arch = "x86_64"))]
    #[test]
    fn avx2_equals_scalar() {
        if !::std::is_x86_feature_detected!("avx2") {
            return;
        }
        let key = [0x5a, 0x01, 0xc3, 0x7e];
        let k64 = u64::from_le_bytes([
            key[0], key[1], key[2], key[3], key[0], key[1], key[2], key[3],
        ]);
        let n = if cfg!(miri) { 3 } else { 70 };
        for blocks in 0..n {
            let src: Vec<u8> = (0..blocks * 32).map(|i| (i * 13 + 5) as u8).collect();
            let mut a: Vec<[u8; 32]> = src.as_chunks::<32>().0.to_vec();
            #[allow(unsafe_code)]
            // SAFETY: AVX2 was detected above.
            unsafe {
                mask_blocks_avx2(&mut a, k64)
            };
            let mut b = src.clone();
            apply_mask_scalar(&mut b, key, 0);
            assert_eq!(a.concat(), b, "{blocks} blocks");
        }
    }

    #[test]
    fn chunked_equals_whole() {
        let key = [0xde, 0xad, 0xbe, 0xef];
        let orig: Vec<u8> = (0..1000u32).map(|i| (i % 251) as u8).collect();
        let mut whole = orig.clone();
        apply_mask(&mut whole, key, 0);
        for split in [1usize, 3, 17, 500, 999] {
            let mut parts = orig.clone();
            let (a, b) = parts.split_at_mut(split);
            apply_mask(a, key, 0);
            apply_mask(b, key, split);
            assert_eq!(parts, whole, "split {split}");
        }
    }

    #[test]
    fn offsets_wrap() {
        let key = [1, 2, 3, 4];
        let mut a = vec![0u8; 40];
        let mut b = vec![0u8; 40];
        apply_mask(&mut a, key, 1);
        apply_mask(&mut b, key, 5);
        assert_eq!(a, b);
        assert_eq!(&a[..4], &[2, 3, 4, 1]);
    }
}
