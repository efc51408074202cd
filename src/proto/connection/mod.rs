//! The connection: one sans-IO object per WebSocket, from the first byte of the opening
//! handshake to the last byte of the close, in either role.
//!
//! Split by concern: [`state`](self) holds the stored state and every transition between states
//! (one table), `handshake` the opening handshake in both roles, `recv` frame parsing and message
//! assembly, `send` the send API and the output queue, `prepared` messages encoded once for
//! many connections, `timers` the clock and the timers, `events` the events not yet handed
//! out. It never does I/O, never reads a clock and never uses a global random number generator.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

mod events;
mod handshake;
mod prepared;
mod recv;
mod send;
mod state;
mod timers;

use crate::proto::time::Instant;
use core::fmt;

use bytes::Bytes;

pub use self::handshake::{answer, client_agreed, Agreed, Answer};
pub use self::prepared::PreparedMessage;
use self::recv::Step;
use self::state::{Phase, WriteHalf};
use super::buffer::{RecvBuf, SendQueue};
use super::close::CloseFrame;
use super::config::Config;
use super::error::{ConnectionError, HandshakeError};
use super::ext::{Codec, Negotiated};
use super::handshake::client::ClientRequest;
use super::handshake::server::Request;
use super::handshake::Headers;
use super::mask::MaskSource;
use super::message::{DataKind, Message};

/// Which end of the connection we are: a client masks what it sends and expects unmasked
/// frames; a server the reverse.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    /// The end that sent the opening handshake.
    Client,
    /// The end that accepted it.
    Server,
}

/// How a connection ended, reported once in [`Event::Closed`]: `Ok` after a clean close
/// handshake (the peer's close frame, `None` if it was empty; or the frame we failed the
/// connection with by [`Connection::fail`]; or `None` after a handshake answered with a plain
/// HTTP response), `Err` with the reason otherwise.
pub type CloseResult = Result<Option<CloseFrame>, ConnectionError>;

/// What the connection reports to its user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// Server: the opening request is complete. Answer it with [`Connection::accept`] or
    /// [`Connection::respond`] (nothing else happens until then).
    Request(Request),
    /// The opening handshake succeeded: messages can flow.
    Open,
    /// A whole text or binary message, or a ping or pong (pongs to pings are sent for you unless
    /// [`Config::auto_pong`] is off).
    Message(Message),
    /// In streaming mode ([`Config::streaming`]): a piece of a data message, as it arrived.
    Fragment(Fragment),
    /// The connection is closed for reading, and how it ended. Reported once; nothing follows.
    Closed(CloseResult),
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

/// Where the connection stands (a summary of its stored state).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// The opening handshake is under way.
    Handshake,
    /// Messages flow both ways.
    Open,
    /// We sent a close frame and wait for the peer's; its messages are still delivered.
    Closing,
    /// Nothing more is read (close handshake done, connection failed, or the handshake ended
    /// without a WebSocket); what is queued is being written and the transport wound down.
    Closed,
    /// Nothing more to do: the transport can be dropped.
    Terminated,
}

/// What an adapter does with a transport error it hands to [`Connection::transport_failed`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TransportVerdict {
    /// The connection was live: report the error to the user.
    Report,
    /// Closing had begun: the connection just ends; the error is not the user's concern.
    Ignore,
}

