//! Client connections through a proxy: HTTP `CONNECT` tunnels and SOCKS5 ([RFC 1928], with
//! username/password authentication, [RFC 1929]).
//!
//! This module is sans-IO like [`proto`](crate::proto): [`ProxyHandshake`] builds the bytes to
//! send (a `CONNECT host:port HTTP/1.1` request, or a SOCKS5 greeting, authentication and
//! connect request) and parses the proxy's replies incrementally, telling its driver how many
//! bytes it may read next so that nothing past the proxy's reply is ever consumed. Once it is
//! done, the stream is a tunnel to the target and the WebSocket handshake (and TLS for `wss://`)
//! runs over it. Two small drivers run it over a stream: `open_tunnel` (blocking) and
//! `open_tunnel_async` (tokio); the adapters' `connect_with` uses them for the [`ProxyChoice`]
//! of its [`Connect`](crate::Connect) options.
//!
//! # Where the proxy comes from
//!
//! [`Proxy::parse`] reads a proxy URL: `http://[user:password@]host[:port]` for an HTTP proxy,
//! `socks5://` or `socks5h://` for SOCKS5. As in curl, a URL without a scheme is an HTTP proxy,
//! the port defaults to 1080, and user name and password are percent-decoded (`%40` for `@`,
//! `%3A` for `:`). Both SOCKS5 schemes hand the host *name* to the proxy (address type 3) so the
//! proxy resolves it and nothing leaks to the local resolver; IP literals are sent as addresses.
//! `https://` proxies (TLS to the proxy) and SOCKS4 are not supported.
//!
//! [`Proxy::from_env`] reads the environment the way curl does:
//!
//! 1. `no_proxy` (or, when that is unset, `NO_PROXY`): a comma- or space-separated list of hosts
//!    that are reached directly; see [`no_proxy_matches`].
//! 2. For `ws://`: `ws_proxy`, `WS_PROXY`, then `http_proxy`. The upper-case `HTTP_PROXY` is
//!    deliberately **not** read: in CGI-like environments it can be set by a request's `Proxy:`
//!    header ("httpoxy"), and curl ignores it for that reason.
//! 3. For `wss://`: `wss_proxy`, `WSS_PROXY`, then `https_proxy`, `HTTPS_PROXY`.
//! 4. Then `all_proxy`, `ALL_PROXY`.
//!
//! A lower-case variable wins over its upper-case twin. The first variable that is set decides,
//! and as in curl a variable that is set but empty means "no proxy". Unlike curl, loopback
//! targets (`localhost`, `*.localhost`, `127.0.0.0/8`, `::1`) are always reached directly when
//! the proxy comes from the environment (as in Go's `net/http`): a proxy cannot reach this
//! machine's loopback, so tunnelling there is never what was meant.
//!
//! ```
//! use websock::proxy::{Proxy, ProxyKind};
//! let proxy = Proxy::parse("socks5h://alice:s%3Acret@proxy.example:1081").unwrap();
//! assert_eq!(proxy.kind(), ProxyKind::Socks5);
//! assert_eq!((proxy.host(), proxy.port()), ("proxy.example", 1081));
//! assert_eq!(proxy.credentials(), Some(("alice", "s:cret")));
//!
//! let env = |name: &str| match name {
//!     "https_proxy" => Some("http://proxy.corp:3128".to_string()),
//!     "no_proxy" => Some(".internal,10.0.0.0/8".to_string()),
//!     _ => None,
//! };
//! let proxy = Proxy::from_vars("wss://example.com/", env).unwrap().unwrap();
//! assert_eq!((proxy.host(), proxy.port()), ("proxy.corp", 3128));
//! assert_eq!(Proxy::from_vars("wss://db.internal/", env).unwrap(), None);
//! assert_eq!(Proxy::from_vars("ws://example.com/", env).unwrap(), None); // no http_proxy
//! ```
//!
//! [RFC 1928]: https://www.rfc-editor.org/rfc/rfc1928
//! [RFC 1929]: https://www.rfc-editor.org/rfc/rfc1929
#![forbid(unsafe_code)]

mod env;
mod http;
mod socks5;
#[cfg(any(feature = "sync", feature = "tokio"))]
mod tunnel;

