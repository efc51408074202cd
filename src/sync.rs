//! The blocking adapter: a WebSocket over any `Read + Write` stream.
//!
//! Owns nothing but moving bytes between a stream and a [`Connection`]: reads go straight into
//! the connection's receive buffer, writes are vectored straight from its send queue, and the
//! connection's timers become read timeouts. Every protocol decision is the core's. [`split`]
//! gives a reader and a writer that two threads can use at once.
//!
//! ```no_run
//! use websock::{sync, Message};
//! let listener = std::net::TcpListener::bind("127.0.0.1:9001")?;
//! for stream in listener.incoming() {
//!     std::thread::spawn(move || -> Result<(), websock::Error> {
//!         let mut ws = sync::accept(stream?)?;
//!         loop {
//!             match ws.read() {
//!                 Ok(msg) if msg.is_data() => ws.send(msg)?,
//!                 Ok(_) => {}
//!                 Err(websock::Error::ConnectionClosed) => return Ok(()),
//!                 Err(e) => return Err(e),
//!             }
//!         }
//!     });
//! }
//! # Ok::<(), std::io::Error>(())
//! ```
//!
//! [`split`]: WebSocket::split
#![forbid(unsafe_code)]

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::event_to_item;
pub use crate::error::Error;
use crate::proto::handshake::client::{Accepted, ClientRequest};
use crate::proto::handshake::server::{self, Accept, Request, RequestParser};
use crate::proto::handshake::Response;
use crate::{CloseFrame, Config, Connection, Event, HandshakeError, Message, Transmit};

/// A byte stream the adapter can drive. The provided methods do nothing; [`TcpStream`] and TLS
/// over it implement them so that timeouts and TCP half-close work. Wrap any other
/// `Read + Write` in [`Plain`].
pub trait Stream: Read + Write {
    /// Bounds the next blocking read (the adapter's timers). `None`: no bound.
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    /// Shuts down the write half (TCP FIN).
    fn shutdown_write(&mut self) -> io::Result<()> {
        Ok(())
    }
}

impl Stream for TcpStream {
    fn set_read_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        // A zero duration means "no timeout" to the OS; the smallest real bound is wanted.
        TcpStream::set_read_timeout(self, timeout.map(|t| t.max(Duration::from_millis(1))))
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

impl<S: Stream + ?Sized> Stream for &mut S {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(t)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

impl<S: Stream + ?Sized> Stream for Box<S> {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        (**self).set_read_timeout(t)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        (**self).shutdown_write()
    }
}

/// Any `Read + Write`, without timeouts or half-close.
#[derive(Debug)]
pub struct Plain<S>(pub S);

impl<S: Read> Read for Plain<S> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.0.read(buf)
    }
}

impl<S: Write> Write for Plain<S> {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.write(buf)
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        self.0.write_vectored(bufs)
    }
    fn flush(&mut self) -> io::Result<()> {
        self.0.flush()
    }
}

impl<S: Read + Write> Stream for Plain<S> {}

/// Writes everything the connection has queued, vectored, then shuts down if it asks.
fn write_out<S: Stream + ?Sized>(stream: &mut S, conn: &mut Connection) -> Result<(), Error> {
    loop {
        if conn.transmit_len() > 0 {
            let written = {
                let mut iov = [IoSlice::new(&[]); 64];
                let mut k = 0;
                for (slot, chunk) in iov.iter_mut().zip(conn.transmit_chunks()) {
                    *slot = IoSlice::new(chunk);
                    k += 1;
                }
                match stream.write_vectored(&iov[..k]) {
                    Ok(0) => return Err(io::Error::from(io::ErrorKind::WriteZero).into()),
                    Ok(n) => n,
                    Err(e) if e.kind() == io::ErrorKind::Interrupted => 0,
                    Err(e) => return Err(e.into()),
                }
            };
            conn.advance_transmit(written);
            continue;
        }
        stream.flush()?;
        if let Some(Transmit::Shutdown) = conn.poll_transmit() {
            // The peer may already be gone; the connection is over either way.
            let _ = stream.shutdown_write();
        }
        return Ok(());
    }
}