/// A WebSocket connection in either role, from the opening handshake to the end.
///
/// # States
///
/// ```text
///  server(now) ──request──▶ Event::Request ──accept──▶ Open ◀── open(now)
///  client(now) ──response (101)─────────────────────▶ Open
///  Handshake ──respond / refusal / bad response──▶ Closed ──EOF or close timeout──▶ Terminated
///  Open ──close()──▶ Closing ──peer's close──▶ Closed
///  Open ──peer's close (echoed) / protocol error / fail()──▶ Closed
///  Open, Closing ──EOF, transport error, idle, keepalive, write or close timeout──▶ Terminated
///  Handshake ──EOF, handshake timeout──▶ Terminated
/// ```
/// Every transition goes through one table (`state.rs`), which also reports
/// [`Event::Closed`] exactly once. [`state`](Self::state) summarises where it stands.
///
/// # Call contract
///
/// 1. Create it with the time: [`server`](Self::server), [`client`](Self::client), or
///    [`open`](Self::open) for a transport that did its own handshake (hyper's upgrade, an
///    HTTP/2 stream). A client's request is queued at once.
/// 2. On every wake-up, first [`handle_timeout`](Self::handle_timeout) with the current time
///    (all timers, and the idle clock of received bytes, run on the times given here).
/// 3. Feed what the transport read: [`receive`](Self::receive), or
///    [`receive_buf`](Self::receive_buf) then [`receive_commit`](Self::receive_commit) to read
///    in place; [`receive_eof`](Self::receive_eof) when it ended, and
///    [`transport_failed`](Self::transport_failed) when it failed.
/// 4. Drain [`poll_event`](Self::poll_event) until `None` (parsing is lazy: one event at a
///    time, so a reply to a message goes out before a later bad frame fails the connection).
///    A server answers [`Event::Request`] with [`accept`](Self::accept) or
///    [`respond`](Self::respond). A loop that serves many connections on one thread uses
///    [`poll_event_bounded`](Self::poll_event_bounded) instead, which does at most
///    [`Config::poll_budget`] of work per call and says with [`wants_poll`](Self::wants_poll)
///    that it stopped with more to do.
/// 5. Send with [`send`](Self::send) and friends; write what [`poll_transmit`](Self::poll_transmit)
///    (or [`transmit_chunks`](Self::transmit_chunks) with [`advance_transmit`](Self::advance_transmit))
///    hands out, including a final [`Transmit::Shutdown`]. Once it has all been written, call
///    [`prepare_transmit`](Self::prepare_transmit): a compressed message larger than the
///    budget is compressed a piece at a time as the transport drains, and this queues the next
///    piece (false: nothing pending). Make the next send wait while
///    [`is_send_backlogged`](Self::is_send_backlogged).
/// 6. Sleep until [`poll_timeout`](Self::poll_timeout), or until the transport is readable
///    (while [`wants_read`](Self::wants_read)). Drop the transport once
///    [`is_terminated`](Self::is_terminated).
///
/// The time is the caller's: this example is a function of `now`, as a driver would call it with
/// its own clock (`tests/state.rs` runs it).
///
/// ```
/// use std::time::Instant;
/// use websock::{Agreed, Config, Connection, Event, Message, Role, Transmit};
///
/// fn echo_one_message(now: Instant) {
///     let mut server = Connection::open(Role::Server, Config::default(), Agreed::default(), now);
///     // A masked "Hello" from a client (RFC 6455 5.7).
///     server.receive(&[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58]);
///     assert_eq!(server.poll_event(), Some(Event::Message(Message::text("Hello"))));
///
///     server.send_text("Hi").unwrap();
///     assert_eq!(server.poll_transmit(), Some(Transmit::Data(vec![0x81, 2, b'H', b'i'].into())));
///
///     server.receive(&[0x88, 0x80, 0, 0, 0, 0]); // a masked, empty close frame
///     assert_eq!(server.poll_event(), Some(Event::Closed(Ok(None))));
///     assert_eq!(server.poll_transmit(), Some(Transmit::Data(vec![0x88, 0].into()))); // reply
///     assert_eq!(server.poll_transmit(), Some(Transmit::Shutdown)); // a server closes TCP first
/// }
/// ```
pub struct Connection {
    role: Role,
    config: Config,
    phase: Phase,
    write_half: WriteHalf,
    negotiated: Negotiated,
    protocol: Option<String>,
    response_headers: Option<Headers>,
    codec: Codec,
    recv: RecvBuf,
    rx: recv::Receiver,
    events: events::EventQueue,
    tx: SendQueue,
    tx_msg: Option<send::TxMessage>,
    /// A large compressed message still being compressed, a budget at a time.
    tx_deferred: Option<Box<send::Deferred>>,
    masks: Option<Box<dyn MaskSource>>,
    /// Boxed: most connections never fail, and an idle one should stay small.
    error: Option<Box<ConnectionError>>,
    clock: timers::Clock,
    /// The one flush that may wait ([`Connection::may_defer_flush`]): set when an event is
    /// handed out with more received bytes behind it, spent by that flush.
    cork: bool,
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
    fn with_phase(role: Role, config: Config, phase: Phase, now: Instant) -> Connection {
        Connection {
            role,
            config,
            phase,
            write_half: WriteHalf::Open,
            negotiated: Negotiated::none(),
            protocol: None,
            response_headers: None,
            codec: Codec::default(),
            recv: RecvBuf::default(),
            rx: recv::Receiver::default(),
            events: events::EventQueue::default(),
            tx: SendQueue::default(),
            tx_msg: None,
            tx_deferred: None,
            masks: None,
            error: None,
            clock: timers::Clock::new(now),
            cork: false,
        }
    }

