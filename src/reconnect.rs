//! A reconnecting client (opt-in): one WebSocket client that keeps coming back after the
//! connection is lost, with exponential backoff and full jitter.
//!
//! Owns only the retry loop around [`connect_with`]: when to try again ([`Backoff`]), telling the
//! caller what happened ([`ReconnectEvent`]), and stopping ([`StopHandle`]). Each connection is
//! an ordinary [`WebSocketStream`] whose protocol is the core's; nothing is replayed
//! automatically. Instead, every successful (re)connect is an event,
//! [`ReconnectEvent::Connected`], and that is the hook: re-send subscriptions, authentication or
//! whatever state the server must have, right there, with [`ReconnectingClient::send`]. Messages
//! sent while disconnected fail with [`Error::ConnectionClosed`] rather than being queued.
//!
//! The client does its work while it is polled, as a [`Stream`] or through
//! [`ReconnectingClient::recv`]; there is no background task. `recv` is cancel-safe (a pending
//! connect or backoff sleep survives a dropped `recv` future), so it can sit in a
//! `tokio::select!` next to the sending side of an application.
//!
//! ```no_run
//! use std::time::Duration;
//! use websock::reconnect::{Backoff, ReconnectEvent, ReconnectingClient};
//!
//! # async fn run() -> Result<(), websock::Error> {
//! let options = websock::Connect::new("ws://127.0.0.1:9001/feed")?;
//! let backoff = Backoff::default().max_delay(Duration::from_secs(10));
//! let mut client = ReconnectingClient::new(options, backoff);
//! let stop = client.stop_handle(); // stop.stop() from anywhere ends the loop below
//! while let Some(event) = client.recv().await {
//!     match event? {
//!         ReconnectEvent::Connected { count, .. } => {
//!             println!("connection #{count}");
//!             client.send(r#"{"subscribe":"prices"}"#).await?; // state to restore
//!         }
//!         ReconnectEvent::Message(msg) => println!("{msg:?}"),
//!         ReconnectEvent::Disconnected { error, retry_in }
//!         | ReconnectEvent::ConnectFailed { error, retry_in } => {
//!             println!("{error}; next attempt in {retry_in:?}");
//!         }
//!         _ => {}
//!     }
//! }
//! # drop(stop);
//! # Ok(()) }
//! ```
#![forbid(unsafe_code)]

use std::fmt;
use std::future::{poll_fn, Future};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll, Waker};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use ::tokio::time::Sleep;
use futures_core::Stream;
use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use crate::error::Error;
use crate::tokio::{connect_with, MaybeTls, WebSocketStream};
use crate::Connect;
use crate::Message;

/// When to try again: exponential backoff with full jitter.
///
/// The `n`-th wait (counting from 0) is drawn uniformly from zero to
/// `min(max_delay, initial_delay * factor^n)` ("full jitter"), so many clients that lost the same
/// server do not come back in step. `n` counts the attempts that failed since the last
/// successful connection, so the first wait after losing a connection is at most
/// `initial_delay`. The first connection is attempted at once.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub struct Backoff {
    /// The ceiling of the first wait. Default 250 ms.
    pub initial_delay: Duration,
    /// How much the ceiling grows after each failed attempt. Default 2.
    pub factor: f64,
    /// The largest ceiling. Default 30 s.
    pub max_delay: Duration,
    /// Give up after this many consecutive failed connection attempts (`None`: never). Default
    /// `None`.
    pub max_attempts: Option<u32>,
}

impl Default for Backoff {
    fn default() -> Self {
        Backoff {
            initial_delay: Duration::from_millis(250),
            factor: 2.0,
            max_delay: Duration::from_secs(30),
            max_attempts: None,
        }
    }
}

impl Backoff {
    /// Sets [`Backoff::initial_delay`].
    pub fn initial_delay(mut self, d: Duration) -> Self {
        self.initial_delay = d;
        self
    }

    /// Sets [`Backoff::factor`].
    pub fn factor(mut self, f: f64) -> Self {
        self.factor = f;
        self
    }

    /// Sets [`Backoff::max_delay`].
    pub fn max_delay(mut self, d: Duration) -> Self {
        self.max_delay = d;
        self
    }

    /// Sets [`Backoff::max_attempts`].
    pub fn max_attempts(mut self, n: Option<u32>) -> Self {
        self.max_attempts = n;
        self
    }

    /// The ceiling of the `n`-th wait: `min(max_delay, initial_delay * factor^n)`.
    ///
    /// ```
    /// use std::time::Duration;
    /// use websock::reconnect::Backoff;
    /// let b = Backoff::default()
    ///     .initial_delay(Duration::from_millis(100))
    ///     .max_delay(Duration::from_secs(1));
    /// assert_eq!(b.ceiling(0), Duration::from_millis(100));
    /// assert_eq!(b.ceiling(3), Duration::from_millis(800));
    /// assert_eq!(b.ceiling(4), Duration::from_secs(1));
    /// assert_eq!(b.ceiling(1000), Duration::from_secs(1));
    /// ```
    pub fn ceiling(&self, n: u32) -> Duration {
        let exp = i32::try_from(n).unwrap_or(i32::MAX);
        let secs = self.initial_delay.as_secs_f64() * self.factor.powi(exp);
        Duration::try_from_secs_f64(secs)
            .unwrap_or(self.max_delay)
            .min(self.max_delay)
    }

