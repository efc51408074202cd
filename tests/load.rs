//! A server under 1,000 concurrent connections: every client connects, echoes a few messages and
//! closes cleanly, all at once, against each adapter's server.

mod common;

use common::*;
use websock::{CloseFrame, Message};

async fn swarm(addr: std::net::SocketAddr, clients: usize) {
    let url = format!("ws://{addr}/");
    let mut tasks = Vec::with_capacity(clients);
    // All connections are opened first and held, so the server has them all at once.
    let barrier = std::sync::Arc::new(tokio::sync::Barrier::new(clients));
    for i in 0..clients {
        let url = url.clone();
        let barrier = barrier.clone();
        tasks.push(tokio::spawn(async move {
            let mut ws = websock::tokio::connect(&url).await.unwrap();
            barrier.wait().await;
            for j in 0..3 {
                let msg = Message::text(format!("client {i} message {j}"));
                ws.send(msg.clone()).await.unwrap();
                assert_eq!(ws.recv().await.unwrap().unwrap(), msg);
            }
            ws.close(Some(CloseFrame::new(1000, ""))).await.unwrap();
            assert_eq!(
                ws.recv().await.unwrap().unwrap(),
                Message::Close(Some(CloseFrame::new(1000, "")))
            );
            assert!(
                ws.recv().await.is_none(),
                "server closes TCP after the close handshake"
            );
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_connections_tokio_server() {
    swarm(tokio_echo_server(config()), 1000).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thousand_concurrent_connections_sync_server() {
    swarm(sync_echo_server(config()), 1000).await;
}
