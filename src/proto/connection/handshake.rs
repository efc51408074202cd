//! The opening handshake inside the connection, in both roles: a server reads the request
//! through `receive`, hands it out as [`Event::Request`] and answers what its user decides; a
//! client's request is queued at creation and the response is checked as it arrives. Bytes
//! after the head stay in the receive buffer as the first frames. Also [`answer`], the same
//! judgement for servers whose HTTP stack parsed the request (hyper).
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use crate::proto::time::Instant;

use super::state::{Input, Phase};
use super::{Connection, Event, Role, Step};
use crate::proto::config::Config;
use crate::proto::error::{ApiMisuse, HandshakeError, Timeout};
use crate::proto::ext::{self, Negotiated};
use crate::proto::handshake::client::{Accepted, ClientHandshake};
use crate::proto::handshake::server::{self, Accept, Request, RequestParser};
use crate::proto::handshake::Response;

/// The handshake state: its deadline and where it is.
#[derive(Debug)]
pub(crate) struct Handshake {
    deadline: Instant,
    step: HandshakeStep,
}

#[derive(Debug)]
enum HandshakeStep {
    /// Server: reading the request head.
    ReadingRequest(RequestParser),
    /// Server: the request was handed out; waiting for `accept` or `respond`.
    AwaitingDecision(Box<Request>),
    /// Client: our request is queued; reading the response head (and a refusal's body).
    ReadingResponse(ClientHandshake),
}

impl Handshake {
    pub(super) fn server(config: &Config, now: Instant) -> Handshake {
        Handshake {
            deadline: now + config.handshake_timeout,
            step: HandshakeStep::ReadingRequest(RequestParser::new(
                config.handshake_limits.clone(),
            )),
        }
    }

    pub(super) fn client(hs: ClientHandshake, config: &Config, now: Instant) -> Handshake {
        Handshake {
            deadline: now + config.handshake_timeout,
            step: HandshakeStep::ReadingResponse(hs),
        }
    }

    pub(super) fn deadline(&self) -> Instant {
        self.deadline
    }
}

/// What a server agreed to in the handshake: what [`Connection::open`] needs.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agreed {
    /// The subprotocol chosen.
    pub protocol: Option<String>,
    /// The extensions in force.
    pub extensions: Negotiated,
}

/// A server's answer to an opening request, as a structured response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Answer {
    /// Send `response` (101), then run [`Connection::open`] with `agreed`.
    Accept {
        /// The 101 response.
        response: Response,
        /// The terms in force.
        agreed: Agreed,
    },
    /// The request broke RFC 6455 (or the chosen terms could not be sent): send `response`.
    Refuse {
        /// The refusal (4xx, or 500 for terms of ours that cannot be sent).
        response: Response,
        /// Why.
        error: HandshakeError,
    },
    /// The user chose to answer with this response (a page, a redirect, a refusal).
    Respond(Response),
}

/// What a client agreed to, from a server's acceptance checked by another HTTP layer (an
/// HTTP/2 extended CONNECT, [`ClientHandshake::check_extended_connect_response`]): the terms
/// [`Connection::open`] takes. Fails if the server accepted extension parameters that `config`
/// did not offer or cannot honour.
pub fn client_agreed(accepted: &Accepted, config: &Config) -> Result<Agreed, HandshakeError> {
    Ok(Agreed {
        protocol: accepted.protocol.clone(),
        extensions: ext::client_negotiate(&accepted.extensions, config)?,
    })
}

/// Judges `req` (parsed by this crate or converted from another HTTP stack) and builds the
/// answer for the user's `decision`: accept with these terms, or respond with this response.
/// A request that breaks RFC 6455 is refused whatever the decision to accept; extensions are
/// negotiated for `config`.
pub fn answer(req: &Request, decision: Result<Accept, Response>, config: &Config) -> Answer {
    let mut terms = match decision {
        Ok(terms) => terms,
        Err(response) => return Answer::Respond(response),
    };
    let refuse = |error: HandshakeError| Answer::Refuse {
        response: error.to_response(),
        error,
    };
    let offers = match req.validate().and_then(|()| req.extensions()) {
        Ok(offers) => offers,
        Err(e) => return refuse(e),
    };
    let (extensions, header) = ext::server_negotiate(&offers, config);
    terms.extensions = header;
    match server::accept(req, &terms) {
        Ok(response) => Answer::Accept {
            response,
            agreed: Agreed {
                protocol: terms.protocol,
                extensions,
            },
        },
        Err(e) => refuse(e),
    }
}

impl Connection {
    /// Whether the opening handshake is still under way.
    pub fn is_handshaking(&self) -> bool {
        matches!(self.phase, Phase::Handshake(_))
    }

