//! Load generator for the echo benchmark. Uses none of the measured crates: raw tokio TCP, a
//! hand-written client handshake (fixed key, only the `101` is checked), masked frames built
//! once per run, echoes counted by parsing frame headers only, no allocation per message.
//!
//! ```text
//! loadgen [--addr 127.0.0.1:9001] [--connections N] [--payload BYTES] [--depth D]
//!         (--seconds S [--warmup W] | --messages M) [--format json|tsv]
//! loadgen --idle N [--hold SECONDS]          # open N connections, print a line, hold them
//! loadgen --soak [--connections 100000] [--wave 1000] [--payload BYTES]
//! ```
//!
//! * Timed (`--seconds`, the default, 3 s after 1 s of warm-up): every connection keeps `D`
//!   binary messages of `BYTES` in flight and sends one more for each echo; prints the echoes
//!   per second over the measured window.
//! * Counted (`--messages M`): exactly `M` messages per connection, then a close handshake;
//!   `M = 0` only connects, handshakes and closes (the baseline that `costs.sh` subtracts).
//! * Idle (`--idle N`): N connections that finish the handshake and then send nothing; prints
//!   `ready N` once all are open and holds them until standard input ends (or `--hold` seconds).
//! * Soak (`--soak`): `--connections` connections in waves of `--wave`: each opens, handshakes,
//!   sends one message, checks the echo byte for byte, closes with a close handshake and waits
//!   for the server's end of the TCP connection. Exits 1 if any failed.
//!
//! Output (timed and counted): one line of JSON, or with `--format tsv` the tab-separated
//! fields `mode connections payload depth messages seconds msgs_per_s errors`.
//! `--source-ips K` spreads connections over the local addresses 127.0.0.1..=127.0.0.K;
//! `--connect-concurrency C` (default 100) bounds connects and handshakes in progress at once.

#[path = "../wire.rs"]
mod wire;

use std::io::{self, Write};
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use wire::client_frame;

use tokio::io::{AsyncReadExt, AsyncWriteExt, Interest};
use tokio::net::{TcpSocket, TcpStream};
use tokio::sync::Semaphore;

const REQUEST: &[u8] = b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nUpgrade: websocket\r\n\
    Connection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
    Sec-WebSocket-Version: 13\r\n\r\n";
const READ_BUF: usize = 64 << 10;

static ECHOES: AtomicU64 = AtomicU64::new(0);
static ERRORS: AtomicU64 = AtomicU64::new(0);
static CONNECTED: AtomicUsize = AtomicUsize::new(0);
static FIRST_ERROR: Mutex<Option<String>> = Mutex::new(None);

fn record_error(e: &io::Error) {
    ERRORS.fetch_add(1, Ordering::Relaxed);
    let mut first = FIRST_ERROR.lock().unwrap();
    if first.is_none() {
        *first = Some(e.to_string());
    }
}

fn err(msg: impl Into<String>) -> io::Error {
    io::Error::other(msg.into())
}

// ---------------------------------------------------------------------------------------------
// Frames

/// The payload sent: a byte pattern, so the soak can check echoes.
fn payload_bytes(len: usize) -> Vec<u8> {
    (0..len)
        .map(|i| (i as u32).wrapping_mul(31) as u8 ^ 0x5a)
        .collect()
}

fn close_frame() -> Vec<u8> {
    client_frame(0x8, &1000u16.to_be_bytes())
}

/// Counts complete frames in a byte stream by their headers; payloads are skipped unread.
/// Server frames are unmasked, but the `tcp` ceiling sends ours back masked: both parse.
struct Parser {
    expect: usize,
    skip: usize,
    hdr: [u8; 14],
    hdr_len: usize,
    opcode: u8,
    closed: bool,
}

impl Parser {
    fn new(expect: usize) -> Parser {
        Parser {
            expect,
            skip: 0,
            hdr: [0; 14],
            hdr_len: 0,
            opcode: 0,
            closed: false,
        }
    }

