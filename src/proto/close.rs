//! Close codes and close frame payloads (RFC 6455 sections 5.5.1 and 7.4).
//!
//! Owns which close codes are valid on the wire, and the encoding and decoding of a close payload
//! (empty, or a two-byte code followed by a UTF-8 reason). The close handshake itself (who sends
//! what, when) belongs to `connection`.
#![forbid(unsafe_code)]

use core::fmt;

use bytes::{BufMut, Bytes, BytesMut};

use super::error::{ApiMisuse, ConnectionError, ProtocolError};
use super::utf8::Utf8Bytes;

/// A close status code (7.4).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct CloseCode(pub u16);

impl CloseCode {
    /// 1000: normal closure.
    pub const NORMAL: CloseCode = CloseCode(1000);
    /// 1001: going away (server shutdown, page navigation).
    pub const GOING_AWAY: CloseCode = CloseCode(1001);
    /// 1002: protocol error.
    pub const PROTOCOL_ERROR: CloseCode = CloseCode(1002);
    /// 1003: a data type the endpoint cannot accept.
    pub const UNSUPPORTED_DATA: CloseCode = CloseCode(1003);
    /// 1005: no status code was present (never sent on the wire).
    pub const NO_STATUS: CloseCode = CloseCode(1005);
    /// 1006: closed without a close frame (never sent on the wire).
    pub const ABNORMAL: CloseCode = CloseCode(1006);
    /// 1007: data inconsistent with the message type (for example invalid UTF-8).
    pub const INVALID_PAYLOAD: CloseCode = CloseCode(1007);
    /// 1008: policy violation.
    pub const POLICY_VIOLATION: CloseCode = CloseCode(1008);
    /// 1009: message too big.
    pub const TOO_BIG: CloseCode = CloseCode(1009);
    /// 1010: the client expected an extension the server did not negotiate.
    pub const MANDATORY_EXTENSION: CloseCode = CloseCode(1010);
    /// 1011: internal server error.
    pub const INTERNAL_ERROR: CloseCode = CloseCode(1011);
    /// 1012: service restart.
    pub const SERVICE_RESTART: CloseCode = CloseCode(1012);
    /// 1013: try again later.
    pub const TRY_AGAIN_LATER: CloseCode = CloseCode(1013);
    /// 1014: bad gateway.
    pub const BAD_GATEWAY: CloseCode = CloseCode(1014);
    /// 1015: TLS handshake failure (never sent on the wire).
    pub const TLS_HANDSHAKE: CloseCode = CloseCode(1015);

    /// Whether this code may appear in a close frame: 1000-1003, 1007-1014 (RFC 6455 and the IANA
    /// registry) and 3000-4999 (registered and private use).
    pub fn is_sendable(self) -> bool {
        matches!(self.0, 1000..=1003 | 1007..=1014 | 3000..=4999)
    }
}

impl fmt::Debug for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "CloseCode({})", self.0)
    }
}

impl fmt::Display for CloseCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl From<u16> for CloseCode {
    fn from(c: u16) -> Self {
        CloseCode(c)
    }
}

impl From<CloseCode> for u16 {
    fn from(c: CloseCode) -> u16 {
        c.0
    }
}

impl ProtocolError {
    /// The close code this error is reported with: 1009 for size limits, 1007 for invalid
    /// payload data (UTF-8, compressed data, close reason), 1002 for everything else.
    pub fn close_code(&self) -> CloseCode {
        use ProtocolError::*;
        match self {
            FrameTooBig { .. } | MessageTooBig { .. } | TooManyFragments { .. } => {
                CloseCode::TOO_BIG
            }
            InvalidUtf8 { .. } | InvalidCloseReason | InvalidCompressedData(_) => {
                CloseCode::INVALID_PAYLOAD
            }
            _ => CloseCode::PROTOCOL_ERROR,
        }
    }
}

impl ConnectionError {
    /// The close code the connection ended with: the protocol error's, or 1006 (abnormal
    /// closure: no close frame was exchanged) for the rest.
    pub fn close_code(&self) -> CloseCode {
        match self {
            ConnectionError::Protocol(e) => e.close_code(),
            _ => CloseCode::ABNORMAL,
        }
    }
}

