//! The driver behind `connection_server` and `connection_client`.
//!
//! Input layout: `[flags] [ops...] [wire bytes...]`.
//! - `flags`: bits 0-3 the number of op bytes that follow; bit 4 streaming mode; bit 5 auto-pong
//!   off; bit 6 the transport ends (EOF) after the last byte; bit 7 zero-copy I/O: bytes go in
//!   through `receive_buf`/`receive_commit` and through `receive_bytes` (between frames) or
//!   `receive_reserve`/`receive_appended` (inside one), chunk by chunk in turn, and out through
//!   `transmit_chunks`/`advance_transmit` in short writes, instead of `receive` and
//!   `poll_transmit`.
//! - an op byte below 0x80 feeds the next chunk of the wire bytes (size `CHUNKS[op & 15]`);
//!   0x80 and above calls the API: `(op >> 4) & 7` picks the call, `op & 15` its argument.
//! - wire bytes left after the ops are fed in chunks of the last chunk size (all at once if no
//!   op fed any).
//!
//! So a seed is `00` followed by raw frames. When the wire bytes start with `GET ` (server) or
//! `HTTP/` (client), the connection starts in its opening handshake instead of open: the server
//! parses the request through `receive` and the harness answers [`Event::Request`] (accepting it,
//! or serving a page when the path is `/page`); the client sends a request with the fixed key
//! [`CLIENT_KEY`] and checks the response. The HTTP bytes a connection writes before it opens
//! are checked as an HTTP head, the frames after it by the [`WireChecker`]. After every chunk and every call, events are polled
//! until `None` and the transmit queue is drained into a [`WireChecker`]. Time is virtual: it
//! starts at one `Instant` and only the time ops advance it (keepalive 10 s, idle timeout 30 s,
//! close timeout 5 s).

use std::time::{Duration, Instant};

use websock::proto::close::CloseCode;
use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::server::Accept;
use websock::proto::handshake::Response;
use websock::{ApiMisuse, Config, Connection, DataKind, Event, Message, Role, Transmit};

/// The `Sec-WebSocket-Key` a fuzzed client sends (seeds answer it with the matching Accept).
pub const CLIENT_KEY: [u8; 16] = [7; 16];

use crate::is_utf8_prefix;
use crate::wire::WireChecker;

/// The limits the connection runs with.
pub const LIMIT: usize = 1 << 16;
/// Upper bound on `buffered_capacity()`.
pub const MAX_CAPACITY: usize = 4 * LIMIT + (64 << 10);

const CHUNKS: [usize; 16] = [
    1,
    2,
    3,
    4,
    5,
    6,
    7,
    9,
    10,
    14,
    16,
    100,
    126,
    1000,
    4096,
    usize::MAX,
];

/// Pieces for text fragments: split code points (valid together in the right order), and a
/// surrogate (never valid).
const TEXT_PIECES: [&[u8]; 8] = [
    b"",
    b"h\xc3\xa9",
    b"\xc3",
    b"\xa9",
    b"\xe2\x82",
    b"\xac\xf0\x9d\x84",
    b"\x9e",
    b"\xed\xa0\x80",
];

const CLOSES: [(u16, usize); 16] = [
    (1000, 0),
    (1001, 3),
    (1002, 0),
    (1003, 1),
    (1005, 0),
    (1006, 0),
    (1007, 0),
    (1011, 5),
    (1015, 0),
    (999, 0),
    (2999, 0),
    (3000, 10),
    (4999, 2),
    (5000, 0),
    (1000, 123),
    (1000, 124),
];

fn text(p: u8) -> String {
    match p {
        0 => String::new(),
        1 => "Hello".into(),
        2 => "héllo wörld".into(),
        3 => "€𝄞日本語".into(),
        p => "é".repeat(usize::from(p) * usize::from(p) * 8),
    }
}

