//! Tests of the connection state machine: the RFC's examples as byte vectors, a client and a
//! server wired together in memory, and one test per rule that breaks the connection.

mod sans_io;

use sans_io::{drain, events, noisy_text};
use std::time::{Duration, Instant};

use bytes::Bytes;

use websock::proto::close::*;
use websock::proto::config::Config;
use websock::proto::connection::*;
use websock::proto::error::*;
use websock::proto::frame::*;
use websock::proto::mask;
use websock::proto::message::*;
use websock::Agreed;

/// Reopens a connection with permessage-deflate in force on these terms.
#[cfg(feature = "deflate")]
trait WithDeflate {
    fn with_deflate(self, params: Option<websock::proto::ext::deflate::DeflateParams>) -> Self;
}

#[cfg(feature = "deflate")]
impl WithDeflate for Connection {
    fn with_deflate(self, params: Option<websock::proto::ext::deflate::DeflateParams>) -> Self {
        let mut extensions = websock::proto::ext::Negotiated::none();
        extensions.deflate = params.map(|p| match self.role() {
            Role::Server => p.for_server(),
            Role::Client => p.for_client(),
        });
        let agreed = Agreed {
            protocol: None,
            extensions,
        };
        Connection::open(self.role(), self.config().clone(), agreed, Instant::now())
    }
}

const KEY: [u8; 4] = [0x37, 0xfa, 0x21, 0x3d];

fn server() -> Connection {
    Connection::open(
        Role::Server,
        Config::default(),
        Agreed::default(),
        Instant::now(),
    )
}

fn client() -> Connection {
    Connection::open(
        Role::Client,
        Config::default(),
        Agreed::default(),
        Instant::now(),
    )
    .with_mask_source(Box::new(|| KEY))
}

/// Builds a raw frame: first byte as given, payload masked with `mask` if any.
fn raw(b0: u8, payload: &[u8], mask: Option<[u8; 4]>) -> Vec<u8> {
    let mut out = vec![b0];
    let m = if mask.is_some() { 0x80 } else { 0 };
    match payload.len() {
        n @ 0..=125 => out.push(m | n as u8),
        n @ 126..=0xFFFF => {
            out.push(m | 126);
            out.extend_from_slice(&(n as u16).to_be_bytes());
        }
        n => {
            out.push(m | 127);
            out.extend_from_slice(&(n as u64).to_be_bytes());
        }
    }
    let mut p = payload.to_vec();
    if let Some(k) = mask {
        out.extend_from_slice(&k);
        mask::apply_mask_scalar(&mut p, k, 0);
    }
    out.extend_from_slice(&p);
    out
}

/// A frame as a client sends it (masked).
fn cf(b0: u8, payload: &[u8]) -> Vec<u8> {
    raw(b0, payload, Some([1, 2, 3, 4]))
}

/// Parses the frames a server wrote (unmasked) into (opcode byte, payload).
fn frames_out(mut bytes: &[u8]) -> Vec<(u8, Vec<u8>)> {
    let mut out = Vec::new();
    while let Some((h, n)) = FrameHeader::decode(bytes).unwrap() {
        let len = h.payload_len as usize;
        let mut p = bytes[n..n + len].to_vec();
        if let Some(k) = h.mask {
            mask::apply_mask_scalar(&mut p, k, 0);
        }
        out.push(((h.fin as u8) << 7 | h.opcode.as_u8(), p));
        bytes = &bytes[n + len..];
    }
    out
}

fn close_code_sent(bytes: &[u8]) -> Option<u16> {
    frames_out(bytes)
        .into_iter()
        .find(|(op, _)| op & 0x0F == 0x8)
        .map(|(_, p)| {
            if p.len() >= 2 {
                u16::from_be_bytes([p[0], p[1]])
            } else {
                1005
            }
        })
}

/// Feeds `input` to a fresh server and checks it fails the connection with `code`: a close frame
/// with that code goes out, a `Closed` event says so, the transport is shut down, and the error
/// is readable.
fn assert_server_fails(input: &[u8], code: u16) -> ProtocolError {
    let mut s = server();
    s.receive(input);
    assert_fails(&mut s, code)
}

fn assert_fails(c: &mut Connection, code: u16) -> ProtocolError {
    let evs = events(c);
    let (out, shutdown) = drain(c);
    assert_eq!(close_code_sent(&out), Some(code), "close frame sent");
    assert!(shutdown, "transport shut down");
    assert!(
        matches!(evs.last(), Some(Event::Closed(Err(e))) if e.close_code().0 == code),
        "{evs:?}"
    );
    assert!(!c.can_send());
    match c.last_error().cloned() {
        Some(ConnectionError::Protocol(e)) => {
            assert_eq!(e.close_code().0, code);
            e
        }
        other => panic!("expected a protocol error, got {other:?}"),
    }
}

/// Feeds `bytes` at every split point (and byte by byte) and checks the events are the same.
fn every_split(make: impl Fn() -> Connection, bytes: &[u8]) -> Vec<Event> {
    let whole = {
        let mut c = make();
        c.receive(bytes);
        events(&mut c)
    };
    for cut in 0..=bytes.len() {
        let mut c = make();
        c.receive(&bytes[..cut]);
        c.receive(&bytes[cut..]);
        assert_eq!(events(&mut c), whole, "split at {cut}");
    }
    let mut c = make();
    for b in bytes {
        c.receive(std::slice::from_ref(b));
    }
    assert_eq!(events(&mut c), whole, "byte by byte");
    whole
}

fn msg(m: Message) -> Event {
    Event::Message(m)
}

// --------------------------------------------------------------------------------------------
// RFC 6455 5.7 examples, both ways

