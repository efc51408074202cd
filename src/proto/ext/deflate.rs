//! permessage-deflate (RFC 7692): negotiation of its parameters and the per-message codec.
//!
//! Owns the parameter rules (`server_no_context_takeover`, `client_no_context_takeover`,
//! `server_max_window_bits`, `client_max_window_bits`), and compressing and inflating message
//! payloads with `flate2` (the zlib-rs backend, pure Rust, the only flate2 backend that takes a
//! window size). It never sees frames or sockets: the connection hands it payloads through
//! `Codec`. It knows nothing of roles: negotiation turns the server/client terms
//! into ours and the peer's ([`DeflateTerms`]).
//!
//! ## Windows of 8 bits
//!
//! zlib (and zlib-rs) cannot make a raw DEFLATE stream with a 256-byte window. Inflating is no
//! problem: a 512-byte window reads anything a 256-byte one wrote, so a peer's window of 8 is
//! inflated with 9. Compressing under a negotiated window of 8 is done with stored blocks
//! (compression level 0), which hold no back-references at all and so honour any window: the
//! data goes out uncompressed inside valid DEFLATE, never with a reference the peer's window
//! cannot reach. Browsers never ask for 8; this keeps us correct when a peer does.
//!
//! ## Memory per connection
//!
//! A compressor costs about `2^(w+2) + 2^(memLevel+9)` bytes (zlib's formula; memLevel is 8):
//! 256 KiB at w = 15, 10 KiB at w = 9. A decompressor costs about `2^w` bytes plus 7 KiB:
//! 39 KiB at w = 15. Both are created on the first message that needs them. A server with many
//! connections can ask for smaller windows (`server_max_window_bits` caps ours,
//! `client_max_window_bits` the client's) and, with no context takeover, the contexts are reset
//! after every message.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use flate2::{Compress, Compression, Decompress, FlushCompress, FlushDecompress, Status};

pub use crate::proto::config::DeflateConfig;
use crate::proto::error::{HandshakeError, ProtocolError};
use crate::proto::handshake::ExtensionOffer;

/// The extension's name.
pub const NAME: &str = "permessage-deflate";

/// The bytes a sync flush ends with, removed on the wire (RFC 7692 7.2.1).
const TRAILER: [u8; 4] = [0x00, 0x00, 0xff, 0xff];

/// The parameters in force after negotiation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateParams {
    /// The server resets its compressor after each message.
    pub server_no_context_takeover: bool,
    /// The client resets its compressor after each message.
    pub client_no_context_takeover: bool,
    /// The server's window (8-15).
    pub server_max_window_bits: u8,
    /// The client's window (8-15).
    pub client_max_window_bits: u8,
}

impl DeflateParams {
    /// The terms as a server sees them: ours are the server's.
    pub fn for_server(&self) -> DeflateTerms {
        DeflateTerms {
            local: Direction {
                no_context_takeover: self.server_no_context_takeover,
                max_window_bits: self.server_max_window_bits,
            },
            remote: Direction {
                no_context_takeover: self.client_no_context_takeover,
                max_window_bits: self.client_max_window_bits,
            },
        }
    }

    /// The terms as a client sees them: ours are the client's.
    pub fn for_client(&self) -> DeflateTerms {
        let DeflateTerms { local, remote } = self.for_server();
        DeflateTerms {
            local: remote,
            remote: local,
        }
    }
}

/// One direction of compression: the sender's window and whether it resets after each message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Direction {
    /// The compressor is reset after each message.
    pub no_context_takeover: bool,
    /// The window (8-15).
    pub max_window_bits: u8,
}

/// The agreed parameters from one end's point of view.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeflateTerms {
    /// What we compress with.
    pub local: Direction,
    /// What the peer compresses with (and so what we inflate).
    pub remote: Direction,
}

/// An offer's (or response's) parameters, checked for unknown, duplicate and invalid ones.
#[derive(Debug, Default)]
struct Params {
    snct: bool,
    cnct: bool,
    smwb: Option<u8>,
    /// `Some(None)`: present without a value.
    cmwb: Option<Option<u8>>,
}