/// Writes owned chunks (taken from a shared connection) in full.
fn write_chunks<S: Stream + ?Sized>(stream: &mut S, chunks: &[Bytes]) -> io::Result<()> {
    let mut iov: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut iov[..];
    while !rest.is_empty() {
        match stream.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => IoSlice::advance_slices(&mut rest, n),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    stream.flush()
}

/// One read into `buf`: `Ok(None)` when it timed out or was interrupted (check the timers).
fn read_some<S: Stream + ?Sized>(stream: &mut S, buf: &mut [u8]) -> io::Result<Option<usize>> {
    match stream.read(buf) {
        Ok(n) => Ok(Some(n)),
        Err(e)
            if matches!(
                e.kind(),
                io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut | io::ErrorKind::Interrupted
            ) =>
        {
            Ok(None)
        }
        Err(e) => Err(e),
    }
}

/// Sets the read timeout to the connection's next deadline, calling the OS only on change.
fn arm<S: Stream + ?Sized>(
    stream: &mut S,
    armed: &mut Option<Option<Instant>>,
    deadline: Option<Instant>,
) -> io::Result<()> {
    if *armed != Some(deadline) {
        let now = Instant::now();
        stream.set_read_timeout(deadline.map(|d| d.saturating_duration_since(now)))?;
        *armed = Some(deadline);
    }
    Ok(())
}

/// A WebSocket over a blocking stream.
#[derive(Debug)]
pub struct WebSocket<S> {
    stream: S,
    conn: Connection,
    armed: Option<Option<Instant>>,
}

impl<S: Stream> WebSocket<S> {
    /// Drives `conn` (already past the handshake) over `stream`.
    pub fn from_connection(stream: S, conn: Connection) -> Self {
        WebSocket {
            stream,
            conn,
            armed: None,
        }
    }

    /// The next message: text, binary, ping or pong (pongs are answered for you), or
    /// `Message::Close` once when the peer closed. After that, [`Error::ConnectionClosed`].
    pub fn read(&mut self) -> Result<Message, Error> {
        let ev = self.read_event()?;
        event_to_item(ev, &self.conn)
    }

    /// The next event of the connection (use this in streaming mode).
    pub fn read_event(&mut self) -> Result<Event, Error> {
        loop {
            self.conn.handle_timeout(Instant::now());
            if let Some(ev) = self.conn.poll_event() {
                self.flush_or_end()?;
                return Ok(ev);
            }
            self.flush_or_end()?;
            if self.conn.is_terminated() {
                return Err(Error::ConnectionClosed);
            }
            arm(&mut self.stream, &mut self.armed, self.conn.poll_timeout())?;
            let buf = self.conn.receive_buf();
            match read_some(&mut self.stream, buf) {
                Ok(Some(0)) => self.conn.receive_eof(),
                Ok(Some(n)) => self.conn.receive_commit(n),
                Ok(None) => {}
                // A reset once closing has begun just ends the connection.
                Err(_) if self.conn.state() != crate::State::Open => self.conn.receive_eof(),
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// Flushes; once the connection is closing, a peer that went away is not an error.
    fn flush_or_end(&mut self) -> Result<(), Error> {
        match write_out(&mut self.stream, &mut self.conn) {
            Err(Error::Io(_)) if self.conn.state() != crate::State::Open => {
                self.conn.receive_eof();
                while self.conn.poll_transmit().is_some() {}
                Ok(())
            }
            r => r,
        }
    }

    /// Sends a message and flushes.
    pub fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.write(msg)?;
        self.flush()
    }

    /// Queues a message; it goes out with the next [`flush`](Self::flush) (or sooner, once the
    /// queue passes [`Config::write_buffer_high_water`]). Batching writes saves system calls.
    pub fn write(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        self.conn.send(msg.into())?;
        if self.conn.transmit_len() >= self.conn.config().write_buffer_high_water {
            self.flush()?;
        }
        Ok(())
    }

    /// Writes everything queued.
    pub fn flush(&mut self) -> Result<(), Error> {
        write_out(&mut self.stream, &mut self.conn)
    }

    /// Starts the close handshake and flushes. Keep calling [`read`](Self::read) until
    /// [`Error::ConnectionClosed`] to see it through.
    pub fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        self.conn.send_close(frame)?;
        self.flush()
    }

    /// The sans-IO connection (state, fragments, limits).
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

/// A stream that can be cloned into a second handle on the same socket.
pub trait TryClone: Sized {
    /// Another handle on the same socket.
    fn try_clone(&self) -> io::Result<Self>;
}

impl TryClone for TcpStream {
    fn try_clone(&self) -> io::Result<Self> {
        TcpStream::try_clone(self)
    }
}

struct Shared<S> {
    conn: Mutex<Connection>,
    out: Mutex<S>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<S: Stream> Shared<S> {
    /// Takes what the connection queued and writes it. The writer lock is taken first and held
    /// while writing, so output from two threads never interleaves or reorders; the connection
    /// lock is held only to take the chunks.
    fn flush(&self) -> Result<(), Error> {
        let mut out = lock(&self.out);
        loop {
            let (chunks, shutdown) = {
                let mut conn = lock(&self.conn);
                let mut chunks = Vec::new();
                let mut shutdown = false;
                while let Some(t) = conn.poll_transmit() {
                    match t {
                        Transmit::Data(b) => chunks.push(b),
                        Transmit::Shutdown => shutdown = true,
                    }
                }
                (chunks, shutdown)
            };
            if chunks.is_empty() && !shutdown {
                return Ok(());
            }
            if let Err(e) = write_chunks(&mut *out, &chunks) {
                let mut conn = lock(&self.conn);
                if conn.state() == crate::State::Open {
                    return Err(e.into());
                }
                conn.receive_eof();
            }
            if shutdown {
                let _ = out.shutdown_write();
            }
        }
    }
}

impl<S: Stream + TryClone> WebSocket<S> {
    /// Splits into a reader and a writer for two threads. Pongs and the close handshake stay
    /// correct: whichever side produces output writes it, in order, under one lock. The
    /// reader copies each read into the connection (one copy per read, not per message).
    pub fn split(self) -> io::Result<(Reader<S>, Writer<S>)> {
        let read_half = self.stream.try_clone()?;
        let shared = Arc::new(Shared {
            conn: Mutex::new(self.conn),
            out: Mutex::new(self.stream),
        });
        Ok((
            Reader {
                stream: read_half,
                shared: shared.clone(),
                scratch: Vec::new(),
                armed: None,
            },
            Writer { shared },
        ))
    }
}

/// The reading half of a split [`WebSocket`].
pub struct Reader<S> {
    stream: S,
    shared: Arc<Shared<S>>,
    scratch: Vec<u8>,
    armed: Option<Option<Instant>>,
}

impl<S: Stream> Reader<S> {
    /// As [`WebSocket::read`].
    pub fn read(&mut self) -> Result<Message, Error> {
        let ev = self.read_event()?;
        event_to_item(ev, &lock(&self.shared.conn))
    }

    /// As [`WebSocket::read_event`].
    pub fn read_event(&mut self) -> Result<Event, Error> {
        loop {
            let (event, terminated, deadline, size) = {
                let mut conn = lock(&self.shared.conn);
                conn.handle_timeout(Instant::now());
                (
                    conn.poll_event(),
                    conn.is_terminated(),
                    conn.poll_timeout(),
                    conn.config().read_size,
                )
            };
            self.shared.flush()?;
            if let Some(ev) = event {
                return Ok(ev);
            }
            if terminated {
                return Err(Error::ConnectionClosed);
            }
            arm(&mut self.stream, &mut self.armed, deadline)?;
            self.scratch.resize(size, 0);
            let result = read_some(&mut self.stream, &mut self.scratch);
            let mut conn = lock(&self.shared.conn);
            match result {
                Ok(Some(0)) => conn.receive_eof(),
                Ok(Some(n)) => conn.receive(&self.scratch[..n]),
                Ok(None) => {}
                Err(_) if conn.state() != crate::State::Open => conn.receive_eof(),
                Err(e) => return Err(e.into()),
            }
        }
    }
}

/// The writing half of a split [`WebSocket`].
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
}

impl<S: Stream> Writer<S> {
    /// Sends a message and flushes.
    pub fn send(&self, msg: impl Into<Message>) -> Result<(), Error> {
        lock(&self.shared.conn).send(msg.into())?;
        self.shared.flush()
    }

    /// Starts the close handshake; the reader sees it through.
    pub fn close(&self, frame: Option<CloseFrame>) -> Result<(), Error> {
        lock(&self.shared.conn).send_close(frame)?;
        self.shared.flush()
    }

    /// Runs `f` on the connection (for fragments, state, settings), then flushes.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> Result<T, Error> {
        let r = f(&mut lock(&self.shared.conn));
        self.shared.flush()?;
        Ok(r)
    }
}

/// Reads until `parse` has a complete head, within the handshake timeout. Returns the parse
/// result and everything read.
fn read_head<S: Stream, T>(
    stream: &mut S,
    config: &Config,
    mut parse: impl FnMut(&[u8]) -> Result<Option<(T, usize)>, HandshakeError>,
) -> Result<(T, usize, Vec<u8>), Error> {
    let deadline = Instant::now() + config.handshake_timeout;
    let mut buf = Vec::with_capacity(1024);
    let mut chunk = [0u8; 2048];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(HandshakeError::Timeout.into());
        }
        stream.set_read_timeout(Some(left))?;
        match read_some(stream, &mut chunk)? {
            Some(0) => return Err(HandshakeError::UnexpectedEof.into()),
            Some(n) => buf.extend_from_slice(&chunk[..n]),
            None => continue,
        }
        if let Some((value, n)) = parse(&buf)? {
            stream.set_read_timeout(None)?;
            return Ok((value, n, buf));
        }
    }
}

