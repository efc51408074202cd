//! Fan-out benchmark: one publisher, many subscribers, one topic.
//!
//! ```text
//! fanout server --kind KIND --addr A     KIND: websock | websock-naive | tokio-tungstenite
//! fanout load --addr A --subscribers N --messages M --payload P [--pid SERVER_PID]
//! fanout latency --publish ws://A/T --subscribe ws://B/T --messages M --interval-us U
//! ```
//!
//! Servers (tokio `current_thread`, every connection is a subscriber; what any client sends
//! goes to every other):
//! * `websock`: `websock::broadcast::Hub` and `send_prepared`, the library's way: one
//!   [`PreparedMessage`] per published message, whose frame bytes every connection shares.
//! * `websock-naive`: the same hub, but each connection sends the payload as a fresh
//!   `Message` (`ws.send`), so the frame is encoded per connection.
//! * `tokio-tungstenite`: a `tokio::sync::broadcast` channel of `Bytes` and `ws.send` per
//!   connection, the way its users write fan-out.
//!
//! `load` opens N subscribers (raw TCP, the handshake by hand), then one publisher; asks the
//! server how many subscribers it has (a `count?` message) until all are in; sends M binary
//! messages of P bytes at once; and waits until every subscriber has counted M. It prints one
//! TSV line: subscribers, messages, payload, seconds, deliveries per second, and the server's
//! RSS (KiB) with the subscribers connected, at its peak during the run, and before the first
//! connection.
//!
//! `latency` connects a subscriber to one node and a publisher to another (the `pubsub`
//! example, through Redis), and prints the publish-to-receipt percentiles in microseconds.
#![forbid(unsafe_code)]

#[path = "../wire.rs"]
mod wire;

use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use wire::client_frame;

use bytes::Bytes;
use futures_util::{SinkExt, StreamExt};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use websock::broadcast::{Delivery, Hub, HubConfig, Overflow};
use websock::{Message, PreparedMessage};

const TOPIC: &str = "bench";

fn usage() -> ! {
    eprintln!(
        "usage: fanout server --kind websock|websock-naive|tokio-tungstenite --addr A\n       \
         fanout load --addr A --subscribers N --messages M --payload P [--pid PID]\n       \
         fanout latency --publish URL --subscribe URL --messages M --interval-us U"
    );
    std::process::exit(2)
}

struct Args(Vec<String>);

impl Args {
    fn get(&self, name: &str) -> Option<&str> {
        let i = self.0.iter().position(|a| a == name)?;
        self.0.get(i + 1).map(String::as_str)
    }
    fn num(&self, name: &str, default: usize) -> usize {
        self.get(name)
            .map(|v| v.parse().unwrap_or_else(|_| usage()))
            .unwrap_or(default)
    }
}

fn main() {
    let all: Vec<String> = std::env::args().skip(1).collect();
    let Some(mode) = all.first().cloned() else {
        usage()
    };
    let args = Args(all);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = rt.block_on(async move {
        match mode.as_str() {
            "server" => server(&args).await,
            "load" => load(&args).await,
            "latency" => latency(&args).await,
            _ => usage(),
        }
    });
    std::process::exit(code)
}

// ---------------------------------------------------------------------------------------------
// Servers

async fn server(args: &Args) -> i32 {
    let kind = args.get("--kind").unwrap_or_else(|| usage()).to_string();
    let addr = args.get("--addr").unwrap_or("127.0.0.1:9400");
    let listener = TcpListener::bind(addr).await.expect("bind");
    let hub = Hub::new(HubConfig {
        queue: 4096,
        queue_bytes: 64 << 20,
        overflow: Overflow::close_too_slow(),
    });
    let (tx, _) = tokio::sync::broadcast::channel::<(u64, Bytes)>(4096);
    let next_id = Arc::new(AtomicU64::new(0));
    eprintln!("{kind} listening on {addr}");
    loop {
        let Ok((tcp, _)) = listener.accept().await else {
            continue;
        };
        let _ = tcp.set_nodelay(true);
        match kind.as_str() {
            "websock" | "websock-naive" => {
                let (hub, naive) = (hub.clone(), kind == "websock-naive");
                tokio::spawn(async move {
                    let _ = websock_subscriber(tcp, hub, naive).await;
                });
            }
            "tokio-tungstenite" => {
                let (tx, id) = (tx.clone(), next_id.fetch_add(1, Ordering::Relaxed));
                tokio::spawn(async move {
                    let _ = tungstenite_subscriber(tcp, tx, id).await;
                });
            }
            _ => usage(),
        }
    }
}

