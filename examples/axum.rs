//! An axum app whose `/ws` route accepts WebSocket upgrades with websock (not axum's own `ws`
//! feature) and echoes every text and binary message.
//!
//! ```text
//! cargo run --example axum --features hyper -- [--addr 127.0.0.1:9020]
//! ```
//!
//! The handler takes the raw request (axum's `Request` is an `http::Request` that carries hyper's
//! upgrade), lets [`websock::hyper::upgrade`] judge it with the core's rules, returns the `101`
//! (or the refusal: `426` for a wrong version or a plain GET, `400` for a bad key...) and runs
//! the WebSocket in a task once hyper hands the connection over.

use std::net::SocketAddr;

use axum::body::Body;
use axum::extract::Request;
use axum::response::Response;
use axum::routing::any;
use axum::Router;
use websock::hyper::{upgrade, Upgrade};
use websock::proto::handshake::server::Accept;
use websock::{Config, Error};

/// The app: one route, `/ws`, for every method (the core answers anything but GET with 405).
pub fn app() -> Router {
    Router::new().route("/ws", any(ws))
}

async fn ws(mut req: Request) -> Response {
    match upgrade(&mut req, Config::default(), |_| Ok(Accept::new())) {
        Ok((response, upgrade)) => {
            tokio::spawn(async move {
                if let Err(e) = echo(upgrade).await {
                    eprintln!("connection ended: {e}");
                }
            });
            response.map(Body::new)
        }
        Err(refused) => {
            eprintln!("{refused}");
            refused.into_response().map(Body::new)
        }
    }
}

async fn echo(upgrade: Upgrade) -> Result<(), Error> {
    let mut ws = upgrade.await?;
    while let Some(msg) = ws.recv().await {
        let msg = msg?;
        if msg.is_data() {
            ws.send(msg).await?;
        }
    }
    Ok(())
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
