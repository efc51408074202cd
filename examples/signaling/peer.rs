//! One peer's life: join, read and relay, leave, close.
//!
//! The connection is split: this task reads (and decides everything), a writer task owns the
//! sink and drains the peer's bounded outgoing queue. The reader never writes to the socket
//! itself; when it wants the connection closed it hands the close frame to the writer over a
//! oneshot channel, which the writer takes ahead of anything still queued.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{Map, Value};
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot};
use websock::tokio::{Reader as WsReader, Writer as WsWriter};
use websock::{CloseCode, CloseFrame, Message, Utf8Bytes};

use crate::cluster::{JoinError, Membership};
use crate::room::{Outbox, PeerId, ServerMsg};
use crate::Limits;

/// Why the read loop ended, and so how the connection ends.
enum End {
    /// Close with this frame (we start the close handshake).
    Close(CloseFrame),
    /// The peer closed, or the connection failed (websock has already sent the close frame
    /// the failure calls for, such as 1009 for a message over the size limit, or 1007 for
    /// invalid UTF-8).
    Ended(String),
}

impl End {
    fn close(code: CloseCode, reason: &'static str) -> End {
        End::Close(CloseFrame::new(code, reason))
    }
}

/// Messages per second with a burst allowance: the classic token bucket.
struct TokenBucket {
    tokens: f64,
    rate: f64,
    burst: f64,
    last: Instant,
}

impl TokenBucket {
    fn new(rate: f64, burst: f64) -> TokenBucket {
        TokenBucket {
            tokens: burst,
            rate,
            burst,
            last: Instant::now(),
        }
    }

