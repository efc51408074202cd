//! WebSockets over an HTTP/2 connection, client side (RFC 8441): one [`H2Connection`] (h2c with
//! prior knowledge, or TLS after ALPN chose `h2`) carries any number of WebSockets, each an
//! extended CONNECT stream with its own HTTP/2 flow control and backpressure.
//!
//! Owns driving hyper's HTTP/2 client connection and the wait for the server's
//! `SETTINGS_ENABLE_CONNECT_PROTOCOL`; the request and the checks on its answer are the core's
//! ([`ClientRequest::extended_connect`]). RFC 8441 3: a client must not send an extended
//! CONNECT before the server allowed it, so [`H2Connection::websocket`] fails with
//! [`HandshakeError::ConnectProtocolNotEnabled`] rather than send one; a client that wants
//! HTTP/1.1 then connects again with [`crate::tokio::connect`].
#![forbid(unsafe_code)]

use std::future::{poll_fn, Future};
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::{Duration, Instant};

use ::hyper::client::conn::http2::SendRequest;
use bytes::Bytes;
use http_body_util::{BodyExt, Empty, Limited};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::io::{AsyncRead, AsyncWrite};

use super::HyperWebSocket;
use crate::error::Error;
use crate::proto::connection::client_agreed;
use crate::proto::ext;
use crate::proto::handshake::client::ClientRequest;
use crate::proto::handshake::Headers;
use crate::tokio::WebSocketStream;
use crate::{Config, Connection, HandshakeError, Role};

/// How long [`H2Connection::websocket`] waits by default for the server's SETTINGS to allow
/// extended CONNECT. Servers send SETTINGS as their first frame, so this is one round trip on a
/// server that supports it; hyper does not say when SETTINGS without the flag arrived, so on one
/// that does not, it is the whole wait.
pub const SETTINGS_WAIT: Duration = Duration::from_secs(2);

/// A client HTTP/2 connection for WebSockets. Cheap to clone: clones share the connection.
///
/// ```no_run
/// use websock::hyper::H2Connection;
/// use websock::proto::handshake::client::ClientRequest;
///
/// # async fn run() -> Result<(), websock::Error> {
/// // h2c with prior knowledge; for TLS, hand over a TLS stream whose ALPN chose "h2".
/// let tcp = tokio::net::TcpStream::connect("127.0.0.1:9001").await?;
/// let h2 = H2Connection::handshake(tcp).await?;
/// let request = ClientRequest::new("ws://127.0.0.1:9001/")?;
/// let mut a = h2.websocket(request.clone(), websock::Config::default()).await?;
/// let mut b = h2.websocket(request, websock::Config::default()).await?; // same connection
/// a.send(websock::Message::text("hello")).await?;
/// b.send(websock::Message::text("world")).await?;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
pub struct H2Connection {
    send: SendRequest<Empty<Bytes>>,
    state: Arc<State>,
    settings_wait: Duration,
}

/// The connection, shared between its task (which polls it) and the handles (which read the
/// server's settings off it: hyper's HTTP/2 connection applies SETTINGS in a task of its own
/// and wakes nothing here when it does). `None` once the connection has ended.
struct State {
    conn: Mutex<Option<Box<dyn Driven + Send>>>,
}

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").finish_non_exhaustive()
    }
}

impl State {
    fn lock(&self) -> std::sync::MutexGuard<'_, Option<Box<dyn Driven + Send>>> {
        // Held only for one poll or one read of the flag; a panic there leaves nothing half-done.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// hyper's client connection, whatever its type parameters: polled, and asked for the flag.
trait Driven {
    fn poll_conn(&mut self, cx: &mut Context<'_>) -> Poll<()>;
    fn connect_protocol_enabled(&self) -> bool;
}

impl<T, B, E> Driven for ::hyper::client::conn::http2::Connection<T, B, E>
where
    T: ::hyper::rt::Read + ::hyper::rt::Write + Unpin + 'static,
    B: ::hyper::body::Body + Unpin + 'static,
    B::Data: Send,
    B::Error: Into<Box<dyn std::error::Error + Send + Sync>>,
    E: ::hyper::rt::bounds::Http2ClientConnExec<B, T> + Unpin,
{
    fn poll_conn(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        Pin::new(self).poll(cx).map(|_| ())
    }

    fn connect_protocol_enabled(&self) -> bool {
        self.is_extended_connect_protocol_enabled()
    }
}

impl H2Connection {
    /// Runs the HTTP/2 client handshake over `io` and drives the connection in a tokio task
    /// until every clone of this and every WebSocket on it is gone.
    pub async fn handshake<S>(io: S) -> Result<H2Connection, Error>
    where
        S: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    {
        let (send, conn) =
            ::hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(io))
                .await
                .map_err(io::Error::other)?;
        let state = Arc::new(State {
            conn: Mutex::new(Some(Box::new(conn))),
        });
        let driver = state.clone();
        tokio::spawn(poll_fn(move |cx| {
            let mut slot = driver.lock();
            let Some(conn) = slot.as_mut() else {
                return Poll::Ready(());
            };
            let polled = conn.poll_conn(cx);
            if polled.is_ready() {
                *slot = None;
            }
            polled
        }));
        Ok(H2Connection {
            send,
            state,
            settings_wait: SETTINGS_WAIT,
        })
    }

