//! The connection's clock and timers: the handshake deadline, keepalive pings, the idle timeout
//! and the close deadline. Time only comes in: from the constructor and from
//! [`Connection::handle_timeout`]; nothing here reads a clock.
#![forbid(unsafe_code)]

use std::time::Instant;

use super::state::{Input, Phase};
use super::Connection;
use crate::proto::error::Timeout;
use crate::proto::frame::OpCode;

/// The times the timers run on.
#[derive(Debug, Clone, Copy)]
pub(super) struct Clock {
    /// The latest time given.
    pub(super) now: Instant,
    /// When bytes last arrived (or the connection opened).
    last_rx: Instant,
    /// When we last sent a keepalive ping.
    last_ping: Option<Instant>,
}

impl Clock {
    pub(super) fn new(now: Instant) -> Clock {
        Clock {
            now,
            last_rx: now,
            last_ping: None,
        }
    }

    /// The idle and keepalive clocks start when the connection opens.
    pub(super) fn opened(&mut self, now: Instant) {
        self.last_rx = now;
    }

    /// Bytes arrived (at the time of the latest `handle_timeout`).
    pub(super) fn received(&mut self) {
        self.last_rx = self.now;
    }
}

impl Connection {
    /// Tells the connection the time and fires the timers that are due. Call it on every
    /// wake-up, before feeding bytes or sending: timers that start later (the close timeout)
    /// start from this time.
    pub fn handle_timeout(&mut self, now: Instant) {
        self.clock.now = self.clock.now.max(now);
        let now = self.clock.now;
        match &self.phase {
            Phase::Handshake(h) if now >= h.deadline() => {
                self.handshake_timed_out();
            }
            Phase::Open => {
                if self.idle_deadline().is_some_and(|d| now >= d) {
                    self.transition(Input::TimedOut(Timeout::Idle));
                } else if self.keepalive_deadline().is_some_and(|d| now >= d) {
                    self.clock.last_ping = Some(now);
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
            Some(p) => p.max(self.clock.last_rx),
            None => self.clock.last_rx,
        };
        Some(since + every)
    }

    /// When [`handle_timeout`](Self::handle_timeout) next needs to be called, if ever.
    pub fn poll_timeout(&self) -> Option<Instant> {
        match &self.phase {
            Phase::Handshake(h) => Some(h.deadline()),
            Phase::Open => match (self.idle_deadline(), self.keepalive_deadline()) {
                (Some(a), Some(b)) => Some(a.min(b)),
                (a, b) => a.or(b),
            },
            Phase::CloseSent { deadline } | Phase::Closed { deadline } => Some(*deadline),
            Phase::Terminated => None,
        }
    }
}
