//! SOCKS5 ([RFC 1928]) `CONNECT`, with username/password authentication ([RFC 1929]).
//!
//! Owns the three exchanges: the greeting (method "no authentication", plus
//! "username/password" when there are credentials) and the proxy's choice; the credentials and
//! their verdict; the connect request and the reply. Host names go to the proxy as names
//! (address type 3) so that the proxy resolves them; IP literals go as addresses. Every reply has
//! a known length, so reads are sized to take exactly the reply.
//!
//! [RFC 1928]: https://www.rfc-editor.org/rfc/rfc1928
//! [RFC 1929]: https://www.rfc-editor.org/rfc/rfc1929
#![forbid(unsafe_code)]

use std::net::{Ipv4Addr, Ipv6Addr};

use super::ProxyError;

const VERSION: u8 = 5;
const NO_AUTH: u8 = 0x00;
const USER_PASS: u8 = 0x02;
const NO_ACCEPTABLE: u8 = 0xff;
const CMD_CONNECT: u8 = 1;
const ATYP_V4: u8 = 1;
const ATYP_NAME: u8 = 3;
const ATYP_V6: u8 = 4;

/// What a reply code means (RFC 1928 6).
pub(super) fn reply_text(code: u8) -> &'static str {
    match code {
        1 => "general SOCKS server failure",
        2 => "connection not allowed by ruleset",
        3 => "network unreachable",
        4 => "host unreachable",
        5 => "connection refused",
        6 => "TTL expired",
        7 => "command not supported",
        8 => "address type not supported",
        _ => "unknown reply code",
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum State {
    /// Waiting for the method the proxy chose.
    Method,
    /// Waiting for the verdict on the credentials.
    Auth,
    /// Waiting for the reply to the connect request.
    Reply,
    Done,
}

pub(super) struct Connect {
    out: Vec<u8>,
    buf: Vec<u8>,
    state: State,
    /// The username/password request, when there are credentials.
    auth: Option<Vec<u8>>,
    request: Vec<u8>,
}

impl std::fmt::Debug for Connect {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // The pending bytes may hold the password.
        f.debug_struct("Connect")
            .field("state", &self.state)
            .finish_non_exhaustive()
    }
}

impl Connect {
    /// `host` has no brackets and has been checked for control characters.
    pub(super) fn new(
        host: &str,
        port: u16,
        credentials: Option<(&str, &str)>,
    ) -> Result<Connect, ProxyError> {
        let mut request = vec![VERSION, CMD_CONNECT, 0];
        if let Ok(v4) = host.parse::<Ipv4Addr>() {
            request.push(ATYP_V4);
            request.extend_from_slice(&v4.octets());
        } else if let Ok(v6) = host.parse::<Ipv6Addr>() {
            request.push(ATYP_V6);
            request.extend_from_slice(&v6.octets());
        } else {
            let len = u8::try_from(host.len())
                .map_err(|_| ProxyError::Unusable("SOCKS5 host names are at most 255 bytes"))?;
            request.extend_from_slice(&[ATYP_NAME, len]);
            request.extend_from_slice(host.as_bytes());
        }
        request.extend_from_slice(&port.to_be_bytes());

        let auth = match credentials {
            None => None,
            Some((user, password)) => {
                let too_long = || {
                    ProxyError::Unusable("SOCKS5 user names and passwords are at most 255 bytes")
                };
                let ulen = u8::try_from(user.len()).map_err(|_| too_long())?;
                let plen = u8::try_from(password.len()).map_err(|_| too_long())?;
                let mut a = Vec::with_capacity(3 + user.len() + password.len());
                a.extend_from_slice(&[1, ulen]);
                a.extend_from_slice(user.as_bytes());
                a.push(plen);
                a.extend_from_slice(password.as_bytes());
                Some(a)
            }
        };
        let out = if auth.is_some() {
            vec![VERSION, 2, NO_AUTH, USER_PASS]
        } else {
            vec![VERSION, 1, NO_AUTH]
        };
        Ok(Connect {
            out,
            buf: Vec::with_capacity(22),
            state: State::Method,
            auth,
            request,
        })
    }

    pub(super) fn poll_transmit(&mut self) -> Option<Vec<u8>> {
        (!self.out.is_empty()).then(|| std::mem::take(&mut self.out))
    }

    /// Exactly what the current reply still lacks, as far as is known.
    pub(super) fn max_read(&self) -> usize {
        let need = match self.state {
            State::Method | State::Auth => 2,
            State::Reply => match self.buf.get(3) {
                None => 4,
                Some(&ATYP_V4) => 4 + 4 + 2,
                Some(&ATYP_V6) => 4 + 16 + 2,
                Some(_) => match self.buf.get(4) {
                    None => 5,
                    Some(&len) => 5 + len as usize + 2,
                },
            },
            State::Done => return 0,
        };
        need - self.buf.len()
    }