fn bits(v: &str) -> Option<u8> {
    // RFC 7692 7.1.2: 1*DIGIT, 8 to 15, no leading zeros.
    match v.parse::<u8>() {
        Ok(n @ 8..=15) if !v.starts_with('0') => Some(n),
        _ => None,
    }
}

impl Params {
    fn parse(offer: &ExtensionOffer) -> Option<Params> {
        let mut p = Params::default();
        for (key, value) in &offer.params {
            let value = value.as_deref();
            match key.to_ascii_lowercase().as_str() {
                "server_no_context_takeover" if !p.snct && value.is_none() => p.snct = true,
                "client_no_context_takeover" if !p.cnct && value.is_none() => p.cnct = true,
                "server_max_window_bits" if p.smwb.is_none() => p.smwb = Some(bits(value?)?),
                "client_max_window_bits" if p.cmwb.is_none() => {
                    p.cmwb = Some(match value {
                        None => None,
                        Some(v) => Some(bits(v)?),
                    })
                }
                _ => return None,
            }
        }
        Some(p)
    }
}

impl DeflateConfig {
    /// The offer a client sends. `client_max_window_bits` is always there, so the server may
    /// ask for a smaller client window.
    pub fn client_offer(&self) -> ExtensionOffer {
        let mut params = Vec::new();
        if self.server_no_context_takeover {
            params.push(("server_no_context_takeover".into(), None));
        }
        if self.client_no_context_takeover {
            params.push(("client_no_context_takeover".into(), None));
        }
        if self.server_max_window_bits < 15 {
            params.push((
                "server_max_window_bits".into(),
                Some(self.server_max_window_bits.clamp(8, 15).to_string()),
            ));
        }
        let cmwb = (self.client_max_window_bits < 15)
            .then(|| self.client_max_window_bits.clamp(8, 15).to_string());
        params.push(("client_max_window_bits".into(), cmwb));
        ExtensionOffer {
            name: NAME.into(),
            params,
        }
    }

    /// A server's pick: the first acceptable permessage-deflate offer, the parameters in force,
    /// and the response. Offers with unknown, duplicate or invalid parameters are declined.
    pub fn accept_offers(
        &self,
        offers: &[ExtensionOffer],
    ) -> Option<(DeflateParams, ExtensionOffer)> {
        offers
            .iter()
            .filter(|o| o.name.eq_ignore_ascii_case(NAME))
            .find_map(|o| self.accept_offer(&Params::parse(o)?))
    }

    fn accept_offer(&self, p: &Params) -> Option<(DeflateParams, ExtensionOffer)> {
        let ours = self.server_max_window_bits.clamp(8, 15);
        let server_bits = p.smwb.map_or(ours, |asked| asked.min(ours));
        // We may ask the client for a smaller window only if it said it can take one.
        let client_bits = match p.cmwb {
            None => 15,
            Some(offered) => offered
                .unwrap_or(15)
                .min(self.client_max_window_bits.clamp(8, 15)),
        };
        let params = DeflateParams {
            server_no_context_takeover: p.snct || self.server_no_context_takeover,
            client_no_context_takeover: p.cnct || self.client_no_context_takeover,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        };
        let mut answer = Vec::new();
        if params.server_no_context_takeover {
            answer.push(("server_no_context_takeover".into(), None));
        }
        if params.client_no_context_takeover {
            answer.push(("client_no_context_takeover".into(), None));
        }
        if p.smwb.is_some() || server_bits < 15 {
            answer.push((
                "server_max_window_bits".into(),
                Some(server_bits.to_string()),
            ));
        }
        if p.cmwb.is_some() && client_bits < 15 {
            answer.push((
                "client_max_window_bits".into(),
                Some(client_bits.to_string()),
            ));
        }
        Some((
            params,
            ExtensionOffer {
                name: NAME.into(),
                params: answer,
            },
        ))
    }

