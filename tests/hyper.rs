//! `websock::hyper` behind real servers on loopback: the axum example app (compiled in from
//! `examples/axum.rs`) and a plain hyper 1 server, reached by websock's tokio and blocking
//! clients, and by raw HTTP for the requests the core refuses.
#![cfg(all(feature = "axum", feature = "sync"))]

#[path = "../examples/axum.rs"]
#[allow(dead_code)]
mod axum_example;

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use websock::hyper::{is_upgrade_request, upgrade};
use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::server::Accept;
use websock::proto::handshake::Response;
use websock::{CloseFrame, Config, Error, HandshakeError, Message};

/// Runs `serve` on its own runtime in a thread, on a fresh loopback port, for the test's life.
fn spawn_server<F, Fut>(serve: F) -> SocketAddr
where
    F: FnOnce(tokio::net::TcpListener) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            tx.send(listener.local_addr().unwrap()).unwrap();
            serve(listener).await;
        });
    });
    rx.recv().unwrap()
}

/// The axum example app.
fn axum_server() -> SocketAddr {
    spawn_server(|listener| async move {
        axum::serve(listener, axum_example::app()).await.unwrap();
    })
}

/// A plain hyper server: subprotocol `chat` when offered, `Origin: http://evil.example` refused
/// with 403, permessage-deflate accepted when offered; echoes.
fn hyper_server() -> SocketAddr {
    async fn handle(
        mut req: hyper::Request<Incoming>,
    ) -> Result<hyper::Response<Full<Bytes>>, Error> {
        let choose = |r: &websock::proto::handshake::server::Request| {
            if r.origin() == Some("http://evil.example") {
                return Err(Response::reject(403, "origin not allowed\n"));
            }
            let mut accept = Accept::new().header("X-Served-By", "hyper");
            if r.protocols().contains(&"chat") {
                accept = accept.protocol("chat");
            }
            Ok(accept)
        };
        match upgrade(&mut req, config(), choose) {
            Ok((response, upgrade)) => {
                tokio::spawn(async move {
                    let mut ws = upgrade.await?;
                    while let Some(msg) = ws.recv().await {
                        let msg = msg?;
                        if msg.is_data() {
                            ws.send(msg).await?;
                        }
                    }
                    Ok::<(), Error>(())
                });
                Ok(response)
            }
            Err(refused) => Ok(refused.into_response()),
        }
    }
    spawn_server(|listener| async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(
                hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tcp), hyper::service::service_fn(handle))
                    .with_upgrades(),
            );
        }
    })
}

fn config() -> Config {
    #[cfg(feature = "deflate")]
    {
        Config::default().deflate(websock::proto::ext::deflate::DeflateConfig::enabled())
    }
    #[cfg(not(feature = "deflate"))]
    {
        Config::default()
    }
}

/// Sends a raw request head; returns the status, the head (lower-cased) and the body.
fn raw(addr: SocketAddr, request: &str) -> (u16, String, String) {
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(request.as_bytes()).unwrap();
    let head = read_head(&mut tcp);
    let len = head
        .split("\r\n")
        .find_map(|l| l.strip_prefix("content-length: "))
        .map_or(0, |n| n.trim().parse().unwrap());
    let mut body = vec![0u8; len];
    tcp.read_exact(&mut body).unwrap();
    let status = head[9..12].parse().unwrap();
    (status, head, String::from_utf8(body).unwrap())
}

/// Reads a response head byte by byte (nothing past it), lower-cased.
fn read_head(tcp: &mut TcpStream) -> String {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(tcp.read(&mut byte).unwrap(), 1, "stream ended in the head");
        head.push(byte[0]);
    }
    String::from_utf8(head).unwrap().to_ascii_lowercase()
}

fn request(addr: SocketAddr, method: &str, headers: &[&str]) -> String {
    let mut r = format!("{method} /ws HTTP/1.1\r\nHost: {addr}\r\n");
    for h in headers {
        r.push_str(h);
        r.push_str("\r\n");
    }
    r.push_str("\r\n");
    r
}

const UPGRADE: &str = "Upgrade: websocket";
const CONNECTION: &str = "Connection: Upgrade";
const KEY: &str = "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==";
const V13: &str = "Sec-WebSocket-Version: 13";

