//! The driver shared by the whole connection and its split halves: one connection, one I/O
//! object, one timer. It only moves bytes and time; the connection decides everything.
#![forbid(unsafe_code)]

use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Instant;

use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;
use ::tokio::time::Sleep;

use crate::error::Error;
use crate::{CloseCode, CloseFrame, Connection, Event, State, Transmit};

/// Size of the per-thread read buffer shared by every connection the thread drives.
const SCRATCH_SIZE: usize = 64 << 10;

thread_local! {
    static SCRATCH: std::cell::RefCell<Vec<u8>> = const { std::cell::RefCell::new(Vec::new()) };
}

#[derive(Debug)]
pub(crate) struct Driver<S> {
    pub(crate) io: S,
    pub(crate) conn: Connection,
    sleep: Option<Pin<Box<Sleep>>>,
    sleep_at: Option<Instant>,
    shutdown_pending: bool,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    pub(crate) fn new(io: S, conn: Connection) -> Self {
        Driver {
            io,
            conn,
            sleep: None,
            sleep_at: None,
            shutdown_pending: false,
        }
    }

    /// Writes everything queued (vectored), then the shutdown if one is due, then flushes.
    pub(crate) fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if self.conn.transmit_len() > 0 {
                let mut iov = [IoSlice::new(&[]); 64];
                let mut k = 0;
                for (slot, chunk) in iov.iter_mut().zip(self.conn.transmit_chunks()) {
                    *slot = IoSlice::new(chunk);
                    k += 1;
                }
                let n = ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &iov[..k]))?;
                if n == 0 {
                    return Poll::Ready(Err(io::Error::from(io::ErrorKind::WriteZero).into()));
                }
                self.conn.advance_transmit(n);
                continue;
            }
            if let Some(Transmit::Shutdown) = self.conn.poll_transmit() {
                self.shutdown_pending = true;
            }
            if self.shutdown_pending {
                // The peer may be gone already; the connection is over either way.
                let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
                self.shutdown_pending = false;
                return Poll::Ready(Ok(()));
            }
            return Pin::new(&mut self.io).poll_flush(cx).map_err(Error::from);
        }
    }

    /// As `poll_write_out`, but once closing has begun a vanished peer just ends the connection.
    fn poll_write_or_end(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match self.poll_write_out(cx) {
            Poll::Ready(Err(_)) if self.conn.state() != State::Open => {
                self.conn.receive_eof();
                while self.conn.poll_transmit().is_some() {}
                self.shutdown_pending = false;
                Poll::Ready(Ok(()))
            }
            other => other,
        }
    }

    /// Waits for the connection's next deadline; `Ready` when it has passed.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(at) = self.conn.poll_timeout() else {
            self.sleep_at = None;
            return Poll::Pending;
        };
        let sleep = self
            .sleep
            .get_or_insert_with(|| Box::pin(::tokio::time::sleep_until(at.into())));
        if self.sleep_at != Some(at) {
            sleep.as_mut().reset(at.into());
            self.sleep_at = Some(at);
        }
        sleep.as_mut().poll(cx)
    }

    /// The next event, driving reads, writes and timers as needed.
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Event, Error>>> {
        // One clock read per poll: nothing in between waits, except that a timer which fired
        // means time moved past a deadline, so it is read again then.
        let mut now = Instant::now();
        loop {
            self.conn.handle_timeout(now);
            if let Some(ev) = self.conn.poll_event() {
                // Push out what this produced (pongs, close replies); a write that would block
                // finishes on a later poll.
                if let Poll::Ready(Err(e)) = self.poll_write_or_end(cx) {
                    return Poll::Ready(Some(Err(e)));
                }
                return Poll::Ready(Some(Ok(ev)));
            }
            let written = self.poll_write_or_end(cx);
            if let Poll::Ready(Err(e)) = written {
                return Poll::Ready(Some(Err(e)));
            }
            if self.conn.is_terminated() {
                return Poll::Ready(None);
            }
            if self.poll_timer(cx).is_ready() {
                now = Instant::now();
                continue;
            }
            if !self.conn.wants_read() {
                // Output is backed up (the write above registered for writability).
                return Poll::Pending;
            }
            let read = match self.poll_read_some(cx) {
                Poll::Ready(r) => r,
                Poll::Pending => {
                    self.conn.release_idle_buffers();
                    return Poll::Pending;
                }
            };
            match read {
                Ok(0) => self.conn.receive_eof(),
                Ok(_) => {}
                // A reset once closing has begun just ends the connection.
                Err(_) if self.conn.state() != State::Open => self.conn.receive_eof(),
                Err(e) => return Poll::Ready(Some(Err(e.into()))),
            }
        }
    }

    /// One read into the connection. Between frames it reads into the thread's scratch buffer
    /// and hands the bytes over with `receive`, which keeps only what the messages need: no
    /// per-connection read buffer is allocated (and zeroed) on every wake-up, and one read
    /// can take many pipelined frames. With part of a frame held it reads straight into the
    /// connection's buffer, so a large frame is not copied twice.
    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if !self.conn.has_partial_input() {
            let scratched = SCRATCH.with(|cell| {
                // Taken only if free: a stream whose I/O is itself a WebSocket polls this again
                // from inside `poll_read`.
                let mut scratch = cell.try_borrow_mut().ok()?;
                if scratch.is_empty() {
                    scratch.resize(SCRATCH_SIZE, 0);
                }
                let mut buf = ReadBuf::new(&mut scratch[..]);
                Some(match Pin::new(&mut self.io).poll_read(cx, &mut buf) {
                    Poll::Ready(Ok(())) => {
                        let n = buf.filled().len();
                        if n > 0 {
                            self.conn.receive(buf.filled());
                        }
                        Poll::Ready(Ok(n))
                    }
                    other => other.map_ok(|()| 0),
                })
            });
            if let Some(poll) = scratched {
                return poll;
            }
        }
        let mut buf = ReadBuf::new(self.conn.receive_buf());
        let n = match ready!(Pin::new(&mut self.io).poll_read(cx, &mut buf)) {
            Ok(()) => buf.filled().len(),
            Err(e) => return Poll::Ready(Err(e)),
        };
        if n > 0 {
            self.conn.receive_commit(n);
        }
        Poll::Ready(Ok(n))
    }

    /// Backpressure: ready to take a message once the unwritten output is under the high-water
    /// mark.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.transmit_len() >= self.conn.config().write_buffer_high_water {
            ready!(self.poll_write_out(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Sends a normal close if none was sent, and flushes.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.can_send_close() {
            self.conn
                .send_close(Some(CloseFrame::new(CloseCode::NORMAL, "")))?;
        }
        self.poll_write_or_end(cx)
    }
}

/// A client's stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum MaybeTlsStream {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "rustls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

macro_rules! delegate {
    ($self:ident, $s:ident => $e:expr) => {
        match $self.get_mut() {
            MaybeTlsStream::Plain($s) => $e,
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls($s) => $e,
        }
    };
}

impl AsyncRead for MaybeTlsStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTlsStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        delegate!(self, s => Pin::new(s).poll_write_vectored(cx, bufs))
    }
    fn is_write_vectored(&self) -> bool {
        match self {
            MaybeTlsStream::Plain(s) => s.is_write_vectored(),
            #[cfg(feature = "rustls")]
            MaybeTlsStream::Tls(s) => s.is_write_vectored(),
        }
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        delegate!(self, s => Pin::new(s).poll_shutdown(cx))
    }
}