async fn websock_subscriber(tcp: TcpStream, hub: Hub, naive: bool) -> Result<(), websock::Error> {
    let config = websock::Config::default().max_message_size(64 << 20);
    let mut ws = match websock::tokio::accept_with(tcp, config, |_| {
        Ok(websock::proto::handshake::server::Accept::new())
    })
    .await?
    {
        websock::Outcome::WebSocket(ws) => ws,
        websock::Outcome::Responded(_) => return Ok(()),
    };
    let sub = hub.subscribe(TOPIC);
    loop {
        tokio::select! {
            incoming = ws.recv() => match incoming {
                Some(Ok(m)) if m.as_payload() == b"count?" => {
                    let n = hub.subscribers(TOPIC) - 1;
                    ws.send(Message::text(n.to_string())).await?;
                }
                Some(Ok(m)) => {
                    if let Some(m) = PreparedMessage::from_message(m) {
                        hub.publish_except(TOPIC, &m, sub.id());
                    }
                }
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            delivery = sub.recv() => {
                // The loop `websock::broadcast` documents: everything queued, one write.
                let mut next = Some(delivery);
                while let Some(Delivery::Message(m)) = next {
                    if naive {
                        ws.write(Message::Binary(m.payload().clone())).await?;
                    } else {
                        ws.write_prepared(&m).await?;
                    }
                    next = sub.try_recv();
                }
                ws.flush().await?;
                if let Some(Delivery::Closed(frame)) = next {
                    return ws.close(Some(frame)).await;
                }
            }
        }
    }
}

async fn tungstenite_subscriber(
    tcp: TcpStream,
    tx: tokio::sync::broadcast::Sender<(u64, Bytes)>,
    me: u64,
) -> Result<(), tokio_tungstenite::tungstenite::Error> {
    use tokio_tungstenite::tungstenite::Message as TMessage;
    let mut rx = tx.subscribe();
    let mut ws = tokio_tungstenite::accept_async(tcp).await?;
    loop {
        tokio::select! {
            incoming = ws.next() => match incoming {
                Some(Ok(m)) if m.is_binary() || m.is_text() => {
                    if m.clone().into_data().as_ref() == b"count?" {
                        let n = tx.receiver_count() - 1;
                        ws.send(TMessage::text(n.to_string())).await?;
                    } else {
                        let _ = tx.send((me, m.into_data()));
                    }
                }
                Some(Ok(_)) => {}
                Some(Err(e)) => return Err(e),
                None => return Ok(()),
            },
            got = rx.recv() => {
                // The same batching with its own API: `feed` what is queued, one `flush`.
                let mut next = got;
                loop {
                    match next {
                        Ok((from, _)) if from == me => {}
                        Ok((_, data)) => ws.feed(TMessage::Binary(data)).await?,
                        Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => {
                            return ws.close(None).await;
                        }
                        Err(_) => return Ok(()),
                    }
                    next = match rx.try_recv() {
                        Ok(item) => Ok(item),
                        Err(tokio::sync::broadcast::error::TryRecvError::Lagged(n)) => {
                            Err(tokio::sync::broadcast::error::RecvError::Lagged(n))
                        }
                        Err(_) => break,
                    };
                }
                ws.flush().await?;
            }
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Load

const REQUEST: &[u8] = b"GET /bench HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

/// Splits a byte stream into frames: (opcode, payload) for each complete one.
#[derive(Default)]
struct Frames {
    buf: Vec<u8>,
}

impl Frames {
    fn next(&mut self) -> Option<(u8, Vec<u8>)> {
        let b = &self.buf;
        if b.len() < 2 {
            return None;
        }
        let (len, at) = match b[1] & 0x7f {
            126 if b.len() >= 4 => (u16::from_be_bytes([b[2], b[3]]) as usize, 4),
            127 if b.len() >= 10 => (
                u64::from_be_bytes(b[2..10].try_into().unwrap()) as usize,
                10,
            ),
            126 | 127 => return None,
            n => (n as usize, 2),
        };
        if b.len() < at + len {
            return None;
        }
        let op = b[0] & 0x0f;
        let payload = b[at..at + len].to_vec();
        self.buf.drain(..at + len);
        Some((op, payload))
    }
}

async fn open(addr: SocketAddr) -> io::Result<(TcpStream, Frames)> {
    let mut s = TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    s.write_all(REQUEST).await?;
    let mut head = Vec::new();
    let mut chunk = [0u8; 1024];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(err("EOF in the handshake"));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 101") {
                return Err(err("refused"));
            }
            let buf = head.split_off(p + 4);
            return Ok((s, Frames { buf }));
        }
    }
}

/// Counts the data frames of `payload` bytes a subscriber receives, up to `want`.
async fn subscriber(
    mut s: TcpStream,
    mut frames: Frames,
    payload: usize,
    want: u64,
    done: Arc<AtomicUsize>,
) -> io::Result<()> {
    let mut got = 0u64;
    let mut chunk = vec![0u8; 64 << 10];
    loop {
        while let Some((op, p)) = frames.next() {
            match op {
                1 | 2 if p.len() == payload => got += 1,
                8 => return Err(err("closed by the server")),
                _ => {}
            }
        }
        if got >= want {
            done.fetch_add(1, Ordering::Relaxed);
            // Keep the connection open (and read) until the run ends.
            while s.read(&mut chunk).await? > 0 {}
            return Ok(());
        }
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(err("EOF"));
        }
        frames.buf.extend_from_slice(&chunk[..n]);
    }
}

