//! Servers and helpers shared by the integration tests: echo servers on real loopback sockets,
//! one per adapter, each in its own thread.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::time::Duration;

use websock::proto::handshake::server::Accept;
use websock::{Config, Message, Outcome};

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
                    let accepted = websock::tokio::accept_with(tcp, config, |_| Ok(Accept::new()));
                    let Ok(Outcome::WebSocket(mut ws)) = accepted.await else {
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
                if let Ok(Outcome::WebSocket(mut ws)) =
                    websock::sync::accept_with(tcp, config, |_| Ok(Accept::new()))
                {
                    sync_echo(&mut ws);
                }
            });
        }
    });
    addr
}

/// Echoes data messages on a blocking WebSocket until the connection ends.
pub fn sync_echo<S: websock::sync::Stream>(ws: &mut websock::sync::WebSocket<S>) {
    loop {
        match ws.recv() {
            Ok(m) if m.is_data() => {
                if ws.send(m).is_err() {
                    return;
                }
            }
            Ok(_) => {}
            Err(_) => return,
        }
    }
}

/// A self-signed certificate for localhost, made at test time: the server's config and a client
/// config trusting it.
#[cfg(feature = "rustls")]
pub fn tls_configs() -> (
    std::sync::Arc<rustls::ServerConfig>,
    std::sync::Arc<rustls::ClientConfig>,
) {
    use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};
    use std::sync::Arc;
    let provider = || Arc::new(rustls::crypto::ring::default_provider());
    let ck = rcgen::generate_simple_self_signed(vec!["localhost".to_string()]).unwrap();
    let cert: CertificateDer<'static> = ck.cert.der().clone();
    let key = PrivateKeyDer::Pkcs8(PrivatePkcs8KeyDer::from(ck.signing_key.serialize_der()));
    let server = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_no_client_auth()
        .with_single_cert(vec![cert.clone()], key)
        .unwrap();
    let mut roots = rustls::RootCertStore::empty();
    roots.add(cert).unwrap();
    let client = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    (Arc::new(server), Arc::new(client))
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
