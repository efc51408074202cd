//! The connection state machine: one type for both roles.
//!
//! Owns everything that happens after the opening handshake: frame parsing and validation by role,
//! message assembly with limits, incremental UTF-8 checks, automatic pongs, the close handshake,
//! failing the connection with the right close code, and the timers (close timeout, keepalive,
//! idle timeout). Bytes come in through [`Connection::receive`] (or the zero-copy pair
//! [`Connection::receive_buf`] / [`Connection::receive_commit`]), events go out through
//! [`Connection::poll_event`], bytes to write through [`Connection::poll_transmit`] (or
//! [`Connection::transmit_chunks`] for vectored writes), and time comes in through
//! [`Connection::handle_timeout`]. It never does I/O, never reads a clock and never uses a global
//! random number generator.
#![forbid(unsafe_code)]

use std::collections::VecDeque;
use std::fmt;
use std::time::Instant;

use bytes::{Bytes, BytesMut};

use super::buffer::{RecvBuf, SendQueue};
use super::close::{CloseCode, CloseFrame};
use super::config::Config;
use super::error::{ApiMisuse, ProtocolError};
#[cfg(feature = "deflate")]
use super::ext::deflate::Deflate;
use super::ext::Negotiated;
use super::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use super::mask::apply_mask;
use super::message::{DataKind, Message, Utf8Bytes};
use super::utf8::Validator;

/// Which end of the connection we are: a client masks what it sends and expects unmasked
/// frames; a server the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that sent the opening handshake.
    Client,
    /// The end that accepted it.
    Server,
}

/// What the connection reports to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A whole text or binary message, or a ping or pong (pongs to pings are sent for you unless
    /// [`Config::auto_pong`] is off).
    Message(Message),
    /// In streaming mode ([`Config::streaming`]): a piece of a data message, as it arrived.
    Fragment(Fragment),
    /// The connection is closed for reading: the peer's close frame (code
    /// [`CloseCode::NO_STATUS`] if it was empty), or the code we failed the connection with
    /// (see [`Connection::last_error`]), or [`CloseCode::ABNORMAL`] when the transport ended or
    /// timed out without a close handshake. Reported once.
    Closed(CloseFrame),
}

/// A piece of a data message in streaming mode.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fragment {
    /// Text or binary.
    pub kind: DataKind,
    /// The bytes. For text, the message as a whole is validated as it streams, but a piece may
    /// end inside a code point.
    pub data: Bytes,
    /// The first piece of its message.
    pub first: bool,
    /// The last piece of its message.
    pub fin: bool,
}

/// What to do with the transport.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transmit {
    /// Write these bytes.
    Data(Bytes),
    /// All bytes are out: shut down the write half (TCP FIN), keep reading until the peer
    /// closes or [`Connection::is_terminated`] says to stop.
    Shutdown,
}

/// Where the connection stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's.
    Closing,
    /// The close handshake is done (or the connection failed); the transport is being wound
    /// down.
    Closed,
    /// Nothing more to do: the transport can be dropped.
    Terminated,
}

/// A source of masking keys for a client's frames. The default draws them from a ChaCha
/// generator seeded by the operating system; tests inject fixed keys.
pub trait MaskSource: Send {
    /// The key for the next frame.
    fn next_mask(&mut self) -> [u8; 4];
}

impl<F: FnMut() -> [u8; 4] + Send> MaskSource for F {
    fn next_mask(&mut self) -> [u8; 4] {
        self()
    }
}

struct OsSeededMasks(rand::rngs::StdRng);

impl MaskSource for OsSeededMasks {
    fn next_mask(&mut self) -> [u8; 4] {
        rand::Rng::next_u32(&mut self.0).to_ne_bytes()
    }
}

fn default_mask_source() -> Box<dyn MaskSource> {
    use rand::SeedableRng;
    // The OS entropy source failing at this point leaves no safe way to mask (RFC 6455 10.3
    // requires unpredictable keys); a client cannot proceed without one.
    let rng = rand::rngs::StdRng::try_from_rng(&mut rand::rngs::SysRng)
        .expect("operating system random source unavailable");
    Box::new(OsSeededMasks(rng))
}

/// The frame whose header has been read and whose payload is still arriving.
#[derive(Debug)]
struct RxFrame {
    header: FrameHeader,
    /// Payload bytes not yet taken out of the receive buffer.
    remaining: u64,
    /// Payload bytes already taken out (streaming mode), for the mask phase.
    taken: usize,
    /// Bytes at the front of the receive buffer already unmasked and validated.
    checked: usize,
}

