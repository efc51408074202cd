//! A WebRTC signaling server on websock: browsers meet in rooms and pass each other the offers,
//! answers and ICE candidates that set up a direct peer-to-peer connection.
//!
//! ```text
//! cargo run --release --example signaling -- [--addr 127.0.0.1:9010] [--redis redis://HOST:PORT]
//! ```
//!
//! Then open `http://127.0.0.1:9010/?room=demo` in two browser tabs: the page joins the room,
//! the second tab to arrive makes an offer to the first, and once the RTCDataChannel between
//! them is open whatever you type in one tab shows up in the other. The page needs no STUN or
//! TURN server for tabs on the same machine. `tests/signaling/run.sh` does the same with two
//! headless Chromium pages.
//!
//! # Protocol
//!
//! Connect to `ws://HOST:PORT/ws?room=NAME` (NAME: 1 to 64 of `A-Z a-z 0-9 . _ -`). Every
//! message is a JSON object in a text message, with a `"type"`.
//!
//! From the server:
//! * `{"type":"welcome","id":"p3","room":"demo","peers":["p1","p2"]}`: first, with your id and
//!   the peers already in the room (oldest first).
//! * `{"type":"join","id":"p4"}` and `{"type":"leave","id":"p4"}`: another peer came or went.
//!   A peer whose connection drops is announced as gone at once.
//! * `{"type":"error","error":"..."}`: your last message was ignored, and why.
//! * The other peers' `offer`, `answer` and `candidate` messages, as they sent them plus
//!   `"from":"pN"` (set by the server; a client cannot claim to be someone else).
//!
//! From a client:
//! * `{"type":"offer"|"answer"|"candidate", "to":"pN", ...}`: relayed to peer `pN` of the room,
//!   or to every other peer of the room without `"to"`. The rest of the object (`sdp`,
//!   `candidate`, ...) is the clients' business; the server does not look inside.
//! * `{"type":"leave"}`: leave the room; the server closes with 1000.
//!
//! # Limits
//!
//! A room holds at most 8 peers (a ninth is closed with 1008 "room is full"); a message is at
//! most 64 KiB (websock closes with 1009 past that); a peer may send 50 messages per second
//! with bursts of 100 (a token bucket; past it, 1008 "rate limit exceeded"). A binary message
//! is closed with 1003, invalid UTF-8 with 1007 (by websock); JSON that is malformed, of an
//! unknown type or addressed to a peer not in the room gets an `error` message. A peer whose
//! outgoing queue (256 messages) is full because it does not read is closed with 1008. Pings
//! every 20 s keep connections alive; one silent for 60 s is dropped. Browsers must connect
//! from a page of this server (the `Origin` must match `Host`).
//!
//! # Several servers
//!
//! With `--redis`, servers sharing one Redis share their rooms: two browsers that land on
//! different servers of one room still find each other. Every join, leave and relay goes
//! through one Redis pub/sub channel and every server applies them in the order Redis delivers
//! them, so all agree on who is in a room (`cluster.rs` has the protocol). Peer ids then start
//! at a random base per server. While Redis is away, joins are refused with 1013.
//!
//! # Structure
//!
//! The tokio adapter, one task per peer: `peer.rs` splits each connection into a reader (this
//! task) and a writer task that drains a bounded `tokio::sync::mpsc` queue; `room.rs` is the
//! shared room map behind a `Mutex`. Plain HTTP `GET /` serves `page.html`, through the
//! handshake callback of `websock::tokio::accept_with`.

mod cluster;
mod peer;
#[path = "../pubsub/resp.rs"]
mod resp;
mod room;

#[path = "../common/memory.rs"]
mod memory;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use websock::proto::handshake::server::{Accept, Request};
use websock::proto::handshake::Response;
use websock::{Config, Outcome};

use crate::cluster::Membership;
use crate::room::Rooms;

const PAGE: &str = include_str!("page.html");

/// The server's limits, in one place.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Peers per room.
    pub room_size: usize,
    /// Largest message, in bytes.
    pub max_message: usize,
    /// Sustained messages per second from one peer.
    pub rate: f64,
    /// Messages one peer may send in a burst.
    pub burst: f64,
    /// Messages queued for one peer before it counts as too slow.
    pub queue: usize,
    /// How long a closing connection may take to finish its close handshake.
    pub close_wait: Duration,
}