use std::fmt;

pub use env::no_proxy_matches;
#[cfg(feature = "sync")]
pub use tunnel::open_tunnel;
#[cfg(feature = "tokio")]
pub use tunnel::open_tunnel_async;

use crate::proto::handshake::client::Uri;

/// The port a proxy URL without one gets (curl's default).
pub const DEFAULT_PORT: u16 = 1080;

/// The largest reply head accepted from a proxy (an HTTP proxy's status line and headers).
pub const MAX_REPLY_HEAD: usize = 16 * 1024;

/// The protocol a proxy speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProxyKind {
    /// An HTTP proxy, asked for a tunnel with `CONNECT host:port HTTP/1.1`.
    Http,
    /// A SOCKS5 proxy (RFC 1928), asked to connect to a host name it resolves itself.
    Socks5,
}

/// A proxy to reach WebSocket servers through: its protocol, address and optional credentials.
///
/// The `Debug` output does not show the password.
#[derive(Clone, PartialEq, Eq)]
pub struct Proxy {
    kind: ProxyKind,
    host: String,
    port: u16,
    credentials: Option<(String, String)>,
}

impl fmt::Debug for Proxy {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Proxy")
            .field("kind", &self.kind)
            .field("host", &self.host)
            .field("port", &self.port)
            .field("username", &self.credentials.as_ref().map(|(u, _)| u))
            .field("password", &self.credentials.as_ref().map(|_| "<redacted>"))
            .finish()
    }
}

impl Proxy {
    /// An HTTP proxy from `http://[user:password@]host[:port]` (the scheme may be left out).
    pub fn http(url: &str) -> Result<Proxy, ProxyError> {
        parse(url, ProxyKind::Http, Some(ProxyKind::Http))
    }

    /// A SOCKS5 proxy from `socks5://[user:password@]host[:port]` or `socks5h://...` (the
    /// scheme may be left out).
    pub fn socks5(url: &str) -> Result<Proxy, ProxyError> {
        parse(url, ProxyKind::Socks5, Some(ProxyKind::Socks5))
    }

    /// A proxy of the kind its URL's scheme names: `http://`, `socks5://` or `socks5h://`; no
    /// scheme means HTTP. The port defaults to [`DEFAULT_PORT`]; user name and password are
    /// percent-decoded. Anything after the authority (a path) is ignored.
    pub fn parse(url: &str) -> Result<Proxy, ProxyError> {
        parse(url, ProxyKind::Http, None)
    }

    /// The same proxy with these credentials (HTTP basic authentication, or SOCKS5
    /// username/password authentication).
    pub fn with_credentials(
        mut self,
        user: impl Into<String>,
        password: impl Into<String>,
    ) -> Self {
        self.credentials = Some((user.into(), password.into()));
        self
    }

    /// The protocol.
    pub fn kind(&self) -> ProxyKind {
        self.kind
    }

    /// The proxy's host name or IP address (IPv6 without brackets).
    pub fn host(&self) -> &str {
        &self.host
    }

    /// The proxy's port.
    pub fn port(&self) -> u16 {
        self.port
    }

    /// User name and password, if any.
    pub fn credentials(&self) -> Option<(&str, &str)> {
        self.credentials
            .as_ref()
            .map(|(u, p)| (u.as_str(), p.as_str()))
    }

    /// The proxy the process environment names for `target_url` (a `ws://` or `wss://` URL),
    /// read as curl reads it (see the [module docs](self)). `Ok(None)`: connect directly. An
    /// unusable proxy variable is an error rather than a silent direct connection.
    pub fn from_env(target_url: &str) -> Result<Option<Proxy>, ProxyError> {
        Proxy::from_vars(target_url, |name| std::env::var(name).ok())
    }

    /// [`Proxy::from_env`] with the variables looked up by `vars` instead of in the process
    /// environment (for tests, or a configuration of your own).
    pub fn from_vars(
        target_url: &str,
        vars: impl Fn(&str) -> Option<String>,
    ) -> Result<Option<Proxy>, ProxyError> {
        let uri = Uri::parse(target_url)
            .map_err(|_| ProxyError::Unusable("the target is not a valid ws:// or wss:// URL"))?;
        env::from_vars(&uri, &vars)
    }
}

