//! Error types of the core.
//!
//! Named by who is at fault: [`ProtocolError`] (the peer broke RFC 6455; it maps to the close
//! code we send), [`HandshakeError`] (the opening handshake failed: the peer's request or
//! response was wrong, or the server refused), [`Timeout`] (a timer of ours ran out), and
//! [`ConnectionError`], which of these ended a connection (or the transport ending without a
//! close handshake). [`ApiMisuse`] is our own user asking for something the protocol forbids;
//! it is returned at once and nothing is sent. This module holds only types and imports no other
//! module of the core: close codes are attached in `close`, HTTP answers in `handshake`.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use core::fmt;

use bytes::Bytes;

/// The peer broke a rule of RFC 6455 (or of a negotiated extension).
///
/// A `Connection` never returns these from `receive`: it fails the connection with
/// [`close_code`](Self::close_code) and reports the error through `last_error()`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProtocolError {
    /// Opcode 3-7 or 0xB-0xF (RFC 6455 5.2).
    ReservedOpcode(u8),
    /// An RSV bit was set that no negotiated extension owns (5.2). The value holds the RSV bits.
    ReservedBitsSet(u8),
    /// A 16- or 64-bit length that would have fit a shorter form (5.2: "the minimal number of
    /// bytes MUST be used").
    NonMinimalLength,
    /// The most significant bit of a 64-bit payload length was set (5.2).
    LengthOverflow,
    /// A control frame with a payload over 125 bytes (5.5).
    ControlFrameTooLong(u64),
    /// A control frame without FIN (5.5).
    FragmentedControlFrame,
    /// A client sent an unmasked frame (5.1).
    UnmaskedFrameFromClient,
    /// A server sent a masked frame (5.1).
    MaskedFrameFromServer,
    /// A continuation frame with no fragmented message in progress (5.4).
    ContinuationWithoutStart,
    /// A new text or binary frame while a fragmented message was in progress (5.4).
    DataFrameInsideFragmentedMessage,
    /// A frame larger than the configured maximum.
    FrameTooBig {
        /// The frame's payload length.
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message larger than the configured maximum.
    MessageTooBig {
        /// The size reached so far (at least).
        size: u64,
        /// The configured limit.
        limit: usize,
    },
    /// A message in more frames than `Config::max_fragments` allows: 1009.
    TooManyFragments {
        /// The configured limit.
        limit: usize,
    },
    /// A text message (or close reason) that is not valid UTF-8 (8.1). `offset` is the index of
    /// the first byte found invalid within the message.
    InvalidUtf8 {
        /// Offset of the first invalid byte within the message.
        offset: usize,
    },
    /// A close frame with a one-byte payload (5.5.1).
    CloseFrameTooShort,
    /// A close code that may not appear on the wire (7.4).
    InvalidCloseCode(u16),
    /// A close frame whose reason is not UTF-8 (5.5.1).
    InvalidCloseReason,
    /// A compressed message (permessage-deflate) that does not inflate.
    InvalidCompressedData(String),
    /// A negotiated extension rejected the data.
    Extension(String),
}

impl ProtocolError {
    /// A short reason for the close frame (always under 123 bytes).
    pub(crate) fn reason(&self) -> &'static str {
        use ProtocolError::*;
        match self {
            ReservedOpcode(_) => "reserved opcode",
            ReservedBitsSet(_) => "reserved bits set",
            NonMinimalLength => "non-minimal length",
            LengthOverflow => "length overflow",
            ControlFrameTooLong(_) => "control frame too long",
            FragmentedControlFrame => "fragmented control frame",
            UnmaskedFrameFromClient => "unmasked client frame",
            MaskedFrameFromServer => "masked server frame",
            ContinuationWithoutStart => "continuation without start",
            DataFrameInsideFragmentedMessage => "data frame inside fragmented message",
            FrameTooBig { .. } => "frame too big",
            MessageTooBig { .. } => "message too big",
            TooManyFragments { .. } => "too many fragments",
            InvalidUtf8 { .. } => "invalid utf-8",
            CloseFrameTooShort => "close payload of one byte",
            InvalidCloseCode(_) => "invalid close code",
            InvalidCloseReason => "invalid close reason",
            InvalidCompressedData(_) => "invalid compressed data",
            Extension(_) => "extension error",
        }
    }
}

