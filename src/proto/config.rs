//! Connection settings: limits against hostile peers, timers and behaviour switches.
//!
//! Owns the defaults. Every limit has a safe default and can be changed; nothing here does work.
#![forbid(unsafe_code)]

use std::time::Duration;

#[cfg(feature = "deflate")]
use super::ext::deflate::DeflateConfig;
use super::handshake::Limits;

/// Settings of one [`Connection`](super::conn::Connection).
///
/// ```
/// use std::time::Duration;
/// use websock::Config;
/// let config = Config::default()
///     .max_message_size(1 << 20)
///     .keepalive(Some(Duration::from_secs(30)));
/// assert_eq!(config.max_message_size, 1 << 20);
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Config {
    /// Largest frame payload accepted; a larger frame fails the connection with 1009 as soon as
    /// its header arrives. Default 64 MiB. Not applied in streaming mode.
    pub max_frame_size: usize,
    /// Largest message accepted (the sum of its frames); past it the connection fails with 1009
    /// without buffering the rest. Default 64 MiB. Not applied in streaming mode.
    pub max_message_size: usize,
    /// Answer pings with pongs automatically. Default true. The pong is queued when the ping's
    /// event is taken with `poll_event` (events are parsed as they are pulled).
    pub auto_pong: bool,
    /// Hand out data as [`Event::Fragment`](super::conn::Event::Fragment)s as it arrives instead
    /// of assembling whole messages. Default false.
    pub streaming: bool,
    /// How long to wait for the peer's part of the close handshake (its close frame, and for a
    /// client the server's TCP close) before giving up. Default 5 s.
    pub close_timeout: Duration,
    /// Send a ping when nothing has arrived for this long. Default off.
    pub keepalive: Option<Duration>,
    /// Give up on the connection when nothing has arrived for this long. Default off.
    pub idle_timeout: Option<Duration>,
    /// Stop reading from the peer (adapters consult [`Connection::wants_read`]) while this many
    /// bytes wait to be written, so a peer that never reads cannot make us buffer without bound.
    /// Adapters also make a send wait above it. Default 1 MiB.
    ///
    /// [`Connection::wants_read`]: super::conn::Connection::wants_read
    pub write_buffer_high_water: usize,
    /// Size of one read from the transport. Default 8 KiB.
    pub read_size: usize,
    /// Adapters give up on an opening handshake that has not completed in this time (a client
    /// that trickles its request byte by byte is dropped). Default 10 s.
    pub handshake_timeout: Duration,
    /// Limits on the opening handshake's head.
    pub handshake_limits: Limits,
    /// permessage-deflate: whether to offer (client) or accept (server) it, and on what terms.
    /// Off by default.
    #[cfg(feature = "deflate")]
    pub deflate: DeflateConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            max_frame_size: 64 << 20,
            max_message_size: 64 << 20,
            auto_pong: true,
            streaming: false,
            close_timeout: Duration::from_secs(5),
            keepalive: None,
            idle_timeout: None,
            write_buffer_high_water: 1 << 20,
            read_size: 8 << 10,
            handshake_timeout: Duration::from_secs(10),
            handshake_limits: Limits::default(),
            #[cfg(feature = "deflate")]
            deflate: DeflateConfig::default(),
        }
    }
}

#[cfg(feature = "deflate")]
impl Config {
    /// Sets [`Config::deflate`].
    pub fn deflate(mut self, value: DeflateConfig) -> Self {
        self.deflate = value;
        self
    }
}

/// Chained setters for a settings struct's public fields.
macro_rules! setters {
    ($target:ty { $($(#[$doc:meta])* $name:ident: $ty:ty),* $(,)? }) => {
        impl $target {
            $(
                $(#[$doc])*
                pub fn $name(mut self, value: $ty) -> Self {
                    self.$name = value;
                    self
                }
            )*
        }
    };
}

setters! { Config {
    /// Sets [`Config::max_frame_size`].
    max_frame_size: usize,
    /// Sets [`Config::max_message_size`].
    max_message_size: usize,
    /// Sets [`Config::auto_pong`].
    auto_pong: bool,
    /// Sets [`Config::streaming`].
    streaming: bool,
    /// Sets [`Config::close_timeout`].
    close_timeout: Duration,
    /// Sets [`Config::keepalive`].
    keepalive: Option<Duration>,
    /// Sets [`Config::idle_timeout`].
    idle_timeout: Option<Duration>,
    /// Sets [`Config::write_buffer_high_water`].
    write_buffer_high_water: usize,
    /// Sets [`Config::read_size`].
    read_size: usize,
    /// Sets [`Config::handshake_timeout`].
    handshake_timeout: Duration,
    /// Sets [`Config::handshake_limits`].
    handshake_limits: Limits,
} }

#[cfg(feature = "deflate")]
pub(crate) use setters;