    pub(super) fn receive(&mut self, data: &[u8]) -> Result<usize, ProxyError> {
        let mut used = 0;
        while used < data.len() && self.state != State::Done {
            let take = self.max_read().min(data.len() - used);
            self.buf.extend_from_slice(&data[used..used + take]);
            used += take;
            self.step()?;
        }
        Ok(used)
    }

    /// Acts on what has arrived of the current reply.
    fn step(&mut self) -> Result<(), ProxyError> {
        match self.state {
            State::Method if self.buf.len() == 2 => {
                if self.buf[0] != VERSION {
                    return Err(ProxyError::BadReply("not a SOCKS5 proxy"));
                }
                match (self.buf[1], self.auth.take()) {
                    (NO_AUTH, _) => self.send_request(),
                    (USER_PASS, Some(auth)) => {
                        self.out = auth;
                        self.state = State::Auth;
                    }
                    (NO_ACCEPTABLE, _) => return Err(ProxyError::NoAcceptableAuth),
                    _ => {
                        return Err(ProxyError::BadReply(
                            "the proxy chose an authentication method that was not offered",
                        ))
                    }
                }
                self.buf.clear();
            }
            // The version of the username/password exchange is 1; some servers answer 5.
            State::Auth if self.buf.len() == 2 => {
                if self.buf[1] != 0 {
                    return Err(ProxyError::AuthRejected);
                }
                self.send_request();
                self.buf.clear();
            }
            State::Reply if self.buf.len() >= 2 => {
                if self.buf[0] != VERSION {
                    return Err(ProxyError::BadReply("not a SOCKS5 reply"));
                }
                if self.buf[1] != 0 {
                    return Err(ProxyError::Socks5(self.buf[1]));
                }
                if let Some(&atyp) = self.buf.get(3) {
                    if ![ATYP_V4, ATYP_NAME, ATYP_V6].contains(&atyp) {
                        return Err(ProxyError::BadReply("unknown address type in the reply"));
                    }
                }
                if self.buf.len() >= 4 && self.max_read() == 0 {
                    self.state = State::Done;
                    self.buf = Vec::new();
                }
            }
            _ => {}
        }
        Ok(())
    }

    fn send_request(&mut self) {
        self.out = std::mem::take(&mut self.request);
        self.state = State::Reply;
    }

