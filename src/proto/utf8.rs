//! Incremental UTF-8 validation (RFC 6455 section 8.1).
//!
//! Owns the state needed to validate a text message whose bytes arrive in pieces that may split a
//! code point anywhere. It reports the first invalid byte as soon as it is seen, so a connection
//! fails fast instead of at the end of the message. It never copies or stores payload bytes
//! beyond the at most three bytes of an unfinished code point.
//!
//! Also owns [`Utf8Bytes`], text known to be valid UTF-8. This is the only module of the core
//! that holds `unsafe`: a single `from_utf8_unchecked` in [`Utf8Bytes::as_str`], so that text
//! validated once while it arrived is not validated again each time it is read.
#![deny(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use core::fmt;
use core::ops::Deref;

use bytes::Bytes;

/// The first invalid byte, counted from the start of everything fed so far.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Utf8Error {
    /// Offset of the first byte that cannot start or continue a valid sequence.
    pub offset: usize,
}

/// An incremental UTF-8 validator.
///
/// ```
/// use websock::proto::utf8::Validator;
/// let text = "héllo, wörld ✓".as_bytes();
/// let mut v = Validator::new();
/// for chunk in text.chunks(3) { v.feed(chunk).unwrap(); }
/// v.finish().unwrap();
///
/// let mut v = Validator::new();
/// assert_eq!(v.feed(b"ok \xce").map_err(|e| e.offset), Ok(()));  // an unfinished sequence is fine...
/// assert_eq!(v.feed(b"\xff").map_err(|e| e.offset), Err(4));   // ...until a byte breaks it
/// ```
#[derive(Debug, Clone, Default)]
pub struct Validator {
    pending: [u8; 4],
    pending_len: u8,
    fed: usize,
}

/// The length of the sequence that `lead` starts (only called on leads `from_utf8` accepted).
fn seq_len(lead: u8) -> usize {
    match lead {
        0xC0..=0xDF => 2,
        0xE0..=0xEF => 3,
        _ => 4,
    }
}

impl Validator {
    /// A validator at the start of a message.
    pub fn new() -> Self {
        Self::default()
    }

    /// Validates the next piece. On error, the validator is left in an unspecified state.
    pub fn feed(&mut self, mut data: &[u8]) -> Result<(), Utf8Error> {
        if self.pending_len > 0 {
            let have = self.pending_len as usize;
            let need = seq_len(self.pending[0]);
            let take = (need - have).min(data.len());
            self.pending[have..have + take].copy_from_slice(&data[..take]);
            let filled = have + take;
            match core::str::from_utf8(&self.pending[..filled]) {
                Ok(_) => self.pending_len = 0,
                Err(e) if e.error_len().is_none() => {
                    self.pending_len = filled as u8;
                    self.fed += take;
                    return Ok(());
                }
                Err(_) => {
                    return Err(Utf8Error {
                        offset: self.fed - have + Self::first_bad(&self.pending[..filled]),
                    });
                }
            }
            self.fed += take;
            data = &data[take..];
        }
        // simdutf8's `compat` API reports the same `valid_up_to`/`error_len` as std, 3x (ASCII)
        // to 9x (multi-byte) faster in benches/core.rs.
        match simdutf8::compat::from_utf8(data) {
            Ok(_) => {
                self.fed += data.len();
                Ok(())
            }
            Err(e) => {
                let valid = e.valid_up_to();
                if e.error_len().is_some() {
                    return Err(Utf8Error {
                        offset: self.fed + valid + Self::first_bad(&data[valid..]),
                    });
                }
                let tail = &data[valid..];
                self.pending[..tail.len()].copy_from_slice(tail);
                self.pending_len = tail.len() as u8;
                self.fed += data.len();
                Ok(())
            }
        }
    }

