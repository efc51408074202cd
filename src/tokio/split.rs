//! Split halves of a tokio WebSocket for two tasks, over one driver locked for the length of a
//! poll (never across an await), so pongs and the close handshake work whichever half polls. The
//! I/O object gets a waker that wakes both halves: neither can strand the other's task.
#![forbid(unsafe_code)]

use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use ::tokio::io::{AsyncRead, AsyncWrite};
use futures_core::Stream;
use futures_sink::Sink;

use super::driver::Driver;
use crate::error::Error;
use crate::{CloseFrame, Connection, Event, Message};

/// The halves' wakers: the reader's, then the writer's.
#[derive(Default)]
struct Wakers([Mutex<Option<Waker>>; 2]);

const READER: usize = 0;
const WRITER: usize = 1;

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        self.0
            .iter()
            .filter_map(|slot| lock(slot).take())
            .for_each(Waker::wake);
    }
}

struct Shared<S> {
    driver: Mutex<Driver<S>>,
    wakers: Arc<Wakers>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl<S> Shared<S> {
    /// Runs `f` on the driver for half `side`, with a waker that wakes both halves.
    fn with<R>(
        &self,
        cx: &mut Context<'_>,
        side: usize,
        f: impl FnOnce(&mut Driver<S>, &mut Context<'_>) -> R,
    ) -> R {
        *lock(&self.wakers.0[side]) = Some(cx.waker().clone());
        let waker = Waker::from(self.wakers.clone());
        f(&mut lock(&self.driver), &mut Context::from_waker(&waker))
    }
}

pub(crate) fn split<S>(driver: Driver<S>) -> (Reader<S>, Writer<S>) {
    let shared = Arc::new(Shared {
        driver: Mutex::new(driver),
        wakers: Arc::default(),
    });
    let reader = Reader {
        shared: shared.clone(),
    };
    (reader, Writer { shared })
}

/// The writing half of a split WebSocket (a [`Sink`] of messages).
pub struct Writer<S> {
    shared: Arc<Shared<S>>,
}

/// The reading half of a split WebSocket (a [`Stream`] of messages).
pub struct Reader<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> Writer<S> {
    /// Sends a message (waits while the output is over the high-water mark) and flushes,
    /// corked as [`WebSocketStream::send`](super::WebSocketStream::send).
    pub fn send(
        &mut self,
        msg: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + '_ {
        self.queue(msg.into(), true)
    }

    /// Queues a message (after waiting while the output is over the high-water mark).
    pub fn write(
        &mut self,
        msg: impl Into<Message>,
    ) -> impl Future<Output = Result<(), Error>> + '_ {
        self.queue(msg.into(), false)
    }

    /// `send` (`flush`) or `write`: a small future, as `WebSocketStream`'s.
    fn queue(&mut self, msg: Message, flush: bool) -> impl Future<Output = Result<(), Error>> + '_ {
        let mut msg = Some(msg);
        poll_fn(move |cx| {
            self.shared
                .with(cx, WRITER, |d, cx| d.poll_send(cx, &mut msg, flush))
        })
    }

    /// Writes everything queued, now.
    pub async fn flush(&mut self) -> Result<(), Error> {
        poll_fn(|cx| self.shared.with(cx, WRITER, |d, cx| d.poll_flush(cx))).await
    }

    /// Starts the close handshake; the stream half sees it through.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        lock(&self.shared.driver).conn.close(frame)?;
        self.flush().await
    }

    /// Runs `f` on the connection (for fragments, state, settings), then flushes.
    pub async fn with_connection<T>(
        &mut self,
        f: impl FnOnce(&mut Connection) -> T,
    ) -> Result<T, Error> {
        let r = f(&mut lock(&self.shared.driver).conn);
        self.flush().await?;
        Ok(r)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Reader<S> {
    /// The next message (`None` once the connection is over).
    pub fn recv(&mut self) -> impl Future<Output = Option<Result<Message, Error>>> + '_ {
        poll_fn(move |cx| Pin::new(&mut *self).poll_next(cx))
    }

    /// The next event (use this in streaming mode).
    pub async fn recv_event(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| self.shared.with(cx, READER, |d, cx| d.poll_event(cx))).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for Reader<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared.with(cx, READER, |d, cx| d.poll_message(cx))
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for Writer<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.with(cx, WRITER, |d, cx| d.poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Ok(lock(&self.shared.driver).conn.send(item)?)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared
            .with(cx, WRITER, |d, cx| d.poll_flush_corked(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.with(cx, WRITER, |d, cx| d.poll_close(cx))
    }
}
