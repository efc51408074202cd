//! permessage-deflate end to end over loopback: negotiation in both adapters and every
//! client/server combination, with and without context takeover, and offers a server declines.
#![cfg(feature = "deflate")]

mod sans_io;

use std::net::SocketAddr;

use sans_io::noisy_text;

use websock::proto::ext::deflate::DeflateConfig;
use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::server::Accept;
use websock::{Config, Error, Message};

fn config(deflate: DeflateConfig) -> Config {
    Config::default().deflate(deflate)
}

fn sync_server(cfg: Config) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let cfg = cfg.clone();
            std::thread::spawn(move || {
                let mut ws = websock::sync::accept_with(tcp.unwrap(), cfg, |_| Ok(Accept::new()))
                    .unwrap()
                    .websocket()
                    .unwrap();
                let compressed = ws.connection().is_compressed();
                loop {
                    match ws.recv() {
                        // The first message asks whether compression is on.
                        Ok(Message::Text(t)) if t.as_str() == "compressed?" => {
                            ws.send(compressed.to_string()).unwrap()
                        }
                        Ok(m) if m.is_data() => ws.send(m).unwrap(),
                        Ok(_) => {}
                        Err(Error::ConnectionClosed) | Err(_) => return,
                    }
                }
            });
        }
    });
    addr
}

fn tokio_server(cfg: Config) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Runtime::new().unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let cfg = cfg.clone();
                tokio::spawn(async move {
                    let mut ws = websock::tokio::accept_with(tcp, cfg, |_| Ok(Accept::new()))
                        .await
                        .unwrap()
                        .websocket()
                        .unwrap();
                    let compressed = ws.connection().is_compressed();
                    while let Some(Ok(m)) = ws.recv().await {
                        match m {
                            Message::Text(t) if t.as_str() == "compressed?" => {
                                ws.send(compressed.to_string()).await.unwrap()
                            }
                            m if m.is_data() => ws.send(m).await.unwrap(),
                            _ => {}
                        }
                    }
                });
            }
        });
    });
    rx.recv().unwrap()
}

fn messages() -> Vec<Message> {
    let long = "websock compresses this text nicely. ".repeat(2000);
    vec![
        Message::text("small, sent plain"),
        Message::text(long.clone()),
        Message::binary(vec![7u8; 100_000]),
        Message::text("x"),
        Message::text(long),
        Message::binary(Vec::new()),
        // Past the work budget (256 KiB): compressed a budget at a time, sent fragmented.
        Message::text(noisy_text(300_000)),
        Message::binary(vec![3u8; 1 << 20]),
        Message::text("after the large ones"),
    ]
}

fn run_sync_client(addr: SocketAddr, cfg: Config) -> bool {
    let req = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let mut ws = websock::sync::connect_with(websock::Connect::request(req).config(cfg)).unwrap();
    ws.send("compressed?").unwrap();
    let server_says = ws.recv().unwrap();
    let ours = ws.connection().is_compressed();
    assert_eq!(
        server_says,
        Message::text(ours.to_string()),
        "both ends agree"
    );
    assert_eq!(ours, !ws.connection().extensions().names().is_empty());
    for m in messages() {
        ws.send(m.clone()).unwrap();
        assert_eq!(ws.recv().unwrap(), m);
    }
    ws.close(None).unwrap();
    while ws.recv().is_ok() {}
    ours
}

async fn run_tokio_client(addr: SocketAddr, cfg: Config) -> bool {
    let req = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let mut ws = websock::tokio::connect_with(websock::Connect::request(req).config(cfg))
        .await
        .unwrap();
    ws.send("compressed?").await.unwrap();
    let server_says = ws.recv().await.unwrap().unwrap();
    let ours = ws.connection().is_compressed();
    assert_eq!(server_says, Message::text(ours.to_string()));
    for m in messages() {
        ws.send(m.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), m);
    }
    ws.close(None).await.unwrap();
    while ws.recv().await.is_some() {}
    ours
}

/// Every client adapter against every server adapter, in each takeover mode and window size
/// combination that matters, with deflate on at both ends: it must be negotiated and work.
#[test]
fn every_combination_negotiates_and_round_trips() {
    let variants = [
        DeflateConfig::enabled(),
        DeflateConfig::enabled()
            .server_no_context_takeover(true)
            .client_no_context_takeover(true),
        DeflateConfig::enabled()
            .server_max_window_bits(9)
            .client_max_window_bits(10),
        DeflateConfig::enabled()
            .server_max_window_bits(8)
            .client_max_window_bits(8),
    ];
    let rt = tokio::runtime::Runtime::new().unwrap();
    for d in variants {
        let cfg = config(d.clone());
        for addr in [sync_server(cfg.clone()), tokio_server(cfg.clone())] {
            assert!(run_sync_client(addr, cfg.clone()), "{d:?}");
            assert!(rt.block_on(run_tokio_client(addr, cfg.clone())), "{d:?}");
        }
    }
}

/// Deflate on one end only: nothing is negotiated and everything still works.
#[test]
fn one_sided_deflate_is_declined_cleanly() {
    let on = config(DeflateConfig::enabled());
    let off = Config::default();
    let rt = tokio::runtime::Runtime::new().unwrap();
    assert!(!run_sync_client(sync_server(off.clone()), on.clone()));
    assert!(!rt.block_on(run_tokio_client(tokio_server(on), off)));
}
