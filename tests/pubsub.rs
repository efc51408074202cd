//! The `pubsub` example across processes: a real `redis-server` (Debian's, started here on a
//! free loopback port), two or three example nodes sharing it, and websock clients on each.
//!
//! `redis-server` is installed with apt-get when missing and this runs as root; without it the
//! tests fail, unless `WEBSOCK_SKIP_REDIS=1` says to skip them.
#![cfg(feature = "tokio")]

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::time::timeout;
use websock::{CloseCode, Message};

type Ws = websock::tokio::WebSocketStream<websock::tokio::MaybeTls>;

fn redis_server() -> Option<PathBuf> {
    let find = || {
        ["/usr/bin/redis-server", "/usr/local/bin/redis-server"]
            .into_iter()
            .map(PathBuf::from)
            .find(|p| p.exists())
    };
    if let Some(p) = find() {
        return Some(p);
    }
    static INSTALL: std::sync::Once = std::sync::Once::new();
    INSTALL.call_once(|| {
        let root = Command::new("id").arg("-u").output().ok();
        if root.is_some_and(|o| o.stdout.starts_with(b"0")) {
            eprintln!("installing redis-server with apt-get");
            let _ = Command::new("apt-get")
                .args(["install", "-y", "-q", "redis-server"])
                .env("DEBIAN_FRONTEND", "noninteractive")
                .stdout(Stdio::null())
                .status();
        }
    });
    let found = find();
    if found.is_none() && std::env::var_os("WEBSOCK_SKIP_REDIS").is_none() {
        panic!("redis-server not found (apt-get install redis-server; or WEBSOCK_SKIP_REDIS=1)");
    }
    found
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

/// A `redis-server` of the test's own, killed when dropped.
struct Redis {
    bin: PathBuf,
    port: u16,
    child: Option<Child>,
}

impl Redis {
    fn start() -> Option<Redis> {
        let mut r = Redis {
            bin: redis_server()?,
            port: free_port(),
            child: None,
        };
        r.restart();
        Some(r)
    }

    fn restart(&mut self) {
        let child = Command::new(&self.bin)
            .args(["--port", &self.port.to_string(), "--bind", "127.0.0.1"])
            .args(["--save", "", "--appendonly", "no", "--protected-mode", "no"])
            .stdout(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        for _ in 0..100 {
            if TcpStream::connect(("127.0.0.1", self.port)).is_ok() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        panic!("redis-server did not start");
    }

    fn stop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// How many PUBLISH commands Redis has run, from `INFO commandstats`.
    fn publishes(&self) -> u64 {
        let mut tcp = TcpStream::connect(("127.0.0.1", self.port)).unwrap();
        tcp.write_all(b"*2\r\n$4\r\nINFO\r\n$12\r\ncommandstats\r\n")
            .unwrap();
        let mut reader = BufReader::new(tcp);
        let mut header = String::new();
        reader.read_line(&mut header).unwrap();
        let len: usize = header.trim()[1..].parse().unwrap();
        let mut body = vec![0; len];
        reader.read_exact(&mut body).unwrap();
        let body = String::from_utf8(body).unwrap();
        body.lines()
            .find_map(|l| l.strip_prefix("cmdstat_publish:calls="))
            .map_or(0, |rest| rest.split(',').next().unwrap().parse().unwrap())
    }
}

impl Drop for Redis {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One `pubsub` example process, killed when dropped.
struct Node {
    child: Child,
    addr: String,
}

impl Node {
    fn start(redis: Option<&Redis>) -> Node {
        // tests/../target/<profile>/deps/this-test → target/<profile>/examples/pubsub
        let exe = std::env::current_exe().unwrap();
        let bin = exe
            .parent()
            .unwrap()
            .parent()
            .unwrap()
            .join("examples/pubsub");
        let mut cmd = Command::new(&bin);
        cmd.args(["--addr", "127.0.0.1:0"])
            .env("GLIBC_TUNABLES", "glibc.malloc.mmap_threshold=131072")
            .stdout(Stdio::piped());
        if let Some(r) = redis {
            cmd.args(["--redis", &r.url()]);
        }
        let mut child = cmd
            .spawn()
            .unwrap_or_else(|e| panic!("{}: {e} (built by cargo test)", bin.display()));
        let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
        let addr = loop {
            let line = lines.next().expect("node exited").unwrap();
            if let Some(rest) = line.strip_prefix("listening on ws://") {
                break rest.trim_end_matches("/TOPIC").to_string();
            }
        };
        // Keep reading stdout so the node never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Node { child, addr }
    }

    async fn client(&self, topic: &str) -> Ws {
        websock::tokio::connect(&format!("ws://{}/{topic}", self.addr))
            .await
            .unwrap()
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// The next data message, or `None` after `wait` without one.
async fn next(ws: &mut Ws, wait: Duration) -> Option<Message> {
    loop {
        match timeout(wait, ws.recv()).await {
            Ok(Some(Ok(m))) if m.is_data() => return Some(m),
            Ok(Some(Ok(_))) => {}
            Ok(other) => panic!("connection ended: {other:?}"),
            Err(_) => return None,
        }
    }
}

/// Every data message until none comes for `quiet`.
async fn drain(ws: &mut Ws, quiet: Duration) -> Vec<Message> {
    let mut got = Vec::new();
    while let Some(m) = next(ws, quiet).await {
        got.push(m);
    }
    got
}

fn text(m: &Message) -> String {
    String::from_utf8(m.as_payload().to_vec()).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_message_reaches_every_other_subscriber_once_in_order() {
    let Some(redis) = Redis::start() else { return };
    let nodes: Vec<Node> = (0..3).map(|_| Node::start(Some(&redis))).collect();
    let mut clients = Vec::new();
    for node in &nodes {
        for _ in 0..2 {
            clients.push(node.client("room.1").await);
        }
    }
    const EACH: usize = 300;
    let n = clients.len();
    let mut tasks = Vec::new();
    for (me, ws) in clients.into_iter().enumerate() {
        tasks.push(tokio::spawn(async move {
            let (mut rx, mut tx) = ws.split();
            let writer = tokio::spawn(async move {
                for i in 0..EACH {
                    // Text and binary alternate: both kinds must cross Redis intact.
                    let body = format!("{me}:{i}");
                    let m = if i % 2 == 0 {
                        Message::text(body)
                    } else {
                        Message::binary(body.into_bytes())
                    };
                    tx.send(m).await.unwrap();
                }
                tx
            });
            let mut got = Vec::new();
            while got.len() < (n - 1) * EACH {
                match timeout(Duration::from_secs(30), rx.recv()).await {
                    Ok(Some(Ok(m))) if m.is_data() => got.push(m),
                    Ok(Some(Ok(_))) => {}
                    other => panic!("client {me}: after {} messages: {other:?}", got.len()),
                }
            }
            // Anything more would be a duplicate or an echo.
            let extra = timeout(Duration::from_millis(500), rx.recv()).await;
            assert!(extra.is_err(), "client {me}: extra message {extra:?}");
            let _tx = writer.await.unwrap();
            (me, got)
        }));
    }
    for task in tasks {
        let (me, got) = task.await.unwrap();
        let mut per_sender: HashMap<usize, Vec<usize>> = HashMap::new();
        for m in &got {
            let s = text(m);
            let (from, i) = s.split_once(':').unwrap();
            let (from, i): (usize, usize) = (from.parse().unwrap(), i.parse().unwrap());
            assert_eq!(m.as_text().is_some(), i % 2 == 0, "kind kept: {s}");
            per_sender.entry(from).or_default().push(i);
        }
        assert!(
            !per_sender.contains_key(&me),
            "client {me} got its own message"
        );
        assert_eq!(per_sender.len(), n - 1);
        for (from, seq) in per_sender {
            assert_eq!(seq, (0..EACH).collect::<Vec<_>>(), "{from} to {me}");
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_topic_without_remote_subscribers_costs_no_redis_traffic() {
    let Some(redis) = Redis::start() else { return };
    let (a, b) = (Node::start(Some(&redis)), Node::start(Some(&redis)));
    let mut a1 = a.client("lonely").await;
    let mut a2 = a.client("lonely").await;
    let before = redis.publishes();
    for i in 0..100 {
        a1.send(Message::text(format!("local {i}"))).await.unwrap();
    }
    assert_eq!(drain(&mut a2, Duration::from_millis(500)).await.len(), 100);
    assert_eq!(
        redis.publishes(),
        before,
        "no PUBLISH for a topic only node A has"
    );

    // Once node B has a subscriber, the same messages go through Redis.
    let mut b1 = b.client("lonely").await;
    let before = redis.publishes();
    for i in 0..100 {
        a1.send(Message::text(format!("shared {i}"))).await.unwrap();
    }
    let at_b = drain(&mut b1, Duration::from_millis(500)).await;
    assert_eq!(at_b.len(), 100);
    assert_eq!(text(&at_b[99]), "shared 99");
    assert_eq!(drain(&mut a2, Duration::from_millis(200)).await.len(), 100);
    assert!(redis.publishes() >= before + 100);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_keeps_serving_without_redis_and_resubscribes() {
    let Some(mut redis) = Redis::start() else {
        return;
    };
    let (a, b) = (Node::start(Some(&redis)), Node::start(Some(&redis)));
    let mut a1 = a.client("r").await;
    let mut a2 = a.client("r").await;
    let mut b1 = b.client("r").await;
    a1.send(Message::text("before")).await.unwrap();
    assert_eq!(
        text(&next(&mut b1, Duration::from_secs(5)).await.unwrap()),
        "before"
    );
    assert_eq!(
        text(&next(&mut a2, Duration::from_secs(5)).await.unwrap()),
        "before"
    );

    redis.stop();
    for i in 0..50 {
        a1.send(Message::text(format!("down {i}"))).await.unwrap();
    }
    let local = drain(&mut a2, Duration::from_millis(500)).await;
    assert_eq!(
        local.len(),
        50,
        "local subscribers are served without Redis"
    );
    assert!(drain(&mut b1, Duration::from_millis(200)).await.is_empty());

    redis.restart();
    // Probe until the nodes have reconnected and found each other again.
    let mut probes = 0;
    loop {
        probes += 1;
        assert!(probes < 200, "nodes did not resubscribe");
        a1.send(Message::text("probe")).await.unwrap();
        if next(&mut b1, Duration::from_millis(100)).await.is_some() {
            break;
        }
    }
    drain(&mut b1, Duration::from_millis(300)).await;
    drain(&mut a2, Duration::from_millis(100)).await;
    for i in 0..50 {
        a1.send(Message::text(format!("up {i}"))).await.unwrap();
    }
    let remote: Vec<String> = drain(&mut b1, Duration::from_millis(500))
        .await
        .iter()
        .map(text)
        .collect();
    assert_eq!(
        remote,
        (0..50).map(|i| format!("up {i}")).collect::<Vec<_>>()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_subscriber_does_not_delay_the_others() {
    let node = Node::start(None);
    let mut publisher = node.client("feed").await;
    let mut reader = node.client("feed").await;
    // Subscribed, and never read until the end.
    let mut slow = node.client("feed").await;
    let payload = vec![7u8; 32 << 10];
    const N: usize = 1000; // 32 MB: far past the slow one's socket buffers and its 8 MiB queue
    let sending = tokio::spawn(async move {
        for _ in 0..N {
            publisher
                .send(Message::binary(payload.clone()))
                .await
                .unwrap();
        }
        publisher
    });
    let mut got = 0;
    while got < N {
        let m = next(&mut reader, Duration::from_secs(10)).await;
        assert!(m.is_some(), "the reading subscriber stalled after {got}");
        got += 1;
    }
    let _publisher = sending.await.unwrap();
    // The slow subscriber got what fitted in its socket, then a close: 1013, "too slow".
    let mut received = 0;
    let close = loop {
        match timeout(Duration::from_secs(10), slow.recv()).await.unwrap() {
            Some(Ok(Message::Close(frame))) => break frame,
            Some(Ok(_)) => received += 1,
            other => panic!("slow subscriber: {other:?}"),
        }
    };
    assert!(received < N, "{received}");
    assert_eq!(close.map(|f| f.code), Some(CloseCode::TRY_AGAIN_LATER));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_topics_and_plain_requests_are_refused() {
    let node = Node::start(None);
    for (path, upgrade, status) in [
        ("/", true, "404"),
        ("/a/b", true, "404"),
        ("/has%20space", true, "404"),
        (&format!("/{}", "x".repeat(65)), true, "404"),
        ("/fine", false, "426"),
    ] {
        let mut tcp = TcpStream::connect(&node.addr).unwrap();
        let upgrade = if upgrade {
            "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
             Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n"
        } else {
            ""
        };
        write!(tcp, "GET {path} HTTP/1.1\r\nHost: x\r\n{upgrade}\r\n").unwrap();
        let mut line = String::new();
        BufReader::new(tcp).read_line(&mut line).unwrap();
        assert!(
            line.starts_with(&format!("HTTP/1.1 {status}")),
            "{path}: {line}"
        );
    }
}
