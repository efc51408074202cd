//! The streams the blocking adapter drives: the [`Stream`] trait (reads with a timeout, write
//! half-close), its implementations for TCP, TLS and any `Read + Write` ([`Plain`]), and
//! [`MaybeTls`], a client's plain or TLS stream. Transport glue only: no WebSocket rule here.
#![forbid(unsafe_code)]

use std::io::{self, IoSlice, Read, Write};
use std::net::TcpStream;
use std::time::Duration;

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