#[test]
fn rfc_single_frame_unmasked_text() {
    let bytes = [0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    assert_eq!(every_split(client, &bytes), [msg(Message::text("Hello"))]);
    let mut s = server();
    s.send_text("Hello").unwrap();
    assert_eq!(drain(&mut s).0, bytes);
}

#[test]
fn rfc_single_frame_masked_text() {
    let bytes = [
        0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(every_split(server, &bytes), [msg(Message::text("Hello"))]);
    let mut c = client();
    c.send_text("Hello").unwrap();
    assert_eq!(drain(&mut c).0, bytes);
}

#[test]
fn rfc_fragmented_unmasked_text() {
    let bytes = [0x01, 0x03, 0x48, 0x65, 0x6c, 0x80, 0x02, 0x6c, 0x6f];
    assert_eq!(every_split(client, &bytes), [msg(Message::text("Hello"))]);
    let mut s = server();
    s.send_fragment(DataKind::Text, &b"Hel"[..], false).unwrap();
    s.send_fragment(DataKind::Text, &b"lo"[..], true).unwrap();
    assert_eq!(drain(&mut s).0, bytes);
}

#[test]
fn rfc_ping_and_masked_pong() {
    let ping = [0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f];
    let pong = [
        0x8a, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58,
    ];
    assert_eq!(
        every_split(client, &ping),
        [msg(Message::Ping(Bytes::from_static(b"Hello")))]
    );
    // The client answers the ping with exactly the RFC's masked pong.
    let mut c = client();
    c.receive(&ping);
    assert_eq!(drain(&mut c).0, pong);
    assert_eq!(
        every_split(server, &pong),
        [msg(Message::Pong(Bytes::from_static(b"Hello")))]
    );
    let mut s = server();
    s.send_ping(&b"Hello"[..]).unwrap();
    assert_eq!(drain(&mut s).0, ping);
}

#[test]
fn rfc_256_bytes_and_64k_binary() {
    for (len, head) in [
        (256usize, vec![0x82, 0x7e, 0x01, 0x00]),
        (65536, vec![0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0]),
    ] {
        let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
        let mut bytes = head.clone();
        bytes.extend_from_slice(&payload);
        let mut s = server();
        s.send_binary(payload.clone()).unwrap();
        assert_eq!(drain(&mut s).0, bytes);
        // Splits at a sample of points for the large one; every point for the small one.
        let step = if len > 1000 { 997 } else { 1 };
        for cut in (0..bytes.len()).step_by(step) {
            let mut c = client();
            c.receive(&bytes[..cut]);
            c.receive(&bytes[cut..]);
            assert_eq!(
                events(&mut c),
                [msg(Message::Binary(payload.clone().into()))]
            );
        }
    }
}

// --------------------------------------------------------------------------------------------
// Pair harness: client and server wired in memory, with virtual time

struct Pair {
    client: Connection,
    server: Connection,
    now: Instant,
    chunk: usize,
}

impl Pair {
    fn new(chunk: usize) -> Pair {
        Pair::with_config(chunk, Config::default())
    }

    fn with_config(chunk: usize, config: Config) -> Pair {
        let now = Instant::now();
        let mut p = Pair {
            client: Connection::open(Role::Client, config.clone(), Agreed::default(), now),
            server: Connection::open(Role::Server, config, Agreed::default(), now),
            now,
            chunk,
        };
        p.tick(Duration::ZERO);
        p
    }

    fn tick(&mut self, d: Duration) {
        self.now += d;
        self.client.handle_timeout(self.now);
        self.server.handle_timeout(self.now);
    }

    /// Moves bytes both ways in `chunk`-sized pieces until nothing moves. Returns whether each
    /// side (client, server) asked for a shutdown.
    fn pump(&mut self) -> (bool, bool) {
        let mut shut = (false, false);
        loop {
            let (c_out, c_shut) = drain(&mut self.client);
            let (s_out, s_shut) = drain(&mut self.server);
            shut.0 |= c_shut;
            shut.1 |= s_shut;
            if c_out.is_empty() && s_out.is_empty() {
                break;
            }
            for piece in c_out.chunks(self.chunk) {
                self.server.receive(piece);
            }
            for piece in s_out.chunks(self.chunk) {
                self.client.receive(piece);
            }
        }
        if shut.1 {
            // The server closed TCP: the client sees EOF, and then shuts down its side.
            self.client.receive_eof();
            shut.0 |= drain(&mut self.client).1;
        }
        if shut.0 {
            self.server.receive_eof();
        }
        shut
    }
}

#[test]
fn pair_exchanges_every_message_kind() {
    for chunk in [1, 2, 7, 100, 1 << 20] {
        let mut p = Pair::new(chunk);
        let big: Bytes = (0..200_000u32)
            .map(|i| (i % 253) as u8)
            .collect::<Vec<_>>()
            .into();
        p.client.send_text("hello ✓").unwrap();
        p.client.send_binary(big.clone()).unwrap();
        p.client.send_binary(Bytes::new()).unwrap();
        p.client.send_ping(&b"p"[..]).unwrap();
        p.client
            .send_fragment(DataKind::Text, "κό".as_bytes()[..3].to_vec(), false)
            .unwrap();
        p.client.send_pong(&b"unsolicited"[..]).unwrap(); // interleaved control frame
        p.client
            .send_fragment(DataKind::Text, "κό".as_bytes()[3..].to_vec(), true)
            .unwrap();
        p.server.send_text("from server").unwrap();
        p.server
            .send_fragment(DataKind::Binary, vec![1, 2], false)
            .unwrap();
        p.server
            .send_fragment(DataKind::Binary, vec![3], false)
            .unwrap();
        p.server
            .send_fragment(DataKind::Binary, Vec::new(), true)
            .unwrap();
        p.pump();
        assert_eq!(
            events(&mut p.server),
            [
                msg(Message::text("hello ✓")),
                msg(Message::Binary(big.clone())),
                msg(Message::Binary(Bytes::new())),
                msg(Message::Ping(Bytes::from_static(b"p"))),
                msg(Message::Pong(Bytes::from_static(b"unsolicited"))),
                msg(Message::text("κό")),
            ],
            "chunk {chunk}"
        );
        p.pump(); // the server's answer to the ping, queued as its events were read
        assert_eq!(
            events(&mut p.client),
            [
                msg(Message::text("from server")),
                msg(Message::Binary(vec![1, 2, 3].into())),
                msg(Message::Pong(Bytes::from_static(b"p"))), // the automatic answer
            ]
        );
    }
}

#[test]
fn pair_client_initiated_close() {
    let mut p = Pair::new(3);
    p.client
        .close(Some(CloseFrame::new(CloseCode::NORMAL, "bye")))
        .unwrap();
    assert_eq!(p.client.state(), State::Closing);
    assert_eq!(p.client.send_text("late"), Err(ApiMisuse::SendAfterClose));
    let (client_shut, server_shut) = p.pump();
    assert!(server_shut, "server closes TCP first (RFC 6455 7.1.1)");
    assert!(client_shut, "client shuts down after the server's FIN");
    assert_eq!(
        events(&mut p.server),
        [Event::Closed(Ok(Some(CloseFrame::new(1000, "bye"))))]
    );
    assert_eq!(
        events(&mut p.client),
        [Event::Closed(Ok(Some(CloseFrame::new(1000, "bye"))))],
        "code and reason echoed"
    );
    assert!(p.server.last_error().is_none() && p.client.last_error().is_none());
    assert!(p.client.is_terminated());
}

#[test]
fn pair_server_initiated_close_echoes_code() {
    let mut p = Pair::new(1000);
    p.server
        .close(Some(CloseFrame::new(CloseCode(4000), "done")))
        .unwrap();
    // Before the pump the server only sends; it must not shut down until the client answers.
    let (out, shut) = drain(&mut p.server);
    assert!(!shut);
    p.client.receive(&out);
    let (reply, client_shut) = drain(&mut p.client);
    assert!(!client_shut, "a client waits for the server to close TCP");
    assert_eq!(close_code_sent(&reply), Some(4000));
    assert_eq!(
        events(&mut p.client),
        [Event::Closed(Ok(Some(CloseFrame::new(4000, "done"))))]
    );
    p.server.receive(&reply);
    assert_eq!(
        events(&mut p.server),
        [Event::Closed(Ok(Some(CloseFrame::new(4000, "done"))))]
    );
    assert_eq!(drain(&mut p.server), (vec![], true));
    assert_eq!(p.client.state(), State::Closed);
    p.client.receive_eof();
    assert!(p.client.last_error().is_none());
    assert_eq!(drain(&mut p.client), (vec![], true));
    assert_eq!(p.client.state(), State::Terminated);
}

#[test]
fn close_without_code_is_answered_empty() {
    let mut s = server();
    s.receive(&cf(0x88, b""));
    let (out, shut) = drain(&mut s);
    assert_eq!(out, [0x88, 0x00]);
    assert!(shut);
    assert_eq!(events(&mut s), [Event::Closed(Ok(None))]);
}

#[test]
fn data_after_close_is_ignored() {
    let mut s = server();
    let mut input = cf(0x88, &1000u16.to_be_bytes());
    input.extend(cf(0x81, b"late"));
    input.extend([0xff, 0xff]); // garbage too
    s.receive(&input);
    assert_eq!(
        events(&mut s),
        [Event::Closed(Ok(Some(CloseFrame::new(1000, ""))))]
    );
    assert!(s.last_error().is_none());
}

#[test]
fn data_received_while_closing_is_delivered() {
    let mut s = server();
    s.close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        .unwrap();
    s.receive(&cf(0x81, b"in flight"));
    assert_eq!(events(&mut s), [msg(Message::text("in flight"))]);
}

// --------------------------------------------------------------------------------------------
// Rules that fail the connection (issue items 2, 4 and 5)

#[test]
fn reserved_opcodes_fail_1002() {
    for op in [3u8, 4, 5, 6, 7, 0xb, 0xc, 0xd, 0xe, 0xf] {
        let e = assert_server_fails(&cf(0x80 | op, b""), 1002);
        assert_eq!(e, ProtocolError::ReservedOpcode(op));
    }
}

#[test]
fn rsv_bits_fail_1002() {
    for rsv in [0x40u8, 0x20, 0x10, 0x70] {
        let e = assert_server_fails(&cf(0x81 | rsv, b"x"), 1002);
        assert_eq!(e, ProtocolError::ReservedBitsSet(rsv >> 4));
        assert_server_fails(&cf(0x89 | rsv, b""), 1002);
    }
    // An extension may own RSV1, on the first frame of a data message only.
    #[cfg(not(feature = "deflate"))]
    return;
    #[cfg(feature = "deflate")]
    let mut s = server().with_deflate(Some(deflate::params(15, false)));
    let mut input = cf(0x41, b"a"); // RSV1, text, not final
    input.extend(cf(0xC0, b"b")); // RSV1 on a continuation: not allowed
    s.receive(&input);
    assert_fails(&mut s, 1002);
}

#[test]
fn length_top_bit_fails_1002() {
    let mut input = vec![0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 0];
    input.extend([1, 2, 3, 4]);
    assert_eq!(
        assert_server_fails(&input, 1002),
        ProtocolError::LengthOverflow
    );
}

#[test]
fn non_minimal_length_fails_1002() {
    let mut input = vec![0x82, 0xfe, 0x00, 0x05, 1, 2, 3, 4];
    input.extend([0; 5]);
    assert_eq!(
        assert_server_fails(&input, 1002),
        ProtocolError::NonMinimalLength
    );
}

#[test]
fn control_frame_rules_fail_1002() {
    let e = assert_server_fails(&cf(0x89, &[0; 126]), 1002);
    assert_eq!(e, ProtocolError::ControlFrameTooLong(126));
    let e = assert_server_fails(&cf(0x09, b"x"), 1002);
    assert_eq!(e, ProtocolError::FragmentedControlFrame);
    // 125 bytes is fine.
    let mut s = server();
    s.receive(&cf(0x89, &[7; 125]));
    assert_eq!(events(&mut s), [msg(Message::Ping(vec![7; 125].into()))]);
}

#[test]
fn masking_by_role_fails_1002() {
    let e = assert_server_fails(&raw(0x81, b"hi", None), 1002);
    assert_eq!(e, ProtocolError::UnmaskedFrameFromClient);
    let mut c = client();
    c.receive(&raw(0x81, b"hi", Some(KEY)));
    assert_eq!(
        assert_fails(&mut c, 1002),
        ProtocolError::MaskedFrameFromServer
    );
}

#[test]
fn continuation_rules_fail_1002() {
    let e = assert_server_fails(&cf(0x80, b"x"), 1002);
    assert_eq!(e, ProtocolError::ContinuationWithoutStart);
    let mut input = cf(0x01, b"a");
    input.extend(cf(0x81, b"b"));
    let e = assert_server_fails(&input, 1002);
    assert_eq!(e, ProtocolError::DataFrameInsideFragmentedMessage);
    let mut input = cf(0x02, b"a");
    input.extend(cf(0x02, b"b"));
    assert_server_fails(&input, 1002);
    // Control frames may interleave.
    let mut input = cf(0x01, b"a");
    input.extend(cf(0x89, b"p"));
    input.extend(cf(0x00, b"b"));
    input.extend(cf(0x8a, b"q"));
    input.extend(cf(0x80, b"c"));
    assert_eq!(
        every_split(server, &input),
        [
            msg(Message::Ping(Bytes::from_static(b"p"))),
            msg(Message::Pong(Bytes::from_static(b"q"))),
            msg(Message::text("abc")),
        ]
    );
}

#[test]
fn invalid_utf8_fails_1007() {
    let e = assert_server_fails(&cf(0x81, b"ab\xffcd"), 1007);
    assert_eq!(e, ProtocolError::InvalidUtf8 { offset: 2 });
    // Across frames: the second frame's first byte breaks a sequence begun in the first.
    let mut input = cf(0x01, b"ok\xce");
    input.extend(cf(0x80, b"\x41"));
    assert_eq!(
        assert_server_fails(&input, 1007),
        ProtocolError::InvalidUtf8 { offset: 3 }
    );
    // Truncated at the end of the message.
    let mut input = cf(0x01, b"ok");
    input.extend(cf(0x80, b"\xe2\x82"));
    assert_server_fails(&input, 1007);
    // Binary is not checked.
    let mut s = server();
    s.receive(&cf(0x82, b"\xff"));
    assert_eq!(events(&mut s), [msg(Message::Binary(vec![0xff].into()))]);
}

#[test]
fn invalid_utf8_fails_fast_before_the_frame_ends() {
    // A 1000-byte text frame whose 5th byte is invalid: only the first 20 bytes arrive.
    let mut payload = vec![b'a'; 1000];
    payload[4] = 0xff;
    let frame = cf(0x81, &payload);
    let mut s = server();
    s.receive(&frame[..20]);
    assert_fails(&mut s, 1007);
    // Same for a fragmented message: the bad byte is in the second frame's first piece.
    let mut input = cf(0x01, "κό".as_bytes());
    let second = cf(0x80, &[0xed, 0xa0, 0x80, b'x', b'y', b'z']);
    input.extend_from_slice(&second[..8]); // header (6) + ED A0
    let mut s = server();
    s.receive(&input);
    assert_fails(&mut s, 1007);
}

#[test]
fn close_payload_rules() {
    assert_eq!(
        assert_server_fails(&cf(0x88, b"\x03"), 1002),
        ProtocolError::CloseFrameTooShort
    );
    for code in [0u16, 999, 1004, 1005, 1006, 1015, 1016, 2999, 5000] {
        assert_eq!(
            assert_server_fails(&cf(0x88, &code.to_be_bytes()), 1002),
            ProtocolError::InvalidCloseCode(code)
        );
    }
    let mut bad_reason = 1000u16.to_be_bytes().to_vec();
    bad_reason.extend_from_slice(b"\xce\xba\xed\xa0\x80");
    assert_eq!(
        assert_server_fails(&cf(0x88, &bad_reason), 1007),
        ProtocolError::InvalidCloseReason
    );
    for code in [1000u16, 1001, 1003, 1007, 1011, 1014, 3000, 4999] {
        let mut s = server();
        s.receive(&cf(0x88, &code.to_be_bytes()));
        assert_eq!(close_code_sent(&drain(&mut s).0), Some(code));
    }
}

#[test]
fn too_big_fails_1009_without_buffering() {
    let config = Config::default().max_message_size(1000).max_frame_size(600);
    // A frame header announcing 1 GiB: refused when the header arrives.
    let mut s = Connection::open(
        Role::Server,
        config.clone(),
        Agreed::default(),
        Instant::now(),
    );
    s.receive(&[0x82, 0xff, 0, 0, 0, 0, 0x40, 0, 0, 0, 1, 2, 3, 4]);
    let e = assert_fails(&mut s, 1009);
    assert!(matches!(e, ProtocolError::FrameTooBig { limit: 600, .. }));
    // Fragments that add up past the message limit: refused at the header of the one that
    // crosses it, with nothing of its payload buffered.
    let mut s = Connection::open(Role::Server, config, Agreed::default(), Instant::now());
    s.receive(&cf(0x02, &[0; 500]));
    s.receive(&cf(0x00, &[0; 400]));
    let third = cf(0x80, &[0; 200]);
    s.receive(&third[..8]); // just the header (16-bit length, mask)
    let e = assert_fails(&mut s, 1009);
    assert!(matches!(
        e,
        ProtocolError::MessageTooBig { limit: 1000, .. }
    ));
    assert_eq!(s.buffered_capacity(), 0, "nothing kept after failing");
}

/// A valid message followed by a bad frame in one read: the message is delivered, and can be
/// answered, before the bad frame fails the connection (Autobahn 3.2, 4.1.3, 5.15).
#[test]
fn message_before_bad_frame_can_be_answered() {
    let mut s = server();
    let mut input = cf(0x81, b"first");
    input.extend(cf(0xA1, b"bad rsv"));
    s.receive(&input);
    assert_eq!(s.poll_event(), Some(msg(Message::text("first"))));
    s.send_text("first").unwrap(); // the echo goes out before the close
    assert_fails(&mut s, 1002);
    let mut s = server();
    s.receive(&input);
    s.poll_event();
    s.send_text("echo").unwrap();
    s.poll_event();
    let frames = frames_out(&drain(&mut s).0);
    assert_eq!(frames[0], (0x81, b"echo".to_vec()));
    assert_eq!(frames[1].0, 0x88);
}

#[test]
fn failing_twice_sends_one_close() {
    let mut s = server();
    let mut input = cf(0x83, b"");
    input.extend(cf(0x84, b""));
    s.receive(&input);
    let (out, _) = drain(&mut s);
    assert_eq!(frames_out(&out).len(), 1);
}

// --------------------------------------------------------------------------------------------
// Ping and pong

#[test]
fn auto_pong_can_be_disabled() {
    let mut s = Connection::open(
        Role::Server,
        Config::default().auto_pong(false),
        Agreed::default(),
        Instant::now(),
    );
    s.receive(&cf(0x89, b"x"));
    assert_eq!(drain(&mut s).0, b"");
    assert_eq!(
        events(&mut s),
        [msg(Message::Ping(Bytes::from_static(b"x")))]
    );
    s.send_pong(&b"x"[..]).unwrap();
    assert_eq!(frames_out(&drain(&mut s).0), [(0x8a, b"x".to_vec())]);
}

#[test]
fn every_ping_gets_its_own_pong() {
    let mut s = server();
    let input: Vec<u8> = (0..10u8).flat_map(|i| cf(0x89, &[i])).collect();
    s.receive(&input);
    assert_eq!(events(&mut s).len(), 10);
    let pongs = frames_out(&drain(&mut s).0);
    assert_eq!(
        pongs,
        (0..10u8).map(|i| (0x8a, vec![i])).collect::<Vec<_>>()
    );
}

// --------------------------------------------------------------------------------------------
// Commands: local misuse is a typed error, at once

#[test]
fn api_misuse() {
    let mut c = client();
    assert_eq!(
        c.send_ping(vec![0; 126]),
        Err(ApiMisuse::ControlPayloadTooLong(126))
    );
    assert_eq!(
        c.send_pong(vec![0; 200]),
        Err(ApiMisuse::ControlPayloadTooLong(200))
    );
    assert_eq!(
        c.close(Some(CloseFrame::new(CloseCode(1005), ""))),
        Err(ApiMisuse::InvalidCloseCode(1005))
    );
    assert_eq!(
        c.close(Some(CloseFrame::new(CloseCode(1000), "x".repeat(124)))),
        Err(ApiMisuse::CloseReasonTooLong(124))
    );
    c.send_fragment(DataKind::Text, &b"a"[..], false).unwrap();
    assert_eq!(
        c.send_text("whole"),
        Err(ApiMisuse::FragmentedMessageInProgress)
    );
    assert_eq!(
        c.send_fragment(DataKind::Binary, &b"b"[..], true),
        Err(ApiMisuse::FragmentedMessageInProgress)
    );
    assert_eq!(
        c.send_fragment(DataKind::Text, &b"\xff"[..], true),
        Err(ApiMisuse::InvalidUtf8)
    );
    assert_eq!(
        c.send_fragment(DataKind::Text, &b"\xce"[..], true),
        Err(ApiMisuse::InvalidUtf8)
    );
    c.send_fragment(DataKind::Text, &b"\xce"[..], false)
        .unwrap();
    c.send_fragment(DataKind::Text, &b"\xba"[..], true).unwrap();
    assert!(!drain(&mut c).0.is_empty());
    c.close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        .unwrap();
    for r in [
        c.send_text("x"),
        c.send_binary(vec![1]),
        c.send_ping(vec![]),
        c.close(Some(CloseFrame::new(CloseCode::NORMAL, ""))),
    ] {
        assert_eq!(r, Err(ApiMisuse::SendAfterClose));
    }
    // Nothing was queued by the failed calls: one close frame after the data.
    let frames = frames_out(&drain(&mut c).0);
    assert_eq!(frames.len(), 1);
}

#[test]
fn fail_sends_chosen_code() {
    let mut s = server();
    s.fail(CloseCode::POLICY_VIOLATION, "go away").unwrap();
    let (out, shut) = drain(&mut s);
    assert_eq!(close_code_sent(&out), Some(1008));
    assert!(shut);
}

// --------------------------------------------------------------------------------------------
// Streaming mode

#[test]
fn streaming_hands_out_fragments_as_they_arrive() {
    let config = Config::default().streaming(true).max_message_size(10);
    let mut s = Connection::open(Role::Server, config, Agreed::default(), Instant::now());
    let payload = vec![b'z'; 100]; // over the message limit: streaming ignores it
    let frame = cf(0x01, &payload);
    s.receive(&frame[..50]);
    let first = events(&mut s);
    assert!(
        matches!(&first[..], [Event::Fragment(Fragment { first: true, fin: false, kind: DataKind::Text, data })] if data.len() == 44)
    );
    s.receive(&frame[50..]);
    s.receive(&cf(0x80, b"!"));
    let rest = events(&mut s);
    let mut all: Vec<u8> = match &first[0] {
        Event::Fragment(f) => f.data.to_vec(),
        _ => unreachable!(),
    };
    for e in &rest {
        let Event::Fragment(f) = e else {
            panic!("{e:?}")
        };
        assert!(!f.first);
        all.extend_from_slice(&f.data);
    }
    assert!(matches!(rest.last(), Some(Event::Fragment(f)) if f.fin));
    let mut want = payload.clone();
    want.push(b'!');
    assert_eq!(all, want);
    // Invalid UTF-8 still fails fast in streaming mode.
    let mut s = Connection::open(
        Role::Server,
        Config::default().streaming(true),
        Agreed::default(),
        Instant::now(),
    );
    s.receive(&cf(0x81, b"ok\xff"));
    assert_fails(&mut s, 1007);
}

// --------------------------------------------------------------------------------------------
// Timers

#[test]
fn close_timeout_gives_up_on_a_silent_peer() {
    let mut p = Pair::new(100);
    p.server
        .close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        .unwrap();
    let deadline = p.server.poll_timeout().expect("close timer armed");
    assert_eq!(deadline, (p.now + Config::default().close_timeout).into());
    drain(&mut p.server); // the client never answers
    p.tick(Duration::from_secs(4));
    assert_ne!(p.server.state(), State::Terminated);
    p.tick(Duration::from_secs(2));
    assert_eq!(
        p.server.last_error(),
        Some(&ConnectionError::Timeout(Timeout::Close))
    );
    assert_eq!(
        events(&mut p.server),
        [Event::Closed(Err(ConnectionError::Timeout(Timeout::Close)))]
    );
    assert_eq!(drain(&mut p.server), (vec![], true));
    assert!(p.server.is_terminated());
}

#[test]
fn client_waits_for_server_fin_then_times_out() {
    let mut p = Pair::new(100);
    p.server
        .close(Some(CloseFrame::new(CloseCode::NORMAL, "")))
        .unwrap();
    let (out, _) = drain(&mut p.server);
    p.client.receive(&out);
    drain(&mut p.client);
    assert!(p.client.poll_timeout().is_some());
    p.tick(Duration::from_secs(6));
    // The close handshake itself was clean: no error, but the client stops waiting.
    assert!(p.client.last_error().is_none());
    assert_eq!(drain(&mut p.client), (vec![], true));
    assert!(p.client.is_terminated());
}

#[test]
fn keepalive_pings_and_idle_timeout() {
    let config = Config::default()
        .keepalive(Some(Duration::from_secs(10)))
        .idle_timeout(Some(Duration::from_secs(25)));
    let mut p = Pair::with_config(100, config);
    assert_eq!(
        p.server.poll_timeout(),
        Some((p.now + Duration::from_secs(10)).into())
    );
    p.tick(Duration::from_secs(10));
    let (out, _) = drain(&mut p.server);
    assert_eq!(frames_out(&out), [(0x89, vec![])], "keepalive ping");
    // The client answers: the answer counts as activity.
    p.client.receive(&out);
    let (pong, _) = drain(&mut p.client);
    p.server.receive(&pong);
    events(&mut p.server);
    p.tick(Duration::from_secs(24));
    assert!(p.server.last_error().is_none());
    // Now the client goes silent.
    drain(&mut p.server);
    p.tick(Duration::from_secs(11));
    assert_eq!(
        p.server.last_error(),
        Some(&ConnectionError::Timeout(Timeout::Idle))
    );
    assert_eq!(
        events(&mut p.server),
        [Event::Closed(Err(ConnectionError::Timeout(Timeout::Idle)))]
    );
}

/// A peer that trickles one byte of a frame every 2 s (and never reads) is asked for a pong
/// after 20 s without a whole frame and dropped 20 s later, with the default settings: bytes
/// alone do not keep a connection alive.
#[test]
fn trickling_peer_is_dropped_by_keepalive_within_a_minute() {
    let start = Instant::now();
    let mut s = Connection::open(Role::Server, Config::default(), Agreed::default(), start);
    let frame = cf(0x82, &[0u8; 1000]);
    let mut pinged_at = None;
    let mut ended_at = None;
    for (i, byte) in frame.iter().enumerate() {
        let now = start + Duration::from_secs(2 * i as u64);
        s.handle_timeout(now);
        let (out, _) = drain(&mut s);
        if pinged_at.is_none() && frames_out(&out).contains(&(0x89, vec![])) {
            pinged_at = Some(now - start);
        }
        if s.last_error().is_some() {
            ended_at = Some(now - start);
            break;
        }
        s.receive(std::slice::from_ref(byte));
        assert!(events(&mut s).is_empty());
    }
    assert_eq!(pinged_at, Some(Duration::from_secs(20)));
    assert_eq!(ended_at, Some(Duration::from_secs(40)));
    assert_eq!(
        events(&mut s),
        [Event::Closed(Err(ConnectionError::Timeout(
            Timeout::Keepalive
        )))]
    );
}

/// A large frame arriving slowly but steadily (8 KiB a second: the peer's pong waits behind
/// it) answers the keepalive pings by its progress and is not cut; the message arrives.
#[test]
fn slow_large_upload_is_not_cut_by_keepalive() {
    let start = Instant::now();
    let mut s = Connection::open(Role::Server, Config::default(), Agreed::default(), start);
    let payload = vec![5u8; 1 << 20];
    let frame = cf(0x82, &payload);
    let mut got = Vec::new();
    for (i, piece) in frame.chunks(8 << 10).enumerate() {
        s.handle_timeout(start + Duration::from_secs(i as u64));
        drain(&mut s);
        s.receive(piece);
        got.extend(events(&mut s));
    }
    assert!(s.last_error().is_none(), "{:?}", s.last_error());
    assert_eq!(got, [msg(Message::binary(payload))]);
}

/// Any whole frame answers a keepalive ping, and a peer that sends whole frames is never
/// pinged at all.
#[test]
fn whole_frames_keep_the_connection_alive() {
    let mut p = Pair::new(100);
    for _ in 0..10 {
        p.tick(Duration::from_secs(15));
        p.client.send_text("still here").unwrap();
        p.pump();
        events(&mut p.server);
        events(&mut p.client);
    }
    assert!(p.server.last_error().is_none());
    assert!(p.client.last_error().is_none());
    assert_eq!(p.server.state(), State::Open);
}

/// Output that waits for the write timeout (30 s by default) ends the connection and drops
/// what was queued. Progress means every byte queued at the last mark has been written: a
/// peer that reads a trickle does not reset the clock, one that keeps up does.
#[test]
fn non_reading_peer_meets_the_write_timeout() {
    let start = Instant::now();
    let at = |ms: u64| start + Duration::from_millis(ms);
    // Keepalive off, to see the write timeout alone (with it on, an unanswered ping would end
    // the connection too).
    let config = Config::default().keepalive(None);
    let new = || Connection::open(Role::Server, config.clone(), Agreed::default(), start);

    // A trickle of progress does not count.
    let mut s = new();
    s.send_binary(vec![1u8; 1 << 20]).unwrap();
    // The clock starts at the first `now` after the queue filled.
    s.handle_timeout(at(0));
    for t in (1..30).map(|i| i * 1000) {
        s.handle_timeout(at(t));
        s.advance_transmit(100);
    }
    s.handle_timeout(at(29_999));
    assert!(s.last_error().is_none());
    s.handle_timeout(at(30_000));
    assert_eq!(
        events(&mut s),
        [Event::Closed(Err(ConnectionError::Timeout(Timeout::Write)))]
    );
    assert_eq!(s.transmit_len(), 0, "the queued output is dropped");
    assert!(s.buffered_capacity() < 1 << 10);
    assert!(s.is_terminated());

    // Writing out everything queued at the mark is progress, timed at the next `now`.
    let mut s = new();
    s.send_binary(vec![1u8; 1 << 20]).unwrap();
    s.handle_timeout(at(10_000));
    s.send_binary(vec![2u8; 1 << 20]).unwrap();
    s.handle_timeout(at(25_000));
    s.advance_transmit((1 << 20) + 100);
    s.handle_timeout(at(26_000));
    assert_eq!(s.poll_timeout(), Some(at(56_000).into()));
    s.handle_timeout(at(55_999));
    assert!(s.last_error().is_none());
    s.handle_timeout(at(56_000));
    assert!(matches!(
        s.last_error(),
        Some(ConnectionError::Timeout(Timeout::Write))
    ));
}

#[test]
fn eof_without_close_is_abnormal() {
    let mut s = server();
    s.receive(&cf(0x81, b"hi")[..4]);
    s.receive_eof();
    assert_eq!(s.last_error(), Some(&ConnectionError::UnexpectedEof));
    assert_eq!(
        events(&mut s),
        [Event::Closed(Err(ConnectionError::UnexpectedEof))]
    );
    assert_eq!(drain(&mut s), (vec![], true));
    assert!(s.is_terminated());
}

// --------------------------------------------------------------------------------------------
// Buffers

#[test]
fn zero_copy_receive_and_idle_release() {
    let mut s = server();
    let frame = cf(0x82, &[9; 3000]);
    let mut fed = 0;
    while fed < frame.len() {
        let room = s.receive_buf();
        let n = room.len().min(frame.len() - fed).min(1000);
        room[..n].copy_from_slice(&frame[fed..fed + n]);
        s.receive_commit(n);
        fed += n;
    }
    assert_eq!(events(&mut s), [msg(Message::Binary(vec![9; 3000].into()))]);
    s.send_text("x").unwrap();
    drain(&mut s);
    s.release_idle_buffers();
    assert_eq!(s.buffered_capacity(), 0);
}

#[test]
fn vectored_transmit_matches_poll_transmit() {
    let mut a = server();
    let mut b = server();
    for c in [&mut a, &mut b] {
        c.send_text("small").unwrap();
        c.send_binary(vec![1; 5000]).unwrap();
        c.send_ping(&b"p"[..]).unwrap();
    }
    let (via_poll, _) = drain(&mut a);
    let mut via_chunks = Vec::new();
    assert!(
        b.transmit_chunks().count() >= 2,
        "big payload goes out as its own chunk"
    );
    while b.transmit_len() > 0 {
        let first: Vec<u8> = b
            .transmit_chunks()
            .next()
            .unwrap()
            .iter()
            .take(777)
            .copied()
            .collect();
        via_chunks.extend_from_slice(&first);
        b.advance_transmit(first.len());
    }
    assert_eq!(via_poll, via_chunks);
}

#[test]
fn wants_read_stops_when_output_backs_up() {
    let mut s = Connection::open(
        Role::Server,
        Config::default().write_buffer_high_water(100),
        Agreed::default(),
        Instant::now(),
    );
    assert!(s.wants_read());
    s.send_binary(vec![0; 200]).unwrap();
    assert!(!s.wants_read());
    drain(&mut s);
    assert!(s.wants_read());
}

// --------------------------------------------------------------------------------------------
// permessage-deflate in the connection

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use websock::proto::ext::deflate::{Deflate, DeflateConfig, DeflateParams};

    pub(super) fn params(bits: u8, reset: bool) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: reset,
            client_no_context_takeover: reset,
            server_max_window_bits: bits,
            client_max_window_bits: bits,
        }
    }

    fn pair(bits: u8, reset: bool, chunk: usize) -> Pair {
        let config = Config::default().deflate(DeflateConfig::enabled().threshold(32));
        let mut p = Pair::with_config(chunk, config);
        let terms = Some(params(bits, reset));
        p.client = std::mem::replace(&mut p.client, client()).with_deflate(terms);
        p.server = std::mem::replace(&mut p.server, server()).with_deflate(terms);
        p
    }

    /// A message larger than the work budget is compressed a budget at a time as the output
    /// drains, as one fragmented message (RSV1 on the first frame only), with control frames
    /// free to go in between; it arrives whole, and a close waits for its last frame.
    #[test]
    fn large_compressed_message_goes_out_a_budget_at_a_time() {
        let budget = 64 << 10;
        let config = Config::default()
            .poll_budget(budget)
            .deflate(DeflateConfig::enabled());
        for bits in [8, 15] {
            let mut p = Pair::with_config(1 << 20, config.clone());
            let terms = Some(params(bits, false));
            p.client = std::mem::replace(&mut p.client, client()).with_deflate(terms);
            p.server = std::mem::replace(&mut p.server, server()).with_deflate(terms);
            let text = noisy_text(1 << 20);
            p.server.send_text(text.clone()).unwrap();
            assert!(p.server.has_pending_send());
            // Only the first piece is compressed up front.
            assert!(
                p.server.transmit_len() <= budget + 64,
                "{}",
                p.server.transmit_len()
            );
            let mut wire = Vec::new();
            let mut frames = Vec::new();
            let mut pinged = false;
            loop {
                let (out, _) = drain_queued(&mut p.server);
                wire.extend_from_slice(&out);
                if !pinged {
                    p.server.send_ping(&b"between"[..]).unwrap();
                    pinged = true;
                    continue;
                }
                if !p.server.prepare_transmit() {
                    break;
                }
            }
            let mut rest = &wire[..];
            while let Some((h, n)) = FrameHeader::decode(rest).unwrap() {
                frames.push((h.opcode, h.rsv1(), h.fin));
                rest = &rest[n + h.payload_len as usize..];
            }
            assert!(frames.len() >= 16, "{bits}: {} frames", frames.len());
            assert_eq!(frames[0], (OpCode::Text, true, false));
            assert_eq!(frames[1].0, OpCode::Ping, "a ping between the fragments");
            assert!(frames[2..]
                .iter()
                .all(|f| f.0 == OpCode::Continuation && !f.1));
            assert!(frames.last().unwrap().2, "the last frame ends it");
            p.client.receive(&wire);
            assert_eq!(
                events(&mut p.client),
                [
                    msg(Message::Ping(Bytes::from_static(b"between"))),
                    msg(Message::text(text))
                ]
            );
        }
        // A close right after a large send: the whole message goes first.
        let mut p = Pair::with_config(1 << 20, config);
        let terms = Some(params(15, false));
        p.client = std::mem::replace(&mut p.client, client()).with_deflate(terms);
        p.server = std::mem::replace(&mut p.server, server()).with_deflate(terms);
        let text = noisy_text(300_000);
        p.server.send_text(text.clone()).unwrap();
        p.server.close(None).unwrap();
        assert!(!p.server.has_pending_send());
        p.pump();
        assert_eq!(
            events(&mut p.client),
            [msg(Message::text(text)), Event::Closed(Ok(None))]
        );
    }

    /// Incompressible data grows a little under deflate: a message of exactly the limit is
    /// still accepted though its frame is larger than the limit on the wire, and one byte more
    /// is refused as it inflates.
    #[test]
    fn incompressible_message_at_the_limit_is_accepted() {
        let limit = 1 << 20;
        let mut x = 0x1234_5678_9abc_def1_u64;
        let data: Vec<u8> = (0..limit + 1)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let config = Config::default()
            .max_message_size(limit)
            .max_frame_size(limit);
        for (len, ok) in [(limit, true), (limit + 1, false)] {
            let cfg = DeflateConfig::enabled();
            let wire = Deflate::new(params(15, false).for_client(), &cfg).compress(&data[..len]);
            assert!(wire.len() > len, "random data grew: {} > {len}", wire.len());
            let mut s = Connection::open(
                Role::Server,
                config.clone(),
                Agreed::default(),
                Instant::now(),
            )
            .with_deflate(Some(params(15, false)));
            s.receive(&cf(0xC2, &wire));
            if ok {
                assert_eq!(events(&mut s), [msg(Message::binary(data[..len].to_vec()))]);
            } else {
                assert_fails(&mut s, 1009);
            }
        }
    }

    /// Only what is queued now, without compressing more.
    fn drain_queued(c: &mut Connection) -> (Vec<u8>, bool) {
        let mut out = Vec::new();
        let mut shutdown = false;
        while let Some(t) = c.poll_transmit() {
            match t {
                Transmit::Data(b) => out.extend_from_slice(&b),
                Transmit::Shutdown => shutdown = true,
            }
        }
        (out, shutdown)
    }

    /// Inflating is bounded per call: a frame that inflates to 4 MiB takes many bounded polls,
    /// each producing at most the budget, and `poll_event` (unbounded) goes straight through.
    #[test]
    fn inflating_stops_at_the_budget() {
        let budget = 64 << 10;
        let cfg = DeflateConfig::enabled();
        let mut tx = Deflate::new(params(15, false).for_client(), &cfg);
        let wire = cf(0xC2, &tx.compress(&vec![7u8; 4 << 20]));
        let config = Config::default().poll_budget(budget);
        let make = || {
            Connection::open(
                Role::Server,
                config.clone(),
                Agreed::default(),
                Instant::now(),
            )
            .with_deflate(Some(params(15, false)))
        };
        let mut s = make();
        s.receive(&wire);
        let mut yields = 0;
        let message = loop {
            match s.poll_event_bounded() {
                Some(ev) => break ev,
                None => {
                    assert!(s.wants_poll(), "stopped without an event or more to do");
                    yields += 1;
                }
            }
        };
        assert_eq!(message, msg(Message::binary(vec![7u8; 4 << 20])));
        assert!(yields >= (4 << 20) / budget - 1, "{yields} yields");
        assert!(!s.wants_poll());
        let mut s = make();
        s.receive(&wire);
        assert_eq!(events(&mut s), [msg(Message::binary(vec![7u8; 4 << 20]))]);
    }

    /// Under context takeover, small uncompressed messages (below the threshold, RSV1 clear)
    /// interleave with compressed ones without disturbing the shared window: the case a peer
    /// crate once corrupted silently.
    #[test]
    fn uncompressed_small_messages_interleave_under_takeover() {
        for bits in 8..=15 {
            for reset in [false, true] {
                let mut p = pair(bits, reset, 333);
                let long = "compressible text, compressible text, compressible text. ".repeat(40);
                let mut sent = Vec::new();
                for i in 0..20 {
                    let m = if i % 3 == 1 {
                        format!("tiny {i}")
                    } else {
                        format!("{long}{i}")
                    };
                    p.client.send_text(m.clone()).unwrap();
                    p.server.send_text(m.clone()).unwrap();
                    sent.push(msg(Message::text(m)));
                }
                p.pump();
                assert_eq!(events(&mut p.server), sent, "bits {bits} reset {reset}");
                assert_eq!(events(&mut p.client), sent, "bits {bits} reset {reset}");
            }
        }
    }

    #[test]
    fn compressed_frames_carry_rsv1_on_the_first_frame_only() {
        let mut p = pair(15, false, 1000);
        p.server.send_text("x".repeat(1000)).unwrap();
        p.server.send_text("short").unwrap();
        let (out, _) = drain(&mut p.server);
        let (h1, n1) = FrameHeader::decode(&out).unwrap().unwrap();
        assert!(h1.rsv1());
        assert!(h1.payload_len < 100, "compressed: {}", h1.payload_len);
        let rest = &out[n1 + h1.payload_len as usize..];
        let (h2, _) = FrameHeader::decode(rest).unwrap().unwrap();
        assert!(!h2.rsv1(), "below the threshold: sent plain");
    }

    /// A compressed message split over several frames (RSV1 on the first only), with a ping in
    /// between, assembles to the original.
    #[test]
    fn fragmented_compressed_message() {
        let cfg = DeflateConfig::enabled();
        let mut tx = Deflate::new(params(15, false).for_client(), &cfg);
        let text = "fragmented and compressed ✓ ".repeat(200);
        let wire = tx.compress(text.as_bytes());
        let third = wire.len() / 3;
        let mut input = cf(0x41, &wire[..third]); // RSV1 + text, not final
        input.extend(cf(0x89, b"ping"));
        input.extend(cf(0x00, &wire[third..2 * third]));
        input.extend(cf(0x80, &wire[2 * third..]));
        let make = || server().with_deflate(Some(params(15, false)));
        assert_eq!(
            every_split(make, &input),
            [
                msg(Message::Ping(Bytes::from_static(b"ping"))),
                msg(Message::text(text))
            ]
        );
    }

    #[test]
    fn decompression_bomb_fails_1009() {
        let cfg = DeflateConfig::enabled();
        let mut tx = Deflate::new(params(15, false).for_client(), &cfg);
        let wire = tx.compress(&vec![b'a'; 8 << 20]);
        let mut s = Connection::open(
            Role::Server,
            Config::default().max_message_size(1 << 20),
            Agreed::default(),
            Instant::now(),
        )
        .with_deflate(Some(params(15, false)));
        s.receive(&cf(0xC2, &wire));
        let e = assert_fails(&mut s, 1009);
        assert!(
            matches!(e, ProtocolError::MessageTooBig { limit: 1048576, .. }),
            "{e:?}"
        );
    }

    #[test]
    fn compressed_invalid_utf8_fails_1007_and_corrupt_data_fails() {
        let cfg = DeflateConfig::enabled();
        let mut tx = Deflate::new(params(15, false).for_client(), &cfg);
        let wire = tx.compress(b"valid start \xff then invalid");
        let mut s = server().with_deflate(Some(params(15, false)));
        s.receive(&cf(0xC1, &wire));
        assert_fails(&mut s, 1007);
        let mut s = server().with_deflate(Some(params(15, false)));
        s.receive(&cf(0xC1, &[0xff, 0xfe, 0xfd]));
        assert_fails(&mut s, 1007);
    }

    #[test]
    fn rsv1_without_the_extension_fails_1002() {
        assert_server_fails(&cf(0xC1, b"x"), 1002);
    }
}