/// Accepts a WebSocket connection with default settings, no subprotocol and no extension.
pub fn accept<S: Stream>(stream: S) -> Result<WebSocket<S>, Error> {
    accept_with(stream, |_| Ok(Accept::new()))
}

/// Accepts after `callback` has seen the request and chosen: `Ok(Accept)` with a subprotocol
/// and extra headers, or `Err(Response)` to refuse (for example 403 for a bad `Origin`, or a
/// page for a plain HTTP request).
pub fn accept_with<S, F>(stream: S, callback: F) -> Result<WebSocket<S>, Error>
where
    S: Stream,
    F: FnOnce(&Request) -> Result<Accept, Response>,
{
    accept_with_config(stream, Config::default(), callback)
}

/// [`accept_with`], with settings.
pub fn accept_with_config<S, F>(
    mut stream: S,
    config: Config,
    callback: F,
) -> Result<WebSocket<S>, Error>
where
    S: Stream,
    F: FnOnce(&Request) -> Result<Accept, Response>,
{
    let mut parser = RequestParser::new(config.handshake_limits.clone());
    let (req, n, buf) = match read_head(&mut stream, &config, |b| parser.parse(b)) {
        Err(Error::Handshake(e)) => {
            if !matches!(e, HandshakeError::UnexpectedEof) {
                let _ = stream.write_all(&e.to_response().to_bytes());
                let _ = stream.flush();
            }
            return Err(e.into());
        }
        other => other?,
    };
    let (answer, result) = server::answer(&req, callback(&req), config);
    stream.write_all(&answer)?;
    stream.flush()?;
    let mut conn = result?;
    conn.receive(&buf[n..]);
    Ok(WebSocket::from_connection(stream, conn))
}

