//! An axum app whose `/ws` route accepts WebSockets with websock's extractor
//! (`websock::axum::WebSocketUpgrade`, not axum's own `ws` feature) and echoes every text and
//! binary message, over HTTP/1.1 and over HTTP/2 (RFC 8441) alike.
//!
//! ```text
//! cargo run --example axum --features axum -- [--addr 127.0.0.1:9020]
//! ```
//!
//! `axum::serve` speaks HTTP/1.1 and, with axum's `http2` feature, h2c with the extended
//! CONNECT protocol enabled; the route uses `any` because an HTTP/2 WebSocket is a CONNECT.
//! A request that is no WebSocket handshake gets `426`, a broken one the status its rule calls
//! for (`400` for a bad key, `405` for a POST).

use std::net::SocketAddr;

use axum::response::Response;
use axum::routing::any;
use axum::Router;
use websock::axum::WebSocketUpgrade;

/// The app: one route, `/ws`, for every method (GET for HTTP/1.1, CONNECT for HTTP/2).
pub fn app() -> Router {
    Router::new().route("/ws", any(ws))
}

async fn ws(ws: WebSocketUpgrade) -> Response {
    let version = ws.http_version();
    ws.protocols(["echo"]).on_upgrade(move |mut ws| async move {
        eprintln!("WebSocket over {version:?}");
        while let Some(Ok(msg)) = ws.recv().await {
            if msg.is_data() && ws.send(msg).await.is_err() {
                break;
            }
        }
    })
}

#[tokio::main]
async fn main() -> std::io::Result<()> {
    let mut addr: SocketAddr = "127.0.0.1:9020".parse().expect("default address");
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--addr" => {
                let value = args.next().unwrap_or_default();
                addr = value.parse().unwrap_or_else(|_| {
                    eprintln!("--addr wants HOST:PORT, got {value:?}");
                    std::process::exit(2)
                });
            }
            other => {
                eprintln!("unknown argument {other:?}; usage: axum [--addr HOST:PORT]");
                std::process::exit(2)
            }
        }
    }
    let listener = tokio::net::TcpListener::bind(addr).await?;
    println!("listening on ws://{}/ws", listener.local_addr()?);
    axum::serve(listener, app()).await
}
