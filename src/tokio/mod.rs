//! The tokio adapter: a WebSocket over any `AsyncRead + AsyncWrite + Unpin`, as a `futures`
//! [`Stream`] of messages and a [`Sink`] of messages.
//!
//! Owns nothing but moving bytes between the I/O object and a [`Connection`]: reads go straight
//! into the connection's receive buffer, everything queued goes out in one vectored write per
//! wake-up, the connection's timers become one `tokio::time::Sleep`, and buffers are released
//! whenever a read would block, so an idle connection holds none. Every protocol decision is the
//! core's. [`WebSocketStream::split`] gives halves for two tasks.
//!
//! ```no_run
//! # async fn run() -> Result<(), websock::Error> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:9001").await?;
//! loop {
//!     let (tcp, _) = listener.accept().await?;
//!     tokio::spawn(async move {
//!         let mut ws = websock::tokio::accept(tcp).await?;
//!         while let Some(msg) = ws.recv().await {
//!             let msg = msg?;
//!             if msg.is_data() {
//!                 ws.send(msg).await?;
//!             }
//!         }
//!         Ok::<(), websock::Error>(())
//!     });
//! }
//! # }
//! ```
#![forbid(unsafe_code)]

pub mod reconnect;
mod split;
mod stream;

use std::future::poll_fn;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use ::tokio::net::TcpStream;
use futures_core::Stream;
use futures_sink::Sink;

pub use self::split::{WsSink, WsStream};
use self::stream::Driver;
pub use self::stream::MaybeTlsStream;
use crate::error::event_to_item;
pub use crate::error::Error;
use crate::proto::handshake::client::{Accepted, ClientRequest};
use crate::proto::handshake::server::{self, Accept, Request, RequestParser};
use crate::proto::handshake::Response;
use crate::proxy::{Proxy, ProxyChoice, ProxyError, ProxyHandshake};
use crate::{CloseFrame, Config, Connection, Event, HandshakeError, Message};

/// A WebSocket over an async I/O object.
#[derive(Debug)]
pub struct WebSocketStream<S> {
    driver: Driver<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Drives `conn` (already past the handshake) over `io`.
    pub fn from_connection(io: S, conn: Connection) -> Self {
        WebSocketStream {
            driver: Driver::new(io, conn),
        }
    }

    /// The next message (`None` once the connection is over). See [`Stream`].
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The next event of the connection (use this in streaming mode).
    pub async fn recv_event(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| self.driver.poll_event(cx)).await
    }

    /// Sends a message: waits while more than [`Config::write_buffer_high_water`] bytes are
    /// unwritten, then queues it and flushes.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        poll_fn(|cx| self.driver.poll_ready(cx)).await?;
        self.driver.conn.send(msg.into())?;
        self.flush().await
    }

    /// Writes everything queued.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.driver.poll_write_out(cx)).await
    }

    /// Starts the close handshake and flushes. Keep reading until `None` to see it through.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.driver.conn.send_close(frame)?;
        self.flush().await
    }

    /// The sans-IO connection.
    pub fn connection(&self) -> &Connection {
        &self.driver.conn
    }

    /// The sans-IO connection, mutable (fragments, settings).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.driver.conn
    }

    /// The I/O object.
    pub fn get_ref(&self) -> &S {
        &self.driver.io
    }

    /// Splits into a sink and a stream for two tasks; pongs and the close handshake stay correct
    /// because both halves drive the one connection.
    pub fn split(self) -> (WsSink<S>, WsStream<S>) {
        split::split(self.driver)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let driver = &mut self.driver;
        driver
            .poll_event(cx)
            .map(|ev| ev.map(|r| r.and_then(|ev| event_to_item(ev, &driver.conn))))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WebSocketStream<S> {
    type Error = Error;

    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.driver.poll_ready(cx)
    }

    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Ok(self.driver.conn.send(item)?)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.driver.poll_write_out(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.driver.poll_close(cx)
    }
}

