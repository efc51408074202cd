//! The receive path: bytes in, frames parsed and checked by role, payloads unmasked in place
//! and validated as they arrive, messages assembled within the limits (or handed out as
//! fragments in streaming mode), control frames answered. Parsing is lazy: it stops at each
//! event and resumes when the user polls for the next.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use bytes::{Bytes, BytesMut};

use super::state::{Input, Phase};
use super::{Connection, Event, Fragment, Role};
use crate::proto::close::CloseFrame;
use crate::proto::error::ProtocolError;
use crate::proto::frame::{FrameHeader, OpCode};
use crate::proto::mask::apply_mask;
use crate::proto::message::{DataKind, Message, Utf8Bytes};
use crate::proto::utf8::Validator;

/// What a parsing step came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Progress was made; parse on.
    Continue,
    /// The buffer holds no more to parse.
    NeedMore,
    /// Parsing is over for now (an event is out, or the connection stopped reading).
    Stop,
    /// The step's work budget ran out with more to do from bytes already held.
    Yield,
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
    /// Frames so far.
    frames: usize,
    utf8: Option<Validator>,
    first_out: bool,
    /// RSV1 on the first frame under permessage-deflate: the payload inflates into `inflated`.
    compressed: bool,
    inflated: Vec<u8>,
    /// Inflating stopped at the budget with output still pending.
    inflating: bool,
}

/// Receive-side state that survives between reads.
#[derive(Debug, Default)]
pub(super) struct Receiver {
    frame: Option<RxFrame>,
    msg: Option<RxMessage>,
    /// The last parsing step stopped at its budget: more work waits on bytes already held.
    yielded: bool,
}

impl Receiver {
    pub(super) fn in_frame(&self) -> bool {
        self.frame.is_some()
    }

    pub(super) fn yielded(&self) -> bool {
        self.yielded
    }

    pub(super) fn capacity(&self) -> usize {
        self.msg
            .as_ref()
            .map_or(0, |m| m.buf.capacity() + m.inflated.capacity())
    }
}

/// The most payload bytes on the wire for `limit` bytes of data: for a compressed message,
/// room for what deflate adds to incompressible data. That depends on the peer's compressor:
/// zlib at its defaults adds 0.03%, python-websockets (memLevel 5) 0.25%, a small memLevel a
/// few percent (5 bytes per stored block). The inflated size is held to `limit` regardless.
fn wire_limit(limit: usize, compressed: bool) -> usize {
    if compressed {
        limit.saturating_add(limit / 16).saturating_add(1024)
    } else {
        limit
    }
}

impl Connection {
    /// Feeds bytes received from the transport (copies them into the receive buffer).
    pub fn receive(&mut self, data: &[u8]) {
        if !self.is_reading() {
            return;
        }
        self.clock.received(data.len());
        self.recv.extend(data);
        self.process();
    }

    /// Feeds bytes received from the transport, owned: taken without a copy when nothing was
    /// buffered, so that the messages parsed from them are slices of `data`'s allocation (an
    /// adapter reads many connections into one shared block and splits each read off it).
    /// Whatever is still buffered when the adapter next waits
    /// ([`release_idle_buffers`](Self::release_idle_buffers)) is moved into an allocation of
    /// its own, so a partial frame never holds the shared block.
    pub fn receive_bytes(&mut self, data: BytesMut) {
        if !self.is_reading() {
            return;
        }
        self.clock.received(data.len());
        self.recv.adopt(data);
        self.process();
    }

    /// Spare room in the receive buffer for a transport to read into directly: at least
    /// [`Config::read_size`](crate::Config::read_size), and inside a large frame as much as has
    /// already arrived of it (up to 256 KiB), so reads grow geometrically with the data. The room
    /// follows the bytes received, never a length a header declared: a header that claims
    /// 64 MiB and sends nothing costs one `read_size`. Follow with
    /// [`receive_commit`](Self::receive_commit).
    pub fn receive_buf(&mut self) -> &mut [u8] {
        let want = self.read_room();
        self.recv.spare(want)
    }

    /// How much room the next read gets ([`receive_buf`](Self::receive_buf)).
    fn read_room(&self) -> usize {
        let mut want = self.config.read_size.max(1);
        if let Some(f) = &self.rx.frame {
            if !self.config.streaming {
                let missing = f.remaining.saturating_sub(self.recv.len() as u64);
                let grown = self.recv.len().min(256 << 10) as u64;
                want = want.max(missing.min(grown) as usize);
            }
        }
        want
    }