/// The data message being received.
#[derive(Debug)]
struct RxMessage {
    kind: DataKind,
    buf: BytesMut,
    size: u64,
    utf8: Option<Validator>,
    first_out: bool,
    /// RSV1 on the first frame: the payload is compressed and inflates into `inflated`.
    compressed: bool,
    inflated: Vec<u8>,
}

/// The fragmented message being sent.
#[derive(Debug)]
struct TxMessage {
    kind: DataKind,
    utf8: Option<Validator>,
}

/// A WebSocket connection after the opening handshake, in either role. See the module docs.
///
/// ```
/// use websock::{Config, Connection, Event, Message, Role, Transmit, CloseCode};
///
/// let mut server = Connection::new(Role::Server, Config::default());
/// // A masked "Hello" from a client (RFC 6455 5.7).
/// server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
/// assert_eq!(server.poll_event(), Some(Event::Message(Message::text("Hello"))));
///
/// server.send_text("Hi").unwrap();
/// assert_eq!(server.poll_transmit(), Some(Transmit::Data(vec![0x81, 2, b'H', b'i'].into())));
///
/// server.receive(&[0x88, 0x80, 0, 0, 0, 0]); // a masked, empty close frame
/// assert!(matches!(server.poll_event(), Some(Event::Closed(f)) if f.code == CloseCode::NO_STATUS));
/// assert_eq!(server.poll_transmit(), Some(Transmit::Data(vec![0x88, 0].into()))); // our reply
/// assert_eq!(server.poll_transmit(), Some(Transmit::Shutdown)); // the server closes TCP first
/// ```
pub struct Connection {
    role: Role,
    config: Config,
    /// RSV bits that negotiated extensions own on the first frame of a data message.
    extension_rsv: u8,
    #[cfg(feature = "deflate")]
    deflate: Option<Box<Deflate>>,
    recv: RecvBuf,
    rx_frame: Option<RxFrame>,
    rx_msg: Option<RxMessage>,
    events: VecDeque<Event>,
    tx: SendQueue,
    tx_msg: Option<TxMessage>,
    masks: Option<Box<dyn MaskSource>>,
    close_sent: bool,
    close_received: bool,
    closed_reported: bool,
    /// Incoming bytes are no longer parsed (close received, failed, or EOF).
    read_closed: bool,
    shutdown_wanted: bool,
    shutdown_done: bool,
    terminated: bool,
    error: Option<ProtocolError>,
    now: Option<Instant>,
    last_rx: Option<Instant>,
    last_ping: Option<Instant>,
    close_deadline: Option<Instant>,
}

impl fmt::Debug for Connection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Connection")
            .field("role", &self.role)
            .field("state", &self.state())
            .field("buffered_in", &self.recv.len())
            .field("buffered_out", &self.tx.len())
            .field("error", &self.error)
            .finish_non_exhaustive()
    }
}

impl Connection {
    /// A new connection in `role`, right after a successful opening handshake.
    pub fn new(role: Role, config: Config) -> Connection {
        Connection {
            role,
            config,
            extension_rsv: 0,
            #[cfg(feature = "deflate")]
            deflate: None,
            recv: RecvBuf::default(),
            rx_frame: None,
            rx_msg: None,
            events: VecDeque::new(),
            tx: SendQueue::default(),
            tx_msg: None,
            masks: None,
            close_sent: false,
            close_received: false,
            closed_reported: false,
            read_closed: false,
            shutdown_wanted: false,
            shutdown_done: false,
            terminated: false,
            error: None,
            now: None,
            last_rx: None,
            last_ping: None,
            close_deadline: None,
        }
    }

    /// Puts the extensions agreed in the opening handshake in force.
    pub fn with_extensions(mut self, negotiated: Negotiated) -> Connection {
        self.extension_rsv = negotiated.rsv_bits();
        #[cfg(feature = "deflate")]
        {
            self.deflate = negotiated
                .deflate
                .map(|p| Box::new(Deflate::new(self.role, p, &self.config.deflate)));
        }
        self
    }

    /// Whether permessage-deflate is in force.
    pub fn is_compressed(&self) -> bool {
        #[cfg(feature = "deflate")]
        return self.deflate.is_some();
        #[cfg(not(feature = "deflate"))]
        false
    }

