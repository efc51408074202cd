//! The server side of the opening handshake: parse a request, judge it against RFC 6455 4.2.1,
//! and build the 101 answer (or a rejection).
//!
//! Owns the request rules: GET, HTTP/1.1, Host, `Upgrade: websocket`, `Connection: Upgrade`,
//! a `Sec-WebSocket-Key` that is base64 of 16 bytes, and `Sec-WebSocket-Version: 13`; and for
//! a WebSocket over HTTP/2 (RFC 8441), the extended CONNECT's: `:method CONNECT`,
//! `:protocol websocket`, an authority, `Sec-WebSocket-Version: 13`, no key, and `200` as the
//! answer. What to
//! accept (subprotocol, extra headers) is the user's choice, made through [`Accept`]. Turning an
//! accepted request into a connection (extension negotiation) is the connection's
//! (`proto::connection::answer`); this module never sees frames or settings.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use base64::Engine as _;

use super::header::{self, ExtensionOffer, Headers};
use super::{collect_headers, httparse_error, HeadScanner, Limits, Response};
use crate::proto::error::HandshakeError;

/// A parsed HTTP request head.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    method: String,
    target: String,
    version: u8,
    headers: Headers,
    /// The `:protocol` pseudo-header of an extended CONNECT (RFC 8441); `None` on HTTP/1.1.
    protocol: Option<String>,
}

/// Parses request heads incrementally: call [`parse`](Self::parse) with the whole buffer each
/// time more bytes arrive. Only the new bytes are scanned, so a head fed one byte at a time
/// costs linear time in total.
#[derive(Debug, Clone, Default)]
pub struct RequestParser {
    scanner: HeadScanner,
    limits: Limits,
}

impl RequestParser {
    /// A parser with these limits.
    pub fn new(limits: Limits) -> Self {
        RequestParser {
            scanner: HeadScanner::default(),
            limits,
        }
    }

    /// `Ok(None)` while the head is incomplete; then the request and the head's length. Bytes
    /// past that length belong to the WebSocket connection.
    pub fn parse(&mut self, buf: &[u8]) -> Result<Option<(Request, usize)>, HandshakeError> {
        let Some(end) = self.scanner.find_end(buf, self.limits.max_head_size)? else {
            return Ok(None);
        };
        let mut raw = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let mut req = httparse::Request::new(&mut raw);
        match req.parse(&buf[..end]).map_err(httparse_error)? {
            httparse::Status::Complete(n) if n == end => {}
            _ => return Err(HandshakeError::Malformed("incomplete head")),
        }
        let request = Request {
            method: req.method.unwrap_or_default().to_string(),
            target: req.path.unwrap_or_default().to_string(),
            version: req.version.unwrap_or(0),
            headers: collect_headers(req.headers),
            protocol: None,
        };
        Ok(Some((request, end)))
    }
}

impl Request {
    /// A request from its parts (for requests parsed elsewhere).
    pub fn from_parts(method: String, target: String, version: u8, headers: Headers) -> Request {
        Request {
            method,
            target,
            version,
            headers,
            protocol: None,
        }
    }

    /// An extended CONNECT request (RFC 8441 on HTTP/2, RFC 9220 on HTTP/3: `version` 2 or 3),
    /// from the HTTP/2 layer's pseudo-headers: `:method` (CONNECT for a WebSocket), `:protocol`,
    /// `:path` as `target`, and `:authority`, which stands in for `Host` (added as a `Host`
    /// header when the request has none, so [`host`](Self::host) works on either protocol).
    ///
    /// ```
    /// use websock::proto::handshake::server::{accept, Accept, Request};
    /// use websock::proto::handshake::Headers;
    ///
    /// let mut headers = Headers::new();
    /// headers.push("sec-websocket-version", b"13");
    /// headers.push("sec-websocket-protocol", b"chat");
    /// let req = Request::extended_connect("CONNECT", "websocket", "/chat", Some("example.com"), 2, headers);
    /// assert!(req.is_extended_connect() && req.is_upgrade());
    /// let resp = accept(&req, &Accept::new().protocol("chat")).unwrap();
    /// assert_eq!(resp.status, 200); // not 101, and no Sec-WebSocket-Accept
    /// assert_eq!(resp.header("Sec-WebSocket-Accept"), None);
    /// ```
    pub fn extended_connect(
        method: impl Into<String>,
        protocol: impl Into<String>,
        target: impl Into<String>,
        authority: Option<&str>,
        version: u8,
        mut headers: Headers,
    ) -> Request {
        if let Some(authority) = authority {
            if headers.count("Host") == 0 {
                headers.push("Host", authority.as_bytes());
            }
        }
        Request {
            method: method.into(),
            target: target.into(),
            version,
            headers,
            protocol: Some(protocol.into()),
        }
    }