/// Runs the client handshake over `stream` with default settings.
pub fn client<S: Stream>(
    request: ClientRequest,
    stream: S,
) -> Result<(WebSocket<S>, Accepted), Error> {
    client_with_config(request, stream, Config::default())
}

/// [`client`], with settings.
pub fn client_with_config<S: Stream>(
    request: ClientRequest,
    mut stream: S,
    config: Config,
) -> Result<(WebSocket<S>, Accepted), Error> {
    let (head, mut handshake) = request.start_with_config(&config)?;
    stream.write_all(&head)?;
    stream.flush()?;
    let (accepted, n, buf) = read_head(&mut stream, &config, |b| handshake.parse_response(b))?;
    let mut conn = accepted.connection(config)?;
    conn.receive(&buf[n..]);
    Ok((WebSocket::from_connection(stream, conn), accepted))
}

/// A client's stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum MaybeTls {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "rustls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for MaybeTls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            MaybeTls::Plain(s) => s.read(buf),
            #[cfg(feature = "rustls")]
            MaybeTls::Tls(s) => s.read(buf),
        }
    }
}

impl Write for MaybeTls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            MaybeTls::Plain(s) => s.write(buf),
            #[cfg(feature = "rustls")]
            MaybeTls::Tls(s) => s.write(buf),
        }
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        match self {
            MaybeTls::Plain(s) => s.write_vectored(bufs),
            #[cfg(feature = "rustls")]
            MaybeTls::Tls(s) => s.write_vectored(bufs),
        }
    }
    fn flush(&mut self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(s) => s.flush(),
            #[cfg(feature = "rustls")]
            MaybeTls::Tls(s) => s.flush(),
        }
    }
}

