//! The connection's stored state and every transition between states, in one table
//! ([`Connection::transition`]), which is also the only place that reports [`Event::Closed`].
//! The public verbs that end a connection (close, fail, EOF, transport failure) are thin
//! wrappers that feed it an [`Input`].
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use crate::proto::time::Instant;

use super::handshake::Handshake;
use super::{CloseResult, Connection, Event, Role, State, TransportVerdict};
use crate::proto::buffer::SendQueue;
use crate::proto::close::{CloseCode, CloseFrame};
use crate::proto::error::{ApiMisuse, ConnectionError, HandshakeError, ProtocolError, Timeout};
use crate::proto::frame::OpCode;

/// Where the connection stands, with what each state needs.
#[derive(Debug)]
pub(super) enum Phase {
    /// The opening handshake, with its deadline and step.
    Handshake(Box<Handshake>),
    /// Messages flow both ways.
    Open,
    /// Our close frame is queued; frames are read until the peer's close, or `deadline`.
    CloseSent { deadline: Instant },
    /// Nothing more is read; queued output is written, then we wait for the peer's EOF until
    /// `deadline`.
    Closed { deadline: Instant },
    /// Over: the remaining output (and the shutdown, if due) is all that is left.
    Terminated,
}

/// Our write half of the transport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum WriteHalf {
    Open,
    /// Hand out `Transmit::Shutdown` once the queue is empty.
    ShutdownDue,
    /// Shut down (or nothing left to shut down).
    Done,
}

/// What happened, as the transition table sees it.
#[derive(Debug)]
pub(super) enum Input {
    /// The handshake succeeded (the terms are already in force).
    Opened,
    /// The handshake ended without a WebSocket; its response, if any, is queued.
    HandshakeEnded(CloseResult),
    /// We start the close handshake with this payload.
    LocalClose(bytes::Bytes),
    /// The peer's close frame (`None`: empty payload).
    PeerClose(Option<CloseFrame>),
    /// The connection fails: the close frame to send (if we still may), and the outcome.
    Fail(Option<CloseFrame>, CloseResult),
    /// The transport's read side ended.
    Eof,
    /// The transport failed.
    TransportFailed,
    /// A timer of ours ran out.
    TimedOut(Timeout),
}

impl Connection {
    /// The one transition table. Combinations not listed cannot happen (each input is only fed
    /// in the states that produce it) and change nothing.
    pub(super) fn transition(&mut self, input: Input) {
        let now = self.clock.now;
        let linger = now + self.config.close_timeout;
        let server = self.role == Role::Server;
        match (&self.phase, input) {
            (Phase::Terminated, _) => {}
            (Phase::Handshake(_), Input::Opened) => {
                self.phase = Phase::Open;
                self.clock.opened(now);
                self.events.push_back(Event::Open);
            }
            (Phase::Handshake(_), Input::HandshakeEnded(outcome)) => {
                self.stop_reading(Phase::Closed { deadline: linger }, Some(outcome), true);
            }
            (Phase::Handshake(_), Input::Eof) => {
                let e = ConnectionError::Handshake(HandshakeError::UnexpectedEof);
                self.stop_reading(Phase::Terminated, Some(Err(e)), true);
            }
            (Phase::Handshake(_), Input::TimedOut(t)) => {
                self.stop_reading(
                    Phase::Terminated,
                    Some(Err(ConnectionError::Timeout(t))),
                    true,
                );
            }
            (Phase::Open, Input::LocalClose(payload)) => {
                self.queue_frame(OpCode::Close, true, 0, payload);
                self.phase = Phase::CloseSent { deadline: linger };
            }
            (Phase::Open, Input::PeerClose(frame)) => {
                // Echo the code (RFC 6455 5.5.1) and the reason, as browsers and the other
                // major libraries do, so the initiator sees what it sent.
                let reply = frame.as_ref().map(CloseFrame::encode).unwrap_or_default();
                self.queue_frame(OpCode::Close, true, 0, reply);
                // A server closes TCP first (7.1.1); a client waits for that.
                self.stop_reading(Phase::Closed { deadline: linger }, Some(Ok(frame)), server);
            }
            (Phase::CloseSent { .. }, Input::PeerClose(frame)) => {
                self.stop_reading(Phase::Closed { deadline: linger }, Some(Ok(frame)), server);
            }
            (Phase::Open | Phase::CloseSent { .. }, Input::Fail(frame, outcome)) => {
                if let (Phase::Open, Some(f)) = (&self.phase, frame) {
                    self.queue_frame(OpCode::Close, true, 0, f.encode());
                }
                self.stop_reading(Phase::Closed { deadline: linger }, Some(outcome), true);
            }
            (Phase::Open | Phase::CloseSent { .. }, Input::Eof) => {
                let outcome = Err(ConnectionError::UnexpectedEof);
                self.stop_reading(Phase::Terminated, Some(outcome), true);
            }
            (Phase::Open | Phase::CloseSent { .. }, Input::TimedOut(t)) => {
                let outcome = Err(ConnectionError::Timeout(t));
                self.stop_reading(Phase::Terminated, Some(outcome), true);
            }
            (Phase::Handshake(_) | Phase::Open, Input::TransportFailed) => {
                // The adapter reports the transport's own error.
                self.drop_output();
                self.stop_reading(Phase::Terminated, None, false);
            }
            (Phase::CloseSent { .. }, Input::TransportFailed) => {
                self.drop_output();
                let outcome = Err(ConnectionError::UnexpectedEof);
                self.stop_reading(Phase::Terminated, Some(outcome), false);
            }
            (Phase::Closed { .. }, Input::Eof | Input::TimedOut(_)) => {
                self.stop_reading(Phase::Terminated, None, true);
            }
            (Phase::Closed { .. }, Input::TransportFailed) => {
                self.drop_output();
                self.stop_reading(Phase::Terminated, None, false);
            }
            (_, _) => {}
        }
    }