/// Runs one input against a connection in `role`.
pub fn run(role: Role, data: &[u8]) {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let nops = usize::from(flags & 0x0f).min(rest.len());
    let (ops, wire) = rest.split_at(nops);
    let streaming = flags & 0x10 != 0;
    let config = Config::default()
        .max_message_size(LIMIT)
        .max_frame_size(LIMIT)
        .streaming(streaming)
        .auto_pong(flags & 0x20 == 0)
        .keepalive(Some(Duration::from_secs(10)))
        .idle_timeout(Some(Duration::from_secs(30)))
        .close_timeout(Duration::from_secs(5));
    let now = Instant::now();
    let handshake = match role {
        Role::Server => wire.starts_with(b"GET "),
        Role::Client => wire.starts_with(b"HTTP/"),
    };
    let mut conn = match (role, handshake) {
        (Role::Server, true) => Connection::server(config, now),
        (Role::Client, true) => {
            let request = ClientRequest::new("ws://fuzz.example/chat")
                .expect("valid URI")
                .protocol("chat")
                .fixed_key(CLIENT_KEY);
            Connection::client(request, config, now).expect("valid request")
        }
        _ => Connection::open(role, config, websock::Agreed::default(), now),
    };
    if role == Role::Client {
        conn = conn.with_mask_source(Box::new(|| [1, 2, 3, 4]));
    }
    let mut h = Harness {
        conn,
        streaming,
        zero_copy: flags & 0x80 != 0,
        feeds: 0,
        block: bytes::BytesMut::new(),
        now,
        http: handshake.then(Vec::new),
        writes: 0,
        wire: WireChecker::new(role),
        closed: false,
        rx_stream: None,
        tx_fragment: None,
    };
    let mut pos = 0;
    let mut chunk = usize::MAX;
    let feed = |h: &mut Harness, size: usize, pos: &mut usize| {
        let end = pos.saturating_add(size).min(wire.len());
        h.receive(&wire[*pos..end]);
        *pos = end;
        h.settle();
    };
    for &op in ops {
        if op < 0x80 {
            chunk = CHUNKS[usize::from(op & 15)];
            feed(&mut h, chunk, &mut pos);
        } else {
            h.api(op);
        }
    }
    while pos < wire.len() {
        feed(&mut h, chunk, &mut pos);
    }
    if flags & 0x40 != 0 {
        h.conn.receive_eof();
        h.settle();
    }
    h.finish();
}

struct Harness {
    conn: Connection,
    streaming: bool,
    zero_copy: bool,
    /// Zero-copy feeds so far: they alternate between the two adapters' ways of reading.
    feeds: usize,
    /// The shared read block zero-copy feeds are split off (as the tokio adapter's).
    block: bytes::BytesMut,
    /// The virtual clock.
    now: Instant,
    /// While the opening handshake's HTTP head is being written: the bytes so far.
    http: Option<Vec<u8>>,
    /// Short writes so far (picks the next write size in zero-copy mode).
    writes: usize,
    wire: WireChecker,
    closed: bool,
    /// Streaming mode: the message whose fragments are arriving, and for text its bytes.
    rx_stream: Option<(DataKind, Vec<u8>)>,
    /// The fragmented message we are sending, and for text its bytes so far.
    tx_fragment: Option<(DataKind, Vec<u8>)>,
}

impl Harness {
    /// Polls every event, drains the transmit queue, checks the memory bound.
    fn settle(&mut self) {
        while let Some(ev) = self.conn.poll_event() {
            self.event(ev);
            self.drain_transmit();
        }
        self.drain_transmit();
        let cap = self.conn.buffered_capacity();
        assert!(cap <= MAX_CAPACITY, "buffered_capacity() = {cap}");
    }

    fn receive(&mut self, mut data: &[u8]) {
        if !self.zero_copy {
            self.conn.receive(data);
            return;
        }
        self.feeds += 1;
        loop {
            let n = if self.feeds % 2 == 0 {
                // The blocking adapter's way: into the connection's initialized room.
                let room = self.conn.receive_buf();
                assert!(!room.is_empty(), "receive_buf() gave no room");
                let n = room.len().min(data.len());
                room[..n].copy_from_slice(&data[..n]);
                self.conn.receive_commit(n);
                n
            } else if !self.conn.has_partial_input() {
                // The tokio adapter's way between frames: owned bytes, split off a shared
                // block, taken without a copy.
                self.block.extend_from_slice(data);
                let n = data.len();
                self.conn.receive_bytes(self.block.split());
                n
            } else {
                // ... and inside a frame: appended to the connection's buffer.
                let buf = self.conn.receive_reserve();
                let room = buf.capacity() - buf.len();
                assert!(room > 0, "receive_reserve() gave no room");
                let n = room.min(data.len());
                buf.extend_from_slice(&data[..n]);
                self.conn.receive_appended();
                n
            };
            data = &data[n..];
            if data.is_empty() {
                break;
            }
        }
    }

    fn drain_transmit(&mut self) {
        if self.zero_copy {
            loop {
                let pending: Vec<u8> = self.conn.transmit_chunks().flatten().copied().collect();
                assert_eq!(pending.len(), self.conn.transmit_len());
                if pending.is_empty() {
                    break;
                }
                // A short write of 1..=len bytes.
                self.writes += 1;
                let n = 1 + (self.writes * 7919) % pending.len();
                self.out(&pending[..n]);
                self.conn.advance_transmit(n);
            }
        }
        while let Some(t) = self.conn.poll_transmit() {
            match t {
                Transmit::Data(b) => {
                    assert!(
                        !self.zero_copy,
                        "poll_transmit had data after transmit_chunks"
                    );
                    self.out(&b)
                }
                Transmit::Shutdown => {
                    self.end_http();
                    self.wire.shutdown()
                }
            }
        }
        if !self.conn.is_handshaking() {
            self.end_http();
        }
        self.wire.drained();
        assert_eq!(self.conn.transmit_len(), 0);
        assert_eq!(
            self.conn.wants_read(),
            !self.conn.is_terminated(),
            "wants_read() with nothing left to write"
        );
    }

