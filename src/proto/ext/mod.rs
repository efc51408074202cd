//! Extensions negotiated in the opening handshake, and what they do to frames.
//!
//! Owns the negotiation step both roles share: which offers a client sends for its [`Config`],
//! which offer a server accepts and what it answers, and whether a client can live with the
//! server's answer. The result, [`Negotiated`], is handed to
//! [`Connection::with_extensions`](crate::Connection::with_extensions), which then owns the
//! per-message work (permessage-deflate sits between frame decoding and message assembly).
#![forbid(unsafe_code)]

#[cfg(feature = "deflate")]
pub mod deflate;

use super::config::Config;
use super::error::HandshakeError;
use super::handshake::ExtensionOffer;

/// The extensions in force on a connection.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct Negotiated {
    /// permessage-deflate's parameters, when it was agreed.
    #[cfg(feature = "deflate")]
    pub deflate: Option<deflate::DeflateParams>,
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
            return (
                Negotiated {
                    deflate: Some(params),
                },
                Some(answer.to_header_value()),
            );
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
        let known = ext.name.eq_ignore_ascii_case(deflate::NAME) && negotiated.deflate.is_none();
        #[cfg(not(feature = "deflate"))]
        let known = false;
        if !known {
            return Err(HandshakeError::UnofferedExtension(ext.name.clone()));
        }
        #[cfg(feature = "deflate")]
        {
            negotiated.deflate = Some(config.deflate.check_response(ext)?);
        }
    }
    let _ = config;
    Ok(negotiated)
}