    /// As [`receive_buf`](Self::receive_buf), for a transport that appends to a `BytesMut`
    /// (a `BufMut` read into spare capacity): the receive buffer, holding just the bytes not
    /// yet parsed, with the same room reserved but not zeroed. Append what the transport read,
    /// then call [`receive_appended`](Self::receive_appended). Append nothing else, and remove
    /// nothing.
    pub fn receive_reserve(&mut self) -> &mut BytesMut {
        let want = self.read_room();
        self.recv.reserve(want)
    }

    /// Processes what was appended to [`receive_reserve`](Self::receive_reserve)'s buffer.
    pub fn receive_appended(&mut self) {
        let n = self.recv.appended();
        if !self.is_reading() {
            self.recv.clear();
            return;
        }
        self.clock.received(n);
        self.process();
    }

    /// Marks `n` bytes of [`receive_buf`](Self::receive_buf) as received and processes them.
    pub fn receive_commit(&mut self, n: usize) {
        self.recv.commit(n);
        if !self.is_reading() {
            self.recv.clear();
            return;
        }
        self.clock.received(n);
        self.process();
    }

    /// Whether received bytes are held: part of a frame (or a frame's payload) that more reads
    /// must complete. An adapter can read into a shared scratch buffer and [`receive`] from it
    /// while this is false, and read straight into [`receive_buf`] while it is true (so a large
    /// frame is not copied twice).
    ///
    /// [`receive`]: Connection::receive
    /// [`receive_buf`]: Connection::receive_buf
    pub fn has_partial_input(&self) -> bool {
        self.rx.in_frame() || !self.recv.is_empty()
    }

    /// Whether received bytes (or events) wait behind the event just handed out: the user's
    /// next `recv` goes on from them, and an adapter writes before it waits for more.
    pub(super) fn holds_more_input(&self) -> bool {
        !self.events.is_empty()
            || (!self.recv.is_empty()
                && matches!(self.phase, Phase::Open | Phase::CloseSent { .. }))
    }

    /// Parses what the receive buffer holds, up to the next event.
    ///
    /// A valid message followed by a bad frame in the same read is delivered (and can be
    /// answered) before the bad frame fails the connection, as a peer that sent them in order
    /// may expect (Autobahn 3.2, 4.1.3, 5.15 check exactly this).
    pub(super) fn process(&mut self) {
        self.rx.yielded = false;
        while self.events.is_empty() {
            let step = match self.phase {
                Phase::Handshake(_) => self.handshake_step(),
                Phase::Open | Phase::CloseSent { .. } => self.frame_step(),
                _ => Step::Stop,
            };
            if step != Step::Continue {
                self.rx.yielded = step == Step::Yield;
                break;
            }
        }
        if !self.is_reading() {
            self.recv.clear();
        }
    }

    fn frame_step(&mut self) -> Step {
        if self.rx.frame.is_none() {
            match FrameHeader::decode(self.recv.data()) {
                Ok(None) => return Step::NeedMore,
                Ok(Some((header, n))) => {
                    if let Err(e) = self.begin_frame(&header) {
                        self.fail_peer(e);
                        return Step::Stop;
                    }
                    self.recv.advance(n);
                    self.rx.frame = Some(RxFrame {
                        header,
                        remaining: header.payload_len,
                        taken: 0,
                        checked: 0,
                    });
                }
                Err(e) => {
                    self.fail_peer(e);
                    return Step::Stop;
                }
            }
        }
        self.advance_frame()
    }

