//! Messages encoded once and sent on many connections: servers share the frame bytes (and,
//! under permessage-deflate without context takeover, the compressed frame per set of terms);
//! what cannot be shared is encoded per connection; every peer decodes what was sent.

mod sans_io;

use std::time::Instant;

use bytes::Bytes;
use sans_io::{drain, events};
use websock::proto::ext::Negotiated;
use websock::{
    Agreed, ApiMisuse, Config, Connection, DataKind, Event, Message, PreparedMessage, Role,
    Transmit,
};

fn open(role: Role, extensions: Negotiated, config: Config) -> Connection {
    let agreed = Agreed {
        protocol: None,
        extensions,
    };
    Connection::open(role, config, agreed, Instant::now())
}

/// The one chunk a connection queued.
fn queued(c: &mut Connection) -> Bytes {
    let Some(Transmit::Data(b)) = c.poll_transmit() else {
        panic!("nothing queued")
    };
    assert!(c.poll_transmit().is_none(), "one chunk");
    b
}

#[test]
fn servers_share_one_frame() {
    let text = "scores: 2-1 ".repeat(100);
    let message = PreparedMessage::text(text.as_str());
    let mut first: Option<Bytes> = None;
    for _ in 0..100 {
        let mut s = open(Role::Server, Negotiated::none(), Config::default());
        s.send_prepared(&message).unwrap();
        let b = queued(&mut s);
        match &first {
            None => first = Some(b.clone()),
            Some(f) => assert_eq!(f.as_ptr(), b.as_ptr(), "the same bytes, not a copy"),
        }
        let mut c = open(Role::Client, Negotiated::none(), Config::default());
        c.receive(&b);
        assert_eq!(
            events(&mut c),
            [Event::Message(Message::text(text.as_str()))]
        );
    }
}

#[test]
fn clients_mask_each_frame() {
    let message = PreparedMessage::binary(vec![9u8; 1000]);
    let mut a = open(Role::Client, Negotiated::none(), Config::default());
    let mut b = open(Role::Client, Negotiated::none(), Config::default());
    a.send_prepared(&message).unwrap();
    b.send_prepared(&message).unwrap();
    let (wa, _) = drain(&mut a);
    let (wb, _) = drain(&mut b);
    assert_ne!(wa, wb, "fresh masks");
    for wire in [wa, wb] {
        let mut s = open(Role::Server, Negotiated::none(), Config::default());
        s.receive(&wire);
        assert_eq!(
            events(&mut s),
            [Event::Message(Message::binary(vec![9u8; 1000]))]
        );
    }
}

#[cfg(feature = "deflate")]
mod deflate {
    use super::*;
    use websock::proto::ext::deflate::{DeflateConfig, DeflateParams};

    fn terms(bits: u8, reset: bool) -> DeflateParams {
        DeflateParams {
            server_no_context_takeover: reset,
            client_no_context_takeover: false,
            server_max_window_bits: bits,
            client_max_window_bits: 15,
        }
    }

    fn pair(p: DeflateParams) -> (Connection, Connection) {
        let config = Config::default().deflate(DeflateConfig::enabled());
        let mut server = Negotiated::none();
        server.deflate = Some(p.for_server());
        let mut client = Negotiated::none();
        client.deflate = Some(p.for_client());
        (
            open(Role::Server, server, config.clone()),
            open(Role::Client, client, config),
        )
    }

    /// Without context takeover a message is compressed once per distinct window (and level)
    /// and that frame shared; with takeover each connection compresses it against its own
    /// history. Every client decodes every message.
    #[test]
    fn compressed_once_per_terms_where_the_rfc_allows() {
        // Letters at random: compresses, but not below the size the queue would copy.
        let text = sans_io::noisy_text(20_000);
        let message = PreparedMessage::text(text.as_str());
        let mut shared: Vec<(u8, Bytes)> = Vec::new();
        for (bits, reset) in [(15, true), (15, true), (10, true), (10, true), (15, true)] {
            let (mut s, mut c) = pair(terms(bits, reset));
            for round in 0..2 {
                s.send_prepared(&message).unwrap();
                let b = queued(&mut s);
                assert!(b.len() < text.len() * 3 / 4, "compressed: {}", b.len());
                assert_eq!(b[0] & 0x40, 0x40, "RSV1");
                match shared.iter().find(|(k, _)| *k == bits) {
                    Some((_, f)) => assert_eq!(f.as_ptr(), b.as_ptr(), "bits {bits} round {round}"),
                    None => shared.push((bits, b.clone())),
                }
                c.receive(&b);
                assert_eq!(
                    events(&mut c),
                    [Event::Message(Message::text(text.as_str()))]
                );
            }
        }
        assert_eq!(shared.len(), 2, "one compressed frame per window");
        assert_ne!(shared[0].1, shared[1].1);

        // With context takeover: per connection, and the second send uses the history.
        let mut sizes = Vec::new();
        let (mut s, mut c) = pair(terms(15, false));
        for _ in 0..2 {
            s.send_prepared(&message).unwrap();
            let (b, _) = drain(&mut s);
            sizes.push(b.len());
            c.receive(&b);
            assert_eq!(
                events(&mut c),
                [Event::Message(Message::text(text.as_str()))]
            );
        }
        assert!(
            sizes[1] < sizes[0] / 10,
            "the second send refers back to the first: {sizes:?}"
        );
    }
}

#[test]
fn prepared_sends_follow_the_send_rules() {
    let message = PreparedMessage::text("x");
    let mut s = open(Role::Server, Negotiated::none(), Config::default());
    s.send_fragment(DataKind::Text, "part", false).unwrap();
    assert_eq!(
        s.send_prepared(&message),
        Err(ApiMisuse::FragmentedMessageInProgress)
    );
    s.send_fragment(DataKind::Text, "end", true).unwrap();
    s.send_prepared(&message).unwrap();
    s.close(None).unwrap();
    assert_eq!(s.send_prepared(&message), Err(ApiMisuse::SendAfterClose));
}

/// Through the tokio adapter: one prepared message reaches 20 clients over TCP.
#[tokio::test]
async fn tokio_server_broadcasts_one_prepared_message() {
    use websock::proto::handshake::server::Accept;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let message = PreparedMessage::binary(vec![42u8; 100_000]);
    let server = tokio::spawn(async move {
        let mut sockets = Vec::new();
        for _ in 0..20 {
            let (tcp, _) = listener.accept().await.unwrap();
            let ws = websock::tokio::accept_with(tcp, Config::default(), |_| Ok(Accept::new()))
                .await
                .unwrap()
                .websocket()
                .unwrap();
            sockets.push(ws);
        }
        for ws in &mut sockets {
            ws.send_prepared(&message).await.unwrap();
        }
        sockets
    });
    let mut clients = Vec::new();
    for _ in 0..20 {
        clients.push(
            websock::tokio::connect(&format!("ws://{addr}/"))
                .await
                .unwrap(),
        );
    }
    let _sockets = server.await.unwrap();
    for c in &mut clients {
        let m = c.recv().await.unwrap().unwrap();
        assert_eq!(m, Message::binary(vec![42u8; 100_000]));
    }
}
