//! The `tracing` feature: a connection's life as spans and events, captured by a subscriber.
#![cfg(all(feature = "tracing", feature = "tokio"))]

use std::io::Write;
use std::sync::{Arc, Mutex};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use websock::proto::handshake::client::ClientRequest;
use websock::{CloseFrame, Config, Message};

/// Everything the subscriber writes, as text.
#[derive(Clone, Default)]
struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Runs `f` on a current-thread runtime with a debug-level subscriber writing to the capture.
fn traced<F: std::future::Future<Output = ()>>(f: F) -> String {
    let captured = Captured::default();
    let writer = captured.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_env_filter("websock=debug")
        .with_ansi(false)
        .with_writer(move || writer.clone())
        .finish();
    tracing::subscriber::with_default(subscriber, || {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap()
            .block_on(f)
    });
    captured.text()
}

#[test]
fn a_connection_life_is_one_span_with_its_events() {
    let log = traced(async {
        let (a, b) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(async move {
            let mut ws = websock::tokio::accept(a).await.unwrap();
            while let Some(Ok(m)) = ws.recv().await {
                if m.is_data() {
                    ws.send(m).await.unwrap();
                }
            }
        });
        let request = ClientRequest::new("ws://example.com/chat").unwrap();
        let mut ws = websock::tokio::client(b, request, Config::default())
            .await
            .unwrap();
        ws.send(Message::text("hi")).await.unwrap();
        assert_eq!(ws.recv().await.unwrap().unwrap(), Message::text("hi"));
        ws.close(Some(CloseFrame::new(4000, "done"))).await.unwrap();
        while ws.recv().await.is_some() {}
        server.await.unwrap();
    });
    assert!(log.contains("websocket{role=Server}"), "{log}");
    assert!(
        log.contains("handshake request method=\"GET\" path=\"/chat\""),
        "{log}"
    );
    assert_eq!(log.matches(" open").count(), 2, "{log}");
    // Each side says who closed: the client did.
    let closes: Vec<&str> = log.lines().filter(|l| l.contains(" closed ")).collect();
    assert_eq!(closes.len(), 2, "{log}");
    for line in closes {
        assert!(line.contains("code=4000 reason=\"done\""), "{line}");
        let by = if line.contains("role=Client") {
            "us"
        } else {
            "peer"
        };
        assert!(line.contains(&format!("closed_by=\"{by}\"")), "{line}");
    }
    // Nothing per message at debug level.
    assert!(!log.contains("message"), "{log}");
}

#[test]
fn a_protocol_error_names_the_broken_rule() {
    let log = traced(async {
        let (a, mut b) = tokio::io::duplex(1 << 16);
        let server = tokio::spawn(async move {
            let mut ws = websock::tokio::accept(a).await.unwrap();
            while let Some(Ok(_)) = ws.recv().await {}
        });
        b.write_all(
            b"GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
              Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\r\n",
        )
        .await
        .unwrap();
        let mut buf = [0u8; 512];
        let _ = b.read(&mut buf).await.unwrap();
        b.write_all(b"\x81\x05hello").await.unwrap(); // unmasked: the server must fail it
        let _ = b.read(&mut buf).await;
        server.await.unwrap();
    });
    assert!(log.contains("WARN"), "{log}");
    assert!(
        log.contains("protocol error rule=unmasked client frame"),
        "{log}"
    );
}
