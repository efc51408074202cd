//! Rooms shared by several signaling servers through Redis pub/sub (`--redis`).
//!
//! Owns the Redis link and the order of room events; the room map itself stays `room.rs`'s.
//! Without `--redis` every operation goes straight to the local rooms. With it, every join,
//! leave and relay is published on one channel, `websock:signaling`, and every server (the
//! one that published it too) applies the events in the order Redis delivers them, so all of
//! them see the same joins and leaves in the same order, as one server's lock would give: a
//! newcomer's `welcome` lists who joined before it everywhere, and everyone else gets its
//! `join`. Each server delivers to its own peers only.
//!
//! A server that starts (or reconnects to Redis) publishes `sync`; the others answer with the
//! peers they host (`present`), and it takes joins only once they all have (or after 1 s).
//! Events: `{"op":"join"|"leave","node","room","id"}`, `{"op":"relay","node","room","from",
//! "to","msg"}`, `{"op":"sync","node"}`, `{"op":"present","node","for","members"}`.
//!
//! Limits: the peers of a server that dies without their leaves stay listed in their rooms on
//! the others (there are no heartbeats). While Redis is away, joins are refused with 1013 and
//! room events are dropped (counted in the log).

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::BytesMut;
use serde_json::{json, Value};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, Notify};
use websock::Utf8Bytes;

use crate::resp::{self, Value as Resp};
use crate::room::{NoSuchPeer, Outbox, PeerId, RoomFull, Rooms};

const CHANNEL: &str = "websock:signaling";
/// How long a join waits for its event to come back from Redis.
const JOIN_WAIT: Duration = Duration::from_secs(3);

/// Why a peer could not join.
#[derive(Debug)]
pub enum JoinError {
    Full,
    /// Redis is away (or too slow): try again later.
    Unavailable,
}

/// Where room operations go.
pub struct Membership {
    rooms: Arc<Rooms>,
    cluster: Option<Arc<Cluster>>,
}

struct Cluster {
    node: String,
    rooms: Arc<Rooms>,
    outgoing: mpsc::UnboundedSender<String>,
    /// Our peers' outboxes from their join until their leave.
    outboxes: Mutex<HashMap<PeerId, Outbox>>,
    /// Joins published and not yet applied.
    pending: Mutex<HashMap<PeerId, oneshot::Sender<Result<(), RoomFull>>>>,
    /// Connected to Redis and synced with the other servers.
    ready: AtomicBool,
    ready_changed: Notify,
    dropped: AtomicU64,
}

impl Membership {
    /// This server's rooms alone.
    pub fn local(rooms: Arc<Rooms>) -> Membership {
        Membership {
            rooms,
            cluster: None,
        }
    }

    /// Rooms shared through the Redis at `url` (`redis://HOST:PORT`).
    pub fn redis(rooms: Arc<Rooms>, url: &str) -> Result<Membership, String> {
        let addr = url
            .strip_prefix("redis://")
            .ok_or("--redis takes redis://HOST:PORT")?
            .trim_end_matches('/')
            .to_string();
        let seed = {
            use std::hash::{BuildHasher, Hasher};
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u32(std::process::id());
            h.finish()
        };
        // Ids from a random base per server, so servers sharing rooms do not collide.
        PeerId::start_at((seed % 900_000 + 100_000) * 1_000_000);
        let (outgoing, rx) = mpsc::unbounded_channel();
        let cluster = Arc::new(Cluster {
            node: format!("{seed:016x}"),
            rooms: rooms.clone(),
            outgoing,
            outboxes: Mutex::default(),
            pending: Mutex::default(),
            ready: AtomicBool::new(false),
            ready_changed: Notify::new(),
            dropped: AtomicU64::new(0),
        });
        eprintln!(
            "node {}: rooms shared through Redis at {addr}",
            cluster.node
        );
        tokio::spawn(link(addr, cluster.clone(), rx));
        Ok(Membership {
            rooms,
            cluster: Some(cluster),
        })
    }