    /// Where, within a sequence that `from_utf8` rejected (starting at index 0), the byte that
    /// made it invalid is: the lead itself when it can never start a sequence, else the first
    /// continuation byte out of range.
    fn first_bad(seq: &[u8]) -> usize {
        if matches!(seq[0], 0x80..=0xC1 | 0xF5..=0xFF) {
            return 0;
        }
        core::str::from_utf8(seq)
            .err()
            .and_then(|e| e.error_len())
            .unwrap_or(1)
    }

    /// Ends the message: fails if it stopped inside a code point.
    pub fn finish(&self) -> Result<(), Utf8Error> {
        if self.pending_len == 0 {
            Ok(())
        } else {
            Err(Utf8Error {
                offset: self.fed - self.pending_len as usize,
            })
        }
    }

    /// True when the bytes fed so far end on a code point boundary.
    pub fn is_boundary(&self) -> bool {
        self.pending_len == 0
    }

    /// Bytes fed so far.
    pub fn fed(&self) -> usize {
        self.fed
    }
}

/// Bytes that are valid UTF-8, cheap to clone and to slice (a wrapper over [`Bytes`]).
///
/// Constructors validate (or take an already valid `String`/`&'static str`); the core builds it
/// from text it validated while the message arrived, so reading it as `&str` costs nothing.
#[derive(Clone, Default, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Utf8Bytes(Bytes);

impl Utf8Bytes {
    /// An empty string.
    pub const fn new() -> Self {
        Utf8Bytes(Bytes::new())
    }

    /// Wraps bytes that the caller has validated. Crate-private: every path that calls it has run
    /// the bytes through `core::str::from_utf8` or `utf8::Validator` to the end.
    pub(crate) fn from_validated(b: Bytes) -> Self {
        debug_assert!(core::str::from_utf8(&b).is_ok());
        Utf8Bytes(b)
    }

    /// From a static string, without copying.
    pub const fn from_static(s: &'static str) -> Self {
        Utf8Bytes(Bytes::from_static(s.as_bytes()))
    }

    /// The text.
    #[allow(unsafe_code)]
    pub fn as_str(&self) -> &str {
        // SAFETY: every constructor of `Utf8Bytes` either takes a `str`/`String` or validates the
        // bytes in full (`TryFrom<Bytes>`, `from_validated` after the incremental validator
        // accepted the whole message), and the inner `Bytes` is never mutated afterwards.
        // The tests in this module and `tests/` feed invalid text and check it never gets here.
        unsafe { core::str::from_utf8_unchecked(&self.0) }
    }

    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The inner `Bytes`.
    pub fn into_bytes(self) -> Bytes {
        self.0
    }
}

