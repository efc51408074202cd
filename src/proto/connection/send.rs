//! The send path: the send API (whole messages, fragments, pings, pongs), frames encoded into
//! the output queue (masked by role, compressed by the codec), and handing that queue to the
//! transport (one chunk at a time, or as slices for a vectored write), with backpressure.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use bytes::Bytes;

use super::state::{Phase, WriteHalf};
use super::{Connection, Role, Transmit};
use crate::proto::error::ApiMisuse;
use crate::proto::ext::Encoding;
use crate::proto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::proto::mask::{apply_mask, default_mask_source};
use crate::proto::message::{DataKind, Message, Utf8Bytes};
use crate::proto::utf8::Validator;

/// The fragmented message being sent.
#[derive(Debug)]
pub(super) struct TxMessage {
    kind: DataKind,
    utf8: Option<Validator>,
}

/// A compressed message larger than the work budget, compressed a budget at a time as the
/// transport drains ([`Connection::prepare_transmit`]) and sent as one fragmented message.
#[derive(Debug)]
pub(super) struct Deferred {
    opcode: OpCode,
    payload: Bytes,
    /// Input compressed so far.
    done: usize,
    /// Whether the first frame (opcode and RSV1) is out.
    started: bool,
}

impl Connection {
    pub(super) fn check_open(&self) -> Result<(), ApiMisuse> {
        match self.phase {
            Phase::Open => Ok(()),
            Phase::Handshake(_) => Err(ApiMisuse::HandshakeInProgress),
            _ => Err(ApiMisuse::SendAfterClose),
        }
    }

    /// Whether messages (and a close) can still be sent: the connection is open and no close
    /// was sent.
    pub fn can_send(&self) -> bool {
        self.check_open().is_ok()
    }

