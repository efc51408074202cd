//! The driver of a connection and its split halves: one I/O object, one timer, and the one loop
//! ([`Driver::poll_event`]) that moves bytes and time for the handshake and the frames alike.
#![forbid(unsafe_code)]

use crate::error::{event_to_item, Error};
use crate::proto::buffer::MAX_IOV;
use crate::trace::Trace;
use crate::{
    CloseCode, CloseFrame, Connection, ConnectionError, Event, Message, Transmit, TransportVerdict,
};
use ::tokio::io::{AsyncRead, AsyncWrite};
use ::tokio::time::{sleep_until, Sleep};
use bytes::BytesMut;
use std::future::Future;
use std::io::{self, IoSlice};
use std::pin::Pin;
use std::task::{ready, Context, Poll, Waker};
use std::time::Instant;
use tokio_util::io::poll_read_buf;

/// The per-thread read block: every connection the thread drives reads into it between
/// frames, and each read is split off it, so the messages parsed from a read are slices of the
/// block (no allocation or copy per message). A block is reused once every message cut from
/// it is dropped; a new one is taken when it is not. 128 KiB: a 64 KiB message and its header
/// fit in one read, so it is not copied out of a partial read.
const BLOCK_SIZE: usize = 128 << 10;
/// Below this much room left, the block is renewed (reclaimed, or replaced) before a read.
const BLOCK_MIN_ROOM: usize = 64 << 10;
thread_local! {
    static BLOCK: std::cell::RefCell<BytesMut> = std::cell::RefCell::new(BytesMut::new());
}

#[derive(Debug)]
pub(crate) struct Driver<S> {
    pub(crate) io: S,
    pub(crate) conn: Connection,
    pub(crate) trace: Trace,
    sleep: Option<Pin<Box<Sleep>>>,
    /// The core's deadline `sleep` is set for.
    armed_for: crate::proto::time::Instant,
    /// The waker `sleep` was last registered with (while it is pending).
    timer_waker: Option<Waker>,
    shutdown_pending: bool,
    /// Bytes were written since the transport was last flushed.
    unflushed: bool,
    drop_write: Option<fn(&mut Driver<S>)>,
}

/// A `send` may leave its output corked for the next `recv`: a connection dropped in between
/// still gets it written, as far as the transport takes it without waiting (as `BufWriter`
/// flushes on drop).
impl<S> Drop for Driver<S> {
    fn drop(&mut self) {
        if self.conn.transmit_len() > 0 {
            self.write_on_drop();
        }
    }
}

