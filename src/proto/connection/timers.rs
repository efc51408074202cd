//! The connection's clock and timers: the handshake deadline, keepalive pings and their
//! timeout, the idle timeout, the write-stall timeout and the close deadline. Time only comes
//! in: from the constructor and from [`Connection::handle_timeout`]; nothing here reads a clock.
#![forbid(unsafe_code)]

use crate::proto::time::Instant;

use super::state::{Input, Phase};
use super::Connection;
use crate::proto::error::Timeout;
use crate::proto::frame::OpCode;

/// Bytes of an unfinished frame that, arriving after a keepalive ping, answer it.
const KEEPALIVE_PROGRESS: u64 = 64 << 10;

/// The times the timers run on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// The latest time given.
    pub(super) now: Instant,
    /// When bytes last arrived (or the connection opened): the idle timeout.
    last_rx: Instant,
    /// When a whole frame last arrived (or the connection opened): keepalive. Bytes alone do
    /// not count, so a peer that trickles one frame forever is still asked for a pong.
    last_frame: Instant,
    /// When we last sent a keepalive ping.
    last_ping: Option<Instant>,
    /// The keepalive ping that no frame has answered yet.
    ping_outstanding: Option<Instant>,
    /// Bytes ever received, and that count when the outstanding ping went out.
    rx_bytes: u64,
    rx_at_ping: u64,
    /// The write timeout's clock: when the output last made progress. Progress means every
    /// byte that was queued at the previous mark has been written (a peer that reads a byte at
    /// a time does not reset it), so each byte waits at most `write_timeout` in the queue.
    tx_progress: Instant,
    /// Bytes ever queued, and ever written.
    tx_queued: u64,
    tx_written: u64,
    /// Progress is made once `tx_written` reaches this.
    tx_mark: u64,
    /// Progress was made since the last `handle_timeout`: its time is the next `now` given, so
    /// a stale clock never makes the timeout fire early.
    tx_progressed: bool,
}

impl Clock {
    pub(super) fn new(now: Instant) -> Clock {
        Clock {
            now,
            last_rx: now,
            last_frame: now,
            last_ping: None,
            ping_outstanding: None,
            rx_bytes: 0,
            rx_at_ping: 0,
            tx_progress: now,
            tx_queued: 0,
            tx_written: 0,
            tx_mark: 0,
            tx_progressed: false,
        }
    }

    /// The idle and keepalive clocks start when the connection opens.
    pub(super) fn opened(&mut self, now: Instant) {
        self.last_rx = now;
        self.last_frame = now;
    }

    /// `n` bytes arrived (at the time of the latest `handle_timeout`).
    pub(super) fn received(&mut self, n: usize) {
        self.last_rx = self.now;
        self.rx_bytes += n as u64;
    }

    /// Whether the outstanding ping counts as answered without a whole frame: so much of one
    /// arrived since that a large frame on a slow link is plainly moving (the peer's pong
    /// waits behind it), which a trickle is not.
    fn answered_by_progress(&self) -> bool {
        self.rx_bytes - self.rx_at_ping >= KEEPALIVE_PROGRESS
    }

    /// A whole frame arrived: the peer is alive and framing, whatever it sent.
    pub(super) fn frame_received(&mut self) {
        self.last_frame = self.now;
        self.ping_outstanding = None;
    }

    /// `n` bytes were queued; `was_empty`: into an empty queue, which starts the clock.
    pub(super) fn queued(&mut self, n: usize, was_empty: bool) {
        self.tx_queued += n as u64;
        if was_empty {
            self.tx_progress = self.now;
            self.tx_progressed = true;
            self.tx_mark = self.tx_queued;
        }
    }

    /// `n` bytes were written (or handed out whole).
    pub(super) fn transmitted(&mut self, n: usize) {
        self.tx_written += n as u64;
        if self.tx_written >= self.tx_mark {
            self.tx_progressed = true;
            self.tx_mark = self.tx_queued;
        }
    }
}

impl Connection {
    /// Tells the connection the time and fires the timers that are due. Call it on every
    /// wake-up, before feeding bytes or sending: timers that start later (the close timeout)
    /// start from this time.
    pub fn handle_timeout(&mut self, now: impl Into<Instant>) {
        self.clock.now = self.clock.now.max(now.into());
        let now = self.clock.now;
        if core::mem::take(&mut self.clock.tx_progressed) {
            self.clock.tx_progress = now;
        }
        if self.write_deadline().is_some_and(|d| now >= d) {
            // The peer stopped reading: what we hold for it is dropped, not kept for ever.
            self.drop_output();
            self.transition(Input::TimedOut(Timeout::Write));
            return;
        }
        match &self.phase {
            Phase::Handshake(h) if now >= h.deadline() => {
                self.handshake_timed_out();
            }
            Phase::Open => {
                if self.idle_deadline().is_some_and(|d| now >= d) {
                    self.transition(Input::TimedOut(Timeout::Idle));
                } else if self.pong_deadline().is_some_and(|d| now >= d) {
                    if self.clock.answered_by_progress() {
                        self.clock.frame_received();
                    } else {
                        self.transition(Input::TimedOut(Timeout::Keepalive));
                    }
                } else if self.keepalive_deadline().is_some_and(|d| now >= d) {
                    self.clock.last_ping = Some(now);
                    if self.clock.ping_outstanding.is_none() {
                        self.clock.ping_outstanding = Some(now);
                        self.clock.rx_at_ping = self.clock.rx_bytes;
                    }
                    self.queue_frame(OpCode::Ping, true, 0, bytes::Bytes::new());
                }
            }
            Phase::CloseSent { deadline } | Phase::Closed { deadline } if now >= *deadline => {
                self.transition(Input::TimedOut(Timeout::Close));
            }
            _ => {}
        }
    }

    fn idle_deadline(&self) -> Option<Instant> {
        self.config.idle_timeout.map(|d| self.clock.last_rx + d)
    }

    fn keepalive_deadline(&self) -> Option<Instant> {
        let every = self.config.keepalive?;
        let since = match self.clock.last_ping {
            Some(p) => p.max(self.clock.last_frame),
            None => self.clock.last_frame,
        };
        Some(since + every)
    }

    fn pong_deadline(&self) -> Option<Instant> {
        Some(self.clock.ping_outstanding? + self.config.keepalive_timeout?)
    }

    fn write_deadline(&self) -> Option<Instant> {
        if self.tx.is_empty() {
            return None;
        }
        Some(self.clock.tx_progress + self.config.write_timeout?)
    }

    /// When [`handle_timeout`](Self::handle_timeout) next needs to be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        let phase = match &self.phase {
            Phase::Handshake(h) => Some(h.deadline()),
            Phase::Open => [
                self.idle_deadline(),
                self.keepalive_deadline(),
                self.pong_deadline(),
            ]
            .into_iter()
            .flatten()
            .min(),
            Phase::CloseSent { deadline } | Phase::Closed { deadline } => Some(*deadline),
            Phase::Terminated => None,
        };
        match (phase, self.write_deadline()) {
            (Some(a), Some(b)) => Some(a.min(b)),
            (a, b) => a.or(b),
        }
    }
}
