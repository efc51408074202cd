//! The link between this node's hub and the other nodes, through Redis pub/sub.
//!
//! Owns the one Redis connection (RESP3, so it publishes while subscribed) and what it knows
//! of the other nodes. Never touches a WebSocket: local delivery is the hub's, done before a
//! message is forwarded here, so a node without Redis still serves its own subscribers.
//!
//! Channels: `websock:topic:TOPIC` carries a topic's messages (the sending node's id, `t` or
//! `b`, then the payload), subscribed while this node has subscribers to TOPIC; and
//! `websock:nodes` carries the control lines by which nodes tell each other which topics they
//! want:
//! * `want NODE TOPIC` / `drop NODE TOPIC`: NODE gained its first or lost its last subscriber.
//! * `ack NODE FOR TOPIC`: NODE has recorded FOR's `want`.
//! * `hello NODE`: NODE (re)connected; everyone answers with its `want`s, then
//!   `welcome NODE2 NODE` (NODE2 has told NODE all it wants).
//!
//! A node publishes a topic's message to Redis only while another node wants the topic, so a
//! topic with no remote subscribers costs no Redis traffic. A new subscriber's handshake waits
//! (at most [`READY_WAIT`]) until its node is subscribed to the topic and every other node
//! connected to Redis has acknowledged the `want`: from then on no message published anywhere
//! misses it.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::{Bytes, BytesMut};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::tcp::OwnedWriteHalf;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, Notify};
use tokio::time::Instant;
use websock::broadcast::Hub;
use websock::{DataKind, PreparedMessage, Utf8Bytes};

use crate::resp::{self, Value};

const CONTROL: &str = "websock:nodes";
const TOPIC_PREFIX: &str = "websock:topic:";
/// How long a new subscriber waits for the other nodes' acknowledgements at most.
pub const READY_WAIT: Duration = Duration::from_secs(1);
/// Messages waiting to go to Redis before new ones are dropped (and counted, and logged).
const FORWARD_QUEUE: usize = 16_384;

/// What connection tasks use: forwarding and readiness.
#[derive(Debug)]
pub struct Bridge {
    forward: mpsc::Sender<(Arc<str>, PreparedMessage)>,
    shared: Arc<Shared>,
}

#[derive(Debug, Default)]
struct Shared {
    connected: AtomicBool,
    /// Every other node has answered our `hello`: we know which topics they want.
    synced: AtomicBool,
    /// Topics subscribed on Redis and acknowledged by the other nodes.
    ready: Mutex<HashSet<Arc<str>>>,
    changed: Notify,
    /// Messages not forwarded because the queue was full or Redis down.
    lost: AtomicU64,
}

impl Bridge {
    /// Starts the link to `url` (`redis://HOST:PORT`) for `hub`'s topics.
    pub fn start(url: &str, hub: Hub) -> Result<Bridge, String> {
        let addr = url
            .strip_prefix("redis://")
            .ok_or("--redis takes redis://HOST:PORT")?
            .trim_end_matches('/')
            .to_string();
        let (forward, outgoing) = mpsc::channel(FORWARD_QUEUE);
        let shared = Arc::new(Shared::default());
        let node = node_id();
        println!("node {node}: Redis at {addr}");
        tokio::spawn(run(addr, node, hub, outgoing, shared.clone()));
        Ok(Bridge { forward, shared })
    }

    /// Waits until the first connection to Redis is up and every other node has answered our
    /// `hello`, for at most `wait`: a node starting beside others should know what they want
    /// before its first client sends. Returns whether it got there.
    pub async fn wait_connected(&self, wait: Duration) -> bool {
        let deadline = Instant::now() + wait;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if self.shared.synced.load(Ordering::Acquire) {
                return true;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return false;
            }
        }
    }

    /// Hands a local client's message to the other nodes. Never waits.
    pub fn forward(&self, topic: &Arc<str>, message: &PreparedMessage) {
        if self
            .forward
            .try_send((topic.clone(), message.clone()))
            .is_err()
        {
            let n = self.shared.lost.fetch_add(1, Ordering::Relaxed);
            if n.is_power_of_two() {
                eprintln!(
                    "redis: forward queue full; {} messages not forwarded",
                    n + 1
                );
            }
        }
    }

    /// Waits until a new subscriber of `topic` (subscribed to the hub already) will get every
    /// message published on any node: at once without Redis, at most [`READY_WAIT`] otherwise.
    pub async fn ready(&self, topic: &str) {
        let deadline = Instant::now() + READY_WAIT;
        loop {
            let notified = self.shared.changed.notified();
            tokio::pin!(notified);
            notified.as_mut().enable();
            if !self.shared.connected.load(Ordering::Acquire)
                || self.shared.ready.lock().unwrap().contains(topic)
            {
                return;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return;
            }
        }
    }
}

