//! Connection settings: limits against hostile peers, timers and behaviour switches.
//!
//! Owns the defaults. Every limit has a safe default and can be changed; nothing here does work.
#![forbid(unsafe_code)]

use core::time::Duration;

use super::handshake::Limits;

/// Settings of one [`Connection`](crate::Connection).
///
/// ```
/// use core::time::Duration;
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
    /// its header arrives. Default 16 MiB. A frame of a compressed message may be larger on the
    /// wire by what deflate adds to incompressible data (up to 1/16 and 1 KiB more). Not applied in
    /// streaming mode.
    pub max_frame_size: usize,
    /// Largest message accepted (the sum of its frames, after decompression); past it the
    /// connection fails with 1009 without buffering the rest. Default 16 MiB: with
    /// permessage-deflate a few KiB on the wire can make a message this large, so it is the
    /// memory one peer can pin while its message is assembled. Not applied in streaming mode.
    pub max_message_size: usize,
    /// Most frames one message may come in; past it the connection fails with 1009. Frames are
    /// appended into one buffer, so a fragment costs no memory of its own, but a flood of
    /// empty continuations would otherwise keep a message open for ever. Default 131,072 (a
    /// 4 MiB message in 64-byte fragments, as Autobahn 9.3.1 sends, is 65,536). Not applied in
    /// streaming mode.
    pub max_fragments: usize,
    /// Answer pings with pongs automatically. Default true. The pong is queued when the ping's
    /// event is taken with `poll_event` (events are parsed as they are pulled).
    pub auto_pong: bool,
    /// Hand out data as [`Event::Fragment`](crate::Event::Fragment)s as it arrives instead
    /// of assembling whole messages. Default false.
    pub streaming: bool,
    /// How long to wait for the peer's part of the close handshake (its close frame, and for a
    /// client the server's TCP close) before giving up. Default 5 s.
    pub close_timeout: Duration,
    /// Send a ping when no whole frame has arrived for this long. Bytes of an unfinished frame
    /// do not count, so a peer that trickles one frame is asked too. Default 20 s.
    pub keepalive: Option<Duration>,
    /// After a keepalive ping, give up on the connection ([`Timeout::Keepalive`]) if no whole
    /// frame (the pong, or anything else) arrives within this, nor 64 KiB of an unfinished one
    /// (a large upload on a slow link, whose pong waits behind it, is not cut). The ping waits
    /// behind whatever output is queued before it. Default 20 s: a peer that went away, or
    /// trickles one frame, is dropped within 40 s.
    ///
    /// [`Timeout::Keepalive`]: crate::Timeout::Keepalive
    pub keepalive_timeout: Option<Duration>,
    /// Give up on the connection when nothing at all has arrived for this long. Default off
    /// (keepalive covers a silent peer).
    pub idle_timeout: Option<Duration>,
    /// Give up on the connection ([`Timeout::Write`]) when output has waited this long without
    /// a single byte being written: the peer stopped reading. The queued output is dropped, so
    /// what a non-reading peer costs is released. Default 30 s.
    ///
    /// [`Timeout::Write`]: crate::Timeout::Write
    pub write_timeout: Option<Duration>,
    /// Stop reading from the peer (adapters consult [`Connection::wants_read`]) while this many
    /// bytes wait to be written, so a peer that never reads cannot make us buffer without bound.
    /// Adapters also make a send wait above it. Default 1 MiB.
    ///
    /// [`Connection::wants_read`]: crate::Connection::wants_read
    pub write_buffer_high_water: usize,
    /// Size of one read from the transport. Default 8 KiB.
    pub read_size: usize,
    /// The work one call may do before it returns so that other connections get their turn:
    /// bytes of output inflated per [`Connection::poll_event`], bytes compressed per step of a
    /// large outgoing message, and (in an async adapter) bytes read per poll before the task
    /// yields. Default 256 KiB (well under a millisecond of work).
    ///
    /// [`Connection::poll_event`]: crate::Connection::poll_event
    pub poll_budget: usize,
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
            max_frame_size: 16 << 20,
            max_message_size: 16 << 20,
            max_fragments: 1 << 17,
            auto_pong: true,
            streaming: false,
            close_timeout: Duration::from_secs(5),
            keepalive: Some(Duration::from_secs(20)),
            keepalive_timeout: Some(Duration::from_secs(20)),
            idle_timeout: None,
            write_timeout: Some(Duration::from_secs(30)),
            write_buffer_high_water: 1 << 20,
            read_size: 8 << 10,
            poll_budget: 256 << 10,
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
    /// Sets [`Config::max_fragments`].
    max_fragments: usize,
    /// Sets [`Config::auto_pong`].
    auto_pong: bool,
    /// Sets [`Config::streaming`].
    streaming: bool,
    /// Sets [`Config::close_timeout`].
    close_timeout: Duration,
    /// Sets [`Config::keepalive`].
    keepalive: Option<Duration>,
    /// Sets [`Config::keepalive_timeout`].
    keepalive_timeout: Option<Duration>,
    /// Sets [`Config::idle_timeout`].
    idle_timeout: Option<Duration>,
    /// Sets [`Config::write_timeout`].
    write_timeout: Option<Duration>,
    /// Sets [`Config::write_buffer_high_water`].
    write_buffer_high_water: usize,
    /// Sets [`Config::read_size`].
    read_size: usize,
    /// Sets [`Config::poll_budget`].
    poll_budget: usize,
    /// Sets [`Config::handshake_timeout`].
    handshake_timeout: Duration,
    /// Sets [`Config::handshake_limits`].
    handshake_limits: Limits,
} }