/// A close code and reason.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CloseFrame {
    /// The status code. [`CloseCode::NO_STATUS`] when the peer's close frame was empty,
    /// [`CloseCode::ABNORMAL`] when the transport ended without one.
    pub code: CloseCode,
    /// The reason (at most 123 bytes on the wire).
    pub reason: Utf8Bytes,
}

impl CloseFrame {
    /// A close frame with a code and reason.
    pub fn new(code: impl Into<CloseCode>, reason: impl Into<Utf8Bytes>) -> Self {
        CloseFrame {
            code: code.into(),
            reason: reason.into(),
        }
    }

    /// Decodes a close payload: `Ok(None)` for an empty one.
    pub fn decode(payload: &[u8]) -> Result<Option<CloseFrame>, ProtocolError> {
        match payload {
            [] => Ok(None),
            [_] => Err(ProtocolError::CloseFrameTooShort),
            [hi, lo, reason @ ..] => {
                let code = CloseCode(u16::from_be_bytes([*hi, *lo]));
                if !code.is_sendable() {
                    return Err(ProtocolError::InvalidCloseCode(code.0));
                }
                let reason = Utf8Bytes::try_from(Bytes::copy_from_slice(reason))
                    .map_err(|_| ProtocolError::InvalidCloseReason)?;
                Ok(Some(CloseFrame { code, reason }))
            }
        }
    }

    /// Checks that this frame may be sent.
    pub fn validate(&self) -> Result<(), ApiMisuse> {
        if !self.code.is_sendable() {
            return Err(ApiMisuse::InvalidCloseCode(self.code.0));
        }
        if self.reason.len() > 123 {
            return Err(ApiMisuse::CloseReasonTooLong(self.reason.len()));
        }
        Ok(())
    }

    /// Encodes the payload: code then reason.
    pub fn encode(&self) -> Bytes {
        let mut b = BytesMut::with_capacity(2 + self.reason.len());
        b.put_u16(self.code.0);
        b.put_slice(self.reason.as_bytes());
        b.freeze()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sendable_codes() {
        let ok = [
            1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014, 3000, 3999,
            4000, 4999,
        ];
        let bad = [
            0, 999, 1004, 1005, 1006, 1015, 1016, 1100, 2000, 2999, 5000, 65535,
        ];
        for c in ok {
            assert!(CloseCode(c).is_sendable(), "{c}");
            assert!(CloseFrame::decode(&c.to_be_bytes()).unwrap().is_some());
        }
        for c in bad {
            assert!(!CloseCode(c).is_sendable(), "{c}");
            assert_eq!(
                CloseFrame::decode(&c.to_be_bytes()),
                Err(ProtocolError::InvalidCloseCode(c))
            );
        }
    }

    #[test]
    fn decode_table() {
        assert_eq!(CloseFrame::decode(b""), Ok(None));
        assert_eq!(
            CloseFrame::decode(b"\x03"),
            Err(ProtocolError::CloseFrameTooShort)
        );
        assert_eq!(
            CloseFrame::decode(b"\x03\xe8bye"),
            Ok(Some(CloseFrame::new(1000, "bye")))
        );
        assert_eq!(
            CloseFrame::decode(b"\x03\xe8\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80"),
            Err(ProtocolError::InvalidCloseReason)
        );
        let f = CloseFrame::new(4000, "κόσμε");
        assert_eq!(CloseFrame::decode(&f.encode()), Ok(Some(f)));
    }

    #[test]
    fn validate_for_sending() {
        assert!(CloseFrame::new(1000, "").validate().is_ok());
        assert_eq!(
            CloseFrame::new(1005, "").validate(),
            Err(ApiMisuse::InvalidCloseCode(1005))
        );
        assert!(CloseFrame::new(1000, "x".repeat(123)).validate().is_ok());
        assert_eq!(
            CloseFrame::new(1000, "x".repeat(124)).validate(),
            Err(ApiMisuse::CloseReasonTooLong(124))
        );
    }
}
