//! Fan-out for servers: topics, subscriptions and publishing one [`PreparedMessage`] to every
//! subscriber of a topic.
//!
//! Owns the topic map and one bounded queue per subscriber, and nothing else: it never touches a
//! socket or a connection. Each subscriber's task takes its messages with
//! [`Subscription::recv`] and sends them on its own WebSocket
//! ([`WebSocketStream::send_prepared`](crate::tokio::WebSocketStream::send_prepared)), so a
//! subscriber that does not read slows only its own task: [`Hub::publish`] never waits. It
//! pushes a reference-counted message into each queue and, when a queue is full, applies the
//! hub's [`Overflow`] policy to that subscriber alone.
//!
//! ```no_run
//! use websock::broadcast::{Delivery, Hub};
//! use websock::PreparedMessage;
//!
//! # async fn serve(mut ws: websock::tokio::WebSocketStream<tokio::net::TcpStream>, hub: Hub) {
//! let sub = hub.subscribe("scores");
//! loop {
//!     tokio::select! {
//!         incoming = ws.recv() => match incoming {
//!             // What a client sends goes to every other subscriber of the topic.
//!             Some(Ok(m)) => {
//!                 if let Some(prepared) = PreparedMessage::from_message(m) {
//!                     hub.publish_except("scores", &prepared, sub.id());
//!                 }
//!             }
//!             _ => break,
//!         },
//!         delivery = sub.recv() => match delivery {
//!             Delivery::Message(m) => {
//!                 // Everything queued for this subscriber goes out in one write.
//!                 let mut next = Some(Delivery::Message(m));
//!                 while let Some(Delivery::Message(m)) = next {
//!                     if ws.write_prepared(&m).await.is_err() { return }
//!                     next = sub.try_recv();
//!                 }
//!                 if ws.flush().await.is_err() { return }
//!                 if let Some(Delivery::Closed(frame)) = next {
//!                     let _ = ws.close(Some(frame)).await;
//!                     return;
//!                 }
//!             }
//!             Delivery::Closed(frame) => { let _ = ws.close(Some(frame)).await; break }
//!         },
//!     }
//! }
//! # }
//! ```
//!
//! The hub is `Clone` (an `Arc` inside) and `Send + Sync`; it works on any tokio runtime, the
//! multi-thread one included, and needs no task of its own. A [`Subscription`] unsubscribes
//! when dropped. [`Hub::topics`] and [`Hub::watch_topics`] tell a bridge to another process
//! (the `pubsub` example's Redis link) which topics this process has subscribers for.
#![forbid(unsafe_code)]

use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio::sync::{watch, Notify};

use crate::{CloseCode, CloseFrame, PreparedMessage};

/// What the hub does with a message for a subscriber whose queue is full.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Overflow {
    /// Drop the oldest queued message to make room (a live feed: the newest matters most).
    DropOldest,
    /// Drop the new message for this subscriber (what is queued is delivered in order).
    DropNewest,
    /// Unsubscribe the subscriber and drop its queue; its next [`Subscription::recv`] returns
    /// [`Delivery::Closed`] with this close frame, for the task to close its connection with
    /// (1008 policy violation or 1013 try again later are the usual codes).
    Close(CloseFrame),
}

impl Overflow {
    /// [`Overflow::Close`] with code 1013 (try again later) and the reason "too slow".
    pub fn close_too_slow() -> Overflow {
        Overflow::Close(CloseFrame::new(CloseCode::TRY_AGAIN_LATER, "too slow"))
    }
}

/// The hub's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HubConfig {
    /// Messages queued per subscriber before [`HubConfig::overflow`] applies (at least 1).
    pub queue: usize,
    /// Payload bytes queued per subscriber before [`HubConfig::overflow`] applies. The bytes
    /// are shared by every subscriber of a message, so this bounds how long a slow subscriber
    /// keeps messages alive rather than what it costs alone. One message is always let in.
    pub queue_bytes: usize,
    /// The policy for a full queue.
    pub overflow: Overflow,
}

impl Default for HubConfig {
    /// 256 messages or 4 MiB per subscriber; a subscriber that falls that far behind is closed
    /// with 1013.
    fn default() -> Self {
        HubConfig {
            queue: 256,
            queue_bytes: 4 << 20,
            overflow: Overflow::close_too_slow(),
        }
    }
}

/// Identifies one subscription, for [`Hub::publish_except`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SubscriberId(u64);