impl fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ProtocolError::*;
        match self {
            ReservedOpcode(op) => write!(f, "reserved opcode {op:#x}"),
            ReservedBitsSet(bits) => write!(f, "reserved bits {bits:#05b} set"),
            ControlFrameTooLong(n) => write!(f, "control frame of {n} bytes (max 125)"),
            FrameTooBig { size, limit } => write!(f, "frame of {size} bytes over limit {limit}"),
            MessageTooBig { size, limit } => {
                write!(f, "message of at least {size} bytes over limit {limit}")
            }
            TooManyFragments { limit } => write!(f, "message in more than {limit} frames"),
            InvalidUtf8 { offset } => write!(f, "invalid UTF-8 at byte {offset}"),
            InvalidCloseCode(c) => write!(f, "invalid close code {c}"),
            InvalidCompressedData(msg) => write!(f, "invalid compressed data: {msg}"),
            Extension(msg) => write!(f, "extension error: {msg}"),
            other => f.write_str(other.reason()),
        }
    }
}

impl core::error::Error for ProtocolError {}

/// Our own user asked for something the protocol forbids. Nothing was queued.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ApiMisuse {
    /// A close frame was already sent (or the connection failed): no more frames may be sent.
    SendAfterClose,
    /// Ping, pong and close payloads are limited to 125 bytes.
    ControlPayloadTooLong(usize),
    /// This close code may not be sent (1004-1006, 1015, below 1000, 1016-2999, 5000 and up).
    InvalidCloseCode(u16),
    /// A close reason is limited to 123 bytes.
    CloseReasonTooLong(usize),
    /// A whole message was sent while a fragmented one was still open, or a fragment of the
    /// other kind was sent.
    FragmentedMessageInProgress,
    /// Text fragments did not add up to valid UTF-8.
    InvalidUtf8,
    /// The opening handshake is not over: nothing can be sent yet.
    HandshakeInProgress,
    /// `accept` or `respond` was called on a connection that has no request waiting for an
    /// answer (a client, an open connection, or a request already answered).
    NoRequestToAnswer,
}

impl fmt::Display for ApiMisuse {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use ApiMisuse::*;
        match self {
            SendAfterClose => f.write_str("cannot send after the close frame"),
            ControlPayloadTooLong(n) => write!(f, "control payload of {n} bytes (max 125)"),
            InvalidCloseCode(c) => write!(f, "close code {c} may not be sent"),
            CloseReasonTooLong(n) => write!(f, "close reason of {n} bytes (max 123)"),
            FragmentedMessageInProgress => f.write_str("a fragmented message is in progress"),
            InvalidUtf8 => f.write_str("text fragments are not valid UTF-8"),
            HandshakeInProgress => f.write_str("the opening handshake is not over"),
            NoRequestToAnswer => f.write_str("no request is waiting for an answer"),
        }
    }
}

impl core::error::Error for ApiMisuse {}