    /// Uses `source` for masking keys (clients only) instead of the OS-seeded default.
    pub fn with_mask_source(mut self, source: Box<dyn MaskSource>) -> Connection {
        self.masks = Some(source);
        self
    }

    /// Our role.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The settings in force.
    pub fn config(&self) -> &Config {
        &self.config
    }

    // ----------------------------------------------------------------------------------------
    // Bytes in

    /// Feeds bytes received from the transport (copies them into the receive buffer).
    pub fn receive(&mut self, data: &[u8]) {
        if self.read_closed {
            return;
        }
        self.note_rx();
        self.recv.extend(data);
        self.process();
    }

    fn note_rx(&mut self) {
        if let Some(now) = self.now {
            self.last_rx = Some(now);
        }
    }

    /// Spare room in the receive buffer for a transport to read into directly, sized for what the
    /// current frame still needs (at least [`Config::read_size`]). Follow with
    /// [`receive_commit`](Self::receive_commit).
    pub fn receive_buf(&mut self) -> &mut [u8] {
        let mut want = self.config.read_size.max(1);
        if let Some(f) = &self.rx_frame {
            if !self.config.streaming {
                let missing = f.remaining.saturating_sub(self.recv.len() as u64);
                // Large frames are read in large pieces (fewer calls), but the room is
                // bounded so a header that lies about its length costs little.
                want = want.max(missing.min(256 << 10) as usize);
            }
        }
        self.recv.spare(want)
    }

    /// Marks `n` bytes of [`receive_buf`](Self::receive_buf) as received and processes them.
    pub fn receive_commit(&mut self, n: usize) {
        self.recv.commit(n);
        self.note_rx();
        if self.read_closed {
            self.recv.clear();
            return;
        }
        self.process();
    }

    /// The transport's read side ended (TCP FIN or EOF).
    pub fn receive_eof(&mut self) {
        if !self.close_received && self.error.is_none() {
            self.error = Some(ProtocolError::UnexpectedEof);
            self.report_closed(CloseFrame::new(CloseCode::ABNORMAL, ""));
        }
        self.read_closed = true;
        self.recv.clear();
        self.terminate();
    }

    /// Parses what the receive buffer holds, up to the next event.
    ///
    /// Parsing stops once an event is queued and resumes when the user polls for the next one:
    /// a valid message followed by a bad frame in the same read is delivered (and can be
    /// answered) before the bad frame fails the connection, as a peer that sent them in order
    /// may expect (Autobahn 3.2, 4.1.3, 5.15 check exactly this).
    fn process(&mut self) {
        while !self.read_closed && self.events.is_empty() {
            if self.rx_frame.is_none() {
                match FrameHeader::decode(self.recv.data()) {
                    Ok(None) => break,
                    Ok(Some((header, n))) => {
                        if let Err(e) = self.begin_frame(&header) {
                            self.fail(e);
                            break;
                        }
                        self.recv.advance(n);
                        self.rx_frame = Some(RxFrame {
                            header,
                            remaining: header.payload_len,
                            taken: 0,
                            checked: 0,
                        });
                    }
                    Err(e) => {
                        self.fail(e);
                        break;
                    }
                }
            }
            if !self.advance_frame() {
                break;
            }
        }
        if self.read_closed {
            self.recv.clear();
        }
    }

