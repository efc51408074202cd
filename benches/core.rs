//! Criterion benches of the core: masking against a plain copy, frame header codec, UTF-8
//! validation against std and simdutf8, and a sans-IO round trip.
//!
//! `cargo bench --bench core`

use std::hint::black_box;

use bytes::Bytes;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use websock::proto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use websock::proto::mask::{apply_mask, apply_mask_scalar};
use websock::proto::utf8::Validator;
use websock::{Config, Connection, Event, Role, Transmit};

const SIZES: [usize; 5] = [16, 125, 1024, 64 << 10, 1 << 20];

fn masking(c: &mut Criterion) {
    let mut g = c.benchmark_group("mask");
    for size in SIZES {
        let src = vec![0x5au8; size];
        let mut buf = vec![0u8; size];
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("copy", size), &size, |b, _| {
            b.iter(|| buf.copy_from_slice(black_box(&src)))
        });
        g.bench_with_input(BenchmarkId::new("fast", size), &size, |b, _| {
            b.iter(|| apply_mask(black_box(&mut buf), [1, 2, 3, 4], 1))
        });
        if size <= 64 << 10 {
            g.bench_with_input(BenchmarkId::new("scalar", size), &size, |b, _| {
                b.iter(|| apply_mask_scalar(black_box(&mut buf), [1, 2, 3, 4], 1))
            });
        }
    }
    g.finish();
}

fn frame_header(c: &mut Criterion) {
    let mut g = c.benchmark_group("frame_header");
    for (name, len, mask) in [
        ("7bit_masked", 100u64, Some([1, 2, 3, 4])),
        ("16bit", 1000, None),
        ("64bit_masked", 1 << 20, Some([1, 2, 3, 4])),
    ] {
        let h = FrameHeader {
            fin: true,
            rsv: 0,
            opcode: OpCode::Binary,
            mask,
            payload_len: len,
        };
        let mut out = [0u8; MAX_HEADER_LEN];
        let n = h.encode(&mut out);
        g.bench_function(BenchmarkId::new("encode", name), |b| {
            b.iter(|| black_box(&h).encode(black_box(&mut out)))
        });
        g.bench_function(BenchmarkId::new("decode", name), |b| {
            b.iter(|| FrameHeader::decode(black_box(&out[..n])))
        });
    }
    g.finish();
}

fn utf8(c: &mut Criterion) {
    let mut g = c.benchmark_group("utf8");
    let ascii = "the quick brown fox jumps over the lazy dog ".repeat(1500);
    let multi = "κόσμε ✓ 日本語テキスト 🎉 ".repeat(1500);
    for (name, text) in [("ascii", &ascii), ("multibyte", &multi)] {
        let bytes = text.as_bytes();
        g.throughput(Throughput::Bytes(bytes.len() as u64));
        g.bench_function(BenchmarkId::new("std", name), |b| {
            b.iter(|| std::str::from_utf8(black_box(bytes)).is_ok())
        });
        g.bench_function(BenchmarkId::new("simdutf8", name), |b| {
            b.iter(|| simdutf8::basic::from_utf8(black_box(bytes)).is_ok())
        });
        g.bench_function(
            BenchmarkId::new("websock_incremental_4k_pieces", name),
            |b| {
                b.iter(|| {
                    let mut v = Validator::new();
                    for piece in black_box(bytes).chunks(4096) {
                        v.feed(piece).unwrap();
                    }
                    v.finish().is_ok()
                })
            },
        );
    }
    g.finish();
}

fn roundtrip(c: &mut Criterion) {
    let mut g = c.benchmark_group("roundtrip");
    for size in [16usize, 1024, 64 << 10] {
        let payload = Bytes::from(vec![7u8; size]);
        let mut client = Connection::open(
            Role::Client,
            Config::default(),
            websock::Agreed::default(),
            std::time::Instant::now(),
        );
        let mut server = Connection::open(
            Role::Server,
            Config::default(),
            websock::Agreed::default(),
            std::time::Instant::now(),
        );
        g.throughput(Throughput::Bytes(size as u64));
        g.bench_with_input(BenchmarkId::new("client_to_server", size), &size, |b, _| {
            b.iter(|| {
                client.send_binary(payload.clone()).unwrap();
                while let Some(Transmit::Data(chunk)) = client.poll_transmit() {
                    server.receive(&chunk);
                }
                match server.poll_event() {
                    Some(Event::Message(m)) => black_box(m),
                    other => panic!("{other:?}"),
                };
            })
        });
    }
    g.finish();
}

criterion_group!(benches, masking, frame_header, utf8, roundtrip);
criterion_main!(benches);