const LIMITS: Limits = Limits {
    room_size: 8,
    max_message: 64 << 10,
    rate: 50.0,
    burst: 100.0,
    queue: 256,
    close_wait: Duration::from_secs(5),
};

fn config(limits: &Limits) -> Config {
    Config::default()
        .max_message_size(limits.max_message)
        .max_frame_size(limits.max_message)
        .keepalive(Some(Duration::from_secs(20)))
        .idle_timeout(Some(Duration::from_secs(60)))
        .write_buffer_high_water(256 << 10)
}

/// A room name from the query string, if it is a good one.
fn room_name(query: Option<&str>) -> Option<&str> {
    let value = query?
        .split('&')
        .find_map(|pair| pair.strip_prefix("room="))?;
    let ok = (1..=64).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
    ok.then_some(value)
}

/// Whether a browser's `Origin` is this server (non-browser clients send none).
fn same_origin(req: &Request) -> bool {
    let Some(origin) = req.origin() else {
        return true;
    };
    let host = origin
        .strip_prefix("http://")
        .or_else(|| origin.strip_prefix("https://"));
    matches!((host, req.host()), (Some(a), Some(b)) if a.eq_ignore_ascii_case(b))
}

/// The handshake callback: the page for plain HTTP, `/ws?room=NAME` for WebSocket. On
/// acceptance the room name goes to `room`.
fn route(req: &Request, room: &mut Option<String>) -> Result<Accept, Response> {
    if !req.is_upgrade() {
        return Err(match (req.method(), req.path()) {
            ("GET", "/") => {
                let mut page = Response::new(200)
                    .with_header("Content-Type", "text/html; charset=utf-8")
                    .with_header("Cache-Control", "no-store");
                page.body = PAGE.as_bytes().to_vec().into();
                page
            }
            ("GET", _) => Response::reject(404, "not found\n"),
            _ => Response::reject(405, "method not allowed\n").with_header("Allow", "GET"),
        });
    }
    if req.path() != "/ws" {
        return Err(Response::reject(404, "WebSocket endpoint: /ws?room=NAME\n"));
    }
    if !same_origin(req) {
        return Err(Response::reject(403, "cross-origin connections refused\n"));
    }
    let Some(name) = room_name(req.query()) else {
        return Err(Response::reject(
            400,
            "room: 1 to 64 of A-Z a-z 0-9 . _ - as /ws?room=NAME\n",
        ));
    };
    *room = Some(name.to_string());
    Ok(Accept::new())
}

async fn serve(tcp: tokio::net::TcpStream, addr: SocketAddr, rooms: Arc<Membership>) {
    let _ = tcp.set_nodelay(true);
    let mut room = None;
    let accepted =
        websock::tokio::accept_with(tcp, config(&LIMITS), |req| route(req, &mut room)).await;
    match (accepted, room) {
        (Ok(Outcome::WebSocket(ws)), Some(room)) => peer::run(ws, addr, room, rooms, LIMITS).await,
        // A page, or a refusal, chosen by `route`.
        (Ok(Outcome::Responded(200)), _) => {}
        (Ok(Outcome::Responded(status)), _) => eprintln!("{addr}: refused with {status}"),
        (Err(e), _) => eprintln!("{addr}: handshake failed: {e}"),
        // `route` names the room whenever it accepts; nothing to serve otherwise.
        (Ok(Outcome::WebSocket(_)), None) => {}
    }
}

fn main() -> std::io::Result<()> {
    memory::release_memory_promptly();
    let usage = "usage: signaling [--addr HOST:PORT] [--redis redis://HOST:PORT]   (default 127.0.0.1:9010)";
    let mut addr = "127.0.0.1:9010".to_string();
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
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        println!("listening on http://{}", listener.local_addr()?);
        let rooms = Arc::new(Rooms::new(LIMITS.room_size));
        let rooms = Arc::new(match &redis {
            None => Membership::local(rooms),
            Some(url) => Membership::redis(rooms, url).unwrap_or_else(|e| {
                eprintln!("{e}");
                std::process::exit(2)
            }),
        });
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve(tcp, peer, rooms.clone()));
                }
                Err(e) => {
                    // Out of file descriptors, typically: back off instead of spinning.
                    eprintln!("accept failed: {e}");
                    tokio::time::sleep(Duration::from_millis(100)).await;
                }
            }
        }
    })
}