    /// Whether this is an extended CONNECT (a WebSocket over HTTP/2 or HTTP/3).
    pub fn is_extended_connect(&self) -> bool {
        self.protocol.is_some()
    }

    /// The `:protocol` of an extended CONNECT.
    pub fn connect_protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The HTTP version: 0 for HTTP/1.0, 1 for HTTP/1.1, 2 and 3.
    pub fn version(&self) -> u8 {
        self.version
    }

    /// Parses a request head from `buf` with default limits. For bytes that arrive in pieces,
    /// keep a [`RequestParser`] instead (this one rescans from the start on every call).
    pub fn parse(buf: &[u8]) -> Result<Option<(Request, usize)>, HandshakeError> {
        RequestParser::default().parse(buf)
    }

    /// The method, e.g. `GET`.
    pub fn method(&self) -> &str {
        &self.method
    }

    /// The request target as sent: path and query.
    pub fn target(&self) -> &str {
        &self.target
    }

    /// The path (the target before `?`).
    pub fn path(&self) -> &str {
        self.target.split('?').next().unwrap_or("")
    }

    /// The query (after `?`), if any.
    pub fn query(&self) -> Option<&str> {
        self.target.split_once('?').map(|(_, q)| q)
    }

    /// The header fields.
    pub fn headers(&self) -> &Headers {
        &self.headers
    }

    /// The first value of a header field, if it is UTF-8.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get_str(name)
    }

    /// The `Host` header.
    pub fn host(&self) -> Option<&str> {
        self.header("Host")
    }

    /// The `Origin` header (browsers send it; check it against your allow-list).
    pub fn origin(&self) -> Option<&str> {
        self.header("Origin")
    }

    /// The `Sec-WebSocket-Key` header.
    pub fn key(&self) -> Option<&str> {
        self.header("Sec-WebSocket-Key")
    }

    /// The subprotocols the client offered, in its order of preference.
    pub fn protocols(&self) -> Vec<&str> {
        self.headers.list("Sec-WebSocket-Protocol").collect()
    }

    /// The extensions the client offered, in its order of preference.
    pub fn extensions(&self) -> Result<Vec<ExtensionOffer>, HandshakeError> {
        header::parse_extensions(
            self.headers
                .get_all("Sec-WebSocket-Extensions")
                .filter_map(|v| core::str::from_utf8(v).ok()),
        )
    }

    /// Whether this asks for an upgrade at all (has an `Upgrade` header). A request without one
    /// is plain HTTP that a server may answer some other way.
    pub fn is_upgrade(&self) -> bool {
        self.is_extended_connect() || self.headers.get("Upgrade").is_some()
    }

    /// Checks the request against RFC 6455 4.2.1, or an extended CONNECT against RFC 8441 4
    /// and 5. The error's status is what to answer.
    pub fn validate(&self) -> Result<(), HandshakeError> {
        if let Some(protocol) = &self.protocol {
            if self.method != "CONNECT" {
                return Err(HandshakeError::Malformed(
                    ":protocol on a method other than CONNECT",
                ));
            }
            if self.version < 2 {
                return Err(HandshakeError::Malformed("extended CONNECT below HTTP/2"));
            }
            if !protocol.eq_ignore_ascii_case("websocket") {
                return Err(HandshakeError::ConnectProtocolNotWebSocket);
            }
            if self.headers.count("Host") != 1 {
                return Err(HandshakeError::MissingHost);
            }
            return self.validate_version();
        }
        if self.method != "GET" {
            return Err(HandshakeError::MethodNotGet);
        }
        if self.version != 1 {
            return Err(HandshakeError::NotHttp11);
        }
        if self.headers.count("Host") != 1 {
            return Err(HandshakeError::MissingHost);
        }
        if !self.is_upgrade() {
            return Err(HandshakeError::NotUpgrade);
        }
        if !self.headers.has_token("Upgrade", "websocket") {
            return Err(HandshakeError::UpgradeNotWebSocket);
        }
        if !self.headers.has_token("Connection", "upgrade") {
            return Err(HandshakeError::ConnectionNotUpgrade);
        }
        self.validate_version()?;
        if self.headers.count("Sec-WebSocket-Key") != 1 {
            return Err(HandshakeError::MissingKey);
        }
        let key = self.headers.get("Sec-WebSocket-Key").unwrap_or_default();
        let key = trim_ows(key);
        match base64::engine::general_purpose::STANDARD.decode(key) {
            Ok(raw) if raw.len() == 16 => Ok(()),
            _ => Err(HandshakeError::InvalidKey),
        }
    }
}