    /// Checks a new header against the connection's rules and starts message bookkeeping.
    fn begin_frame(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrameFromClient),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrameFromServer),
            _ => {}
        }
        let owned = match h.opcode {
            OpCode::Text | OpCode::Binary => self.extension_rsv,
            _ => 0,
        };
        if h.rsv & !owned != 0 {
            return Err(ProtocolError::ReservedBitsSet(h.rsv));
        }
        let kind = match h.opcode {
            OpCode::Text => DataKind::Text,
            OpCode::Binary => DataKind::Binary,
            OpCode::Continuation => match &self.rx_msg {
                Some(m) => m.kind,
                None => return Err(ProtocolError::ContinuationWithoutStart),
            },
            _ => return Ok(()),
        };
        let streaming = self.config.streaming;
        if !streaming && h.payload_len > self.config.max_frame_size as u64 {
            return Err(ProtocolError::FrameTooBig {
                size: h.payload_len,
                limit: self.config.max_frame_size,
            });
        }
        if h.opcode != OpCode::Continuation {
            if self.rx_msg.is_some() {
                return Err(ProtocolError::DataFrameInsideFragmentedMessage);
            }
            self.rx_msg = Some(RxMessage {
                kind,
                buf: BytesMut::new(),
                size: 0,
                utf8: (kind == DataKind::Text).then(Validator::new),
                first_out: true,
                // RSV1 means "compressed" only when permessage-deflate is what owns it.
                compressed: h.rsv1() && self.is_compressed(),
                inflated: Vec::new(),
            });
        }
        let msg = self.rx_msg.as_mut().expect("set above");
        msg.size = msg.size.saturating_add(h.payload_len);
        if !streaming && msg.size > self.config.max_message_size as u64 {
            return Err(ProtocolError::MessageTooBig {
                size: msg.size,
                limit: self.config.max_message_size,
            });
        }
        Ok(())
    }

    /// Moves the current frame forward with what has arrived. Returns false when it needs more
    /// bytes (or the connection failed).
    fn advance_frame(&mut self) -> bool {
        let Some(f) = self.rx_frame.as_mut() else {
            return false;
        };
        let avail = (self.recv.len() as u64).min(f.remaining) as usize;
        if f.header.opcode.is_control() {
            if (avail as u64) < f.remaining {
                return false;
            }
            let header = f.header;
            self.rx_frame = None;
            let mut payload = self.recv.split_to(avail);
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key, 0);
            }
            self.on_control(header.opcode, payload);
            return true;
        }

        // Data: unmask and validate what is new as soon as it arrives (fail fast on bad UTF-8).
        if avail > f.checked {
            let new = &mut self.recv.data_mut()[f.checked..avail];
            if let Some(key) = f.header.mask {
                apply_mask(new, key, f.taken + f.checked);
            }
            let msg = self.rx_msg.as_mut().expect("data frame without message");
            if let Some(v) = msg.utf8.as_mut().filter(|_| !msg.compressed) {
                if let Err(e) = v.feed(new) {
                    self.fail(ProtocolError::InvalidUtf8 { offset: e.offset });
                    return false;
                }
            }
            f.checked = avail;
        }
        let complete = avail as u64 == f.remaining;
        let compressed = self.rx_msg.as_ref().is_some_and(|m| m.compressed);
        if self.config.streaming && !compressed {
            if avail == 0 && !complete {
                return false;
            }
            let data = self.recv.split_to(avail).freeze();
            f.remaining -= avail as u64;
            f.taken += avail;
            f.checked = 0;
            let fin = complete && f.header.fin;
            if complete {
                self.rx_frame = None;
            }
            return self.emit_fragment(data, fin) && complete;
        }
        if !complete {
            return false;
        }
        let fin = f.header.fin;
        self.rx_frame = None;
        let payload = self.recv.split_to(avail);
        if compressed {
            return self.inflate_frame(&payload, fin);
        }
        let msg = self.rx_msg.as_mut().expect("data frame without message");
        if msg.buf.is_empty() {
            msg.buf = payload;
        } else {
            msg.buf.extend_from_slice(&payload);
        }
        if fin {
            let msg = self.rx_msg.take().expect("checked above");
            return self.finish_message(msg);
        }
        true
    }

    /// One complete frame of a compressed message: inflate it (bounded by the message limit),
    /// validate text as it comes out, and finish the message on FIN.
    #[cfg(feature = "deflate")]
    fn inflate_frame(&mut self, payload: &[u8], fin: bool) -> bool {
        let limit = self.config.max_message_size;
        let (Some(msg), Some(deflate)) = (self.rx_msg.as_mut(), self.deflate.as_mut()) else {
            // Not reachable: `compressed` is only set with the extension in force.
            self.fail(ProtocolError::Extension(
                "compressed frame without the extension".into(),
            ));
            return false;
        };
        let start = msg.inflated.len();
        if let Err(e) = deflate.decompress(payload, fin, &mut msg.inflated, limit) {
            self.fail(e);
            return false;
        }
        if let Some(v) = msg.utf8.as_mut() {
            if let Err(e) = v.feed(&msg.inflated[start..]) {
                self.fail(ProtocolError::InvalidUtf8 { offset: e.offset });
                return false;
            }
        }
        if self.config.streaming {
            let data = Bytes::from(std::mem::take(&mut msg.inflated));
            return self.emit_fragment(data, fin);
        }
        if fin {
            let msg = self.rx_msg.take().expect("checked above");
            return self.finish_message(msg);
        }
        true
    }

    #[cfg(not(feature = "deflate"))]
    fn inflate_frame(&mut self, _payload: &[u8], _fin: bool) -> bool {
        // Not reachable: `compressed` is only set with the extension in force.
        self.fail(ProtocolError::Extension(
            "compressed frame without the extension".into(),
        ));
        false
    }

    fn finish_message(&mut self, msg: RxMessage) -> bool {
        let data = if msg.compressed {
            Bytes::from(msg.inflated)
        } else {
            msg.buf.freeze()
        };
        let message = match msg.utf8 {
            Some(v) => {
                if let Err(e) = v.finish() {
                    self.fail(ProtocolError::InvalidUtf8 { offset: e.offset });
                    return false;
                }
                Message::Text(Utf8Bytes::from_validated(data))
            }
            None => Message::Binary(data),
        };
        self.events.push_back(Event::Message(message));
        true
    }

    fn emit_fragment(&mut self, data: Bytes, fin: bool) -> bool {
        let msg = self.rx_msg.as_mut().expect("data frame without message");
        if fin {
            if let Some(Err(e)) = msg.utf8.as_ref().map(Validator::finish) {
                self.fail(ProtocolError::InvalidUtf8 { offset: e.offset });
                return false;
            }
        }
        let fragment = Fragment {
            kind: msg.kind,
            data,
            first: std::mem::replace(&mut msg.first_out, false),
            fin,
        };
        if fin {
            self.rx_msg = None;
        }
        self.events.push_back(Event::Fragment(fragment));
        true
    }

    fn on_control(&mut self, opcode: OpCode, payload: BytesMut) {
        let payload = payload.freeze();
        match opcode {
            OpCode::Ping => {
                if self.config.auto_pong && !self.close_sent {
                    self.queue_frame(OpCode::Pong, true, 0, payload.clone());
                }
                self.events
                    .push_back(Event::Message(Message::Ping(payload)));
            }
            OpCode::Pong => self
                .events
                .push_back(Event::Message(Message::Pong(payload))),
            OpCode::Close => match CloseFrame::decode(&payload) {
                Err(e) => self.fail(e),
                Ok(frame) => self.on_close(frame),
            },
            _ => unreachable!("data opcodes are not control frames"),
        }
    }

    fn on_close(&mut self, frame: Option<CloseFrame>) {
        self.close_received = true;
        self.read_closed = true;
        if !self.close_sent {
            // Echo the code (RFC 6455 5.5.1) and the reason, as browsers and the other major
            // libraries do, so the initiator sees what it sent.
            let reply = frame.as_ref().map_or_else(Bytes::new, CloseFrame::encode);
            self.queue_frame(OpCode::Close, true, 0, reply);
            self.close_sent = true;
        }
        self.report_closed(frame.unwrap_or_else(|| CloseFrame::new(CloseCode::NO_STATUS, "")));
        self.close_handshake_done();
    }

    /// Both close frames are out: a server closes TCP first (7.1.1); a client waits for that.
    fn close_handshake_done(&mut self) {
        match self.role {
            Role::Server => self.shutdown_wanted = true,
            Role::Client => {}
        }
        self.arm_close_timer();
    }

    fn report_closed(&mut self, frame: CloseFrame) {
        if !self.closed_reported {
            self.closed_reported = true;
            self.events.push_back(Event::Closed(frame));
        }
    }

    /// Fails the connection for a peer's fault: send the close code, stop reading, and close the
    /// transport (RFC 6455 7.1.7).
    fn fail(&mut self, err: ProtocolError) {
        let code = err.close_code();
        let reason = err.reason();
        self.error = Some(err);
        self.abort(code, reason);
    }

    fn abort(&mut self, code: CloseCode, reason: &'static str) {
        // Once terminated (EOF seen, or the close handshake finished) the transport is being
        // shut down: nothing may be queued after `Transmit::Shutdown`, and the user was
        // already told the connection closed.
        if self.terminated {
            return;
        }
        if !self.close_sent && code.is_sendable() {
            let frame = CloseFrame::new(code, Utf8Bytes::from_static(reason));
            self.queue_frame(OpCode::Close, true, 0, frame.encode());
            self.close_sent = true;
        }
        self.read_closed = true;
        self.rx_frame = None;
        self.rx_msg = None;
        self.recv.clear();
        self.shutdown_wanted = true;
        self.report_closed(CloseFrame::new(code, Utf8Bytes::from_static(reason)));
        self.arm_close_timer();
    }

    fn terminate(&mut self) {
        self.terminated = true;
        self.shutdown_wanted = true;
        self.close_deadline = None;
    }

    // ----------------------------------------------------------------------------------------
    // Events out

    /// The next event, if any.
    pub fn poll_event(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            self.process();
        }
        self.events.pop_front()
    }

    /// Why the connection failed, if it did: the peer's protocol fault, or a timeout or EOF.
    pub fn last_error(&self) -> Option<&ProtocolError> {
        self.error.as_ref()
    }

    // ----------------------------------------------------------------------------------------
    // Commands

    fn check_open(&self) -> Result<(), ApiMisuse> {
        if self.close_sent || self.terminated {
            Err(ApiMisuse::SendAfterClose)
        } else {
            Ok(())
        }
    }

    /// Sends any message: text, binary, ping, pong or close.
    pub fn send(&mut self, message: Message) -> Result<(), ApiMisuse> {
        match message {
            Message::Text(t) => self.send_text(t),
            Message::Binary(b) => self.send_binary(b),
            Message::Ping(b) => self.send_ping(b),
            Message::Pong(b) => self.send_pong(b),
            Message::Close(frame) => self.send_close(frame),
        }
    }

    /// Sends a text message in one frame.
    pub fn send_text(&mut self, text: impl Into<Utf8Bytes>) -> Result<(), ApiMisuse> {
        self.send_whole(OpCode::Text, text.into().into_bytes())
    }

    /// Sends a binary message in one frame. A server sends the payload without copying it.
    pub fn send_binary(&mut self, data: impl Into<Bytes>) -> Result<(), ApiMisuse> {
        self.send_whole(OpCode::Binary, data.into())
    }

    fn send_whole(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), ApiMisuse> {
        self.check_open()?;
        if self.tx_msg.is_some() {
            return Err(ApiMisuse::FragmentedMessageInProgress);
        }
        #[cfg(feature = "deflate")]
        if let Some(d) = self
            .deflate
            .as_mut()
            .filter(|d| d.should_compress(payload.len()))
        {
            let compressed = Bytes::from(d.compress(&payload));
            self.queue_frame(opcode, true, 0b100, compressed);
            return Ok(());
        }
        self.queue_frame(opcode, true, 0, payload);
        Ok(())
    }

    /// Sends one fragment of a message: the first call starts a message of `kind`, later calls
    /// continue it, and `fin` ends it. Control frames may be sent in between. Text fragments
    /// may split code points, but must add up to valid UTF-8. Fragmented messages go out
    /// uncompressed even under permessage-deflate (compression is per message and optional), so
    /// a stream of fragments never waits for the compressor.
    pub fn send_fragment(
        &mut self,
        kind: DataKind,
        data: impl Into<Bytes>,
        fin: bool,
    ) -> Result<(), ApiMisuse> {
        self.check_open()?;
        let data = data.into();
        let continuing = match &self.tx_msg {
            None => false,
            Some(m) if m.kind == kind => true,
            Some(_) => return Err(ApiMisuse::FragmentedMessageInProgress),
        };
        let mut msg = self.tx_msg.take().unwrap_or(TxMessage {
            kind,
            utf8: (kind == DataKind::Text).then(Validator::new),
        });
        if let Some(v) = msg.utf8.as_mut() {
            // Validate on a copy so a rejected piece leaves the message as it was.
            let mut trial = v.clone();
            if trial.feed(&data).is_err() || (fin && trial.finish().is_err()) {
                self.tx_msg = continuing.then_some(msg);
                return Err(ApiMisuse::InvalidUtf8);
            }
            *v = trial;
        }
        let opcode = match (continuing, kind) {
            (true, _) => OpCode::Continuation,
            (false, DataKind::Text) => OpCode::Text,
            (false, DataKind::Binary) => OpCode::Binary,
        };
        self.queue_frame(opcode, fin, 0, data);
        if !fin {
            self.tx_msg = Some(msg);
        }
        Ok(())
    }

    /// Sends a ping (payload at most 125 bytes).
    pub fn send_ping(&mut self, data: impl Into<Bytes>) -> Result<(), ApiMisuse> {
        self.send_control(OpCode::Ping, data.into())
    }

    /// Sends an unsolicited pong (payload at most 125 bytes).
    pub fn send_pong(&mut self, data: impl Into<Bytes>) -> Result<(), ApiMisuse> {
        self.send_control(OpCode::Pong, data.into())
    }

    fn send_control(&mut self, opcode: OpCode, data: Bytes) -> Result<(), ApiMisuse> {
        self.check_open()?;
        if data.len() > 125 {
            return Err(ApiMisuse::ControlPayloadTooLong(data.len()));
        }
        self.queue_frame(opcode, true, 0, data);
        Ok(())
    }

    /// Starts the close handshake (or completes it, if the peer's close arrived first). `None`
    /// sends an empty close payload. No data can be sent afterwards.
    pub fn send_close(&mut self, frame: Option<CloseFrame>) -> Result<(), ApiMisuse> {
        self.check_open()?;
        let payload = match &frame {
            Some(f) => {
                f.validate()?;
                f.encode()
            }
            None => Bytes::new(),
        };
        self.queue_frame(OpCode::Close, true, 0, payload);
        self.close_sent = true;
        self.arm_close_timer();
        if self.close_received {
            self.close_handshake_done();
        }
        Ok(())
    }

    /// Convenience for [`send_close`](Self::send_close) with a code and reason.
    pub fn close(&mut self, code: CloseCode, reason: &str) -> Result<(), ApiMisuse> {
        self.send_close(Some(CloseFrame::new(code, reason)))
    }

    /// Whether a close frame can still be sent.
    pub fn can_send_close(&self) -> bool {
        self.check_open().is_ok()
    }

    /// Whether data, pings or close can still be sent.
    pub fn can_send(&self) -> bool {
        self.check_open().is_ok()
    }

    /// Fails the connection from our side: sends a close frame with `code` (if it may be sent
    /// and no close was sent yet), stops reading and closes the transport. For an application
    /// that decides the peer misbehaved (for example policy violation, 1008).
    pub fn fail_with(&mut self, code: CloseCode, reason: &'static str) {
        self.abort(code, reason);
    }

    fn queue_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: Bytes) {
        let mask = match self.role {
            Role::Client => Some(
                self.masks
                    .get_or_insert_with(default_mask_source)
                    .next_mask(),
            ),
            Role::Server => None,
        };
        let header = FrameHeader {
            fin,
            rsv,
            opcode,
            mask,
            payload_len: payload.len() as u64,
        };
        let mut head = [0u8; MAX_HEADER_LEN];
        let n = header.encode(&mut head);
        self.tx.push_copy(&head[..n]);
        match mask {
            None => self.tx.push_bytes(payload),
            Some(key) => apply_mask(self.tx.push_copy_mut(&payload), key, 0),
        }
    }

    // ----------------------------------------------------------------------------------------
    // Bytes out

    /// The next thing to do with the transport: bytes to write, then (once) a shutdown.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(b) = self.tx.pop() {
            return Some(Transmit::Data(b));
        }
        if self.shutdown_wanted && !self.shutdown_done {
            self.shutdown_done = true;
            return Some(Transmit::Shutdown);
        }
        None
    }

    /// The bytes waiting to be written, as slices for one vectored write. Report what was
    /// written with [`advance_transmit`](Self::advance_transmit); once nothing is left,
    /// [`poll_transmit`](Self::poll_transmit) says whether to shut down.
    pub fn transmit_chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.tx.chunks()
    }

    /// Marks `n` bytes of [`transmit_chunks`](Self::transmit_chunks) as written.
    pub fn advance_transmit(&mut self, n: usize) {
        self.tx.advance(n);
    }

    /// Bytes waiting to be written.
    pub fn transmit_len(&self) -> usize {
        self.tx.len()
    }

    /// Whether an adapter should read from the transport now: false once the connection is
    /// terminated, and while more than [`Config::write_buffer_high_water`] bytes wait to be
    /// written (a peer that sends but never reads must not make us buffer without bound).
    pub fn wants_read(&self) -> bool {
        !self.terminated && self.tx.len() < self.config.write_buffer_high_water
    }

    /// Whether the adapter may drop the transport: the connection is over and everything,
    /// including the shutdown, has been handed out.
    pub fn is_terminated(&self) -> bool {
        self.terminated && self.tx.is_empty() && self.shutdown_done
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        if self.is_terminated() {
            State::Terminated
        } else if self.read_closed || (self.close_sent && self.close_received) {
            State::Closed
        } else if self.close_sent {
            State::Closing
        } else {
            State::Open
        }
    }

    /// Whether received bytes are held: part of a frame (or a frame's payload) that more reads
    /// must complete. An adapter can read into a shared scratch buffer and [`receive`] from it
    /// while this is false, and read straight into [`receive_buf`] while it is true (so a large
    /// frame is not copied twice).
    ///
    /// [`receive`]: Connection::receive
    /// [`receive_buf`]: Connection::receive_buf
    pub fn has_partial_input(&self) -> bool {
        self.rx_frame.is_some() || !self.recv.is_empty()
    }

    /// Frees the receive and send buffers if they are empty, so an idle connection holds no
    /// buffer memory. Adapters call this when a read would block.
    pub fn release_idle_buffers(&mut self) {
        if self.rx_frame.is_none() {
            self.recv.release_if_empty();
        }
        self.tx.release_if_empty();
    }

    /// Bytes of buffer memory this connection holds (receive, send, the message being
    /// assembled, and compression contexts).
    pub fn buffered_capacity(&self) -> usize {
        #[cfg(feature = "deflate")]
        let ext = self.deflate.as_ref().map_or(0, |d| d.memory());
        #[cfg(not(feature = "deflate"))]
        let ext = 0;
        self.recv.capacity()
            + self.tx.capacity()
            + self
                .rx_msg
                .as_ref()
                .map_or(0, |m| m.buf.capacity() + m.inflated.capacity())
            + ext
    }

    // ----------------------------------------------------------------------------------------
    // Time

    /// Tells the connection the time, and fires the timers that are due. Adapters call this on
    /// every wake-up, before feeding bytes; without it no timer runs.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.now = Some(now);
        if self.last_rx.is_none() {
            self.last_rx = Some(now);
        }
        if self.terminated {
            return;
        }
        if self.close_deadline.is_some_and(|d| now >= d) {
            self.close_deadline = None;
            if !(self.close_sent && self.close_received) && self.error.is_none() {
                self.error = Some(ProtocolError::CloseTimeout);
                self.report_closed(CloseFrame::new(CloseCode::ABNORMAL, ""));
            }
            self.read_closed = true;
            self.terminate();
            return;
        }
        if self.read_closed || self.close_sent {
            return;
        }
        let last_rx = self.last_rx.unwrap_or(now);
        if let Some(idle) = self.config.idle_timeout {
            if now >= last_rx + idle {
                self.error = Some(ProtocolError::IdleTimeout);
                self.report_closed(CloseFrame::new(CloseCode::ABNORMAL, ""));
                self.read_closed = true;
                self.terminate();
                return;
            }
        }
        if let Some(deadline) = self.keepalive_deadline() {
            if now >= deadline {
                self.last_ping = Some(now);
                self.queue_frame(OpCode::Ping, true, 0, Bytes::new());
            }
        }
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        let every = self.config.keepalive?;
        let since = match (self.last_rx, self.last_ping) {
            (Some(a), Some(b)) => a.max(b),
            (a, b) => a.or(b)?,
        };
        Some(since + every)
    }

    /// When [`handle_timeout`](Self::handle_timeout) next needs to be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        if self.terminated {
            return None;
        }
        let mut next = self.close_deadline;
        if !self.read_closed && !self.close_sent {
            let idle = self
                .config
                .idle_timeout
                .and_then(|d| self.last_rx.map(|t| t + d));
            for t in [idle, self.keepalive_deadline()].into_iter().flatten() {
                next = Some(next.map_or(t, |n: Instant| n.min(t)));
            }
        }
        next
    }

    fn arm_close_timer(&mut self) {
        if let Some(now) = self.now {
            self.close_deadline = Some(now + self.config.close_timeout);
        }
    }

    // ----------------------------------------------------------------------------------------
    // Extensions

    /// Declares which RSV bits a negotiated extension owns on the first frame of a message
    /// (0b100 for permessage-deflate). Frames with any other RSV bit fail the connection.
    pub fn set_extension_rsv(&mut self, bits: u8) {
        self.extension_rsv = bits & 0b111;
    }
}
