//! Servers and helpers shared by the integration tests: echo servers on real loopback sockets,
//! one per adapter, each in its own thread.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use websock::proto::handshake::server::Accept;
use websock::{Config, Error, Message};

pub fn config() -> Config {
    Config::default()
        .max_message_size(64 << 20)
        .close_timeout(Duration::from_secs(2))
}

/// A tokio echo server (multi-threaded runtime on its own thread). Returns its address.
pub fn tokio_echo_server(config: Config) -> SocketAddr {
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            loop {
                let (tcp, _) = listener.accept().await.unwrap();
                let config = config.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) =
                        websock::tokio::accept_with(tcp, config, |_| Ok(Accept::new())).await
                    else {
                        return;
                    };
                    while let Some(Ok(msg)) = ws.recv().await {
                        if msg.is_data() && ws.send(msg).await.is_err() {
                            return;
                        }
                    }
                });
            }
        });
    });
    rx.recv().unwrap()
}

/// A blocking echo server, a thread per connection. Returns its address.
pub fn sync_echo_server(config: Config) -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming() {
            let Ok(tcp) = tcp else { continue };
            let config = config.clone();
            std::thread::spawn(move || {
                let Ok(mut ws) =
                    websock::sync::accept_with_config(tcp, config, |_| Ok(Accept::new()))
                else {
                    return;
                };
                loop {
                    match ws.read() {
                        Ok(m) if m.is_data() => {
                            if ws.send(m).is_err() {
                                return;
                            }
                        }
                        Ok(_) => {}
                        Err(Error::ConnectionClosed) | Err(_) => return,
                    }
                }
            });
        }
    });
    addr
}

/// Payloads of the sizes the issue names, text and binary.
pub fn payloads() -> Vec<Message> {
    let mut out = Vec::new();
    for len in [0usize, 125, 126, 65535, 65536, 16 << 20] {
        let bin: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
        out.push(Message::Binary(bin.into()));
        let text: String = (0..len).map(|i| (b'a' + (i % 26) as u8) as char).collect();
        out.push(Message::text(text));
    }
    out
}
