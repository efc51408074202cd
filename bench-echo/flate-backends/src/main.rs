//! Which flate2 backend for permessage-deflate: run once per backend and compare.
//! `for f in zlibrs czlib; do cargo run --release --features $f; done` (zlib-ng needs cmake).
//!
//! Raw-deflate throughput of one flate2 backend on permessage-deflate-shaped work: messages of
//! 1 KiB and 64 KiB of text, compressed with a sync flush and inflated, context kept.
use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress};
use std::time::Instant;

fn text(size: usize) -> Vec<u8> {
    let words = [
        "websocket",
        "frame",
        "deflate",
        "message",
        "connection",
        "server",
        "client",
        "{\"id\":",
        "42}",
        "\n",
    ];
    let mut seed = 7u32;
    let mut s = Vec::with_capacity(size + 16);
    while s.len() < size {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        s.extend_from_slice(words[(seed >> 24) as usize % words.len()].as_bytes());
        s.push(b' ');
    }
    s.truncate(size);
    s
}

fn main() {
    let backend = if cfg!(feature = "zlibrs") {
        "zlib-rs"
    } else if cfg!(feature = "zlibng") {
        "zlib-ng"
    } else {
        "zlib (C)"
    };
    for level in [1u32, 6] {
        for size in [1024usize, 64 << 10] {
            let msg = text(size);
            let total = 64usize << 20;
            let n = total / size;
            let mut c = Compress::new_with_window_bits(Compression::new(level), false, 15);
            let mut d = Decompress::new_with_window_bits(false, 15);
            let mut packed = Vec::with_capacity(size + 1024);
            let mut out = Vec::with_capacity(size + 1024);
            let (mut tc, mut td) = (0f64, 0f64);
            let mut bytes_out = 0usize;
            for _ in 0..n {
                packed.clear();
                let t = Instant::now();
                c.compress_vec(&msg, &mut packed, FlushCompress::Sync)
                    .unwrap();
                tc += t.elapsed().as_secs_f64();
                bytes_out += packed.len();
                out.clear();
                let t = Instant::now();
                d.decompress_vec(&packed, &mut out, FlushDecompress::Sync)
                    .unwrap();
                td += t.elapsed().as_secs_f64();
                assert_eq!(out.len(), size);
            }
            println!("{backend}\tlevel {level}\t{size} B\tcompress {:.0} MB/s\tinflate {:.0} MB/s\tratio {:.3}",
                total as f64 / tc / 1e6, total as f64 / td / 1e6, bytes_out as f64 / total as f64);
        }
    }
}
