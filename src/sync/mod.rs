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

use std::io::{self, IoSlice};
use std::net::TcpStream;
#[cfg(feature = "rustls")]
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::error::event_to_item;
pub use crate::error::Error;
use crate::proto::handshake::client::{Accepted, ClientRequest};
use crate::proto::handshake::server::{self, Accept, Request, RequestParser};
use crate::proto::handshake::Response;
use crate::proxy::{Proxy, ProxyChoice, ProxyError, ProxyHandshake};
use crate::{CloseFrame, Config, Connection, Event, HandshakeError, Message, Transmit};

mod split;
mod stream;

pub use split::{Reader, Writer};
pub use stream::{MaybeTls, Plain, Stream, TryClone};

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

/// Connects to a `ws://` or `wss://` URL with default settings, through the proxy the
/// environment names if any (read like curl: `http_proxy`, `https_proxy`, `all_proxy`,
/// `no_proxy`; see [`crate::proxy`]). [`connect_with_proxy`] with [`ProxyChoice::Direct`]
/// ignores the environment.
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

/// Connects with a prepared request (subprotocols, headers) and settings, through the proxy the
/// environment names if any. `wss://` uses [`crate::tls::default_client_config`] (webpki
/// roots).
pub fn connect_with(
    request: ClientRequest,
    config: Config,
) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    connect_inner(request, config, None, ProxyChoice::FromEnv)
}

/// [`connect_with`], with the proxy chosen: none, the environment's, or one of your own.
///
/// ```no_run
/// use websock::proto::handshake::client::ClientRequest;
/// use websock::proxy::Proxy;
/// let proxy = Proxy::parse("socks5h://user:password@127.0.0.1:1080")?;
/// let request = ClientRequest::new("ws://example.com/chat")?;
/// let (mut ws, _) =
///     websock::sync::connect_with_proxy(request, websock::Config::default(), proxy.into())?;
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn connect_with_proxy(
    request: ClientRequest,
    config: Config,
    proxy: ProxyChoice,
) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    connect_inner(request, config, None, proxy)
}

/// [`connect_with`], with a TLS configuration of your own for `wss://` (`None`: webpki roots).
#[cfg(feature = "rustls")]
pub fn connect_tls(
    request: ClientRequest,
    config: Config,
    tls: Option<Arc<rustls::ClientConfig>>,
) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    connect_inner(request, config, tls, ProxyChoice::FromEnv)
}

/// [`connect_tls`], with the proxy chosen. TLS runs end to end through the tunnel, verified
/// against the target's name.
#[cfg(feature = "rustls")]
pub fn connect_tls_with_proxy(
    request: ClientRequest,
    config: Config,
    tls: Option<Arc<rustls::ClientConfig>>,
    proxy: ProxyChoice,
) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    connect_inner(request, config, tls, proxy)
}

/// Asks a proxy, over `stream` (already connected to it), for a tunnel to `host:port`, within
/// `timeout` (the connect functions pass [`Config::handshake_timeout`]; it bounds each read on
/// streams that implement [`Stream::set_read_timeout`], and is checked between reads on others).
/// On success the stream is a tunnel to the target: run [`client_with_config`] over it, after
/// TLS for `wss://`. Reads never take bytes past the proxy's reply.
pub fn connect_via<S: Stream + ?Sized>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), Error> {
    let mut handshake = ProxyHandshake::new(proxy, host, port)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 512];
    loop {
        if let Some(bytes) = handshake.poll_transmit() {
            stream.write_all(&bytes)?;
            stream.flush()?;
        }
        if handshake.is_done() {
            stream.set_read_timeout(None)?;
            return Ok(());
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProxyError::Timeout.into());
        }
        stream.set_read_timeout(Some(left))?;
        let want = handshake.max_read().min(buf.len());
        let n = match read_some(stream, &mut buf[..want])? {
            Some(0) => return Err(ProxyError::UnexpectedEof.into()),
            Some(n) => n,
            None => continue,
        };
        if handshake.receive(&buf[..n])? < n {
            return Err(ProxyError::BadReply("data after the reply").into());
        }
    }
}

use crate::TlsConfig;

fn connect_inner(
    request: ClientRequest,
    config: Config,
    _tls: TlsConfig,
    proxy: ProxyChoice,
) -> Result<(WebSocket<MaybeTls>, Accepted), Error> {
    let uri = request.uri().clone();
    #[cfg(not(feature = "rustls"))]
    if uri.tls {
        return Err(HandshakeError::InvalidUri("wss:// needs the rustls feature").into());
    }
    let tcp = match proxy.resolve(&uri)? {
        None => TcpStream::connect((uri.host.as_str(), uri.port))?,
        Some(proxy) => {
            let mut tcp = TcpStream::connect((proxy.host(), proxy.port()))?;
            connect_via(
                &mut tcp,
                &proxy,
                &uri.host,
                uri.port,
                config.handshake_timeout,
            )?;
            tcp
        }
    };
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
