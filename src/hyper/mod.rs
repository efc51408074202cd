//! hyper 1.x integration (feature `hyper`): accept a WebSocket from a request that hyper, or a
//! framework built on it such as axum, has already parsed: an HTTP/1.1 `GET` with `Upgrade`, or
//! an HTTP/2 extended CONNECT (RFC 8441) with `:protocol websocket`, through the same entry point.
//!
//! Owns only the glue between hyper and the core. [`upgrade`] converts the request with
//! [`Request::from_http`], lets the core judge it and the caller's `choose` decide
//! ([`answer`]: the same rules, status codes and extension negotiation as
//! [`tokio::accept_with`](crate::tokio::accept_with)), and hands back the core's structured
//! answer as an `http::Response` for hyper to send: `101 Switching Protocols`, or the refusal (`426` with
//! `Sec-WebSocket-Version: 13` for a wrong version, `400` for a bad key, `405` for a method other
//! than GET, or the caller's own response). Once hyper has sent the 101 and handed over the
//! connection, the [`Upgrade`] future runs a [`WebSocketStream`] on it. Nothing here decides
//! anything about the protocol.
//!
//! The server must serve connections with upgrades enabled (`http1::Builder::serve_connection(..)
//! .with_upgrades()`; `axum::serve` does this), which puts hyper's `OnUpgrade` in the request.
//!
//! # HTTP/2 (RFC 8441)
//!
//! Browsers open a `wss://` WebSocket as an extended CONNECT stream on an HTTP/2 connection they
//! already have to the origin, once the server's SETTINGS carried
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`. A plain hyper server advertises it with
//! `hyper::server::conn::http2::Builder::enable_connect_protocol()` (or
//! `hyper_util::server::conn::auto::Builder::http2().enable_connect_protocol()`); `axum::serve`
//! already does. [`upgrade`] then judges the request by the same rules where they apply
//! (version 13, offered subprotocols and extensions, permessage-deflate negotiated as on
//! HTTP/1.1, `Origin` for `choose` to check) and by RFC 8441's own: `:method CONNECT` with
//! `:protocol websocket` and an `:authority`, no key, and `200` rather than `101`. Refusals are
//! HTTP/2 responses. The stream then carries RFC 6455 frames; a close ends it with END_STREAM,
//! and a peer's RST_STREAM ends the WebSocket with an I/O error, an abnormal closure (1006).
//! [`Upgrade::http_version`] tells which protocol a WebSocket arrived on.
//!
//! The client side is [`H2Connection`]: several WebSockets on one HTTP/2 connection, each
//! opened once the server's SETTINGS allowed extended CONNECT.
//!
//! ```no_run
//! use http_body_util::Full;
//! use hyper::body::{Bytes, Incoming};
//! use hyper::{Request, Response};
//! use hyper_util::rt::TokioIo;
//! use websock::proto::handshake::server::Accept;
//!
//! async fn handle(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, hyper::Error> {
//!     match websock::hyper::upgrade(&mut req, websock::Config::default(), |_| Ok(Accept::new())) {
//!         Ok((response, upgrade)) => {
//!             tokio::spawn(async move {
//!                 let mut ws = upgrade.await?;
//!                 while let Some(msg) = ws.recv().await {
//!                     let msg = msg?;
//!                     if msg.is_data() {
//!                         ws.send(msg).await?;
//!                     }
//!                 }
//!                 Ok::<(), websock::Error>(())
//!             });
//!             Ok(response)
//!         }
//!         Err(refused) => Ok(refused.into_response()),
//!     }
//! }
//!
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9020").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(
//!         hyper::server::conn::http1::Builder::new()
//!             .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(handle))
//!             .with_upgrades(),
//!     );
//! }
//! # }
//! ```
#![forbid(unsafe_code)]

mod h2_client;

pub use self::h2_client::{H2Connection, SETTINGS_WAIT};

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use ::hyper::upgrade::{OnUpgrade, Upgraded};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;

use crate::error::Error;
use crate::proto::connection::{answer, Answer};
use crate::proto::handshake::server::{Accept, Request};
use crate::proto::handshake::Response;
use crate::tokio::WebSocketStream;
use crate::{Agreed, Config, Connection, HandshakeError, Role};

/// The WebSocket that an accepted hyper upgrade becomes.
pub type HyperWebSocket = WebSocketStream<TokioIo<Upgraded>>;

/// Whether `req` asks for an upgrade at all (has an `Upgrade` header), as the core sees it
/// ([`Request::is_upgrade`]). Use it to serve plain HTTP on the same route; [`upgrade`] refuses
/// such a request with the core's answer (`426 Upgrade Required`).
pub fn is_upgrade_request<B>(req: &http::Request<B>) -> bool {
    our_request(req).is_ok_and(|r| r.is_upgrade())
}

/// The core's view of `req`: an extended CONNECT when hyper saw a `:protocol` pseudo-header.
fn our_request<B>(req: &http::Request<B>) -> Result<Request, HandshakeError> {
    let ours = Request::from_http(req)?;
    let Some(protocol) = req.extensions().get::<::hyper::ext::Protocol>() else {
        return Ok(ours);
    };
    Ok(Request::extended_connect(
        req.method().as_str(),
        protocol.as_str(),
        ours.target(),
        req.uri().authority().map(|a| a.as_str()),
        ours.version(),
        ours.headers().clone(),
    ))
}

