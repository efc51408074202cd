//! [`MaybeTls`], a client's stream: plain TCP, or TLS over it. Transport glue only.
#![forbid(unsafe_code)]

use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::connect::each_stream;
use crate::error::Error;
use ::tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use ::tokio::net::TcpStream;

/// A client's stream: plain TCP, or TLS over it.
#[derive(Debug)]
pub enum MaybeTls {
    /// `ws://`
    Plain(TcpStream),
    /// `wss://`
    #[cfg(feature = "rustls")]
    Tls(Box<tokio_rustls::client::TlsStream<TcpStream>>),
}

impl MaybeTls {
    /// The client's stream for `options`' URL over `tcp`: TLS for `wss://`.
    pub(super) async fn client(tcp: TcpStream, options: &crate::Connect) -> Result<Self, Error> {
        let Some(tls) = options.tls_config()? else {
            return Ok(MaybeTls::Plain(tcp));
        };
        #[cfg(feature = "rustls")]
        {
            let name = crate::tls::server_name(&options.uri().host)?;
            let stream = tokio_rustls::TlsConnector::from(tls).connect(name, tcp);
            Ok(MaybeTls::Tls(Box::new(stream.await?)))
        }
        #[cfg(not(feature = "rustls"))]
        match tls {}
    }
}

type Io<T> = Poll<io::Result<T>>;

impl AsyncRead for MaybeTls {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Io<()> {
        each_stream!(MaybeTls, self.get_mut(), s => Pin::new(s).poll_read(cx, buf))
    }
}

impl AsyncWrite for MaybeTls {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Io<usize> {
        each_stream!(MaybeTls, self.get_mut(), s => Pin::new(s).poll_write(cx, buf))
    }
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        b: &[IoSlice<'_>],
    ) -> Io<usize> {
        each_stream!(MaybeTls, self.get_mut(), s => Pin::new(s).poll_write_vectored(cx, b))
    }
    fn is_write_vectored(&self) -> bool {
        each_stream!(MaybeTls, self, s => s.is_write_vectored())
    }
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Io<()> {
        each_stream!(MaybeTls, self.get_mut(), s => Pin::new(s).poll_flush(cx))
    }
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Io<()> {
        each_stream!(MaybeTls, self.get_mut(), s => Pin::new(s).poll_shutdown(cx))
    }
}