    /// Feeds received bytes; returns the number of data frames completed.
    fn feed(&mut self, mut d: &[u8]) -> io::Result<u64> {
        let mut done = 0;
        while !d.is_empty() {
            if self.skip > 0 {
                let t = self.skip.min(d.len());
                self.skip -= t;
                d = &d[t..];
                if self.skip == 0 {
                    self.frame_done(&mut done);
                }
                continue;
            }
            self.hdr[self.hdr_len] = d[0];
            self.hdr_len += 1;
            d = &d[1..];
            if self.hdr_len < 2 {
                continue;
            }
            let b1 = self.hdr[1];
            let ext = match b1 & 0x7f {
                126 => 2,
                127 => 8,
                _ => 0,
            };
            let need = 2 + ext + if b1 & 0x80 != 0 { 4 } else { 0 };
            if self.hdr_len < need {
                continue;
            }
            let len = match b1 & 0x7f {
                126 => u16::from_be_bytes([self.hdr[2], self.hdr[3]]) as u64,
                127 => u64::from_be_bytes(self.hdr[2..10].try_into().unwrap()),
                n => n as u64,
            } as usize;
            let fin = self.hdr[0] & 0x80 != 0;
            self.opcode = self.hdr[0] & 0x0f;
            self.hdr_len = 0;
            match self.opcode {
                1 | 2 if fin && len == self.expect => {}
                1 | 2 => {
                    return Err(err(format!(
                        "unexpected data frame: fin {fin}, {len} bytes (want {})",
                        self.expect
                    )))
                }
                8..=10 => {}
                op => return Err(err(format!("unexpected opcode {op}"))),
            }
            self.skip = len;
            if len == 0 {
                self.frame_done(&mut done);
            }
        }
        Ok(done)
    }

