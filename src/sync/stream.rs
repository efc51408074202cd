//! Transport glue: the [`Stream`] trait (reads with a timeout, write half-close) for TCP and
//! TLS, [`MaybeTls`] (a client's stream), and the steps of the drive loop. No WebSocket rule.
#![forbid(unsafe_code)]

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use bytes::Bytes;

use crate::proto::buffer::MAX_IOV;

use crate::connect::each_stream;
use crate::{Connection, ConnectionError, Error, Transmit, TransportVerdict};

/// Whether a write gave up because the stream's write timeout passed.
fn stalled(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// Writes everything the connection has queued, vectored, then shuts down if it asks. A write
/// that waited out the stream's write timeout gives the core the time, so its write timeout
/// can end the connection.
pub(super) fn write_out<S: Stream + ?Sized>(s: &mut S, conn: &mut Connection) -> io::Result<()> {
    while conn.transmit_len() > 0 || conn.prepare_transmit() {
        let mut iov = [IoSlice::new(&[]); MAX_IOV];
        let k = iov
            .iter_mut()
            .zip(conn.transmit_chunks())
            .map(|(slot, c)| *slot = IoSlice::new(c))
            .count();
        let want: usize = iov[..k].iter().map(|s| s.len()).sum();
        match s.write_vectored(&iov[..k]) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) if n == want => conn.advance_transmit(n),
            Ok(n) => {
                // A short write: the peer reads slowly. A blocking write that keeps making a
                // little progress never times out in the OS, so the core's write timeout (each
                // byte may wait so long) is checked here.
                conn.advance_transmit(n);
                check_write_timeout(conn)?;
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if stalled(&e) => check_write_timeout(conn)?,
            Err(e) => return Err(e),
        }
    }
    s.flush()?;
    if let Some(Transmit::Shutdown) = conn.poll_transmit() {
        // The peer may already be gone; the connection is over either way.
        let _ = s.shutdown_write();
    }
    Ok(())
}

/// How long one blocking write may wait before the adapter looks at the time again: a
/// fraction of the write timeout, so that it is met within a second rather than within two
/// timeouts (a write that made a little progress does not return until its own timeout).
pub(super) fn os_write_timeout(write_timeout: Option<Duration>) -> Option<Duration> {
    write_timeout.map(|t| (t / 4).clamp(Duration::from_millis(1), Duration::from_secs(1)))
}

/// Gives the core the time while a write waits: `TimedOut` once its write timeout ended the
/// connection (which dropped the queue).
fn check_write_timeout(conn: &mut Connection) -> io::Result<()> {
    conn.handle_timeout(Instant::now());
    match conn.last_error() {
        Some(ConnectionError::Timeout(crate::Timeout::Write)) => {
            Err(io::ErrorKind::TimedOut.into())
        }
        _ => Ok(()),
    }
}