    /// Bytes written: the HTTP head while handshaking, frames after.
    fn out(&mut self, bytes: &[u8]) {
        match &mut self.http {
            Some(head) => head.extend_from_slice(bytes),
            None => self.wire.data(bytes),
        }
    }

    /// The handshake's writing is over: what was written must be one HTTP head (and a body
    /// only for a response that is not 101).
    fn end_http(&mut self) {
        let Some(head) = self.http.take() else {
            return;
        };
        if head.is_empty() {
            return;
        }
        let end = head.windows(4).position(|w| w == b"\r\n\r\n");
        let end = end.expect("the handshake wrote no complete HTTP head") + 4;
        let text = std::str::from_utf8(&head[..end]).expect("an HTTP head is ASCII");
        assert!(
            text.starts_with("GET /chat HTTP/1.1\r\n") || text.starts_with("HTTP/1.1 "),
            "{text}"
        );
        if text.starts_with("HTTP/1.1 101 ") {
            assert_eq!(end, head.len(), "bytes after a 101 head before any frame");
        } else if text.starts_with("GET ") {
            assert_eq!(end, head.len(), "a body after the request");
        }
    }

    fn event(&mut self, ev: Event) {
        assert!(!self.closed, "event after Event::Closed: {ev:?}");
        match ev {
            Event::Message(m) => {
                assert!(
                    !self.streaming || !m.is_data(),
                    "whole data message in streaming mode"
                );
                match m {
                    Message::Text(t) => {
                        assert!(std::str::from_utf8(t.as_bytes()).is_ok());
                        assert!(t.len() <= LIMIT, "text message of {} bytes", t.len());
                    }
                    Message::Binary(b) => {
                        assert!(b.len() <= LIMIT, "binary message of {} bytes", b.len())
                    }
                    Message::Ping(b) | Message::Pong(b) => assert!(b.len() <= 125),
                    Message::Close(_) => panic!("the core reports a close as Event::Closed"),
                }
            }
            Event::Fragment(f) => {
                assert!(self.streaming, "fragment outside streaming mode");
                match &mut self.rx_stream {
                    None => assert!(f.first, "fragment {f:?} without a first piece"),
                    Some((kind, _)) => {
                        assert!(!f.first, "first piece inside a message: {f:?}");
                        assert_eq!(*kind, f.kind, "fragment kind changed");
                    }
                }
                let (kind, text) = self.rx_stream.get_or_insert((f.kind, Vec::new()));
                if *kind == DataKind::Text {
                    text.extend_from_slice(&f.data);
                    assert!(is_utf8_prefix(text), "streamed invalid UTF-8");
                    if f.fin {
                        assert!(
                            std::str::from_utf8(text).is_ok(),
                            "text ends mid code point"
                        );
                    }
                }
                if f.fin {
                    self.rx_stream = None;
                }
            }
            Event::Request(req) => {
                assert_eq!(self.conn.role(), Role::Server, "a request on a client");
                let decision = if req.path() == "/page" {
                    Err(Response::reject(200, "a page"))
                } else {
                    let p = req.protocols().first().map(|p| p.to_string());
                    Ok(p.map_or_else(Accept::new, |p| Accept::new().protocol(p)))
                };
                assert_eq!(self.conn.decide(decision), Ok(()));
                assert_eq!(
                    self.conn.accept(Accept::new()),
                    Err(ApiMisuse::NoRequestToAnswer),
                    "a request answered twice"
                );
            }
            Event::Open => assert!(!self.conn.is_handshaking(), "Open while handshaking"),
            Event::Closed(result) => {
                self.closed = true;
                assert_eq!(
                    result.as_ref().err(),
                    self.conn.last_error(),
                    "Closed({result:?}) disagrees with last_error"
                );
                if let Err(e) = result {
                    let code = e.close_code();
                    assert!(
                        matches!(code.0, 1002 | 1007 | 1009 | 1006),
                        "error {e:?} with close code {code:?}"
                    );
                }
            }
        }
    }

