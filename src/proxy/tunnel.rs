//! The two drivers of [`ProxyHandshake`]: over a blocking stream and over a tokio I/O object.
//! They only move its bytes, within a time limit; the proxy protocols are the handshake's.
#![forbid(unsafe_code)]

use std::time::Duration;
#[cfg(feature = "sync")]
use std::time::Instant;

#[cfg(feature = "tokio")]
use ::tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use super::{Proxy, ProxyError, ProxyHandshake};
#[cfg(feature = "sync")]
use crate::sync::Stream;
use crate::Error;

#[cfg(feature = "sync")]
/// Asks a proxy, over `stream` (already connected to it), for a tunnel to `host:port` within
/// `timeout`. On success the stream is a tunnel to the target: run `sync::client` over it (after
/// TLS for `wss://`). Reads never take bytes past the proxy's reply.
pub fn open_tunnel<S: Stream + ?Sized>(
    stream: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), Error> {
    let mut handshake = ProxyHandshake::new(proxy, host, port)?;
    let deadline = Instant::now() + timeout;
    let mut buf = [0u8; 512];
    while !handshake.is_done() {
        if let Some(bytes) = handshake.poll_transmit() {
            stream.write_all(&bytes)?;
            stream.flush()?;
            continue;
        }
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(ProxyError::Timeout.into());
        }
        stream.set_read_timeout(Some(left))?;
        let want = handshake.max_read().min(buf.len());
        if let Some(n) = crate::sync::read_some(stream, &mut buf[..want])? {
            handshake.receive_reply(&buf[..n])?;
        }
    }
    stream.set_read_timeout(None)?;
    Ok(())
}

#[cfg(feature = "tokio")]
/// Asks a proxy, over `io` (already connected to it), for a tunnel to `host:port` within
/// `timeout`. On success `io` is a tunnel to the target: run `tokio::client` over it (after TLS for
/// `wss://`). Reads never take bytes past the proxy's reply.
pub async fn open_tunnel_async<S: AsyncRead + AsyncWrite + Unpin + ?Sized>(
    io: &mut S,
    proxy: &Proxy,
    host: &str,
    port: u16,
    timeout: Duration,
) -> Result<(), Error> {
    let mut handshake = ProxyHandshake::new(proxy, host, port)?;
    let tunnel = async {
        let mut buf = [0u8; 512];
        while !handshake.is_done() {
            match handshake.poll_transmit() {
                Some(bytes) => {
                    io.write_all(&bytes).await?;
                    io.flush().await?;
                }
                None => {
                    let want = handshake.max_read().min(buf.len());
                    let n = io.read(&mut buf[..want]).await?;
                    handshake.receive_reply(&buf[..n])?;
                }
            }
        }
        Ok(())
    };
    ::tokio::time::timeout(timeout, tunnel)
        .await
        .unwrap_or(Err(ProxyError::Timeout.into()))
}
