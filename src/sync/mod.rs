//! The blocking adapter: a WebSocket over any `Read + Write` stream.
//!
//! A driver only: one loop ([`WebSocket::recv_event`]) moves bytes and time between a stream
//! and a [`Connection`], for the opening handshake and the frames alike. Reads go straight into
//! the connection's receive buffer, writes are vectored straight from its send queue, and the
//! connection's next deadline becomes the read timeout. Every protocol decision is the core's.
//! [`WebSocket::split`] gives a reader and a writer that two threads can use at once.
//!
//! # Corking
//!
//! As in the tokio adapter ([its rule](crate::tokio#corking)): [`send`](WebSocket::send)
//! writes before it returns unless more received bytes are already waiting, so the replies
//! to a batch of pipelined messages leave in one write, made before the next read would
//! block; [`flush`](WebSocket::flush) and [`close`](WebSocket::close) always write now.
//!
//! ```no_run
//! let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
//! let mut ws = websock::sync::accept(listener.accept()?.0)?;
//! while let Ok(msg) = ws.recv() {
//!     if msg.is_data() {
//!         ws.send(msg)?;
//!     }
//! }
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
#![forbid(unsafe_code)]

use std::net::TcpStream;
use std::time::Instant;

pub(crate) use self::stream::read_some;
use self::stream::{arm, feed, write_failed, write_out};
use crate::connect::{outcome, Choose, Handshaking, NoChoice};
pub use crate::connect::{Connect, Outcome};
use crate::error::event_to_item;
pub use crate::error::Error;
use crate::proto::handshake::client::ClientRequest;
use crate::proto::handshake::server::{Accept, Request};
use crate::proto::handshake::Response;
use crate::proxy::open_tunnel;
use crate::trace::Trace;
use crate::{CloseFrame, Config, Connection, Event, Message, PreparedMessage};

mod split;
mod stream;

pub use split::{Reader, Writer};
pub use stream::{MaybeTls, Stream, TryClone};

/// A WebSocket over a blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    armed: Option<Option<Instant>>,
    trace: Trace,
    /// What `Drop` calls to write out a corked reply (a `Drop` impl cannot name `S: Stream`).
    drop_write: fn(&mut WebSocket<S>),
}

/// A `send` may leave its output corked for the next `recv`: a WebSocket dropped in between
/// still writes it (as `BufWriter` flushes on drop), bounded by the write timeout.
impl<S> Drop for WebSocket<S> {
    fn drop(&mut self) {
        if self.conn.transmit_len() > 0 {
            (self.drop_write)(self);
        }
    }
}

impl<S: Stream> WebSocket<S> {
    /// Drives `conn` over `stream`: one opened elsewhere, or a client's in its handshake (a
    /// server's needs its request answered: [`accept_with`] does that).
    pub fn from_connection(mut stream: S, conn: Connection) -> Self {
        // A stream that cannot bound its writes leaves a non-reading peer to the caller.
        let _ = stream.set_write_timeout(stream::os_write_timeout(conn.config().write_timeout));
        WebSocket {
            stream,
            trace: Trace::new(&conn),
            conn,
            armed: None,
            drop_write: |ws| {
                let _ = ws.flush();
            },
        }
    }

    /// The next message: text, binary, ping or pong (pongs are answered for you), or
    /// `Message::Close` once when the peer closed. After that, [`Error::ConnectionClosed`].
    pub fn recv(&mut self) -> Result<Message, Error> {
        loop {
            if let Some(item) = event_to_item(self.recv_event()?) {
                return item;
            }
        }
    }

    /// The next event of the connection, handshake events included (use this in streaming
    /// mode). This is the adapter's one loop: time, events, writes, then a read.
    pub fn recv_event(&mut self) -> Result<Event, Error> {
        self.trace.observe(&self.conn);
        loop {
            self.conn.handle_timeout(Instant::now());
            if let Some(ev) = self.conn.poll_event() {
                self.trace.on_event(&self.conn, &ev);
                if matches!(ev, Event::Closed(_)) {
                    // The last event: the close frame goes out before the user can drop us.
                    self.flush()?;
                }
                return Ok(ev);
            }
            // About to block: what the replies queued goes out in one write.
            self.flush()?;
            if self.conn.is_terminated() {
                return Err(Error::ConnectionClosed);
            }
            let deadline = self.conn.poll_timeout().map(|d| d.to_std());
            arm(&mut self.stream, &mut self.armed, deadline)?;
            let read = read_some(&mut self.stream, self.conn.receive_buf());
            feed(&mut self.conn, read, |c, n| c.receive_commit(n))?;
        }
    }

    /// Runs the opening handshake to its end.
    fn handshake<F: Choose>(mut self, choose: Option<F>) -> Result<Outcome<Self>, Error> {
        let mut hs = Handshaking::new(choose);
        loop {
            let ev = self.recv_event()?;
            if let Some(done) = hs.on_event(&mut self.conn, ev) {
                let status = done?;
                self.flush()?;
                return Ok(outcome(self, status));
            }
        }
    }

