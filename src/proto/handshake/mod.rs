//! The opening handshake (RFC 6455 section 4), sans-IO.
//!
//! Owns parsing and building the HTTP/1.1 upgrade request and response, with limits on head size
//! and header count, and incremental parsing whose total cost stays linear however the bytes are
//! split. [`server`] parses and judges requests and builds responses; [`client`] builds requests
//! and checks responses. Bytes after the head are left to the caller (the returned length says
//! where the head ends), so none are lost. It never does I/O.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

pub mod client;
pub mod header;
#[cfg(feature = "http")]
mod http_types;
pub mod server;

use bytes::Bytes;

use crate::proto::error::HandshakeError;

pub use header::{ExtensionOffer, Headers};

/// Limits on what a peer may send during the handshake.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct Limits {
    /// Largest request or response head (request line, headers and the blank line). Default
    /// 16 KiB.
    pub max_head_size: usize,
    /// Most header fields. Default 64.
    pub max_headers: usize,
    /// Largest body a client reads from a rejecting response. Default 64 KiB.
    pub max_body_size: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_head_size: 16 << 10,
            max_headers: 64,
            max_body_size: 64 << 10,
        }
    }
}

impl Limits {
    /// Sets [`Limits::max_head_size`].
    pub fn max_head_size(mut self, n: usize) -> Self {
        self.max_head_size = n;
        self
    }
    /// Sets [`Limits::max_headers`].
    pub fn max_headers(mut self, n: usize) -> Self {
        self.max_headers = n;
        self
    }
    /// Sets [`Limits::max_body_size`].
    pub fn max_body_size(mut self, n: usize) -> Self {
        self.max_body_size = n;
        self
    }
}

/// Finds the end of an HTTP head, remembering how far it has looked so that feeding a head one
/// byte at a time costs linear time in total.
#[derive(Debug, Clone, Default)]
pub(crate) struct HeadScanner {
    scanned: usize,
    end: Option<usize>,
    /// Bytes looked at over all calls: the linear-time property, made checkable.
    pub(crate) examined: usize,
}

impl HeadScanner {
    /// The length of the head (through the blank line) if `buf` holds all of it.
    pub(crate) fn find_end(
        &mut self,
        buf: &[u8],
        limit: usize,
    ) -> Result<Option<usize>, HandshakeError> {
        if self.end.is_some() {
            return Ok(self.end);
        }
        // A terminator may straddle the previous end: look back three bytes.
        let start = self.scanned.saturating_sub(3).min(buf.len());
        self.examined += buf.len() - start;
        let found = buf[start..]
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .map(|i| start + i + 4);
        self.scanned = buf.len();
        match found {
            Some(end) if end <= limit => {
                self.end = Some(end);
                Ok(Some(end))
            }
            Some(_) => Err(HandshakeError::HeadersTooLarge { limit }),
            None if buf.len() >= limit => Err(HandshakeError::HeadersTooLarge { limit }),
            None => Ok(None),
        }
    }
}

pub(crate) fn httparse_error(e: httparse::Error) -> HandshakeError {
    match e {
        httparse::Error::TooManyHeaders => HandshakeError::TooManyHeaders,
        httparse::Error::HeaderName => HandshakeError::Malformed("invalid header name"),
        httparse::Error::HeaderValue => HandshakeError::Malformed("invalid header value"),
        httparse::Error::NewLine => HandshakeError::Malformed("invalid line ending"),
        httparse::Error::Status => HandshakeError::Malformed("invalid status"),
        httparse::Error::Token => HandshakeError::Malformed("invalid token"),
        httparse::Error::Version => HandshakeError::Malformed("invalid HTTP version"),
    }
}

