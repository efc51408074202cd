//! The connection's byte buffers: where received bytes wait to be parsed, and where encoded frames
//! wait to be written.
//!
//! Owns allocation policy: receive space is handed out as initialized memory (no `unsafe`, no
//! zeroing per read), payloads leave the receive buffer by `split_to` (no copy), large outgoing
//! payloads are queued as their own `Bytes` (no copy), small frames are packed together so one
//! vectored write sends a whole batch. Both buffers can be released when empty, so an idle
//! connection holds no buffer memory. It knows nothing of frames.
#![forbid(unsafe_code)]

#[allow(unused_imports)]
use crate::proto::prelude::*;

use alloc::collections::VecDeque;

use bytes::{Buf, Bytes, BytesMut};

/// Received bytes. `buf[..filled]` holds data; `buf[filled..]` is initialized spare room that a
/// transport reads into.
#[derive(Debug, Default)]
pub struct RecvBuf {
    buf: BytesMut,
    filled: usize,
}

impl RecvBuf {
    /// The received, unparsed bytes.
    pub fn data(&self) -> &[u8] {
        &self.buf[..self.filled]
    }

    /// The received bytes, mutable (for unmasking in place).
    pub fn data_mut(&mut self) -> &mut [u8] {
        &mut self.buf[..self.filled]
    }

    /// Number of unparsed bytes.
    pub fn len(&self) -> usize {
        self.filled
    }

    /// True when no bytes wait.
    pub fn is_empty(&self) -> bool {
        self.filled == 0
    }

    /// Spare room of at least `min` bytes to read into; follow with [`commit`](Self::commit).
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        if self.buf.len() - self.filled < min {
            // Only the growth is zeroed, once; later reads reuse the initialized room.
            self.buf.resize(self.filled + min, 0);
        }
        &mut self.buf[self.filled..]
    }

    /// Marks `n` bytes of the spare room as received.
    pub fn commit(&mut self, n: usize) {
        assert!(
            n <= self.buf.len() - self.filled,
            "commit beyond the spare room"
        );
        self.filled += n;
    }

    /// Copies `data` in.
    pub fn extend(&mut self, data: &[u8]) {
        let n = data.len();
        if self.buf.len() - self.filled >= n {
            self.buf[self.filled..self.filled + n].copy_from_slice(data);
        } else {
            // Append without zeroing first: the spare room is dropped and the data copied once.
            self.buf.truncate(self.filled);
            self.buf.extend_from_slice(data);
        }
        self.filled += n;
    }

    /// Drops `n` bytes from the front.
    pub fn advance(&mut self, n: usize) {
        debug_assert!(n <= self.filled);
        self.buf.advance(n);
        self.filled -= n;
    }

    /// Takes `n` bytes from the front without copying.
    pub fn split_to(&mut self, n: usize) -> BytesMut {
        debug_assert!(n <= self.filled);
        self.filled -= n;
        self.buf.split_to(n)
    }

    /// Drops all data.
    pub fn clear(&mut self) {
        self.buf = BytesMut::new();
        self.filled = 0;
    }

    /// Frees the allocation if nothing is buffered.
    pub fn release_if_empty(&mut self) {
        if self.filled == 0 {
            self.buf = BytesMut::new();
        }
    }

    /// Bytes of memory held.
    pub fn capacity(&self) -> usize {
        self.buf.capacity()
    }
}

/// Payloads up to this size are copied next to their header; larger ones go out as their own
/// chunk so that a server never copies a big payload.
const COPY_THRESHOLD: usize = 512;

/// Encoded bytes waiting to be written, in order: whole chunks, then the packing tail.
#[derive(Debug, Default)]
pub struct SendQueue {
    chunks: VecDeque<Bytes>,
    tail: BytesMut,
    len: usize,
}

impl SendQueue {
    /// Bytes waiting.
    pub fn len(&self) -> usize {
        self.len
    }

