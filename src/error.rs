//! The adapters' error type: the core's typed errors plus I/O.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;

use crate::proto::error::{ApiMisuse, HandshakeError, ProtocolError};
use crate::proxy::ProxyError;

/// What a transport adapter (`sync` or `tokio`) reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The peer broke the protocol; the connection was failed with
    /// [`ProtocolError::close_code`]. Also reports a transport that ended without a close
    /// handshake ([`ProtocolError::UnexpectedEof`]) and timeouts.
    Protocol(ProtocolError),
    /// The opening handshake failed. A client sees a server's refusal as
    /// [`HandshakeError::Rejected`], with its status and body.
    Handshake(HandshakeError),
    /// Our own call was not allowed (nothing was sent).
    Misuse(ApiMisuse),
    /// The proxy could not be used or did not open a tunnel to the server (for example an HTTP
    /// proxy's 407, a SOCKS5 refusal, or no answer within the handshake timeout).
    Proxy(ProxyError),
    /// The connection is closed: the close handshake is over and nothing more will arrive.
    ConnectionClosed,
    /// A fragment arrived in streaming mode ([`Config::streaming`](crate::Config::streaming))
    /// where a whole message was asked for: use the adapter's event-reading call instead.
    StreamingMode,
}

impl Error {
    /// The HTTP status of a rejected or failed handshake, if that is what this is.
    pub fn http_status(&self) -> Option<u16> {
        match self {
            Error::Handshake(h) => Some(h.status()),
            _ => None,
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io(e) => write!(f, "I/O error: {e}"),
            Error::Protocol(e) => write!(f, "protocol error: {e}"),
            Error::Handshake(e) => write!(f, "handshake failed: {e}"),
            Error::Misuse(e) => write!(f, "not allowed: {e}"),
            Error::Proxy(e) => write!(f, "proxy: {e}"),
            Error::ConnectionClosed => f.write_str("connection closed"),
            Error::StreamingMode => f.write_str("a fragment arrived in streaming mode"),
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            Error::Protocol(e) => Some(e),
            Error::Handshake(e) => Some(e),
            Error::Misuse(e) => Some(e),
            Error::Proxy(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

impl From<ProtocolError> for Error {
    fn from(e: ProtocolError) -> Self {
        Error::Protocol(e)
    }
}

impl From<HandshakeError> for Error {
    fn from(e: HandshakeError) -> Self {
        Error::Handshake(e)
    }
}

impl From<ProxyError> for Error {
    fn from(e: ProxyError) -> Self {
        Error::Proxy(e)
    }
}

impl From<ApiMisuse> for Error {
    fn from(e: ApiMisuse) -> Self {
        Error::Misuse(e)
    }
}

/// Maps a connection event to what the adapters hand their users: messages pass through, the
/// closing event becomes `Message::Close` after a clean close or the error that ended the
/// connection.
pub(crate) fn event_to_item(
    ev: crate::Event,
    conn: &crate::Connection,
) -> Result<crate::Message, Error> {
    use crate::{CloseCode, Event, Message};
    match ev {
        Event::Message(m) => Ok(m),
        Event::Fragment(_) => Err(Error::StreamingMode),
        Event::Closed(frame) => match conn.last_error() {
            Some(e) => Err(Error::Protocol(e.clone())),
            None if frame.code == CloseCode::NO_STATUS => Ok(Message::Close(None)),
            None => Ok(Message::Close(Some(frame))),
        },
    }
}
