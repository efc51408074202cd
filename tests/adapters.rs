//! Both adapters over real loopback TCP: the blocking client against the tokio server and the
//! tokio client against the blocking server, with payloads at every length boundary, fragments,
//! ping and pong, and close codes both ways.

mod common;

use std::time::Duration;

use bytes::Bytes;
use common::*;
use websock::proto::handshake::client::ClientRequest;
use websock::{CloseCode, CloseFrame, DataKind, Error, Message};

#[test]
fn sync_client_against_tokio_server() {
    let addr = tokio_echo_server(config());
    let url = format!("ws://{addr}/echo");
    let mut ws = websock::sync::connect_with(
        websock::Connect::request(ClientRequest::new(&url).unwrap()).config(config()),
    )
    .unwrap();
    for msg in payloads() {
        ws.send(msg.clone()).unwrap();
        assert_eq!(ws.recv().unwrap(), msg, "{} bytes", msg.as_payload().len());
    }
    // Fragmented send: the server sees one message.
    let conn = ws.connection_mut();
    conn.send_fragment(DataKind::Text, Bytes::from_static(b"frag"), false)
        .unwrap();
    conn.send_ping(Bytes::from_static(b"mid")).unwrap();
    conn.send_fragment(
        DataKind::Text,
        Bytes::from_static("mented ✓".as_bytes()),
        true,
    )
    .unwrap();
    ws.flush().unwrap();
    // The ping is answered by the server's core (auto-pong) before the echo.
    assert_eq!(
        ws.recv().unwrap(),
        Message::Pong(Bytes::from_static(b"mid"))
    );
    assert_eq!(ws.recv().unwrap(), Message::text("fragmented ✓"));
    // Close with a code: the server echoes it, then closes TCP.
    ws.close(Some(CloseFrame::new(4001, "bye"))).unwrap();
    assert_eq!(
        ws.recv().unwrap(),
        Message::Close(Some(CloseFrame::new(4001, "bye")))
    );
    assert!(matches!(ws.recv(), Err(Error::ConnectionClosed)));
}

#[tokio::test]
async fn tokio_client_against_sync_server() {
    let addr = sync_echo_server(config());
    let url = format!("ws://{addr}/");
    let mut ws = websock::tokio::connect_with(
        websock::Connect::request(ClientRequest::new(&url).unwrap()).config(config()),
    )
    .await
    .unwrap();
    for msg in payloads() {
        ws.send(msg.clone()).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), msg);
    }
    ws.connection_mut()
        .send_fragment(DataKind::Binary, vec![1u8, 2], false)
        .unwrap();
    ws.connection_mut()
        .send_fragment(DataKind::Binary, vec![3u8], true)
        .unwrap();
    ws.flush().await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::binary(vec![1u8, 2, 3])
    );
    ws.send(Message::Ping(Bytes::from_static(b"p")))
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Pong(Bytes::from_static(b"p"))
    );
    ws.close(Some(CloseFrame::new(CloseCode::GOING_AWAY, "")))
        .await
        .unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(1001, "")))
    );
    assert!(ws.recv().await.is_none());
}

/// The server starts the close: the client sees the code and reason, answers, and the server
/// closes TCP.
#[tokio::test]
async fn server_initiated_close_reaches_both_clients() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for tcp in listener.incoming().take(2) {
            let mut ws = websock::sync::accept(tcp.unwrap()).unwrap();
            ws.close(Some(CloseFrame::new(4123, "server says bye")))
                .unwrap();
            loop {
                match ws.recv() {
                    Ok(Message::Close(f)) => {
                        assert_eq!(f, Some(CloseFrame::new(4123, "server says bye")))
                    }
                    Ok(other) => panic!("{other:?}"),
                    Err(Error::ConnectionClosed) => break,
                    Err(e) => panic!("{e}"),
                }
            }
        }
    });
    let url = format!("ws://{addr}/");
    let mut ws = websock::tokio::connect(&url).await.unwrap();
    assert_eq!(
        ws.recv().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(4123, "server says bye")))
    );
    assert!(ws.recv().await.is_none());
    let url2 = url.clone();
    tokio::task::spawn_blocking(move || {
        let mut ws = websock::sync::connect(&url2).unwrap();
        assert_eq!(
            ws.recv().unwrap(),
            Message::Close(Some(CloseFrame::new(4123, "server says bye")))
        );
        assert!(matches!(ws.recv(), Err(Error::ConnectionClosed)));
    })
    .await
    .unwrap();
}

