//! The reconnecting tokio client against a websock echo server on loopback that is killed and
//! brought back on the same port, and against a port where nothing listens.
#![cfg(feature = "tokio")]

use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpSocket};
use tokio::task::{JoinHandle, JoinSet};
use tokio::time::timeout;
use websock::proto::handshake::client::ClientRequest;
use websock::reconnect::{Backoff, ReconnectEvent, ReconnectingClient};
use websock::{Error, Message};

/// Connections the server saw end with a completed close handshake.
type CleanCloses = Arc<AtomicUsize>;

/// An echo server on `addr`. Aborting the returned task drops the listener and, through the
/// `JoinSet`, every connection's task, so the clients see their TCP connections reset.
fn echo_server(addr: SocketAddr, clean: CleanCloses) -> JoinHandle<()> {
    tokio::spawn(serve(listen(addr), clean))
}

/// A listener on `addr`, which may still have connections in TIME_WAIT from a previous one.
fn listen(addr: SocketAddr) -> TcpListener {
    let socket = TcpSocket::new_v4().unwrap();
    socket.set_reuseaddr(true).unwrap();
    socket.bind(addr).unwrap();
    socket.listen(16).unwrap()
}

async fn serve(listener: TcpListener, clean: CleanCloses) {
    let mut conns = JoinSet::new();
    loop {
        let (tcp, _) = listener.accept().await.unwrap();
        let clean = clean.clone();
        conns.spawn(async move {
            let mut ws = websock::tokio::accept(tcp).await?;
            while let Some(msg) = ws.recv().await {
                let msg = msg?;
                if msg.is_data() {
                    ws.send(msg).await?;
                }
            }
            clean.fetch_add(1, Ordering::SeqCst);
            Ok::<(), Error>(())
        });
    }
}

fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// The next event, within 10 s.
async fn next(client: &mut ReconnectingClient) -> ReconnectEvent {
    timeout(Duration::from_secs(10), client.recv())
        .await
        .expect("an event within 10 s")
        .expect("the client is still running")
        .expect("no final error")
}

/// Waits for the echo of `text`.
async fn expect_echo(client: &mut ReconnectingClient, text: &str) {
    match next(client).await {
        ReconnectEvent::Message(m) => assert_eq!(m, Message::text(text)),
        other => panic!("expected the echo of {text:?}, got {other:?}"),
    }
}

