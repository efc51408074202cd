//! A publish/subscribe server on websock: every message a client sends to a topic reaches every
//! other client of that topic, on this node and, through Redis, on every node sharing it.
//!
//! ```text
//! cargo run --release --example pubsub -- [--addr 127.0.0.1:9020] [--redis redis://127.0.0.1:6379]
//! ```
//!
//! Connect to `ws://HOST:PORT/TOPIC` (TOPIC: 1 to 64 of `A-Z a-z 0-9 . _ -`). Every text or
//! binary message a client sends is delivered, in order, to every other client connected to
//! the same TOPIC; the sender gets no copy, and a client that joins later gets only later
//! messages. Any other path, and a plain HTTP request, is refused with an HTTP error (404 for
//! a bad topic name, 426 without an upgrade).
//!
//! With `--redis`, nodes sharing one Redis form one server: each node subscribes to a topic's
//! Redis channel while it has subscribers to that topic, and forwards its clients' messages
//! there only while another node wants them (`bridge.rs` has the protocol). A node starts
//! listening once it is connected to Redis and knows what the other nodes want (or after
//! 2 s without Redis, serving local subscribers until it comes). A node that loses
//! Redis keeps serving its local subscribers, logs it, retries every 2 s at most, and
//! resubscribes when Redis is back; messages sent meanwhile reach local subscribers only.
//!
//! # Limits
//!
//! A message is at most 64 KiB (websock closes with 1009 past that). A client may send 1,000
//! messages per second with bursts of 1,000; past that the server stops reading from it until
//! its budget refills, so a fast sender is slowed, never cut off and never loses a message.
//! Each subscriber has a queue of 4,096 messages or 8 MiB; one that falls that far behind
//! because it does not read is closed with 1013 "too slow" (the others are not delayed). Pings every
//! 20 s; a peer silent for 40 s after one is dropped (the library's defaults).
//!
//! # Structure
//!
//! One tokio task per client: it subscribes to the topic in the hub (`websock::broadcast`),
//! and in one `select!` publishes what the client sends and sends the client what the hub
//! queued for it. Every message is a [`PreparedMessage`], encoded once for all subscribers.
//! `bridge.rs` links the hub to Redis; `resp.rs` is the little of RESP3 it needs.

mod bridge;
mod resp;

#[path = "../common/memory.rs"]
mod memory;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use websock::broadcast::{Delivery, Hub, HubConfig, Overflow, Subscription};
use websock::proto::handshake::server::{Accept, Request};
use websock::proto::handshake::Response;
use websock::tokio::WebSocketStream;
use websock::{CloseFrame, Config, Connection, Event, PreparedMessage};

use crate::bridge::Bridge;

/// Largest message, in bytes.
const MAX_MESSAGE: usize = 64 << 10;
/// Sustained messages per second from one client, and the burst it may send at once.
const RATE: f64 = 1000.0;
const BURST: f64 = 1000.0;
/// Messages, and payload bytes, queued per subscriber before it is closed as too slow.
const QUEUE: usize = 4096;
const QUEUE_BYTES: usize = 8 << 20;

struct Node {
    hub: Hub,
    bridge: Option<Bridge>,
}

fn config() -> Config {
    Config::default()
        .max_message_size(MAX_MESSAGE)
        .max_frame_size(MAX_MESSAGE)
}

/// The topic named by a request's path, if it is a good name.
fn topic(path: &str) -> Option<&str> {
    let name = path.strip_prefix('/')?;
    let ok = (1..=64).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(name)
}

fn route(req: &Request) -> Result<Arc<str>, Response> {
    let Some(name) = topic(req.path()) else {
        return Err(Response::reject(
            404,
            "topics are /TOPIC, TOPIC 1 to 64 of A-Z a-z 0-9 . _ -\n",
        ));
    };
    if !req.is_upgrade() {
        return Err(Response::reject(426, "this is a WebSocket endpoint\n")
            .with_header("Upgrade", "websocket")
            .with_header("Connection", "Upgrade"));
    }
    Ok(Arc::from(name))
}

/// A token bucket that slows its client down instead of cutting it off.
struct Pace {
    tokens: f64,
    at: Instant,
}

impl Pace {
    async fn take(&mut self) {
        let now = Instant::now();
        self.tokens = (self.tokens + now.duration_since(self.at).as_secs_f64() * RATE).min(BURST);
        self.at = now;
        if self.tokens < 1.0 {
            let wait = Duration::from_secs_f64((1.0 - self.tokens) / RATE);
            tokio::time::sleep(wait).await;
            self.tokens = 1.0;
            self.at = Instant::now();
        }
        self.tokens -= 1.0;
    }
}