    /// Sets how long [`websocket`](Self::websocket) waits for the server to allow extended
    /// CONNECT ([`SETTINGS_WAIT`] by default).
    pub fn settings_wait(mut self, wait: Duration) -> Self {
        self.settings_wait = wait;
        self
    }

    /// Whether the server's SETTINGS allowed extended CONNECT (so far).
    pub fn is_connect_protocol_enabled(&self) -> bool {
        self.state
            .lock()
            .as_ref()
            .is_some_and(|c| c.connect_protocol_enabled())
    }

    async fn wait_enabled(&self) -> Result<(), Error> {
        let deadline = tokio::time::Instant::now() + self.settings_wait;
        // Nothing signals the setting's arrival: look again at growing intervals (1 ms to
        // 32 ms), which costs a few wake-ups on a server that allowed it at once.
        let mut pause = Duration::from_millis(1);
        loop {
            if self.is_connect_protocol_enabled() {
                return Ok(());
            }
            if self.state.lock().is_none() {
                return Err(Error::ConnectionClosed);
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(HandshakeError::ConnectProtocolNotEnabled.into());
            }
            tokio::time::sleep(pause.min(deadline - tokio::time::Instant::now())).await;
            pause = (pause * 2).min(Duration::from_millis(32));
        }
    }

    /// Opens a WebSocket as a new stream on this connection: an extended CONNECT for
    /// `request`'s path (its scheme and authority as given; the subprotocols, extensions and
    /// headers it offers, and the extensions `config` asks for), checked by the same rules as
    /// an HTTP/1.1 handshake, bar the key. A refusal is [`HandshakeError::Rejected`] with the
    /// server's status, headers and body.
    pub async fn websocket(
        &self,
        request: ClientRequest,
        config: Config,
    ) -> Result<HyperWebSocket, Error> {
        self.wait_enabled().await?;
        let request = request.extensions(ext::client_offers(&config));
        let (connect, check) = request.extended_connect()?;
        let uri = format!("{}://{}{}", connect.scheme, connect.authority, connect.path);
        let mut builder = http::Request::builder()
            .method(http::Method::CONNECT)
            .version(http::Version::HTTP_2)
            .uri(uri);
        for (name, value) in &connect.headers {
            builder = builder.header(name, value);
        }
        let mut req = builder
            .body(Empty::new())
            .map_err(|_| HandshakeError::InvalidUri("not representable as an HTTP/2 request"))?;
        req.extensions_mut()
            .insert(::hyper::ext::Protocol::from_static("websocket"));
        let mut send = self.send.clone();
        send.ready().await.map_err(io::Error::other)?;
        let mut response = send.send_request(req).await.map_err(io::Error::other)?;
        let mut headers = Headers::new();
        for (name, value) in response.headers() {
            headers.push(name.as_str(), value.as_bytes());
        }
        let status = response.status().as_u16();
        if !response.status().is_success() {
            // A refusal's body, for the error; bounded like an HTTP/1.1 rejection's.
            let body = Limited::new(response.into_body(), 64 << 10)
                .collect()
                .await
                .map(|b| b.to_bytes())
                .unwrap_or_default();
            let refused = check.check_extended_connect_response(status, headers, body);
            return Err(refused
                .err()
                .unwrap_or(HandshakeError::Malformed("a refusal was accepted"))
                .into());
        }
        let accepted = check.check_extended_connect_response(status, headers, Bytes::new())?;
        let agreed = client_agreed(&accepted, &config)?;
        let upgraded = ::hyper::upgrade::on(&mut response)
            .await
            .map_err(io::Error::other)?;
        let conn = Connection::open(Role::Client, config, agreed, Instant::now());
        Ok(WebSocketStream::from_connection(
            TokioIo::new(upgraded),
            conn,
        ))
    }
}
