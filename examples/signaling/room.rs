//! The shared room map: who is in which room, and delivery to them.
//!
//! One `Mutex` over a `HashMap` of rooms. It is only ever held for a few map operations and
//! `try_send`s, never across an `.await`, so a std mutex is the right tool. Every announcement
//! (welcome, join, leave) is queued while the lock is held, which gives every peer the same
//! order of events: a peer never sees a message from someone it was not told about.

use std::collections::{BTreeMap, HashMap};
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use serde::{Serialize, Serializer};
use tokio::sync::mpsc::error::TrySendError;
use tokio::sync::{mpsc, Notify};
use websock::Utf8Bytes;

/// A peer's id, unique for the life of the server: `"p1"`, `"p2"`, ... on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct PeerId(u64);

static NEXT: AtomicU64 = AtomicU64::new(1);

impl PeerId {
    /// A fresh id.
    pub fn next() -> PeerId {
        PeerId(NEXT.fetch_add(1, Ordering::Relaxed))
    }

    /// Makes this process's ids start at `base`: nodes sharing rooms through Redis each take a
    /// random base, so their ids do not collide.
    pub fn start_at(base: u64) {
        NEXT.store(base.max(1), Ordering::Relaxed);
    }

    /// Parses the wire form (`"p7"`).
    pub fn parse(s: &str) -> Option<PeerId> {
        let n = s.strip_prefix('p')?;
        // Digits only: no sign, no leading `+`, nothing `u64::from_str` would also take.
        if n.is_empty() || !n.bytes().all(|b| b.is_ascii_digit()) {
            return None;
        }
        n.parse().ok().map(PeerId)
    }
}

impl fmt::Display for PeerId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "p{}", self.0)
    }
}

impl Serialize for PeerId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// What the server itself says to a peer (relayed messages are the clients' own JSON).
#[derive(Serialize)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum ServerMsg<'a> {
    /// You are in: your id, and the peers already in the room, oldest first.
    Welcome {
        id: PeerId,
        room: &'a str,
        peers: Vec<PeerId>,
    },
    /// Another peer joined the room.
    Join { id: PeerId },
    /// A peer left the room (closed, disconnected, or was closed by the server).
    Leave { id: PeerId },
    /// Your last message was not acted on, and why. The connection stays open.
    Error { error: &'a str },
}

impl ServerMsg<'_> {
    /// The message as a WebSocket text payload.
    pub fn encode(&self) -> Utf8Bytes {
        // Serializing these plain structs cannot fail; fall back to an empty object anyway.
        serde_json::to_string(self)
            .unwrap_or_else(|_| "{}".to_string())
            .into()
    }
}

/// The sending end of one peer's outgoing queue (its writer task holds the other end).
///
/// Relaying never waits for a slow peer: when its queue is full the message is dropped and the
/// peer is flagged as too slow; its own task then closes it (1008) rather than let it miss
/// signaling messages silently.
#[derive(Clone)]
pub struct Outbox {
    tx: mpsc::Sender<Utf8Bytes>,
    overflowed: Arc<Notify>,
}

impl Outbox {
    /// A queue of `capacity` messages; the receiver goes to the peer's writer task.
    pub fn new(capacity: usize) -> (Outbox, mpsc::Receiver<Utf8Bytes>) {
        let (tx, rx) = mpsc::channel(capacity);
        let outbox = Outbox {
            tx,
            overflowed: Arc::new(Notify::new()),
        };
        (outbox, rx)
    }

    /// Queues a message without waiting.
    pub fn push(&self, msg: Utf8Bytes) {
        match self.tx.try_send(msg) {
            // Closed: the peer is on its way out and will leave its room in a moment.
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(_)) => self.overflowed.notify_one(),
        }
    }

    /// Completes once a `push` found the queue full.
    pub async fn overflowed(&self) {
        self.overflowed.notified().await;
    }
}

/// The room is at its size limit.
#[derive(Debug)]
pub struct RoomFull;

/// No peer of that id is in the room.
#[derive(Debug)]
pub struct NoSuchPeer;

