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
    /// `buf` is a piece of someone else's allocation (an adapter's shared read block,
    /// [`adopt`](Self::adopt)): messages split from it are zero-copy, but it must not be grown
    /// or kept while waiting, or one partial frame would hold the whole block.
    borrowed: bool,
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

    /// Takes `data` as the received bytes without copying when nothing is buffered; otherwise
    /// appends a copy.
    pub fn adopt(&mut self, data: BytesMut) {
        if self.filled == 0 {
            self.filled = data.len();
            self.buf = data;
            self.borrowed = true;
        } else {
            self.extend(&data);
        }
    }

    /// Moves what a borrowed buffer holds into an allocation of its own, exactly its size.
    fn own(&mut self) {
        if core::mem::take(&mut self.borrowed) {
            self.buf = BytesMut::from(&self.buf[..self.filled]);
        }
    }

    /// The buffer itself, holding just the received bytes, with room reserved for at least
    /// `min` more (not initialized): for a transport that appends to a `BytesMut` (a `BufMut`
    /// read into spare capacity). Borrowed bytes move into an allocation of their own, sized
    /// for them and the room, in one copy. Follow with [`appended`](Self::appended).
    pub fn reserve(&mut self, min: usize) -> &mut BytesMut {
        if core::mem::take(&mut self.borrowed) {
            let mut own = BytesMut::with_capacity(self.filled + min);
            own.extend_from_slice(&self.buf[..self.filled]);
            self.buf = own;
        } else {
            self.buf.truncate(self.filled);
            self.buf.reserve(min);
        }
        &mut self.buf
    }

    /// After [`reserve`](Self::reserve): what was appended counts as received. Returns its
    /// length.
    pub fn appended(&mut self) -> usize {
        let n = self.buf.len() - self.filled;
        self.filled = self.buf.len();
        n
    }

    /// Spare room of at least `min` bytes to read into; follow with [`commit`](Self::commit).
    pub fn spare(&mut self, min: usize) -> &mut [u8] {
        self.own();
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
        self.own();
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
        self.borrowed = false;
    }

    /// Frees the allocation if nothing is buffered, and moves what is into an allocation of
    /// its own if it was borrowed: what waits holds memory for its own bytes only.
    pub fn release_if_empty(&mut self) {
        if self.filled == 0 {
            self.buf = BytesMut::new();
            self.borrowed = false;
        } else {
            self.own();
        }
    }

    /// Bytes of memory held (a borrowed buffer's own share only).
    pub fn capacity(&self) -> usize {
        if self.borrowed {
            self.filled
        } else {
            self.buf.capacity()
        }
    }
}

/// The most slices worth handing to one vectored write: a batch of small frames is one slice
/// (they are packed), a large payload one slice with its header; building a longer array costs
/// more than the odd extra write saves.
pub const MAX_IOV: usize = 32;

/// A frame's own payload up to this size is copied next to its header: one allocation and one
/// slice to write, cheaper than a chunk of its own (a shared buffer, a queue entry, another
/// slice), and the received bytes it came from are let go at once.
const FRAME_COPY_THRESHOLD: usize = 2048;

/// Other payloads (frames prepared once for many connections) up to this size are copied;
/// larger ones go out as their own chunk, shared, so that a server never copies a big payload.
const COPY_THRESHOLD: usize = 512;

/// The packing buffer's smallest allocation (a batch of small frames fits).
const TAIL_MIN: usize = 512;

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

    /// Makes room for `n` more bytes in the packing buffer in one allocation: a frame's header
    /// and payload are not copied twice, and a fresh buffer has room for a batch of small
    /// frames (corked replies) without growing.
    fn reserve_tail(&mut self, n: usize) {
        if self.tail.capacity() == 0 {
            // The common case after an idle release: one plain allocation.
            self.tail = BytesMut::with_capacity(n.max(TAIL_MIN));
        } else if self.tail.capacity() - self.tail.len() < n {
            self.tail.reserve(n.max(TAIL_MIN));
        }
    }

    /// Appends a frame: its header, then its payload (copied next to the header only when
    /// small).
    pub fn push_frame(&mut self, head: &[u8], payload: Bytes) {
        if payload.len() <= FRAME_COPY_THRESHOLD {
            self.reserve_tail(head.len() + payload.len());
            self.push_copy(head);
            self.push_copy(&payload);
        } else {
            self.push_copy(head);
            self.push_bytes(payload);
        }
    }

    /// Appends a frame whose payload is copied to be masked in place, and returns that copy.
    pub fn push_frame_copy(&mut self, head: &[u8], payload: &[u8]) -> &mut [u8] {
        self.reserve_tail(head.len() + payload.len());
        self.push_copy(head);
        self.push_copy_mut(payload)
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
            // The whole buffer goes: nothing of its spare room stays behind.
            None if !self.tail.is_empty() => core::mem::take(&mut self.tail).freeze(),
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
    fn adopted_bytes_are_split_without_copy_and_never_pinned_while_waiting() {
        let mut block = BytesMut::with_capacity(4096);
        block.extend_from_slice(b"abcdefgh");
        let base = block.as_ptr() as usize;
        let mut r = RecvBuf::default();
        r.adopt(block.split());
        let a = r.split_to(5);
        assert_eq!(&a[..], b"abcde");
        assert_eq!(
            a.as_ptr() as usize,
            base,
            "a slice of the block, not a copy"
        );
        // Three bytes wait (a partial frame): moved into their own allocation when the
        // adapter goes to wait, so the block is free again once `a` is dropped.
        r.release_if_empty();
        assert_eq!(r.data(), b"fgh");
        assert_eq!(r.capacity(), 3);
        drop(a);
        assert!(block.try_reclaim(4096), "nothing holds the block");
        // Appending to borrowed bytes copies them out first.
        let mut r = RecvBuf::default();
        block.extend_from_slice(b"xy");
        r.adopt(block.split());
        r.extend(b"z");
        assert_eq!(r.data(), b"xyz");
        assert!(block.try_reclaim(4096));
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