/// The tokio client against the axum example: messages of both kinds echo, a ping is answered,
/// and a close handshake started by the client completes with the server's echo of the code.
#[tokio::test]
async fn tokio_client_through_axum() {
    let addr = axum_server();
    let mut ws = websock::tokio::connect(&format!("ws://{addr}/ws"))
        .await
        .unwrap();
    assert_eq!(ws.connection().protocol(), None);
    for msg in [
        Message::text("hello"),
        Message::binary(vec![0u8, 1, 2, 255]),
        Message::text("x".repeat(70_000)),
    ] {
        ws.send(msg.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), msg);
    }
    ws.send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Pong(Bytes::from_static(b"p"))
    );
    ws.close(Some(CloseFrame::new(4000, "bye"))).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(4000, "bye")))
    );
    assert!(ws.recv().await.is_none());
}

/// The same app over HTTP/2 (h2c, `axum::serve`'s own): the extractor takes the extended
/// CONNECT, picks the subprotocol the client offered, and the WebSocket echoes.
#[tokio::test]
async fn h2_client_through_axum() {
    let addr = axum_server();
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let h2 = websock::hyper::H2Connection::handshake(tcp).await.unwrap();
    let request = ClientRequest::new(&format!("ws://{addr}/ws"))
        .unwrap()
        .protocol("other")
        .protocol("echo");
    let mut ws = h2.websocket(request, config()).await.unwrap();
    assert_eq!(ws.connection().protocol(), Some("echo"));
    for msg in [
        Message::text("over h2"),
        Message::binary(vec![9u8; 100_000]),
    ] {
        ws.send(msg.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), msg);
    }
    ws.close(Some(CloseFrame::new(4000, "bye"))).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(4000, "bye")))
    );
    // A second WebSocket on the same HTTP/2 connection, without a subprotocol.
    let request = ClientRequest::new(&format!("ws://{addr}/ws")).unwrap();
    let mut ws = h2.websocket(request, config()).await.unwrap();
    assert_eq!(ws.connection().protocol(), None);
    ws.send(Message::text("again")).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("again"));
}

/// The blocking client against the axum example, the close handshake started by the client.
#[test]
fn blocking_client_through_axum() {
    let addr = axum_server();
    let mut ws = websock::sync::connect(&format!("ws://{addr}/ws")).unwrap();
    for i in 0..10 {
        let msg = Message::text(format!("message {i}"));
        ws.send(msg.clone()).unwrap();
        assert_eq!(ws.recv().unwrap(), msg);
    }
    ws.close(None).unwrap();
    assert_eq!(ws.recv().unwrap(), Message::Close(None));
    assert!(matches!(ws.recv(), Err(Error::ConnectionClosed)));
}

/// Requests the core refuses get the core's answer through axum and are not upgraded: a wrong
/// version 426 naming 13, a plain GET (no `Upgrade`) 426 with `Upgrade: websocket`, a bad key
/// 400, POST 405 with `Allow: GET`.
#[test]
fn refusals_through_axum() {
    let addr = axum_server();
    let (status, head, _) = raw(
        addr,
        &request(
            addr,
            "GET",
            &[UPGRADE, CONNECTION, KEY, "Sec-WebSocket-Version: 8"],
        ),
    );
    assert_eq!(status, 426);
    assert!(head.contains("\r\nsec-websocket-version: 13"), "{head}");
    assert!(!head.contains("sec-websocket-accept"), "{head}");

    let (status, head, body) = raw(addr, &request(addr, "GET", &[]));
    assert_eq!(status, 426);
    assert!(head.contains("\r\nupgrade: websocket"), "{head}");
    assert!(head.contains("\r\nsec-websocket-version: 13"), "{head}");
    assert!(!body.is_empty());

    let (status, _, _) = raw(
        addr,
        &request(
            addr,
            "GET",
            &[UPGRADE, CONNECTION, "Sec-WebSocket-Key: short", V13],
        ),
    );
    assert_eq!(status, 400);

    let (status, head, _) = raw(
        addr,
        &request(addr, "POST", &[UPGRADE, CONNECTION, KEY, V13]),
    );
    assert_eq!(status, 405);
    assert!(head.contains("\r\nallow: get"), "{head}");

    // Other paths are axum's: no WebSocket there.
    let (status, _, _) = raw(
        addr,
        &request(addr, "GET", &[UPGRADE, CONNECTION, KEY, V13]).replacen("/ws", "/other", 1),
    );
    assert_eq!(status, 404);
}