/// All rooms. A room exists while it has peers. A member has an outbox when it is connected to
/// this server; the members of other servers sharing the room (through Redis) have none, and
/// messages for them are the other servers' to deliver.
pub struct Rooms {
    max_peers: usize,
    rooms: Mutex<HashMap<String, BTreeMap<PeerId, Option<Outbox>>>>,
}

impl Rooms {
    /// Rooms of at most `max_peers` peers each.
    pub fn new(max_peers: usize) -> Rooms {
        Rooms {
            max_peers,
            rooms: Mutex::default(),
        }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<String, BTreeMap<PeerId, Option<Outbox>>>> {
        // A panic elsewhere while holding the lock leaves the map consistent (every operation
        // is a few inserts and removes), so carry on rather than take the server down.
        self.rooms.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Adds `id` to `room`: queues `welcome` (with the peers already there) to it, if it is
    /// ours, and `join` to the others. A member already there is left as it is.
    pub fn join(&self, room: &str, id: PeerId, outbox: Option<Outbox>) -> Result<(), RoomFull> {
        let mut rooms = self.lock();
        let members = rooms.entry(room.to_string()).or_default();
        if members.contains_key(&id) {
            return Ok(());
        }
        if members.len() >= self.max_peers {
            // Not empty (max_peers > 0), so no empty room is left behind.
            return Err(RoomFull);
        }
        let peers = members.keys().copied().collect();
        if let Some(outbox) = &outbox {
            outbox.push(ServerMsg::Welcome { id, room, peers }.encode());
        }
        let join = ServerMsg::Join { id }.encode();
        for other in members.values().flatten() {
            other.push(join.clone());
        }
        members.insert(id, outbox);
        Ok(())
    }

    /// Whether `id` is a member of `room`.
    pub fn contains(&self, room: &str, id: PeerId) -> bool {
        self.lock().get(room).is_some_and(|m| m.contains_key(&id))
    }

    /// Stops delivering to `id` (it is going), ahead of its leave being applied.
    pub fn detach(&self, room: &str, id: PeerId) {
        if let Some(member) = self.lock().get_mut(room).and_then(|m| m.get_mut(&id)) {
            *member = None;
        }
    }

    /// This server's own connected members, room by room.
    pub fn local_members(&self) -> Vec<(String, PeerId)> {
        let rooms = self.lock();
        let mut out = Vec::new();
        for (room, members) in rooms.iter() {
            for (id, outbox) in members {
                if outbox.is_some() {
                    out.push((room.clone(), *id));
                }
            }
        }
        out
    }

    /// Removes `id` from `room` and tells the others. Does nothing if it is not there.
    pub fn leave(&self, room: &str, id: PeerId) {
        let mut rooms = self.lock();
        let Some(members) = rooms.get_mut(room) else {
            return;
        };
        if members.remove(&id).is_none() {
            return;
        }
        if members.is_empty() {
            rooms.remove(room);
            return;
        }
        let leave = ServerMsg::Leave { id }.encode();
        for other in members.values().flatten() {
            other.push(leave.clone());
        }
    }

    /// Queues `msg` to peer `to` of `room`, or to every peer but `from` when `to` is `None`:
    /// to those of them that are ours. Returns how many peers it was queued to.
    pub fn relay(
        &self,
        room: &str,
        from: PeerId,
        to: Option<PeerId>,
        msg: Utf8Bytes,
    ) -> Result<usize, NoSuchPeer> {
        let rooms = self.lock();
        let Some(members) = rooms.get(room) else {
            return Err(NoSuchPeer);
        };
        match to {
            Some(to) if to == from => Err(NoSuchPeer),
            Some(to) => match members.get(&to).ok_or(NoSuchPeer)? {
                Some(outbox) => {
                    outbox.push(msg);
                    Ok(1)
                }
                None => Ok(0),
            },
            None => {
                let mut n = 0;
                for (_, other) in members.iter().filter(|(id, _)| **id != from) {
                    if let Some(other) = other {
                        other.push(msg.clone());
                        n += 1;
                    }
                }
                Ok(n)
            }
        }
    }

    /// Number of rooms and of peers in them.
    pub fn counts(&self) -> (usize, usize) {
        let rooms = self.lock();
        (rooms.len(), rooms.values().map(BTreeMap::len).sum())
    }
}