/// Which proxy a connection uses.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub enum ProxyChoice {
    /// Connect directly, whatever the environment says.
    Direct,
    /// The proxy the environment names, as [`Proxy::from_env`] reads it (the default, and what
    /// the adapters' plain `connect` functions do).
    #[default]
    FromEnv,
    /// This proxy, for every target (the environment's `no_proxy` is not consulted).
    Explicit(Proxy),
}

impl From<Proxy> for ProxyChoice {
    fn from(proxy: Proxy) -> Self {
        ProxyChoice::Explicit(proxy)
    }
}

impl ProxyChoice {
    /// The proxy to use for `uri`, if any.
    pub fn resolve(&self, uri: &Uri) -> Result<Option<Proxy>, ProxyError> {
        match self {
            ProxyChoice::Direct => Ok(None),
            ProxyChoice::FromEnv => env::from_vars(uri, &|name| std::env::var(name).ok()),
            ProxyChoice::Explicit(proxy) => Ok(Some(proxy.clone())),
        }
    }
}

/// Why a proxy could not be used or did not open a tunnel.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProxyError {
    /// The proxy URL's scheme is not `http`, `socks5` or `socks5h` (or not the one asked for).
    UnsupportedScheme(String),
    /// The proxy URL is malformed.
    InvalidUrl(&'static str),
    /// The target or the credentials cannot be put in the proxy's protocol (for example a host
    /// name or credential longer than SOCKS5's 255 bytes, or control characters in a host).
    Unusable(&'static str),
    /// The HTTP proxy answered `CONNECT` with a status other than 2xx (407: credentials missing
    /// or wrong; 403: not allowed).
    Refused {
        /// The HTTP status code.
        status: u16,
    },
    /// The SOCKS5 proxy refused the connection with this reply code (RFC 1928 6: 1 general
    /// failure, 2 not allowed by ruleset, 3 network unreachable, 4 host unreachable, 5
    /// connection refused, 6 TTL expired, 7 command not supported, 8 address type not
    /// supported).
    Socks5(u8),
    /// The SOCKS5 proxy rejected the user name and password.
    AuthRejected,
    /// The SOCKS5 proxy accepts none of the authentication methods offered (typically: it wants
    /// credentials and none were given).
    NoAcceptableAuth,
    /// The proxy's reply broke its protocol.
    BadReply(&'static str),
    /// The proxy's reply head was larger than [`MAX_REPLY_HEAD`].
    ReplyTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// The proxy closed the connection before its reply was complete.
    UnexpectedEof,
    /// The proxy did not complete its reply within the handshake timeout.
    Timeout,
}

impl fmt::Display for ProxyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ProxyError::UnsupportedScheme(s) => write!(
                f,
                "unsupported proxy scheme {s:?} (http, socks5 and socks5h are supported)"
            ),
            ProxyError::InvalidUrl(why) => write!(f, "invalid proxy URL: {why}"),
            ProxyError::Unusable(why) => write!(f, "cannot use the proxy for this target: {why}"),
            ProxyError::Refused { status } => {
                write!(f, "the HTTP proxy refused the tunnel with status {status}")
            }
            ProxyError::Socks5(code) => write!(
                f,
                "the SOCKS5 proxy refused the connection: {} (reply {code:#04x})",
                socks5::reply_text(*code)
            ),
            ProxyError::AuthRejected => {
                f.write_str("the SOCKS5 proxy rejected the user name and password")
            }
            ProxyError::NoAcceptableAuth => {
                f.write_str("the SOCKS5 proxy accepts none of the offered authentication methods")
            }
            ProxyError::BadReply(why) => write!(f, "malformed proxy reply: {why}"),
            ProxyError::ReplyTooLarge { limit } => {
                write!(f, "the proxy's reply head exceeded {limit} bytes")
            }
            ProxyError::UnexpectedEof => {
                f.write_str("the proxy closed the connection before its reply was complete")
            }
            ProxyError::Timeout => f.write_str("the proxy did not answer within the timeout"),
        }
    }
}

impl std::error::Error for ProxyError {}