impl Stream for MaybeTls {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        match self {
            MaybeTls::Plain(s) => Stream::set_read_timeout(s, t),
            #[cfg(feature = "rustls")]
            MaybeTls::Tls(s) => Stream::set_read_timeout(&mut s.sock, t),
        }
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        match self {
            MaybeTls::Plain(s) => s.shutdown_write(),
            #[cfg(feature = "rustls")]
            MaybeTls::Tls(s) => {
                s.conn.send_close_notify();
                let _ = s.flush();
                s.sock.shutdown_write()
            }
        }
    }
}

impl TryClone for MaybeTls {
    fn try_clone(&self) -> io::Result<Self> {
        match self {
            MaybeTls::Plain(s) => Ok(MaybeTls::Plain(s.try_clone()?)),
            #[cfg(feature = "rustls")]
            MaybeTls::Tls(_) => Err(io::Error::new(
                io::ErrorKind::Unsupported,
                "a TLS stream cannot be split into two handles",
            )),
        }
    }
}

/// Connects to a `ws://` or `wss://` URL with default settings.
///
/// ```no_run
/// let (mut ws, _) = websock::sync::connect("ws://127.0.0.1:9001/")?;
/// ws.send("hello")?;
/// println!("{:?}", ws.read()?);
/// # Ok::<(), websock::Error>(())
/// ```
pub fn connect(url: &str) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    connect_with(ClientRequest::new(url)?, Config::default())
}

/// Connects with a prepared request (subprotocols, headers) and settings. `wss://` uses
/// [`crate::tls::default_client_config`] (webpki roots).
pub fn connect_with(
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    connect_inner(request, config, None)
}

/// [`connect_with`], with a TLS configuration of your own for `wss://` (`None`: webpki roots).
#[cfg(feature = "rustls")]
pub fn connect_tls(
    request: ClientRequest,
    config: Config,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    connect_inner(request, config, tls)
}

#[cfg(feature = "rustls")]
type TlsConfig = Option<Arc<rustls::ClientConfig>>;
#[cfg(not(feature = "rustls"))]
type TlsConfig = Option<std::convert::Infallible>;

fn connect_inner(
    request: ClientRequest,
    config: Config,
    _tls: TlsConfig,
) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    let uri = request.uri().clone();
    let tcp = TcpStream::connect((uri.host.as_str(), uri.port))?;
    tcp.set_nodelay(true)?;
    let stream = if uri.tls {
        #[cfg(feature = "rustls")]
        {
            let conn = crate::tls::client_connection(&uri.host, _tls)?;
            MaybeTls::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
        }
        #[cfg(not(feature = "rustls"))]
        return Err(HandshakeError::InvalidUri("wss:// needs the rustls feature").into());
    } else {
        MaybeTls::Plain(tcp)
    };
    client_with_config(request, stream, config)
}

#[cfg(feature = "rustls")]
impl<C, S, D> Stream for rustls::StreamOwned<C, S>
where
    C: std::ops::DerefMut<Target = rustls::ConnectionCommon<D>>,
    S: Stream,
    D: rustls::SideData,
{
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_read_timeout(t)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        let _ = self.flush();
        self.sock.shutdown_write()
    }
}