/// The opening handshake failed.
///
/// On the server side, [`status`](Self::status) is the HTTP status to answer with and
/// `to_response` (in [`handshake`](super::handshake)) builds that answer.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum HandshakeError {
    /// The head did not end within the configured maximum size.
    HeadersTooLarge {
        /// The configured limit in bytes.
        limit: usize,
    },
    /// More header lines than the configured maximum.
    TooManyHeaders,
    /// Not a well-formed HTTP/1.1 head.
    Malformed(&'static str),
    /// The request method was not GET.
    MethodNotGet,
    /// The request was not HTTP/1.1.
    NotHttp11,
    /// No `Host` header (or more than one).
    MissingHost,
    /// No `Upgrade` header: a plain HTTP request, not a WebSocket handshake.
    NotUpgrade,
    /// `Upgrade` was present but did not name `websocket`.
    UpgradeNotWebSocket,
    /// `Connection` did not contain the `Upgrade` token.
    ConnectionNotUpgrade,
    /// No `Sec-WebSocket-Key` header (or more than one).
    MissingKey,
    /// `Sec-WebSocket-Key` was not base64 of 16 bytes.
    InvalidKey,
    /// No `Sec-WebSocket-Version` header.
    MissingVersion,
    /// A `Sec-WebSocket-Version` other than 13.
    UnsupportedVersion,
    /// A header our user supplied contains characters that cannot appear in a header.
    InvalidHeader(String),
    /// Our user selected a subprotocol that the client did not offer.
    ProtocolNotOffered(String),
    /// An extension header could not be parsed.
    InvalidExtensionHeader,
    /// The URI could not be used for a WebSocket connection.
    InvalidUri(&'static str),
    /// The server answered with something other than 101: status, headers and body.
    Rejected {
        /// HTTP status code.
        status: u16,
        /// Response headers.
        headers: Vec<(String, String)>,
        /// Response body (up to the configured maximum).
        body: Bytes,
    },
    /// The 101 response lacked `Upgrade: websocket`.
    ResponseUpgradeMissing,
    /// The 101 response lacked `Connection: Upgrade`.
    ResponseConnectionMissing,
    /// `Sec-WebSocket-Accept` was missing or did not match our key.
    AcceptMismatch,
    /// The server chose a subprotocol we did not offer.
    UnofferedProtocol(String),
    /// The server accepted an extension (or parameters) we did not offer.
    UnofferedExtension(String),
    /// The transport ended before the handshake completed.
    UnexpectedEof,
    /// An extended CONNECT (RFC 8441, HTTP/2) whose `:protocol` is not `websocket`.
    ConnectProtocolNotWebSocket,
    /// The HTTP/2 server has not allowed extended CONNECT (no
    /// `SETTINGS_ENABLE_CONNECT_PROTOCOL`), so no WebSocket can be opened on that connection
    /// (RFC 8441 3); connect over HTTP/1.1 instead.
    ConnectProtocolNotEnabled,
}

impl HandshakeError {
    /// The HTTP status a server answers this error with.
    pub fn status(&self) -> u16 {
        use HandshakeError::*;
        match self {
            HeadersTooLarge { .. } | TooManyHeaders => 431,
            MethodNotGet => 405,
            NotUpgrade | UnsupportedVersion => 426,
            InvalidHeader(_) | ProtocolNotOffered(_) => 500,
            Rejected { status, .. } => *status,
            _ => 400,
        }
    }
}

impl fmt::Display for HandshakeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        use HandshakeError::*;
        match self {
            HeadersTooLarge { limit } => write!(f, "request head over {limit} bytes"),
            TooManyHeaders => f.write_str("too many headers"),
            Malformed(what) => write!(f, "malformed HTTP head: {what}"),
            MethodNotGet => f.write_str("method must be GET"),
            NotHttp11 => f.write_str("HTTP/1.1 required"),
            MissingHost => f.write_str("missing or duplicate Host header"),
            NotUpgrade => f.write_str("not a WebSocket upgrade request"),
            UpgradeNotWebSocket => f.write_str("Upgrade header does not name websocket"),
            ConnectionNotUpgrade => f.write_str("Connection header lacks Upgrade"),
            MissingKey => f.write_str("missing or duplicate Sec-WebSocket-Key"),
            InvalidKey => f.write_str("Sec-WebSocket-Key is not base64 of 16 bytes"),
            MissingVersion => f.write_str("missing Sec-WebSocket-Version"),
            UnsupportedVersion => f.write_str("unsupported Sec-WebSocket-Version (13 required)"),
            InvalidHeader(name) => write!(f, "invalid header {name:?}"),
            ProtocolNotOffered(p) => write!(f, "subprotocol {p:?} was not offered"),
            InvalidExtensionHeader => f.write_str("malformed Sec-WebSocket-Extensions"),
            InvalidUri(why) => write!(f, "invalid URI: {why}"),
            Rejected { status, body, .. } => write!(
                f,
                "server rejected the handshake with {status}: {}",
                String::from_utf8_lossy(&body[..body.len().min(200)])
            ),
            ResponseUpgradeMissing => f.write_str("response lacks Upgrade: websocket"),
            ResponseConnectionMissing => f.write_str("response lacks Connection: Upgrade"),
            AcceptMismatch => f.write_str("Sec-WebSocket-Accept missing or wrong"),
            UnofferedProtocol(p) => write!(f, "server chose unoffered subprotocol {p:?}"),
            UnofferedExtension(e) => write!(f, "server accepted unoffered extension {e:?}"),
            UnexpectedEof => f.write_str("connection closed during the handshake"),
            ConnectProtocolNotWebSocket => {
                f.write_str("extended CONNECT :protocol does not name websocket")
            }
            ConnectProtocolNotEnabled => {
                f.write_str("the HTTP/2 server did not enable extended CONNECT (RFC 8441)")
            }
        }
    }
}