/// A frame header that declares 64 MiB and sends nothing more costs one read's worth of buffer,
/// not the declared length (an idle connection holds none); as the payload arrives the room
/// grows with it, never ahead of it by more than what already came.
#[test]
fn receive_room_follows_the_bytes_received() {
    let config = Config::default()
        .max_frame_size(64 << 20)
        .max_message_size(64 << 20);
    let mut s = Connection::open(Role::Server, config, Agreed::default(), Instant::now());
    let mut head = vec![0x82, 0xff];
    head.extend_from_slice(&(64u64 << 20).to_be_bytes());
    head.extend_from_slice(&[1, 2, 3, 4]);
    s.receive(&head);
    assert!(events(&mut s).is_empty());
    let room = s.receive_buf().len();
    assert!(room <= 16 << 10, "room {room} for a header alone");
    assert!(
        s.buffered_capacity() <= 16 << 10,
        "{}",
        s.buffered_capacity()
    );
    // 1 MiB arrives through the zero-copy path: capacity stays within twice what arrived.
    let mut received = 0usize;
    while received < 1 << 20 {
        let buf = s.receive_buf();
        let n = buf.len().min((1 << 20) - received);
        s.receive_commit(n);
        received += n;
        assert!(
            s.buffered_capacity() <= 2 * received + (16 << 10),
            "capacity {} after {received}",
            s.buffered_capacity()
        );
    }
}