    pub async fn join(&self, room: &str, id: PeerId, outbox: Outbox) -> Result<(), JoinError> {
        let Some(c) = &self.cluster else {
            return self
                .rooms
                .join(room, id, Some(outbox))
                .map_err(|_| JoinError::Full);
        };
        if !c.wait_ready().await {
            return Err(JoinError::Unavailable);
        }
        let (tx, rx) = oneshot::channel();
        c.outboxes.lock().unwrap().insert(id, outbox);
        c.pending.lock().unwrap().insert(id, tx);
        c.publish(json!({"op": "join", "node": c.node, "room": room, "id": id.to_string()}));
        let result = match tokio::time::timeout(JOIN_WAIT, rx).await {
            Ok(Ok(Ok(()))) => Ok(()),
            Ok(Ok(Err(RoomFull))) => Err(JoinError::Full),
            _ => Err(JoinError::Unavailable),
        };
        if result.is_err() {
            c.pending.lock().unwrap().remove(&id);
            c.outboxes.lock().unwrap().remove(&id);
            // It may still be applied later: take it back everywhere.
            c.publish(json!({"op": "leave", "node": c.node, "room": room, "id": id.to_string()}));
        }
        result
    }

    pub fn leave(&self, room: &str, id: PeerId) {
        let Some(c) = &self.cluster else {
            return self.rooms.leave(room, id);
        };
        c.outboxes.lock().unwrap().remove(&id);
        self.rooms.detach(room, id);
        c.publish(json!({"op": "leave", "node": c.node, "room": room, "id": id.to_string()}));
    }

    pub fn relay(
        &self,
        room: &str,
        from: PeerId,
        to: Option<PeerId>,
        msg: Utf8Bytes,
    ) -> Result<usize, NoSuchPeer> {
        let Some(c) = &self.cluster else {
            return self.rooms.relay(room, from, to, msg);
        };
        // The same checks as one server's, on the shared membership.
        if !self.rooms.contains(room, from)
            || to.is_some_and(|to| to == from || !self.rooms.contains(room, to))
        {
            return Err(NoSuchPeer);
        }
        c.publish(json!({
            "op": "relay", "node": c.node, "room": room, "from": from.to_string(),
            "to": to.map(|t| t.to_string()), "msg": msg.as_str(),
        }));
        Ok(1)
    }

    pub fn counts(&self) -> (usize, usize) {
        self.rooms.counts()
    }
}

