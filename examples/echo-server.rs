//! An echo server: every text and binary message comes back as the same type.
//!
//! ```text
//! cargo run --release --example echo-server --features hyper,rustls,tracing -- [--addr 127.0.0.1:9001]
//!     [--sync] [--no-deflate] [--tls-cert cert.pem --tls-key key.pem | --tls-self-signed]
//! ```
//!
//! The tokio adapter by default, on a multi-thread runtime with one worker per CPU
//! (`--threads N` for another count); `--sync` uses the blocking one with a thread per
//! connection.
//! The tokio server speaks HTTP/1.1 and HTTP/2 on the same port: a client that opens with the
//! HTTP/2 preface (h2c, prior knowledge) is served by hyper with the extended CONNECT protocol
//! on, so its WebSockets arrive as RFC 8441 streams. With `--tls-cert`/`--tls-key` (PEM) or
//! `--tls-self-signed` (a certificate for localhost made at start), it serves TLS instead,
//! with ALPN `h2` and `http/1.1`: `https://` for the page and `wss://`. Each WebSocket's log
//! line says what it arrived on: `http/1.1`, `http/1.1+tls` or `h2`. Each connection is also a
//! `tracing` span (`RUST_LOG=websock=debug` shows its handshake, opening and close).
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

/// Echoes every data message until the connection ends; returns how many it echoed.
async fn echo<S>(ws: &mut websock::tokio::WebSocketStream<S>, count: &mut u64) -> Result<(), Error>
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    while let Some(msg) = ws.recv().await {
        let m = msg?;
        if m.is_data() {
            *count += 1;
            ws.send(m).await?;
        }
    }
    Ok(())
}

fn log_open(id: u64, peer: SocketAddr, over: &str, path: &str) {
    eprintln!("conn {id} {peer}: WebSocket over {over} on {path}");
}

/// HTTP/1.1, on TCP or TLS: websock's own handshake (the page for a plain GET).
async fn serve_http1<S>(io: S, peer: SocketAddr, over: &'static str)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin,
{
    let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    let started = Instant::now();
    let mut count = 0u64;
    let mut path = String::new();
    let result = async {
        let choose = |req: &Request| {
            path = req.path().to_string();
            route(req)
        };
        let mut ws = match websock::tokio::accept_with(io, config(), choose).await? {
            Outcome::WebSocket(ws) => ws,
            Outcome::Responded(status) => return Ok(Some(status)),
        };
        ws.span().record("peer", peer.to_string());
        log_open(id, peer, over, &path);
        echo(&mut ws, &mut count).await.map(|()| None)
    }
    .await;
    log_end(id, peer, started, count, &describe(&result));
}

/// HTTP/2 (h2c with prior knowledge, or TLS with ALPN h2): hyper serves the connection with
/// the extended CONNECT protocol enabled, and each `:protocol websocket` stream is a WebSocket
/// (RFC 8441) judged by the same `route`.
async fn serve_h2<S>(io: S, peer: SocketAddr)
where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    use hyper_util::rt::{TokioExecutor, TokioIo};
    let service =
        hyper::service::service_fn(move |mut req: hyper::Request<hyper::body::Incoming>| {
            let path = req.uri().path().to_string();
            let answer = match websock::hyper::upgrade(&mut req, config(), route) {
                Ok((response, upgrade)) => {
                    tokio::spawn(async move {
                        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
                        let (started, mut count) = (Instant::now(), 0u64);
                        let result = async {
                            let mut ws = upgrade.await?;
                            log_open(id, peer, "h2", &path);
                            echo(&mut ws, &mut count).await.map(|()| None)
                        }
                        .await;
                        log_end(id, peer, started, count, &describe(&result));
                    });
                    response
                }
                // The page, a 404, or a refusal by the rules, as an HTTP/2 response.
                Err(refused) => {
                    if websock::hyper::is_upgrade_request(&req) {
                        eprintln!("h2 {peer}: {} {path}: {refused}", req.method());
                    }
                    refused.into_response()
                }
            };
            async move { Ok::<_, std::convert::Infallible>(answer) }
        });
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    // Pings find a peer that went away; hyper's own limits bound streams and headers.
    h2.enable_connect_protocol()
        .timer(hyper_util::rt::TokioTimer::new())
        .keep_alive_interval(std::time::Duration::from_secs(20))
        .keep_alive_timeout(std::time::Duration::from_secs(20));
    if let Err(e) = h2.serve_connection(TokioIo::new(io), service).await {
        eprintln!("h2 {peer}: connection ended: {e}");
    }
}

/// How long a client may take over the TLS handshake, or over the HTTP/2 preface (the
/// WebSocket handshake has the library's own `Config::handshake_timeout`).
const HANDSHAKE_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The HTTP/2 connection preface a client with prior knowledge starts with (RFC 9113 3.4).
const PREFACE: &[u8] = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";

/// Whether the client opened with the HTTP/2 preface. Looks without taking bytes, and stops
/// at the first byte that differs, so an HTTP/1.1 request is told apart at once.
async fn starts_h2(tcp: &tokio::net::TcpStream) -> bool {
    let mut buf = [0u8; PREFACE.len()];
    let deadline = Instant::now() + HANDSHAKE_TIMEOUT;
    let mut pause = std::time::Duration::from_millis(1);
    loop {
        let n = match tcp.peek(&mut buf).await {
            Ok(0) | Err(_) => return false,
            Ok(n) => n,
        };
        if buf[..n] != PREFACE[..n] {
            return false;
        }
        if n == PREFACE.len() {
            return true;
        }
        if Instant::now() > deadline {
            return false;
        }
        // Part of the preface so far: wait for the rest (peek does not wait for more), backing
        // off so that a client that stalls mid-preface costs a few wake-ups, not a busy loop.
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(std::time::Duration::from_millis(250));
    }
}

