//! Split halves of a tokio WebSocket: a sink and a stream for two tasks, over one driver.
//!
//! Both halves lock the one driver for the length of a poll (never across an await), so auto-pong
//! and the close handshake work whichever half is polled. Each half's waker is stored, and the
//! I/O object is given a waker that wakes both: a read or write readiness one half registered
//! can never strand the other half's task.
#![forbid(unsafe_code)]

use std::future::poll_fn;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll, Wake, Waker};

use ::tokio::io::{AsyncRead, AsyncWrite};
use futures_core::Stream;
use futures_sink::Sink;

use super::stream::Driver;
use crate::error::{event_to_item, Error};
use crate::{CloseFrame, Connection, Event, Message};

#[derive(Default)]
struct Wakers {
    stream: Mutex<Option<Waker>>,
    sink: Mutex<Option<Waker>>,
}

impl Wake for Wakers {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }
    fn wake_by_ref(self: &Arc<Self>) {
        for slot in [&self.stream, &self.sink] {
            if let Some(w) = lock(slot).take() {
                w.wake();
            }
        }
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
    /// Runs `f` on the driver with a waker that wakes both halves.
    fn with<R>(
        &self,
        cx: &mut Context<'_>,
        sink_side: bool,
        f: impl FnOnce(&mut Driver<S>, &mut Context<'_>) -> R,
    ) -> R {
        let slot = if sink_side {
            &self.wakers.sink
        } else {
            &self.wakers.stream
        };
        *lock(slot) = Some(cx.waker().clone());
        let waker = Waker::from(self.wakers.clone());
        let mut both = Context::from_waker(&waker);
        f(&mut lock(&self.driver), &mut both)
    }
}

pub(crate) fn split<S>(driver: Driver<S>) -> (WsSink<S>, WsStream<S>) {
    let shared = Arc::new(Shared {
        driver: Mutex::new(driver),
        wakers: Arc::default(),
    });
    (
        WsSink {
            shared: shared.clone(),
        },
        WsStream { shared },
    )
}

/// The sending half of a split WebSocket.
pub struct WsSink<S> {
    shared: Arc<Shared<S>>,
}

/// The receiving half of a split WebSocket.
pub struct WsStream<S> {
    shared: Arc<Shared<S>>,
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsSink<S> {
    /// Sends a message (waits while the output is over the high-water mark).
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        let msg = msg.into();
        poll_fn(|cx| self.shared.with(cx, true, |d, cx| d.poll_ready(cx))).await?;
        lock(&self.shared.driver).conn.send(msg)?;
        poll_fn(|cx| self.shared.with(cx, true, |d, cx| d.poll_write_out(cx))).await
    }

    /// Starts the close handshake; the stream half sees it through.
    pub async fn close(&mut self, frame: Option<CloseFrame>) -> Result<(), Error> {
        lock(&self.shared.driver).conn.send_close(frame)?;
        poll_fn(|cx| self.shared.with(cx, true, |d, cx| d.poll_write_out(cx))).await
    }

    /// Runs `f` on the connection (fragments, state); flush afterwards with `send` or `close`,
    /// or through the `Sink` API.
    pub fn with_connection<T>(&self, f: impl FnOnce(&mut Connection) -> T) -> T {
        f(&mut lock(&self.shared.driver).conn)
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> WsStream<S> {
    /// The next message (`None` once the connection is over).
    pub async fn recv(&mut self) -> Option<Result<Message, Error>> {
        poll_fn(|cx| Pin::new(&mut *self).poll_next(cx)).await
    }

    /// The next event (use this in streaming mode).
    pub async fn recv_event(&mut self) -> Option<Result<Event, Error>> {
        poll_fn(|cx| self.shared.with(cx, false, |d, cx| d.poll_event(cx))).await
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Stream for WsStream<S> {
    type Item = Result<Message, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.shared.with(cx, false, |d, cx| {
            d.poll_event(cx)
                .map(|ev| ev.map(|r| r.and_then(|ev| event_to_item(ev, &d.conn))))
        })
    }
}

impl<S: AsyncRead + AsyncWrite + Unpin> Sink<Message> for WsSink<S> {
    type Error = Error;

    fn poll_ready(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.with(cx, true, |d, cx| d.poll_ready(cx))
    }

    fn start_send(self: Pin<&mut Self>, item: Message) -> Result<(), Error> {
        Ok(lock(&self.shared.driver).conn.send(item)?)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.with(cx, true, |d, cx| d.poll_write_out(cx))
    }

    fn poll_close(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), Error>> {
        self.shared.with(cx, true, |d, cx| d.poll_close(cx))
    }
}
