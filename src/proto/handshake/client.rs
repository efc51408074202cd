//! The client side of the opening handshake: build the request from a `ws://` or `wss://` URI,
//! then check the server's response against what we asked for (RFC 6455 4.1).
//!
//! Owns URI parsing for WebSocket URIs, the request's shape, the fresh random key, and the
//! response rules: 101, `Upgrade: websocket`, `Connection: Upgrade`, the right
//! `Sec-WebSocket-Accept`, and only subprotocols and extensions that were offered. A non-101
//! response becomes [`HandshakeError::Rejected`] with its status, headers and body. Over HTTP/2
//! (RFC 8441) the same request is an extended CONNECT ([`ClientRequest::extended_connect`]),
//! answered by a 2xx with no key to check.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use base64::Engine as _;
use bytes::Bytes;

use super::header::{self, ExtensionOffer, Headers};
use super::{collect_headers, httparse_error, HeadScanner, Limits, Response};
use crate::proto::error::HandshakeError;

/// A WebSocket URI, split into what the handshake and the transport need.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Uri {
    /// `wss://` (TLS) or `ws://`.
    pub tls: bool,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// Port (80 or 443 when the URI names none).
    pub port: u16,
    /// Path and query, at least `/`.
    pub resource: String,
}

impl Uri {
    /// Parses `ws://host[:port][/path][?query]` or `wss://...`. Fragments and user info are
    /// refused (RFC 6455 3).
    pub fn parse(uri: &str) -> Result<Uri, HandshakeError> {
        let (scheme, rest) = uri
            .split_once("://")
            .ok_or(HandshakeError::InvalidUri("missing scheme"))?;
        let tls = match scheme.to_ascii_lowercase().as_str() {
            "ws" => false,
            "wss" => true,
            _ => return Err(HandshakeError::InvalidUri("scheme must be ws or wss")),
        };
        if uri.contains('#') {
            return Err(HandshakeError::InvalidUri("fragments are not allowed"));
        }
        let split = rest.find(['/', '?']).unwrap_or(rest.len());
        let (authority, resource) = rest.split_at(split);
        if authority.contains('@') {
            return Err(HandshakeError::InvalidUri("user info is not supported"));
        }
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            let (h, after) = v6
                .split_once(']')
                .ok_or(HandshakeError::InvalidUri("unclosed IPv6 bracket"))?;
            let port = match after {
                "" => None,
                p => Some(
                    p.strip_prefix(':')
                        .ok_or(HandshakeError::InvalidUri("bad port"))?,
                ),
            };
            (h, port)
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, Some(p)),
                None => (authority, None),
            }
        };
        if host.is_empty() {
            return Err(HandshakeError::InvalidUri("missing host"));
        }
        if host.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(HandshakeError::InvalidUri("invalid host"));
        }
        let port = match port {
            None => {
                if tls {
                    443
                } else {
                    80
                }
            }
            Some(p) => p
                .parse::<u16>()
                .map_err(|_| HandshakeError::InvalidUri("bad port"))?,
        };
        let resource = match resource {
            "" => "/".to_string(),
            r if r.starts_with('?') => format!("/{r}"),
            r => r.to_string(),
        };
        if resource.bytes().any(|b| b <= b' ' || b == 0x7f) {
            return Err(HandshakeError::InvalidUri("invalid characters in path"));
        }
        Ok(Uri {
            tls,
            host: host.to_string(),
            port,
            resource,
        })
    }

    /// The `Host` header value: the port only when it is not the scheme's default.
    pub fn host_header(&self) -> String {
        let host = if self.host.contains(':') {
            format!("[{}]", self.host)
        } else {
            self.host.clone()
        };
        let default = if self.tls { 443 } else { 80 };
        if self.port == default {
            host
        } else {
            format!("{host}:{}", self.port)
        }
    }
}

/// A client's opening request, built up before it is sent.
///
/// ```
/// use websock::proto::handshake::client::ClientRequest;
/// let req = ClientRequest::new("ws://example.com:8080/chat?x=1").unwrap()
///     .protocol("chat")
///     .header("Authorization", "Bearer abc");
/// let (bytes, _handshake) = req.start().unwrap();
/// let text = String::from_utf8(bytes).unwrap();
/// assert!(text.starts_with("GET /chat?x=1 HTTP/1.1\r\nHost: example.com:8080\r\n"));
/// assert!(text.contains("Sec-WebSocket-Protocol: chat\r\n"));
/// ```
#[derive(Debug, Clone)]
pub struct ClientRequest {
    uri: Uri,
    protocols: Vec<String>,
    extensions: Vec<ExtensionOffer>,
    headers: Vec<(String, String)>,
    limits: Limits,
    key: Option<[u8; 16]>,
}