    /// The `n`-th wait, drawn uniformly from zero to [`ceiling(n)`](Self::ceiling).
    pub fn delay(&self, n: u32, rng: &mut impl rand::Rng) -> Duration {
        let ceiling = u64::try_from(self.ceiling(n).as_nanos()).unwrap_or(u64::MAX);
        Duration::from_nanos(rng.random_range(0..=ceiling))
    }
}

/// What a [`ReconnectingClient`] reports.
#[derive(Debug)]
#[non_exhaustive]
pub enum ReconnectEvent {
    /// A connection is up, the first or a new one: re-send here whatever state the server must
    /// have (subscriptions, authentication). It is the only place a reconnect becomes visible.
    Connected {
        /// Which connection this is: 1 for the first, 2 after the first reconnect, and so on.
        /// The agreed subprotocol and extensions are on
        /// [`ReconnectingClient::stream_mut`]`().connection()`.
        count: u64,
    },
    /// A message arrived on the current connection (pings, pongs and close frames included).
    Message(Message),
    /// The connection ended (the error says how: [`Error::ConnectionClosed`] after a close
    /// handshake the server started); the next attempt is in `retry_in`.
    Disconnected {
        /// Why it ended.
        error: Error,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
    /// A connection attempt failed; the next one is in `retry_in`. Refusals by the server
    /// ([`HandshakeError::Rejected`](crate::HandshakeError::Rejected)) are retried too: stop the
    /// client if one is final.
    ConnectFailed {
        /// Why the attempt failed.
        error: Error,
        /// The wait before the next attempt.
        retry_in: Duration,
    },
}

/// The flag a [`StopHandle`] sets, with the waker of the client's pending `recv`.
#[derive(Debug, Default)]
struct StopSignal {
    stopped: AtomicBool,
    waker: Mutex<Option<Waker>>,
}

impl StopSignal {
    /// Whether stop was asked for; if not, `cx` is woken when it is.
    fn poll_stopped(&self, cx: &mut Context<'_>) -> bool {
        if self.stopped.load(Ordering::Acquire) {
            return true;
        }
        let mut waker = self.waker.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *waker {
            Some(w) if w.will_wake(cx.waker()) => {}
            slot => *slot = Some(cx.waker().clone()),
        }
        drop(waker);
        // Checked again: a stop between the first check and the registration would be missed.
        self.stopped.load(Ordering::Acquire)
    }
}

/// Stops a [`ReconnectingClient`] from anywhere (another task, a signal handler). Cheap to
/// clone.
#[derive(Debug, Clone)]
pub struct StopHandle(Arc<StopSignal>);

impl StopHandle {
    /// Asks the client to stop: it closes the current connection with a close handshake (bounded
    /// by [`Config::close_timeout`](crate::Config::close_timeout)), or abandons a pending attempt or wait, and then its `recv`
    /// returns `None` for good.
    pub fn stop(&self) {
        self.0.stopped.store(true, Ordering::Release);
        let waker = self
            .0
            .waker
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(w) = waker {
            w.wake();
        }
    }

    /// Whether [`stop`](Self::stop) was called.
    pub fn is_stopped(&self) -> bool {
        self.0.stopped.load(Ordering::Acquire)
    }
}

type Ws = WebSocketStream<MaybeTls>;
type ConnectFuture = Pin<Box<dyn Future<Output = Result<Ws, Error>> + Send>>;

enum Phase {
    /// Ready to start an attempt.
    Idle,
    Connecting(ConnectFuture),
    Connected(Box<Ws>),
    Waiting(Pin<Box<Sleep>>),
    /// Stopping: the close handshake is under way.
    Closing(Box<Ws>),
    Done,
}

/// A WebSocket client that reconnects, with [`Backoff`], whenever its connection is lost, until
/// it is stopped or the attempt limit is reached. See the [module docs](self).
pub struct ReconnectingClient {
    options: Connect,
    backoff: Backoff,
    phase: Phase,
    /// Connection attempts that failed since the last success.
    failures: u32,
    connections: u64,
    stop: Arc<StopSignal>,
    rng: StdRng,
}

impl fmt::Debug for ReconnectingClient {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match &self.phase {
            Phase::Idle => "idle",
            Phase::Connecting(_) => "connecting",
            Phase::Connected(_) => "connected",
            Phase::Waiting(_) => "waiting",
            Phase::Closing(_) => "closing",
            Phase::Done => "done",
        };
        f.debug_struct("ReconnectingClient")
            .field("uri", self.options.uri())
            .field("backoff", &self.backoff)
            .field("phase", &phase)
            .field("failures", &self.failures)
            .field("connections", &self.connections)
            .finish_non_exhaustive()
    }
}