impl Request {
    fn validate_version(&self) -> Result<(), HandshakeError> {
        let versions: Vec<&str> = self.headers.list("Sec-WebSocket-Version").collect();
        match versions.as_slice() {
            [] => Err(HandshakeError::MissingVersion),
            ["13"] => Ok(()),
            _ => Err(HandshakeError::UnsupportedVersion),
        }
    }
}

fn trim_ows(v: &[u8]) -> &[u8] {
    let start = v
        .iter()
        .position(|b| !matches!(b, b' ' | b'\t'))
        .unwrap_or(v.len());
    let end = v
        .iter()
        .rposition(|b| !matches!(b, b' ' | b'\t'))
        .map_or(start, |i| i + 1);
    &v[start..end]
}

/// What the server agrees to when it accepts a request.
#[derive(Debug, Clone, Default)]
pub struct Accept {
    /// The subprotocol chosen from those the client offered.
    pub protocol: Option<String>,
    /// The `Sec-WebSocket-Extensions` value agreed (set by the extension negotiation).
    pub extensions: Option<String>,
    /// Extra header fields, e.g. `Set-Cookie`.
    pub headers: Vec<(String, String)>,
}

impl Accept {
    /// Accept with no subprotocol, extension or extra header.
    pub fn new() -> Self {
        Self::default()
    }

    /// Selects a subprotocol (it must be one the client offered).
    pub fn protocol(mut self, p: impl Into<String>) -> Self {
        self.protocol = Some(p.into());
        self
    }

    /// Adds a header field to the 101 response.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }
}