impl ClientRequest {
    /// A request for `uri` (`ws://` or `wss://`).
    pub fn new(uri: &str) -> Result<ClientRequest, HandshakeError> {
        Ok(ClientRequest {
            uri: Uri::parse(uri)?,
            protocols: Vec::new(),
            extensions: Vec::new(),
            headers: Vec::new(),
            limits: Limits::default(),
            key: None,
        })
    }

    /// Offers a subprotocol (call again for more, in order of preference).
    pub fn protocol(mut self, p: impl Into<String>) -> Self {
        self.protocols.push(p.into());
        self
    }

    /// Offers an extension (call again for more, in order of preference).
    pub fn extension(mut self, offer: ExtensionOffer) -> Self {
        self.extensions.push(offer);
        self
    }

    /// Adds a header field, e.g. `Origin`, `Authorization` or `Cookie`.
    pub fn header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// Sets the limits for reading the response.
    pub fn limits(mut self, limits: Limits) -> Self {
        self.limits = limits;
        self
    }

    /// The parsed URI.
    pub fn uri(&self) -> &Uri {
        &self.uri
    }

    /// Adds extension offers (the connection adds those its config asks for).
    pub fn extensions(mut self, offers: impl IntoIterator<Item = ExtensionOffer>) -> Self {
        self.extensions.extend(offers);
        self
    }

    /// Uses this `Sec-WebSocket-Key` instead of a fresh random one. For tests and fuzzing only:
    /// RFC 6455 4.1 wants a new unpredictable key for every connection.
    pub fn fixed_key(mut self, key: [u8; 16]) -> Self {
        self.key = Some(key);
        self
    }

    /// The key set with [`fixed_key`](Self::fixed_key), if any.
    #[cfg(feature = "std")]
    pub(crate) fn given_key(&self) -> Option<[u8; 16]> {
        self.key
    }

    /// Builds the request with a fresh key from the operating system's random source (or the
    /// [`fixed_key`](Self::fixed_key)). Without `std`, use
    /// [`start_with_key`](Self::start_with_key) with a key from the device's generator.
    #[cfg(feature = "std")]
    pub fn start(&self) -> Result<(Vec<u8>, ClientHandshake), HandshakeError> {
        if let Some(key) = self.key {
            return self.start_with_key(key);
        }
        let mut key = [0u8; 16];
        // Without OS entropy there is no unpredictable key (RFC 6455 4.1); nothing to fall back on.
        rand::TryRng::try_fill_bytes(&mut rand::rngs::SysRng, &mut key)
            .expect("operating system random source unavailable");
        self.start_with_key(key)
    }

    /// The request as an extended CONNECT for HTTP/2 (RFC 8441), and the checker for its
    /// response ([`ClientHandshake::check_extended_connect_response`]). No key: RFC 8441 5
    /// drops `Sec-WebSocket-Key` and `Sec-WebSocket-Accept`, as it does `Upgrade` and
    /// `Connection`, which HTTP/2 forbids.
    ///
    /// ```
    /// use websock::proto::handshake::client::ClientRequest;
    /// let req = ClientRequest::new("wss://example.com/chat").unwrap().protocol("chat");
    /// let (connect, _check) = req.extended_connect().unwrap();
    /// assert_eq!((connect.scheme, connect.authority.as_str(), connect.path.as_str()),
    ///            ("https", "example.com", "/chat"));
    /// assert!(connect.headers.contains(&("sec-websocket-version".into(), "13".into())));
    /// ```
    pub fn extended_connect(&self) -> Result<(ExtendedConnect, ClientHandshake), HandshakeError> {
        let mut headers = vec![("sec-websocket-version".to_string(), "13".to_string())];
        let (fields, handshake) = self.offer_fields(String::new())?;
        for (n, v) in fields {
            let n = n.to_ascii_lowercase();
            // Connection-specific fields are malformed in HTTP/2 (RFC 9113 8.2.2).
            if matches!(
                n.as_str(),
                "connection"
                    | "upgrade"
                    | "keep-alive"
                    | "proxy-connection"
                    | "transfer-encoding"
                    | "host"
            ) {
                return Err(HandshakeError::InvalidHeader(n));
            }
            headers.push((n, v));
        }
        let connect = ExtendedConnect {
            scheme: if self.uri.tls { "https" } else { "http" },
            authority: self.uri.host_header(),
            path: self.uri.resource.clone(),
            headers,
        };
        Ok((connect, handshake))
    }

