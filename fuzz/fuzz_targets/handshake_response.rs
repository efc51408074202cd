//! The client's response parser, for a request with a fixed key and subprotocol "chat": never
//! panics, chunked agrees with one-shot, and an accepted response carries the right
//! Sec-WebSocket-Accept and only what was offered.
//!
//! Input: `[chunk seed] [response bytes...]` (see `websock_fuzz::chunk_ends`).
#![no_main]

use websock::proto::handshake::client::{Accepted, ClientHandshake, ClientRequest};
use websock::proto::handshake::header::accept_key;
use websock::HandshakeError;

type Parsed = Result<Option<(Accepted, usize)>, HandshakeError>;

fn handshake() -> ClientHandshake {
    let (_, hs) = ClientRequest::new("ws://example.com/chat")
        .unwrap()
        .protocol("chat")
        .start_with_key([7u8; 16])
        .unwrap();
    hs
}

fn chunked(seed: u8, data: &[u8]) -> Parsed {
    let mut hs = handshake();
    for end in websock_fuzz::chunk_ends(seed, data.len()) {
        match hs.parse_response(&data[..end]) {
            Ok(None) => {}
            done => return done,
        }
    }
    Ok(None)
}

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };
    let one_shot = handshake().parse_response(data);
    assert_eq!(
        chunked(seed, data),
        one_shot,
        "chunked (seed {seed}) vs one-shot"
    );
    match one_shot {
        Ok(Some((acc, n))) => {
            assert!(n <= data.len(), "response length {n} past the input");
            assert!(data[..n].ends_with(b"\r\n\r\n"));
            let want = accept_key(b"BwcHBwcHBwcHBwcHBwcHBw==");
            let got = acc.headers.get_str("Sec-WebSocket-Accept").map(str::trim);
            assert_eq!(got, Some(want.as_str()));
            assert!(
                matches!(acc.protocol.as_deref(), None | Some("chat")),
                "{acc:?}"
            );
            assert!(acc.extensions.is_empty(), "none offered: {acc:?}");
        }
        Ok(None) => {}
        Err(HandshakeError::Rejected { status, body, .. }) => {
            assert_ne!(status, 101);
            assert!(body.len() <= data.len());
        }
        Err(_) => {}
    }
});
