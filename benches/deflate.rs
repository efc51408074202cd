//! permessage-deflate: compressed echo throughput (client compresses, server inflates and
//! compresses back, client inflates) at 1 KiB and 64 KiB of text, with and without context
//! takeover, and the compression memory a connection holds.
//!
//! `cargo bench --bench deflate`

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use websock::proto::ext::deflate::{DeflateConfig, DeflateParams};
use websock::proto::ext::Negotiated;
use websock::{Config, Connection, Event, Message, Role, Transmit};

fn text(size: usize) -> String {
    let words = [
        "websocket",
        "frame",
        "deflate",
        "message",
        "connection",
        "server",
        "client",
    ];
    let mut seed = 7u32;
    let mut s = String::with_capacity(size + 16);
    while s.len() < size {
        seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
        s.push_str(words[(seed >> 24) as usize % words.len()]);
        s.push(' ');
    }
    s.truncate(size);
    s
}

fn pair(takeover: bool) -> (Connection, Connection) {
    let config = Config::default().deflate(DeflateConfig::enabled().level(1));
    let params = DeflateParams {
        server_no_context_takeover: !takeover,
        client_no_context_takeover: !takeover,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let agreed = |terms| {
        let mut extensions = Negotiated::none();
        extensions.deflate = Some(terms);
        websock::Agreed {
            protocol: None,
            extensions,
        }
    };
    let now = std::time::Instant::now();
    (
        Connection::open(
            Role::Client,
            config.clone(),
            agreed(params.for_client()),
            now,
        ),
        Connection::open(Role::Server, config, agreed(params.for_server()), now),
    )
}

fn pipe(from: &mut Connection, to: &mut Connection) -> Message {
    while let Some(Transmit::Data(chunk)) = from.poll_transmit() {
        to.receive(&chunk);
    }
    match to.poll_event() {
        Some(Event::Message(m)) => m,
        other => panic!("{other:?}"),
    }
}

fn echo(c: &mut Criterion) {
    let mut g = c.benchmark_group("deflate_echo");
    for size in [1024usize, 64 << 10] {
        let msg = text(size);
        for takeover in [true, false] {
            let (mut client, mut server) = pair(takeover);
            let name = if takeover { "takeover" } else { "no_takeover" };
            g.throughput(Throughput::Bytes(size as u64));
            g.bench_with_input(BenchmarkId::new(name, size), &size, |b, _| {
                b.iter(|| {
                    client.send_text(msg.as_str()).unwrap();
                    let got = pipe(&mut client, &mut server);
                    server.send(got).unwrap();
                    black_box(pipe(&mut server, &mut client));
                })
            });
            eprintln!(
                "deflate memory per connection ({name}, {size} B messages): client {} B, server {} B",
                client.buffered_capacity(),
                server.buffered_capacity()
            );
        }
    }
    g.finish();
}

criterion_group!(benches, echo);
criterion_main!(benches);