/// `receive_bytes`: messages are slices of the bytes given (unmasked in place), not copies.
#[test]
fn received_messages_are_slices_of_the_bytes_given() {
    let mut s = Connection::open(
        Role::Server,
        Config::default(),
        Agreed::default(),
        Instant::now(),
    );
    let mut block = bytes::BytesMut::new();
    block.extend_from_slice(&cf(0x82, b"hello"));
    block.extend_from_slice(&cf(0x81, b"world"));
    let start = block.as_ptr() as usize;
    let range = start..start + block.len();
    s.receive_bytes(block);
    let mut got = Vec::new();
    while let Some(Event::Message(m)) = s.poll_event() {
        let p = m.as_payload();
        assert!(range.contains(&(p.as_ptr() as usize)), "copied: {m:?}");
        got.push(m);
    }
    assert_eq!(
        got,
        vec![Message::binary(&b"hello"[..]), Message::text("world")]
    );
}

/// `receive_reserve`/`receive_appended`: a frame fed in pieces appended to the connection's own
/// buffer (as tokio's `poll_read_buf` does) parses as if it came in one piece, after bytes
/// given with `receive_bytes` started it.
#[test]
fn appending_reads_complete_a_frame_started_in_borrowed_bytes() {
    let mut s = Connection::open(
        Role::Server,
        Config::default(),
        Agreed::default(),
        Instant::now(),
    );
    let payload: Vec<u8> = (0..100_000u32).map(|i| (i % 251) as u8).collect();
    let wire = cf(0x82, &payload);
    let mut first = bytes::BytesMut::new();
    first.extend_from_slice(&wire[..1000]);
    s.receive_bytes(first);
    assert_eq!(s.poll_event(), None);
    let mut at = 1000;
    while at < wire.len() {
        let buf = s.receive_reserve();
        let room = buf.capacity() - buf.len();
        assert!(room > 0);
        let n = room.min(wire.len() - at).min(7000);
        buf.extend_from_slice(&wire[at..at + n]);
        at += n;
        s.receive_appended();
    }
    assert_eq!(
        s.poll_event(),
        Some(Event::Message(Message::binary(payload)))
    );
}