fn rss_kib(pid: u32) -> u64 {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find_map(|l| l.strip_prefix("VmRSS:"))
                .and_then(|v| v.split_whitespace().next()?.parse().ok())
        })
        .unwrap_or(0)
}

async fn load(args: &Args) -> i32 {
    let addr: SocketAddr = args
        .get("--addr")
        .unwrap_or_else(|| usage())
        .parse()
        .unwrap_or_else(|_| usage());
    let n = args.num("--subscribers", 10_000);
    let m = args.num("--messages", 100) as u64;
    let payload = args.num("--payload", 1024);
    let pid = args.get("--pid").and_then(|p| p.parse::<u32>().ok());
    let base_rss = pid.map_or(0, rss_kib);
    let done = Arc::new(AtomicUsize::new(0));
    let mut tasks = Vec::new();
    for i in 0..n {
        let (s, frames) = match open(addr).await {
            Ok(c) => c,
            Err(e) => {
                eprintln!("fanout: subscriber {i}: {e}");
                return 1;
            }
        };
        tasks.push(tokio::spawn(subscriber(
            s,
            frames,
            payload,
            m,
            done.clone(),
        )));
    }
    let (mut publisher, mut replies) = open(addr).await.expect("publisher");
    // Wait until the server has every subscriber in its topic.
    let count = client_frame(1, b"count?");
    loop {
        publisher.write_all(&count).await.expect("count?");
        let mut chunk = [0u8; 256];
        let reply = loop {
            if let Some((_, p)) = replies.next() {
                break String::from_utf8_lossy(&p).into_owned();
            }
            let r = publisher.read(&mut chunk).await.expect("reply");
            replies.buf.extend_from_slice(&chunk[..r]);
        };
        if reply.parse::<usize>().ok() == Some(n) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let idle_rss = pid.map_or(0, rss_kib);
    let peak = Arc::new(AtomicU64::new(idle_rss));
    if let Some(pid) = pid {
        let peak = peak.clone();
        std::thread::spawn(move || loop {
            peak.fetch_max(rss_kib(pid), Ordering::Relaxed);
            std::thread::sleep(Duration::from_millis(5));
        });
    }
    let body = vec![b'x'; payload];
    let frame = client_frame(2, &body);
    let mut all = Vec::with_capacity(frame.len() * m as usize);
    for _ in 0..m {
        all.extend_from_slice(&frame);
    }
    let start = Instant::now();
    publisher.write_all(&all).await.expect("publish");
    let mut last = Instant::now();
    while done.load(Ordering::Relaxed) < n {
        if tasks.iter().any(|t| t.is_finished()) {
            eprintln!("fanout: a subscriber failed");
            return 1;
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
        if last.elapsed() > Duration::from_secs(120) {
            eprintln!("fanout: stalled at {} of {n}", done.load(Ordering::Relaxed));
            return 1;
        }
        last = last.max(Instant::now() - Duration::from_secs(0));
    }
    let secs = start.elapsed().as_secs_f64();
    let delivered = n as f64 * m as f64;
    println!(
        "{n}\t{m}\t{payload}\t{secs:.3}\t{:.0}\t{idle_rss}\t{}\t{base_rss}",
        delivered / secs,
        peak.load(Ordering::Relaxed)
    );
    0
}

// ---------------------------------------------------------------------------------------------
// Cross-node latency

async fn latency(args: &Args) -> i32 {
    let publish = args.get("--publish").unwrap_or_else(|| usage()).to_string();
    let subscribe = args
        .get("--subscribe")
        .unwrap_or_else(|| usage())
        .to_string();
    let m = args.num("--messages", 2000);
    let interval = Duration::from_micros(args.num("--interval-us", 1000) as u64);
    let mut sub = websock::tokio::connect(&subscribe)
        .await
        .expect("subscriber");
    let mut publisher = websock::tokio::connect(&publish).await.expect("publisher");
    let origin = Instant::now();
    // Probe until the nodes route the topic to each other.
    loop {
        publisher.send(Message::text("probe")).await.expect("probe");
        if let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(100), sub.recv()).await
        {
            break;
        }
    }
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(200), sub.recv()).await {
    }
    let reader = tokio::spawn(async move {
        let mut lat = Vec::with_capacity(m);
        while lat.len() < m {
            match tokio::time::timeout(Duration::from_secs(10), sub.recv()).await {
                Ok(Some(Ok(msg))) if msg.is_data() => {
                    let sent: u64 = std::str::from_utf8(msg.as_payload())
                        .ok()
                        .and_then(|s| s.parse().ok())
                        .unwrap_or(0);
                    let now = origin.elapsed().as_micros() as u64;
                    lat.push(now.saturating_sub(sent));
                }
                Ok(Some(Ok(_))) => {}
                other => {
                    eprintln!("fanout: latency subscriber: {other:?} after {}", lat.len());
                    break;
                }
            }
        }
        lat
    });
    let mut tick = tokio::time::interval(interval);
    for _ in 0..m {
        tick.tick().await;
        let now = origin.elapsed().as_micros() as u64;
        publisher
            .send(Message::text(now.to_string()))
            .await
            .expect("publish");
    }
    let mut lat = reader.await.expect("reader");
    if lat.len() < m {
        eprintln!("fanout: {} of {m} messages arrived", lat.len());
        return 1;
    }
    lat.sort_unstable();
    let p = |q: f64| lat[((lat.len() as f64 * q) as usize).min(lat.len() - 1)];
    println!(
        "messages\t{m}\tp50_us\t{}\tp90_us\t{}\tp99_us\t{}\tmax_us\t{}",
        p(0.50),
        p(0.90),
        p(0.99),
        lat[lat.len() - 1]
    );
    0
}
