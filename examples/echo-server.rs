//! An echo server: every text and binary message comes back as the same type.
//!
//! ```text
//! cargo run --release --example echo-server -- [--addr 127.0.0.1:9001] [--sync] [--no-deflate]
//! ```
//!
//! The tokio adapter by default; `--sync` uses the blocking one with a thread per connection.
//! permessage-deflate is accepted when a client offers it, unless `--no-deflate`.
//! A plain `GET /` (no Upgrade header) gets a small page that talks back over WebSocket.
//! The library's default limits and timers, which are meant for servers facing the internet:
//! messages up to 16 MiB, a keepalive ping after 20 s without a frame and 20 s for its answer,
//! and a peer that stops reading dropped after 30 s (see `Config`). One log line per
//! connection on standard error.

#[path = "common/memory.rs"]
mod memory;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Instant;

use websock::proto::handshake::server::{Accept, Request};
use websock::proto::handshake::Response;
use websock::{Config, Error, Message, Outcome};

static NEXT_ID: AtomicU64 = AtomicU64::new(1);
static DEFLATE: AtomicBool = AtomicBool::new(true);

const PAGE: &str = include_str!("echo-page.html");

fn config() -> Config {
    // Level 1: an echo server is about throughput; the ratio is close to level 6 for text.
    let mut deflate = websock::proto::ext::deflate::DeflateConfig::enabled().level(1);
    deflate.enabled = DEFLATE.load(Ordering::Relaxed);
    Config::default().deflate(deflate)
}

/// Serves the page to plain HTTP requests; accepts WebSocket upgrades on any path.
fn route(req: &Request) -> Result<Accept, Response> {
    if !req.is_upgrade() && req.method() == "GET" {
        let status = if req.path() == "/" { 200 } else { 404 };
        let body = if status == 200 { PAGE } else { "not found\n" };
        let mut resp = Response::new(status).with_header(
            "Content-Type",
            if status == 200 {
                "text/html; charset=utf-8"
            } else {
                "text/plain"
            },
        );
        resp.body = body.as_bytes().to_vec().into();
        return Err(resp);
    }
    Ok(Accept::new())
}

fn log_end(id: u64, peer: SocketAddr, started: Instant, messages: u64, how: &str) {
    eprintln!(
        "conn {id} {peer}: {messages} messages echoed in {:.1?}, {how}",
        started.elapsed()
    );
}

fn describe(r: &Result<Option<u16>, Error>) -> String {
    match r {
        Ok(None) => "closed cleanly".to_string(),
        Ok(Some(status)) => format!("plain HTTP request answered with {status}"),
        Err(Error::Handshake(e)) => format!("handshake: {e}"),
        Err(e) => format!("ended: {e}"),
    }
}

async fn serve_tokio(tcp: tokio::net::TcpStream, peer: SocketAddr) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let mut count = 0u64;
    let _ = tcp.set_nodelay(true);
    let result = async {
        let mut ws = match websock::tokio::accept_with(tcp, config(), route).await? {
            Outcome::WebSocket(ws) => ws,
            Outcome::Responded(status) => return Ok(Some(status)),
        };
        while let Some(msg) = ws.recv().await {
            let m = msg?;
            if m.is_data() {
                count += 1;
                ws.send(m).await?;
            }
        }
        Ok(None)
    }
    .await;
    log_end(id, peer, started, count, &describe(&result));
}

fn serve_sync(tcp: std::net::TcpStream, peer: SocketAddr) {
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let mut count = 0u64;
    let _ = tcp.set_nodelay(true);
    let result = (|| {
        let mut ws = match websock::sync::accept_with(tcp, config(), route)? {
            Outcome::WebSocket(ws) => ws,
            Outcome::Responded(status) => return Ok(Some(status)),
        };
        loop {
            match ws.recv() {
                Ok(m @ (Message::Text(_) | Message::Binary(_))) => {
                    count += 1;
                    ws.send(m)?;
                }
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return Ok(None),
                Err(e) => return Err(e),
            }
        }
    })();
    log_end(id, peer, started, count, &describe(&result));
}

fn main() -> std::io::Result<()> {
    memory::release_memory_promptly();
    let mut addr = "127.0.0.1:9001".to_string();
    let mut sync = false;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--sync" => sync = true,
            "--no-deflate" => DEFLATE.store(false, Ordering::Relaxed),
            "-h" | "--help" => {
                println!("usage: echo-server [--addr HOST:PORT] [--sync] [--no-deflate]");
                return Ok(());
            }
            other => {
                eprintln!(
                    "unknown argument {other:?}; usage: echo-server [--addr HOST:PORT] [--sync]"
                );
                std::process::exit(2);
            }
        }
    }
    if sync {
        let listener = std::net::TcpListener::bind(&addr)?;
        println!("listening on ws://{}", listener.local_addr()?);
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let Ok(peer) = tcp.peer_addr() else { continue };
            std::thread::spawn(move || serve_sync(tcp, peer));
        }
        Ok(())
    } else {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .enable_all()
            .build()?;
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(&addr).await?;
            println!("listening on ws://{}", listener.local_addr()?);
            loop {
                match listener.accept().await {
                    Ok((tcp, peer)) => {
                        tokio::spawn(serve_tokio(tcp, peer));
                    }
                    Err(e) => eprintln!("accept failed: {e}"),
                }
            }
        })
    }
}
