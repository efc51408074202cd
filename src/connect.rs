//! What both adapters share above the core: the options of a client connection ([`Connect`]),
//! the outcome of a server's accept ([`Outcome`]), and the handshake step that turns the core's
//! handshake events into those. No protocol rule lives here; the core decides, this only passes
//! the user's choice to it.
#![forbid(unsafe_code)]

use crate::error::Error;
use crate::proto::handshake::client::{ClientRequest, Uri};
use crate::proto::handshake::server::{Accept, Request};
use crate::proto::handshake::Response;
use crate::proxy::ProxyChoice;
use crate::{Config, Connection, Event, HandshakeError};

/// How to connect: the request (URL, subprotocols, headers), the settings, the proxy and, for
/// `wss://`, the TLS configuration. One value for `sync::connect_with` and
/// `tokio::connect_with` alike.
///
/// ```
/// use websock::{Config, Connect};
/// use websock::proxy::ProxyChoice;
/// let options = Connect::new("ws://127.0.0.1:9001/chat")?
///     .config(Config::default().max_message_size(1 << 20))
///     .proxy(ProxyChoice::Direct);
/// # Ok::<(), websock::HandshakeError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Connect {
    pub(crate) request: ClientRequest,
    pub(crate) config: Config,
    pub(crate) proxy: ProxyChoice,
    #[cfg(feature = "rustls")]
    pub(crate) tls: Option<std::sync::Arc<rustls::ClientConfig>>,
}

impl Connect {
    /// Connect to `url` (`ws://` or `wss://`) with default settings, through the proxy the
    /// environment names if any (read like curl: `http_proxy`, `https_proxy`, `all_proxy`,
    /// `no_proxy`; see [`crate::proxy`]), with webpki roots for `wss://`.
    pub fn new(url: &str) -> Result<Connect, HandshakeError> {
        Ok(Connect::request(ClientRequest::new(url)?))
    }

    /// Connect with a prepared request (subprotocols, headers).
    pub fn request(request: ClientRequest) -> Connect {
        Connect {
            request,
            config: Config::default(),
            proxy: ProxyChoice::FromEnv,
            #[cfg(feature = "rustls")]
            tls: None,
        }
    }

    /// The connection's settings (extensions offered, limits, timeouts).
    pub fn config(mut self, config: Config) -> Connect {
        self.config = config;
        self
    }

    /// The proxy: none, the environment's (the default), or one of your own.
    pub fn proxy(mut self, proxy: ProxyChoice) -> Connect {
        self.proxy = proxy;
        self
    }

    /// Your own TLS configuration for `wss://` (default: webpki roots). TLS runs end to end,
    /// through a proxy's tunnel too, verified against the target's name.
    #[cfg(feature = "rustls")]
    pub fn tls(mut self, tls: std::sync::Arc<rustls::ClientConfig>) -> Connect {
        self.tls = Some(tls);
        self
    }

    pub(crate) fn uri(&self) -> &Uri {
        self.request.uri()
    }

    /// Fails early for `wss://` without TLS support.
    pub(crate) fn check_tls(&self) -> Result<(), Error> {
        self.tls_config().map(|_| ())
    }

    /// The TLS configuration to use: `None` for `ws://`.
    pub(crate) fn tls_config(&self) -> Result<Option<TlsClientConfig>, Error> {
        if !self.uri().tls {
            return Ok(None);
        }
        #[cfg(feature = "rustls")]
        return Ok(Some(
            self.tls
                .clone()
                .unwrap_or_else(crate::tls::default_client_config),
        ));
        #[cfg(not(feature = "rustls"))]
        Err(HandshakeError::InvalidUri("wss:// needs the rustls feature").into())
    }
}

/// A client's TLS settings (none can exist without the `rustls` feature).
#[cfg(feature = "rustls")]
pub(crate) type TlsClientConfig = std::sync::Arc<rustls::ClientConfig>;
#[cfg(not(feature = "rustls"))]
pub(crate) type TlsClientConfig = std::convert::Infallible;

/// Runs `$e` on whichever stream a `MaybeTls` of either adapter holds.
macro_rules! each_stream {
    ($ty:ident, $self:expr, $s:ident => $e:expr) => {
        match $self {
            $ty::Plain($s) => $e,
            #[cfg(feature = "rustls")]
            $ty::Tls($s) => $e,
        }
    };
}
pub(crate) use each_stream;

/// What a server's accept came to: a WebSocket, or the response the accept callback chose
/// instead (a page, a redirect, a refusal), which was sent. Both are ordinary outcomes; errors
/// are for requests that break the protocol, timeouts and transport failures.
#[derive(Debug)]
pub enum Outcome<W> {
    /// The handshake succeeded.
    WebSocket(W),
    /// The callback answered with its own response, of this status; the connection is over.
    Responded(u16),
}

impl<W> Outcome<W> {
    /// The WebSocket, if that is what the handshake came to.
    pub fn websocket(self) -> Option<W> {
        match self {
            Outcome::WebSocket(w) => Some(w),
            Outcome::Responded(_) => None,
        }
    }
}

/// What a server's accept callback is.
pub(crate) trait Choose: FnOnce(&Request) -> Result<Accept, Response> {}
impl<F: FnOnce(&Request) -> Result<Accept, Response>> Choose for F {}

/// No callback: accept with no subprotocol and no extra header.
pub(crate) type NoChoice = fn(&Request) -> Result<Accept, Response>;

/// A handshake in progress, as an adapter drives it: feeds the user's decision to the core and
/// says when the handshake is over.
pub(crate) struct Handshaking<F> {
    choose: Option<F>,
    responded: Option<u16>,
}

impl<F: Choose> Handshaking<F> {
    pub(crate) fn new(choose: Option<F>) -> Self {
        Handshaking {
            choose,
            responded: None,
        }
    }

    /// Handles one event of a connection in its handshake: `None` while it goes on, then
    /// `Some(Ok(None))` once open, `Some(Ok(Some(status)))` once a chosen response went out.
    pub(crate) fn on_event(
        &mut self,
        conn: &mut Connection,
        ev: Event,
    ) -> Option<Result<Option<u16>, Error>> {
        match ev {
            Event::Request(req) => {
                let decision = match self.choose.take() {
                    Some(choose) => choose(&req),
                    None => Ok(Accept::new()),
                };
                self.responded = decision.as_ref().err().map(|r| r.status);
                if let Err(e) = conn.decide(decision) {
                    return Some(Err(e.into()));
                }
                None
            }
            Event::Open => Some(Ok(None)),
            Event::Closed(Ok(_)) => Some(self.responded.map(Some).ok_or(Error::ConnectionClosed)),
            Event::Closed(Err(e)) => Some(Err(e.into())),
            Event::Message(_) | Event::Fragment(_) => None,
        }
    }
}

/// `Some(Ok(None))` for an opened connection: the WebSocket; a response's status otherwise.
pub(crate) fn outcome<W>(ws: W, status: Option<u16>) -> Outcome<W> {
    match status {
        None => Outcome::WebSocket(ws),
        Some(s) => Outcome::Responded(s),
    }
}
