//! One regression test per class of published WebSocket advisory, driven through the sans-IO
//! core (the adapters run the same code). Each names the advisory it guards against.

mod sans_io;

use std::time::{Duration, Instant};

use sans_io::{drain, events};
use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::header::accept_key;
use websock::proto::handshake::server::Accept;
use websock::{
    Agreed, CloseCode, CloseFrame, Config, Connection, ConnectionError, Event, HandshakeError,
    ProtocolError, Role, Timeout,
};

const UPGRADE: &str = "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
                       Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n";

/// A masked frame as a client sends it.
fn cf(b0: u8, payload: &[u8]) -> Vec<u8> {
    let key = [9, 8, 7, 6];
    let mut out = vec![b0];
    match payload.len() {
        n @ 0..=125 => out.push(0x80 | n as u8),
        n @ 126..=65535 => {
            out.push(0x80 | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(0x80 | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    out.extend_from_slice(&key);
    out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
    out
}

fn open_server(config: Config) -> Connection {
    Connection::open(Role::Server, config, Agreed::default(), Instant::now())
}

/// The close code of the first close frame a server wrote.
fn close_code(out: &[u8]) -> Option<u16> {
    let mut rest = out;
    while rest.len() >= 2 {
        let (op, len) = (rest[0] & 0x0F, (rest[1] & 0x7F) as usize);
        let (head, len) = match len {
            126 => (4, u16::from_be_bytes([rest[2], rest[3]]) as usize),
            127 => (
                10,
                u64::from_be_bytes(rest[2..10].try_into().unwrap()) as usize,
            ),
            n => (2, n),
        };
        if op == 0x8 {
            return Some(u16::from_be_bytes([rest[head], rest[head + 1]]));
        }
        rest = &rest[head + len..];
    }
    None
}

fn fails_with(c: &mut Connection, code: u16) -> ConnectionError {
    let evs = events(c);
    let (out, shutdown) = drain(c);
    assert_eq!(close_code(&out), Some(code), "{evs:?}");
    assert!(shutdown);
    match evs.last() {
        Some(Event::Closed(Err(e))) => e.clone(),
        other => panic!("{other:?}"),
    }
}

/// The status line a server answered a handshake with.
fn status_for(request: &[u8], config: Config) -> (String, Option<ConnectionError>) {
    let mut s = Connection::server(config, Instant::now());
    s.receive(request);
    let mut evs = Vec::new();
    match s.poll_event() {
        Some(Event::Request(_)) => s.accept(Accept::new()).unwrap(),
        Some(other) => evs.push(other),
        None => {}
    }
    evs.extend(events(&mut s));
    let (out, _) = drain(&mut s);
    let text = String::from_utf8_lossy(&out).to_string();
    let err = evs.iter().find_map(|e| match e {
        Event::Closed(Err(e)) => Some(e.clone()),
        _ => None,
    });
    (text.lines().next().unwrap_or("").to_string(), err)
}

/// tungstenite CVE-2023-43669: re-parsing the whole head on every read made a head fed in
/// small pieces cost quadratic time. Fed one byte at a time right up to the 16 KiB limit, the
/// head is refused with 431 once it passes the limit, and no more than that is held.
#[test]
fn cve_2023_43669_head_fed_byte_by_byte_stays_linear_and_bounded() {
    let mut s = Connection::server(Config::default(), Instant::now());
    let mut head = UPGRADE.as_bytes().to_vec();
    while head.len() < 64 << 10 {
        head.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
    }
    let mut fed = 0;
    for b in &head {
        s.receive(std::slice::from_ref(b));
        fed += 1;
        assert!(
            s.buffered_capacity() <= 32 << 10,
            "{}",
            s.buffered_capacity()
        );
        if !s.can_send() && s.state() != websock::State::Handshake {
            break;
        }
    }
    assert!(fed <= (16 << 10) + 1, "refused only after {fed} bytes");
    let (out, _) = drain(&mut s);
    assert!(
        out.starts_with(b"HTTP/1.1 431"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    assert!(matches!(
        events(&mut s).last(),
        Some(Event::Closed(Err(ConnectionError::Handshake(
            HandshakeError::HeadersTooLarge { .. }
        ))))
    ));
}

/// ws CVE-2024-37890: a request with very many headers crashed the server. Past the header
/// limit (64 by default) the answer is 431, and a request with exactly the limit is accepted.
#[test]
fn cve_2024_37890_too_many_headers_get_431() {
    let with = |n: usize| {
        let mut r = UPGRADE.to_string();
        for i in 0..n {
            r.push_str(&format!("X-{i}: v\r\n"));
        }
        r.push_str("\r\n");
        status_for(r.as_bytes(), Config::default())
    };
    // UPGRADE has 6 headers of its own.
    let (ok, _) = with(64 - 6);
    assert_eq!(ok, "HTTP/1.1 101 Switching Protocols");
    let (status, err) = with(200);
    assert!(status.starts_with("HTTP/1.1 431"), "{status}");
    assert_eq!(
        err,
        Some(ConnectionError::Handshake(HandshakeError::TooManyHeaders))
    );
}

/// ws CVE-2026-48779 and its follow-up: a message in a flood of tiny fragments exhausted
/// memory, each fragment costing its own allocation. Here fragments are appended into one
/// buffer (empty ones cost nothing) and their number is capped as well as their bytes: one
/// past `max_fragments` fails with 1009, and memory stays at what the payload needs.
#[test]
fn cve_2026_48779_tiny_fragment_flood_is_capped() {
    let config = Config::default().max_fragments(1000);
    let mut s = open_server(config);
    let mut input = cf(0x02, b"a");
    for _ in 0..998 {
        input.extend(cf(0x00, b""));
    }
    input.extend(cf(0x80, b"z"));
    s.receive(&input);
    assert_eq!(
        events(&mut s),
        [Event::Message(websock::Message::binary(&b"az"[..]))],
        "exactly the limit is fine"
    );
    let mut flood = cf(0x02, b"a");
    for _ in 0..100_000 {
        flood.extend(cf(0x00, b"b"));
    }
    s.receive(&flood);
    let err = fails_with(&mut s, 1009);
    assert_eq!(
        err,
        ConnectionError::Protocol(ProtocolError::TooManyFragments { limit: 1000 })
    );
    assert!(s.buffered_capacity() < 64 << 10);
}

/// python-websockets CVE-2018-1000518 (server) and undici's 2026 client advisory of the same
/// class: a small compressed message inflating without bound. In both roles the message stops
/// at the limit with 1009 and memory never passes it.
#[cfg(feature = "deflate")]
#[test]
fn cve_2018_1000518_decompression_bombs_stop_at_the_limit_in_both_roles() {
    use websock::proto::ext::deflate::{Deflate, DeflateConfig, DeflateParams, DeflateTerms};
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let limit = 1 << 20;
    let config = Config::default().max_message_size(limit);
    for role in [Role::Server, Role::Client] {
        let (ours, theirs): (DeflateTerms, DeflateTerms) = match role {
            Role::Server => (params.for_server(), params.for_client()),
            Role::Client => (params.for_client(), params.for_server()),
        };
        let wire = Deflate::new(theirs, &DeflateConfig::enabled()).compress(&vec![0u8; 8 << 20]);
        assert!(wire.len() < 16 << 10);
        let mut ext = websock::proto::ext::Negotiated::none();
        ext.deflate = Some(ours);
        let agreed = Agreed {
            protocol: None,
            extensions: ext,
        };
        let mut c = Connection::open(role, config.clone(), agreed, Instant::now());
        let frame = match role {
            Role::Server => cf(0xC2, &wire),
            Role::Client => {
                // Unmasked, as a server sends it.
                let mut f = cf(0xC2, &wire);
                let at = f.len() - wire.len() - 4;
                f[1] &= 0x7F;
                f.drain(at..at + 4);
                f[at..].copy_from_slice(&wire);
                f
            }
        };
        let mut peak = 0;
        for piece in frame.chunks(16 << 10) {
            c.receive(piece);
            while c.poll_event_bounded().is_none() && c.wants_poll() {
                peak = peak.max(c.buffered_capacity());
            }
            peak = peak.max(c.buffered_capacity());
        }
        assert!(peak <= limit + (512 << 10), "{role:?}: peak {peak}");
        assert!(
            matches!(
                c.last_error(),
                Some(ConnectionError::Protocol(
                    ProtocolError::MessageTooBig { .. }
                ))
            ),
            "{role:?}: {:?}",
            c.last_error()
        );
    }
}

/// Length overflow (several libraries' advisories): 64-bit lengths with the top bit set are
/// invalid (RFC 6455 5.2) and fail with 1002; 2^62 is refused by the frame limit with 1009
/// before any payload is awaited.
#[test]
fn sixty_four_bit_lengths_do_not_overflow() {
    for (len, code) in [(1u64 << 63, 1002), (u64::MAX, 1002), (1 << 62, 1009)] {
        let mut s = open_server(Config::default());
        let mut f = vec![0x82, 0x80 | 127];
        f.extend_from_slice(&len.to_be_bytes());
        f.extend_from_slice(&[1, 2, 3, 4]);
        s.receive(&f);
        fails_with(&mut s, code);
    }
}

/// undici CVE-2026-2229: a server's out-of-range `server_max_window_bits` crashed the client.
/// Every malformed, out-of-range or duplicated parameter in a server's answer is a typed
/// handshake error for our client, never a panic.
#[cfg(feature = "deflate")]
#[test]
fn cve_2026_2229_bad_window_bits_from_a_server_are_a_typed_error() {
    use websock::proto::ext::deflate::DeflateConfig;
    let key = [7u8; 16];
    let answers = [
        "permessage-deflate; server_max_window_bits=7",
        "permessage-deflate; server_max_window_bits=16",
        "permessage-deflate; server_max_window_bits=0",
        "permessage-deflate; server_max_window_bits=-1",
        "permessage-deflate; server_max_window_bits=99999999999999999999",
        "permessage-deflate; server_max_window_bits=",
        "permessage-deflate; server_max_window_bits=1a",
        "permessage-deflate; server_max_window_bits",
        "permessage-deflate; client_max_window_bits=20",
        "permessage-deflate; server_max_window_bits=10; server_max_window_bits=10",
        "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
        "permessage-deflate; server_no_context_takeover=1",
        "permessage-deflate; mystery=1",
        "permessage-deflate, permessage-deflate",
        "x-unknown-extension",
    ];
    let config = Config::default().deflate(DeflateConfig::enabled());
    for answer in answers {
        let req = ClientRequest::new("ws://example.com/")
            .unwrap()
            .fixed_key(key);
        let mut c = Connection::client(req, config.clone(), Instant::now()).unwrap();
        drain(&mut c);
        let accept = accept_key(base64_key(&key).as_bytes());
        let resp = format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Extensions: {answer}\r\n\r\n"
        );
        c.receive(resp.as_bytes());
        let evs = events(&mut c);
        assert!(
            matches!(
                evs.last(),
                Some(Event::Closed(Err(ConnectionError::Handshake(_))))
            ),
            "{answer}: {evs:?}"
        );
    }
}

fn base64_key(key: &[u8; 16]) -> String {
    // The request our client sent carries it; rebuild it the same way.
    let req = ClientRequest::new("ws://example.com/")
        .unwrap()
        .fixed_key(*key);
    let (head, _) = req.start().unwrap();
    let head = String::from_utf8(head).unwrap();
    head.lines()
        .find_map(|l| l.strip_prefix("Sec-WebSocket-Key: "))
        .unwrap()
        .to_string()
}

/// Header injection: a CR or LF in a user-supplied client header value (or name) would let a
/// caller's input add headers or a second request. It is refused before anything is sent.
#[test]
fn crlf_in_client_header_values_is_refused() {
    for (name, value) in [
        ("X-Token", "abc\r\nEvil: 1"),
        ("X-Token", "abc\nEvil: 1"),
        ("X-Token", "abc\rEvil: 1"),
        ("X-Token\r\nEvil", "1"),
        ("X Token", "1"),
        ("X-Token", "nul\0byte"),
    ] {
        let req = ClientRequest::new("ws://example.com/")
            .unwrap()
            .header(name, value);
        assert!(
            matches!(
                Connection::client(req, Config::default(), Instant::now()),
                Err(HandshakeError::InvalidHeader(_))
            ),
            "{name:?}: {value:?}"
        );
    }
    let ok = ClientRequest::new("ws://example.com/")
        .unwrap()
        .header("X-Token", "a b\tc");
    assert!(Connection::client(ok, Config::default(), Instant::now()).is_ok());
}

/// A panic in another server on non-ASCII bytes in `Sec-WebSocket-Protocol`: such a request is
/// parsed without panicking and refused with 400 (or the offer ignored), never crashing.
#[test]
fn non_ascii_subprotocol_does_not_panic() {
    for value in [
        &b"ch\xc3\xa4t"[..],
        b"\xff\xfe",
        b"chat, \x80",
        b"chat,,",
        b",",
        b"",
    ] {
        let mut req = UPGRADE.as_bytes().to_vec();
        req.extend_from_slice(b"Sec-WebSocket-Protocol: ");
        req.extend_from_slice(value);
        req.extend_from_slice(b"\r\n\r\n");
        let mut s = Connection::server(Config::default(), Instant::now());
        s.receive(&req);
        if let Some(Event::Request(r)) = s.poll_event() {
            let offered: Vec<String> = r.protocols().iter().map(|p| p.to_string()).collect();
            let choice = offered.first().cloned();
            let accept = match choice {
                Some(p) => Accept::new().protocol(p),
                None => Accept::new(),
            };
            let _ = s.accept(accept);
        }
        let _ = events(&mut s);
        let (out, _) = drain(&mut s);
        let status = String::from_utf8_lossy(&out);
        assert!(
            status.starts_with("HTTP/1.1 400") || status.starts_with("HTTP/1.1 101"),
            "{value:?}: {status}"
        );
        if status.starts_with("HTTP/1.1 101") {
            assert!(!status.contains("Sec-WebSocket-Protocol: \u{fffd}"));
        }
    }
}

/// Close reasons over 123 bytes: ours are refused before sending, a peer's (a control frame
/// over 125 bytes) fails with 1002.
#[test]
fn close_reasons_over_123_bytes() {
    let mut s = open_server(Config::default());
    let long = "r".repeat(124);
    assert!(s
        .close(Some(CloseFrame::new(CloseCode::NORMAL, long.as_str())))
        .is_err());
    assert!(s
        .close(Some(CloseFrame::new(CloseCode::NORMAL, &long[..123])))
        .is_ok());
    let mut s = open_server(Config::default());
    let mut payload = 1000u16.to_be_bytes().to_vec();
    payload.extend_from_slice(long.as_bytes());
    s.receive(&cf(0x88, &payload));
    fails_with(&mut s, 1002);
}

/// A peer that never answers our close: after `close_timeout` the connection gives up
/// (`Timeout::Close`) and is over.
#[test]
fn peer_that_never_answers_our_close_meets_the_close_timeout() {
    let start = Instant::now();
    let mut s = Connection::open(Role::Server, Config::default(), Agreed::default(), start);
    s.close(None).unwrap();
    drain(&mut s);
    s.handle_timeout(start + Duration::from_secs(4));
    assert!(s.last_error().is_none());
    s.handle_timeout(start + Duration::from_secs(5));
    assert_eq!(
        events(&mut s),
        [Event::Closed(Err(ConnectionError::Timeout(Timeout::Close)))]
    );
    drain(&mut s);
    assert!(s.is_terminated());
}