    /// The offered subprotocols and extensions and the user's headers, checked, and the
    /// response checker expecting `accept`.
    fn offer_fields(
        &self,
        accept: String,
    ) -> Result<(Vec<(String, String)>, ClientHandshake), HandshakeError> {
        let mut fields = Vec::new();
        if !self.protocols.is_empty() {
            if let Some(bad) = self.protocols.iter().find(|p| !header::is_token(p)) {
                return Err(HandshakeError::InvalidHeader(bad.clone()));
            }
            fields.push((
                "Sec-WebSocket-Protocol".to_string(),
                self.protocols.join(", "),
            ));
        }
        if !self.extensions.is_empty() {
            let offers: Vec<String> = self
                .extensions
                .iter()
                .map(ExtensionOffer::to_header_value)
                .collect();
            fields.push(("Sec-WebSocket-Extensions".to_string(), offers.join(", ")));
        }
        for (n, v) in &self.headers {
            header::check_header(n, v)?;
            fields.push((n.clone(), v.clone()));
        }
        let handshake = ClientHandshake {
            accept,
            protocols: self.protocols.clone(),
            extensions: self.extensions.iter().map(|e| e.name.clone()).collect(),
            scanner: HeadScanner::default(),
            limits: self.limits.clone(),
        };
        Ok((fields, handshake))
    }

    /// Builds the request with the given key (for tests).
    pub fn start_with_key(
        &self,
        key: [u8; 16],
    ) -> Result<(Vec<u8>, ClientHandshake), HandshakeError> {
        let key = base64::engine::general_purpose::STANDARD.encode(key);
        let mut head = format!(
            "GET {} HTTP/1.1\r\nHost: {}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n",
            self.uri.resource,
            self.uri.host_header()
        );
        let (fields, handshake) = self.offer_fields(header::accept_key(key.as_bytes()))?;
        for (n, v) in fields {
            head.push_str(&format!("{n}: {v}\r\n"));
        }
        head.push_str("\r\n");
        Ok((head.into_bytes(), handshake))
    }
}

/// Checks the server's response to a request built by [`ClientRequest`].
#[derive(Debug, Clone)]
pub struct ClientHandshake {
    accept: String,
    protocols: Vec<String>,
    extensions: Vec<String>,
    scanner: HeadScanner,
    limits: Limits,
}

/// A server's successful answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Accepted {
    /// The subprotocol the server chose.
    pub protocol: Option<String>,
    /// The extensions the server accepted, with their parameters.
    pub extensions: Vec<ExtensionOffer>,
    /// All response header fields.
    pub headers: Headers,
}

impl ClientHandshake {
    /// Call with the whole buffer each time bytes arrive: `Ok(None)` while the response is
    /// incomplete, then what was accepted and the length of the response. Bytes past that length
    /// are already WebSocket frames.
    pub fn parse_response(
        &mut self,
        buf: &[u8],
    ) -> Result<Option<(Accepted, usize)>, HandshakeError> {
        let Some(end) = self.scanner.find_end(buf, self.limits.max_head_size)? else {
            return Ok(None);
        };
        let mut raw = vec![httparse::EMPTY_HEADER; self.limits.max_headers];
        let mut resp = httparse::Response::new(&mut raw);
        match resp.parse(&buf[..end]).map_err(httparse_error)? {
            httparse::Status::Complete(n) if n == end => {}
            _ => return Err(HandshakeError::Malformed("incomplete head")),
        }
        let status = resp.code.unwrap_or(0);
        let headers = collect_headers(resp.headers);
        if status != 101 {
            return self.rejected(status, &headers, &buf[end..]);
        }
        if resp.version != Some(1) {
            return Err(HandshakeError::Malformed("101 response must be HTTP/1.1"));
        }
        if !headers.has_token("Upgrade", "websocket") {
            return Err(HandshakeError::ResponseUpgradeMissing);
        }
        if !headers.has_token("Connection", "upgrade") {
            return Err(HandshakeError::ResponseConnectionMissing);
        }
        let accept_ok = headers.count("Sec-WebSocket-Accept") == 1
            && headers
                .get_str("Sec-WebSocket-Accept")
                .is_some_and(|v| v.trim() == self.accept);
        if !accept_ok {
            return Err(HandshakeError::AcceptMismatch);
        }
        Ok(Some((self.accepted(headers)?, end)))
    }