    /// Checks a new header against the connection's rules and starts message bookkeeping.
    fn begin_frame(&mut self, h: &FrameHeader) -> Result<(), ProtocolError> {
        match (self.role, h.mask.is_some()) {
            (Role::Server, false) => return Err(ProtocolError::UnmaskedFrameFromClient),
            (Role::Client, true) => return Err(ProtocolError::MaskedFrameFromServer),
            _ => {}
        }
        let owned = match h.opcode {
            OpCode::Text | OpCode::Binary => self.codec.rsv_bits(),
            _ => 0,
        };
        if h.rsv & !owned != 0 {
            return Err(ProtocolError::ReservedBitsSet(h.rsv));
        }
        let kind = match h.opcode {
            OpCode::Text => DataKind::Text,
            OpCode::Binary => DataKind::Binary,
            OpCode::Continuation => match &self.rx.msg {
                Some(m) => m.kind,
                None => return Err(ProtocolError::ContinuationWithoutStart),
            },
            _ => return Ok(()),
        };
        let streaming = self.config.streaming;
        let compressed = match (&self.rx.msg, h.opcode) {
            (Some(m), OpCode::Continuation) => m.compressed,
            _ => self.codec.is_compressed(h.rsv),
        };
        let frame_limit = wire_limit(self.config.max_frame_size, compressed);
        if !streaming && h.payload_len > frame_limit as u64 {
            return Err(ProtocolError::FrameTooBig {
                size: h.payload_len,
                limit: frame_limit,
            });
        }
        if h.opcode != OpCode::Continuation {
            if self.rx.msg.is_some() {
                return Err(ProtocolError::DataFrameInsideFragmentedMessage);
            }
            self.rx.msg = Some(RxMessage {
                kind,
                buf: BytesMut::new(),
                size: 0,
                frames: 0,
                utf8: (kind == DataKind::Text).then(Validator::new),
                first_out: true,
                compressed,
                inflated: Vec::new(),
                inflating: false,
            });
        }
        // A compressed message's own size is checked as it inflates; its wire size only needs
        // a bound, with room for what deflate adds to data that does not compress.
        let limit = wire_limit(self.config.max_message_size, compressed);
        let msg = self.rx.msg.as_mut().expect("set above");
        msg.size = msg.size.saturating_add(h.payload_len);
        msg.frames += 1;
        if !streaming && msg.size > limit as u64 {
            return Err(ProtocolError::MessageTooBig {
                size: msg.size,
                limit,
            });
        }
        if !streaming && msg.frames > self.config.max_fragments {
            return Err(ProtocolError::TooManyFragments {
                limit: self.config.max_fragments,
            });
        }
        Ok(())
    }

    /// Moves the current frame forward with what has arrived.
    fn advance_frame(&mut self) -> Step {
        let Some(f) = self.rx.frame.as_mut() else {
            return Step::NeedMore;
        };
        let avail = (self.recv.len() as u64).min(f.remaining) as usize;
        if f.header.opcode.is_control() {
            if (avail as u64) < f.remaining {
                return Step::NeedMore;
            }
            let header = f.header;
            self.rx.frame = None;
            self.clock.frame_received();
            let mut payload = self.recv.split_to(avail);
            if let Some(key) = header.mask {
                apply_mask(&mut payload, key, 0);
            }
            return self.on_control(header.opcode, payload.freeze());
        }

        // Data: unmask and validate what is new as soon as it arrives (fail fast on bad UTF-8).
        if avail > f.checked {
            let new = &mut self.recv.data_mut()[f.checked..avail];
            if let Some(key) = f.header.mask {
                apply_mask(new, key, f.taken + f.checked);
            }
            let msg = self.rx.msg.as_mut().expect("data frame without message");
            if let Some(v) = msg.utf8.as_mut().filter(|_| !msg.compressed) {
                if let Err(e) = v.feed(new) {
                    self.fail_peer(ProtocolError::InvalidUtf8 { offset: e.offset });
                    return Step::Stop;
                }
            }
            f.checked = avail;
        }
        if self.rx.msg.as_ref().is_some_and(|m| m.compressed) {
            return self.inflate_step();
        }
        let complete = avail as u64 == f.remaining;
        if self.config.streaming {
            if avail == 0 && !complete {
                return Step::NeedMore;
            }
            let data = self.recv.split_to(avail).freeze();
            f.remaining -= avail as u64;
            f.taken += avail;
            f.checked = 0;
            let fin = complete && f.header.fin;
            if complete {
                self.rx.frame = None;
                self.clock.frame_received();
            }
            let step = self.emit_fragment(data, fin);
            return if complete { step } else { Step::Stop };
        }
        if !complete {
            return Step::NeedMore;
        }
        let fin = f.header.fin;
        self.rx.frame = None;
        self.clock.frame_received();
        let payload = self.recv.split_to(avail);
        let msg = self.rx.msg.as_mut().expect("data frame without message");
        if fin && msg.buf.is_empty() {
            // A message in one frame is a slice of what was received: no copy. The first
            // piece of a fragmented one is copied, as it waits for the rest (it must not
            // hold a shared read block meanwhile, and the next piece would copy it anyway).
            msg.buf = payload;
        } else {
            msg.buf.extend_from_slice(&payload);
        }
        if fin {
            let msg = self.rx.msg.take().expect("checked above");
            return self.finish_message(msg);
        }
        Step::Continue
    }