    /// Enters a state in which nothing more is read, reporting `outcome` (once: only states
    /// that still read come here with one).
    fn stop_reading(&mut self, next: Phase, outcome: Option<CloseResult>, shutdown: bool) {
        if matches!(next, Phase::Terminated) {
            // Ended without a close: the rest of a message being compressed is not sent.
            self.tx_deferred = None;
        }
        self.phase = next;
        self.rx = Default::default();
        self.recv.clear();
        if shutdown && self.write_half == WriteHalf::Open {
            self.write_half = WriteHalf::ShutdownDue;
        }
        if let Some(outcome) = outcome {
            if let Err(e) = &outcome {
                self.error = Some(Box::new(e.clone()));
            }
            self.events.push_back(Event::Closed(outcome));
        }
    }

    pub(super) fn drop_output(&mut self) {
        self.tx = SendQueue::default();
        self.tx_deferred = None;
        self.write_half = WriteHalf::Done;
    }

    /// Where the connection stands.
    pub fn state(&self) -> State {
        match self.phase {
            Phase::Handshake(_) => State::Handshake,
            Phase::Open => State::Open,
            Phase::CloseSent { .. } => State::Closing,
            Phase::Closed { .. } => State::Closed,
            Phase::Terminated if self.is_terminated() => State::Terminated,
            Phase::Terminated => State::Closed,
        }
    }

    /// Whether frames are still read.
    pub(super) fn is_reading(&self) -> bool {
        matches!(
            self.phase,
            Phase::Handshake(_) | Phase::Open | Phase::CloseSent { .. }
        )
    }

    /// Whether the adapter may drop the transport: the connection is over and everything,
    /// including the shutdown, has been handed out.
    pub fn is_terminated(&self) -> bool {
        matches!(self.phase, Phase::Terminated)
            && self.tx.is_empty()
            && self.write_half != WriteHalf::ShutdownDue
    }

    /// Starts the close handshake (`None`: an empty close payload), or fails with
    /// [`ApiMisuse`] if a close was already sent or the handshake is not over. Frames keep
    /// arriving until the peer's close; the close timeout runs from the last `now` given.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), ApiMisuse> {
        self.check_open()?;
        let payload = match &frame {
            Some(f) => {
                f.validate()?;
                f.encode()
            }
            None => bytes::Bytes::new(),
        };
        self.transition(Input::LocalClose(payload));
        Ok(())
    }

    /// Fails the connection from our side (RFC 6455 7.1.7): sends a close frame with `code`
    /// (unless one was sent already), stops reading and closes the transport. For an
    /// application that decides the peer misbehaved (for example 1008, policy violation).
    /// Does nothing once the connection is closed.
    pub fn fail(&mut self, code: CloseCode, reason: &str) -> Result<(), ApiMisuse> {
        let frame = CloseFrame::new(code, reason);
        frame.validate()?;
        match self.phase {
            Phase::Handshake(_) => Err(ApiMisuse::HandshakeInProgress),
            _ => {
                self.transition(Input::Fail(Some(frame.clone()), Ok(Some(frame))));
                Ok(())
            }
        }
    }

    /// Fails the connection for a peer's fault.
    pub(super) fn fail_peer(&mut self, err: ProtocolError) {
        let frame = CloseFrame::new(err.close_code(), err.reason());
        self.transition(Input::Fail(
            Some(frame),
            Err(ConnectionError::Protocol(err)),
        ));
    }

    /// The transport's read side ended (TCP FIN or EOF).
    pub fn receive_eof(&mut self) {
        self.transition(Input::Eof);
    }

    /// The transport failed (a read or write error). Pending output is dropped and the
    /// connection ends; the verdict says whether the user should see the error (the
    /// connection was live) or not (closing had begun).
    pub fn transport_failed(&mut self) -> TransportVerdict {
        let verdict = match self.phase {
            Phase::Handshake(_) | Phase::Open => TransportVerdict::Report,
            _ => TransportVerdict::Ignore,
        };
        self.transition(Input::TransportFailed);
        verdict
    }
}