impl<S> Driver<S> {
    /// Needs no bound on `S` (a `Drop` impl cannot have one): the write goes through a
    /// function pointer set when the driver was made.
    fn write_on_drop(&mut self) {
        if let Some(f) = self.drop_write {
            f(self);
        }
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Driver<S> {
    /// One attempt at writing what is queued, with a waker that does nothing: what the
    /// transport takes now goes out; nothing waits.
    fn try_write_now(&mut self) {
        let mut cx = Context::from_waker(Waker::noop());
        let _ = self.poll_write_out(&mut cx);
    }

    pub(crate) fn new(io: S, conn: Connection) -> Self {
        Driver {
            io,
            trace: Trace::new(&conn),
            conn,
            sleep: None,
            armed_for: crate::proto::time::Instant::default(),
            timer_waker: None,
            shutdown_pending: false,
            unflushed: false,
            drop_write: Some(Self::try_write_now),
        }
    }

    /// Writes everything queued (vectored), then the shutdown if one is due, then flushes. A
    /// large compressed message is compressed one budget per poll as the socket takes it; the
    /// task yields between budgets so other connections run.
    fn poll_write_out(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut prepared = false;
        loop {
            while self.conn.transmit_len() > 0 {
                let written = {
                    let mut chunks = self.conn.transmit_chunks();
                    let first = chunks.next().unwrap_or_default();
                    match chunks.next() {
                        // One slice (a packed batch of small frames): a plain write.
                        None => ready!(Pin::new(&mut self.io).poll_write(cx, first))?,
                        Some(second) => {
                            let mut iov = [IoSlice::new(&[]); MAX_IOV];
                            iov[0] = IoSlice::new(first);
                            iov[1] = IoSlice::new(second);
                            let k = 2 + iov[2..]
                                .iter_mut()
                                .zip(chunks)
                                .map(|(s, c)| *s = IoSlice::new(c))
                                .count();
                            ready!(Pin::new(&mut self.io).poll_write_vectored(cx, &iov[..k]))?
                        }
                    }
                };
                if written == 0 {
                    return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
                }
                self.conn.advance_transmit(written);
                self.unflushed = true;
            }
            if !self.conn.has_pending_send() {
                break;
            }
            if prepared {
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            prepared = self.conn.prepare_transmit();
        }
        if let Some(Transmit::Shutdown) = self.conn.poll_transmit() {
            self.shutdown_pending = true;
        }
        if self.shutdown_pending {
            // The peer may be gone already; the connection is over either way.
            let _ = ready!(Pin::new(&mut self.io).poll_shutdown(cx));
            self.shutdown_pending = false;
            self.unflushed = false;
            return Poll::Ready(Ok(()));
        }
        if self.unflushed {
            // Only after a write: a flush of a plain socket is free, of a TLS stream not.
            ready!(Pin::new(&mut self.io).poll_flush(cx))?;
            self.unflushed = false;
        }
        Poll::Ready(Ok(()))
    }

    /// Writes everything queued; a transport failure is the core's to judge.
    fn poll_write(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        match ready!(self.poll_write_out(cx)) {
            Err(e) if self.conn.transport_failed() == TransportVerdict::Report => {
                Poll::Ready(Err(e.into()))
            }
            _ => Poll::Ready(Ok(())),
        }
    }

    /// The flush that ends a `send` (and `Sink::poll_flush`), corked: when the core allows it
    /// ([`Connection::may_defer_flush`]: more received bytes are already here, so the user's
    /// next `recv` goes on from them), the output stays queued for the replies to what
    /// follows and goes out with them in one write, at the latest when this driver is about
    /// to wait for the socket or a timer.
    pub(crate) fn poll_flush_corked(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.may_defer_flush() {
            return Poll::Ready(Ok(()));
        }
        self.poll_flush(cx)
    }

    /// Writes everything queued now, with the timers running while the write waits (a peer
    /// that stopped reading meets the write timeout here).
    pub(crate) fn poll_flush(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        loop {
            if let Poll::Ready(r) = self.poll_write(cx) {
                return Poll::Ready(r);
            }
            ready!(self.poll_timer(cx));
            self.conn.handle_timeout(Instant::now());
            if let Some(ConnectionError::Timeout(t)) = self.conn.last_error() {
                return Poll::Ready(Err(Error::Timeout(*t)));
            }
        }
    }

    /// Waits for the connection's next deadline; `Ready` when it has passed. The sleep is
    /// armed lazily: a deadline that moved later (keepalive and write timeouts move with every
    /// message) keeps the sleep where it was, and an early wake-up re-arms it, so the timer
    /// wheel is touched about once per timeout period rather than once per message.
    fn poll_timer(&mut self, cx: &mut Context<'_>) -> Poll<()> {
        let Some(deadline) = self.conn.poll_timeout() else {
            return Poll::Pending;
        };
        let to_tokio =
            |at: crate::proto::time::Instant| ::tokio::time::Instant::from_std(at.to_std());
        let registered = self
            .timer_waker
            .as_ref()
            .is_some_and(|w| w.will_wake(cx.waker()));
        // Compared on the core's clock (`armed_for`): no conversion on the per-message path.
        let sleep = match &mut self.sleep {
            Some(sleep) if deadline >= self.armed_for => {
                if registered && !sleep.is_elapsed() {
                    // Armed no later than needed and registered with this task's waker:
                    // polling it again would change nothing.
                    return Poll::Pending;
                }
                sleep
            }
            Some(sleep) => {
                sleep.as_mut().reset(to_tokio(deadline));
                self.armed_for = deadline;
                self.timer_waker = None;
                sleep
            }
            None => {
                self.armed_for = deadline;
                self.sleep.insert(Box::pin(sleep_until(to_tokio(deadline))))
            }
        };
        loop {
            if sleep.as_mut().poll(cx).is_pending() {
                self.timer_waker = Some(cx.waker().clone());
                return Poll::Pending;
            }
            self.timer_waker = None;
            if self.armed_for >= deadline {
                return Poll::Ready(());
            }
            // It fired for an earlier deadline that has since moved later: wait for this one.
            sleep.as_mut().reset(to_tokio(deadline));
            self.armed_for = deadline;
        }
    }

    /// The next event: the adapter's one loop of events, reads, then (about to wait) writes and
    /// time. Output is written only when no event is ready and a read would block (or the
    /// budget is spent), so the replies to everything received in one wake-up leave in one
    /// write.
    pub(crate) fn poll_event(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Event, Error>>> {
        let mut read = 0usize;
        self.trace.observe(&self.conn);
        loop {
            if let Some(ev) = self.conn.poll_event_bounded() {
                self.trace.on_event(&self.conn, &ev);
                if matches!(ev, Event::Closed(_)) {
                    // The last event: the user may drop the connection next, so the close
                    // frame it queued goes out now (or on a later poll, if the socket is full).
                    if let Poll::Ready(Err(e)) = self.poll_write(cx) {
                        return Poll::Ready(Some(Err(e)));
                    }
                }
                return Poll::Ready(Some(Ok(ev)));
            }
            let budget_spent = self.conn.wants_poll() || read >= self.conn.config().poll_budget;
            let can_read = !budget_spent && self.conn.wants_read() && !self.conn.is_terminated();
            if can_read {
                match self.poll_read_some(cx) {
                    Poll::Ready(Ok(0)) => {
                        self.conn.receive_eof();
                        continue;
                    }
                    Poll::Ready(Ok(n)) => {
                        read += n;
                        continue;
                    }
                    Poll::Ready(Err(e)) => {
                        if self.conn.transport_failed() == TransportVerdict::Report {
                            return Poll::Ready(Some(Err(e.into())));
                        }
                        continue;
                    }
                    // Nothing to read: about to wait.
                    Poll::Pending => {}
                }
            }
            // About to wait, yield or end: everything queued goes out, in one write (one that
            // would block finishes on a later poll).
            if let Poll::Ready(Err(e)) = self.poll_write(cx) {
                return Poll::Ready(Some(Err(e)));
            }
            if self.conn.is_terminated() {
                return Poll::Ready(None);
            }
            if budget_spent {
                // This poll's budget is spent: let other tasks run, then go on.
                cx.waker().wake_by_ref();
                return Poll::Pending;
            }
            if !can_read {
                if self.conn.wants_read() {
                    // The write just drained the backlog: read on.
                    continue;
                }
                // Output is backed up (the write above registered for writability).
                ready!(self.poll_timer(cx));
                self.conn.handle_timeout(Instant::now());
                continue;
            }
            if self.poll_timer(cx).is_ready() {
                self.conn.handle_timeout(Instant::now());
                continue;
            }
            self.conn.release_idle_buffers();
            return Poll::Pending;
        }
    }

    /// The next message for a reader (handshake events are skipped).
    pub(crate) fn poll_message(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Message, Error>>> {
        while let Some(ev) = ready!(self.poll_event(cx)) {
            match ev.map(event_to_item) {
                Ok(None) => {}
                Ok(Some(item)) => return Poll::Ready(Some(item)),
                Err(e) => return Poll::Ready(Some(Err(e))),
            }
        }
        Poll::Ready(None)
    }

    /// One read into the connection: between frames into the thread's read block (no buffer
    /// per connection, many pipelined frames per read, messages sliced from it), inside a
    /// frame straight into the connection's buffer (a large frame is not copied twice).
    fn poll_read_some(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        if !self.conn.has_partial_input() {
            let scratched = BLOCK.with(|cell| {
                // Taken only if free: a stream whose I/O is itself a WebSocket polls this again
                // from inside `poll_read`.
                let mut block = cell.try_borrow_mut().ok()?;
                if block.capacity() < BLOCK_MIN_ROOM && !block.try_reclaim(BLOCK_SIZE) {
                    *block = BytesMut::with_capacity(BLOCK_SIZE);
                }
                // Into the block's spare room, not zeroed first.
                let polled = poll_read_buf(Pin::new(&mut self.io), cx, &mut *block);
                Some(polled.map_ok(|n| {
                    if n > 0 {
                        self.conn.handle_timeout(Instant::now());
                        self.conn.receive_bytes(block.split());
                    }
                    n
                }))
            });
            if let Some(poll) = scratched {
                return poll;
            }
        }
        // Inside a frame: straight into the connection's buffer, not zeroed first.
        let n = ready!(poll_read_buf(
            Pin::new(&mut self.io),
            cx,
            self.conn.receive_reserve()
        ))?;
        if n > 0 {
            self.conn.handle_timeout(Instant::now());
        }
        self.conn.receive_appended();
        Poll::Ready(Ok(n))
    }

    /// One poll of a `send` (`flush`: then the corked flush) or a `write`: waits while the
    /// output is over the high-water mark, then queues `msg` (taken once).
    pub(crate) fn poll_send(
        &mut self,
        cx: &mut Context<'_>,
        msg: &mut Option<Message>,
        flush: bool,
    ) -> Poll<Result<(), Error>> {
        if msg.is_some() {
            ready!(self.poll_ready(cx))?;
            if let Some(msg) = msg.take() {
                self.conn.send(msg)?;
            }
        }
        if flush {
            self.poll_flush_corked(cx)
        } else {
            Poll::Ready(Ok(()))
        }
    }

    /// Backpressure: ready once the unwritten output is under the high-water mark and no large
    /// message is still being compressed.
    pub(crate) fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        if self.conn.is_send_backlogged() {
            ready!(self.poll_flush(cx))?;
        }
        Poll::Ready(Ok(()))
    }

    /// Sends a normal close if none was sent, and flushes.
    pub(crate) fn poll_close(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        let _ = self
            .conn
            .close(Some(CloseFrame::new(CloseCode::NORMAL, "")));
        self.poll_flush(cx)
    }
}