    /// Moves the handshake forward with what the receive buffer holds.
    pub(super) fn handshake_step(&mut self) -> Step {
        let Phase::Handshake(h) = &mut self.phase else {
            return Step::Stop;
        };
        match &mut h.step {
            HandshakeStep::ReadingRequest(parser) => match parser.parse(self.recv.data()) {
                Ok(None) => Step::NeedMore,
                Ok(Some((req, n))) => {
                    self.recv.advance(n);
                    h.step = HandshakeStep::AwaitingDecision(Box::new(req.clone()));
                    self.events.push_back(Event::Request(req));
                    Step::Continue
                }
                Err(e) => {
                    self.queue_response(&e.to_response());
                    self.transition(Input::HandshakeEnded(Err(e.into())));
                    Step::Stop
                }
            },
            HandshakeStep::AwaitingDecision(_) => Step::NeedMore,
            HandshakeStep::ReadingResponse(hs) => {
                let accepted = match hs.parse_response(self.recv.data()) {
                    Ok(None) => return Step::NeedMore,
                    Ok(Some((accepted, n))) => {
                        ext::client_negotiate(&accepted.extensions, &self.config)
                            .map(|ext| (accepted, ext, n))
                    }
                    Err(e) => Err(e),
                };
                match accepted {
                    Ok((accepted, extensions, n)) => {
                        self.recv.advance(n);
                        self.response_headers = Some(accepted.headers);
                        self.set_agreed(Agreed {
                            protocol: accepted.protocol,
                            extensions,
                        });
                        self.transition(Input::Opened);
                        Step::Continue
                    }
                    Err(e) => {
                        self.transition(Input::HandshakeEnded(Err(e.into())));
                        Step::Stop
                    }
                }
            }
        }
    }

    fn take_request(&mut self) -> Result<Box<Request>, ApiMisuse> {
        match &mut self.phase {
            Phase::Handshake(h) if matches!(h.step, HandshakeStep::AwaitingDecision(_)) => {
                let parser = HandshakeStep::ReadingRequest(RequestParser::default());
                match core::mem::replace(&mut h.step, parser) {
                    HandshakeStep::AwaitingDecision(req) => Ok(req),
                    _ => unreachable!("matched above"),
                }
            }
            _ => Err(ApiMisuse::NoRequestToAnswer),
        }
    }

    /// Server: accepts the request handed out in [`Event::Request`] on these terms (a
    /// subprotocol the client offered, extra headers). The 101 is queued and the connection
    /// opens ([`Event::Open`]); a request that breaks RFC 6455 is refused instead (its 4xx is
    /// queued, and [`Event::Closed`] carries the [`HandshakeError`]).
    pub fn accept(&mut self, terms: Accept) -> Result<(), ApiMisuse> {
        let req = self.take_request()?;
        match answer(&req, Ok(terms), &self.config) {
            Answer::Accept { response, agreed } => {
                self.queue_response(&response);
                self.set_agreed(agreed);
                self.transition(Input::Opened);
            }
            Answer::Refuse { response, error } => {
                self.queue_response(&response);
                self.transition(Input::HandshakeEnded(Err(error.into())));
            }
            Answer::Respond(response) => self.end_with_response(&response),
        }
        Ok(())
    }

    /// Server: answers the request with `response` instead of a WebSocket (a page for a plain
    /// HTTP request, a redirect, a refusal). The connection ends cleanly once it is written:
    /// [`Event::Closed`] with `Ok(None)`.
    pub fn respond(&mut self, response: Response) -> Result<(), ApiMisuse> {
        self.take_request()?;
        self.end_with_response(&response);
        Ok(())
    }

    /// Server: [`accept`](Self::accept) on `Ok`, [`respond`](Self::respond) on `Err`, the shape
    /// the adapters' accept callbacks return.
    pub fn decide(&mut self, decision: Result<Accept, Response>) -> Result<(), ApiMisuse> {
        match decision {
            Ok(terms) => self.accept(terms),
            Err(response) => self.respond(response),
        }
    }

    fn end_with_response(&mut self, response: &Response) {
        self.queue_response(response);
        self.transition(Input::HandshakeEnded(Ok(None)));
    }

    fn queue_response(&mut self, response: &Response) {
        self.tx.push_bytes(bytes::Bytes::from(response.to_bytes()));
    }

    /// The handshake's deadline passed: a server still waiting for (or on) the request says
    /// 408 first.
    pub(super) fn handshake_timed_out(&mut self) {
        if self.role == Role::Server {
            self.queue_response(&Response::reject(408, "handshake timed out\n"));
        }
        self.transition(Input::TimedOut(Timeout::Handshake));
    }
}