fn node_id() -> String {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u32(std::process::id());
    format!("{:016x}", h.finish())
}

/// Connects, serves the link until it breaks, and starts again, forever.
async fn run(
    addr: String,
    node: String,
    hub: Hub,
    mut outgoing: mpsc::Receiver<(Arc<str>, PreparedMessage)>,
    shared: Arc<Shared>,
) {
    let mut backoff = Duration::from_millis(100);
    let mut watcher = hub.watch_topics();
    loop {
        match TcpStream::connect(&addr).await {
            Ok(tcp) => {
                let _ = tcp.set_nodelay(true);
                backoff = Duration::from_millis(100);
                let mut link = Link::new(tcp, node.clone(), hub.clone(), shared.clone());
                let why = link.serve(&mut outgoing, &mut watcher).await;
                eprintln!("redis: link lost ({why}); serving local subscribers only");
            }
            Err(e) => eprintln!("redis: cannot connect to {addr} ({e}); retrying"),
        }
        shared.connected.store(false, Ordering::Release);
        shared.synced.store(false, Ordering::Release);
        shared.ready.lock().unwrap().clear();
        shared.changed.notify_waiters();
        // Messages from local clients while Redis is away reach local subscribers only.
        let start = Instant::now() + backoff;
        let mut dropped = 0u64;
        while let Ok(Some(_)) = tokio::time::timeout_at(start, outgoing.recv()).await {
            dropped += 1;
        }
        if dropped > 0 {
            shared.lost.fetch_add(dropped, Ordering::Relaxed);
            eprintln!("redis: {dropped} messages not forwarded while Redis was away");
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// What a reply in the queue of sent commands answers.
#[derive(Debug)]
enum Sent {
    Hello,
    Other,
    /// Our `hello`: the reply counts the nodes that will answer it (and us).
    Announce,
    /// Our `want` for this topic: the reply counts the nodes that will acknowledge it.
    Want(Arc<str>),
}

/// A topic subscribed on Redis, waiting for acknowledgements.
#[derive(Debug)]
struct Waiting {
    /// Acks still expected (`None` until the `want`'s reply says how many).
    missing: Option<usize>,
    early_acks: usize,
    deadline: Instant,
}

struct Link {
    write: OwnedWriteHalf,
    frames: mpsc::Receiver<Result<Value, String>>,
    node: String,
    hub: Hub,
    shared: Arc<Shared>,
    out: Vec<u8>,
    sent: VecDeque<Sent>,
    /// Topics subscribed on Redis.
    subscribed: HashSet<Arc<str>>,
    /// For each topic, the other nodes that want it.
    remote: HashMap<String, HashSet<String>>,
    waiting: HashMap<Arc<str>, Waiting>,
    /// `welcome`s still expected for our `hello` (`None` until its reply), and those early.
    welcomes_missing: Option<usize>,
    early_welcomes: usize,
}

impl Link {
    fn new(tcp: TcpStream, node: String, hub: Hub, shared: Arc<Shared>) -> Link {
        let (read, write) = tcp.into_split();
        let (tx, frames) = mpsc::channel(1024);
        tokio::spawn(read_frames(read, tx));
        Link {
            write,
            frames,
            node,
            hub,
            shared,
            out: Vec::new(),
            sent: VecDeque::new(),
            subscribed: HashSet::new(),
            remote: HashMap::new(),
            waiting: HashMap::new(),
            welcomes_missing: None,
            early_welcomes: 0,
        }
    }

    fn send(&mut self, what: Sent, args: &[&[u8]]) {
        resp::command(&mut self.out, args);
        self.sent.push_back(what);
    }

    /// SUBSCRIBE or UNSUBSCRIBE: answered by a push, so not queued as awaiting a reply.
    fn subscription(&mut self, command: &[u8], channel: &str) {
        resp::command(&mut self.out, &[command, channel.as_bytes()]);
    }

    fn control(&mut self, what: Sent, line: String) {
        self.send(what, &[b"PUBLISH", CONTROL.as_bytes(), line.as_bytes()]);
    }

    /// Serves the link until Redis goes away; returns why.
    async fn serve(
        &mut self,
        outgoing: &mut mpsc::Receiver<(Arc<str>, PreparedMessage)>,
        watcher: &mut websock::broadcast::TopicsWatcher,
    ) -> String {
        self.send(Sent::Hello, &[b"HELLO", b"3"]);
        self.subscription(b"SUBSCRIBE", CONTROL);
        self.control(Sent::Announce, format!("hello {}", self.node));
        self.sync_topics(false);
        loop {
            if !self.out.is_empty() {
                if let Err(e) = self.write.write_all(&self.out).await {
                    return e.to_string();
                }
                self.out.clear();
            }
            let deadline = self.waiting.values().map(|w| w.deadline).min();
            let timer = async {
                match deadline {
                    Some(d) => tokio::time::sleep_until(d).await,
                    None => std::future::pending().await,
                }
            };
            tokio::select! {
                frame = self.frames.recv() => match frame {
                    Some(Ok(v)) => {
                        if let Err(e) = self.on_frame(v) {
                            return e;
                        }
                    }
                    Some(Err(e)) => return e,
                    None => return "connection closed".into(),
                },
                Some((topic, m)) = outgoing.recv() => {
                    self.publish(&topic, &m);
                    // Take what else is queued now, so a burst is one write.
                    while let Ok((topic, m)) = outgoing.try_recv() {
                        self.publish(&topic, &m);
                        if self.out.len() > 256 << 10 {
                            break;
                        }
                    }
                }
                () = watcher.changed() => self.sync_topics(true),
                () = timer => self.expire(),
            }
        }
    }

    /// Publishes a local client's message if another node wants its topic.
    fn publish(&mut self, topic: &str, m: &PreparedMessage) {
        if self.remote.get(topic).is_none_or(HashSet::is_empty) {
            return;
        }
        let mut body = Vec::with_capacity(17 + m.payload().len());
        body.extend_from_slice(self.node.as_bytes());
        body.push(if m.kind() == DataKind::Text {
            b't'
        } else {
            b'b'
        });
        body.extend_from_slice(m.payload());
        let channel = format!("{TOPIC_PREFIX}{topic}");
        self.send(Sent::Other, &[b"PUBLISH", channel.as_bytes(), &body]);
    }

    /// Subscribes to the hub's new topics and unsubscribes from those it no longer has.
    fn sync_topics(&mut self, wait_for_acks: bool) {
        let now: HashSet<Arc<str>> = self.hub.topics().into_iter().collect();
        let gone: Vec<_> = self.subscribed.difference(&now).cloned().collect();
        for topic in gone {
            self.subscription(b"UNSUBSCRIBE", &format!("{TOPIC_PREFIX}{topic}"));
            self.control(Sent::Other, format!("drop {} {topic}", self.node));
            self.subscribed.remove(&topic);
            self.waiting.remove(&topic);
            self.shared.ready.lock().unwrap().remove(&topic);
        }
        let new: Vec<_> = now.difference(&self.subscribed).cloned().collect();
        for topic in new {
            self.subscription(b"SUBSCRIBE", &format!("{TOPIC_PREFIX}{topic}"));
            self.control(
                Sent::Want(topic.clone()),
                format!("want {} {topic}", self.node),
            );
            self.subscribed.insert(topic.clone());
            if wait_for_acks {
                self.waiting.insert(
                    topic,
                    Waiting {
                        missing: None,
                        early_acks: 0,
                        deadline: Instant::now() + READY_WAIT,
                    },
                );
            } else {
                self.shared.ready.lock().unwrap().insert(topic);
            }
        }
        self.shared.changed.notify_waiters();
    }

    fn on_frame(&mut self, v: Value) -> Result<(), String> {
        match v {
            Value::Push(items) => {
                self.on_push(&items);
                Ok(())
            }
            Value::Error(e) => {
                // A command failed: its entry is answered, and it is worth a log line.
                self.sent.pop_front();
                eprintln!("redis: error reply: {e}");
                Ok(())
            }
            reply => match self.sent.pop_front() {
                Some(Sent::Hello) => {
                    self.shared.connected.store(true, Ordering::Release);
                    println!("node {}: connected to Redis", self.node);
                    self.shared.changed.notify_waiters();
                    Ok(())
                }
                Some(Sent::Want(topic)) => {
                    // The count includes this node's own control subscription.
                    let others = match reply {
                        Value::Int(n) => (n.max(1) - 1) as usize,
                        _ => 0,
                    };
                    if let Some(w) = self.waiting.get_mut(&topic) {
                        w.missing = Some(others.saturating_sub(w.early_acks));
                    }
                    self.settle(&topic);
                    Ok(())
                }
                Some(Sent::Announce) => {
                    let others = match reply {
                        Value::Int(n) => (n.max(1) - 1) as usize,
                        _ => 0,
                    };
                    self.welcomes_missing = Some(others.saturating_sub(self.early_welcomes));
                    self.check_synced();
                    Ok(())
                }
                Some(Sent::Other) => Ok(()),
                None => Err(format!("unexpected reply {reply:?}")),
            },
        }
    }

    fn on_push(&mut self, items: &[Value]) {
        let (Some(kind), Some(channel), Some(payload)) = (
            items.first().and_then(Value::as_bytes),
            items.get(1).and_then(Value::as_bytes),
            items.get(2),
        ) else {
            return;
        };
        if kind != b"message" {
            return; // subscribe/unsubscribe confirmations
        }
        let Value::Bulk(payload) = payload else {
            return;
        };
        if channel == CONTROL.as_bytes() {
            if let Ok(line) = std::str::from_utf8(payload) {
                self.on_control(line);
            }
        } else if let Some(topic) = channel.strip_prefix(TOPIC_PREFIX.as_bytes()) {
            self.deliver(topic, payload);
        }
    }

    fn on_control(&mut self, line: &str) {
        let words: Vec<&str> = line.split(' ').collect();
        match words[..] {
            ["hello", node] if node != self.node => {
                for topics in self.remote.values_mut() {
                    topics.remove(node);
                }
                let mine: Vec<_> = self.subscribed.iter().cloned().collect();
                for topic in mine {
                    self.control(Sent::Other, format!("want {} {topic}", self.node));
                }
                self.control(Sent::Other, format!("welcome {} {node}", self.node));
            }
            ["welcome", _, to] if to == self.node => {
                match &mut self.welcomes_missing {
                    Some(n) => *n = n.saturating_sub(1),
                    None => self.early_welcomes += 1,
                }
                self.check_synced();
            }
            ["want", node, topic] if node != self.node => {
                self.remote
                    .entry(topic.to_string())
                    .or_default()
                    .insert(node.to_string());
                self.control(Sent::Other, format!("ack {} {node} {topic}", self.node));
            }
            ["drop", node, topic] => {
                if let Some(nodes) = self.remote.get_mut(topic) {
                    nodes.remove(node);
                }
            }
            ["ack", _, to, topic] if to == self.node => {
                if let Some(w) = self.waiting.get_mut(topic) {
                    match &mut w.missing {
                        Some(n) => *n = n.saturating_sub(1),
                        None => w.early_acks += 1,
                    }
                }
                self.settle(topic);
            }
            _ => {}
        }
    }

    /// A message from another node: to every local subscriber.
    fn deliver(&mut self, topic: &[u8], payload: &Bytes) {
        let (Ok(topic), Some(rest)) = (std::str::from_utf8(topic), payload.get(self.node.len()..))
        else {
            return;
        };
        if &payload[..self.node.len()] == self.node.as_bytes() {
            return; // our own, delivered locally already
        }
        let data = payload.slice(self.node.len() + 1..);
        let message = match rest.first() {
            Some(b't') => match Utf8Bytes::try_from(data) {
                Ok(text) => PreparedMessage::text(text),
                Err(_) => return,
            },
            Some(b'b') => PreparedMessage::binary(data),
            _ => return,
        };
        self.hub.publish(topic, &message);
    }

    fn check_synced(&mut self) {
        if self.welcomes_missing == Some(0) && !self.shared.synced.swap(true, Ordering::AcqRel) {
            self.shared.changed.notify_waiters();
        }
    }

    fn settle(&mut self, topic: &str) {
        if let Some(w) = self.waiting.get(topic) {
            if w.missing == Some(0) {
                self.mark_ready(topic);
            }
        }
    }

    fn expire(&mut self) {
        let now = Instant::now();
        let late: Vec<_> = self
            .waiting
            .iter()
            .filter(|(_, w)| w.deadline <= now)
            .map(|(t, _)| t.clone())
            .collect();
        for topic in late {
            eprintln!("redis: not every node acknowledged topic {topic} in time; going on");
            self.mark_ready(&topic);
        }
    }

    fn mark_ready(&mut self, topic: &str) {
        if let Some((topic, _)) = self.waiting.remove_entry(topic) {
            self.shared.ready.lock().unwrap().insert(topic);
            self.shared.changed.notify_waiters();
        }
    }
}

/// Reads RESP values off the connection into `tx` until it breaks.
async fn read_frames(
    mut read: tokio::net::tcp::OwnedReadHalf,
    tx: mpsc::Sender<Result<Value, String>>,
) {
    let mut buf = BytesMut::with_capacity(16 << 10);
    loop {
        loop {
            match resp::parse(&mut buf) {
                Ok(Some(v)) => {
                    if tx.send(Ok(v)).await.is_err() {
                        return;
                    }
                }
                Ok(None) => break,
                Err(resp::Malformed) => {
                    let _ = tx.send(Err("malformed reply".into())).await;
                    return;
                }
            }
        }
        match read.read_buf(&mut buf).await {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) => {
                let _ = tx.send(Err(e.to_string())).await;
                return;
            }
        }
    }
}