/// A peer that breaks the protocol gets the RFC's close code over a real socket.
#[test]
fn protocol_error_over_tcp_gets_1002() {
    use std::io::{Read, Write};
    let addr = tokio_echo_server(config());
    let mut tcp = std::net::TcpStream::connect(addr).unwrap();
    tcp.write_all(
        b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
          Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n",
    )
    .unwrap();
    // An unmasked frame from a client.
    tcp.write_all(&[0x81, 0x02, b'h', b'i']).unwrap();
    tcp.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
    let mut all = Vec::new();
    tcp.read_to_end(&mut all).unwrap(); // the server closes TCP after its close frame
    let text = String::from_utf8_lossy(&all);
    let head_end = text.find("\r\n\r\n").unwrap() + 4;
    assert!(text.starts_with("HTTP/1.1 101"));
    let frame = &all[head_end..];
    assert_eq!(frame[0], 0x88);
    assert_eq!(u16::from_be_bytes([frame[2], frame[3]]), 1002);
}

/// A client that stops reading: the server's sends back up, and after `write_timeout` without
/// progress the send fails with `Timeout::Write` instead of waiting for ever (both adapters).
#[test]
fn a_peer_that_stops_reading_meets_the_write_timeout() {
    for deflate in [false, true] {
        stops_reading(deflate);
    }
}

/// With `deflate`, the client offers an 8-bit server window (stored blocks: no compression)
/// and the server sends large messages, compressed a budget at a time as the socket drains.
fn stops_reading(deflate: bool) {
    use websock::proto::handshake::server::Accept;
    use websock::Timeout;
    let mut config = websock::Config::default().write_timeout(Some(Duration::from_millis(300)));
    #[cfg(feature = "deflate")]
    if deflate {
        config = config.deflate(websock::proto::ext::deflate::DeflateConfig::enabled());
    }
    let chunk = Bytes::from(vec![0u8; 4 << 20]);
    for tokio_server in [false, true] {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let addr = listener.local_addr().unwrap();
        let (config, chunk) = (config.clone(), chunk.clone());
        let server = std::thread::spawn(move || {
            let (tcp, _) = listener.accept().unwrap();
            let started = std::time::Instant::now();
            let err = if tokio_server {
                let rt = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .unwrap();
                rt.block_on(async move {
                    tcp.set_nonblocking(true).unwrap();
                    let tcp = tokio::net::TcpStream::from_std(tcp).unwrap();
                    let mut ws = websock::tokio::accept_with(tcp, config, |_| Ok(Accept::new()))
                        .await
                        .unwrap()
                        .websocket()
                        .unwrap();
                    loop {
                        if let Err(e) = ws.send(Message::Binary(chunk.clone())).await {
                            return e;
                        }
                    }
                })
            } else {
                let mut ws = websock::sync::accept_with(tcp, config, |_| Ok(Accept::new()))
                    .unwrap()
                    .websocket()
                    .unwrap();
                loop {
                    if let Err(e) = ws.send(Message::Binary(chunk.clone())) {
                        break e;
                    }
                }
            };
            (err, started.elapsed())
        });
        // Connect, then never read again.
        let mut client_config = websock::Config::default();
        #[cfg(feature = "deflate")]
        if deflate {
            client_config = client_config.deflate(
                websock::proto::ext::deflate::DeflateConfig::enabled().server_max_window_bits(8),
            );
        }
        let connect = websock::Connect::new(&format!("ws://{addr}/"))
            .unwrap()
            .config(client_config);
        let _client = websock::sync::connect_with(connect).unwrap();
        let (err, took) = server.join().unwrap();
        assert!(
            matches!(err, Error::Timeout(Timeout::Write)),
            "tokio {tokio_server}, deflate {deflate}: {err:?}"
        );
        assert!(took < Duration::from_secs(10), "{took:?}");
    }
}

/// The futures of the README loop live in every connection's task: they hold the stream and
/// the message and little else, and can be spawned on a multi-thread runtime.
#[tokio::test]
async fn readme_loop_futures_are_small_and_send() {
    fn assert_send<T: Send>(_: &T) {}
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let tcp = tokio::net::TcpStream::connect(listener.local_addr().unwrap())
        .await
        .unwrap();
    let request = ClientRequest::new("ws://localhost/").unwrap();
    let conn = websock::Connection::client(request, config(), std::time::Instant::now()).unwrap();
    let mut ws = websock::tokio::WebSocketStream::from_connection(tcp, conn);
    let stream = std::mem::size_of_val(&ws);
    {
        let send = ws.send(Message::text("x"));
        assert_send(&send);
        assert!(
            std::mem::size_of_val(&send) <= 64,
            "send: {}",
            std::mem::size_of_val(&send)
        );
    }
    {
        let write = ws.write(Message::text("x"));
        assert!(std::mem::size_of_val(&write) <= 64);
    }
    {
        let recv = ws.recv();
        assert_send(&recv);
        assert!(std::mem::size_of_val(&recv) <= 16);
    }
    let readme_loop = async move {
        while let Some(Ok(m)) = ws.recv().await {
            if m.is_data() {
                ws.send(m).await?;
            }
        }
        Ok::<_, Error>(())
    };
    assert_send(&readme_loop);
    let size = std::mem::size_of_val(&readme_loop);
    assert!(
        size <= stream + 192,
        "README loop {size} for a {stream}-byte stream"
    );
}
