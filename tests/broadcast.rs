//! `websock::broadcast`: topics, per-subscriber queues and their overflow policies, and a slow
//! subscriber over real WebSockets that does not hold up the others.
#![cfg(feature = "tokio")]

use std::time::Duration;

use tokio::time::timeout;
use websock::broadcast::{Delivery, Hub, HubConfig, Overflow, Published};
use websock::{CloseCode, CloseFrame, Message, PreparedMessage};

fn hub(queue: usize, overflow: Overflow) -> Hub {
    Hub::new(HubConfig {
        queue,
        queue_bytes: 1 << 20,
        overflow,
    })
}

fn taken(sub: &websock::broadcast::Subscription) -> Vec<String> {
    let mut out = Vec::new();
    while let Some(d) = sub.try_recv() {
        match d {
            Delivery::Message(m) => out.push(String::from_utf8(m.payload().to_vec()).unwrap()),
            Delivery::Closed(f) => {
                out.push(format!("closed {}", u16::from(f.code)));
                break;
            }
        }
    }
    out
}

#[test]
fn publish_reaches_every_subscriber_of_the_topic_but_the_sender() {
    let hub = Hub::default();
    let (a, b, c) = (
        hub.subscribe("t"),
        hub.subscribe("t"),
        hub.subscribe("other"),
    );
    let m = PreparedMessage::text("hi");
    assert_eq!(hub.publish_except("t", &m, a.id()).queued, 1);
    assert_eq!(taken(&a), Vec::<String>::new());
    assert_eq!(taken(&b), ["hi"]);
    assert_eq!(taken(&c), Vec::<String>::new());
    assert_eq!(hub.publish("nobody", &m), Published::default());
    // The very same encoding is queued, not a copy.
    hub.publish("t", &m);
    let Some(Delivery::Message(got)) = b.try_recv() else {
        panic!()
    };
    assert_eq!(got.payload().as_ptr(), m.payload().as_ptr());
}

#[test]
fn a_later_subscriber_gets_only_later_messages() {
    let hub = Hub::default();
    let early = hub.subscribe("t");
    hub.publish("t", &PreparedMessage::text("one"));
    let late = hub.subscribe("t");
    hub.publish("t", &PreparedMessage::text("two"));
    assert_eq!(taken(&early), ["one", "two"]);
    assert_eq!(taken(&late), ["two"]);
}

#[tokio::test]
async fn dropping_the_last_subscription_removes_the_topic_and_wakes_the_watcher() {
    let hub = Hub::default();
    let mut watcher = hub.watch_topics();
    let a = hub.subscribe("t");
    timeout(Duration::from_secs(1), watcher.changed())
        .await
        .unwrap();
    assert_eq!(hub.topics().len(), 1);
    let b = hub.subscribe("t");
    drop(a);
    assert_eq!(hub.subscribers("t"), 1);
    // A second subscriber and the first one leaving change nothing a bridge cares about.
    assert!(timeout(Duration::from_millis(50), watcher.changed())
        .await
        .is_err());
    drop(b);
    timeout(Duration::from_secs(1), watcher.changed())
        .await
        .unwrap();
    assert!(hub.topics().is_empty());
}

#[test]
fn drop_oldest_keeps_the_newest() {
    let hub = hub(2, Overflow::DropOldest);
    let sub = hub.subscribe("t");
    for m in ["1", "2", "3", "4"] {
        hub.publish("t", &PreparedMessage::text(m));
    }
    assert_eq!(sub.dropped(), 2);
    assert_eq!(taken(&sub), ["3", "4"]);
}

#[test]
fn drop_newest_keeps_what_was_queued() {
    let hub = hub(2, Overflow::DropNewest);
    let sub = hub.subscribe("t");
    let reports: Vec<Published> = ["1", "2", "3"]
        .into_iter()
        .map(|m| hub.publish("t", &PreparedMessage::text(m)))
        .collect();
    assert_eq!(reports[2].dropped, 1);
    assert_eq!(taken(&sub), ["1", "2"]);
}