/// The client side of a proxy handshake, without I/O: send what [`poll_transmit`] gives, read
/// at most [`max_read`] bytes and hand them to [`receive`], until [`is_done`]. From then on the
/// stream is a tunnel to the target.
///
/// ```
/// use websock::proxy::{Proxy, ProxyHandshake};
/// let proxy = Proxy::http("http://127.0.0.1:3128").unwrap();
/// let mut hs = ProxyHandshake::new(&proxy, "example.com", 443).unwrap();
/// let request = hs.poll_transmit().unwrap();
/// assert!(request.starts_with(b"CONNECT example.com:443 HTTP/1.1\r\n"));
/// let reply = b"HTTP/1.1 200 Connection established\r\n\r\n";
/// let mut at = 0;
/// while !hs.is_done() {
///     let n = hs.max_read().min(reply.len() - at); // what a socket read would return
///     assert_eq!(hs.receive(&reply[at..at + n]).unwrap(), n);
///     at += n;
/// }
/// assert_eq!(at, reply.len());
/// ```
///
/// [`poll_transmit`]: ProxyHandshake::poll_transmit
/// [`max_read`]: ProxyHandshake::max_read
/// [`receive`]: ProxyHandshake::receive
/// [`is_done`]: ProxyHandshake::is_done
#[derive(Debug)]
pub struct ProxyHandshake {
    machine: Machine,
}

#[derive(Debug)]
enum Machine {
    Http(http::Connect),
    Socks5(socks5::Connect),
}

impl ProxyHandshake {
    /// Starts asking `proxy` for a tunnel to `host:port` (an IPv6 address with or without
    /// brackets).
    pub fn new(proxy: &Proxy, host: &str, port: u16) -> Result<ProxyHandshake, ProxyError> {
        let host = host
            .strip_prefix('[')
            .and_then(|h| h.strip_suffix(']'))
            .unwrap_or(host);
        if host.is_empty() {
            return Err(ProxyError::Unusable("empty target host"));
        }
        if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(ProxyError::Unusable(
                "control characters or spaces in the target host",
            ));
        }
        let credentials = proxy.credentials();
        let machine = match proxy.kind {
            ProxyKind::Http => Machine::Http(http::Connect::new(host, port, credentials)),
            ProxyKind::Socks5 => Machine::Socks5(socks5::Connect::new(host, port, credentials)?),
        };
        Ok(ProxyHandshake { machine })
    }

    /// Bytes to send to the proxy now; send them all before reading again.
    pub fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        match &mut self.machine {
            Machine::Http(m) => m.poll_transmit(),
            Machine::Socks5(m) => m.poll_transmit(),
        }
    }

    /// The most bytes the next read may take without reaching past the proxy's reply into the
    /// tunnel; 0 once done. Reading less is always fine.
    pub fn max_read(&self) -> usize {
        match &self.machine {
            Machine::Http(m) => m.max_read(),
            Machine::Socks5(m) => m.max_read(),
        }
    }

    /// Takes bytes from the proxy. Returns how many were part of its reply; any after them
    /// already belong to the tunnel (none, when reads respect [`max_read`](Self::max_read)).
    pub fn receive(&mut self, data: &[u8]) -> Result<usize, ProxyError> {
        match &mut self.machine {
            Machine::Http(m) => m.receive(data),
            Machine::Socks5(m) => m.receive(data),
        }
    }

    /// Takes bytes read within [`max_read`](Self::max_read): all of them must be reply.
    pub fn receive_reply(&mut self, data: &[u8]) -> Result<(), ProxyError> {
        if data.is_empty() {
            return Err(ProxyError::UnexpectedEof);
        }
        if self.receive(data)? < data.len() {
            return Err(ProxyError::BadReply("data after the reply"));
        }
        Ok(())
    }

    /// Whether the tunnel is open (and nothing is left to send).
    pub fn is_done(&self) -> bool {
        match &self.machine {
            Machine::Http(m) => m.is_done(),
            Machine::Socks5(m) => m.is_done(),
        }
    }
}

