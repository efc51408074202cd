//! The server's request parser: fed in chunks it agrees with one-shot parsing, stays within its
//! limits, and what it parses is either accepted with a 101 or refused with a 4xx/5xx.
//!
//! Input: `[chunk seed] [request bytes...]` (see `websock_fuzz::chunk_ends`).
#![no_main]

use websock::proto::handshake::header::accept_key;
use websock::proto::handshake::server::{accept, Accept, Request, RequestParser};
use websock::proto::handshake::Limits;
use websock::HandshakeError;

type Parsed = Result<Option<(Request, usize)>, HandshakeError>;

fn chunked(limits: Limits, seed: u8, data: &[u8]) -> Parsed {
    let mut parser = RequestParser::new(limits);
    for end in websock_fuzz::chunk_ends(seed, data.len()) {
        match parser.parse(&data[..end]) {
            Ok(None) => {}
            done => return done,
        }
    }
    Ok(None)
}

fn check(limits: Limits, seed: u8, data: &[u8], one_shot: &Parsed) {
    let got = chunked(limits.clone(), seed, data);
    assert_eq!(&got, one_shot, "chunked (seed {seed}) vs one-shot");
    match got {
        Ok(Some((req, n))) => {
            assert!(n <= data.len(), "head length {n} past the input");
            assert!(
                n <= limits.max_head_size,
                "head of {n} bytes over the limit"
            );
            assert!(data[..n].ends_with(b"\r\n\r\n"));
            assert!(req.headers().len() <= limits.max_headers);
            judge(&req);
        }
        Ok(None) => assert!(data.len() < limits.max_head_size),
        Err(e) => {
            assert!((400..=599).contains(&e.status()), "{e:?}");
            let wire = e.to_response().to_bytes();
            let status = format!("HTTP/1.1 {} ", e.status());
            assert!(wire.starts_with(status.as_bytes()));
        }
    }
}

fn judge(req: &Request) {
    match accept(req, &Accept::new()) {
        Ok(resp) => {
            let wire = resp.to_bytes();
            assert!(wire.starts_with(b"HTTP/1.1 101"), "{resp:?}");
            let head_end = wire.windows(4).position(|w| w == b"\r\n\r\n");
            assert_eq!(
                head_end,
                Some(wire.len() - 4),
                "one head, no body: {resp:?}"
            );
            let key = req.key().expect("accepted without a key");
            let want = accept_key(key.trim_matches([' ', '\t']).as_bytes());
            assert_eq!(resp.header("Sec-WebSocket-Accept"), Some(want.as_str()));
        }
        Err(e) => {
            assert!((400..=599).contains(&e.status()), "{e:?}");
            let wire = e.to_response().to_bytes();
            assert!(wire.starts_with(format!("HTTP/1.1 {} ", e.status()).as_bytes()));
        }
    }
}

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };
    let one_shot = Request::parse(data);
    check(Limits::default(), seed, data, &one_shot);
    // Small limits, so that the size and count limits are reached with small inputs.
    let small = Limits::default()
        .max_head_size(32 + usize::from(seed) * 3)
        .max_headers(1 + usize::from(seed % 8));
    let one_shot = RequestParser::new(small.clone()).parse(data);
    check(small, seed.rotate_left(3), data, &one_shot);
});