impl Deref for Utf8Bytes {
    type Target = str;
    fn deref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<str> for Utf8Bytes {
    fn as_ref(&self) -> &str {
        self.as_str()
    }
}

impl AsRef<[u8]> for Utf8Bytes {
    fn as_ref(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(self.as_str(), f)
    }
}

impl fmt::Display for Utf8Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl From<String> for Utf8Bytes {
    fn from(s: String) -> Self {
        Utf8Bytes(Bytes::from(s))
    }
}

impl From<&str> for Utf8Bytes {
    fn from(s: &str) -> Self {
        Utf8Bytes(Bytes::copy_from_slice(s.as_bytes()))
    }
}

impl From<Utf8Bytes> for Bytes {
    fn from(s: Utf8Bytes) -> Bytes {
        s.0
    }
}

impl TryFrom<Bytes> for Utf8Bytes {
    type Error = core::str::Utf8Error;
    fn try_from(b: Bytes) -> Result<Self, Self::Error> {
        core::str::from_utf8(&b)?;
        Ok(Utf8Bytes(b))
    }
}

impl TryFrom<Vec<u8>> for Utf8Bytes {
    type Error = alloc::string::FromUtf8Error;
    fn try_from(v: Vec<u8>) -> Result<Self, Self::Error> {
        Ok(String::from_utf8(v)?.into())
    }
}

impl PartialEq<str> for Utf8Bytes {
    fn eq(&self, other: &str) -> bool {
        self.as_str() == other
    }
}

impl PartialEq<&str> for Utf8Bytes {
    fn eq(&self, other: &&str) -> bool {
        self.as_str() == *other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check_all_splits(bytes: &[u8]) -> Result<(), usize> {
        let whole = {
            let mut v = Validator::new();
            v.feed(bytes).and_then(|_| v.finish()).map_err(|e| e.offset)
        };
        // Every single split point, and byte-at-a-time, must agree with the whole.
        for cut in 0..=bytes.len() {
            let mut v = Validator::new();
            let r = v
                .feed(&bytes[..cut])
                .and_then(|_| v.feed(&bytes[cut..]))
                .and_then(|_| v.finish())
                .map_err(|e| e.offset);
            assert_eq!(r.is_ok(), whole.is_ok(), "cut {cut} of {bytes:02x?}");
        }
        let mut v = Validator::new();
        let mut r = Ok(());
        for b in bytes {
            r = v.feed(core::slice::from_ref(b));
            if r.is_err() {
                break;
            }
        }
        let r = r.and_then(|_| v.finish()).map_err(|e| e.offset);
        assert_eq!(r.is_ok(), whole.is_ok(), "bytewise {bytes:02x?}");
        whole
    }

    #[test]
    fn valid_texts() {
        for s in [
            "",
            "hello",
            "κόσμε",
            "\u{7f}\u{80}\u{7ff}\u{800}\u{ffff}\u{10000}\u{10ffff}",
            "Hello-µ@ßöäüàá-UTF-8!!",
            "\u{fffe}\u{feff}",
        ] {
            assert_eq!(check_all_splits(s.as_bytes()), Ok(()), "{s:?}");
            assert!(core::str::from_utf8(s.as_bytes()).is_ok());
        }
    }

    #[test]
    fn invalid_texts_agree_with_std() {
        let cases: &[&[u8]] = &[
            b"\xff",
            b"\x80",
            b"\xc0\xaf",
            b"\xe0\x80\xaf",
            b"\xed\xa0\x80",     // surrogate
            b"\xf4\x90\x80\x80", // > U+10FFFF
            b"\xf5\x80\x80\x80",
            b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5\xed\xa0\x80\x65\x64\x69\x74\x65\x64",
            b"abc\xce", // truncated at end
            b"\xf0\x90\x80",
            b"a\xe0\xa0",
        ];
        for c in cases {
            assert!(core::str::from_utf8(c).is_err());
            assert!(check_all_splits(c).is_err(), "{c:02x?}");
        }
    }

    /// Fail fast: the error surfaces on the piece that holds the bad byte, not at the end.
    #[test]
    fn fails_on_the_offending_piece() {
        let mut v = Validator::new();
        v.feed("κόσμε".as_bytes()).unwrap();
        assert!(v.feed(b"\xed").is_ok()); // could still be a valid 3-byte lead
        assert_eq!(v.feed(b"\xa0").unwrap_err().offset, 11); // ED A0 = surrogate: fail now
        let mut v = Validator::new();
        v.feed(b"\xf4").unwrap();
        assert!(v.feed(b"\x90").is_err());
        let mut v = Validator::new();
        assert_eq!(v.feed(b"ab\xffcd").unwrap_err().offset, 2);
        let mut v = Validator::new();
        assert_eq!(v.feed(b"ab\xe2\x82\x41").unwrap_err().offset, 4);
    }

    #[test]
    fn exhaustive_two_byte_prefixes_agree_with_std() {
        for a in 0..=255u8 {
            for b in 0..=255u8 {
                let buf = [a, b, 0x80, 0x80];
                let std_ok = core::str::from_utf8(&buf).is_ok();
                let mut v = Validator::new();
                let ours = v
                    .feed(&buf[..1])
                    .and_then(|_| v.feed(&buf[1..]))
                    .and_then(|_| v.finish());
                assert_eq!(ours.is_ok(), std_ok, "{buf:02x?}");
            }
        }
    }
}
