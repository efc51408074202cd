//! WebSockets over HTTP/2 (RFC 8441), websock client to websock server: hyper's HTTP/2 server
//! with the extended CONNECT protocol on and `websock::hyper::upgrade`, and
//! `websock::hyper::H2Connection` as the client; over h2c (prior knowledge) and over TLS with
//! ALPN h2.
#![cfg(all(feature = "hyper", feature = "rustls", feature = "deflate"))]

mod common;

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::sync::mpsc;
use tokio::time::timeout;
use websock::hyper::H2Connection;
use websock::proto::ext::deflate::DeflateConfig;
use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::server::Accept;
use websock::proto::handshake::Response;
use websock::{CloseFrame, Config, DataKind, Error, HandshakeError, Message};

/// One certificate for the whole test binary, so every server and client agree.
fn tls_configs() -> (Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>) {
    static CONFIGS: std::sync::OnceLock<(Arc<rustls::ServerConfig>, Arc<rustls::ClientConfig>)> =
        std::sync::OnceLock::new();
    CONFIGS.get_or_init(common::tls_configs).clone()
}

/// How each server-side WebSocket ended: its close frame, or the error.
type Ends = mpsc::UnboundedReceiver<Result<Option<CloseFrame>, String>>;

fn config(deflate: bool) -> Config {
    let d = if deflate {
        DeflateConfig::enabled()
    } else {
        DeflateConfig::default()
    };
    Config::default()
        .max_message_size(32 << 20)
        .max_frame_size(32 << 20)
        .close_timeout(Duration::from_secs(2))
        .deflate(d)
}

/// Echoes data; `close with N` closes with code N; a path of `/forbidden` is refused with 403.
async fn server(tls: bool, connect_protocol: bool) -> (SocketAddr, Ends) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (tx, ends) = mpsc::unbounded_channel();
    let acceptor = tls.then(|| {
        let (server, _) = tls_configs();
        let mut server = (*server).clone();
        server.alpn_protocols = vec![b"h2".to_vec()];
        tokio_rustls::TlsAcceptor::from(Arc::new(server))
    });
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let (tx, acceptor) = (tx.clone(), acceptor.clone());
            tokio::spawn(async move {
                match acceptor {
                    Some(a) => serve(a.accept(tcp).await.unwrap(), tx, connect_protocol).await,
                    None => serve(tcp, tx, connect_protocol).await,
                }
            });
        }
    });
    (addr, ends)
}

async fn serve<S>(
    io: S,
    ends: mpsc::UnboundedSender<Result<Option<CloseFrame>, String>>,
    connect_protocol: bool,
) where
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send + 'static,
{
    let service = hyper::service::service_fn(move |mut req| {
        let ends = ends.clone();
        let choose = |r: &websock::proto::handshake::server::Request| {
            if r.path() == "/forbidden" {
                Err(Response::reject(403, "not here\n"))
            } else {
                Ok(Accept::new())
            }
        };
        let response = match websock::hyper::upgrade(&mut req, config(true), choose) {
            Ok((response, upgrade)) => {
                assert_eq!(upgrade.http_version(), http::Version::HTTP_2);
                tokio::spawn(async move {
                    let end = echo(upgrade.await.unwrap()).await;
                    let _ = ends.send(end.map_err(|e| e.to_string()));
                });
                response
            }
            Err(refused) => refused.into_response(),
        };
        async move { Ok::<_, std::convert::Infallible>(response) }
    });
    let mut h2 = hyper::server::conn::http2::Builder::new(TokioExecutor::new());
    if connect_protocol {
        h2.enable_connect_protocol();
    }
    let _ = h2.serve_connection(TokioIo::new(io), service).await;
}

async fn echo(mut ws: websock::hyper::HyperWebSocket) -> Result<Option<CloseFrame>, Error> {
    while let Some(m) = ws.recv().await {
        match m? {
            Message::Close(frame) => return Ok(frame),
            Message::Text(t) if t.starts_with("close with ") => {
                let code: u16 = t["close with ".len()..].parse().unwrap();
                ws.close(Some(CloseFrame::new(code, "as asked"))).await?;
            }
            m if m.is_data() => ws.send(m).await?,
            _ => {}
        }
    }
    Err(Error::ConnectionClosed)
}