/// Reads until `parse` has a complete head, within the handshake timeout.
async fn read_head<S: AsyncRead + Unpin, T>(
    io: &mut S,
    config: &Config,
    mut parse: impl FnMut(&[u8]) -> Result<Option<(T, usize)>, HandshakeError>,
) -> Result<(T, usize, Vec<u8>), Error> {
    // The buffer lives on the heap and is dropped after the handshake: an array here would sit
    // in the task's future state for the connection's whole life.
    let work = async {
        let mut buf = Vec::with_capacity(1024);
        loop {
            buf.reserve(1024);
            let n = io.read_buf(&mut buf).await?;
            if n == 0 {
                return Err(HandshakeError::UnexpectedEof.into());
            }
            if let Some((value, len)) = parse(&buf)? {
                return Ok((value, len, buf));
            }
        }
    };
    match ::tokio::time::timeout(config.handshake_timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(HandshakeError::Timeout.into()),
    }
}

/// Accepts a WebSocket connection with default settings, no subprotocol and no extension.
pub async fn accept<S: AsyncRead + AsyncWrite + Unpin>(io: S) -> Result<WebSocketStream<S>, Error> {
    accept_with(io, Config::default(), |_| Ok(Accept::new())).await
}

/// Accepts after `callback` has seen the request and chosen: `Ok(Accept)` with a subprotocol
/// and extra headers, or `Err(Response)` to refuse (or to answer a plain HTTP request).
pub async fn accept_with<S, F>(
    mut io: S,
    config: Config,
    callback: F,
) -> Result<WebSocketStream<S>, Error>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Response>,
{
    let mut parser = RequestParser::new(config.handshake_limits.clone());
    let (req, n, buf) = match read_head(&mut io, &config, |b| parser.parse(b)).await {
        Err(Error::Handshake(e)) => {
            if !matches!(e, HandshakeError::UnexpectedEof | HandshakeError::Timeout) {
                let _ = io.write_all(&e.to_response().to_bytes()).await;
                let _ = io.shutdown().await;
            }
            return Err(e.into());
        }
        other => other?,
    };
    let (answer, result) = server::answer(&req, callback(&req), config);
    io.write_all(&answer).await?;
    if result.is_err() {
        let _ = io.shutdown().await;
    }
    let mut conn = result?;
    conn.receive(&buf[n..]);
    Ok(WebSocketStream::from_connection(io, conn))
}

/// Runs the client handshake over `io`.
pub async fn client<S: AsyncRead + AsyncWrite + Unpin>(
    request: ClientRequest,
    io: S,
) -> Result<(WebSocketStream<S>, Accepted), Error> {
    client_with_config(request, io, Config::default()).await
}

/// [`client`], with settings.
pub async fn client_with_config<S: AsyncRead + AsyncWrite + Unpin>(
    request: ClientRequest,
    mut io: S,
    config: Config,
) -> Result<(WebSocketStream<S>, Accepted), Error> {
    let (head, mut handshake) = request.start_with_config(&config)?;
    io.write_all(&head).await?;
    io.flush().await?;
    let (accepted, n, buf) = read_head(&mut io, &config, |b| handshake.parse_response(b)).await?;
    let mut conn = accepted.connection(config)?;
    conn.receive(&buf[n..]);
    Ok((WebSocketStream::from_connection(io, conn), accepted))
}

/// Connects to a `ws://` or `wss://` URL with default settings, through the proxy the
/// environment names if any (read like curl: `http_proxy`, `https_proxy`, `all_proxy`,
/// `no_proxy`; see [`crate::proxy`]). [`connect_with_proxy`] with [`ProxyChoice::Direct`]
/// ignores the environment.
///
/// ```no_run
/// # async fn run() -> Result<(), websock::Error> {
/// let (mut ws, _) = websock::tokio::connect("ws://127.0.0.1:9001/").await?;
/// ws.send("hello").await?;
/// println!("{:?}", ws.recv().await);
/// # Ok(()) }
/// ```
pub async fn connect(url: &str) -> Result<(WebSocketStream<MaybeTlsStream>, Accepted), Error> {
    connect_with(ClientRequest::new(url)?, Config::default()).await
}

/// Connects with a prepared request (subprotocols, headers) and settings, through the proxy the
/// environment names if any. `wss://` uses webpki roots; see `connect_tls` to bring your own
/// `rustls::ClientConfig`.
pub async fn connect_with(
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocketStream<MaybeTlsStream>, Accepted), Error> {
    connect_inner(request, config, None, ProxyChoice::FromEnv).await
}