pub(crate) fn collect_headers(raw: &[httparse::Header<'_>]) -> Headers {
    let mut h = Headers::new();
    for f in raw {
        h.push(f.name, f.value);
    }
    h
}

impl HandshakeError {
    /// The response a server sends for this error: the status, the headers RFC 6455 asks for
    /// (`Sec-WebSocket-Version: 13` on version errors) and a one-line text body.
    pub fn to_response(&self) -> Response {
        let mut resp = Response::new(self.status());
        match self {
            HandshakeError::UnsupportedVersion
            | HandshakeError::MissingVersion
            | HandshakeError::NotUpgrade => {
                resp.headers
                    .push(("Sec-WebSocket-Version".into(), "13".into()));
                if matches!(self, HandshakeError::NotUpgrade) {
                    resp.headers.push(("Upgrade".into(), "websocket".into()));
                }
            }
            HandshakeError::MethodNotGet => resp.headers.push(("Allow".into(), "GET".into())),
            _ => {}
        }
        resp.headers
            .push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
        resp.body = Bytes::from(format!("{self}\n"));
        resp
    }
}

/// An HTTP response: what a server sends (101, or a rejection), and what a client received.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Header fields (without `Content-Length`, which [`to_bytes`](Self::to_bytes) adds).
    pub headers: Vec<(String, String)>,
    /// Body.
    pub body: Bytes,
}

impl Response {
    /// A response with this status, no headers and no body.
    pub fn new(status: u16) -> Response {
        Response {
            status,
            headers: Vec::new(),
            body: Bytes::new(),
        }
    }

    /// A rejection with a status and a text body.
    pub fn reject(status: u16, body: impl Into<Bytes>) -> Response {
        let mut r = Response::new(status);
        r.headers
            .push(("Content-Type".into(), "text/plain; charset=utf-8".into()));
        r.body = body.into();
        r
    }

    /// Adds a header field.
    pub fn with_header(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    /// The first value of a header field.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }

    /// Checks every header field for characters that cannot appear in a head.
    pub fn validate(&self) -> Result<(), HandshakeError> {
        self.headers
            .iter()
            .try_for_each(|(n, v)| header::check_header(n, v))
    }

    /// The response as bytes on the wire. A non-101 response gets `Content-Length` and
    /// `Connection: close`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(160 + self.body.len());
        out.extend_from_slice(
            format!(
                "HTTP/1.1 {} {}\r\n",
                self.status,
                reason_phrase(self.status)
            )
            .as_bytes(),
        );
        for (n, v) in &self.headers {
            out.extend_from_slice(n.as_bytes());
            out.extend_from_slice(b": ");
            out.extend_from_slice(v.as_bytes());
            out.extend_from_slice(b"\r\n");
        }
        if self.status != 101 {
            out.extend_from_slice(format!("Content-Length: {}\r\n", self.body.len()).as_bytes());
            if self.header("Connection").is_none() {
                out.extend_from_slice(b"Connection: close\r\n");
            }
        }
        out.extend_from_slice(b"\r\n");
        out.extend_from_slice(&self.body);
        out
    }
}

/// The standard reason phrase of a status code.
pub fn reason_phrase(status: u16) -> &'static str {
    match status {
        101 => "Switching Protocols",
        200 => "OK",
        400 => "Bad Request",
        401 => "Unauthorized",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        429 => "Too Many Requests",
        431 => "Request Header Fields Too Large",
        500 => "Internal Server Error",
        503 => "Service Unavailable",
        505 => "HTTP Version Not Supported",
        _ => "Unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scanner_finds_terminator_across_feeds() {
        let head = b"GET / HTTP/1.1\r\nHost: x\r\n\r\nextra";
        for cut in 0..head.len() {
            let mut s = HeadScanner::default();
            let first = s.find_end(&head[..cut], 1024).unwrap();
            let end = first.or_else(|| s.find_end(head, 1024).unwrap());
            assert_eq!(end, Some(head.len() - 5), "cut {cut}");
        }
    }

    #[test]
    fn scanner_limit() {
        let mut s = HeadScanner::default();
        assert!(s.find_end(&[b'a'; 10], 10).is_err());
        let mut s = HeadScanner::default();
        assert_eq!(s.find_end(b"ab\r\n\r\n", 6), Ok(Some(6)));
        let mut s = HeadScanner::default();
        assert!(s.find_end(b"abc\r\n\r\n", 6).is_err());
    }

    #[test]
    fn response_bytes() {
        let r = Response::reject(403, "no");
        let s = String::from_utf8(r.to_bytes()).unwrap();
        assert!(s.starts_with("HTTP/1.1 403 Forbidden\r\n"));
        assert!(s.contains("Content-Length: 2\r\n"));
        assert!(s.ends_with("\r\n\r\nno"));
    }
}