    fn frame_done(&mut self, done: &mut u64) {
        match self.opcode {
            1 | 2 => *done += 1,
            8 => self.closed = true,
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Connections

fn source_ip(i: usize, k: usize) -> Option<IpAddr> {
    (k > 1).then(|| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + (i % k.min(254)) as u8)))
}

/// Connects, retrying while the server is not listening yet (up to 10 s).
async fn connect(addr: SocketAddr, src: Option<IpAddr>) -> io::Result<TcpStream> {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let r = match src {
            None => TcpStream::connect(addr).await,
            Some(ip) => {
                let s = TcpSocket::new_v4()?;
                s.set_reuseaddr(true)?;
                s.bind(SocketAddr::new(ip, 0))?;
                s.connect(addr).await
            }
        };
        match r {
            Ok(s) => {
                s.set_nodelay(true)?;
                return Ok(s);
            }
            Err(e) if e.kind() == io::ErrorKind::ConnectionRefused && Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

/// Sends the upgrade request and reads the response head; returns bytes past it.
async fn handshake(s: &mut TcpStream) -> io::Result<Vec<u8>> {
    s.write_all(REQUEST).await?;
    let mut head = Vec::with_capacity(256);
    let mut chunk = [0u8; 512];
    loop {
        let n = s.read(&mut chunk).await?;
        if n == 0 {
            return Err(err("EOF during the handshake"));
        }
        head.extend_from_slice(&chunk[..n]);
        if let Some(p) = head.windows(4).position(|w| w == b"\r\n\r\n") {
            if !head.starts_with(b"HTTP/1.1 101") {
                let line = head.split(|&b| b == b'\r').next().unwrap_or_default();
                return Err(err(format!(
                    "handshake refused: {}",
                    String::from_utf8_lossy(line)
                )));
            }
            return Ok(head.split_off(p + 4));
        }
        if head.len() > 8192 {
            return Err(err("response head too long"));
        }
    }
}

async fn open(
    addr: SocketAddr,
    src: Option<IpAddr>,
    gate: &Semaphore,
) -> io::Result<(TcpStream, Vec<u8>)> {
    let _permit = gate.acquire().await.expect("semaphore");
    let mut s = connect(addr, src).await?;
    let rest = tokio::time::timeout(Duration::from_secs(10), handshake(&mut s))
        .await
        .map_err(|_| err("handshake timed out"))??;
    Ok((s, rest))
}

/// The traffic of one connection: `depth` messages in flight, one more per echo, until `limit`
/// echoes (or forever). `frames` holds `depth + 1` copies of the frame: the bytes still to send
/// are always one slice of it, however a write was cut.
async fn pump(
    s: &TcpStream,
    rest: &[u8],
    frames: &[u8],
    flen: usize,
    payload: usize,
    depth: usize,
    limit: Option<u64>,
) -> io::Result<()> {
    let mut parser = Parser::new(payload);
    let mut buf = vec![0u8; READ_BUF].into_boxed_slice();
    let first = limit.map_or(depth as u64, |m| m.min(depth as u64));
    let mut sent = first;
    let mut received = 0u64;
    let mut pend = first as usize * flen;
    let mut pos = 0usize;
    let on_echoes = |k: u64, sent: &mut u64, pend: &mut usize| {
        if k == 0 {
            return;
        }
        ECHOES.fetch_add(k, Ordering::Relaxed);
        let more = limit.map_or(k, |m| k.min(m - *sent));
        *sent += more;
        *pend += more as usize * flen;
    };
    let k = parser.feed(rest)?;
    received += k;
    on_echoes(k, &mut sent, &mut pend);
    loop {
        if limit.is_some_and(|m| received >= m) {
            return Ok(());
        }
        let interest = if pend > 0 {
            Interest::READABLE | Interest::WRITABLE
        } else {
            Interest::READABLE
        };
        let ready = s.ready(interest).await?;
        if ready.is_readable() {
            match s.try_read(&mut buf) {
                Ok(0) => return Err(err("the server closed the connection")),
                Ok(n) => {
                    let k = parser.feed(&buf[..n])?;
                    if parser.closed {
                        return Err(err("the server sent a close frame"));
                    }
                    received += k;
                    on_echoes(k, &mut sent, &mut pend);
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
        if pend > 0 && ready.is_writable() {
            match s.try_write(&frames[pos..pos + pend]) {
                Ok(n) => {
                    pend -= n;
                    pos = (pos + n) % flen;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Err(e),
            }
        }
    }
}

/// Close handshake: our close frame, the server's, then our FIN and the server's.
async fn close(s: &mut TcpStream, payload: usize) -> io::Result<()> {
    s.write_all(&close_frame()).await?;
    let mut parser = Parser::new(payload);
    let mut buf = [0u8; 4096];
    let work = async {
        loop {
            let n = s.read(&mut buf).await?;
            if n == 0 {
                return Ok(());
            }
            parser.feed(&buf[..n])?;
            if parser.closed {
                parser.closed = false;
                s.shutdown().await?;
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(10), work)
        .await
        .map_err(|_| err("close handshake timed out"))?
}

// ---------------------------------------------------------------------------------------------
// Modes

struct Opts {
    addr: SocketAddr,
    connections: usize,
    payload: usize,
    depth: usize,
    messages: Option<u64>,
    seconds: f64,
    warmup: f64,
    tsv: bool,
    idle: Option<usize>,
    hold: Option<f64>,
    soak: bool,
    wave: usize,
    source_ips: usize,
    concurrency: usize,
}

fn usage() -> ! {
    eprintln!(
        "usage: loadgen [--addr A] [--connections N] [--payload BYTES] [--depth D] \
         (--seconds S [--warmup W] | --messages M) [--format json|tsv] [--source-ips K]\n       \
         loadgen --idle N [--hold SECONDS]\n       \
         loadgen --soak [--connections N] [--wave W] [--payload BYTES]"
    );
    std::process::exit(2)
}

fn parse_args() -> Opts {
    let mut o = Opts {
        addr: "127.0.0.1:9001".parse().unwrap(),
        connections: 1,
        payload: 16,
        depth: 1,
        messages: None,
        seconds: 3.0,
        warmup: 1.0,
        tsv: false,
        idle: None,
        hold: None,
        soak: false,
        wave: 1000,
        source_ips: 1,
        concurrency: 100,
    };
    let mut args = std::env::args().skip(1);
    fn val<T: std::str::FromStr>(v: Option<String>) -> T {
        v.and_then(|v| v.parse().ok()).unwrap_or_else(|| usage())
    }
    let mut connections_given = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => o.addr = val(args.next()),
            "--connections" => {
                o.connections = val(args.next());
                connections_given = true;
            }
            "--payload" => o.payload = val(args.next()),
            "--depth" => o.depth = val(args.next()),
            "--messages" => o.messages = Some(val(args.next())),
            "--seconds" => o.seconds = val(args.next()),
            "--warmup" => o.warmup = val(args.next()),
            "--format" => match args.next().as_deref() {
                Some("tsv") => o.tsv = true,
                Some("json") => o.tsv = false,
                _ => usage(),
            },
            "--idle" => o.idle = Some(val(args.next())),
            "--hold" => o.hold = Some(val(args.next())),
            "--soak" => o.soak = true,
            "--wave" => o.wave = val(args.next()),
            "--source-ips" => o.source_ips = val(args.next()),
            "--connect-concurrency" => o.concurrency = val(args.next()),
            _ => usage(),
        }
    }
    if o.soak && !connections_given {
        o.connections = 100_000;
    }
    if o.depth == 0 || o.wave == 0 || o.concurrency == 0 || o.source_ips == 0 {
        usage();
    }
    o
}

fn main() {
    let o = parse_args();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let code = if let Some(n) = o.idle {
        rt.block_on(idle(&o, n))
    } else if o.soak {
        rt.block_on(soak(&o))
    } else {
        rt.block_on(traffic(&o))
    };
    let _ = io::stdout().flush();
    // Open connections are dropped with the process, without a close handshake.
    std::process::exit(code);
}

async fn traffic(o: &Opts) -> i32 {
    let frame = client_frame(0x2, &payload_bytes(o.payload));
    let flen = frame.len();
    let frames: &'static [u8] = frame.repeat(o.depth + 1).leak();
    let gate = Arc::new(Semaphore::new(o.concurrency));
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..o.connections {
        let (addr, gate) = (o.addr, gate.clone());
        let (payload, depth, limit) = (o.payload, o.depth, o.messages);
        let src = source_ip(i, o.source_ips);
        tasks.spawn(async move {
            let r = async {
                let (mut s, rest) = open(addr, src, &gate).await?;
                CONNECTED.fetch_add(1, Ordering::Relaxed);
                pump(&s, &rest, frames, flen, payload, depth, limit).await?;
                if limit.is_some() {
                    close(&mut s, payload).await?;
                }
                Ok::<_, io::Error>(())
            }
            .await;
            if let Err(e) = &r {
                record_error(e);
            }
        });
    }

    let (messages, seconds) = if o.messages.is_some() {
        while tasks.join_next().await.is_some() {}
        (
            ECHOES.load(Ordering::Relaxed),
            started.elapsed().as_secs_f64(),
        )
    } else {
        // Every connection open (or failed), then warm up, then measure.
        while CONNECTED.load(Ordering::Relaxed) + (ERRORS.load(Ordering::Relaxed) as usize)
            < o.connections
        {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        tokio::time::sleep(Duration::from_secs_f64(o.warmup)).await;
        let (c0, t0) = (ECHOES.load(Ordering::Relaxed), Instant::now());
        tokio::time::sleep(Duration::from_secs_f64(o.seconds)).await;
        let (c1, t1) = (ECHOES.load(Ordering::Relaxed), Instant::now());
        (c1 - c0, (t1 - t0).as_secs_f64())
    };
    let errors = ERRORS.load(Ordering::Relaxed);
    let rate = messages as f64 / seconds;
    let mode = if o.messages.is_some() {
        "count"
    } else {
        "timed"
    };
    if o.tsv {
        println!(
            "{mode}\t{}\t{}\t{}\t{messages}\t{seconds:.3}\t{rate:.0}\t{errors}",
            o.connections, o.payload, o.depth
        );
    } else {
        println!(
            "{{\"mode\":\"{mode}\",\"connections\":{},\"payload\":{},\"depth\":{},\
             \"messages\":{messages},\"seconds\":{seconds:.3},\"msgs_per_s\":{rate:.0},\
             \"errors\":{errors}}}",
            o.connections, o.payload, o.depth
        );
    }
    if let Some(e) = FIRST_ERROR.lock().unwrap().as_ref() {
        eprintln!("loadgen: {errors} connection(s) failed; first: {e}");
    }
    i32::from(errors > 0)
}

async fn idle(o: &Opts, n: usize) -> i32 {
    let gate = Arc::new(Semaphore::new(o.concurrency));
    let mut tasks = tokio::task::JoinSet::new();
    for i in 0..n {
        let (addr, src, gate) = (o.addr, source_ip(i, o.source_ips), gate.clone());
        tasks.spawn(async move { open(addr, src, &gate).await });
    }
    let mut conns = Vec::with_capacity(n);
    while let Some(r) = tasks.join_next().await {
        match r.expect("task") {
            Ok((s, _)) => conns.push(s),
            Err(e) => {
                eprintln!("loadgen: idle connection failed: {e}");
                return 1;
            }
        }
    }
    println!("ready {}", conns.len());
    let _ = io::stdout().flush();
    match o.hold {
        Some(secs) => tokio::time::sleep(Duration::from_secs_f64(secs)).await,
        None => {
            let _ = tokio::task::spawn_blocking(|| {
                let _ = io::copy(&mut io::stdin(), &mut io::sink());
            })
            .await;
        }
    }
    drop(conns);
    0
}

/// One soak connection: open, handshake, one message and its echo checked, close handshake.
async fn soak_one(
    addr: SocketAddr,
    src: Option<IpAddr>,
    gate: &Semaphore,
    frame: &[u8],
    expect: &[u8],
) -> io::Result<()> {
    let ctx = |step: &'static str| move |e: io::Error| err(format!("{step}: {e}"));
    let (mut s, rest) = open(addr, src, gate).await.map_err(ctx("open"))?;
    if !rest.is_empty() {
        return Err(err("bytes after the 101"));
    }
    s.write_all(frame).await.map_err(ctx("send"))?;
    read_echo(&mut s, expect).await.map_err(ctx("echo"))?;
    close(&mut s, expect.len()).await.map_err(ctx("close"))
}

/// Reads one echo: header, then payload, compared byte for byte.
async fn read_echo(s: &mut TcpStream, expect: &[u8]) -> io::Result<()> {
    let mut h = [0u8; 10];
    s.read_exact(&mut h[..2]).await?;
    if h[0] != 0x82 || h[1] & 0x80 != 0 {
        return Err(err(format!(
            "unexpected echo header {:02x} {:02x}",
            h[0], h[1]
        )));
    }
    let len = match h[1] & 0x7f {
        126 => {
            s.read_exact(&mut h[2..4]).await?;
            u16::from_be_bytes([h[2], h[3]]) as usize
        }
        127 => {
            s.read_exact(&mut h[2..10]).await?;
            u64::from_be_bytes(h[2..10].try_into().unwrap()) as usize
        }
        n => n as usize,
    };
    if len != expect.len() {
        return Err(err(format!("echo of {len} bytes, sent {}", expect.len())));
    }
    let mut got = vec![0u8; len];
    s.read_exact(&mut got).await?;
    if got != expect {
        return Err(err("echo differs from the message"));
    }
    Ok(())
}

async fn soak(o: &Opts) -> i32 {
    let expect: Arc<[u8]> = payload_bytes(o.payload).into();
    let frame: Arc<[u8]> = client_frame(0x2, &expect).into();
    // Connects and handshakes are limited to --connect-concurrency at a time, far under the
    // servers' listen backlog, so no SYN is dropped (a dropped SYN costs a 1 s retransmit).
    let gate = Arc::new(Semaphore::new(o.concurrency));
    let started = Instant::now();
    let (mut ok, mut failed) = (0usize, 0usize);
    let mut first_error: Option<String> = None;
    let mut done = 0usize;
    let mut next_report = Instant::now() + Duration::from_secs(5);
    while done < o.connections {
        let wave = o.wave.min(o.connections - done);
        let mut tasks = tokio::task::JoinSet::new();
        for i in done..done + wave {
            let (addr, src) = (o.addr, source_ip(i, o.source_ips));
            let (gate, frame, expect) = (gate.clone(), frame.clone(), expect.clone());
            tasks.spawn(async move {
                let fut = soak_one(addr, src, &gate, &frame, &expect);
                tokio::time::timeout(Duration::from_secs(30), fut)
                    .await
                    .unwrap_or_else(|_| Err(err("connection timed out")))
            });
        }
        while let Some(r) = tasks.join_next().await {
            match r.expect("task") {
                Ok(()) => ok += 1,
                Err(e) => {
                    failed += 1;
                    first_error.get_or_insert_with(|| e.to_string());
                }
            }
        }
        done += wave;
        if Instant::now() >= next_report {
            eprintln!(
                "loadgen: soak {done}/{} connections, {failed} failed",
                o.connections
            );
            next_report = Instant::now() + Duration::from_secs(5);
        }
    }
    let secs = started.elapsed().as_secs_f64();
    println!(
        "{{\"mode\":\"soak\",\"connections\":{},\"ok\":{ok},\"failed\":{failed},\
         \"seconds\":{secs:.3},\"connections_per_s\":{:.0}}}",
        o.connections,
        o.connections as f64 / secs
    );
    if let Some(e) = first_error {
        eprintln!("loadgen: first soak failure: {e}");
    }
    i32::from(failed > 0)
}
