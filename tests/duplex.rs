//! Full duplex on split halves: one side reads while the other writes 10,000 messages, in both
//! adapters, with pings crossing in the middle (auto-pong must still work after the split) and a
//! close handshake at the end.

mod common;

use std::thread;

use bytes::Bytes;
use common::*;
use websock::{CloseFrame, Error, Message};

const N: usize = 10_000;

#[test]
fn sync_split_reader_and_writer_threads() {
    let addr = tokio_echo_server(config());
    let ws = websock::sync::connect(&format!("ws://{addr}/")).unwrap();
    let (mut reader, mut writer) = ws.split().unwrap();
    let writer_thread = thread::spawn(move || {
        for i in 0..N {
            writer.send(Message::text(format!("message {i}"))).unwrap();
            if i % 1000 == 0 {
                writer
                    .send(Message::Ping(Bytes::from(format!("{i}"))))
                    .unwrap();
            }
        }
        writer
    });
    let mut got = 0;
    let mut pongs = 0;
    while got < N {
        match reader.recv().unwrap() {
            Message::Text(t) => {
                assert_eq!(t.as_str(), format!("message {got}"));
                got += 1;
            }
            Message::Pong(_) => pongs += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pongs, N / 1000);
    let mut writer = writer_thread.join().unwrap();
    writer.close(Some(CloseFrame::new(1000, "done"))).unwrap();
    assert_eq!(
        reader.recv().unwrap(),
        Message::Close(Some(CloseFrame::new(1000, "done")))
    );
    assert!(matches!(reader.recv(), Err(Error::ConnectionClosed)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_split_sink_and_stream_tasks() {
    let addr = sync_echo_server(config());
    let ws = websock::tokio::connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let (mut stream, mut sink) = ws.split();
    let writer = tokio::spawn(async move {
        for i in 0..N {
            sink.send(Message::binary(i.to_be_bytes().to_vec()))
                .await
                .unwrap();
            if i % 1000 == 0 {
                sink.send(Message::Ping(Bytes::from_static(b"x")))
                    .await
                    .unwrap();
            }
        }
        sink
    });
    let mut got = 0usize;
    let mut pongs = 0;
    while got < N {
        match stream.recv().await.unwrap().unwrap() {
            Message::Binary(b) => {
                assert_eq!(&b[..], &got.to_be_bytes());
                got += 1;
            }
            Message::Pong(_) => pongs += 1,
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(pongs, N / 1000);
    let mut sink = writer.await.unwrap();
    sink.close(Some(CloseFrame::new(1000, ""))).await.unwrap();
    assert_eq!(
        stream.recv().await.unwrap().unwrap(),
        Message::Close(Some(CloseFrame::new(1000, "")))
    );
    assert!(stream.recv().await.is_none());
}

/// The server side split: a server that pushes 10,000 messages from one task while its other
/// task reads what the client sends, and answers the client's pings.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokio_server_split_pushes_while_reading() {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server = tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let ws = websock::tokio::accept(tcp).await.unwrap();
        let (mut stream, mut sink) = ws.split();
        let push = tokio::spawn(async move {
            for i in 0..N {
                sink.send(Message::text(i.to_string())).await.unwrap();
            }
            sink
        });
        let mut received = 0;
        while let Some(msg) = stream.recv().await {
            match msg.unwrap() {
                Message::Text(_) => received += 1,
                Message::Ping(_) | Message::Close(_) => {}
                other => panic!("{other:?}"),
            }
        }
        push.await.unwrap();
        received
    });
    let ws = websock::tokio::connect(&format!("ws://{addr}/"))
        .await
        .unwrap();
    let (mut stream, mut sink) = ws.split();
    for i in 0..100 {
        sink.send(Message::text(format!("c{i}"))).await.unwrap();
        sink.send(Message::Ping(Bytes::new())).await.unwrap();
    }
    let mut got = 0;
    let mut pongs = 0;
    while got < N || pongs < 100 {
        match stream.recv().await.unwrap().unwrap() {
            Message::Text(t) => {
                assert_eq!(t.as_str(), got.to_string());
                got += 1;
            }
            Message::Pong(_) => pongs += 1,
            other => panic!("{other:?}"),
        }
    }
    sink.close(None).await.unwrap();
    while let Some(m) = stream.recv().await {
        assert!(matches!(m, Ok(Message::Close(_))), "{m:?}");
    }
    assert_eq!(server.await.unwrap(), 100);
}
