//! The frame header codec (RFC 6455 section 5.2).
//!
//! Owns the bit layout of a frame header: decoding from bytes (returning "need more" without
//! consuming anything) and encoding into a small inline array. It checks the rules that a header
//! alone decides (reserved opcodes, length forms, control frame size and FIN); rules that depend on
//! the connection (masking by role, RSV bits owned by extensions, continuation order) belong to
//! `connection`. It never touches payload bytes.
#![forbid(unsafe_code)]

use super::error::ProtocolError;

/// The largest encoded header: 2 bytes, 8 of extended length, 4 of mask.
pub const MAX_HEADER_LEN: usize = 14;

/// Frame opcodes (5.2). Reserved opcodes are rejected when decoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpCode {
    /// 0x0: a continuation of a fragmented message.
    Continuation,
    /// 0x1: the first frame of a text message.
    Text,
    /// 0x2: the first frame of a binary message.
    Binary,
    /// 0x8: close.
    Close,
    /// 0x9: ping.
    Ping,
    /// 0xA: pong.
    Pong,
}

impl OpCode {
    /// Decodes the low four bits of the first header byte.
    pub fn from_u8(v: u8) -> Result<OpCode, ProtocolError> {
        Ok(match v {
            0x0 => OpCode::Continuation,
            0x1 => OpCode::Text,
            0x2 => OpCode::Binary,
            0x8 => OpCode::Close,
            0x9 => OpCode::Ping,
            0xA => OpCode::Pong,
            other => return Err(ProtocolError::ReservedOpcode(other)),
        })
    }

    /// The wire value.
    pub fn as_u8(self) -> u8 {
        match self {
            OpCode::Continuation => 0x0,
            OpCode::Text => 0x1,
            OpCode::Binary => 0x2,
            OpCode::Close => 0x8,
            OpCode::Ping => 0x9,
            OpCode::Pong => 0xA,
        }
    }

    /// Close, ping and pong.
    pub fn is_control(self) -> bool {
        matches!(self, OpCode::Close | OpCode::Ping | OpCode::Pong)
    }
}

/// A decoded frame header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FrameHeader {
    /// FIN: the last frame of a message.
    pub fin: bool,
    /// RSV1..RSV3 as the bits 0b100, 0b010, 0b001.
    pub rsv: u8,
    /// The opcode.
    pub opcode: OpCode,
    /// The masking key, if the MASK bit was set.
    pub mask: Option<[u8; 4]>,
    /// The payload length.
    pub payload_len: u64,
}

impl FrameHeader {
    /// RSV1, the bit permessage-deflate uses.
    pub fn rsv1(&self) -> bool {
        self.rsv & 0b100 != 0
    }

    /// The number of bytes [`encode`](Self::encode) writes.
    pub fn encoded_len(&self) -> usize {
        let len = match self.payload_len {
            0..=125 => 2,
            126..=0xFFFF => 4,
            _ => 10,
        };
        len + if self.mask.is_some() { 4 } else { 0 }
    }

    /// Decodes a header from the front of `buf`.
    ///
    /// Returns `Ok(None)` when `buf` is too short to hold the whole header (nothing is consumed;
    /// call again with more bytes), or the header and its length in bytes.
    pub fn decode(buf: &[u8]) -> Result<Option<(FrameHeader, usize)>, ProtocolError> {
        let [b0, b1, ..] = *buf else {
            return Ok(None);
        };
        let opcode = OpCode::from_u8(b0 & 0x0F)?;
        let fin = b0 & 0x80 != 0;
        let rsv = (b0 >> 4) & 0x07;
        let masked = b1 & 0x80 != 0;
        let len7 = b1 & 0x7F;
        if opcode.is_control() {
            if !fin {
                return Err(ProtocolError::FragmentedControlFrame);
            }
            if len7 > 125 {
                // Report the real length when it is there; the rule is broken either way.
                let n = Self::extended_len(buf, len7)
                    .and_then(|r| r.ok())
                    .map_or(len7 as u64, |(n, _)| n);
                return Err(ProtocolError::ControlFrameTooLong(n));
            }
        }
        let (payload_len, mut pos) = match Self::extended_len(buf, len7) {
            None => return Ok(None),
            Some(r) => r?,
        };
        let mask = if masked {
            let Some(key) = buf.get(pos..pos + 4) else {
                return Ok(None);
            };
            pos += 4;
            Some([key[0], key[1], key[2], key[3]])
        } else {
            None
        };
        Ok(Some((
            FrameHeader {
                fin,
                rsv,
                opcode,
                mask,
                payload_len,
            },
            pos,
        )))
    }

    /// Reads the payload length; `None` when more bytes are needed.
    fn extended_len(buf: &[u8], len7: u8) -> Option<Result<(u64, usize), ProtocolError>> {
        match len7 {
            126 => {
                let b = buf.get(2..4)?;
                let n = u16::from_be_bytes([b[0], b[1]]) as u64;
                Some(if n < 126 {
                    Err(ProtocolError::NonMinimalLength)
                } else {
                    Ok((n, 4))
                })
            }
            127 => {
                let b: [u8; 8] = buf.get(2..10)?.try_into().ok()?;
                let n = u64::from_be_bytes(b);
                Some(if n >> 63 != 0 {
                    Err(ProtocolError::LengthOverflow)
                } else if n <= 0xFFFF {
                    Err(ProtocolError::NonMinimalLength)
                } else {
                    Ok((n, 10))
                })
            }
            n => Some(Ok((n as u64, 2))),
        }
    }