impl Cluster {
    fn publish(&self, event: Value) {
        if self.outgoing.send(event.to_string()).is_err() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Waits (up to [`JOIN_WAIT`]) until connected to Redis and synced.
    async fn wait_ready(&self) -> bool {
        let deadline = tokio::time::Instant::now() + JOIN_WAIT;
        loop {
            let changed = self.ready_changed.notified();
            tokio::pin!(changed);
            changed.as_mut().enable();
            if self.ready.load(Ordering::Acquire) {
                return true;
            }
            if tokio::time::timeout_at(deadline, changed).await.is_err() {
                return false;
            }
        }
    }

    fn set_ready(&self, ready: bool) {
        self.ready.store(ready, Ordering::Release);
        self.ready_changed.notify_waiters();
    }

    /// Applies one event from Redis; returns an event to publish in answer, if any.
    fn apply(&self, event: &Value) -> Option<Value> {
        let op = event["op"].as_str()?;
        let node = event["node"].as_str()?;
        let room = event["room"].as_str();
        let id = |key: &str| event[key].as_str().and_then(PeerId::parse);
        match op {
            "join" => {
                let (room, id) = (room?, id("id")?);
                let outbox = if node == self.node {
                    self.outboxes.lock().unwrap().get(&id).cloned()
                } else {
                    None
                };
                // Ours but no longer waited for (it timed out): its leave follows.
                if node == self.node && outbox.is_none() {
                    return None;
                }
                let result = self.rooms.join(room, id, outbox);
                if node == self.node {
                    if let Some(tx) = self.pending.lock().unwrap().remove(&id) {
                        let _ = tx.send(result);
                    }
                }
            }
            "leave" => self.rooms.leave(room?, id("id")?),
            "relay" => {
                let msg = Utf8Bytes::from(event["msg"].as_str()?);
                let _ = self.rooms.relay(room?, id("from")?, id("to"), msg);
            }
            "sync" if node != self.node => {
                let members: Vec<Value> = self
                    .rooms
                    .local_members()
                    .into_iter()
                    .map(|(room, id)| json!([room, id.to_string()]))
                    .collect();
                return Some(
                    json!({"op": "present", "node": self.node, "for": node, "members": members}),
                );
            }
            "present" if event["for"].as_str() == Some(&self.node) => {
                for m in event["members"].as_array()? {
                    if let (Some(room), Some(id)) =
                        (m[0].as_str(), m[1].as_str().and_then(PeerId::parse))
                    {
                        let _ = self.rooms.join(room, id, None);
                    }
                }
            }
            _ => {}
        }
        None
    }
}

/// The Redis link: connects, syncs, publishes what the server sends, applies what comes back,
/// and starts again when Redis goes away.
async fn link(addr: String, c: Arc<Cluster>, mut outgoing: mpsc::UnboundedReceiver<String>) {
    let mut backoff = Duration::from_millis(100);
    loop {
        match TcpStream::connect(&addr).await {
            Ok(tcp) => {
                backoff = Duration::from_millis(100);
                let why = serve(tcp, &c, &mut outgoing).await;
                eprintln!("node {}: Redis link lost ({why})", c.node);
            }
            Err(e) => eprintln!("node {}: cannot connect to Redis at {addr} ({e})", c.node),
        }
        c.set_ready(false);
        let until = tokio::time::Instant::now() + backoff;
        let mut dropped = 0;
        while let Ok(Some(_)) = tokio::time::timeout_at(until, outgoing.recv()).await {
            dropped += 1;
        }
        if dropped > 0 {
            eprintln!(
                "node {}: {dropped} room events dropped while Redis was away",
                c.node
            );
        }
        backoff = (backoff * 2).min(Duration::from_secs(2));
    }
}

/// What a reply answers.
enum Sent {
    Other,
    /// Our `sync`: the reply counts the servers listening, us included.
    Sync,
}

async fn serve(
    tcp: TcpStream,
    c: &Cluster,
    outgoing: &mut mpsc::UnboundedReceiver<String>,
) -> String {
    let _ = tcp.set_nodelay(true);
    let (mut read, mut write) = tcp.into_split();
    let mut out = Vec::new();
    let mut sent = std::collections::VecDeque::new();
    resp::command(&mut out, &[b"HELLO", b"3"]);
    sent.push_back(Sent::Other);
    resp::command(&mut out, &[b"SUBSCRIBE", CHANNEL.as_bytes()]);
    let sync = json!({"op": "sync", "node": c.node}).to_string();
    resp::command(&mut out, &[b"PUBLISH", CHANNEL.as_bytes(), sync.as_bytes()]);
    sent.push_back(Sent::Sync);
    let mut presents_missing: Option<usize> = None;
    let mut early_presents = 0usize;
    let sync_deadline = tokio::time::Instant::now() + Duration::from_secs(1);
    let mut buf = BytesMut::with_capacity(16 << 10);
    loop {
        if !out.is_empty() {
            if let Err(e) = write.write_all(&out).await {
                return e.to_string();
            }
            out.clear();
        }
        let syncing = !c.ready.load(Ordering::Acquire);
        tokio::select! {
            n = read.read_buf(&mut buf) => match n {
                Ok(0) => return "connection closed".into(),
                Err(e) => return e.to_string(),
                Ok(_) => loop {
                    let v = match resp::parse(&mut buf) {
                        Ok(Some(v)) => v,
                        Ok(None) => break,
                        Err(_) => return "malformed reply".into(),
                    };
                    match v {
                        Resp::Push(items) => {
                            let is_message = items.first().and_then(Resp::as_bytes) == Some(b"message");
                            let Some(Resp::Bulk(payload)) = items.get(2).filter(|_| is_message) else { continue };
                            let Ok(event) = serde_json::from_slice::<Value>(payload) else { continue };
                            if event["op"] == "present" && event["for"] == c.node.as_str() {
                                match &mut presents_missing {
                                    Some(n) => *n = n.saturating_sub(1),
                                    None => early_presents += 1,
                                }
                            }
                            if let Some(answer) = c.apply(&event) {
                                resp::command(&mut out, &[b"PUBLISH", CHANNEL.as_bytes(), answer.to_string().as_bytes()]);
                                sent.push_back(Sent::Other);
                            }
                        }
                        reply => {
                            if let Some(Sent::Sync) = sent.pop_front() {
                                let others = match reply { Resp::Int(n) => (n.max(1) - 1) as usize, _ => 0 };
                                presents_missing = Some(others.saturating_sub(early_presents));
                            }
                        }
                    }
                    if syncing && presents_missing == Some(0) {
                        eprintln!("node {}: connected to Redis and synced", c.node);
                        c.set_ready(true);
                    }
                },
            },
            event = outgoing.recv() => {
                let Some(event) = event else { return "server shutting down".into() };
                resp::command(&mut out, &[b"PUBLISH", CHANNEL.as_bytes(), event.as_bytes()]);
                sent.push_back(Sent::Other);
            }
            () = tokio::time::sleep_until(sync_deadline), if syncing => {
                eprintln!("node {}: not every server answered the sync in time; going on", c.node);
                c.set_ready(true);
            }
        }
    }
}