    /// True when nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Appends a copy of `data`.
    pub fn push_copy(&mut self, data: &[u8]) {
        self.tail.extend_from_slice(data);
        self.len += data.len();
    }

    /// Appends `data`, copying it only when small.
    pub fn push_bytes(&mut self, data: Bytes) {
        if data.len() <= COPY_THRESHOLD {
            self.push_copy(&data);
            return;
        }
        self.seal_tail();
        self.len += data.len();
        self.chunks.push_back(data);
    }

    /// Appends a copy of `data` and returns it, mutable, to be masked in place.
    pub fn push_copy_mut(&mut self, data: &[u8]) -> &mut [u8] {
        let start = self.tail.len();
        self.push_copy(data);
        &mut self.tail[start..]
    }

    fn seal_tail(&mut self) {
        if !self.tail.is_empty() {
            self.chunks.push_back(self.tail.split().freeze());
        }
    }

    /// The waiting bytes as slices, in order, for a vectored write.
    pub fn chunks(&self) -> impl Iterator<Item = &[u8]> {
        self.chunks
            .iter()
            .map(|b| &b[..])
            .chain(core::iter::once(&self.tail[..]))
            .filter(|c| !c.is_empty())
    }

    /// Marks `n` bytes as written.
    pub fn advance(&mut self, mut n: usize) {
        assert!(n <= self.len, "advanced past the queued bytes");
        self.len -= n;
        while n > 0 {
            match self.chunks.front_mut() {
                Some(front) if n >= front.len() => {
                    n -= front.len();
                    self.chunks.pop_front();
                }
                Some(front) => {
                    front.advance(n);
                    n = 0;
                }
                None => {
                    self.tail.advance(n);
                    n = 0;
                }
            }
        }
    }

    /// Takes the next chunk.
    pub fn pop(&mut self) -> Option<Bytes> {
        let b = match self.chunks.pop_front() {
            Some(b) => b,
            None if !self.tail.is_empty() => self.tail.split().freeze(),
            None => return None,
        };
        self.len -= b.len();
        Some(b)
    }

    /// Frees the packing buffer if nothing is queued.
    pub fn release_if_empty(&mut self) {
        if self.len == 0 {
            self.tail = BytesMut::new();
            self.chunks = VecDeque::new();
        }
    }

    /// Bytes of memory held by the packing buffer.
    pub fn capacity(&self) -> usize {
        self.tail.capacity()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn recv_spare_commit_split() {
        let mut r = RecvBuf::default();
        let s = r.spare(4);
        s[..3].copy_from_slice(b"abc");
        r.commit(3);
        r.extend(b"defg");
        assert_eq!(r.data(), b"abcdefg");
        let a = r.split_to(2);
        assert_eq!(&a[..], b"ab");
        r.advance(1);
        assert_eq!(r.data(), b"defg");
        r.split_to(4);
        assert!(r.is_empty());
        r.release_if_empty();
        assert_eq!(r.capacity(), 0);
    }

    #[test]
    fn send_queue_order_and_partial_writes() {
        let mut q = SendQueue::default();
        q.push_copy(b"h1");
        q.push_bytes(Bytes::from(vec![b'x'; 1000]));
        q.push_copy(b"h2");
        q.push_bytes(Bytes::from_static(b"small"));
        assert_eq!(q.len(), 2 + 1000 + 2 + 5);
        let all: Vec<u8> = q.chunks().flatten().copied().collect();
        assert_eq!(&all[..2], b"h1");
        assert_eq!(&all[1002..], b"h2small");
        assert_eq!(q.chunks().count(), 3);
        q.advance(1);
        q.advance(500);
        let rest: Vec<u8> = q.chunks().flatten().copied().collect();
        assert_eq!(rest, all[501..]);
        let mut popped = Vec::new();
        while let Some(b) = q.pop() {
            popped.extend_from_slice(&b);
        }
        assert_eq!(popped, all[501..]);
        assert!(q.is_empty());
    }
}
