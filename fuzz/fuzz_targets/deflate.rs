//! permessage-deflate decoding under a size limit.
//!
//! Input layout: `[flags] [windows] [level] [wire bytes...]`.
//! - `flags`: bit 0 server_no_context_takeover, bit 1 client_no_context_takeover, bit 2 the
//!   receiving core is the server (else the client); bits 4-7 pick the chunk size the wire bytes
//!   are fed in.
//! - `windows`: low nibble the server's window bits, high nibble the client's (each 8 + n % 8).
//! - `level`: the compression level of the round trip (n % 10).
//!
//! What must hold:
//! 1. The connection: a core with deflate negotiated with those parameters and a small
//!    `max_message_size` is fed the wire bytes (frames as its peer would send them, RSV1 marking
//!    compressed messages). Every message it delivers fits the limit, text is valid UTF-8, and a
//!    failure closes with 1002, 1007 or 1009 and the matching typed error.
//! 2. The codec: the wire bytes inflated as one raw compressed payload never produce more than
//!    the limit (a bomb fails with 1009 instead). The wire bytes split at each 0xff into
//!    messages, compressed by the peer's codec and inflated by the receiver's, arrive equal under
//!    every window size and takeover setting; a limit one byte short of a message fails with 1009.
//!
//! Seeds (fuzz/seeds.py) hold real compressed frames: the RFC 7692 examples, context takeover,
//! fragmented and bomb messages.
#![no_main]

use websock::proto::close::CloseCode;
use websock::proto::ext::deflate::{Deflate, DeflateConfig, DeflateParams};
use websock::proto::ext::Negotiated;
use websock::{Config, Connection, Event, Message, Role, Transmit};

/// The message size limit: small, so bombs are cheap to find.
const LIMIT: usize = 4096;

const CHUNKS: [usize; 16] = [
    1, 2, 3, 5, 7, 9, 14, 16, 64, 126, 127, 1000, 4096, 65536, 8, usize::MAX,
];

fn codec(role: Role, params: DeflateParams, level: u32) -> Deflate {
    let terms = match role {
        Role::Server => params.for_server(),
        Role::Client => params.for_client(),
    };
    Deflate::new(terms, &DeflateConfig::enabled().level(level))
}

fn check_connection(role: Role, params: DeflateParams, chunk: usize, wire: &[u8]) {
    let config = Config::default()
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT)
        .deflate(DeflateConfig::enabled());
    let mut extensions = Negotiated::none();
    extensions.deflate = Some(match role {
        Role::Server => params.for_server(),
        Role::Client => params.for_client(),
    });
    let agreed = websock::Agreed {
        protocol: None,
        extensions,
    };
    let mut conn = Connection::open(role, config, agreed, std::time::Instant::now());
    if role == Role::Client {
        conn = conn.with_mask_source(Box::new(|| [1, 2, 3, 4]));
    }
    for piece in wire.chunks(chunk) {
        conn.receive(piece);
        while let Some(event) = conn.poll_event() {
            match event {
                Event::Message(Message::Text(t)) => {
                    assert!(t.as_bytes().len() <= LIMIT, "text of {}", t.as_bytes().len());
                    assert!(std::str::from_utf8(t.as_bytes()).is_ok());
                }
                Event::Message(Message::Binary(b)) => {
                    assert!(b.len() <= LIMIT, "binary of {}", b.len())
                }
                Event::Closed(c) => {
                    if let Err(e) = c {
                        let code = e.close_code();
                        assert!(
                            code == CloseCode::PROTOCOL_ERROR
                                || code == CloseCode::INVALID_PAYLOAD
                                || code == CloseCode::TOO_BIG,
                            "{e:?} -> {code:?}"
                        );
                    }
                }
                _ => {}
            }
        }
        while let Some(t) = conn.poll_transmit() {
            if t == Transmit::Shutdown {
                break;
            }
        }
        if conn.is_terminated() {
            return;
        }
    }
}

fn check_codec(rx_role: Role, params: DeflateParams, level: u32, wire: &[u8]) {
    let tx_role = match rx_role {
        Role::Server => Role::Client,
        Role::Client => Role::Server,
    };

    // Arbitrary bytes as one compressed message: bounded output, typed errors only.
    let mut rx = codec(rx_role, params, level);
    let mut out = Vec::new();
    match rx.decompress(wire, true, &mut out, LIMIT) {
        Ok(()) => assert!(out.len() <= LIMIT, "inflated {} > {LIMIT}", out.len()),
        Err(e) => {
            let code = e.close_code();
            assert!(
                code == CloseCode::TOO_BIG || code == CloseCode::INVALID_PAYLOAD,
                "{e:?} -> {code:?}"
            );
        }
    }

    // Round trip: equal, and 1009 one byte short (a second receiver, left behind after).
    let mut tx = codec(tx_role, params, level);
    let mut rx = codec(rx_role, params, level);
    let mut short_rx = Some(codec(rx_role, params, level));
    for msg in wire.split(|&b| b == 0xff) {
        let packed = tx.compress(msg);
        let mut out = Vec::new();
        rx.decompress(&packed, true, &mut out, msg.len())
            .expect("inflating our own output failed");
        assert_eq!(out, msg, "round trip changed the message");
        if let Some(short) = short_rx.as_mut() {
            let mut out = Vec::new();
            match msg.len().checked_sub(1) {
                Some(limit) => {
                    match short.decompress(&packed, true, &mut out, limit) {
                        Err(e) => assert_eq!(e.close_code(), CloseCode::TOO_BIG, "{e:?}"),
                        Ok(()) => panic!("{} bytes inflated under a limit of {limit}", msg.len()),
                    }
                    // Its window is out of step with the sender's now.
                    short_rx = None;
                }
                None => short.decompress(&packed, true, &mut out, 0).unwrap(),
            }
        }
    }
}

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let [flags, windows, level, wire @ ..] = data else {
        return;
    };
    let params = DeflateParams {
        server_no_context_takeover: flags & 1 != 0,
        client_no_context_takeover: flags & 2 != 0,
        server_max_window_bits: 8 + (windows & 0x0f) % 8,
        client_max_window_bits: 8 + (windows >> 4) % 8,
    };
    let role = if flags & 4 != 0 {
        Role::Server
    } else {
        Role::Client
    };
    check_connection(role, params, CHUNKS[usize::from(flags >> 4)], wire);
    check_codec(role, params, u32::from(level % 10), wire);
});
