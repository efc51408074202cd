//! HTTP header helpers for the opening handshake: a small header list, comma-separated token
//! lists, the `Sec-WebSocket-Extensions` grammar, and the `Sec-WebSocket-Accept` computation.
//!
//! Owns header syntax only; which headers a handshake needs is decided in `server` and `client`.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use base64::Engine as _;
use sha1::{Digest, Sha1};

use crate::proto::error::HandshakeError;

/// The GUID of RFC 6455 section 1.3.
pub const WEBSOCKET_GUID: &str = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";

/// `Sec-WebSocket-Accept` for a `Sec-WebSocket-Key`: base64(SHA-1(key + GUID)).
///
/// ```
/// use websock::proto::handshake::header::accept_key;
/// assert_eq!(accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="), "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
/// ```
pub fn accept_key(key: &[u8]) -> String {
    let mut sha = Sha1::new();
    sha.update(key);
    sha.update(WEBSOCKET_GUID.as_bytes());
    base64::engine::general_purpose::STANDARD.encode(sha.finalize())
}

/// Header fields in the order received. Names compare case-insensitively.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Headers {
    entries: Vec<(String, Vec<u8>)>,
}

impl Headers {
    /// An empty list.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends a field.
    pub fn push(&mut self, name: impl Into<String>, value: impl Into<Vec<u8>>) {
        self.entries.push((name.into(), value.into()));
    }

    /// The first value of `name`.
    pub fn get(&self, name: &str) -> Option<&[u8]> {
        self.entries
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// The first value of `name`, if it is UTF-8.
    pub fn get_str(&self, name: &str) -> Option<&str> {
        self.get(name).and_then(|v| core::str::from_utf8(v).ok())
    }

    /// Every value of `name`.
    pub fn get_all<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a [u8]> + 'a {
        self.entries
            .iter()
            .filter(move |(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_slice())
    }

    /// How many fields named `name`.
    pub fn count(&self, name: &str) -> usize {
        self.entries
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .count()
    }

    /// All fields.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &[u8])> {
        self.entries.iter().map(|(n, v)| (n.as_str(), v.as_slice()))
    }

    /// Number of fields.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    /// True when there are none.
    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// The comma-separated elements of every `name` field, trimmed, empty ones skipped.
    pub fn list<'a>(&'a self, name: &'a str) -> impl Iterator<Item = &'a str> + 'a {
        self.get_all(name)
            .filter_map(|v| core::str::from_utf8(v).ok())
            .flat_map(|v| v.split(','))
            .map(|t| t.trim_matches(|c| c == ' ' || c == '\t'))
            .filter(|t| !t.is_empty())
    }

    /// Whether any `name` field lists `token` (case-insensitively), as `Connection: keep-alive,
    /// Upgrade` lists `upgrade`.
    pub fn has_token(&self, name: &str, token: &str) -> bool {
        self.list(name).any(|t| t.eq_ignore_ascii_case(token))
    }
}

/// RFC 7230 `tchar`.
pub fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// RFC 7230 `token`.
pub fn is_token(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(is_tchar)
}

/// Checks a header a user wants to send: a token name and a value without control characters
/// (no CR or LF, so nothing can be smuggled into the head).
pub fn check_header(name: &str, value: &str) -> Result<(), HandshakeError> {
    let value_ok = value
        .bytes()
        .all(|b| b == b'\t' || (b >= 0x20 && b != 0x7f));
    if is_token(name) && value_ok {
        Ok(())
    } else {
        Err(HandshakeError::InvalidHeader(name.to_string()))
    }
}

/// One element of a `Sec-WebSocket-Extensions` list: a name and its parameters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtensionOffer {
    /// The extension token, e.g. `permessage-deflate`.
    pub name: String,
    /// Parameters in order; a value is `None` for a bare parameter (quoted values unquoted).
    pub params: Vec<(String, Option<String>)>,
}

impl ExtensionOffer {
    /// Formats as it appears in the header.
    pub fn to_header_value(&self) -> String {
        let mut s = self.name.clone();
        for (k, v) in &self.params {
            s.push_str("; ");
            s.push_str(k);
            if let Some(v) = v {
                s.push('=');
                s.push_str(v);
            }
        }
        s
    }
}