/// [`connect_with`], with the proxy chosen: none, the environment's, or one of your own.
///
/// ```no_run
/// # async fn run() -> Result<(), Box<dyn std::error::Error>> {
/// use websock::proto::handshake::client::ClientRequest;
/// use websock::proxy::Proxy;
/// let proxy = Proxy::parse("http://user:password@127.0.0.1:3128")?;
/// let request = ClientRequest::new("ws://example.com/chat")?;
/// let (mut ws, _) =
///     websock::tokio::connect_with_proxy(request, websock::Config::default(), proxy.into())
///         .await?;
/// # Ok(()) }
/// ```
pub async fn connect_with_proxy(
    request: ClientRequest,
    config: Config,
    proxy: ProxyChoice,
) -> Result<(WebSocketStream<MaybeTlsStream>, Accepted), Error> {
    connect_inner(request, config, None, proxy).await
}

/// [`connect_with`], with a TLS configuration of your own for `wss://` (`None`: webpki roots).
#[cfg(feature = "rustls")]
pub async fn connect_tls(
    request: ClientRequest,
    config: Config,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
) -> Result<(WebSocketStream<MaybeTlsStream>, Accepted), Error> {
    connect_inner(request, config, tls, ProxyChoice::FromEnv).await
}

/// [`connect_tls`], with the proxy chosen. TLS runs end to end through the tunnel, verified
/// against the target's name.
#[cfg(feature = "rustls")]
pub async fn connect_tls_with_proxy(
    request: ClientRequest,
    config: Config,
    tls: Option<std::sync::Arc<rustls::ClientConfig>>,
    proxy: ProxyChoice,
) -> Result<(WebSocketStream<MaybeTlsStream>, Accepted), Error> {
    connect_inner(request, config, tls, proxy).await
}

/// Asks a proxy, over `io` (already connected to it), for a tunnel to `host:port`, within
/// `timeout` (the connect functions pass [`Config::handshake_timeout`]). On success `io` is a
/// tunnel to the target: run [`client_with_config`] over it, after TLS for `wss://`. Reads never
/// take bytes past the proxy's reply.
pub async fn connect_via<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), Error> {
    let mut handshake = ProxyHandshake::new(proxy, host, port)?;
    let work = async {
        let mut buf = [0u8; 512];
        loop {
            if let Some(bytes) = handshake.poll_transmit() {
                io.write_all(&bytes).await?;
                io.flush().await?;
            }
            if handshake.is_done() {
                return Ok(());
            }
            let want = handshake.max_read().min(buf.len());
            let n = io.read(&mut buf[..want]).await?;
            if n == 0 {
                return Err(ProxyError::UnexpectedEof.into());
            }
            if handshake.receive(&buf[..n])? < n {
                return Err(ProxyError::BadReply("data after the reply").into());
            }
        }
    };
    match ::tokio::time::timeout(timeout, work).await {
        Ok(r) => r,
        Err(_) => Err(ProxyError::Timeout.into()),
    }
}

use crate::TlsConfig;

async fn connect_inner(
    request: ClientRequest,
    config: Config,
    _tls: TlsConfig,
    proxy: ProxyChoice,
) -> Result<(WebSocketStream<MaybeTlsStream>, Accepted), Error> {
    let uri = request.uri().clone();
    #[cfg(not(feature = "rustls"))]
    if uri.tls {
        return Err(HandshakeError::InvalidUri("wss:// needs the rustls feature").into());
    }
    let tcp = match proxy.resolve(&uri)? {
        None => TcpStream::connect((uri.host.as_str(), uri.port)).await?,
        Some(proxy) => {
            let mut tcp = TcpStream::connect((proxy.host(), proxy.port())).await?;
            connect_via(
                &mut tcp,
                &proxy,
                &uri.host,
                uri.port,
                config.handshake_timeout,
            )
            .await?;
            tcp
        }
    };
    tcp.set_nodelay(true)?;
    let io = if uri.tls {
        #[cfg(feature = "rustls")]
        {
            let tls = _tls.unwrap_or_else(crate::tls::default_client_config);
            let name = crate::tls::server_name(&uri.host)?;
            let stream = tokio_rustls::TlsConnector::from(tls)
                .connect(name, tcp)
                .await?;
            MaybeTlsStream::Tls(Box::new(stream))
        }
        #[cfg(not(feature = "rustls"))]
        return Err(HandshakeError::InvalidUri("wss:// needs the rustls feature").into());
    } else {
        MaybeTlsStream::Plain(tcp)
    };
    client_with_config(request, io, config).await
}