    /// A server connection waiting for the opening request; the handshake timeout runs from
    /// `now`.
    pub fn server(config: Config, now: impl Into<Instant>) -> Connection {
        let now = now.into();
        let phase = Phase::Handshake(Box::new(handshake::Handshake::server(&config, now)));
        Connection::with_phase(Role::Server, config, phase, now)
    }

    /// A client connection with `request` queued for sending, offering the extensions `config`
    /// enables; the handshake timeout runs from `now`.
    #[cfg(feature = "std")]
    pub fn client(
        request: ClientRequest,
        config: Config,
        now: impl Into<Instant>,
    ) -> Result<Connection, HandshakeError> {
        let key = request.given_key().unwrap_or_else(|| {
            let mut key = [0u8; 16];
            // Without OS entropy there is no unpredictable key (RFC 6455 4.1); nothing to fall
            // back on.
            rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut key)
                .expect("operating system random source unavailable");
            key
        });
        let masks = crate::proto::mask::default_mask_source();
        Connection::client_with(request, key, masks, config, now)
    }

    /// A client connection as [`client`](Self::client), with the `Sec-WebSocket-Key` and the
    /// source of masking keys given: what a client without `std` (no operating-system random
    /// source) uses. Both must be unpredictable to the network (RFC 6455 4.1 and 10.3): draw
    /// them from the device's random number generator, e.g. with
    /// [`RngMasks`](crate::proto::mask::RngMasks).
    pub fn client_with(
        request: ClientRequest,
        key: [u8; 16],
        masks: Box<dyn MaskSource>,
        config: Config,
        now: impl Into<Instant>,
    ) -> Result<Connection, HandshakeError> {
        let now = now.into();
        let (head, hs) = request
            .extensions(super::ext::client_offers(&config))
            .start_with_key(key)?;
        let phase = Phase::Handshake(Box::new(handshake::Handshake::client(hs, &config, now)));
        let mut conn = Connection::with_phase(Role::Client, config, phase, now);
        conn.masks = Some(masks);
        conn.tx.push_bytes(Bytes::from(head));
        Ok(conn)
    }

    /// A connection whose handshake was done elsewhere (hyper's HTTP/1.1 upgrade, an HTTP/2
    /// extended CONNECT stream), open from `now` with the terms agreed there.
    pub fn open(role: Role, config: Config, agreed: Agreed, now: impl Into<Instant>) -> Connection {
        let mut conn = Connection::with_phase(role, config, Phase::Open, now.into());
        conn.set_agreed(agreed);
        conn
    }

    fn set_agreed(&mut self, agreed: Agreed) {
        self.codec = Codec::new(&agreed.extensions, &self.config);
        self.negotiated = agreed.extensions;
        self.protocol = agreed.protocol;
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

    /// The subprotocol agreed in the handshake.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The extensions in force.
    pub fn extensions(&self) -> &Negotiated {
        &self.negotiated
    }

    /// Whether permessage-deflate is in force.
    pub fn is_compressed(&self) -> bool {
        self.codec.is_active()
    }

    /// Client: the header fields of the server's 101 response, once it arrived.
    pub fn response_headers(&self) -> Option<&Headers> {
        self.response_headers.as_ref()
    }

    /// Why the connection ended, if not cleanly (the same as in its [`Event::Closed`]).
    pub fn last_error(&self) -> Option<&ConnectionError> {
        self.error.as_deref()
    }

    /// The next event, if any: `None` means the bytes given so far hold no more.
    pub fn poll_event(&mut self) -> Option<Event> {
        loop {
            let event = self.poll_event_bounded();
            if event.is_some() || !self.wants_poll() {
                return event;
            }
        }
    }

    /// Like [`poll_event`](Self::poll_event), but does at most a budget of work
    /// ([`Config::poll_budget`](crate::Config)): `None` with [`wants_poll`](Self::wants_poll)
    /// true means it stopped with more to do from bytes already held. For event loops that
    /// serve many connections on one thread: poll the others, then this one again.
    pub fn poll_event_bounded(&mut self) -> Option<Event> {
        if self.events.is_empty() {
            self.process();
        }
        let event = self.events.pop_front();
        // Only a message (or piece of one) can have a reply worth holding: after `Open`, the
        // user's first send is not an answer to anything.
        self.cork = matches!(event, Some(Event::Message(_) | Event::Fragment(_)))
            && self.holds_more_input();
        event
    }
}