/// Parses the values of every `Sec-WebSocket-Extensions` field (RFC 6455 9.1 grammar).
///
/// ```
/// use websock::proto::handshake::header::parse_extensions;
/// let offers = parse_extensions(["permessage-deflate; client_max_window_bits, x-foo; a=\"1\""]).unwrap();
/// assert_eq!(offers[0].name, "permessage-deflate");
/// assert_eq!(offers[0].params, [("client_max_window_bits".to_string(), None)]);
/// assert_eq!(offers[1].params, [("a".to_string(), Some("1".to_string()))]);
/// ```
pub fn parse_extensions<'a>(
    values: impl IntoIterator<Item = &'a str>,
) -> Result<Vec<ExtensionOffer>, HandshakeError> {
    let mut out = Vec::new();
    for value in values {
        let mut p = Lexer {
            s: value.as_bytes(),
            i: 0,
        };
        loop {
            p.skip_ws();
            if p.eat(b',') {
                continue; // empty list elements are allowed by the # rule
            }
            if p.done() {
                break;
            }
            let name = p.token()?;
            let mut params = Vec::new();
            loop {
                p.skip_ws();
                if !p.eat(b';') {
                    break;
                }
                p.skip_ws();
                let key = p.token()?;
                p.skip_ws();
                let val = if p.eat(b'=') {
                    p.skip_ws();
                    Some(if p.peek() == Some(b'"') {
                        p.quoted()?
                    } else {
                        p.token()?
                    })
                } else {
                    None
                };
                params.push((key, val));
            }
            out.push(ExtensionOffer { name, params });
            p.skip_ws();
            if !p.done() && !p.eat(b',') {
                return Err(HandshakeError::InvalidExtensionHeader);
            }
        }
    }
    Ok(out)
}

struct Lexer<'a> {
    s: &'a [u8],
    i: usize,
}

impl Lexer<'_> {
    fn done(&self) -> bool {
        self.i >= self.s.len()
    }
    fn peek(&self) -> Option<u8> {
        self.s.get(self.i).copied()
    }
    fn eat(&mut self, c: u8) -> bool {
        if self.peek() == Some(c) {
            self.i += 1;
            true
        } else {
            false
        }
    }
    fn skip_ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.i += 1;
        }
    }
    fn token(&mut self) -> Result<String, HandshakeError> {
        let start = self.i;
        while self.peek().is_some_and(is_tchar) {
            self.i += 1;
        }
        if start == self.i {
            return Err(HandshakeError::InvalidExtensionHeader);
        }
        Ok(String::from_utf8_lossy(&self.s[start..self.i]).into_owned())
    }
    fn quoted(&mut self) -> Result<String, HandshakeError> {
        self.i += 1; // opening quote
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(HandshakeError::InvalidExtensionHeader),
                Some(b'"') => {
                    self.i += 1;
                    break;
                }
                Some(b'\\') => {
                    self.i += 1;
                    let c = self.peek().ok_or(HandshakeError::InvalidExtensionHeader)?;
                    out.push(c);
                    self.i += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.i += 1;
                }
            }
        }
        // RFC 6455 9.1: a quoted value must still be a token once unquoted.
        let s = String::from_utf8(out).map_err(|_| HandshakeError::InvalidExtensionHeader)?;
        if is_token(&s) {
            Ok(s)
        } else {
            Err(HandshakeError::InvalidExtensionHeader)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accept_rfc_vector() {
        assert_eq!(
            accept_key(b"dGhlIHNhbXBsZSBub25jZQ=="),
            "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
        );
    }

    #[test]
    fn token_lists() {
        let mut h = Headers::new();
        h.push("connection", "keep-alive, Upgrade");
        h.push("Upgrade", "WebSocket");
        assert!(h.has_token("Connection", "upgrade"));
        assert!(h.has_token("upgrade", "websocket"));
        assert!(!h.has_token("connection", "close"));
        let mut h = Headers::new();
        h.push("Connection", "keep-alive");
        h.push("Connection", " upgrade ");
        assert!(h.has_token("connection", "Upgrade"));
        let mut h = Headers::new();
        h.push("Connection", "upgraded");
        assert!(!h.has_token("connection", "upgrade"));
    }

    #[test]
    fn extension_grammar() {
        let ok = parse_extensions([
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10",
            ", x-webkit-deflate-frame ,",
        ])
        .unwrap();
        assert_eq!(ok.len(), 2);
        assert_eq!(ok[0].params.len(), 2);
        assert_eq!(ok[0].params[1].1.as_deref(), Some("10"));
        assert_eq!(ok[1].name, "x-webkit-deflate-frame");
        assert_eq!(
            parse_extensions(["a; b=\"12\""]).unwrap()[0].params[0]
                .1
                .as_deref(),
            Some("12")
        );
        for bad in [
            "a;",
            "a; =1",
            "a b",
            "a; b=\"x y\"",
            "a; b=\"unterminated",
            ";a",
            "a; b=c d",
        ] {
            assert!(parse_extensions([bad]).is_err(), "{bad:?}");
        }
        assert_eq!(
            ok[0].to_header_value(),
            "permessage-deflate; client_no_context_takeover; server_max_window_bits=10"
        );
    }

    #[test]
    fn header_injection_refused() {
        assert!(check_header("X-Ok", "fine value").is_ok());
        assert!(check_header("X-Bad", "a\r\nInjected: 1").is_err());
        assert!(check_header("Bad Name", "v").is_err());
        assert!(check_header("", "v").is_err());
    }
}