/// Parses a proxy URL. `default`: the kind when there is no scheme; `only`: the kind required.
fn parse(url: &str, default: ProxyKind, only: Option<ProxyKind>) -> Result<Proxy, ProxyError> {
    let (kind, rest) = match url.split_once("://") {
        Some((scheme, rest)) => {
            let kind = match scheme.to_ascii_lowercase().as_str() {
                "http" => ProxyKind::Http,
                "socks5" | "socks5h" => ProxyKind::Socks5,
                _ => return Err(ProxyError::UnsupportedScheme(scheme.to_string())),
            };
            if only.is_some_and(|k| k != kind) {
                return Err(ProxyError::UnsupportedScheme(scheme.to_string()));
            }
            (kind, rest)
        }
        None => (default, url),
    };
    let authority = &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())];
    let (userinfo, hostport) = match authority.rsplit_once('@') {
        Some((u, h)) => (Some(u), h),
        None => (None, authority),
    };
    let credentials = match userinfo {
        None | Some("") => None,
        Some(u) => {
            let (user, password) = u.split_once(':').unwrap_or((u, ""));
            Some((percent_decode(user)?, percent_decode(password)?))
        }
    };
    let (host, port) = if let Some(v6) = hostport.strip_prefix('[') {
        let (h, after) = v6
            .split_once(']')
            .ok_or(ProxyError::InvalidUrl("unclosed IPv6 bracket"))?;
        let port = match after {
            "" => None,
            p => Some(
                p.strip_prefix(':')
                    .ok_or(ProxyError::InvalidUrl("bad port"))?,
            ),
        };
        (h, port)
    } else {
        match hostport.rsplit_once(':') {
            Some((h, _)) if h.contains(':') => {
                return Err(ProxyError::InvalidUrl("IPv6 addresses need brackets"))
            }
            Some((h, p)) => (h, Some(p)),
            None => (hostport, None),
        }
    };
    if host.is_empty() {
        return Err(ProxyError::InvalidUrl("missing host"));
    }
    if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(ProxyError::InvalidUrl("invalid host"));
    }
    let port = match port {
        None => DEFAULT_PORT,
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&p| p != 0)
            .ok_or(ProxyError::InvalidUrl("bad port"))?,
    };
    Ok(Proxy {
        kind,
        host: host.to_string(),
        port,
        credentials,
    })
}