/// What one [`Hub::publish`] did, subscriber by subscriber.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Published {
    /// Subscribers that got the message queued.
    pub queued: usize,
    /// Subscribers whose full queue lost a message (the oldest or this one, by policy).
    pub dropped: usize,
    /// Subscribers closed by [`Overflow::Close`] because of this message.
    pub closed: usize,
}

/// What [`Subscription::recv`] returns.
#[derive(Debug, Clone)]
pub enum Delivery {
    /// The next message published on the topic.
    Message(PreparedMessage),
    /// The hub closed this subscription ([`Overflow::Close`]); close the connection with it.
    Closed(CloseFrame),
}

/// Topics and their subscribers. See the [module docs](self).
#[derive(Debug, Clone)]
pub struct Hub {
    inner: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    config: HubConfig,
    topics: Mutex<HashMap<Arc<str>, Vec<Arc<Slot>>>>,
    next_id: AtomicU64,
    /// Bumped whenever a topic gains its first subscriber or loses its last.
    topics_version: watch::Sender<u64>,
}

/// One subscriber's queue.
#[derive(Debug)]
struct Slot {
    id: SubscriberId,
    queue: Mutex<Queue>,
    ready: Notify,
}

#[derive(Debug, Default)]
struct Queue {
    messages: VecDeque<PreparedMessage>,
    /// Payload bytes in `messages`.
    bytes: usize,
    dropped: u64,
    closed: Option<CloseFrame>,
}

impl Default for Hub {
    fn default() -> Self {
        Hub::new(HubConfig::default())
    }
}

impl Hub {
    /// A hub with no topics.
    pub fn new(config: HubConfig) -> Hub {
        Hub {
            inner: Arc::new(Shared {
                config: HubConfig {
                    queue: config.queue.max(1),
                    ..config
                },
                topics: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
                topics_version: watch::Sender::new(0),
            }),
        }
    }

    /// The hub's settings.
    pub fn config(&self) -> &HubConfig {
        &self.inner.config
    }

    fn topics_map(&self) -> MutexGuard<'_, HashMap<Arc<str>, Vec<Arc<Slot>>>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every change
        // is one push or one removal), so a poisoned lock is still usable.
        self.inner.topics.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Subscribes to `topic`: every message published on it from now on is queued for the
    /// subscription (no replay of earlier ones). Unsubscribes when the subscription is dropped.
    pub fn subscribe(&self, topic: &str) -> Subscription {
        let id = SubscriberId(self.inner.next_id.fetch_add(1, Ordering::Relaxed));
        let slot = Arc::new(Slot {
            id,
            queue: Mutex::new(Queue::default()),
            ready: Notify::new(),
        });
        let mut topics = self.topics_map();
        let (topic, first) = match topics.get_key_value(topic) {
            Some((name, _)) => (name.clone(), false),
            None => (Arc::<str>::from(topic), true),
        };
        topics.entry(topic.clone()).or_default().push(slot.clone());
        drop(topics);
        if first {
            self.inner.topics_version.send_modify(|v| *v += 1);
        }
        Subscription {
            hub: self.clone(),
            topic,
            slot,
        }
    }

    /// Queues `message` for every subscriber of `topic`.
    pub fn publish(&self, topic: &str, message: &PreparedMessage) -> Published {
        self.publish_filtered(topic, message, None)
    }

    /// Queues `message` for every subscriber of `topic` but `sender` (a client's own message
    /// is not echoed back to it).
    pub fn publish_except(
        &self,
        topic: &str,
        message: &PreparedMessage,
        sender: SubscriberId,
    ) -> Published {
        self.publish_filtered(topic, message, Some(sender))
    }

    fn publish_filtered(
        &self,
        topic: &str,
        message: &PreparedMessage,
        except: Option<SubscriberId>,
    ) -> Published {
        let mut report = Published::default();
        let mut topics = self.topics_map();
        let Some(slots) = topics.get_mut(topic) else {
            return report;
        };
        let config = &self.inner.config;
        slots.retain(|slot| {
            if Some(slot.id) == except {
                return true;
            }
            let mut queue = slot.lock();
            if queue.has_room(config, message) {
                queue.push(message);
                report.queued += 1;
            } else {
                match &config.overflow {
                    Overflow::DropOldest => {
                        while !queue.messages.is_empty() && !queue.has_room(config, message) {
                            queue.pop();
                            queue.dropped += 1;
                        }
                        queue.push(message);
                        report.dropped += 1;
                    }
                    Overflow::DropNewest => {
                        queue.dropped += 1;
                        report.dropped += 1;
                        return true;
                    }
                    Overflow::Close(frame) => {
                        *queue = Queue {
                            closed: Some(frame.clone()),
                            dropped: queue.dropped,
                            ..Queue::default()
                        };
                        report.closed += 1;
                        drop(queue);
                        slot.ready.notify_one();
                        return false;
                    }
                }
            }
            drop(queue);
            slot.ready.notify_one();
            true
        });
        if slots.is_empty() {
            topics.remove(topic);
            drop(topics);
            self.inner.topics_version.send_modify(|v| *v += 1);
        }
        report
    }