    /// The connection's `tracing` span: record the peer's address on it
    /// (`ws.span().record("peer", addr.to_string())`), or enter it for events of your own.
    #[cfg(feature = "tracing")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tracing")))]
    pub fn span(&self) -> &tracing::Span {
        self.trace.span()
    }

    /// Sends a message and flushes, corked as the tokio adapter's
    /// [`send`](crate::tokio::WebSocketStream::send) (see [Corking](self#corking)): written
    /// before this returns unless more received bytes are already waiting, in which case
    /// it goes out with the replies to what follows, before the next [`recv`](Self::recv)
    /// blocks.
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.write(msg)?;
        self.flush_corked()
    }

    fn flush_corked(&mut self) -> Result<(), Error> {
        if self.conn.may_defer_flush() {
            return Ok(());
        }
        self.flush()
    }

    /// Queues a message; it goes out with the next [`flush`](Self::flush) (or sooner, once the
    /// queue passes [`Config::write_buffer_high_water`]). Batching writes saves system calls.
    pub fn write(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.conn.send(msg.into())?;
        if self.conn.is_send_backlogged() {
            self.flush()?;
        }
        Ok(())
    }

    /// Sends a message encoded once for many connections ([`PreparedMessage`]) and flushes.
    pub fn send_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.write_prepared(msg)?;
        self.flush_corked()
    }

    /// Queues a prepared message, as [`write`](Self::write) does a message.
    pub fn write_prepared(&mut self, msg: &PreparedMessage) -> Result<(), Error> {
        self.conn.send_prepared(msg)?;
        if self.conn.is_send_backlogged() {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes everything queued, now. A transport that fails once closing has begun just ends
    /// the connection (the core's verdict).
    pub fn flush(&mut self) -> Result<(), Error> {
        match write_out(&mut self.stream, &mut self.conn) {
            Err(e) => write_failed(&mut self.conn, e),
            Ok(()) => Ok(()),
        }
    }

    /// Starts the close handshake and flushes. Keep calling [`recv`](Self::recv) until
    /// [`Error::ConnectionClosed`] to see it through.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.conn.close(frame)?;
        self.flush()
    }

    /// The sans-IO connection (state, negotiated terms, limits).
    pub fn connection(&self) -> &Connection {
        &self.conn
    }

    /// The sans-IO connection, mutable (for example to send fragments).
    pub fn connection_mut(&mut self) -> &mut Connection {
        &mut self.conn
    }

    /// The stream.
    pub fn get_ref(&self) -> &S {
        &self.stream
    }

    /// The stream, mutable.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.stream
    }
}

/// Accepts a WebSocket connection with default settings, no subprotocol and no extension.
pub fn accept<S: Stream>(stream: S) -> Result<WebSocket<S>, Error> {
    let conn = Connection::server(Config::default(), Instant::now());
    open(stream, conn)
}

/// Drives a handshake that can only end in a WebSocket or an error.
fn open<S: Stream>(stream: S, conn: Connection) -> Result<WebSocket<S>, Error> {
    let outcome = WebSocket::from_connection(stream, conn).handshake(None::<NoChoice>)?;
    outcome.websocket().ok_or(Error::ConnectionClosed)
}

/// Accepts after `choose` has seen the request and chosen: `Ok(Accept)` with a subprotocol and
/// extra headers, or `Err(Response)` to answer with a response of its own (a 403 for a bad
/// `Origin`, a page for a plain HTTP request), which is [`Outcome::Responded`].
pub fn accept_with<S, F>(
    stream: S,
    config: Config,
    choose: F,
) -> Result<Outcome<WebSocket<S>>, Error>
where
    S: Stream,
    F: FnOnce(&Request) -> Result<Accept, Response>,
{
    let conn = Connection::server(config, Instant::now());
    WebSocket::from_connection(stream, conn).handshake(Some(choose))
}

/// Runs the client handshake for `request` over `stream`, a transport you connected yourself.
pub fn client<S: Stream>(
    stream: S,
    request: ClientRequest,
    config: Config,
) -> Result<WebSocket<S>, Error> {
    open(stream, Connection::client(request, config, Instant::now())?)
}

/// Connects to a `ws://` or `wss://` URL with default settings ([`Connect::new`]).
pub fn connect(url: &str) -> Result<WebSocket<MaybeTls>, Error> {
    connect_with(Connect::new(url)?)
}

/// Connects with these options: request, settings, proxy and TLS.
pub fn connect_with(options: Connect) -> Result<WebSocket<MaybeTls>, Error> {
    options.check_tls()?;
    let uri = options.uri().clone();
    let tcp = match options.proxy.resolve(&uri)? {
        None => TcpStream::connect((uri.host.as_str(), uri.port))?,
        Some(proxy) => {
            let mut tcp = TcpStream::connect((proxy.host(), proxy.port()))?;
            let timeout = options.config.handshake_timeout;
            open_tunnel(&mut tcp, &proxy, &uri.host, uri.port, timeout)?;
            tcp
        }
    };
    tcp.set_nodelay(true)?;
    let stream = MaybeTls::client(tcp, &options)?;
    client(stream, options.request, options.config)
}