/// Decodes `%XX` escapes; the result must be UTF-8.
fn percent_decode(s: &str) -> Result<String, ProxyError> {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' {
            let hex = bytes
                .get(i + 1..i + 3)
                .and_then(|h| std::str::from_utf8(h).ok())
                .and_then(|h| u8::from_str_radix(h, 16).ok())
                .ok_or(ProxyError::InvalidUrl(
                    "bad percent-encoding in credentials",
                ))?;
            out.push(hex);
            i += 3;
        } else {
            out.push(bytes[i]);
            i += 1;
        }
    }
    String::from_utf8(out).map_err(|_| ProxyError::InvalidUrl("credentials are not UTF-8"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn p(kind: ProxyKind, host: &str, port: u16, creds: Option<(&str, &str)>) -> Proxy {
        Proxy {
            kind,
            host: host.to_string(),
            port,
            credentials: creds.map(|(u, p)| (u.to_string(), p.to_string())),
        }
    }

    #[test]
    fn parse_table() {
        use ProxyKind::*;
        let cases: &[(&str, Result<Proxy, ProxyError>)] = &[
            ("http://proxy:3128", Ok(p(Http, "proxy", 3128, None))),
            ("HTTP://proxy:3128/", Ok(p(Http, "proxy", 3128, None))),
            ("proxy:3128", Ok(p(Http, "proxy", 3128, None))),
            ("proxy", Ok(p(Http, "proxy", DEFAULT_PORT, None))),
            ("http://proxy", Ok(p(Http, "proxy", 1080, None))),
            ("socks5://h:1", Ok(p(Socks5, "h", 1, None))),
            ("socks5h://h", Ok(p(Socks5, "h", 1080, None))),
            (
                "http://u:p@proxy:8080",
                Ok(p(Http, "proxy", 8080, Some(("u", "p")))),
            ),
            (
                "http://u@proxy",
                Ok(p(Http, "proxy", 1080, Some(("u", "")))),
            ),
            ("http://@proxy", Ok(p(Http, "proxy", 1080, None))),
            (
                "socks5://a%40b:p%3Aw%25@h:9",
                Ok(p(Socks5, "h", 9, Some(("a@b", "p:w%")))),
            ),
            ("http://u:p@w@h:9", Ok(p(Http, "h", 9, Some(("u", "p@w"))))),
            ("http://[::1]:8080", Ok(p(Http, "::1", 8080, None))),
            ("http://[::1]", Ok(p(Http, "::1", 1080, None))),
            (
                "http://[::1",
                Err(ProxyError::InvalidUrl("unclosed IPv6 bracket")),
            ),
            ("http://[::1]x", Err(ProxyError::InvalidUrl("bad port"))),
            ("http://h:", Err(ProxyError::InvalidUrl("bad port"))),
            ("http://h:0", Err(ProxyError::InvalidUrl("bad port"))),
            ("http://h:65536", Err(ProxyError::InvalidUrl("bad port"))),
            ("http://:80", Err(ProxyError::InvalidUrl("missing host"))),
            (
                "http://::1:80",
                Err(ProxyError::InvalidUrl("IPv6 addresses need brackets")),
            ),
            ("http://", Err(ProxyError::InvalidUrl("missing host"))),
            ("http://a b:1", Err(ProxyError::InvalidUrl("invalid host"))),
            (
                "http://u:%zz@h",
                Err(ProxyError::InvalidUrl(
                    "bad percent-encoding in credentials",
                )),
            ),
            (
                "http://u:%ff@h",
                Err(ProxyError::InvalidUrl("credentials are not UTF-8")),
            ),
            (
                "https://h:1",
                Err(ProxyError::UnsupportedScheme("https".into())),
            ),
            (
                "socks4://h:1",
                Err(ProxyError::UnsupportedScheme("socks4".into())),
            ),
        ];
        for (url, want) in cases {
            assert_eq!(&Proxy::parse(url), want, "{url}");
        }
    }

    #[test]
    fn kind_specific_constructors() {
        assert_eq!(Proxy::http("h:1").unwrap().kind(), ProxyKind::Http);
        assert_eq!(Proxy::socks5("h:1").unwrap().kind(), ProxyKind::Socks5);
        assert_eq!(
            Proxy::socks5("socks5h://h:1").unwrap().kind(),
            ProxyKind::Socks5
        );
        assert_eq!(
            Proxy::http("socks5://h:1"),
            Err(ProxyError::UnsupportedScheme("socks5".into()))
        );
        assert_eq!(
            Proxy::socks5("http://h:1"),
            Err(ProxyError::UnsupportedScheme("http".into()))
        );
        let p = Proxy::http("h:1").unwrap().with_credentials("u", "pw");
        assert_eq!(p.credentials(), Some(("u", "pw")));
    }

    #[test]
    fn debug_hides_the_password() {
        let p = Proxy::parse("http://alice:hunter2@h:1").unwrap();
        let s = format!("{p:?}");
        assert!(s.contains("alice") && !s.contains("hunter2"), "{s}");
    }

    #[test]
    fn handshake_rejects_bad_targets() {
        let proxy = Proxy::http("h:1").unwrap();
        for host in ["", "[]", "a b", "a\r\nX: y"] {
            assert!(
                matches!(
                    ProxyHandshake::new(&proxy, host, 80),
                    Err(ProxyError::Unusable(_))
                ),
                "{host:?}"
            );
        }
    }

    #[test]
    fn choice_resolves() {
        let uri = Uri::parse("ws://example.com/").unwrap();
        let proxy = Proxy::http("h:1").unwrap();
        assert_eq!(ProxyChoice::Direct.resolve(&uri), Ok(None));
        assert_eq!(
            ProxyChoice::from(proxy.clone()).resolve(&uri),
            Ok(Some(proxy))
        );
        assert_eq!(ProxyChoice::default(), ProxyChoice::FromEnv);
    }

    #[test]
    fn errors_display() {
        assert_eq!(
            ProxyError::Refused { status: 407 }.to_string(),
            "the HTTP proxy refused the tunnel with status 407"
        );
        assert_eq!(
            ProxyError::Socks5(5).to_string(),
            "the SOCKS5 proxy refused the connection: connection refused (reply 0x05)"
        );
    }
}