    /// How many subscribers `topic` has.
    pub fn subscribers(&self, topic: &str) -> usize {
        self.topics_map().get(topic).map_or(0, Vec::len)
    }

    /// The topics that have at least one subscriber, in no particular order.
    pub fn topics(&self) -> Vec<Arc<str>> {
        self.topics_map().keys().cloned().collect()
    }

    /// Waits until the set of topics with subscribers may have changed since the last call on
    /// this watcher; a bridge then compares [`Hub::topics`] with what it subscribed to. Changes
    /// are coalesced: many between two calls wake the watcher once.
    pub fn watch_topics(&self) -> TopicsWatcher {
        TopicsWatcher {
            version: self.inner.topics_version.subscribe(),
        }
    }

    fn unsubscribe(&self, topic: &str, id: SubscriberId) {
        let mut topics = self.topics_map();
        let Some(slots) = topics.get_mut(topic) else {
            return;
        };
        slots.retain(|s| s.id != id);
        if slots.is_empty() {
            topics.remove(topic);
            drop(topics);
            self.inner.topics_version.send_modify(|v| *v += 1);
        }
    }
}

/// Wakes when a topic gains its first subscriber or loses its last ([`Hub::watch_topics`]).
#[derive(Debug)]
pub struct TopicsWatcher {
    version: watch::Receiver<u64>,
}

impl TopicsWatcher {
    /// Returns once the topic set changed since the previous call (or since the watcher was
    /// made, for the first call).
    pub async fn changed(&mut self) {
        // The sender lives in the hub this watcher holds no reference to; if it is gone the
        // set can never change again.
        if self.version.changed().await.is_err() {
            std::future::pending::<()>().await;
        }
    }
}

impl Queue {
    fn has_room(&self, config: &HubConfig, message: &PreparedMessage) -> bool {
        self.messages.is_empty()
            || (self.messages.len() < config.queue
                && self.bytes + message.payload().len() <= config.queue_bytes)
    }

    fn push(&mut self, message: &PreparedMessage) {
        self.bytes += message.payload().len();
        self.messages.push_back(message.clone());
    }

    fn pop(&mut self) -> Option<PreparedMessage> {
        let m = self.messages.pop_front()?;
        self.bytes -= m.payload().len();
        Some(m)
    }
}

impl Slot {
    fn lock(&self) -> MutexGuard<'_, Queue> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// One subscriber's place in a topic ([`Hub::subscribe`]); unsubscribes when dropped.
#[derive(Debug)]
pub struct Subscription {
    hub: Hub,
    topic: Arc<str>,
    slot: Arc<Slot>,
}

impl Subscription {
    /// This subscription's id, for [`Hub::publish_except`].
    pub fn id(&self) -> SubscriberId {
        self.slot.id
    }

    /// The topic.
    pub fn topic(&self) -> &str {
        &self.topic
    }

    /// The next message for this subscriber, in publishing order. Cancel-safe: a message is
    /// taken from the queue only when this returns it, so it can sit in `tokio::select!`.
    pub async fn recv(&self) -> Delivery {
        loop {
            if let Some(delivery) = self.try_recv() {
                return delivery;
            }
            self.slot.ready.notified().await;
        }
    }

    /// The next message if one is queued.
    pub fn try_recv(&self) -> Option<Delivery> {
        let mut queue = self.slot.lock();
        if let Some(m) = queue.pop() {
            return Some(Delivery::Message(m));
        }
        queue.closed.clone().map(Delivery::Closed)
    }

    /// Messages queued and not yet taken.
    pub fn queued(&self) -> usize {
        self.slot.lock().messages.len()
    }

    /// Messages this subscriber lost to [`Overflow::DropOldest`] or [`Overflow::DropNewest`].
    pub fn dropped(&self) -> u64 {
        self.slot.lock().dropped
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(&self.topic, self.slot.id);
    }
}