async fn client(addr: SocketAddr, tls: bool) -> H2Connection {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    if !tls {
        return H2Connection::handshake(tcp).await.unwrap();
    }
    let (_, client) = tls_configs();
    let mut client = (*client).clone();
    client.alpn_protocols = vec![b"h2".to_vec()];
    let name = rustls::pki_types::ServerName::try_from("localhost").unwrap();
    let stream = tokio_rustls::TlsConnector::from(Arc::new(client))
        .connect(name, tcp)
        .await
        .unwrap();
    assert_eq!(stream.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    H2Connection::handshake(stream).await.unwrap()
}

fn url(tls: bool, path: &str) -> ClientRequest {
    let scheme = if tls { "wss" } else { "ws" };
    ClientRequest::new(&format!("{scheme}://localhost{path}")).unwrap()
}

async fn next_data(ws: &mut websock::hyper::HyperWebSocket) -> Message {
    loop {
        let m = timeout(Duration::from_secs(20), ws.recv())
            .await
            .expect("timed out")
            .expect("ended")
            .expect("error");
        if m.is_data() {
            return m;
        }
    }
}

async fn every_kind(tls: bool, deflate: bool) {
    let (addr, mut ends) = server(tls, true).await;
    let h2 = client(addr, tls).await;
    let mut ws = h2.websocket(url(tls, "/"), config(deflate)).await.unwrap();
    assert_eq!(ws.connection().is_compressed(), deflate);
    for m in common::payloads() {
        ws.send(m.clone()).await.unwrap();
        assert_eq!(
            next_data(&mut ws).await,
            m,
            "{} bytes",
            m.as_payload().len()
        );
    }
    // Fragmented, with a ping between the pieces.
    let conn = ws.connection_mut();
    conn.send_fragment(DataKind::Text, "frag", false).unwrap();
    conn.send(Message::Ping("between".into())).unwrap();
    conn.send_fragment(DataKind::Text, "mented", true).unwrap();
    ws.flush().await.unwrap();
    let mut pong = false;
    let echoed = loop {
        match timeout(Duration::from_secs(5), ws.recv())
            .await
            .unwrap()
            .unwrap()
            .unwrap()
        {
            Message::Pong(p) => {
                assert_eq!(&p[..], b"between");
                pong = true;
            }
            m if m.is_data() => break m,
            _ => {}
        }
    };
    assert!(pong, "the ping was answered");
    assert_eq!(echoed, Message::text("fragmented"));
    // Our close, with a code and reason, seen by the server.
    ws.close(Some(CloseFrame::new(4000, "client done")))
        .await
        .unwrap();
    while let Some(Ok(_)) = ws.recv().await {}
    let end = timeout(Duration::from_secs(5), ends.recv())
        .await
        .unwrap()
        .unwrap();
    let frame = end.unwrap().unwrap();
    assert_eq!(
        (u16::from(frame.code), &*frame.reason),
        (4000, "client done")
    );

    // The server's close, seen by the client.
    let mut ws = h2.websocket(url(tls, "/"), config(deflate)).await.unwrap();
    ws.send(Message::text("close with 4001")).await.unwrap();
    let frame = loop {
        if let Message::Close(frame) = ws.recv().await.unwrap().unwrap() {
            break frame.unwrap();
        }
    };
    assert_eq!(u16::from(frame.code), 4001);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_every_kind_of_message_without_deflate() {
    every_kind(false, false).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h2c_every_kind_of_message_with_deflate() {
    every_kind(false, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tls_h2_every_kind_of_message() {
    every_kind(true, true).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_websockets_on_one_http2_connection() {
    let (addr, _ends) = server(false, true).await;
    let h2 = client(addr, false).await;
    let mut tasks = Vec::new();
    for i in 0..100 {
        let h2 = h2.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = h2.websocket(url(false, "/"), config(false)).await.unwrap();
            for n in 0..20 {
                let m = Message::text(format!("{i}:{n}"));
                ws.send(m.clone()).await.unwrap();
                assert_eq!(next_data(&mut ws).await, m);
            }
            // One large message per stream: each has its own flow-control window.
            let big = Message::binary(vec![i as u8; 256 << 10]);
            ws.send(big.clone()).await.unwrap();
            assert_eq!(next_data(&mut ws).await, big);
            ws.close(None).await.unwrap();
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test]
async fn a_refusal_is_an_http2_response_with_its_status() {
    let (addr, _ends) = server(false, true).await;
    let h2 = client(addr, false).await;
    let err = h2
        .websocket(url(false, "/forbidden"), config(false))
        .await
        .unwrap_err();
    match err {
        Error::Handshake(HandshakeError::Rejected { status, body, .. }) => {
            assert_eq!(status, 403);
            assert_eq!(&body[..], b"not here\n");
        }
        other => panic!("{other:?}"),
    }
    // The connection is fine for the next WebSocket.
    let mut ws = h2.websocket(url(false, "/"), config(false)).await.unwrap();
    ws.send(Message::text("after")).await.unwrap();
    assert_eq!(next_data(&mut ws).await, Message::text("after"));
}

#[tokio::test]
async fn no_extended_connect_without_the_servers_setting() {
    let (addr, _ends) = server(false, false).await;
    let h2 = client(addr, false)
        .await
        .settings_wait(Duration::from_millis(300));
    let err = h2
        .websocket(url(false, "/"), config(false))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            Error::Handshake(HandshakeError::ConnectProtocolNotEnabled)
        ),
        "{err:?}"
    );
}

#[tokio::test]
async fn a_stream_reset_mid_message_is_an_abnormal_end_on_the_server() {
    use tokio::io::AsyncWriteExt;
    let (addr, mut ends) = server(false, true).await;
    let h2 = client(addr, false).await;
    let mut ws = h2.websocket(url(false, "/"), config(false)).await.unwrap();
    ws.send(Message::text("first")).await.unwrap();
    assert_eq!(next_data(&mut ws).await, Message::text("first"));
    // Half of a masked binary frame of 1000 bytes, then the stream goes away: hyper resets it.
    let mut half = vec![0x82, 0x80 | 126, 0x03, 0xe8, 1, 2, 3, 4];
    half.extend_from_slice(&[0u8; 400]);
    ws.get_mut().write_all(&half).await.unwrap();
    ws.get_mut().flush().await.unwrap();
    drop(ws);
    let end = timeout(Duration::from_secs(5), ends.recv())
        .await
        .unwrap()
        .unwrap();
    assert!(end.is_err(), "the server saw {end:?}, not an abnormal end");
    // Other streams on the connection carry on.
    let mut ws = h2.websocket(url(false, "/"), config(false)).await.unwrap();
    ws.send(Message::text("second")).await.unwrap();
    assert_eq!(next_data(&mut ws).await, Message::text("second"));
}