    /// An extended CONNECT's response (RFC 8441 5), as the HTTP/2 layer parsed it: a 2xx
    /// accepts (no `Sec-WebSocket-Accept` to check), anything else is
    /// [`HandshakeError::Rejected`]; then the same subprotocol and extension rules as on
    /// HTTP/1.1.
    pub fn check_extended_connect_response(
        &self,
        status: u16,
        headers: Headers,
        body: Bytes,
    ) -> Result<Accepted, HandshakeError> {
        if !(200..300).contains(&status) {
            return Err(HandshakeError::Rejected {
                status,
                headers: header_pairs(&headers),
                body: body.slice(..body.len().min(self.limits.max_body_size)),
            });
        }
        self.accepted(headers)
    }

    /// What the server agreed to, if it only chose what we offered.
    fn accepted(&self, headers: Headers) -> Result<Accepted, HandshakeError> {
        let chosen: Vec<&str> = headers.list("Sec-WebSocket-Protocol").collect();
        let protocol = match chosen.as_slice() {
            [] => None,
            [p] if self.protocols.iter().any(|o| o == p) => Some(p.to_string()),
            _ => return Err(HandshakeError::UnofferedProtocol(chosen.join(", "))),
        };
        let extensions = header::parse_extensions(
            headers
                .get_all("Sec-WebSocket-Extensions")
                .filter_map(|v| core::str::from_utf8(v).ok()),
        )?;
        for e in &extensions {
            if !self
                .extensions
                .iter()
                .any(|o| o.eq_ignore_ascii_case(&e.name))
            {
                return Err(HandshakeError::UnofferedExtension(e.name.clone()));
            }
        }
        Ok(Accepted {
            protocol,
            extensions,
            headers,
        })
    }

    fn rejected(
        &self,
        status: u16,
        headers: &Headers,
        after: &[u8],
    ) -> Result<Option<(Accepted, usize)>, HandshakeError> {
        let declared = headers
            .get_str("Content-Length")
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        let want = declared.min(self.limits.max_body_size);
        if after.len() < want {
            return Ok(None);
        }
        Err(HandshakeError::Rejected {
            status,
            headers: header_pairs(headers),
            body: Bytes::copy_from_slice(&after[..want]),
        })
    }
}

fn header_pairs(headers: &Headers) -> Vec<(String, String)> {
    headers
        .iter()
        .map(|(n, v)| (n.to_string(), String::from_utf8_lossy(v).into_owned()))
        .collect()
}

/// An extended CONNECT request (RFC 8441 4) for an HTTP/2 layer to send: `:method CONNECT`,
/// `:protocol websocket`, and these.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtendedConnect {
    /// `:scheme`: `https` for `wss://`, `http` for `ws://`.
    pub scheme: &'static str,
    /// `:authority`: host, and port when not the scheme's default.
    pub authority: String,
    /// `:path`: path and query.
    pub path: String,
    /// The regular header fields: `sec-websocket-version: 13`, the offered subprotocols and
    /// extensions, and the user's own (lower-case names, as HTTP/2 wants).
    pub headers: Vec<(String, String)>,
}

