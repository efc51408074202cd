//! A message encoded once and sent on many connections (a server's broadcast).
//!
//! Owns the shared encodings of one message: the plain frame, and one compressed frame per
//! set of compression terms that compress statelessly. Never encodes per connection itself:
//! what only one connection can use (a client's masked frame, a compressor with context
//! takeover) goes through that connection's own send path.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use alloc::sync::Arc;

use bytes::{BufMut, Bytes, BytesMut};

use super::{Connection, Role};
use crate::proto::error::ApiMisuse;
use crate::proto::ext::Encoding;
use crate::proto::frame::{FrameHeader, OpCode, MAX_HEADER_LEN};
use crate::proto::message::{DataKind, Message, Utf8Bytes};

/// A text or binary message encoded once for many connections. Cloning it is cheap (the
/// encodings are shared).
///
/// Server frames are not masked, so every server connection can queue the same frame bytes:
/// sending to N connections is one encode and N reference-count increments, not N copies.
/// Under permessage-deflate the RFC lets a compressed message be shared only where our
/// compressor starts fresh for each message (`server_no_context_takeover` agreed, or
/// [`DeflateConfig::server_no_context_takeover`] set on the server): then it is compressed
/// once per distinct window and level, on the first connection that needs it. A connection
/// with context takeover compresses it itself, and a client masks it itself (RFC 6455 5.3
/// wants a fresh mask per frame). Frames of a few hundred bytes are copied into the queue
/// rather than shared, as any small payload is (a copy that small costs less than sharing).
/// Prepared messages go through the same queue, high-water mark and write timeout as any
/// other send.
///
/// ```
/// use websock::{Connection, PreparedMessage};
///
/// /// One update for every subscriber's connection: encoded here once.
/// fn broadcast(subscribers: &mut [Connection], update: &str) {
///     let message = PreparedMessage::text(update);
///     for conn in subscribers.iter_mut().filter(|c| c.can_send()) {
///         conn.send_prepared(&message).expect("open, and no fragmented message in progress");
///     }
/// }
/// ```
/// (`tests/prepared.rs` checks that the connections queue the very same bytes.)
///
/// [`DeflateConfig::server_no_context_takeover`]: crate::proto::config::DeflateConfig
#[derive(Debug, Clone)]
pub struct PreparedMessage {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    opcode: OpCode,
    payload: Bytes,
    /// Header and payload, unmasked and uncompressed.
    plain: Bytes,
    /// Compressed frames by (window bits, level).
    /// (Without `std` there is no compression, so no cache.)
    #[cfg(feature = "std")]
    compressed: std::sync::Mutex<Vec<((u8, u32), Bytes)>>,
}

impl PreparedMessage {
    /// A text message.
    pub fn text(text: impl Into<Utf8Bytes>) -> Self {
        Self::new(DataKind::Text, text.into().into_bytes())
    }

    /// A binary message.
    pub fn binary(data: impl Into<Bytes>) -> Self {
        Self::new(DataKind::Binary, data.into())
    }

    fn new(kind: DataKind, payload: Bytes) -> Self {
        let opcode = match kind {
            DataKind::Text => OpCode::Text,
            DataKind::Binary => OpCode::Binary,
        };
        PreparedMessage {
            inner: Arc::new(Inner {
                opcode,
                plain: frame(opcode, 0, &payload),
                payload,
                #[cfg(feature = "std")]
                compressed: std::sync::Mutex::new(Vec::new()),
            }),
        }
    }

    /// A data message prepared without copying its payload; `None` for a control message.
    pub fn from_message(message: Message) -> Option<Self> {
        match message {
            Message::Text(text) => Some(Self::text(text)),
            Message::Binary(data) => Some(Self::binary(data)),
            _ => None,
        }
    }

    /// Text or binary.
    pub fn kind(&self) -> DataKind {
        match self.inner.opcode {
            OpCode::Text => DataKind::Text,
            _ => DataKind::Binary,
        }
    }

    /// The message's payload.
    pub fn payload(&self) -> &Bytes {
        &self.inner.payload
    }
}

/// One unmasked frame, header and payload in one buffer.
fn frame(opcode: OpCode, rsv: u8, payload: &[u8]) -> Bytes {
    let header = FrameHeader {
        fin: true,
        rsv,
        opcode,
        mask: None,
        payload_len: payload.len() as u64,
    };
    let mut head = [0u8; MAX_HEADER_LEN];
    let n = header.encode(&mut head);
    let mut out = BytesMut::with_capacity(n + payload.len());
    out.put_slice(&head[..n]);
    out.put_slice(payload);
    out.freeze()
}

impl Connection {
    /// Sends a [`PreparedMessage`]: a server queues the shared frame (or the shared compressed
    /// frame) without copying it; what cannot be shared is encoded here as by
    /// [`send`](Self::send).
    pub fn send_prepared(&mut self, message: &PreparedMessage) -> Result<(), ApiMisuse> {
        let m = &*message.inner;
        if self.role == Role::Client {
            return self.send_whole(m.opcode, m.payload.clone());
        }
        let frame = match self.codec.encoding(m.payload.len()) {
            Encoding::Stateful => return self.send_whole(m.opcode, m.payload.clone()),
            Encoding::Plain => {
                self.check_sendable()?;
                m.plain.clone()
            }
            #[cfg(feature = "std")]
            Encoding::Stateless { bits, level } => {
                self.check_sendable()?;
                // A poisoned lock only means another thread panicked while adding an encoding;
                // the list itself is always whole.
                let mut cache = m.compressed.lock().unwrap_or_else(|e| e.into_inner());
                let found = cache.iter().find(|(k, _)| *k == (bits, level));
                match found {
                    Some((_, f)) => f.clone(),
                    None => {
                        let (payload, rsv) = self.codec.encode(m.payload.clone());
                        let f = frame(m.opcode, rsv, &payload);
                        cache.push(((bits, level), f.clone()));
                        f
                    }
                }
            }
            #[cfg(not(feature = "std"))]
            Encoding::Stateless { .. } => return self.send_whole(m.opcode, m.payload.clone()),
        };
        self.queue_shared_frame(frame);
        Ok(())
    }
}