    /// A client's check of the server's response to [`client_offer`](Self::client_offer).
    pub fn check_response(&self, resp: &ExtensionOffer) -> Result<DeflateParams, HandshakeError> {
        let bad = |why: &str| HandshakeError::UnofferedExtension(format!("{NAME}: {why}"));
        let p =
            Params::parse(resp).ok_or_else(|| bad("unknown, duplicate or invalid parameter"))?;
        let asked_server = self.server_max_window_bits.clamp(8, 15);
        let server_bits = p.smwb.unwrap_or(15);
        if self.server_max_window_bits < 15 && server_bits > asked_server {
            return Err(bad("server window larger than requested"));
        }
        let client_bits = match p.cmwb {
            None => self.client_max_window_bits.clamp(8, 15),
            Some(None) => return Err(bad("client_max_window_bits needs a value in a response")),
            Some(Some(b)) if b > self.client_max_window_bits.clamp(8, 15) => {
                return Err(bad("client window larger than offered"))
            }
            Some(Some(b)) => b,
        };
        Ok(DeflateParams {
            server_no_context_takeover: p.snct,
            client_no_context_takeover: p.cnct,
            server_max_window_bits: server_bits,
            client_max_window_bits: client_bits,
        })
    }
}

/// One connection's compressor and decompressor.
pub struct Deflate {
    level: u32,
    threshold: usize,
    /// Our window and takeover.
    tx_bits: u8,
    tx_reset: bool,
    /// The peer's.
    rx_bits: u8,
    rx_reset: bool,
    compressor: Option<Compress>,
    decompressor: Option<Decompress>,
}

impl core::fmt::Debug for Deflate {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("Deflate")
            .field("tx_bits", &self.tx_bits)
            .field("rx_bits", &self.rx_bits)
            .field("tx_reset", &self.tx_reset)
            .field("rx_reset", &self.rx_reset)
            .finish_non_exhaustive()
    }
}

impl Deflate {
    /// The codec for these terms.
    pub fn new(terms: DeflateTerms, config: &DeflateConfig) -> Deflate {
        Deflate {
            level: config.level.min(9),
            threshold: config.threshold,
            tx_bits: terms.local.max_window_bits,
            tx_reset: terms.local.no_context_takeover,
            rx_bits: terms.remote.max_window_bits,
            rx_reset: terms.remote.no_context_takeover,
            compressor: None,
            decompressor: None,
        }
    }

    /// Our compressor's window and level if it starts fresh for every message (no context
    /// takeover on our side): then a message compresses to the same bytes on every connection
    /// with these terms, and can be compressed once for all of them.
    pub fn stateless_terms(&self) -> Option<(u8, u32)> {
        self.tx_reset.then_some((self.tx_bits, self.level))
    }

    /// Whether a payload of `len` bytes is worth compressing.
    pub fn should_compress(&self, len: usize) -> bool {
        len >= self.threshold
    }

    /// Compresses one whole message: raw DEFLATE ended by a sync flush, trailer removed.
    pub fn compress(&mut self, input: &[u8]) -> Vec<u8> {
        self.compress_part(input, true)
    }