/// Connects, exchanges a message, survives the server's death and return on the same port
/// 300 ms later (the `Connected` hook runs twice, and what it re-sends and a message after it
/// echo on the new connection), then stops with a close handshake the server sees.
#[tokio::test]
async fn comes_back_after_the_server_restarts() {
    let addr = free_port();
    let clean = CleanCloses::default();
    let server = echo_server(addr, clean.clone());

    let backoff = Backoff::default()
        .initial_delay(Duration::from_millis(20))
        .max_delay(Duration::from_millis(100));
    let request = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let mut client = ReconnectingClient::new(websock::Connect::request(request), backoff);
    let stop = client.stop_handle();
    assert!(client.send("too early").await.is_err());

    let mut hooks = 0;
    match next(&mut client).await {
        ReconnectEvent::Connected { count, .. } => {
            hooks += 1;
            assert_eq!(count, 1);
            client.send("state 1").await.unwrap();
        }
        other => panic!("expected Connected, got {other:?}"),
    }
    assert!(client.is_connected());
    expect_echo(&mut client, "state 1").await;
    client.send("hello").await.unwrap();
    expect_echo(&mut client, "hello").await;

    // Kill the server: its listener and its connections go.
    server.abort();
    assert!(server.await.unwrap_err().is_cancelled());
    let restarted = tokio::spawn({
        let clean = clean.clone();
        async move {
            tokio::time::sleep(Duration::from_millis(300)).await;
            serve(listen(addr), clean).await
        }
    });

    let (mut disconnects, mut failed_attempts) = (0, 0);
    loop {
        match next(&mut client).await {
            ReconnectEvent::Disconnected { retry_in, .. } => {
                disconnects += 1;
                assert!(retry_in <= Duration::from_millis(20));
                assert!(!client.is_connected());
                assert!(matches!(
                    client.send("while down").await,
                    Err(Error::ConnectionClosed)
                ));
            }
            ReconnectEvent::ConnectFailed { retry_in, .. } => {
                failed_attempts += 1;
                assert!(retry_in <= Duration::from_millis(100));
            }
            ReconnectEvent::Connected { count, .. } => {
                hooks += 1;
                assert_eq!(count, 2);
                client.send("state 2").await.unwrap();
                break;
            }
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(disconnects, 1);
    assert!(
        failed_attempts >= 1,
        "the server was down for 300 ms; attempts should have failed"
    );
    assert_eq!(hooks, 2);
    expect_echo(&mut client, "state 2").await;
    client.send("after").await.unwrap();
    expect_echo(&mut client, "after").await;

    // Stop: the close handshake completes (the server's loop ends cleanly), then `None` for good.
    assert_eq!(clean.load(Ordering::SeqCst), 0);
    stop.stop();
    assert!(stop.is_stopped());
    let end = timeout(Duration::from_secs(5), client.recv())
        .await
        .unwrap();
    assert!(end.is_none(), "{end:?}");
    assert!(client.recv().await.is_none());
    assert!(!client.is_connected());
    timeout(Duration::from_secs(5), async {
        while clean.load(Ordering::SeqCst) == 0 {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    })
    .await
    .expect("the server saw the close handshake");
    restarted.abort();
}

/// With nothing listening: each failed attempt is reported with a wait within the backoff's
/// ceiling, the attempt limit ends the client with the last error, and then `None`.
#[tokio::test]
async fn gives_up_after_the_attempt_limit() {
    let addr = free_port(); // the listener is gone: connections are refused
    let backoff = Backoff::default()
        .initial_delay(Duration::from_millis(10))
        .factor(2.0)
        .max_delay(Duration::from_millis(30))
        .max_attempts(Some(4));
    let request = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let mut client = ReconnectingClient::new(websock::Connect::request(request), backoff.clone());
    for n in 1..4 {
        let event = timeout(Duration::from_secs(5), client.recv())
            .await
            .unwrap()
            .unwrap();
        match event {
            Ok(ReconnectEvent::ConnectFailed { error, retry_in }) => {
                assert!(matches!(error, Error::Io(_)), "{error:?}");
                assert!(retry_in <= backoff.ceiling(n), "{retry_in:?} after {n}");
            }
            other => panic!("expected ConnectFailed, got {other:?}"),
        }
    }
    let last = timeout(Duration::from_secs(5), client.recv())
        .await
        .unwrap();
    assert!(matches!(last, Some(Err(Error::Io(_)))), "{last:?}");
    assert!(client.recv().await.is_none());
}

/// Stopping while the client waits out a long backoff ends it at once.
#[tokio::test]
async fn stop_during_backoff_is_immediate() {
    let addr = free_port();
    let backoff = Backoff::default()
        .initial_delay(Duration::from_secs(3600))
        .max_delay(Duration::from_secs(3600));
    let request = ClientRequest::new(&format!("ws://{addr}/")).unwrap();
    let mut client = ReconnectingClient::new(websock::Connect::request(request), backoff);
    let stop = client.stop_handle();
    let first = client.recv().await.unwrap().unwrap();
    assert!(matches!(first, ReconnectEvent::ConnectFailed { .. }));
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(50)).await;
        stop.stop();
    });
    let end = timeout(Duration::from_secs(2), client.recv())
        .await
        .unwrap();
    assert!(end.is_none());
}

/// Full jitter stays within the ceiling, and the ceilings grow by the factor up to the maximum.
#[test]
fn backoff_ceilings_and_jitter() {
    use rand::SeedableRng;
    let b = Backoff::default()
        .initial_delay(Duration::from_millis(100))
        .factor(3.0)
        .max_delay(Duration::from_secs(2));
    let ceilings: Vec<_> = (0..5).map(|n| b.ceiling(n)).collect();
    assert_eq!(
        ceilings,
        [100, 300, 900, 2000, 2000].map(Duration::from_millis)
    );
    assert_eq!(b.ceiling(u32::MAX), Duration::from_secs(2));
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    let mut below_half = 0;
    for _ in 0..1000 {
        let d = b.delay(1, &mut rng);
        assert!(d <= Duration::from_millis(300));
        below_half += usize::from(d < Duration::from_millis(150));
    }
    // Uniform over [0, 300 ms]: about half below 150 ms.
    assert!((350..650).contains(&below_half), "{below_half}");
}