/// A server's response to a client, for tests and sans-IO servers: build with
/// [`server::accept`](super::server::accept).
pub type ServerResponse = Response;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::handshake::server::{accept, Accept, RequestParser};

    #[test]
    fn uri_table() {
        let ok = [
            ("ws://a", false, "a", 80, "/"),
            ("wss://a", true, "a", 443, "/"),
            ("ws://a:9001/x/y?z=1", false, "a", 9001, "/x/y?z=1"),
            ("ws://a?q", false, "a", 80, "/?q"),
            ("WS://127.0.0.1:1/", false, "127.0.0.1", 1, "/"),
            ("ws://[::1]:9001/p", false, "::1", 9001, "/p"),
            ("wss://[::1]", true, "::1", 443, "/"),
        ];
        for (s, tls, host, port, res) in ok {
            let u = Uri::parse(s).unwrap();
            assert_eq!(
                (u.tls, u.host.as_str(), u.port, u.resource.as_str()),
                (tls, host, port, res),
                "{s}"
            );
        }
        for bad in [
            "http://a",
            "a",
            "ws://",
            "ws://:80",
            "ws://a:99999",
            "ws://a/#f",
            "ws://u@a",
            "ws://[::1",
            "ws://a/ b",
        ] {
            assert!(Uri::parse(bad).is_err(), "{bad}");
        }
        assert_eq!(
            Uri::parse("ws://[::1]:9/").unwrap().host_header(),
            "[::1]:9"
        );
        assert_eq!(Uri::parse("wss://h:443/").unwrap().host_header(), "h");
    }

    fn roundtrip(req: ClientRequest, opts: Accept) -> Result<Accepted, HandshakeError> {
        let (bytes, mut hs) = req.start_with_key([7; 16])?;
        let (request, _) = RequestParser::default().parse(&bytes)?.unwrap();
        let resp = accept(&request, &opts)?;
        let mut wire = resp.to_bytes();
        wire.extend_from_slice(b"\x81\x00");
        let (acc, n) = hs.parse_response(&wire)?.unwrap();
        assert_eq!(&wire[n..], b"\x81\x00");
        Ok(acc)
    }

    #[test]
    fn request_accepted_by_our_server() {
        let req = ClientRequest::new("ws://localhost:9001/chat")
            .unwrap()
            .protocol("a")
            .protocol("b");
        let acc = roundtrip(req, Accept::new().protocol("b")).unwrap();
        assert_eq!(acc.protocol.as_deref(), Some("b"));
    }

    fn response_with(extra: &str, accept: &str) -> Vec<u8> {
        format!(
            "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
             Sec-WebSocket-Accept: {accept}\r\n{extra}\r\n"
        )
        .into_bytes()
    }

    #[test]
    fn response_checks() {
        let req = ClientRequest::new("ws://h/").unwrap().protocol("chat");
        let (_, hs) = req.start_with_key([1; 16]).unwrap();
        let good = header::accept_key(
            base64::engine::general_purpose::STANDARD
                .encode([1u8; 16])
                .as_bytes(),
        );
        let check = |raw: Vec<u8>| hs.clone().parse_response(&raw).map(|r| r.map(|(a, _)| a));
        assert!(check(response_with("", &good)).unwrap().is_some());
        assert_eq!(
            check(response_with("", "wrong")),
            Err(HandshakeError::AcceptMismatch)
        );
        assert_eq!(
            check(response_with("Sec-WebSocket-Protocol: other\r\n", &good)),
            Err(HandshakeError::UnofferedProtocol("other".into()))
        );
        assert_eq!(
            check(response_with(
                "Sec-WebSocket-Extensions: permessage-deflate\r\n",
                &good
            )),
            Err(HandshakeError::UnofferedExtension(
                "permessage-deflate".into()
            ))
        );
        let no_upgrade = String::from_utf8(response_with("", &good))
            .unwrap()
            .replace("Upgrade: websocket\r\n", "");
        assert_eq!(
            check(no_upgrade.into_bytes()),
            Err(HandshakeError::ResponseUpgradeMissing)
        );
        let no_conn = String::from_utf8(response_with("", &good))
            .unwrap()
            .replace("Connection: Upgrade\r\n", "");
        assert_eq!(
            check(no_conn.into_bytes()),
            Err(HandshakeError::ResponseConnectionMissing)
        );
    }

    #[test]
    fn rejection_carries_status_and_body() {
        let (_, mut hs) = ClientRequest::new("ws://h/")
            .unwrap()
            .start_with_key([7; 16])
            .unwrap();
        let raw = b"HTTP/1.1 426 Upgrade Required\r\nSec-WebSocket-Version: 13\r\nContent-Length: 5\r\n\r\nhel";
        assert_eq!(hs.parse_response(raw), Ok(None)); // body incomplete
        let mut full = raw.to_vec();
        full.extend_from_slice(b"lo");
        match hs.parse_response(&full) {
            Err(HandshakeError::Rejected {
                status,
                body,
                headers,
            }) => {
                assert_eq!(status, 426);
                assert_eq!(&body[..], b"hello");
                assert!(headers
                    .iter()
                    .any(|(n, v)| n == "Sec-WebSocket-Version" && v == "13"));
            }
            other => panic!("{other:?}"),
        }
    }

    #[cfg(feature = "std")]
    #[test]
    fn keys_are_fresh() {
        let req = ClientRequest::new("ws://h/").unwrap();
        let (a, _) = req.start().unwrap();
        let (b, _) = req.start().unwrap();
        assert_ne!(a, b);
    }
}
