//! Observability for the adapters (feature `tracing`): one span per connection and an event at
//! each turn of its life, none per message above trace level.
//!
//! Owns only what is logged and at which level; it reads the connection's events and state
//! and never changes them. The adapters call it whether or not the feature is on: without it,
//! every method is an empty inline function and the type has no size.
//!
//! Span `websocket` with `role`, `peer` (when the user records it: [`Trace::span`]),
//! `protocol` and `extensions` (once open). Events: `handshake request` (debug, server),
//! `open` (info), `closed` (info: `code`, `reason`, `closed_by` us or peer), `protocol error`
//! (warn: `rule`), `timed out` (warn: `timeout`), `handshake failed` and `connection ended`
//! (info: `error`), and `message` (trace: `kind`, `len`).
#![forbid(unsafe_code)]

use crate::{Connection, Event};

#[cfg(feature = "tracing")]
#[derive(Debug)]
pub(crate) struct Trace {
    span: tracing::Span,
    /// We sent the first close frame (seen as the Closing state).
    we_closed: bool,
}

#[cfg(not(feature = "tracing"))]
#[derive(Debug)]
pub(crate) struct Trace;

#[cfg(not(feature = "tracing"))]
impl Trace {
    #[inline]
    pub(crate) fn new(_: &Connection) -> Trace {
        Trace
    }
    #[inline]
    pub(crate) fn none() -> Trace {
        Trace
    }
    #[inline]
    pub(crate) fn observe(&mut self, _: &Connection) {}
    #[inline]
    pub(crate) fn on_event(&mut self, _: &Connection, _: &Event) {}
}

#[cfg(feature = "tracing")]
impl Trace {
    pub(crate) fn new(conn: &Connection) -> Trace {
        let span = tracing::info_span!(
            "websocket",
            role = ?conn.role(),
            peer = tracing::field::Empty,
            protocol = tracing::field::Empty,
            extensions = tracing::field::Empty,
        );
        Trace {
            span,
            we_closed: false,
        }
    }

    /// A trace that records nothing (what a value moved out of leaves behind).
    pub(crate) fn none() -> Trace {
        Trace {
            span: tracing::Span::none(),
            we_closed: false,
        }
    }

    /// The connection's span, e.g. to record `peer`: `span.record("peer", addr.to_string())`.
    pub(crate) fn span(&self) -> &tracing::Span {
        &self.span
    }

    /// Notes what the state says before the next event (who started closing).
    pub(crate) fn observe(&mut self, conn: &Connection) {
        if conn.state() == crate::State::Closing {
            self.we_closed = true;
        }
    }

    pub(crate) fn on_event(&mut self, conn: &Connection, ev: &Event) {
        use crate::ConnectionError as E;
        let _enter = self.span.enter();
        match ev {
            Event::Request(req) => {
                tracing::debug!(
                    method = req.method(),
                    path = req.path(),
                    "handshake request"
                )
            }
            Event::Open => {
                if let Some(protocol) = conn.protocol() {
                    self.span.record("protocol", protocol);
                }
                let extensions = conn.extensions().names().join(", ");
                if !extensions.is_empty() {
                    self.span.record("extensions", extensions.as_str());
                }
                tracing::info!("open");
            }
            Event::Message(m) => {
                tracing::trace!(kind = ?message_kind(m), len = m.as_payload().len(), "message")
            }
            Event::Fragment(f) => tracing::trace!(len = f.data.len(), fin = f.fin, "fragment"),
            Event::Closed(Ok(frame)) => {
                let closed_by = if self.we_closed { "us" } else { "peer" };
                match frame {
                    Some(f) => tracing::info!(
                        code = u16::from(f.code),
                        reason = &*f.reason,
                        closed_by,
                        "closed"
                    ),
                    None => tracing::info!(closed_by, "closed"),
                }
            }
            Event::Closed(Err(E::Protocol(rule))) => {
                tracing::warn!(rule = %rule, "protocol error")
            }
            Event::Closed(Err(E::Timeout(t))) => tracing::warn!(timeout = ?t, "timed out"),
            Event::Closed(Err(E::Handshake(e))) => tracing::info!(error = %e, "handshake failed"),
            Event::Closed(Err(e)) => tracing::info!(error = %e, "connection ended"),
        }
    }
}

#[cfg(feature = "tracing")]
fn message_kind(m: &crate::Message) -> &'static str {
    use crate::Message::*;
    match m {
        Text(_) => "text",
        Binary(_) => "binary",
        Ping(_) => "ping",
        Pong(_) => "pong",
        Close(_) => "close",
    }
}