    /// One API call chosen by `op` (>= 0x80); checks its result against what the protocol allows.
    fn api(&mut self, op: u8) {
        let p = op & 15;
        let open = self.conn.can_send();
        let frag = self.tx_fragment.as_ref().map(|(k, _)| *k);
        let handshaking = self.conn.is_handshaking();
        let expect_open = |r: &Result<(), ApiMisuse>| {
            if handshaking {
                assert_eq!(*r, Err(ApiMisuse::HandshakeInProgress), "send while handshaking");
            } else if !open {
                assert_eq!(*r, Err(ApiMisuse::SendAfterClose), "send after close");
            }
        };
        match (op >> 4) & 7 {
            0 | 1 => {
                let r = if op & 0x10 == 0 {
                    self.conn.send_text(text(p))
                } else {
                    let n = usize::from(p) * usize::from(p) * 64;
                    self.conn.send_binary(vec![p; n])
                };
                expect_open(&r);
                if open && frag.is_some() {
                    assert_eq!(r, Err(ApiMisuse::FragmentedMessageInProgress));
                } else if open {
                    assert_eq!(r, Ok(()));
                }
            }
            2 | 3 => {
                let n = usize::from(p) * 10;
                let r = if op & 0x10 == 0 {
                    self.conn.send_ping(vec![0x5a; n])
                } else {
                    self.conn.send_pong(vec![0xa5; n])
                };
                expect_open(&r);
                if open && n > 125 {
                    assert_eq!(r, Err(ApiMisuse::ControlPayloadTooLong(n)));
                } else if open {
                    assert_eq!(r, Ok(()));
                }
            }
            4 => {
                let (code, reason_len) = CLOSES[usize::from(p)];
                let reason = "r".repeat(reason_len);
                let frame = websock::CloseFrame::new(CloseCode(code), reason);
                let r = self.conn.close(Some(frame));
                expect_open(&r);
                if open {
                    let want = if !CloseCode(code).is_sendable() {
                        Err(ApiMisuse::InvalidCloseCode(code))
                    } else if reason_len > 123 {
                        Err(ApiMisuse::CloseReasonTooLong(reason_len))
                    } else {
                        Ok(())
                    };
                    assert_eq!(r, want, "close({code}, {reason_len} bytes)");
                }
                if r.is_ok() {
                    assert!(!self.conn.can_send());
                }
            }
            5 | 6 => {
                let kind = if op & 0x10 == 0 {
                    DataKind::Text
                } else {
                    DataKind::Binary
                };
                let fin = p >= 8;
                let piece: Vec<u8> = match kind {
                    DataKind::Text => TEXT_PIECES[usize::from(p & 7)].to_vec(),
                    DataKind::Binary => vec![p; usize::from(p & 7) * 100],
                };
                let r = self.conn.send_fragment(kind, piece.clone(), fin);
                expect_open(&r);
                if open {
                    let want = match frag {
                        Some(k) if k != kind => Err(ApiMisuse::FragmentedMessageInProgress),
                        _ if kind == DataKind::Text => {
                            let mut all = self
                                .tx_fragment
                                .as_ref()
                                .map_or_else(Vec::new, |(_, t)| t.clone());
                            all.extend_from_slice(&piece);
                            let valid = if fin {
                                std::str::from_utf8(&all).is_ok()
                            } else {
                                is_utf8_prefix(&all)
                            };
                            if valid {
                                Ok(())
                            } else {
                                Err(ApiMisuse::InvalidUtf8)
                            }
                        }
                        _ => Ok(()),
                    };
                    assert_eq!(r, want, "send_fragment({kind:?}, {piece:02x?}, {fin})");
                }
                if r.is_ok() {
                    if fin {
                        self.tx_fragment = None;
                    } else {
                        let (_, t) = self.tx_fragment.get_or_insert((kind, Vec::new()));
                        t.extend_from_slice(&piece);
                    }
                }
            }
            _ => match p {
                0..=2 => self.conn.release_idle_buffers(),
                3..=5 => self.conn.receive_eof(),
                6..=8 => {
                    let r = self.conn.fail(CloseCode::POLICY_VIOLATION, "policy violation");
                    let want = if handshaking {
                        Err(ApiMisuse::HandshakeInProgress)
                    } else {
                        Ok(())
                    };
                    assert_eq!(r, want);
                }
                9..=11 => {
                    let r = self.conn.close(None);
                    expect_open(&r);
                    if open {
                        assert_eq!(r, Ok(()));
                    }
                }
                _ => {
                    // Time passes: 4, 8, 12 or 16 seconds.
                    self.now += Duration::from_secs(u64::from(p - 11) * 4);
                    self.conn.handle_timeout(self.now);
                    if let Some(next) = self.conn.poll_timeout() {
                        assert!(next > self.now.into(), "a timer due now was not handled");
                    }
                }
            },
        }
        self.settle();
    }

    fn finish(mut self) {
        self.settle();
        if self.conn.last_error().is_some() {
            assert!(self.closed, "last_error() set but no Event::Closed");
        }
        if self.closed {
            assert_ne!(
                self.conn.state(),
                websock::State::Open,
                "Closed but state Open"
            );
        }
        self.conn.release_idle_buffers();
        let _ = self.conn.state();
    }
}