async fn serve_tokio(tcp: tokio::net::TcpStream, peer: SocketAddr, tls: Option<Tls>) {
    let _ = tcp.set_nodelay(true);
    match tls {
        None if starts_h2(&tcp).await => serve_h2(tcp, peer).await,
        None => serve_http1(tcp, peer, "http/1.1").await,
        Some(acceptor) => {
            let stream = match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(tcp)).await {
                Ok(Ok(stream)) => stream,
                Ok(Err(e)) => return eprintln!("tls {peer}: handshake failed: {e}"),
                Err(_) => {
                    return eprintln!("tls {peer}: no TLS handshake within {HANDSHAKE_TIMEOUT:?}")
                }
            };
            if stream.get_ref().1.alpn_protocol() == Some(b"h2") {
                serve_h2(stream, peer).await;
            } else {
                serve_http1(stream, peer, "http/1.1+tls").await;
            }
        }
    }
}

type Tls = tokio_rustls::TlsAcceptor;

/// The TLS acceptor for `--tls-cert`/`--tls-key` (PEM), or `--tls-self-signed`: ALPN `h2`
/// first, then `http/1.1`.
fn tls_acceptor(cert: Option<&str>, key: Option<&str>, self_signed: bool) -> std::io::Result<Tls> {
    use rustls::pki_types::pem::PemObject;
    use rustls::pki_types::{CertificateDer, PrivateKeyDer};
    let bad = |e: &dyn std::fmt::Display| std::io::Error::other(e.to_string());
    let (certs, key) = match (cert, key) {
        (Some(cert), Some(key)) => (
            CertificateDer::pem_file_iter(cert)
                .map_err(|e| bad(&e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| bad(&e))?,
            PrivateKeyDer::from_pem_file(key).map_err(|e| bad(&e))?,
        ),
        _ if self_signed => {
            let names = ["localhost", "127.0.0.1", "::1"].map(String::from).to_vec();
            let ck = rcgen::generate_simple_self_signed(names).map_err(|e| bad(&e))?;
            let key = PrivateKeyDer::Pkcs8(ck.signing_key.serialize_der().into());
            (vec![ck.cert.der().clone()], key)
        }
        _ => return Err(bad(&"--tls-cert and --tls-key go together")),
    };
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| bad(&e))?
        .with_no_client_auth()
        .with_single_cert(certs, key)
        .map_err(|e| bad(&e))?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(tokio_rustls::TlsAcceptor::from(std::sync::Arc::new(config)))
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

const USAGE: &str = "usage: echo-server [--addr HOST:PORT] [--sync] [--no-deflate] \
    [--tls-cert FILE --tls-key FILE | --tls-self-signed] [--threads N]";

/// Logs through `tracing` to standard error: `RUST_LOG` as the filter (`warn` when unset;
/// `RUST_LOG=websock=debug` for every connection's life, `trace` for every message).
fn init_tracing() {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
}

fn main() -> std::io::Result<()> {
    memory::release_memory_promptly();
    init_tracing();
    let mut addr = "127.0.0.1:9001".to_string();
    let mut sync = false;
    let (mut cert, mut key, mut self_signed) = (None, None, false);
    let mut threads = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--addr" => addr = args.next().expect("--addr needs a value"),
            "--sync" => sync = true,
            "--no-deflate" => DEFLATE.store(false, Ordering::Relaxed),
            "--tls-cert" => cert = Some(args.next().expect("--tls-cert needs a file")),
            "--tls-key" => key = Some(args.next().expect("--tls-key needs a file")),
            "--tls-self-signed" => self_signed = true,
            "--threads" => {
                threads = args
                    .next()
                    .and_then(|v| v.parse().ok())
                    .filter(|&n: &usize| n > 0);
                if threads.is_none() {
                    eprintln!("--threads needs a number of worker threads, 1 or more");
                    std::process::exit(2);
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => {
                eprintln!("unknown argument {other:?}; {USAGE}");
                std::process::exit(2);
            }
        }
    }
    let wants_tls = cert.is_some() || key.is_some() || self_signed;
    if sync {
        if wants_tls {
            eprintln!("--sync serves plain HTTP/1.1 only; TLS and HTTP/2 are the tokio server's");
            std::process::exit(2);
        }
        let listener = std::net::TcpListener::bind(&addr)?;
        println!("listening on ws://{}", listener.local_addr()?);
        for stream in listener.incoming() {
            let Ok(tcp) = stream else { continue };
            let Ok(peer) = tcp.peer_addr() else { continue };
            std::thread::spawn(move || serve_sync(tcp, peer));
        }
        return Ok(());
    }
    let tls = if wants_tls {
        Some(tls_acceptor(cert.as_deref(), key.as_deref(), self_signed)?)
    } else {
        None
    };
    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = threads {
        rt.worker_threads(n);
    }
    let rt = rt.enable_all().build()?;
    rt.block_on(async {
        let listener = tokio::net::TcpListener::bind(&addr).await?;
        let local = listener.local_addr()?;
        match tls {
            Some(_) => println!(
                "listening on wss://{local} (https://{local}/ for the page; HTTP/2 and HTTP/1.1)"
            ),
            None => {
                println!("listening on ws://{local} (HTTP/1.1, and HTTP/2 with prior knowledge)")
            }
        }
        loop {
            match listener.accept().await {
                Ok((tcp, peer)) => {
                    tokio::spawn(serve_tokio(tcp, peer, tls.clone()));
                }
                Err(e) => eprintln!("accept failed: {e}"),
            }
        }
    })
}
