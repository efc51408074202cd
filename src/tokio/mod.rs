//! The tokio adapter: a WebSocket over any `AsyncRead + AsyncWrite + Unpin`, as a `futures`
//! [`Stream`] of messages and a [`Sink`] of messages.
//!
//! A driver only: one loop (`driver.rs`) moves bytes and time between the I/O object and a
//! [`Connection`], for the handshake and the frames alike: one vectored write per wake-up, one
//! `tokio::time::Sleep` for the next deadline, buffers released whenever a read would block.
//! Every protocol decision is the core's. [`WebSocketStream::split`] gives halves for two tasks.
//!
//! Received messages are slices of a per-thread read block (128 KiB, reused once every message
//! cut from it is dropped): no allocation or copy per message. A message kept for long keeps
//! its block; `Bytes::copy_from_slice` keeps only its own bytes.
//!
//! # Corking
//!
//! Replies produced in one wake-up leave in one write, with no added latency. The rule, the
//! same in the blocking adapter and for split halves:
//!
//! - [`send`](WebSocketStream::send) (and `Sink::poll_flush`, so `SinkExt::send` and
//!   `forward`) writes before it returns, unless more received bytes are already here behind
//!   the message just received ([`Connection::may_defer_flush`]). Then the next `recv` goes on
//!   from them, and the output stays queued for the replies to the messages that follow.
//! - Everything queued is written when the driver is about to wait: when a read would block
//!   (the tokio driver reads first, then writes), before sleeping for a timer, when the work
//!   budget ([`Config::poll_budget`]) is spent, and when the queue passes
//!   [`Config::write_buffer_high_water`].
//! - A reply to the last message of a batch, or to a lone message, is written by its `send`
//!   (nothing was received behind it), or by the next `recv` before it waits: a
//!   request-response peer never waits for a cork.
//! - One deferral per received message: a second `send` after the same `recv` writes.
//!   [`flush`](WebSocketStream::flush), [`close`](WebSocketStream::close) and
//!   `Sink::poll_close` always write now. Call `flush` after a `send` if the task will next
//!   wait on something other than this WebSocket while the peer's messages are queued.
//!
//! ```no_run
//! # async fn run(mut ws: websock::tokio::WebSocketStream<tokio::net::TcpStream>) -> Result<(), websock::Error> {
//! // Sixteen pipelined requests in one read: sixteen `send`s, one write.
//! while let Some(msg) = ws.recv().await {
//!     let msg = msg?;
//!     if msg.is_data() {
//!         ws.send(msg).await?;
//!     }
//! }
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

mod driver;
mod split;
mod tls;

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::net::TcpStream;
use futures_core::Stream;
use futures_sink::Sink;

use self::driver::Driver;
pub use self::split::{Reader, Writer};
pub use self::tls::MaybeTls;
use crate::connect::{outcome, Choose, Handshaking, NoChoice};
pub use crate::connect::{Connect, Outcome};
pub use crate::error::Error;
use crate::proto::handshake::client::ClientRequest;
use crate::proto::handshake::server::{Accept, Request};
use crate::proto::handshake::Response;
use crate::proxy::open_tunnel_async;
use crate::{CloseFrame, Config, Connection, Event, Message, PreparedMessage};

/// The same type under the blocking adapter's name (`sync::WebSocket`).
pub type WebSocket<S> = WebSocketStream<S>;

/// A WebSocket over an async I/O object.
#[derive(Debug)]
pub struct WebSocketStream<S> {
    driver: Driver<S>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WebSocketStream<S> {
    /// Drives `conn` over `io`: one opened elsewhere, or a client's in its handshake (a
    /// server's needs its request answered: [`accept_with`] does that).
    pub fn from_connection(io: S, conn: Connection) -> Self {
        WebSocketStream {
            driver: Driver::new(io, conn),
        }
    }

    /// The next message (`None` once the connection is over). See [`Stream`].
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message, Error>>> + '_ {
        poll_fn(move |cx| Pin::new(&mut *self).poll_next(cx))
    }