async fn serve(tcp: tokio::net::TcpStream, peer: SocketAddr, node: Arc<Node>) {
    let _ = tcp.set_nodelay(true);
    let mut ws =
        WebSocketStream::from_connection(tcp, Connection::server(config(), Instant::now()));
    let topic = match ws.recv_event().await {
        Some(Ok(Event::Request(req))) => route(&req),
        Some(Ok(_)) | None => return,
        Some(Err(e)) => return eprintln!("{peer}: bad request: {e}"),
    };
    let topic = match topic {
        Ok(topic) => topic,
        Err(refusal) => {
            let status = refusal.status;
            if ws.connection_mut().decide(Err(refusal)).is_ok() {
                let _ = ws.flush().await;
            }
            return eprintln!("{peer}: refused with {status}");
        }
    };
    // Subscribed before the handshake ends, so nothing published after it is missed.
    let sub = node.hub.subscribe(&topic);
    if let Some(bridge) = &node.bridge {
        bridge.ready(&topic).await;
    }
    if ws.connection_mut().decide(Ok(Accept::new())).is_err() {
        return;
    }
    loop {
        match ws.recv_event().await {
            Some(Ok(Event::Open)) => break,
            Some(Ok(_)) => {}
            Some(Err(e)) => return eprintln!("{peer}: handshake failed: {e}"),
            None => return,
        }
    }
    let mut pace = Pace {
        tokens: BURST,
        at: Instant::now(),
    };
    let (mut received, mut sent) = (0u64, 0u64);
    let end = loop {
        tokio::select! {
            incoming = ws.recv() => match incoming {
                Some(Ok(m)) => {
                    if let Some(message) = PreparedMessage::from_message(m) {
                        received += 1;
                        node.hub.publish_except(&topic, &message, sub.id());
                        if let Some(bridge) = &node.bridge {
                            bridge.forward(&topic, &message);
                        }
                        pace.take().await;
                    }
                }
                Some(Err(e)) => break e.to_string(),
                None => break "closed".to_string(),
            },
            delivery = sub.recv() => match deliver(&mut ws, &sub, delivery).await {
                Ok((n, None)) => sent += n,
                Ok((n, Some(frame))) => {
                    sent += n;
                    drop(sub);
                    let _ = ws.close(Some(frame)).await;
                    // See the close handshake through, briefly.
                    let _ = tokio::time::timeout(Duration::from_secs(5), async {
                        while ws.recv().await.is_some() {}
                    })
                    .await;
                    break "too slow".to_string();
                }
                Err(e) => break e.to_string(),
            },
        }
    };
    eprintln!("{peer}: /{topic}: {end} (received {received}, sent {sent})");
}

/// Sends `first` and everything else queued for the subscriber in one write. Returns how many
/// messages went, and the close frame if the hub closed the subscription.
async fn deliver(
    ws: &mut WebSocketStream<tokio::net::TcpStream>,
    sub: &Subscription,
    first: Delivery,
) -> Result<(u64, Option<CloseFrame>), websock::Error> {
    let (mut sent, mut next) = (0, Some(first));
    while let Some(Delivery::Message(m)) = next {
        ws.write_prepared(&m).await?;
        sent += 1;
        next = sub.try_recv();
    }
    ws.flush().await?;
    Ok(match next {
        Some(Delivery::Closed(frame)) => (sent, Some(frame)),
        _ => (sent, None),
    })
}

fn main() -> std::io::Result<()> {
    memory::release_memory_promptly();
    let usage =
        "usage: pubsub [--addr HOST:PORT] [--redis redis://HOST:PORT]   (default 127.0.0.1:9020)";
    let mut addr = "127.0.0.1:9020".to_string();
    let mut redis = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match (arg.as_str(), args.next()) {
            ("--addr", Some(value)) => addr = value,
            ("--redis", Some(value)) => redis = Some(value),
            ("-h" | "--help", _) => {
                println!("{usage}");
                return Ok(());
            }
            _ => {
                eprintln!("bad arguments; {usage}");
                std::process::exit(2);
            }
        }
    }
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    rt.block_on(async {
        let hub = Hub::new(HubConfig {
            queue: QUEUE,
            queue_bytes: QUEUE_BYTES,
            overflow: Overflow::close_too_slow(),
        });
        let bridge = match redis
            .map(|url| Bridge::start(&url, hub.clone()))
            .transpose()
        {
            Ok(bridge) => bridge,
            Err(e) => {
                eprintln!("{e}");
                std::process::exit(2);
            }
        };
        if let Some(bridge) = &bridge {
            if !bridge.wait_connected(Duration::from_secs(2)).await {
                eprintln!("redis: not connected yet; serving local subscribers until it is");
            }
        }
        let node = Arc::new(Node { hub, bridge });
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on ws://{}/TOPIC", listener.local_addr()?);
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve(tcp, peer, node.clone()));
                }
                Err(e) => {
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}