    /// Inflates what has arrived of a compressed message's frame, at most
    /// [`Config::poll_budget`](crate::Config::poll_budget) bytes of output per step (bounded by
    /// the message limit), validating text as it comes out; finishes the message on FIN. In
    /// streaming mode each step's output is a fragment.
    fn inflate_step(&mut self) -> Step {
        let limit = self.config.max_message_size;
        let budget = self.config.poll_budget;
        let (Some(f), Some(msg)) = (self.rx.frame.as_mut(), self.rx.msg.as_mut()) else {
            return Step::NeedMore;
        };
        let avail = (self.recv.len() as u64).min(f.remaining) as usize;
        let complete = avail as u64 == f.remaining;
        if avail == 0 && !complete && !msg.inflating {
            return Step::NeedMore;
        }
        let end = complete && f.header.fin;
        let start = msg.inflated.len();
        let input = &self.recv.data()[..avail];
        let (used, more) = match self
            .codec
            .decode(input, end, &mut msg.inflated, limit, budget)
        {
            Ok(r) => r,
            Err(e) => {
                self.fail_peer(e);
                return Step::Stop;
            }
        };
        msg.inflating = more;
        self.recv.advance(used);
        f.remaining -= used as u64;
        f.taken += used;
        f.checked -= used;
        if let Some(v) = msg.utf8.as_mut() {
            if let Err(e) = v.feed(&msg.inflated[start..]) {
                self.fail_peer(ProtocolError::InvalidUtf8 { offset: e.offset });
                return Step::Stop;
            }
        }
        let done = f.remaining == 0 && !more;
        let fin = done && f.header.fin;
        if done {
            self.rx.frame = None;
            self.clock.frame_received();
        }
        if self.config.streaming {
            if !msg.inflated.is_empty() || fin {
                let data = Bytes::from(core::mem::take(&mut msg.inflated));
                return self.emit_fragment(data, fin);
            }
        } else if fin {
            let msg = self.rx.msg.take().expect("checked above");
            return self.finish_message(msg);
        }
        match (more, done) {
            (true, _) => Step::Yield,
            (false, true) => Step::Continue,
            (false, false) => Step::NeedMore,
        }
    }

    fn finish_message(&mut self, msg: RxMessage) -> Step {
        let data = if msg.compressed {
            Bytes::from(msg.inflated)
        } else {
            msg.buf.freeze()
        };
        let message = match msg.utf8 {
            Some(v) => {
                if let Err(e) = v.finish() {
                    self.fail_peer(ProtocolError::InvalidUtf8 { offset: e.offset });
                    return Step::Stop;
                }
                Message::Text(Utf8Bytes::from_validated(data))
            }
            None => Message::Binary(data),
        };
        self.events.push_back(Event::Message(message));
        Step::Stop
    }

    fn emit_fragment(&mut self, data: Bytes, fin: bool) -> Step {
        let msg = self.rx.msg.as_mut().expect("data frame without message");
        if fin {
            if let Some(Err(e)) = msg.utf8.as_ref().map(Validator::finish) {
                self.fail_peer(ProtocolError::InvalidUtf8 { offset: e.offset });
                return Step::Stop;
            }
        }
        let fragment = Fragment {
            kind: msg.kind,
            data,
            first: core::mem::replace(&mut msg.first_out, false),
            fin,
        };
        if fin {
            self.rx.msg = None;
        }
        self.events.push_back(Event::Fragment(fragment));
        Step::Stop
    }

    fn on_control(&mut self, opcode: OpCode, payload: Bytes) -> Step {
        match opcode {
            OpCode::Ping => {
                if self.config.auto_pong && matches!(self.phase, Phase::Open) {
                    self.queue_frame(OpCode::Pong, true, 0, payload.clone());
                }
                self.events
                    .push_back(Event::Message(Message::Ping(payload)));
            }
            OpCode::Pong => self
                .events
                .push_back(Event::Message(Message::Pong(payload))),
            _ => match CloseFrame::decode(&payload) {
                Err(e) => self.fail_peer(e),
                Ok(frame) => self.transition(Input::PeerClose(frame)),
            },
        }
        Step::Stop
    }
}
