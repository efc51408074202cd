//! Echo load over HTTP/1.1 and over HTTP/2 (RFC 8441, h2c), against one echo server.
//!
//! ```text
//! h2echo --addr A --proto h1|h2 --websockets N [--per-connection K] --messages M --payload P
//! ```
//!
//! Opens N WebSockets: over HTTP/1.1 each on its own connection; over HTTP/2, K per HTTP/2
//! connection (K = N multiplexes them all on one, K = 1 gives each its own). Each WebSocket
//! sends a binary message of P bytes, waits for its echo, and repeats M times. Prints one TSV
//! line: proto, websockets, per connection, messages in all, seconds, messages per second.
//! The clients are websock's own (`websock::tokio::client` and `websock::hyper::H2Connection`),
//! so both protocols are driven by the same code but for the transport.
#![forbid(unsafe_code)]

use std::time::Instant;

use websock::hyper::H2Connection;
use websock::proto::handshake::client::ClientRequest;
use websock::{Config, Message};

fn arg(args: &[String], name: &str) -> Option<String> {
    let i = args.iter().position(|a| a == name)?;
    args.get(i + 1).cloned()
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let num = |name: &str, default: usize| {
        arg(&args, name).map_or(default, |v| v.parse().expect("a number"))
    };
    let addr = arg(&args, "--addr").expect("--addr");
    let proto = arg(&args, "--proto").unwrap_or_else(|| "h1".into());
    let n = num("--websockets", 1);
    let per = num("--per-connection", 1).max(1);
    let m = num("--messages", 10_000);
    let payload = num("--payload", 1024);
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    rt.block_on(async move {
        let url = format!("ws://{addr}/");
        let config = || Config::default().max_message_size(64 << 20);
        let mut sockets = Vec::new();
        match proto.as_str() {
            "h1" => {
                for _ in 0..n {
                    let tcp = tokio::net::TcpStream::connect(&addr)
                        .await
                        .expect("connect");
                    tcp.set_nodelay(true).expect("nodelay");
                    let req = ClientRequest::new(&url).expect("url");
                    let ws = websock::tokio::client(tcp, req, config())
                        .await
                        .expect("handshake");
                    sockets.push(Either::H1(ws));
                }
            }
            "h2" => {
                let mut h2 = None;
                for i in 0..n {
                    if i % per == 0 {
                        let tcp = tokio::net::TcpStream::connect(&addr)
                            .await
                            .expect("connect");
                        tcp.set_nodelay(true).expect("nodelay");
                        h2 = Some(H2Connection::handshake(tcp).await.expect("h2 handshake"));
                    }
                    let req = ClientRequest::new(&url).expect("url");
                    let ws = h2
                        .as_ref()
                        .unwrap()
                        .websocket(req, config())
                        .await
                        .expect("CONNECT");
                    sockets.push(Either::H2(ws));
                }
            }
            _ => panic!("--proto h1|h2"),
        }
        let body = bytes::Bytes::from(vec![7u8; payload]);
        let start = Instant::now();
        let tasks: Vec<_> = sockets
            .into_iter()
            .map(|mut ws| {
                let body = body.clone();
                tokio::spawn(async move {
                    for _ in 0..m {
                        ws.round_trip(Message::Binary(body.clone())).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.expect("echo task");
        }
        let secs = start.elapsed().as_secs_f64();
        let total = n * m;
        println!(
            "{proto}\t{n}\t{}\t{total}\t{secs:.3}\t{:.0}",
            if proto == "h1" { 1 } else { per.min(n) },
            total as f64 / secs
        );
    });
}

enum Either {
    H1(websock::tokio::WebSocketStream<tokio::net::TcpStream>),
    H2(websock::hyper::HyperWebSocket),
}

impl Either {
    async fn round_trip(&mut self, m: Message) {
        let len = m.as_payload().len();
        macro_rules! go {
            ($ws:expr) => {{
                $ws.send(m).await.expect("send");
                loop {
                    let got = $ws.recv().await.expect("open").expect("echo");
                    if got.is_data() {
                        assert_eq!(got.as_payload().len(), len);
                        break;
                    }
                }
            }};
        }
        match self {
            Either::H1(ws) => go!(ws),
            Either::H2(ws) => go!(ws),
        }
    }
}
