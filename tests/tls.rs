//! TLS round trips with a certificate made at test time: the tokio client (`wss://` with our own
//! `rustls::ClientConfig`) against a tokio-rustls server, and the blocking client against a
//! server over `rustls::StreamOwned`.
#![cfg(feature = "rustls")]

mod common;

use websock::proto::handshake::client::ClientRequest;
use websock::{Config, Error, Message};

use common::tls_configs as configs;

#[tokio::test]
async fn tokio_wss_round_trip() {
    let (server_cfg, client_cfg) = configs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_cfg);
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let tls = acceptor.accept(tcp).await.unwrap();
        let mut ws = websock::tokio::accept(tls).await.unwrap();
        let mut n = 0;
        while let Some(msg) = ws.recv().await {
            let msg = msg.unwrap();
            if msg.is_data() {
                n += 1;
                ws.send(msg).await.unwrap();
            }
        }
        n
    });
    let req = ClientRequest::new(&format!("wss://localhost:{port}/secure")).unwrap();
    let mut ws = websock::tokio::connect_with(
        websock::Connect::request(req)
            .config(Config::default())
            .tls(client_cfg),
    )
    .await
    .unwrap();
    let big = Message::binary(vec![0x5a; 1 << 20]);
    for msg in [Message::text("over tls"), big] {
        ws.send(msg.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), msg);
    }
    ws.close(None).await.unwrap();
    assert!(matches!(ws.recv().await, Some(Ok(Message::Close(None)))));
    assert!(ws.recv().await.is_none());
    assert_eq!(server.await.unwrap(), 2);
}

#[test]
fn sync_wss_round_trip() {
    let (server_cfg, client_cfg) = configs();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let conn = rustls::ServerConnection::new(server_cfg).unwrap();
        let tls = rustls::StreamOwned::new(conn, tcp);
        let mut ws = websock::sync::accept(tls).unwrap();
        loop {
            match ws.recv() {
                Ok(m) if m.is_data() => ws.send(m).unwrap(),
                Ok(_) => {}
                Err(Error::ConnectionClosed) => return,
                Err(e) => panic!("{e}"),
            }
        }
    });
    let req = ClientRequest::new(&format!("wss://localhost:{port}/")).unwrap();
    let mut ws = websock::sync::connect_with(
        websock::Connect::request(req)
            .config(Config::default())
            .tls(client_cfg),
    )
    .unwrap();
    ws.send("hello tls").unwrap();
    assert_eq!(ws.recv().unwrap(), Message::text("hello tls"));
    ws.close(None).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Close(None));
    assert!(matches!(ws.recv(), Err(Error::ConnectionClosed)));
    server.join().unwrap();
}

/// A certificate the client does not trust fails the connection with an I/O error, not a hang.
#[tokio::test]
async fn untrusted_certificate_is_refused() {
    let (server_cfg, _) = configs();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let acceptor = tokio_rustls::TlsAcceptor::from(server_cfg);
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let _ = acceptor.accept(tcp).await;
    });
    let req = ClientRequest::new(&format!("wss://localhost:{port}/")).unwrap();
    let err =
        websock::tokio::connect_with(websock::Connect::request(req).config(Config::default()))
            .await
            .map(|_| ())
            .unwrap_err();
    assert!(matches!(err, Error::Io(_)), "{err:?}");
}