    /// Encodes this header (minimal length form) into `out`, returning the bytes written.
    pub fn encode(&self, out: &mut [u8; MAX_HEADER_LEN]) -> usize {
        out[0] = (self.fin as u8) << 7 | (self.rsv & 0x07) << 4 | self.opcode.as_u8();
        let mask_bit = if self.mask.is_some() { 0x80 } else { 0 };
        let mut pos = match self.payload_len {
            n @ 0..=125 => {
                out[1] = mask_bit | n as u8;
                2
            }
            n @ 126..=0xFFFF => {
                out[1] = mask_bit | 126;
                out[2..4].copy_from_slice(&(n as u16).to_be_bytes());
                4
            }
            n => {
                out[1] = mask_bit | 127;
                out[2..10].copy_from_slice(&n.to_be_bytes());
                10
            }
        };
        if let Some(key) = self.mask {
            out[pos..pos + 4].copy_from_slice(&key);
            pos += 4;
        }
        pos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hdr(fin: bool, opcode: OpCode, mask: Option<[u8; 4]>, len: u64) -> FrameHeader {
        FrameHeader {
            fin,
            rsv: 0,
            opcode,
            mask,
            payload_len: len,
        }
    }

    /// (bytes, expected header, header length)
    #[test]
    fn decode_table() {
        let k = [0x37, 0xfa, 0x21, 0x3d];
        let table: &[(&[u8], FrameHeader, usize)] = &[
            (&[0x81, 0x05], hdr(true, OpCode::Text, None, 5), 2),
            (&[0x01, 0x03], hdr(false, OpCode::Text, None, 3), 2),
            (&[0x80, 0x02], hdr(true, OpCode::Continuation, None, 2), 2),
            (
                &[0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d],
                hdr(true, OpCode::Text, Some(k), 5),
                6,
            ),
            (&[0x89, 0x05], hdr(true, OpCode::Ping, None, 5), 2),
            (&[0x8a, 0x00], hdr(true, OpCode::Pong, None, 0), 2),
            (&[0x88, 0x7d], hdr(true, OpCode::Close, None, 125), 2),
            (
                &[0x82, 0x7e, 0x01, 0x00],
                hdr(true, OpCode::Binary, None, 256),
                4,
            ),
            (
                &[0x82, 0x7e, 0x00, 0x7e],
                hdr(true, OpCode::Binary, None, 126),
                4,
            ),
            (
                &[0x82, 0x7e, 0xff, 0xff],
                hdr(true, OpCode::Binary, None, 65535),
                4,
            ),
            (
                &[0x82, 0x7f, 0, 0, 0, 0, 0, 1, 0, 0],
                hdr(true, OpCode::Binary, None, 65536),
                10,
            ),
            (
                &[0x82, 0x7f, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff],
                hdr(true, OpCode::Binary, None, i64::MAX as u64),
                10,
            ),
        ];
        for (bytes, want, n) in table {
            assert_eq!(
                FrameHeader::decode(bytes),
                Ok(Some((*want, *n))),
                "{bytes:02x?}"
            );
            for cut in 0..bytes.len() {
                assert_eq!(FrameHeader::decode(&bytes[..cut]), Ok(None), "cut {cut}");
            }
            let mut out = [0u8; MAX_HEADER_LEN];
            let m = want.encode(&mut out);
            assert_eq!(&out[..m], *bytes);
            assert_eq!(want.encoded_len(), m);
        }
    }

    #[test]
    fn decode_errors() {
        use ProtocolError::*;
        let table: &[(&[u8], ProtocolError)] = &[
            (&[0x83, 0x00], ReservedOpcode(3)),
            (&[0x87, 0x00], ReservedOpcode(7)),
            (&[0x8b, 0x00], ReservedOpcode(0xb)),
            (&[0x8f, 0x00], ReservedOpcode(0xf)),
            (&[0x09, 0x00], FragmentedControlFrame),
            (&[0x08, 0x00], FragmentedControlFrame),
            (&[0x89, 0x7e, 0x00, 0x7e], ControlFrameTooLong(126)),
            (&[0x8a, 0x7e], ControlFrameTooLong(126)),
            (&[0x82, 0x7e, 0x00, 0x7d], NonMinimalLength),
            (
                &[0x82, 0x7f, 0, 0, 0, 0, 0, 0, 0xff, 0xff],
                NonMinimalLength,
            ),
            (&[0x82, 0x7f, 0x80, 0, 0, 0, 0, 0, 0, 0], LengthOverflow),
        ];
        for (bytes, want) in table {
            assert_eq!(
                FrameHeader::decode(bytes),
                Err(want.clone()),
                "{bytes:02x?}"
            );
        }
    }

    #[test]
    fn rsv_bits_are_reported_not_judged() {
        let (h, _) = FrameHeader::decode(&[0xc1, 0x00]).unwrap().unwrap();
        assert_eq!(h.rsv, 0b100);
        assert!(h.rsv1());
        let (h, _) = FrameHeader::decode(&[0xb1, 0x00]).unwrap().unwrap();
        assert_eq!(h.rsv, 0b011);
    }

    #[test]
    fn encode_decode_roundtrip_lengths() {
        for len in [0u64, 1, 125, 126, 127, 65535, 65536, 1 << 32, (1 << 63) - 1] {
            for mask in [None, Some([1, 2, 3, 4])] {
                for op in [OpCode::Text, OpCode::Binary, OpCode::Continuation] {
                    let h = FrameHeader {
                        fin: len % 2 == 0,
                        rsv: 0b100,
                        opcode: op,
                        mask,
                        payload_len: len,
                    };
                    let mut out = [0u8; MAX_HEADER_LEN];
                    let n = h.encode(&mut out);
                    assert_eq!(FrameHeader::decode(&out[..n]), Ok(Some((h, n))));
                }
            }
        }
    }
}