#[test]
fn close_policy_unsubscribes_only_the_full_subscriber() {
    let frame = CloseFrame::new(CloseCode::POLICY_VIOLATION, "slow");
    let hub = hub(1, Overflow::Close(frame));
    let (slow, fast) = (hub.subscribe("t"), hub.subscribe("t"));
    hub.publish("t", &PreparedMessage::text("1"));
    assert_eq!(taken(&fast), ["1"]);
    let report = hub.publish("t", &PreparedMessage::text("2"));
    assert_eq!((report.queued, report.closed), (1, 1));
    assert_eq!(hub.subscribers("t"), 1);
    // The queue is dropped with it: the close comes next, not old messages.
    assert_eq!(taken(&slow), ["closed 1008"]);
    assert_eq!(taken(&fast), ["2"]);
}

#[test]
fn the_byte_limit_applies_with_the_count_limit() {
    let hub = Hub::new(HubConfig {
        queue: 1000,
        queue_bytes: 10,
        overflow: Overflow::DropNewest,
    });
    let sub = hub.subscribe("t");
    for m in ["aaaa", "bbbb", "cccc"] {
        hub.publish("t", &PreparedMessage::text(m));
    }
    assert_eq!(taken(&sub), ["aaaa", "bbbb"]);
    // One message larger than the limit still goes to an empty queue.
    hub.publish("t", &PreparedMessage::text("x".repeat(100)));
    assert_eq!(taken(&sub).len(), 1);
}

#[tokio::test]
async fn recv_is_cancel_safe_and_wakes_on_publish() {
    let hub = Hub::default();
    let sub = hub.subscribe("t");
    assert!(timeout(Duration::from_millis(20), sub.recv())
        .await
        .is_err());
    let publisher = hub.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(20)).await;
        publisher.publish("t", &PreparedMessage::binary(vec![1, 2, 3]));
    });
    let got = timeout(Duration::from_secs(2), sub.recv()).await.unwrap();
    assert!(matches!(got, Delivery::Message(m) if m.payload()[..] == [1, 2, 3]));
}

/// One publisher, several subscribers over loopback WebSockets, one of which never reads: the
/// others get every message, and the hub closes the slow one with 1013.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_subscriber_that_does_not_read_holds_up_no_one() {
    let hub = Hub::new(HubConfig {
        queue: 64,
        queue_bytes: 1 << 20,
        overflow: Overflow::close_too_slow(),
    });
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let server_hub = hub.clone();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let hub = server_hub.clone();
            tokio::spawn(async move {
                let mut ws = websock::tokio::accept(tcp).await.unwrap();
                let sub = hub.subscribe("feed");
                loop {
                    tokio::select! {
                        m = ws.recv() => if m.is_none() { return },
                        d = sub.recv() => match d {
                            Delivery::Message(m) => if ws.send_prepared(&m).await.is_err() { return },
                            Delivery::Closed(f) => { let _ = ws.close(Some(f)).await; return }
                        },
                    }
                }
            });
        }
    });
    let url = format!("ws://{addr}/");
    let mut readers = Vec::new();
    for _ in 0..3 {
        readers.push(websock::tokio::connect(&url).await.unwrap());
    }
    let mut slow = websock::tokio::connect(&url).await.unwrap();
    while hub.subscribers("feed") < 4 {
        tokio::task::yield_now().await;
    }
    const N: usize = 2000;
    let payload = bytes::Bytes::from(vec![b'x'; 16 << 10]); // 32 MB in all
    let publisher = hub.clone();
    tokio::spawn(async move {
        for _ in 0..N {
            publisher.publish("feed", &PreparedMessage::binary(payload.clone()));
            // Let the readers keep up; the slow one cannot, whatever the pace.
            tokio::time::sleep(Duration::from_micros(200)).await;
        }
    });
    let readers: Vec<_> = readers
        .into_iter()
        .enumerate()
        .map(|(i, mut ws)| {
            tokio::spawn(async move {
                for n in 0..N {
                    let m = timeout(Duration::from_secs(10), ws.recv()).await;
                    assert!(
                        matches!(m, Ok(Some(Ok(Message::Binary(_))))),
                        "reader {i} at {n}: {m:?}"
                    );
                }
            })
        })
        .collect();
    for r in readers {
        r.await.unwrap();
    }
    let close = loop {
        match timeout(Duration::from_secs(10), slow.recv()).await.unwrap() {
            Some(Ok(Message::Close(f))) => break f,
            Some(Ok(_)) => {}
            other => panic!("{other:?}"),
        }
    };
    assert_eq!(close.map(|f| f.code), Some(CloseCode::TRY_AGAIN_LATER));
}
