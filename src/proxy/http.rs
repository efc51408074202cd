//! The HTTP `CONNECT` tunnel (RFC 9110 9.3.6): one request, one reply head.
//!
//! Owns the request's shape (with `Proxy-Authorization: Basic` when there are credentials) and
//! the reply rules: any 2xx opens the tunnel, interim 1xx heads are skipped, anything else is
//! [`ProxyError::Refused`] with its status. The reply is read in steps so small that the blank
//! line ending the head can never be overshot, and is parsed only once that line has arrived.
#![forbid(unsafe_code)]

use base64::Engine as _;

use super::{ProxyError, MAX_REPLY_HEAD};

/// Header lines accepted in the proxy's reply.
const MAX_HEADERS: usize = 64;

#[derive(Debug)]
pub(super) struct Connect {
    out: Vec<u8>,
    head: Vec<u8>,
    /// Reply bytes taken so far, across interim heads.
    total: usize,
    done: bool,
}

impl Connect {
    /// `host` has no brackets and has been checked for control characters.
    pub(super) fn new(host: &str, port: u16, credentials: Option<(&str, &str)>) -> Connect {
        let authority = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        let mut req = format!("CONNECT {authority} HTTP/1.1\r\nHost: {authority}\r\n");
        if let Some((user, password)) = credentials {
            let token =
                base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
            req.push_str(&format!("Proxy-Authorization: Basic {token}\r\n"));
        }
        req.push_str("\r\n");
        Connect {
            out: req.into_bytes(),
            head: Vec::with_capacity(128),
            total: 0,
            done: false,
        }
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// The shortest way the head can still end: one byte after a line break (`\n` or `\r\n`),
    /// two otherwise (`\n\n`).
    pub(super) fn max_read(&self) -> usize {
        match (self.done, self.head.last()) {
            (true, _) => 0,
            (false, Some(b'\n' | b'\r')) => 1,
            (false, _) => 2,
        }
    }

    pub(super) fn receive(&mut self, data: &[u8]) -> Result<usize, ProxyError> {
        for (i, &b) in data.iter().enumerate() {
            if self.done {
                return Ok(i);
            }
            if self.total >= MAX_REPLY_HEAD {
                return Err(ProxyError::ReplyTooLarge {
                    limit: MAX_REPLY_HEAD,
                });
            }
            self.total += 1;
            self.head.push(b);
            if b == b'\n' && (self.head.ends_with(b"\n\n") || self.head.ends_with(b"\n\r\n")) {
                self.finish_head()?;
            }
        }
        Ok(data.len())
    }

    fn finish_head(&mut self) -> Result<(), ProxyError> {
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut reply = httparse::Response::new(&mut headers);
        let status = match reply.parse(&self.head) {
            Ok(httparse::Status::Complete(_)) => {
                reply.code.ok_or(ProxyError::BadReply("no status code"))?
            }
            Ok(httparse::Status::Partial) => {
                return Err(ProxyError::BadReply("malformed HTTP reply head"))
            }
            Err(httparse::Error::TooManyHeaders) => {
                return Err(ProxyError::BadReply("too many header lines"))
            }
            Err(_) => return Err(ProxyError::BadReply("malformed HTTP reply head")),
        };
        match status {
            100..=199 => self.head.clear(),
            200..=299 => {
                self.done = true;
                self.head = Vec::new();
            }
            status => return Err(ProxyError::Refused { status }),
        }
        Ok(())
    }

    pub(super) fn is_done(&self) -> bool {
        self.done && self.out.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Feeds `reply` the way a socket respecting `max_read` would; returns the result and the
    /// bytes taken.
    fn feed(c: &mut Connect, reply: &[u8]) -> (Result<(), ProxyError>, usize) {
        let mut at = 0;
        while !c.is_done() && at < reply.len() {
            let n = c.max_read().min(reply.len() - at);
            assert!(n > 0);
            match c.receive(&reply[at..at + n]) {
                Ok(k) => {
                    assert_eq!(k, n);
                    at += k;
                }
                Err(e) => return (Err(e), at + n),
            }
        }
        (Ok(()), at)
    }

    #[test]
    fn request_shape() {
        let mut c = Connect::new("example.com", 443, None);
        assert_eq!(
            c.poll_transmit().unwrap(),
            b"CONNECT example.com:443 HTTP/1.1\r\nHost: example.com:443\r\n\r\n"
        );
        assert_eq!(c.poll_transmit(), None);
        let mut c = Connect::new("::1", 80, Some(("Aladdin", "open sesame")));
        assert_eq!(
            c.poll_transmit().unwrap(),
            b"CONNECT [::1]:80 HTTP/1.1\r\nHost: [::1]:80\r\n\
              Proxy-Authorization: Basic QWxhZGRpbjpvcGVuIHNlc2FtZQ==\r\n\r\n"
        );
    }

    #[test]
    fn reply_table() {
        let tunnel = b"\x16\x03\x01 tunnel bytes";
        let cases: &[(&[u8], Result<(), ProxyError>)] = &[
            (b"HTTP/1.1 200 Connection established\r\n\r\n", Ok(())),
            (b"HTTP/1.0 200 OK\r\nVia: 1.1 squid\r\n\r\n", Ok(())),
            (b"HTTP/1.1 204 No Content\n\n", Ok(())),
            (b"HTTP/1.1 200 OK\r\nX: y\n\r\n", Ok(())),
            (
                b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\n\r\n",
                Ok(()),
            ),
            (
                b"HTTP/1.1 407 Proxy Authentication Required\r\n\
                  Proxy-Authenticate: Basic realm=\"x\"\r\nContent-Length: 0\r\n\r\n",
                Err(ProxyError::Refused { status: 407 }),
            ),
            (
                b"HTTP/1.1 403 Forbidden\r\n\r\n",
                Err(ProxyError::Refused { status: 403 }),
            ),
            (
                b"HTTP/1.1 502 Bad Gateway\r\n\r\nbody",
                Err(ProxyError::Refused { status: 502 }),
            ),
            (
                b"SSH-2.0-OpenSSH\r\n\r\n",
                Err(ProxyError::BadReply("malformed HTTP reply head")),
            ),
        ];
        for (reply, want) in cases {
            let mut c = Connect::new("h", 1, None);
            c.poll_transmit();
            let mut bytes = reply.to_vec();
            bytes.extend_from_slice(tunnel);
            let (got, used) = feed(&mut c, &bytes);
            assert_eq!(&got, want, "{}", String::from_utf8_lossy(reply));
            if got.is_ok() {
                // Not one byte of the tunnel was taken.
                assert_eq!(used, reply.len());
                assert_eq!(c.max_read(), 0);
                assert_eq!(c.receive(tunnel), Ok(0));
            }
        }
    }

    #[test]
    fn receive_stops_at_the_end_of_the_head() {
        // A caller that ignores max_read learns where the tunnel starts.
        let mut c = Connect::new("h", 1, None);
        c.poll_transmit();
        let reply = b"HTTP/1.1 200 OK\r\n\r\nrest";
        assert_eq!(c.receive(reply), Ok(reply.len() - 4));
        assert!(c.is_done());
    }

    #[test]
    fn reply_size_is_limited() {
        let mut c = Connect::new("h", 1, None);
        let mut reply = b"HTTP/1.1 200 OK\r\n".to_vec();
        while reply.len() <= MAX_REPLY_HEAD {
            reply.extend_from_slice(b"X-Padding: aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\r\n");
        }
        let (got, _) = feed(&mut c, &reply);
        assert_eq!(
            got,
            Err(ProxyError::ReplyTooLarge {
                limit: MAX_REPLY_HEAD
            })
        );
        // Endless interim heads count against the same limit.
        let mut c = Connect::new("h", 1, None);
        let reply = b"HTTP/1.1 100 Continue\r\n\r\n".repeat(MAX_REPLY_HEAD / 10);
        let (got, _) = feed(&mut c, &reply);
        assert_eq!(
            got,
            Err(ProxyError::ReplyTooLarge {
                limit: MAX_REPLY_HEAD
            })
        );
    }

    #[test]
    fn too_many_headers() {
        let mut c = Connect::new("h", 1, None);
        let mut reply = b"HTTP/1.1 200 OK\r\n".to_vec();
        for i in 0..=MAX_HEADERS {
            reply.extend_from_slice(format!("X-{i}: y\r\n").as_bytes());
        }
        reply.extend_from_slice(b"\r\n");
        let (got, _) = feed(&mut c, &reply);
        assert_eq!(got, Err(ProxyError::BadReply("too many header lines")));
    }
}