/// A good raw request gets exactly the RFC 6455 example's accept key through hyper.
#[test]
fn accept_key_through_axum() {
    let addr = axum_server();
    let mut tcp = TcpStream::connect(addr).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    tcp.write_all(request(addr, "GET", &[UPGRADE, CONNECTION, KEY, V13]).as_bytes())
        .unwrap();
    let head = read_head(&mut tcp);
    assert!(head.starts_with("http/1.1 101 "), "{head}");
    assert!(head.contains("\r\nupgrade: websocket\r\n"), "{head}");
    assert!(head.contains("\r\nconnection: upgrade\r\n"), "{head}");
    assert!(
        head.contains("\r\nsec-websocket-accept: s3pplmbitxaq9kygzzhzrbk+xoo=\r\n"),
        "{head}"
    );
}

/// A plain hyper server with a `choose` of its own: the subprotocol and extra header it picks
/// reach the client, permessage-deflate is negotiated by the core, and its refusal (403 with its
/// body) reaches the client as `Rejected`.
#[tokio::test]
async fn plain_hyper_server_choose() {
    let addr = hyper_server();
    let url = format!("ws://{addr}/chat");
    let req = ClientRequest::new(&url)
        .unwrap()
        .protocol("superchat")
        .protocol("chat");
    let options = websock::Connect::request(req).config(config());
    let mut ws = websock::tokio::connect_with(options).await.unwrap();
    assert_eq!(ws.connection().protocol(), Some("chat"));
    let headers = ws.connection().response_headers().unwrap();
    assert_eq!(headers.get_str("X-Served-By"), Some("hyper"));
    #[cfg(feature = "deflate")]
    assert_eq!(ws.connection().extensions().names(), ["permessage-deflate"]);
    let big = Message::text("compressible ".repeat(10_000));
    ws.send(big.clone()).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), big);
    ws.close(None).await.unwrap();
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::Close(None));
    assert!(ws.recv().await.is_none());

    let evil = ClientRequest::new(&url)
        .unwrap()
        .header("Origin", "http://evil.example");
    match websock::tokio::connect_with(websock::Connect::request(evil).config(config())).await {
        Err(Error::Handshake(HandshakeError::Rejected { status, body, .. })) => {
            assert_eq!(status, 403);
            assert_eq!(&body[..], b"origin not allowed\n");
        }
        other => panic!("expected a 403, got {other:?}"),
    }
}

/// Without a server: `is_upgrade_request`, the core's refusal of a wrong version, and a valid
/// request that hyper cannot upgrade (no `OnUpgrade`) refused with 500 rather than a 101.
#[test]
fn without_a_server() {
    let good = || {
        http::Request::builder()
            .uri("/ws")
            .header("Host", "example.com")
            .header("Upgrade", "websocket")
            .header("Connection", "Upgrade")
            .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==")
            .header("Sec-WebSocket-Version", "13")
    };
    let plain = http::Request::builder().uri("/ws").body(()).unwrap();
    assert!(!is_upgrade_request(&plain));
    assert!(is_upgrade_request(&good().body(()).unwrap()));

    let mut wrong = good()
        .header("Sec-WebSocket-Version", "8")
        .body(())
        .unwrap();
    let refused = upgrade(&mut wrong, Config::default(), |_| Ok(Accept::new())).unwrap_err();
    assert_eq!(refused.status(), 426);
    assert!(matches!(
        refused.error(),
        Error::Handshake(HandshakeError::UnsupportedVersion)
    ));
    assert_eq!(
        refused.into_response().headers()["sec-websocket-version"],
        "13"
    );

    let mut detached = good().body(()).unwrap();
    let refused = upgrade(&mut detached, Config::default(), |_| Ok(Accept::new())).unwrap_err();
    assert_eq!(refused.status(), 500);
    assert!(matches!(refused.error(), Error::Io(_)));

    let mut refused_by_caller = good().body(()).unwrap();
    let refused = upgrade(&mut refused_by_caller, Config::default(), |_| {
        Err(Response::reject(401, "who are you\n"))
    })
    .unwrap_err();
    assert_eq!(refused.status(), 401);
    assert!(matches!(
        refused.error(),
        Error::Handshake(HandshakeError::Rejected { status: 401, .. })
    ));
}
