//! The part of Redis's protocol (RESP3) the bridge speaks: commands out, replies and pushes in.
//!
//! Only encoding and parsing: no sockets. Three commands are all pub/sub needs (`HELLO 3`,
//! `SUBSCRIBE`/`UNSUBSCRIBE`, `PUBLISH`); RESP3 lets one connection publish while subscribed,
//! with pushes (`>`) told apart from replies, so one ordered connection carries both.

use bytes::{Bytes, BytesMut};

/// One RESP3 value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Simple(String),
    Error(String),
    Int(i64),
    Bulk(Bytes),
    Null,
    Array(Vec<Value>),
    /// Out-of-band data: a pub/sub message or a subscription confirmation.
    Push(Vec<Value>),
    /// Maps, sets, doubles and the rest: parsed past, their content unused here.
    Other,
}

impl Value {
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Value::Bulk(b) => Some(b),
            Value::Simple(s) => Some(s.as_bytes()),
            _ => None,
        }
    }
}

/// A reply that is not RESP.
#[derive(Debug)]
pub struct Malformed;

/// Appends one command.
pub fn command(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
}

/// Takes one whole value off the front of `buf`, if it holds one.
pub fn parse(buf: &mut BytesMut) -> Result<Option<Value>, Malformed> {
    // A first pass finds where the value ends; the second reads it from the frozen frame, so
    // bulk strings are slices of it rather than copies.
    let mut len = 0;
    if value(buf, &mut len, 0, None)?.is_none() {
        return Ok(None);
    }
    let frame = buf.split_to(len).freeze();
    let mut at = 0;
    value(&frame, &mut at, 0, Some(&frame))
}

/// The value at `*at`, moving `*at` past it; `None` if `buf` ends first. Bulk strings are
/// slices of `frame` when given, `Null` in the scanning pass.
fn value(
    buf: &[u8],
    at: &mut usize,
    depth: usize,
    frame: Option<&Bytes>,
) -> Result<Option<Value>, Malformed> {
    if depth > 8 {
        return Err(Malformed);
    }
    let Some(line) = line(buf, *at) else {
        return Ok(None);
    };
    let (kind, text) = (buf[*at], &buf[*at + 1..line]);
    let text = std::str::from_utf8(text).map_err(|_| Malformed)?;
    let after = line + 2;
    let number = || text.parse::<i64>().map_err(|_| Malformed);
    let v = match kind {
        b'+' => Value::Simple(text.to_owned()),
        b'-' => Value::Error(text.to_owned()),
        b':' => Value::Int(number()?),
        b'_' => Value::Null,
        b'#' | b',' | b'(' => Value::Other,
        b'$' | b'=' | b'!' => {
            let Ok(n) = usize::try_from(number()?) else {
                *at = after;
                return Ok(Some(Value::Null));
            };
            let end = after.checked_add(n).ok_or(Malformed)?;
            if buf.len() < end + 2 {
                return Ok(None);
            }
            *at = end + 2;
            return Ok(Some(match (kind, frame) {
                (b'$', Some(frame)) => Value::Bulk(frame.slice(after..end)),
                (b'!', _) => Value::Error(String::from_utf8_lossy(&buf[after..end]).into_owned()),
                _ => Value::Other,
            }));
        }
        b'*' | b'>' | b'~' | b'%' | b'|' => {
            *at = after;
            let Ok(n) = usize::try_from(number()?) else {
                return Ok(Some(Value::Null));
            };
            let count = if matches!(kind, b'%' | b'|') {
                2 * n
            } else {
                n
            };
            let mut items = Vec::with_capacity(count.min(64));
            for _ in 0..count {
                match value(buf, at, depth + 1, frame)? {
                    Some(v) => items.push(v),
                    None => return Ok(None),
                }
            }
            return Ok(Some(match kind {
                b'*' => Value::Array(items),
                b'>' => Value::Push(items),
                _ => Value::Other,
            }));
        }
        _ => return Err(Malformed),
    };
    *at = after;
    Ok(Some(v))
}

/// Where the line starting at `from` ends (the index of its `\r`).
fn line(buf: &[u8], from: usize) -> Option<usize> {
    let rest = buf.get(from..)?;
    let i = rest.windows(2).position(|w| w == b"\r\n")?;
    (i > 0).then_some(from + i)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_pushes_replies_and_partial_input() {
        let wire: &[u8] =
            b">3\r\n$7\r\nmessage\r\n$2\r\nch\r\n$5\r\nhe\r\nl\r\n:2\r\n%1\r\n+a\r\n:1\r\n";
        for cut in 0..wire.len() {
            let mut buf = BytesMut::from(&wire[..cut]);
            let mut got = Vec::new();
            while let Some(v) = parse(&mut buf).unwrap() {
                got.push(v);
            }
            assert!(got.len() <= 3, "{cut}");
        }
        let mut buf = BytesMut::from(wire);
        let push = parse(&mut buf).unwrap().unwrap();
        let Value::Push(items) = push else {
            panic!("{push:?}")
        };
        assert_eq!(items[2].as_bytes(), Some(&b"he\r\nl"[..]));
        assert_eq!(parse(&mut buf).unwrap(), Some(Value::Int(2)));
        assert_eq!(parse(&mut buf).unwrap(), Some(Value::Other));
        assert!(buf.is_empty());
    }

    #[test]
    fn rejects_garbage() {
        assert!(parse(&mut BytesMut::from(&b"?x\r\n"[..])).is_err());
        assert!(parse(&mut BytesMut::from(&b":x\r\n"[..])).is_err());
    }
}