/// What a side is willing to use and agree to. Part of [`Config`]; negotiation and
/// compression live in [`ext::deflate`](super::ext::deflate).
#[cfg(feature = "deflate")]
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub struct DeflateConfig {
    /// Offer (client) or accept (server) permessage-deflate. Default false.
    pub enabled: bool,
    /// Compression level, 0-9. Default 6.
    pub level: u32,
    /// Messages shorter than this go out uncompressed (RSV1 clear). Default 64 bytes.
    pub threshold: usize,
    /// Client: ask the server to reset its compressor after each message. Server: do so even
    /// if not asked (and say so). Default false.
    pub server_no_context_takeover: bool,
    /// Client: reset our compressor after each message (and say so). Server: ask the client to.
    /// Default false.
    pub client_no_context_takeover: bool,
    /// The server's window, 8-15. Client: request it when below 15. Server: the largest window
    /// we compress with. Default 15.
    pub server_max_window_bits: u8,
    /// The client's window, 8-15. Client: the largest window we compress with. Server: ask the
    /// client for it when below 15 (if the client allows it). Default 15.
    pub client_max_window_bits: u8,
}

#[cfg(feature = "deflate")]
impl Default for DeflateConfig {
    fn default() -> Self {
        DeflateConfig {
            enabled: false,
            level: 6,
            threshold: 64,
            server_no_context_takeover: false,
            client_no_context_takeover: false,
            server_max_window_bits: 15,
            client_max_window_bits: 15,
        }
    }
}

#[cfg(feature = "deflate")]
setters! { DeflateConfig {
    /// Sets [`DeflateConfig::level`].
    level: u32,
    /// Sets [`DeflateConfig::threshold`].
    threshold: usize,
    /// Sets [`DeflateConfig::server_no_context_takeover`].
    server_no_context_takeover: bool,
    /// Sets [`DeflateConfig::client_no_context_takeover`].
    client_no_context_takeover: bool,
    /// Sets [`DeflateConfig::server_max_window_bits`].
    server_max_window_bits: u8,
    /// Sets [`DeflateConfig::client_max_window_bits`].
    client_max_window_bits: u8,
} }

#[cfg(feature = "deflate")]
impl DeflateConfig {
    /// Enabled with defaults.
    pub fn enabled() -> Self {
        DeflateConfig {
            enabled: true,
            ..Self::default()
        }
    }
}