    /// Compresses the next part of a message; `last` ends it (sync flush, trailer removed,
    /// context reset if agreed). The parts' outputs, concatenated, are the message's payload,
    /// so each may go out as its own frame: a large message is compressed a piece at a time as
    /// the transport drains, never all at once.
    pub fn compress_part(&mut self, input: &[u8], last: bool) -> Vec<u8> {
        let (level, bits) = match self.tx_bits {
            // No back-references at all: valid under any window (see the module docs).
            8 => (0, 9),
            b => (self.level, b.clamp(9, 15)),
        };
        let c = self.compressor.get_or_insert_with(|| {
            Compress::new_with_window_bits(Compression::new(level), false, bits)
        });
        let flush = if last {
            FlushCompress::Sync
        } else {
            FlushCompress::None
        };
        let mut out = Vec::with_capacity(input.len() / 2 + 64);
        let mut rest = input;
        loop {
            if out.capacity() - out.len() < 64 {
                out.reserve(out.capacity().max(256));
            }
            let before = c.total_in();
            // In-memory compression of a complete input cannot fail but for a bug in the
            // backend; stop rather than loop.
            if c.compress_vec(rest, &mut out, flush).is_err() {
                break;
            }
            rest = &rest[(c.total_in() - before) as usize..];
            // Done once input is used up and output room was left over (nothing pending).
            if rest.is_empty() && out.len() < out.capacity() {
                break;
            }
        }
        if !last {
            return out;
        }
        if out.ends_with(&TRAILER) {
            out.truncate(out.len() - TRAILER.len());
        }
        if out.is_empty() {
            // An empty message right after a flush: zlib emits nothing at all, not even the
            // empty stored block's header, so the peer's appended 00 00 ff ff would be read as
            // the start of a stored block 0xff00 bytes long and swallow the next message. Send
            // the header byte that RFC 7692 7.2.3.6 shows for an empty message.
            out.push(0x00);
        }
        if self.tx_reset {
            c.reset();
        }
        out
    }

    /// Inflates one frame's payload of a compressed message into `out`; `fin` marks the
    /// message's last frame (the trailer is appended then). Fails with 1009 as soon as `out`
    /// would pass `limit`, without inflating the rest.
    pub fn decompress(
        &mut self,
        mut input: &[u8],
        fin: bool,
        out: &mut Vec<u8>,
        limit: usize,
    ) -> Result<(), ProtocolError> {
        loop {
            let (used, more) = self.decompress_some(input, fin, out, limit, usize::MAX)?;
            input = &input[used..];
            if !more {
                return Ok(());
            }
        }
    }

    /// Inflates from `input` into `out`, bounded by `limit` for the message and by `budget`
    /// bytes of output for this call: the work done per call is bounded however far the data
    /// inflates. Returns the input bytes used and whether it stopped at the budget with more
    /// to do (call again with the rest of the input, which may be empty). `end` says that
    /// `input` is the last of the message: once it is used up the trailer is appended.
    pub fn decompress_some(
        &mut self,
        input: &[u8],
        end: bool,
        out: &mut Vec<u8>,
        limit: usize,
        budget: usize,
    ) -> Result<(usize, bool), ProtocolError> {
        let bits = self.rx_bits.clamp(9, 15);
        let d = self
            .decompressor
            .get_or_insert_with(|| Decompress::new_with_window_bits(false, bits));
        let stop = out.len().saturating_add(budget.max(1));
        let (used, mut ended, full) = inflate(d, input, out, limit, stop)?;
        if full {
            return Ok((used, true));
        }
        if end {
            if !ended {
                ended = inflate(d, &TRAILER, out, limit, usize::MAX)?.1;
            }
            if self.rx_reset || ended {
                d.reset(false);
            }
        } else if ended {
            // A final block mid-message: nothing may follow it in this message.
            d.reset(false);
        }
        Ok((used, false))
    }

    /// Bytes of compression state currently allocated (an estimate by zlib's formulas).
    pub fn memory(&self) -> usize {
        let c = self.compressor.as_ref().map_or(0, |_| {
            (1usize << (self.tx_bits.clamp(9, 15) + 2)) + (1 << 17)
        });
        let d = self
            .decompressor
            .as_ref()
            .map_or(0, |_| (1usize << self.rx_bits.clamp(9, 15)) + 7 * 1024);
        c + d
    }
}