    /// Sends any message: text, binary, ping, pong or close.
    pub fn send(&mut self, message: Message) -> Result<(), ApiMisuse> {
        match message {
            Message::Text(t) => self.send_text(t),
            Message::Binary(b) => self.send_binary(b),
            Message::Ping(b) => self.send_ping(b),
            Message::Pong(b) => self.send_pong(b),
            Message::Close(frame) => self.close(frame),
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

    /// Checks that a whole message may be sent now, and finishes a deferred one first.
    pub(super) fn check_sendable(&mut self) -> Result<(), ApiMisuse> {
        self.check_open()?;
        if self.tx_msg.is_some() {
            return Err(ApiMisuse::FragmentedMessageInProgress);
        }
        self.finish_deferred();
        Ok(())
    }

    /// Queues a complete frame as it is (bytes shared with other connections), once
    /// [`check_sendable`](Self::check_sendable) said it may.
    pub(super) fn queue_shared_frame(&mut self, frame: Bytes) {
        self.clock.queued(frame.len(), self.tx.is_empty());
        self.tx.push_bytes(frame);
    }

    pub(super) fn send_whole(&mut self, opcode: OpCode, payload: Bytes) -> Result<(), ApiMisuse> {
        self.check_sendable()?;
        let compressed = self.codec.encoding(payload.len()) != Encoding::Plain;
        if compressed && payload.len() > self.config.poll_budget {
            self.tx_deferred = Some(Box::new(Deferred {
                opcode,
                payload,
                done: 0,
                started: false,
            }));
            self.prepare_transmit();
            return Ok(());
        }
        let (payload, rsv) = self.codec.encode(payload);
        self.queue_frame(opcode, true, rsv, payload);
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
        self.finish_deferred();
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

    /// Compresses the next budget's worth ([`Config::poll_budget`](crate::Config)) of a large
    /// message being sent into the output queue as one frame, and returns whether it queued
    /// one (false: nothing is pending).
    /// Adapters call it once the queue has drained: a large compressed message is compressed
    /// as the transport takes it, so memory stays near the high-water mark and no call does
    /// more than a budget of work. A message over the budget goes out as several frames.
    pub fn prepare_transmit(&mut self) -> bool {
        loop {
            let Some(d) = self.tx_deferred.as_mut() else {
                return false;
            };
            let end = d.done.saturating_add(self.config.poll_budget.max(1));
            let end = end.min(d.payload.len());
            let last = end == d.payload.len();
            let out = self.codec.encode_part(&d.payload[d.done..end], last);
            d.done = end;
            if out.is_empty() && !last {
                // The compressor kept it all for now: nothing to frame yet.
                continue;
            }
            let (opcode, rsv) = match d.started {
                true => (OpCode::Continuation, 0),
                false => (d.opcode, 0b100),
            };
            d.started = true;
            if last {
                self.tx_deferred = None;
            }
            self.queue_frame(opcode, last, rsv, out);
            return true;
        }
    }

    /// Whether a large message is still being compressed ([`prepare_transmit`]).
    ///
    /// [`prepare_transmit`]: Self::prepare_transmit
    pub fn has_pending_send(&self) -> bool {
        self.tx_deferred.is_some()
    }

    /// Auto-corking: whether the flush that ends an adapter's `send` may leave the output
    /// queued for now. True once after each event handed out while more received bytes (or
    /// events) wait behind it: the user's next `recv` goes on from them, so the reply to this
    /// message can leave in one write with the replies to the messages that follow. The
    /// adapter writes everything queued before it next waits (a read that would block, a
    /// timer, the work budget), so a reply is never held while its connection sleeps.
    ///
    /// The allowance is spent by the call: a second send after the same event writes. It is
    /// never given past [`Config::write_buffer_high_water`](crate::Config) or while a large
    /// message is being compressed. Explicit flushes and closes write regardless.
    pub fn may_defer_flush(&mut self) -> bool {
        let cork = core::mem::take(&mut self.cork);
        cork && self.tx.len() < self.config.write_buffer_high_water && !self.has_pending_send()
    }

    /// Whether the next send should wait for output to drain: more than
    /// [`Config::write_buffer_high_water`](crate::Config) bytes wait to be written, or a large
    /// message is still being compressed. Adapters flush (and an async one waits) while true.
    pub fn is_send_backlogged(&self) -> bool {
        self.tx.len() >= self.config.write_buffer_high_water || self.has_pending_send()
    }

    /// Compresses the rest of a deferred message now: what comes next must follow it.
    fn finish_deferred(&mut self) {
        while self.prepare_transmit() {}
    }

    pub(super) fn queue_frame(&mut self, opcode: OpCode, fin: bool, rsv: u8, payload: Bytes) {
        if opcode == OpCode::Close {
            // Nothing may follow a close: the message before it goes out whole.
            self.finish_deferred();
        }
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
        self.clock.queued(n + payload.len(), self.tx.is_empty());
        match mask {
            None => self.tx.push_frame(&head[..n], payload),
            Some(key) => apply_mask(self.tx.push_frame_copy(&head[..n], &payload), key, 0),
        }
    }

    /// The next thing to do with the transport: bytes to write, then (once) a shutdown.
    pub fn poll_transmit(&mut self) -> Option<Transmit> {
        if let Some(b) = self.tx.pop() {
            // Handed out whole: the transport owns it now.
            self.clock.transmitted(b.len());
            return Some(Transmit::Data(b));
        }
        if self.write_half == WriteHalf::ShutdownDue {
            self.write_half = WriteHalf::Done;
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
        self.clock.transmitted(n);
        self.tx.advance(n);
    }

    /// Bytes waiting to be written.
    pub fn transmit_len(&self) -> usize {
        self.tx.len()
    }

    /// Whether an adapter should read from the transport now: false once the connection is
    /// over (after a close it still reads, to see the peer's EOF), and while more than [`Config::write_buffer_high_water`](crate::Config) bytes wait to be
    /// written (a peer that sends but never reads must not make us buffer without bound).
    pub fn wants_read(&self) -> bool {
        !matches!(self.phase, Phase::Terminated)
            && self.tx.len() < self.config.write_buffer_high_water
    }

    /// Whether [`poll_event_bounded`](Self::poll_event_bounded) stopped at its work budget
    /// ([`Config::poll_budget`](crate::Config)) with more to do from bytes it already holds:
    /// call it again (an async adapter first lets other tasks run) before reading more.
    pub fn wants_poll(&self) -> bool {
        self.rx.yielded() && self.events.is_empty()
    }

    /// Frees the receive and send buffers if they are empty, so an idle connection holds no
    /// buffer memory. Adapters call this when a read would block.
    pub fn release_idle_buffers(&mut self) {
        if !self.rx.in_frame() {
            self.recv.release_if_empty();
        }
        self.tx.release_if_empty();
    }

    /// Bytes of buffer memory this connection holds (receive, send, the message being
    /// assembled, and compression contexts).
    pub fn buffered_capacity(&self) -> usize {
        self.recv.capacity() + self.tx.capacity() + self.rx.capacity() + self.codec.memory()
    }
}
