//! Measures the memory an idle connection costs a websock server: the server's resident set
//! growth for N connections that completed the handshake and then sit idle, divided by N.
//!
//! ```text
//! cargo run --release --example idle-memory -- [--connections 10000] [--sync]
//! ```
//!
//! The clients run in a child process (raw TCP, a hand-written handshake), so only the server's
//! memory is counted. The tokio server runs on a current_thread runtime.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

fn rss_bytes() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|kb| kb.parse::<usize>().ok())
        .map_or(0, |kb| kb * 1024)
}

const REQUEST: &[u8] =
    b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
    Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n";

/// Child: open `n` connections, finish each handshake, report, then hold them until stdin ends.
fn clients(addr: SocketAddr, n: usize) {
    let mut conns = Vec::with_capacity(n);
    for _ in 0..n {
        let mut tcp = TcpStream::connect(addr).expect("connect");
        tcp.write_all(REQUEST).expect("write");
        let mut head = Vec::new();
        let mut byte = [0u8; 1];
        while !head.ends_with(b"\r\n\r\n") {
            tcp.read_exact(&mut byte).expect("read");
            head.push(byte[0]);
        }
        assert!(head.starts_with(b"HTTP/1.1 101"));
        conns.push(tcp);
    }
    println!("ready");
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
}

fn main() {
    let mut n = 10_000usize;
    let mut sync = false;
    let mut child: Option<(SocketAddr, usize)> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--connections" => n = args.next().and_then(|v| v.parse().ok()).expect("a number"),
            "--sync" => sync = true,
            "--clients" => {
                let addr = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .expect("an address");
                let count = args.next().and_then(|v| v.parse().ok()).expect("a number");
                child = Some((addr, count));
            }
            other => panic!("unknown argument {other:?}"),
        }
    }
    if let Some((addr, count)) = child {
        return clients(addr, count);
    }

    let accepted = Arc::new(AtomicUsize::new(0));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    let counter = accepted.clone();
    if sync {
        std::thread::spawn(move || {
            for tcp in listener.incoming() {
                let counter = counter.clone();
                std::thread::Builder::new()
                    .stack_size(64 << 10)
                    .spawn(move || {
                        let mut ws = websock::sync::accept(tcp.unwrap()).unwrap();
                        counter.fetch_add(1, Ordering::SeqCst);
                        while ws.recv().is_ok() {}
                    })
                    .unwrap();
            }
        });
    } else {
        listener.set_nonblocking(true).unwrap();
        std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::from_std(listener).unwrap();
                loop {
                    let (tcp, _) = listener.accept().await.unwrap();
                    let counter = counter.clone();
                    tokio::spawn(async move {
                        let mut ws = websock::tokio::accept(tcp).await.unwrap();
                        counter.fetch_add(1, Ordering::SeqCst);
                        while ws.recv().await.is_some() {}
                    });
                }
            });
        });
    }
    // Warm up allocator and runtime with one connection, then take the baseline.
    std::thread::sleep(Duration::from_millis(200));
    let before = rss_bytes();
    let mut child = Command::new(std::env::current_exe().unwrap())
        .args(["--clients", &addr.to_string(), &n.to_string()])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("spawn clients");
    let mut ready = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut ready)
        .unwrap();
    while accepted.load(Ordering::SeqCst) < n {
        std::thread::sleep(Duration::from_millis(10));
    }
    std::thread::sleep(Duration::from_millis(500));
    let after = rss_bytes();
    drop(child.stdin.take());
    let _ = child.wait();
    println!(
        "adapter={} connections={n} rss_before={before} rss_after={after} bytes_per_idle_connection={} size_of_connection={}",
        if sync { "sync (thread per connection, 64 KiB stacks)" } else { "tokio current_thread" },
        (after.saturating_sub(before)) / n,
        std::mem::size_of::<websock::Connection>(),
    );
}
