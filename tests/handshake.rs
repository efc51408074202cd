//! The opening handshake over real sockets: rejections reach the client as typed errors with the
//! HTTP status, the server callback sees the request, and a slow-loris client is dropped.

mod common;

use std::io::{Read, Write};
use std::time::{Duration, Instant};

use common::*;
use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::server::Accept;
use websock::proto::handshake::Response;
use websock::{Config, Error, HandshakeError, Message, Outcome};

/// A client speaking version 8 gets 426 with `Sec-WebSocket-Version: 13`, from both servers.
#[test]
fn wrong_version_gets_426_from_both_adapters() {
    for addr in [tokio_echo_server(config()), sync_echo_server(config())] {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 8\r\n\r\n",
        )
        .unwrap();
        let mut resp = String::new();
        tcp.read_to_string(&mut resp).unwrap();
        assert!(
            resp.starts_with("HTTP/1.1 426 Upgrade Required\r\n"),
            "{resp}"
        );
        assert!(resp.contains("Sec-WebSocket-Version: 13\r\n"));
    }
}

/// Our clients see a refusal as `HandshakeError::Rejected` with status, headers and body.
#[test]
fn client_sees_rejection_with_status_and_body() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().take(2) {
            let r = websock::sync::accept_with(tcp.unwrap(), Config::default(), |req| {
                assert_eq!(req.path(), "/private");
                assert_eq!(req.header("Authorization"), Some("Bearer nope"));
                Err(Response::reject(403, "forbidden: bad token"))
            });
            // A refusal the callback chose is an ordinary outcome on the server's side.
            assert!(matches!(r, Ok(Outcome::Responded(403))), "{r:?}");
        }
    });
    let req = ClientRequest::new(&format!("ws://{addr}/private"))
        .unwrap()
        .header("Authorization", "Bearer nope");
    match websock::sync::connect_with(
        websock::Connect::request(req.clone()).config(Config::default()),
    ) {
        Err(Error::Handshake(HandshakeError::Rejected { status, body, .. })) => {
            assert_eq!(status, 403);
            assert_eq!(&body[..], b"forbidden: bad token");
        }
        other => panic!("{other:?}"),
    }
    let rt = tokio::runtime::Runtime::new().unwrap();
    let err = rt
        .block_on(websock::tokio::connect_with(
            websock::Connect::request(req).config(Config::default()),
        ))
        .map(|_| ())
        .unwrap_err();
    assert_eq!(err.http_status(), Some(403));
}

/// The server's callback picks a subprotocol and adds a header; the client sees both.
#[tokio::test]
async fn subprotocol_and_headers_negotiated() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = websock::tokio::accept_with(tcp, Config::default(), |req| {
            assert_eq!(req.protocols(), ["v2.chat", "v1.chat"]);
            Ok(Accept::new()
                .protocol("v1.chat")
                .header("Set-Cookie", "session=1"))
        })
        .await
        .unwrap()
        .websocket()
        .unwrap();
        ws.send("hi").await.unwrap();
        while ws.recv().await.is_some() {}
    });
    let req = ClientRequest::new(&format!("ws://{addr}/"))
        .unwrap()
        .protocol("v2.chat")
        .protocol("v1.chat");
    let mut ws = websock::tokio::connect_with(websock::Connect::request(req))
        .await
        .unwrap();
    assert_eq!(ws.connection().protocol(), Some("v1.chat"));
    let headers = ws.connection().response_headers().unwrap();
    assert_eq!(headers.get_str("set-cookie"), Some("session=1"));
    assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
    ws.close(None).await.unwrap();
}

/// A client that trickles one header byte every 200 ms is dropped once the handshake timeout
/// (here 1 s) has passed, though every read brings a byte.
#[test]
fn slow_loris_dropped_by_handshake_timeout() {
    let config = Config::default().handshake_timeout(Duration::from_secs(1));
    for addr in [tokio_echo_server(config.clone()), sync_echo_server(config)] {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_millis(200)))
            .unwrap();
        let start = Instant::now();
        let head = b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\n";
        let mut dropped = None;
        for b in head.iter().cycle().take(100) {
            if tcp.write_all(&[*b]).is_err() {
                dropped = Some(start.elapsed());
                break;
            }
            let mut buf = [0u8; 64];
            match tcp.read(&mut buf) {
                Ok(0) => {
                    dropped = Some(start.elapsed());
                    break;
                }
                Ok(_) => {}
                Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
                Err(e) if e.kind() == std::io::ErrorKind::TimedOut => {}
                Err(_) => {
                    dropped = Some(start.elapsed());
                    break;
                }
            }
        }
        let after = dropped.expect("the server never dropped the slow client");
        assert!(
            after >= Duration::from_millis(900),
            "dropped too early: {after:?}"
        );
        assert!(
            after < Duration::from_secs(5),
            "dropped too late: {after:?}"
        );
    }
}

/// The handshake timeout ends the same way with both adapters: the server answers 408 and
/// closes the connection (the core decides; the adapters only carry it out).
#[test]
fn handshake_timeout_answers_408_from_both_adapters() {
    let config = Config::default().handshake_timeout(Duration::from_millis(300));
    for addr in [tokio_echo_server(config.clone()), sync_echo_server(config)] {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n").unwrap();
        let start = Instant::now();
        let mut resp = String::new();
        tcp.read_to_string(&mut resp).unwrap(); // to EOF: the server closed
        assert!(
            resp.starts_with("HTTP/1.1 408 Request Timeout\r\n"),
            "{resp}"
        );
        assert!(start.elapsed() >= Duration::from_millis(250));
    }
}

/// A page served from the accept callback is an ordinary outcome in both adapters: the browser
/// gets the page, the server gets `Outcome::Responded`, and the connection is closed.
#[test]
fn served_page_is_an_outcome_in_both_adapters() {
    let page = |_: &websock::proto::handshake::server::Request| {
        let mut resp = Response::new(200).with_header("Content-Type", "text/html");
        resp.body = "<p>hello</p>".into();
        Err::<Accept, _>(resp)
    };
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sync_addr = listener.local_addr().unwrap();
    let tx = done_tx.clone();
    std::thread::spawn(move || {
        let (tcp, _) = listener.accept().unwrap();
        let r = websock::sync::accept_with(tcp, Config::default(), page);
        tx.send(format!("sync {:?}", r.map(|o| o.websocket().is_none())))
            .unwrap();
    });
    let rt = tokio::runtime::Runtime::new().unwrap();
    let listener = rt
        .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
        .unwrap();
    let tokio_addr = listener.local_addr().unwrap();
    rt.spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let r = websock::tokio::accept_with(tcp, Config::default(), page).await;
        let responded = matches!(r, Ok(Outcome::Responded(200)));
        done_tx.send(format!("tokio {responded}")).unwrap();
    });
    for addr in [sync_addr, tokio_addr] {
        let mut tcp = std::net::TcpStream::connect(addr).unwrap();
        tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
        tcp.write_all(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").unwrap();
        let mut resp = String::new();
        tcp.read_to_string(&mut resp).unwrap();
        assert!(resp.starts_with("HTTP/1.1 200 OK\r\n"), "{resp}");
        assert!(resp.ends_with("\r\n\r\n<p>hello</p>"), "{resp}");
    }
    let mut outcomes: Vec<String> = (0..2).map(|_| done_rx.recv().unwrap()).collect();
    outcomes.sort();
    assert_eq!(outcomes, ["sync Ok(true)", "tokio true"]);
}