/// Writes owned chunks (taken from a shared connection) in full, failing with `TimedOut` once
/// `write_timeout` passed without a byte written (the chunks are out of the core's queue, so
/// this is the adapter's to watch).
pub(super) fn write_chunks<S: Stream + ?Sized>(
    s: &mut S,
    chunks: &[Bytes],
    write_timeout: Option<Duration>,
) -> io::Result<()> {
    let mut iov: Vec<IoSlice<'_>> = chunks.iter().map(|c| IoSlice::new(c)).collect();
    let mut rest = &mut iov[..];
    let mut progress = Instant::now();
    while !rest.is_empty() {
        match s.write_vectored(rest) {
            Ok(0) => return Err(io::ErrorKind::WriteZero.into()),
            Ok(n) => {
                IoSlice::advance_slices(&mut rest, n);
                progress = Instant::now();
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if stalled(&e) => {
                if write_timeout.is_some_and(|t| progress.elapsed() >= t) {
                    return Err(io::ErrorKind::TimedOut.into());
                }
            }
            Err(e) => return Err(e),
        }
    }
    s.flush()
}

/// One read into `buf`: `Ok(None)` when it timed out or was interrupted (check the timers).
pub(crate) fn read_some<S: Stream + ?Sized>(
    s: &mut S,
    buf: &mut [u8],
) -> io::Result<Option<usize>> {
    match s.read(buf) {
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

/// The error a failed write reports: the core's timeout if one ended the connection, else the
/// transport's error if the core says the user should see it.
pub(super) fn write_failed(conn: &mut Connection, e: io::Error) -> Result<(), Error> {
    if let Some(ConnectionError::Timeout(t)) = conn.last_error() {
        return Err(Error::Timeout(*t));
    }
    match conn.transport_failed() {
        TransportVerdict::Report => Err(e.into()),
        TransportVerdict::Ignore => Ok(()),
    }
}

/// Hands the outcome of a read to the connection (`commit` feeds `n` bytes read); a failed
/// read is the core's to judge.
pub(super) fn feed(
    conn: &mut Connection,
    read: io::Result<Option<usize>>,
    commit: impl FnOnce(&mut Connection, usize),
) -> Result<(), Error> {
    match read {
        Ok(Some(0)) => conn.receive_eof(),
        Ok(Some(n)) => commit(conn, n),
        Ok(None) => {}
        Err(e) if conn.transport_failed() == TransportVerdict::Report => return Err(e.into()),
        Err(_) => {}
    }
    Ok(())
}

/// Sets the read timeout to the connection's next deadline, calling the OS only on change.
pub(super) fn arm<S: Stream + ?Sized>(
    s: &mut S,
    armed: &mut Option<Option<Instant>>,
    deadline: Option<Instant>,
) -> io::Result<()> {
    if *armed != Some(deadline) {
        let now = Instant::now();
        s.set_read_timeout(deadline.map(|d| d.saturating_duration_since(now)))?;
        *armed = Some(deadline);
    }
    Ok(())
}

/// A byte stream the adapter can drive. The provided methods do nothing; [`TcpStream`] and TLS
/// over it implement them so that timeouts and TCP half-close work. Any other `Read + Write`
/// needs only `impl Stream for MyStream {}`.
pub trait Stream: Read + Write {
    /// Bounds the next blocking read (the adapter's timers). `None`: no bound.
    fn set_read_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
        Ok(())
    }
    /// Bounds how long one write may wait without progress ([`Config::write_timeout`]): past
    /// it the write fails with `WouldBlock` or `TimedOut`. `None`: no bound.
    ///
    /// [`Config::write_timeout`]: crate::Config::write_timeout
    fn set_write_timeout(&mut self, _timeout: Option<Duration>) -> io::Result<()> {
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
    fn set_write_timeout(&mut self, timeout: Option<Duration>) -> io::Result<()> {
        TcpStream::set_write_timeout(self, timeout.map(|t| t.max(Duration::from_millis(1))))
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.shutdown(std::net::Shutdown::Write)
    }
}

/// `Stream` through a pointer to one.
macro_rules! through {
    ($($t:ty),*) => {$(
        impl<S: Stream + ?Sized> Stream for $t {
            fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
                (**self).set_read_timeout(t)
            }
            fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
                (**self).set_write_timeout(t)
            }
            fn shutdown_write(&mut self) -> io::Result<()> {
                (**self).shutdown_write()
            }
        }
    )*};
}
through!(&mut S, Box<S>);

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

/// A client's stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum MaybeTls {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "rustls")]
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl MaybeTls {
    /// The client's stream for `options`' URL over `tcp`: TLS for `wss://`.
    pub(super) fn client(tcp: TcpStream, options: &crate::Connect) -> Result<MaybeTls, Error> {
        let Some(tls) = options.tls_config()? else {
            return Ok(MaybeTls::Plain(tcp));
        };
        #[cfg(feature = "rustls")]
        {
            let conn = crate::tls::client_connection(&options.uri().host, Some(tls))?;
            Ok(MaybeTls::Tls(Box::new(rustls::StreamOwned::new(conn, tcp))))
        }
        #[cfg(not(feature = "rustls"))]
        match tls {}
    }
}

impl Read for MaybeTls {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        each_stream!(MaybeTls, self, s => s.read(buf))
    }
}

impl Write for MaybeTls {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        each_stream!(MaybeTls, self, s => s.write(buf))
    }
    fn write_vectored(&mut self, bufs: &[IoSlice<'_>]) -> io::Result<usize> {
        each_stream!(MaybeTls, self, s => s.write_vectored(bufs))
    }
    fn flush(&mut self) -> io::Result<()> {
        each_stream!(MaybeTls, self, s => s.flush())
    }
}

impl Stream for MaybeTls {
    fn set_read_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        each_stream!(MaybeTls, self, s => Stream::set_read_timeout(s, t))
    }
    fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        each_stream!(MaybeTls, self, s => Stream::set_write_timeout(s, t))
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        each_stream!(MaybeTls, self, s => s.shutdown_write())
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
    fn set_write_timeout(&mut self, t: Option<Duration>) -> io::Result<()> {
        self.sock.set_write_timeout(t)
    }
    fn shutdown_write(&mut self) -> io::Result<()> {
        self.conn.send_close_notify();
        let _ = self.flush();
        self.sock.shutdown_write()
    }
}