    /// The next event of the connection, handshake events included (use this in streaming
    /// mode).
    pub async fn recv_event(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| self.driver.poll_event(cx)).await
    }

    /// Runs the opening handshake to its end.
    async fn handshake<F: Choose>(mut self, choose: Option<F>) -> Result<Outcome<Self>, Error> {
        let mut hs = Handshaking::new(choose);
        let done = loop {
            let ev = self.recv_event().await.ok_or(Error::ConnectionClosed)??;
            if let Some(done) = hs.on_event(&mut self.driver.conn, ev) {
                break done;
            }
        };
        let flushed = self.flush().await;
        Ok(outcome(self, done.and_then(|s| flushed.map(|()| s))?))
    }

    /// Sends a message: [`write`](Self::write), then a flush that is corked (see
    /// [Corking](self#corking)): written before this returns unless more received bytes are
    /// already waiting, in which case it goes out with the replies to what follows, in one
    /// write, before the next [`recv`](Self::recv) waits.
    pub fn send(
        &mut self,
        msg: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + '_ {
        self.queue(msg.into(), true)
    }

    /// Queues a message, after waiting while over [`Config::write_buffer_high_water`].
    pub fn write(
        &mut self,
        msg: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + '_ {
        self.queue(msg.into(), false)
    }

    /// `send` (`flush`) or `write`, written out rather than `async fn`: the future holds the
    /// stream and the message and nothing else (56 bytes, against 200 for the nested
    /// `async fn`s), and it lives in every task that runs the README loop.
    fn queue(&mut self, msg: Message, flush: bool) -> impl Future<Output = Result<(), Error>> + '_ {
        let mut msg = Some(msg);
        poll_fn(move |cx| self.driver.poll_send(cx, &mut msg, flush))
    }

    /// Sends a message encoded once for many connections ([`PreparedMessage`]), with the same
    /// backpressure as [`send`](Self::send).
    pub async fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.write_prepared(msg).await?;
        poll_fn(|cx| self.driver.poll_flush_corked(cx)).await
    }

    /// Queues a prepared message, as [`write`](Self::write) does a message: several queued
    /// this way go out in one write at the next [`flush`](Self::flush).
    pub async fn write_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        poll_fn(|cx| self.driver.poll_ready(cx)).await?;
        Ok(self.driver.conn.send_prepared(msg)?)
    }

    /// Writes everything queued, now: what to call after a [`send`](Self::send) when the task
    /// is about to wait on something other than this WebSocket (see [Corking](self#corking)).
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.driver.poll_flush(cx)).await
    }

    /// Starts the close handshake and flushes. Keep reading until `None` to see it through.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.driver.conn.close(frame)?;
        self.flush().await
    }

    /// The connection's `tracing` span: record the peer's address on it
    /// (`ws.span().record("peer", addr.to_string())`), or enter it for events of your own.
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn span(&self) -> &tracing::Span {
        self.driver.trace.span()
    }

    /// The sans-IO connection (state, negotiated terms, limits).
    pub fn connection(&self) -> &Connection {
        &self.driver.conn
    }

    /// The sans-IO connection, mutable (for example to send fragments).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.driver.conn
    }

    /// The I/O object.
    pub fn get_ref(&self) -> &S {
        &self.driver.io
    }

    /// The I/O object, mutable.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.driver.io
    }

    /// Splits into a reader and a writer for two tasks; pongs and the close handshake stay
    /// correct because both halves drive the one connection.
    pub fn split(self) -> (Reader<S>, Writer<S>) {
        split::split(self.driver)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WebSocketStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.driver.poll_message(cx)
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

    /// Corked as [`WebSocketStream::send`]'s flush: `SinkExt::send` and `forward` write in one
    /// go the replies to messages that arrived together.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.driver.poll_flush_corked(cx)
    }

    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.driver.poll_close(cx)
    }
}

/// Accepts a WebSocket connection with default settings, no subprotocol and no extension.
pub fn accept<S>(io: S) -> impl Future<Output = Result<WebSocketStream<S>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let conn = Connection::server(Config::default(), Instant::now());
    open(Ok((io, conn)))
}

/// Drives a handshake that can only end in a WebSocket or an error, boxed: the future a task
/// keeps for the connection's life stays no larger than the WebSocket's state.
fn open<S>(
    start: Result<(S, Connection), Error>,
) -> impl Future<Output = Result<WebSocketStream<S>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let hs = start.map(|(io, conn)| {
        Box::pin(WebSocketStream::from_connection(io, conn).handshake(None::<NoChoice>))
    });
    async move { hs?.await?.websocket().ok_or(Error::ConnectionClosed) }
}

/// Accepts after `choose` has seen the request and chosen: `Ok(Accept)` with a subprotocol and
/// extra headers, or `Err(Response)` to answer with a response of its own (a 403 for a bad
/// `Origin`, a page for a plain HTTP request), which is [`Outcome::Responded`].
pub fn accept_with<S, F>(
    io: S,
    config: Config,
    choose: F,
) -> impl Future<Output = Result<Outcome<WebSocketStream<S>>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
    F: FnOnce(&Request) -> Result<Accept, Response>,
{
    let conn = Connection::server(config, Instant::now());
    Box::pin(WebSocketStream::from_connection(io, conn).handshake(Some(choose)))
}

/// Runs the client handshake for `request` over `io`, a transport you connected yourself.
pub fn client<S>(
    io: S,
    request: ClientRequest,
    config: Config,
) -> impl Future<Output = Result<WebSocketStream<S>, Error>>
where
    S: AsyncRead + AsyncWrite + Unpin,
{
    let conn = Connection::client(request, config, Instant::now());
    open(conn.map(|c| (io, c)).map_err(Error::from))
}

/// Connects to a `ws://` or `wss://` URL with default settings ([`Connect::new`]).
pub async fn connect(url: &str) -> Result<WebSocketStream<MaybeTls>, Error> {
    connect_with(Connect::new(url)?).await
}

/// Connects with these options: request, settings, proxy and TLS.
pub async fn connect_with(options: Connect) -> Result<WebSocketStream<MaybeTls>, Error> {
    options.check_tls()?;
    let uri = options.uri().clone();
    let tcp = match options.proxy.resolve(&uri)? {
        None => TcpStream::connect((uri.host.as_str(), uri.port)).await?,
        Some(proxy) => {
            let mut tcp = TcpStream::connect((proxy.host(), proxy.port())).await?;
            let timeout = options.config.handshake_timeout;
            open_tunnel_async(&mut tcp, &proxy, &uri.host, uri.port, timeout).await?;
            tcp
        }
    };
    tcp.set_nodelay(true)?;
    let io = MaybeTls::client(tcp, &options).await?;
    client(io, options.request, options.config).await
}