impl core::error::Error for HandshakeError {}

/// Which of our timers ran out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Timeout {
    /// The opening handshake did not complete within `Config::handshake_timeout`.
    Handshake,
    /// Nothing arrived within `Config::idle_timeout`.
    Idle,
    /// The peer did not finish the close handshake within `Config::close_timeout`.
    Close,
    /// No frame answered a keepalive ping within `Config::keepalive_timeout`.
    Keepalive,
    /// Output waited to be written with no progress for `Config::write_timeout`: the peer
    /// stopped reading. What was queued is dropped.
    Write,
}

impl fmt::Display for Timeout {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Timeout::Handshake => "handshake timed out",
            Timeout::Idle => "idle timeout",
            Timeout::Close => "close handshake timed out",
            Timeout::Keepalive => "no answer to a keepalive ping",
            Timeout::Write => "the peer stopped reading (write timed out)",
        })
    }
}

impl core::error::Error for Timeout {}

/// Why a connection ended without a clean close handshake, reported once in its closing event
/// and kept in `Connection::last_error`.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectionError {
    /// The peer broke a rule; we failed the connection with the error's close code.
    Protocol(ProtocolError),
    /// The opening handshake failed (a server answered it with the error's status).
    Handshake(HandshakeError),
    /// One of our timers ran out.
    Timeout(Timeout),
    /// The transport ended (EOF, reset) before the close handshake finished: 1006.
    UnexpectedEof,
}

impl fmt::Display for ConnectionError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ConnectionError::Protocol(e) => write!(f, "protocol error: {e}"),
            ConnectionError::Handshake(e) => write!(f, "handshake failed: {e}"),
            ConnectionError::Timeout(t) => fmt::Display::fmt(t, f),
            ConnectionError::UnexpectedEof => {
                f.write_str("the transport ended without a close handshake")
            }
        }
    }
}

impl core::error::Error for ConnectionError {
    fn source(&self) -> Option<&(dyn core::error::Error + 'static)> {
        match self {
            ConnectionError::Protocol(e) => Some(e),
            ConnectionError::Handshake(e) => Some(e),
            ConnectionError::Timeout(t) => Some(t),
            ConnectionError::UnexpectedEof => None,
        }
    }
}

impl From<ProtocolError> for ConnectionError {
    fn from(e: ProtocolError) -> Self {
        ConnectionError::Protocol(e)
    }
}

impl From<HandshakeError> for ConnectionError {
    fn from(e: HandshakeError) -> Self {
        ConnectionError::Handshake(e)
    }
}
