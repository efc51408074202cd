//! The adapters' error type: the core's typed errors plus I/O.
#![forbid(unsafe_code)]

use std::fmt;
use std::io;

use crate::proto::error::{ApiMisuse, ConnectionError, HandshakeError, ProtocolError, Timeout};
use crate::proxy::ProxyError;

/// What a transport adapter (`sync` or `tokio`) reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// The transport failed.
    Io(io::Error),
    /// The peer broke the protocol; the connection was failed with
    /// [`ProtocolError::close_code`].
    Protocol(ProtocolError),
    /// The opening handshake failed. A client sees a server's refusal as
    /// [`HandshakeError::Rejected`], with its status and body.
    Handshake(HandshakeError),
    /// One of our timers ran out (handshake, idle, close).
    Timeout(Timeout),
    /// The transport ended (EOF, or a reset while closing) without a close handshake: 1006.
    UnexpectedEof,
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
            Error::Timeout(t) => write!(f, "{t}"),
            Error::UnexpectedEof => f.write_str("the transport ended without a close handshake"),
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
            Error::Timeout(t) => Some(t),
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

impl From<ConnectionError> for Error {
    fn from(e: ConnectionError) -> Self {
        match e {
            ConnectionError::Protocol(e) => Error::Protocol(e),
            ConnectionError::Handshake(e) => Error::Handshake(e),
            ConnectionError::Timeout(t) => Error::Timeout(t),
            _ => Error::UnexpectedEof,
        }
    }
}

/// What the adapters hand their users for a connection event: messages pass through, the
/// closing event becomes `Message::Close` or the error the core decided ended the connection,
/// handshake events are not for message readers (`None`).
pub(crate) fn event_to_item(ev: crate::Event) -> Option<Result<crate::Message, Error>> {
    use crate::{Event, Message};
    match ev {
        Event::Message(m) => Some(Ok(m)),
        Event::Fragment(_) => Some(Err(Error::StreamingMode)),
        Event::Closed(Ok(frame)) => Some(Ok(Message::Close(frame))),
        Event::Closed(Err(e)) => Some(Err(e.into())),
        Event::Request(_) | Event::Open => None,
    }
}