/// Judges `req` as a WebSocket opening handshake and, if it passes and `choose` accepts it,
/// returns the `101` response to send and the [`Upgrade`] that resolves to the WebSocket once
/// hyper has sent it. `choose` sees the request (path, `Origin`, offered subprotocols) and
/// returns the terms ([`Accept`]) or its own refusal ([`Response`]).
///
/// A refusal, whoever made it, comes back as [`Refused`]: send
/// [`Refused::into_response`] and do not wait for an upgrade. A request that would pass but
/// carries no hyper `OnUpgrade` (the server was not serving with upgrades) is refused with 500.
///
/// `config` is for the connection; its handshake limits and timeout do not apply, as hyper read
/// the request.
pub fn upgrade<B>(
    req: &mut http::Request<B>,
    config: Config,
    choose: impl FnOnce(&Request) -> Result<Accept, Response>,
) -> Result<(http::Response<Full<Bytes>>, Upgrade), Refused> {
    let ours = match our_request(req) {
        Ok(ours) => ours,
        Err(e) => return Err(Refused::new(&e.to_response(), e.into())),
    };
    let (response, agreed) = match answer(&ours, choose(&ours), &config) {
        Answer::Accept { response, agreed } => (response, agreed),
        Answer::Refuse { response, error } => return Err(Refused::new(&response, error.into())),
        Answer::Respond(response) => {
            let error = HandshakeError::Rejected {
                status: response.status,
                headers: response.headers.clone(),
                body: response.body.clone(),
            };
            return Err(Refused::new(&response, error.into()));
        }
    };
    if req.extensions().get::<OnUpgrade>().is_none() {
        let e = io::Error::other("the request carries no hyper OnUpgrade (serve with upgrades)");
        let resp = Response::reject(500, "connection cannot be upgraded\n");
        return Err(Refused::new(&resp, e.into()));
    }
    let response = to_http(&response).map_err(|e| Refused::new(&e.to_response(), e.into()))?;
    let upgrade = Upgrade {
        version: req.version(),
        on: ::hyper::upgrade::on(req),
        conn: Some((config, agreed)),
    };
    Ok((response, upgrade))
}

/// The core's structured response as an `http::Response` (no re-parse: field by field).
fn to_http(response: &Response) -> Result<http::Response<Full<Bytes>>, HandshakeError> {
    http::Response::<Bytes>::try_from(response).map(|r| r.map(Full::new))
}

/// A refused upgrade: the response to send instead of `101`, and why.
#[derive(Debug)]
pub struct Refused(Box<RefusedInner>);

#[derive(Debug)]
struct RefusedInner {
    response: http::Response<Full<Bytes>>,
    error: Error,
}

impl Refused {
    /// A 500 for a state that should not happen, with why.
    #[cfg(feature = "axum")]
    pub(crate) fn internal(why: &'static str) -> Refused {
        Refused::new(
            &Response::reject(500, "internal error\n"),
            io::Error::other(why).into(),
        )
    }

    fn new(response: &Response, error: Error) -> Refused {
        // The core's responses always convert; a caller's refusal with a header that cannot be
        // sent becomes a bare 500.
        let response = to_http(response).unwrap_or_else(|_| {
            let mut r = http::Response::new(Full::new(Bytes::new()));
            *r.status_mut() = http::StatusCode::INTERNAL_SERVER_ERROR;
            r
        });
        Refused(Box::new(RefusedInner { response, error }))
    }

    /// The status of the response.
    pub fn status(&self) -> http::StatusCode {
        self.0.response.status()
    }

    /// Why: the core's [`HandshakeError`] (a caller's refusal is
    /// [`HandshakeError::Rejected`]), or an I/O error when hyper cannot upgrade the request.
    pub fn error(&self) -> &Error {
        &self.0.error
    }

    /// The response to send.
    pub fn into_response(self) -> http::Response<Full<Bytes>> {
        self.0.response
    }
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "upgrade refused ({}): {}", self.status(), self.0.error)
    }
}

impl std::error::Error for Refused {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0.error)
    }
}

/// Resolves to the WebSocket once hyper has sent the `101` and handed over the connection.
/// Await it in a spawned task: the response must be returned from the handler first. It fails
/// with [`Error::Io`] if hyper never upgrades (the client went away first).
#[derive(Debug)]
#[must_use = "the WebSocket only exists once this is awaited"]
pub struct Upgrade {
    on: OnUpgrade,
    conn: Option<(Config, Agreed)>,
    version: http::Version,
}

impl Upgrade {
    /// The HTTP version the WebSocket arrived on: `HTTP_11` for an upgrade, `HTTP_2` for an
    /// extended CONNECT stream.
    pub fn http_version(&self) -> http::Version {
        self.version
    }
}

impl Future for Upgrade {
    type Output = Result<HyperWebSocket, Error>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let upgraded = ready!(Pin::new(&mut self.on).poll(cx)).map_err(io::Error::other)?;
        let (config, agreed) = self
            .conn
            .take()
            .ok_or_else(|| io::Error::other("Upgrade polled after completion"))?;
        let conn = Connection::open(Role::Server, config, agreed, Instant::now());
        Poll::Ready(Ok(WebSocketStream::from_connection(
            TokioIo::new(upgraded),
            conn,
        )))
    }
}
