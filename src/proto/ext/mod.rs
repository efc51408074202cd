//! Extensions negotiated in the opening handshake, and what they do to messages.
//!
//! Owns the negotiation step both roles share (which offers a client sends for its [`Config`],
//! which offer a server accepts and what it answers, whether a client can live with the server's
//! answer) and `Codec`, the one type through which the connection compresses and inflates
//! payloads. Every `cfg(feature = "deflate")` of the connection's work lives here: the
//! connection sees a codec that may or may not compress, never the feature.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

#[cfg(feature = "deflate")]
pub mod deflate;

use bytes::Bytes;

use super::config::Config;
use super::error::{HandshakeError, ProtocolError};
use super::handshake::ExtensionOffer;

/// The extensions in force on a connection, from our point of view (ours and the peer's terms,
/// so nothing downstream needs to know our role).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// permessage-deflate's terms, when it was agreed.
    #[cfg(feature = "deflate")]
    pub deflate: Option<deflate::DeflateTerms>,
}

impl Negotiated {
    /// No extension.
    pub fn none() -> Self {
        Self::default()
    }

    /// The RSV bits these extensions own (RSV1 for permessage-deflate).
    pub fn rsv_bits(&self) -> u8 {
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            return 0b100;
        }
        0
    }

    /// The `Sec-WebSocket-Extensions` names in force, for display.
    pub fn names(&self) -> Vec<&'static str> {
        #[allow(unused_mut)]
        let mut names = Vec::new();
        #[cfg(feature = "deflate")]
        if self.deflate.is_some() {
            names.push(deflate::NAME);
        }
        names
    }
}

/// The extension offers a client sends for `config`.
pub fn client_offers(config: &Config) -> Vec<ExtensionOffer> {
    #[allow(unused_mut)]
    let mut offers = Vec::new();
    #[cfg(feature = "deflate")]
    if config.deflate.enabled {
        offers.push(config.deflate.client_offer());
    }
    let _ = config;
    offers
}

/// A server's choice among a client's offers: what is in force, and the
/// `Sec-WebSocket-Extensions` value to answer with (`None`: no extension).
pub fn server_negotiate(
    offers: &[ExtensionOffer],
    config: &Config,
) -> (Negotiated, Option<String>) {
    #[cfg(feature = "deflate")]
    if config.deflate.enabled {
        if let Some((params, answer)) = config.deflate.accept_offers(offers) {
            let negotiated = Negotiated {
                deflate: Some(params.for_server()),
            };
            return (negotiated, Some(answer.to_header_value()));
        }
    }
    let _ = (offers, config);
    (Negotiated::none(), None)
}

/// A client's check of what the server accepted (names were already checked against the offers).
pub fn client_negotiate(
    accepted: &[ExtensionOffer],
    config: &Config,
) -> Result<Negotiated, HandshakeError> {
    #[allow(unused_mut)]
    let mut negotiated = Negotiated::none();
    for ext in accepted {
        #[cfg(feature = "deflate")]
        let ours = ext.name.eq_ignore_ascii_case(deflate::NAME) && negotiated.deflate.is_none();
        #[cfg(not(feature = "deflate"))]
        let ours = false;
        if !ours {
            return Err(HandshakeError::UnofferedExtension(ext.name.clone()));
        }
        #[cfg(feature = "deflate")]
        {
            negotiated.deflate = Some(config.deflate.check_response(ext)?.for_client());
        }
    }
    let _ = config;
    Ok(negotiated)
}

/// How a message is encoded on a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[cfg_attr(not(feature = "deflate"), allow(dead_code))]
pub(crate) enum Encoding {
    /// As it is: the same frame on every connection of a role.
    Plain,
    /// Compressed by a compressor that starts fresh for each message: the same bytes on every
    /// connection with these terms.
    Stateless { bits: u8, level: u32 },
    /// Compressed against this connection's history: only for this connection.
    Stateful,
}

/// The per-message work of the extensions in force: compress what we send, inflate what
/// arrives. Without an extension (or without the feature) it passes everything through.
#[derive(Debug, Default)]
pub(crate) struct Codec {
    #[cfg(feature = "deflate")]
    deflate: Option<Box<deflate::Deflate>>,
    rsv: u8,
}

impl Codec {
    pub(crate) fn new(negotiated: &Negotiated, config: &Config) -> Codec {
        let _ = config;
        Codec {
            #[cfg(feature = "deflate")]
            deflate: negotiated
                .deflate
                .map(|t| Box::new(deflate::Deflate::new(t, &config.deflate))),
            rsv: negotiated.rsv_bits(),
        }
    }

    /// RSV bits the extensions own on the first frame of a data message.
    pub(crate) fn rsv_bits(&self) -> u8 {
        self.rsv
    }

    /// Whether a first frame with these RSV bits carries a compressed message.
    pub(crate) fn is_compressed(&self, rsv: u8) -> bool {
        rsv & 0b100 != 0 && self.rsv & 0b100 != 0
    }

    /// The payload to send for a whole message and its RSV bits: compressed when an extension
    /// compresses and the message is worth it, else the payload itself.
    pub(crate) fn encode(&mut self, payload: Bytes) -> (Bytes, u8) {
        #[cfg(feature = "deflate")]
        if let Some(d) = self
            .deflate
            .as_mut()
            .filter(|d| d.should_compress(payload.len()))
        {
            return (Bytes::from(d.compress(&payload)), 0b100);
        }
        (payload, 0)
    }

    /// How a whole message of `len` bytes is encoded here, for sharing one encoding between
    /// connections.
    pub(crate) fn encoding(&self, len: usize) -> Encoding {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_ref().filter(|d| d.should_compress(len)) {
            return match d.stateless_terms() {
                Some((bits, level)) => Encoding::Stateless { bits, level },
                None => Encoding::Stateful,
            };
        }
        let _ = len;
        Encoding::Plain
    }

    /// The next part of a message being compressed a piece at a time (only when
    /// [`encoding`](Self::encoding) said it compresses); `last` ends the message.
    pub(crate) fn encode_part(&mut self, input: &[u8], last: bool) -> Bytes {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_mut() {
            return Bytes::from(d.compress_part(input, last));
        }
        let _ = last;
        Bytes::copy_from_slice(input)
    }

    /// Inflates from `input` into `out`, bounded by `limit` for the message and `budget` bytes
    /// of output for this call; `end`: `input` ends the message. Returns the input used and
    /// whether it stopped at the budget with more to do.
    pub(crate) fn decode(
        &mut self,
        input: &[u8],
        end: bool,
        out: &mut Vec<u8>,
        limit: usize,
        budget: usize,
    ) -> Result<(usize, bool), ProtocolError> {
        #[cfg(feature = "deflate")]
        if let Some(d) = self.deflate.as_mut() {
            return d.decompress_some(input, end, out, limit, budget);
        }
        let _ = (input, end, out, limit, budget);
        Err(ProtocolError::ReservedBitsSet(0b100))
    }

    /// Bytes of compression state held.
    pub(crate) fn memory(&self) -> usize {
        #[cfg(feature = "deflate")]
        if let Some(d) = &self.deflate {
            return d.memory();
        }
        0
    }

    /// Whether any extension transforms payloads.
    pub(crate) fn is_active(&self) -> bool {
        self.rsv != 0
    }
}