    /// Takes one token if there is one.
    fn take(&mut self) -> bool {
        let now = Instant::now();
        let refill = now.duration_since(self.last).as_secs_f64() * self.rate;
        self.tokens = (self.tokens + refill).min(self.burst);
        self.last = now;
        if self.tokens >= 1.0 {
            self.tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

/// Runs an accepted connection of `room` to its end.
pub async fn run(
    ws: websock::tokio::WebSocketStream<TcpStream>,
    addr: SocketAddr,
    room: String,
    rooms: Arc<Membership>,
    limits: Limits,
) {
    let id = PeerId::next();
    let started = Instant::now();
    let (mut stream, sink) = ws.split();
    let (outbox, queue) = Outbox::new(limits.queue);
    let (close_tx, close_rx) = oneshot::channel();
    let mut writer = tokio::spawn(write_loop(sink, queue, close_rx));

    let mut relayed = 0u64;
    let end = match rooms.join(&room, id, outbox.clone()).await {
        Err(JoinError::Full) => {
            eprintln!("{id} {addr} refused: room {room:?} is full");
            End::close(CloseCode::POLICY_VIOLATION, "room is full")
        }
        Err(JoinError::Unavailable) => {
            eprintln!("{id} {addr} refused: the shared rooms are unavailable (Redis)");
            End::close(
                CloseCode::TRY_AGAIN_LATER,
                "rooms unavailable, try again later",
            )
        }
        Ok(()) => {
            eprintln!("{id} {addr} joined room {room:?}");
            let mut reader = Reader {
                id,
                room: &room,
                rooms: &rooms,
                outbox: &outbox,
                bucket: TokenBucket::new(limits.rate, limits.burst),
                relayed: &mut relayed,
            };
            reader.read_loop(&mut stream).await
        }
    };
    // Leave first, so the others hear about it at once, whatever the close handshake takes.
    rooms.leave(&room, id);

    let how = match end {
        End::Close(frame) => {
            let how = format!("closed by the server: {} {}", frame.code, frame.reason);
            let _ = close_tx.send(frame);
            how
        }
        End::Ended(why) => {
            drop(close_tx);
            why
        }
    };
    // See the close handshake through (the stream half reads the peer's reply), within bounds:
    // a peer that stopped reading must not keep the task alive.
    let _ = tokio::time::timeout(limits.close_wait, async {
        while let Some(Ok(_)) = stream.recv().await {}
    })
    .await;
    if tokio::time::timeout(Duration::from_secs(1), &mut writer)
        .await
        .is_err()
    {
        writer.abort();
    }
    let (room_count, peer_count) = rooms.counts();
    eprintln!(
        "{id} {addr} done with room {room:?} after {:.1?}, {relayed} messages relayed; {how} \
         (now {peer_count} peers in {room_count} rooms)",
        started.elapsed()
    );
}

/// The reader's state for one peer.
struct Reader<'a> {
    id: PeerId,
    room: &'a str,
    rooms: &'a Membership,
    outbox: &'a Outbox,
    bucket: TokenBucket,
    relayed: &'a mut u64,
}

impl Reader<'_> {
    async fn read_loop(&mut self, stream: &mut WsReader<TcpStream>) -> End {
        loop {
            let msg = tokio::select! {
                msg = stream.recv() => msg,
                () = self.outbox.overflowed() => {
                    return End::close(CloseCode::POLICY_VIOLATION, "too slow: outgoing queue full");
                }
            };
            let msg = match msg {
                None => return End::Ended("connection ended".to_string()),
                Some(Err(e)) => return End::Ended(e.to_string()),
                Some(Ok(msg)) => msg,
            };
            if matches!(
                msg,
                Message::Text(_) | Message::Binary(_) | Message::Ping(_)
            ) && !self.bucket.take()
            {
                return End::close(CloseCode::POLICY_VIOLATION, "rate limit exceeded");
            }
            match msg {
                Message::Text(text) => {
                    if let Some(end) = self.on_text(&text) {
                        return end;
                    }
                }
                Message::Binary(_) => {
                    return End::close(
                        CloseCode::UNSUPPORTED_DATA,
                        "binary messages not supported",
                    );
                }
                Message::Close(frame) => {
                    let code = frame.map_or(CloseCode::NO_STATUS, |f| f.code);
                    return End::Ended(format!("closed by the peer ({code})"));
                }
                Message::Ping(_) | Message::Pong(_) => {}
            }
        }
    }

    /// Handles one JSON message; `Some` ends the connection.
    fn on_text(&mut self, text: &str) -> Option<End> {
        let mut obj = match serde_json::from_str::<Value>(text) {
            Ok(Value::Object(obj)) => obj,
            Ok(_) => return self.error("expected a JSON object"),
            Err(_) => return self.error("invalid JSON"),
        };
        let kind = match obj.get("type") {
            Some(Value::String(kind)) => kind.as_str(),
            _ => return self.error("missing \"type\""),
        };
        match kind {
            "offer" | "answer" | "candidate" => {}
            "leave" => return Some(End::close(CloseCode::NORMAL, "left the room")),
            _ => return self.error("unknown \"type\""),
        }
        let to = match obj.get("to") {
            None | Some(Value::Null) => None,
            Some(Value::String(s)) => match PeerId::parse(s) {
                Some(to) => Some(to),
                None => return self.error("\"to\" is not a peer id"),
            },
            Some(_) => return self.error("\"to\" is not a peer id"),
        };
        // Who sent it is the server's word, never the client's.
        obj.insert("from".to_string(), Value::String(self.id.to_string()));
        let out = encode(&obj);
        match self.rooms.relay(self.room, self.id, to, out) {
            Ok(n) => *self.relayed += n as u64,
            Err(_) => return self.error("no such peer in this room"),
        }
        None
    }

    /// Tells the peer what was wrong with its last message; the connection stays open.
    fn error(&self, error: &str) -> Option<End> {
        self.outbox.push(ServerMsg::Error { error }.encode());
        None
    }
}

fn encode(obj: &Map<String, Value>) -> Utf8Bytes {
    // A map of JSON values that was just parsed always serializes.
    serde_json::to_string(obj)
        .unwrap_or_else(|_| "{}".to_string())
        .into()
}

/// Sends what is queued for the peer until the queue ends or a close frame comes.
async fn write_loop(
    mut sink: WsWriter<TcpStream>,
    mut queue: mpsc::Receiver<Utf8Bytes>,
    mut close: oneshot::Receiver<CloseFrame>,
) {
    loop {
        tokio::select! {
            biased;
            frame = &mut close => {
                // Err: the reader is done without asking for a close (the peer closed first).
                if let Ok(frame) = frame {
                    let _ = sink.close(Some(frame)).await;
                }
                return;
            }
            msg = queue.recv() => match msg {
                Some(text) => {
                    if sink.send(Message::Text(text)).await.is_err() {
                        return;
                    }
                }
                None => return,
            },
        }
    }
}