impl ReconnectingClient {
    /// A client that connects with `options` (URL, subprotocols, headers, settings, proxy,
    /// TLS) on every attempt. It connects when first polled.
    pub fn new(options: Connect, backoff: Backoff) -> Self {
        // Jitter needs no unpredictability; without the OS source, the clock will do.
        let rng = StdRng::try_from_rng(&mut rand::rngs::SysRng).unwrap_or_else(|_| {
            let nanos = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos() as u64);
            StdRng::seed_from_u64(nanos)
        });
        ReconnectingClient {
            options,
            backoff,
            phase: Phase::Idle,
            failures: 0,
            connections: 0,
            stop: Arc::default(),
            rng,
        }
    }

    /// A handle that stops this client.
    pub fn stop_handle(&self) -> StopHandle {
        StopHandle(self.stop.clone())
    }

    /// The next event; `None` once stopped, or after the error that ended the last allowed
    /// attempt. Cancel-safe.
    pub async fn recv(&mut self) -> Option<Result<ReconnectEvent, Error>> {
        poll_fn(|cx| self.poll_recv(cx)).await
    }

    /// Sends on the current connection; [`Error::ConnectionClosed`] if there is none. A failed
    /// send is not retried: the next [`recv`](Self::recv) notices the loss and reconnects.
    pub async fn send(&mut self, msg: impl Into<Message>) -> Result<(), Error> {
        match &mut self.phase {
            Phase::Connected(ws) => ws.send(msg).await,
            _ => Err(Error::ConnectionClosed),
        }
    }

    /// The current connection, if there is one (for fragments, pings, settings).
    pub fn stream_mut(&mut self) -> Option<&mut WebSocketStream<MaybeTls>> {
        match &mut self.phase {
            Phase::Connected(ws) => Some(ws),
            _ => None,
        }
    }

    /// Whether a connection is up.
    pub fn is_connected(&self) -> bool {
        matches!(self.phase, Phase::Connected(_))
    }

    /// Stops the client and waits until it has: the current connection's close handshake is
    /// seen through (bounded by [`Config::close_timeout`](crate::Config::close_timeout)); events on the way are dropped.
    pub async fn close(&mut self) {
        self.stop_handle().stop();
        while self.recv().await.is_some() {}
    }

    /// The state machine behind [`recv`](Self::recv) and [`Stream`].
    pub fn poll_recv(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<ReconnectEvent, Error>>> {
        loop {
            if !matches!(self.phase, Phase::Closing(_) | Phase::Done) && self.stop.poll_stopped(cx)
            {
                self.phase = match std::mem::replace(&mut self.phase, Phase::Done) {
                    Phase::Connected(mut ws) => {
                        // Already closing or closed: the drain below ends all the same.
                        let _ = ws.connection_mut().close(None);
                        Phase::Closing(ws)
                    }
                    _ => Phase::Done,
                };
            }
            match &mut self.phase {
                Phase::Idle => {
                    let options = self.options.clone();
                    self.phase = Phase::Connecting(Box::pin(connect_with(options)));
                }
                Phase::Connecting(fut) => {
                    let result = ready!(fut.as_mut().poll(cx));
                    return Poll::Ready(Some(match result {
                        Ok(ws) => {
                            self.failures = 0;
                            self.connections += 1;
                            self.phase = Phase::Connected(Box::new(ws));
                            Ok(ReconnectEvent::Connected {
                                count: self.connections,
                            })
                        }
                        Err(error) => {
                            self.failures = self.failures.saturating_add(1);
                            if self
                                .backoff
                                .max_attempts
                                .is_some_and(|m| self.failures >= m)
                            {
                                self.phase = Phase::Done;
                                Err(error)
                            } else {
                                let retry_in = self.wait();
                                Ok(ReconnectEvent::ConnectFailed { error, retry_in })
                            }
                        }
                    }));
                }
                Phase::Connected(ws) => {
                    let error = match ready!(Pin::new(&mut **ws).poll_next(cx)) {
                        Some(Ok(msg)) => {
                            return Poll::Ready(Some(Ok(ReconnectEvent::Message(msg))))
                        }
                        Some(Err(e)) => e,
                        None => Error::ConnectionClosed,
                    };
                    let retry_in = self.wait();
                    return Poll::Ready(Some(Ok(ReconnectEvent::Disconnected { error, retry_in })));
                }
                Phase::Waiting(sleep) => {
                    ready!(sleep.as_mut().poll(cx));
                    self.phase = Phase::Idle;
                }
                Phase::Closing(ws) => match ready!(Pin::new(&mut **ws).poll_next(cx)) {
                    Some(Ok(_)) => {}
                    Some(Err(_)) | None => self.phase = Phase::Done,
                },
                Phase::Done => return Poll::Ready(None),
            }
        }
    }

    /// Enters the backoff wait before the next attempt and returns its length.
    fn wait(&mut self) -> Duration {
        let delay = self.backoff.delay(self.failures, &mut self.rng);
        self.phase = Phase::Waiting(Box::pin(::tokio::time::sleep(delay)));
        delay
    }
}

impl Stream for ReconnectingClient {
    type Item = Result<ReconnectEvent, Error>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.get_mut().poll_recv(cx)
    }
}