    pub(super) fn is_done(&self) -> bool {
        self.state == State::Done && self.out.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Steps of an exchange: what we must send, what the proxy answers.
    type Script<'a> = &'a [(&'a [u8], &'a [u8])];

    /// Runs an exchange: for each step, what we must send and what the proxy answers. Returns the
    /// outcome, after checking that reads never reached past a reply.
    fn run(c: &mut Connect, script: Script) -> Result<(), ProxyError> {
        for (i, (expect, answer)) in script.iter().enumerate() {
            assert_eq!(c.poll_transmit().as_deref(), Some(*expect), "step {i}");
            let mut input = answer.to_vec();
            input.extend_from_slice(b"TUNNEL");
            let mut at = 0;
            let mut overshoot = false;
            while at < answer.len() {
                let n = c.max_read();
                assert!(n > 0, "step {i}: nothing to read at {at}");
                overshoot |= at + n > answer.len();
                let n = n.min(answer.len() - at);
                // Split every read in two to exercise partial input.
                let half = n.div_ceil(2);
                assert_eq!(c.receive(&input[at..at + half])?, half);
                assert_eq!(c.receive(&input[at + half..at + n])?, n - half);
                at += n;
            }
            // A complete reply is never read past.
            assert!(!overshoot, "step {i}: a read reached past the reply");
        }
        Ok(())
    }

    const V4_OK: &[u8] = &[5, 0, 0, 1, 10, 0, 0, 1, 0x1f, 0x90];

    #[test]
    fn no_auth_ipv4() {
        let mut c = Connect::new("127.0.0.1", 8080, None).unwrap();
        let r = run(
            &mut c,
            &[
                (&[5, 1, 0], &[5, 0]),
                (&[5, 1, 0, 1, 127, 0, 0, 1, 0x1f, 0x90], V4_OK),
            ],
        );
        assert_eq!(r, Ok(()));
        assert!(c.is_done());
        assert_eq!(c.max_read(), 0);
        assert_eq!(c.receive(b"tunnel"), Ok(0));
    }

    #[test]
    fn name_and_ipv6_targets_and_replies() {
        let mut c = Connect::new("example.com", 443, None).unwrap();
        let mut req = vec![5, 1, 0, 3, 11];
        req.extend_from_slice(b"example.com");
        req.extend_from_slice(&[1, 0xbb]);
        let mut reply = vec![5, 0, 0, 3, 4];
        reply.extend_from_slice(b"host");
        reply.extend_from_slice(&[0, 80]);
        assert_eq!(
            run(&mut c, &[(&[5, 1, 0], &[5, 0]), (&req, &reply)]),
            Ok(())
        );
        assert!(c.is_done());

        let mut c = Connect::new("::1", 80, None).unwrap();
        let mut req = vec![5, 1, 0, 4];
        req.extend_from_slice(&Ipv6Addr::LOCALHOST.octets());
        req.extend_from_slice(&[0, 80]);
        let mut reply = vec![5, 0, 0, 4];
        reply.extend_from_slice(&[0; 18]);
        assert_eq!(
            run(&mut c, &[(&[5, 1, 0], &[5, 0]), (&req, &reply)]),
            Ok(())
        );
        assert!(c.is_done());
    }

    #[test]
    fn username_password() {
        let req: &[u8] = &[5, 1, 0, 1, 127, 0, 0, 1, 0, 80];
        let auth: &[u8] = b"\x01\x05alice\x06secret";
        let mut c = Connect::new("127.0.0.1", 80, Some(("alice", "secret"))).unwrap();
        let r = run(
            &mut c,
            &[(&[5, 2, 0, 2], &[5, 2]), (auth, &[1, 0]), (req, V4_OK)],
        );
        assert_eq!(r, Ok(()));
        assert!(c.is_done());

        // The proxy may skip authentication even when credentials were offered.
        let mut c = Connect::new("127.0.0.1", 80, Some(("alice", "secret"))).unwrap();
        assert_eq!(
            run(&mut c, &[(&[5, 2, 0, 2], &[5, 0]), (req, V4_OK)]),
            Ok(())
        );

        let mut c = Connect::new("127.0.0.1", 80, Some(("alice", "wrong"))).unwrap();
        let r = run(
            &mut c,
            &[
                (&[5, 2, 0, 2], &[5, 2]),
                (b"\x01\x05alice\x05wrong", &[1, 1]),
            ],
        );
        assert_eq!(r, Err(ProxyError::AuthRejected));
    }

    #[test]
    fn refusals_and_bad_replies() {
        let req: &[u8] = &[5, 1, 0, 1, 127, 0, 0, 1, 0, 80];
        let new = || Connect::new("127.0.0.1", 80, None).unwrap();
        let cases: &[(Script, ProxyError)] = &[
            (&[(&[5, 1, 0], &[5, 0xff])], ProxyError::NoAcceptableAuth),
            (
                &[(&[5, 1, 0], &[5, 2])],
                ProxyError::BadReply(
                    "the proxy chose an authentication method that was not offered",
                ),
            ),
            (
                &[(&[5, 1, 0], b"HT")],
                ProxyError::BadReply("not a SOCKS5 proxy"),
            ),
            (
                &[
                    (&[5, 1, 0], &[5, 0]),
                    (req, &[5, 2, 0, 1, 0, 0, 0, 0, 0, 0]),
                ],
                ProxyError::Socks5(2),
            ),
            (
                &[(&[5, 1, 0], &[5, 0]), (req, &[5, 5])],
                ProxyError::Socks5(5),
            ),
            (
                &[(&[5, 1, 0], &[5, 0]), (req, &[4, 0])],
                ProxyError::BadReply("not a SOCKS5 reply"),
            ),
            (
                &[(&[5, 1, 0], &[5, 0]), (req, &[5, 0, 0, 9])],
                ProxyError::BadReply("unknown address type in the reply"),
            ),
        ];
        for (script, want) in cases {
            assert_eq!(run(&mut new(), script), Err(want.clone()), "{want:?}");
        }
    }

    #[test]
    fn limits() {
        let long = "a".repeat(256);
        assert!(matches!(
            Connect::new(&long, 1, None),
            Err(ProxyError::Unusable(_))
        ));
        assert!(Connect::new(&long[..255], 1, None).is_ok());
        assert!(matches!(
            Connect::new("h", 1, Some((long.as_str(), "p"))),
            Err(ProxyError::Unusable(_))
        ));
        assert!(matches!(
            Connect::new("h", 1, Some(("u", long.as_str()))),
            Err(ProxyError::Unusable(_))
        ));
    }

    #[test]
    fn debug_hides_the_credentials() {
        let c = Connect::new("h", 1, Some(("alice", "hunter2"))).unwrap();
        assert!(!format!("{c:?}").contains("hunter2"));
    }
}