/// Judges `req` and builds the 101 response. On error, answer with
/// [`HandshakeError::to_response`].
///
/// ```
/// use websock::proto::handshake::server::{accept, Accept, Request};
/// let raw = b"GET /chat HTTP/1.1\r\nHost: server.example.com\r\nUpgrade: websocket\r\n\
///     Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
///     Sec-WebSocket-Protocol: chat, superchat\r\nSec-WebSocket-Version: 13\r\n\r\n";
/// let (req, len) = Request::parse(raw).unwrap().unwrap();
/// assert_eq!(len, raw.len());
/// assert_eq!(req.protocols(), ["chat", "superchat"]);
/// let resp = accept(&req, &Accept::new().protocol("chat")).unwrap();
/// assert_eq!(resp.header("Sec-WebSocket-Accept"), Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo="));
/// assert_eq!(resp.header("Sec-WebSocket-Protocol"), Some("chat"));
/// ```
pub fn accept(req: &Request, opts: &Accept) -> Result<Response, HandshakeError> {
    req.validate()?;
    let mut resp = if req.is_extended_connect() {
        // RFC 8441 5: a 2xx ends the handshake; there is no key to answer, and HTTP/2 forbids
        // the connection-specific Upgrade and Connection headers.
        Response::new(200)
    } else {
        let key = trim_ows(req.headers.get("Sec-WebSocket-Key").unwrap_or_default());
        Response::new(101)
            .with_header("Upgrade", "websocket")
            .with_header("Connection", "Upgrade")
            .with_header("Sec-WebSocket-Accept", header::accept_key(key))
    };
    if let Some(p) = &opts.protocol {
        if !req.protocols().iter().any(|o| o == p) {
            return Err(HandshakeError::ProtocolNotOffered(p.clone()));
        }
        resp = resp.with_header("Sec-WebSocket-Protocol", p.clone());
    }
    if let Some(e) = &opts.extensions {
        resp = resp.with_header("Sec-WebSocket-Extensions", e.clone());
    }
    for (n, v) in &opts.headers {
        resp = resp.with_header(n.clone(), v.clone());
    }
    resp.validate()?;
    Ok(resp)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "GET /chat?room=1 HTTP/1.1\r\nHost: example.com\r\nUpgrade: websocket\r\n\
        Connection: keep-alive, Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
        Origin: http://example.com\r\nSec-WebSocket-Version: 13\r\n\r\n";

    fn with(replace: &str, by: &str) -> Vec<u8> {
        assert!(GOOD.contains(replace), "{replace}");
        GOOD.replacen(replace, by, 1).into_bytes()
    }

    fn judge(raw: &[u8]) -> Result<Response, HandshakeError> {
        let (req, _) = Request::parse(raw)?.expect("complete head");
        accept(&req, &Accept::new())
    }

    #[test]
    fn good_request_fields() {
        let (req, n) = Request::parse(GOOD.as_bytes()).unwrap().unwrap();
        assert_eq!(n, GOOD.len());
        assert_eq!(req.path(), "/chat");
        assert_eq!(req.query(), Some("room=1"));
        assert_eq!(req.host(), Some("example.com"));
        assert_eq!(req.origin(), Some("http://example.com"));
        let resp = accept(&req, &Accept::new().header("Set-Cookie", "a=b")).unwrap();
        assert_eq!(resp.status, 101);
        assert_eq!(resp.header("set-cookie"), Some("a=b"));
        let wire = String::from_utf8(resp.to_bytes()).unwrap();
        assert!(wire.starts_with("HTTP/1.1 101 Switching Protocols\r\n"));
        assert!(wire.contains("Sec-WebSocket-Accept: s3pPLMBiTxaQ9kYGzzhZRbK+xOo=\r\n"));
        assert!(!wire.contains("Content-Length"));
    }

    /// One test per rejection reason: (change to the good request, expected error, status).
    #[test]
    fn rejections() {
        use HandshakeError::*;
        let table: Vec<(Vec<u8>, HandshakeError, u16)> = vec![
            (with("GET ", "POST "), MethodNotGet, 405),
            (with("HTTP/1.1\r\nHost", "HTTP/1.0\r\nHost"), NotHttp11, 400),
            (with("Host: example.com\r\n", ""), MissingHost, 400),
            (
                with("Host: example.com\r\n", "Host: a\r\nHost: b\r\n"),
                MissingHost,
                400,
            ),
            (with("Upgrade: websocket\r\n", ""), NotUpgrade, 426),
            (
                with("Upgrade: websocket", "Upgrade: h2c"),
                UpgradeNotWebSocket,
                400,
            ),
            (
                with("keep-alive, Upgrade", "keep-alive"),
                ConnectionNotUpgrade,
                400,
            ),
            (
                with("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""),
                MissingKey,
                400,
            ),
            (
                with("dGhlIHNhbXBsZSBub25jZQ==", "dGhlIHNhbXBsZSBub25jZQ"),
                InvalidKey,
                400,
            ),
            (
                with("dGhlIHNhbXBsZSBub25jZQ==", "AAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
                InvalidKey,
                400,
            ),
            (with("dGhlIHNhbXBsZSBub25jZQ==", "!!!"), InvalidKey, 400),
            (
                with("Sec-WebSocket-Version: 13\r\n", ""),
                MissingVersion,
                400,
            ),
            (
                with("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"),
                UnsupportedVersion,
                426,
            ),
            (
                with("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 13, 8"),
                UnsupportedVersion,
                426,
            ),
        ];
        for (raw, want, status) in table {
            let got = judge(&raw).unwrap_err();
            assert_eq!(got, want, "{}", String::from_utf8_lossy(&raw));
            assert_eq!(got.status(), status);
        }
    }

    #[test]
    fn version_error_response_names_13() {
        let resp = HandshakeError::UnsupportedVersion.to_response();
        let wire = String::from_utf8(resp.to_bytes()).unwrap();
        assert!(wire.starts_with("HTTP/1.1 426 Upgrade Required\r\n"));
        assert!(wire.contains("Sec-WebSocket-Version: 13\r\n"));
    }

    #[test]
    fn case_insensitive_tokens() {
        let raw = with("Upgrade: websocket", "upgrade: WebSocket");
        let raw = String::from_utf8(raw)
            .unwrap()
            .replace("keep-alive, Upgrade", "UPGRADE");
        assert!(judge(raw.as_bytes()).is_ok());
    }

    #[test]
    fn protocol_must_be_offered() {
        let raw = with("Origin", "Sec-WebSocket-Protocol: a, b\r\nOrigin");
        let (req, _) = Request::parse(&raw).unwrap().unwrap();
        assert!(accept(&req, &Accept::new().protocol("b")).is_ok());
        assert_eq!(
            accept(&req, &Accept::new().protocol("c")),
            Err(HandshakeError::ProtocolNotOffered("c".into()))
        );
        assert!(matches!(
            accept(&req, &Accept::new().header("X", "a\r\nb")),
            Err(HandshakeError::InvalidHeader(_))
        ));
    }

    #[test]
    fn every_split_point_and_leftover() {
        let mut raw = GOOD.as_bytes().to_vec();
        raw.extend_from_slice(&[0x81, 0x80, 1, 2, 3, 4]);
        for cut in 0..raw.len() {
            let mut p = RequestParser::default();
            let first = p.parse(&raw[..cut]).unwrap();
            let (req, n) = match first {
                Some(r) => r,
                None => p.parse(&raw).unwrap().unwrap(),
            };
            assert_eq!(n, GOOD.len(), "cut {cut}");
            assert_eq!(req.path(), "/chat");
            assert_eq!(&raw[n..], &[0x81, 0x80, 1, 2, 3, 4]);
        }
    }

    /// CVE-2023-43669 was a quadratic re-parse of a head fed in small pieces. A 64 KiB head fed
    /// one byte at a time must be looked at a bounded number of times per byte (counted, not
    /// timed), and parsed by httparse once.
    #[test]
    fn byte_at_a_time_is_linear() {
        let mut head = GOOD.replace("\r\n\r\n", "\r\n");
        while head.len() < 64 << 10 {
            head.push_str(
                "X-Filler: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n",
            );
        }
        head.push_str("\r\n");
        let raw = head.as_bytes();
        let limits = Limits::default().max_head_size(128 << 10).max_headers(2000);
        let mut p = RequestParser::new(limits);
        let mut done = None;
        for end in 1..=raw.len() {
            if let Some(r) = p.parse(&raw[..end]).unwrap() {
                done = Some((r, end));
                break;
            }
        }
        let ((req, n), end) = done.expect("parsed");
        assert_eq!((n, end), (raw.len(), raw.len()));
        assert_eq!(req.path(), "/chat");
        assert!(
            p.scanner.examined <= 4 * raw.len(),
            "examined {}",
            p.scanner.examined
        );

        // Over the limit (default 16 KiB), fed the same way: rejected once the limit is reached.
        let mut p = RequestParser::default();
        let mut err = None;
        for end in 1..=raw.len() {
            if let Err(e) = p.parse(&raw[..end]) {
                err = Some((e, end));
                break;
            }
        }
        let (e, at) = err.expect("rejected");
        assert_eq!(e, HandshakeError::HeadersTooLarge { limit: 16 << 10 });
        assert_eq!(at, 16 << 10);
        assert_eq!(e.status(), 431);
    }

    #[test]
    fn limits() {
        let mut big = GOOD.replace("\r\n\r\n", "\r\n");
        big.push_str(&format!("X-Pad: {}\r\n\r\n", "a".repeat(20_000)));
        assert_eq!(
            Request::parse(big.as_bytes()),
            Err(HandshakeError::HeadersTooLarge { limit: 16 << 10 })
        );
        let mut many = GOOD.replace("\r\n\r\n", "\r\n");
        for i in 0..100 {
            many.push_str(&format!("X-{i}: v\r\n"));
        }
        many.push_str("\r\n");
        assert_eq!(
            Request::parse(many.as_bytes()),
            Err(HandshakeError::TooManyHeaders)
        );
        assert!(matches!(
            Request::parse(b"GARBAGE\x01 / HTTP/1.1\r\n\r\n"),
            Err(HandshakeError::Malformed(_))
        ));
    }
}