/// Inflates `input` into `out` up to `limit` bytes, stopping once `out` reaches `stop` bytes.
/// Returns the input used, whether the stream ended (a final block), and whether it stopped at
/// `stop` (more output may be pending).
///
/// Output goes into an explicitly sized window of `out`, never into whatever spare capacity the
/// vector happens to have: `out` never holds more than `limit + 1` bytes of capacity, however
/// far the data would inflate (a bomb costs the limit, not the next power of two past it).
fn inflate(
    d: &mut Decompress,
    input: &[u8],
    out: &mut Vec<u8>,
    limit: usize,
    stop: usize,
) -> Result<(usize, bool, bool), ProtocolError> {
    let mut used = 0;
    loop {
        let rest = &input[used..];
        let start = out.len();
        if start >= stop {
            return Ok((used, false, true));
        }
        // One byte past the limit is room enough to see that a message is too big.
        let room = limit.saturating_sub(start).saturating_add(1);
        let step = (rest.len().saturating_mul(4))
            .clamp(1024, 256 << 10)
            .min(room)
            .min(stop - start);
        if out.capacity() < start + step {
            // Geometric growth (no quadratic copying), capped at the limit.
            let target = (out.capacity() * 2).max(start + step).min(start + room);
            out.reserve_exact(target - start);
        }
        out.resize(start + step, 0);
        let (in_before, out_before) = (d.total_in(), d.total_out());
        let status = d.decompress(rest, &mut out[start..], FlushDecompress::Sync);
        let produced = (d.total_out() - out_before) as usize;
        out.truncate(start + produced);
        let status = status.map_err(|e| ProtocolError::InvalidCompressedData(e.to_string()))?;
        if out.len() > limit {
            return Err(ProtocolError::MessageTooBig {
                size: out.len() as u64,
                limit,
            });
        }
        let consumed = (d.total_in() - in_before) as usize;
        used += consumed;
        match status {
            Status::StreamEnd => {
                return if used == input.len() {
                    Ok((used, true, false))
                } else {
                    Err(ProtocolError::InvalidCompressedData(
                        "data after the final block".into(),
                    ))
                }
            }
            // More output is pending only if the window was filled.
            _ if used == input.len() && produced < step => return Ok((used, false, false)),
            _ if produced == 0 && consumed == 0 => {
                return Err(ProtocolError::InvalidCompressedData("no progress".into()))
            }
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::handshake::header::parse_extensions;

    fn offer(s: &str) -> Vec<ExtensionOffer> {
        parse_extensions([s]).unwrap()
    }

    fn server_answer(cfg: &DeflateConfig, s: &str) -> Option<String> {
        cfg.accept_offers(&offer(s))
            .map(|(_, a)| a.to_header_value())
    }

    /// (client offer, server answer) for a server with default settings.
    #[test]
    fn negotiation_table() {
        let cfg = DeflateConfig::enabled();
        let table: &[(&str, Option<&str>)] = &[
            ("permessage-deflate", Some("permessage-deflate")),
            (
                "permessage-deflate; client_max_window_bits",
                Some("permessage-deflate"),
            ),
            (
                "permessage-deflate; server_no_context_takeover",
                Some("permessage-deflate; server_no_context_takeover"),
            ),
            (
                "permessage-deflate; client_no_context_takeover",
                Some("permessage-deflate; client_no_context_takeover"),
            ),
            (
                "permessage-deflate; server_max_window_bits=10",
                Some("permessage-deflate; server_max_window_bits=10"),
            ),
            (
                "permessage-deflate; client_max_window_bits=9",
                Some("permessage-deflate; client_max_window_bits=9"),
            ),
            ("permessage-deflate; server_max_window_bits", None), // needs a value
            ("permessage-deflate; server_max_window_bits=7", None),
            ("permessage-deflate; server_max_window_bits=16", None),
            ("permessage-deflate; server_max_window_bits=010", None),
            ("permessage-deflate; client_max_window_bits=abc", None),
            ("permessage-deflate; server_no_context_takeover=1", None),
            ("permessage-deflate; unknown", None),
            (
                "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
                None,
            ),
            (
                "permessage-deflate; client_max_window_bits; client_max_window_bits=9",
                None,
            ),
            ("x-webkit-deflate-frame", None),
            // Several offers: the first acceptable one wins.
            (
                "permessage-deflate; bogus, permessage-deflate; server_max_window_bits=12",
                Some("permessage-deflate; server_max_window_bits=12"),
            ),
            (
                "permessage-deflate; server_max_window_bits=9, permessage-deflate",
                Some("permessage-deflate; server_max_window_bits=9"),
            ),
        ];
        for (o, want) in table {
            assert_eq!(server_answer(&cfg, o).as_deref(), *want, "{o}");
        }
    }

    #[test]
    fn server_limits_apply() {
        let cfg = DeflateConfig {
            server_max_window_bits: 10,
            client_max_window_bits: 11,
            server_no_context_takeover: true,
            ..DeflateConfig::enabled()
        };
        // Our window is capped at 10 whatever is asked; the client's only if it allows it.
        assert_eq!(
            server_answer(&cfg, "permessage-deflate").as_deref(),
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=10")
        );
        assert_eq!(
            server_answer(&cfg, "permessage-deflate; client_max_window_bits; server_max_window_bits=12")
                .as_deref(),
            Some(
                "permessage-deflate; server_no_context_takeover; server_max_window_bits=10; client_max_window_bits=11"
            )
        );
        assert_eq!(
            server_answer(&cfg, "permessage-deflate; server_max_window_bits=9").as_deref(),
            Some("permessage-deflate; server_no_context_takeover; server_max_window_bits=9")
        );
    }

    #[test]
    fn client_checks_the_response() {
        let cfg = DeflateConfig {
            server_max_window_bits: 12,
            client_max_window_bits: 13,
            ..DeflateConfig::enabled()
        };
        assert_eq!(
            cfg.client_offer().to_header_value(),
            "permessage-deflate; server_max_window_bits=12; client_max_window_bits=13"
        );
        let check = |s: &str| cfg.check_response(&offer(s)[0]);
        let p = check("permessage-deflate; server_max_window_bits=10; client_no_context_takeover")
            .unwrap();
        assert_eq!(p.server_max_window_bits, 10);
        assert_eq!(p.client_max_window_bits, 13);
        assert!(p.client_no_context_takeover);
        for bad in [
            "permessage-deflate", // we asked for a server window of 12: the answer must name one
            "permessage-deflate; server_max_window_bits=13", // larger than asked
            "permessage-deflate; client_max_window_bits=14", // larger than offered
            "permessage-deflate; client_max_window_bits", // needs a value in a response
            "permessage-deflate; server_max_window_bits=20",
            "permessage-deflate; mystery",
            "permessage-deflate; client_no_context_takeover; client_no_context_takeover",
        ] {
            assert!(check(bad).is_err(), "{bad}");
        }
    }

    fn params(bits: u8, reset: bool) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: reset,
            client_no_context_takeover: reset,
            server_max_window_bits: bits,
            client_max_window_bits: bits,
        }
    }

    #[test]
    fn round_trip_every_window_and_takeover_mode() {
        let cfg = DeflateConfig::enabled();
        // Random lowercase letters: compressible by entropy coding only, so back-references
        // to a previous message show clearly.
        let mut seed = 0x2545_f491u32;
        let text: Vec<u8> = (0..5000)
            .map(|_| {
                seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                b'a' + (seed >> 24) as u8 % 26
            })
            .collect();
        for bits in 8..=15 {
            for reset in [false, true] {
                let p = params(bits, reset);
                let mut client = Deflate::new(p.for_client(), &cfg);
                let mut server = Deflate::new(p.for_server(), &cfg);
                for i in 0..5 {
                    // A message of fresh text, then the same again.
                    let msg = &text[i * 200..1000 + i * 500];
                    let mut sizes = Vec::new();
                    for _ in 0..2 {
                        let wire = client.compress(msg);
                        sizes.push(wire.len());
                        let mut out = Vec::new();
                        server.decompress(&wire, true, &mut out, 1 << 20).unwrap();
                        assert_eq!(out, msg, "bits {bits} reset {reset} message {i}");
                    }
                    if bits > 8 {
                        assert!(sizes[0] * 4 < msg.len() * 3, "compressed at all: {sizes:?}");
                    }
                    if reset {
                        assert_eq!(sizes[0], sizes[1], "no takeover: {sizes:?}");
                    } else if bits > 8 && (1usize << bits) > msg.len() + 262 {
                        // Takeover: the repeat refers back to the previous message (zlib reaches
                        // back at most the window less 262 bytes of lookahead).
                        assert!(sizes[1] * 3 < sizes[0], "takeover, bits {bits}: {sizes:?}");
                    }
                }
            }
        }
    }

    #[test]
    fn split_across_frames() {
        let cfg = DeflateConfig::enabled();
        let p = params(15, false);
        let mut tx = Deflate::new(p.for_client(), &cfg);
        let mut rx = Deflate::new(p.for_server(), &cfg);
        let msg: Vec<u8> = (0..20_000u32).map(|i| (i % 7) as u8 + b'a').collect();
        let wire = tx.compress(&msg);
        for cut in [0, 1, wire.len() / 2, wire.len()] {
            let mut out = Vec::new();
            rx.decompress(&wire[..cut], false, &mut out, 1 << 20)
                .unwrap();
            rx.decompress(&wire[cut..], true, &mut out, 1 << 20)
                .unwrap();
            assert_eq!(out, msg);
            // Keep both sides' contexts in step for the next round.
            let again = tx.compress(&msg);
            let mut o2 = Vec::new();
            rx.decompress(&again, true, &mut o2, 1 << 20).unwrap();
            assert_eq!(o2, msg);
        }
    }

    #[test]
    fn bomb_stops_at_the_limit() {
        let cfg = DeflateConfig::enabled();
        let p = params(15, true);
        let mut tx = Deflate::new(p.for_client(), &cfg);
        let zeros = vec![0u8; 16 << 20];
        let wire = tx.compress(&zeros);
        assert!(wire.len() < 40_000, "{}", wire.len());
        let mut rx = Deflate::new(p.for_server(), &cfg);
        let mut out = Vec::new();
        let err = rx.decompress(&wire, true, &mut out, 1 << 20).unwrap_err();
        assert!(matches!(
            err,
            ProtocolError::MessageTooBig { limit: 1048576, .. }
        ));
        assert!(
            out.capacity() <= (1 << 20) + 1,
            "held more than the limit: {}",
            out.capacity()
        );
    }

    /// A bomb far past the limit (16 MiB of zeros against 3 MiB + 1 byte) costs the limit, not
    /// the next power of two: the capacity never passes `limit + 1`, at every limit.
    #[test]
    fn bomb_memory_is_bounded_by_the_limit() {
        let cfg = DeflateConfig::enabled();
        let p = params(15, false);
        let wire = Deflate::new(p.for_client(), &cfg).compress(&vec![0u8; 16 << 20]);
        for limit in [1000, 64 << 10, (3 << 20) + 1, 12 << 20] {
            let mut rx = Deflate::new(p.for_server(), &cfg);
            let mut out = Vec::new();
            let err = rx.decompress(&wire, true, &mut out, limit).unwrap_err();
            assert!(
                matches!(err, ProtocolError::MessageTooBig { .. }),
                "{err:?}"
            );
            assert!(out.capacity() <= limit + 1, "{limit}: {}", out.capacity());
        }
        // Within the limit, the message comes out whole.
        let mut rx = Deflate::new(p.for_server(), &cfg);
        let mut out = Vec::new();
        rx.decompress(&wire, true, &mut out, 16 << 20).unwrap();
        assert_eq!(out.len(), 16 << 20);
        assert!(out.iter().all(|&b| b == 0));
    }

    #[test]
    fn corrupt_data_is_an_error() {
        let cfg = DeflateConfig::enabled();
        let mut rx = Deflate::new(params(15, false).for_server(), &cfg);
        let mut out = Vec::new();
        assert!(rx
            .decompress(&[0xff, 0xff, 0xff], true, &mut out, 1 << 20)
            .is_err());
    }
}
