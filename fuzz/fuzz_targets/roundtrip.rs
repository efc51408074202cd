//! Messages sent by one core, piped in arbitrary chunks into a core of the other role, arrive
//! exactly as sent (with or without permessage-deflate on arbitrary terms, and a small work
//! budget so that large compressed messages go out a piece at a time): fragments as one message (or, in streaming mode, as pieces that add up to
//! it), pings and pongs as messages, then the close handshake completes without an error on
//! either side. Pongs answering the pings flow back and arrive at the sender.
#![no_main]

use arbitrary::Arbitrary;
use bytes::Bytes;
use websock::proto::close::CloseCode;
use websock::proto::config::DeflateConfig;
use websock::proto::ext::deflate::DeflateParams;
use websock::proto::ext::Negotiated;
use websock::{
    CloseFrame, Config, Connection, DataKind, Event, Message, Role, Transmit, Utf8Bytes,
};

#[derive(Arbitrary, Debug)]
enum Piece {
    /// Cut the message here (an offset, reduced modulo its length + 1).
    Cut(u16),
    /// A ping between two fragments.
    Ping(Vec<u8>),
}

#[derive(Arbitrary, Debug)]
enum Item {
    Text(String),
    Binary(Vec<u8>),
    Ping(Vec<u8>),
    Pong(Vec<u8>),
    FragmentedText(String, Vec<Piece>),
    FragmentedBinary(Vec<u8>, Vec<Piece>),
}

#[derive(Arbitrary, Debug)]
struct Input {
    /// The server sends, the client receives (else the reverse).
    server_sends: bool,
    /// The receiver streams fragments instead of assembling messages.
    streaming: bool,
    /// The first masking key; the next ones count up from it.
    mask: u32,
    /// Chunk sizes for the pipe, used in turn.
    chunks: Vec<u16>,
    /// Close code (reduced to a sendable one) and reason.
    close: (u16, String),
    /// permessage-deflate on these terms: windows (reduced to 8-15), no-context-takeover flags,
    /// and the compression threshold.
    deflate: Option<(u8, u8, bool, bool, u8)>,
    /// The work budget (`Config::poll_budget`), reduced to 1..=4096.
    budget: u16,
    items: Vec<Item>,
}

struct Pipe {
    chunks: Vec<usize>,
    next: usize,
}

impl Pipe {
    /// Moves everything `from` transmits into `to`, in chunks, polling `to`'s events after each
    /// chunk into `events`. Returns whether `from` asked to shut down.
    fn carry(
        &mut self,
        from: &mut Connection,
        to: &mut Connection,
        events: &mut Vec<Event>,
    ) -> bool {
        let mut bytes = Vec::new();
        let mut shutdown = false;
        loop {
            while let Some(t) = from.poll_transmit() {
                match t {
                    Transmit::Data(b) => {
                        assert!(!shutdown, "data after shutdown");
                        bytes.extend_from_slice(&b);
                    }
                    Transmit::Shutdown => shutdown = true,
                }
            }
            if !from.prepare_transmit() {
                break;
            }
        }
        let mut rest = &bytes[..];
        loop {
            let n = self.chunks[self.next % self.chunks.len()].min(rest.len());
            self.next += 1;
            let (now, later) = rest.split_at(n);
            to.receive(now);
            while let Some(ev) = to.poll_event() {
                events.push(ev);
            }
            rest = later;
            if rest.is_empty() {
                break;
            }
        }
        if shutdown {
            to.receive_eof();
            while let Some(ev) = to.poll_event() {
                events.push(ev);
            }
        }
        shutdown
    }
}

fn cuts(len: usize, pieces: &[Piece]) -> Vec<(usize, Option<Vec<u8>>)> {
    let mut out: Vec<(usize, Option<Vec<u8>>)> = pieces
        .iter()
        .take(16)
        .map(|p| match p {
            Piece::Cut(c) => (usize::from(*c) % (len + 1), None),
            Piece::Ping(b) => (0, Some(b[..b.len().min(125)].to_vec())),
        })
        .collect();
    // Cuts in order; pings stay where they are relative to the cuts around them.
    let mut last = 0;
    for (at, ping) in &mut out {
        if ping.is_some() {
            *at = last;
        } else {
            *at = (*at).max(last);
            last = *at;
        }
    }
    out
}

/// Reassembles streamed fragments into messages; other events pass through.
fn assemble(events: Vec<Event>) -> Vec<Event> {
    let mut out = Vec::new();
    let mut cur: Option<(DataKind, Vec<u8>)> = None;
    for ev in events {
        match ev {
            Event::Fragment(f) => {
                assert_eq!(f.first, cur.is_none(), "first flag of {f:?}");
                let (kind, buf) = cur.get_or_insert((f.kind, Vec::new()));
                assert_eq!(*kind, f.kind);
                buf.extend_from_slice(&f.data);
                if f.fin {
                    let (kind, buf) = cur.take().unwrap();
                    out.push(Event::Message(match kind {
                        DataKind::Text => {
                            Message::Text(Utf8Bytes::try_from(buf).expect("streamed text is UTF-8"))
                        }
                        DataKind::Binary => Message::Binary(buf.into()),
                    }));
                }
            }
            other => out.push(other),
        }
    }
    assert!(cur.is_none(), "message left unfinished");
    out
}

libfuzzer_sys::fuzz_target!(|input: Input| {
    let (tx_role, rx_role) = if input.server_sends {
        (Role::Server, Role::Client)
    } else {
        (Role::Client, Role::Server)
    };
    let mut key = input.mask;
    let params = input.deflate.map(|(s, c, sr, cr, _)| DeflateParams {
        server_max_window_bits: 8 + s % 8,
        client_max_window_bits: 8 + c % 8,
        server_no_context_takeover: sr,
        client_no_context_takeover: cr,
    });
    let mut base = Config::default().poll_budget(usize::from(input.budget % 4096) + 1);
    if let Some((.., threshold)) = input.deflate {
        base = base.deflate(DeflateConfig::enabled().threshold(usize::from(threshold)));
    }
    let new = |role: Role, config: Config| {
        let mut extensions = Negotiated::none();
        extensions.deflate = params.map(|p| match role {
            Role::Server => p.for_server(),
            Role::Client => p.for_client(),
        });
        let agreed = websock::Agreed {
            protocol: None,
            extensions,
        };
        let conn = Connection::open(role, config, agreed, std::time::Instant::now());
        if role == Role::Client {
            conn.with_mask_source(Box::new(move || {
                key = key.wrapping_add(0x0101_0101);
                key.to_be_bytes()
            }))
        } else {
            conn
        }
    };
    let mut tx = new(tx_role, base.clone());
    let mut rx = new(rx_role, base.clone().streaming(input.streaming));
    let chunks: Vec<usize> = input
        .chunks
        .iter()
        .map(|&c| usize::from(c % 2048) + 1)
        .collect();
    let mut pipe = Pipe {
        chunks: if chunks.is_empty() {
            vec![usize::MAX]
        } else {
            chunks
        },
        next: 0,
    };

    let mut want_rx = Vec::new();
    let mut want_tx = Vec::new();
    let (mut got_rx, mut got_tx) = (Vec::new(), Vec::new());
    for item in input.items.iter().take(64) {
        match item {
            Item::Text(s) => {
                tx.send_text(s.as_str()).unwrap();
                want_rx.push(Event::Message(Message::text(s.as_str())));
            }
            Item::Binary(b) => {
                tx.send_binary(b.clone()).unwrap();
                want_rx.push(Event::Message(Message::binary(b.clone())));
            }
            Item::Ping(b) | Item::Pong(b) => {
                let b = Bytes::copy_from_slice(&b[..b.len().min(125)]);
                if matches!(item, Item::Ping(_)) {
                    tx.send_ping(b.clone()).unwrap();
                    want_rx.push(Event::Message(Message::Ping(b.clone())));
                    want_tx.push(Event::Message(Message::Pong(b)));
                } else {
                    tx.send_pong(b.clone()).unwrap();
                    want_rx.push(Event::Message(Message::Pong(b)));
                }
            }
            Item::FragmentedText(_, pieces) | Item::FragmentedBinary(_, pieces) => {
                let (kind, data, whole) = match item {
                    Item::FragmentedText(s, _) => {
                        (DataKind::Text, s.as_bytes(), Message::text(s.as_str()))
                    }
                    Item::FragmentedBinary(b, _) => {
                        (DataKind::Binary, &b[..], Message::binary(b.clone()))
                    }
                    _ => unreachable!(),
                };
                let mut start = 0;
                for (at, ping) in cuts(data.len(), pieces) {
                    match ping {
                        Some(p) => {
                            tx.send_ping(p.clone()).unwrap();
                            want_rx.push(Event::Message(Message::Ping(p.clone().into())));
                            want_tx.push(Event::Message(Message::Pong(p.into())));
                        }
                        None => {
                            let piece = Bytes::copy_from_slice(&data[start..at]);
                            tx.send_fragment(kind, piece, false).unwrap();
                            start = at;
                        }
                    }
                    // Sometimes carry bytes mid-message.
                    if at % 3 == 0 {
                        pipe.carry(&mut tx, &mut rx, &mut got_rx);
                        pipe.carry(&mut rx, &mut tx, &mut got_tx);
                    }
                }
                let last = Bytes::copy_from_slice(&data[start..]);
                tx.send_fragment(kind, last, true).unwrap();
                want_rx.push(Event::Message(whole));
            }
        }
        pipe.carry(&mut tx, &mut rx, &mut got_rx);
        pipe.carry(&mut rx, &mut tx, &mut got_tx);
    }

    // The close handshake.
    let (code, reason) = &input.close;
    let code = CloseCode(3000 + code % 2000);
    let mut end = reason.len().min(123);
    while !reason.is_char_boundary(end) {
        end -= 1;
    }
    let reason = &reason[..end];
    tx.close(Some(CloseFrame::new(code, reason))).unwrap();
    want_rx.push(Event::Closed(Ok(Some(CloseFrame::new(code, reason)))));
    for _ in 0..3 {
        pipe.carry(&mut tx, &mut rx, &mut got_rx);
        pipe.carry(&mut rx, &mut tx, &mut got_tx);
    }

    assert_eq!(tx.last_error(), None, "sender failed");
    assert_eq!(rx.last_error(), None, "receiver failed");
    let got_rx = if input.streaming {
        assemble(got_rx)
    } else {
        got_rx
    };
    assert_eq!(got_rx, want_rx, "receiver events");
    match got_tx.pop() {
        Some(Event::Closed(Ok(Some(f)))) => {
            // The peer echoes the code; the reason may be echoed too, or left out.
            assert_eq!(f.code, code, "close code echoed");
            assert!(
                f.reason.is_empty() || f.reason == reason,
                "echoed reason {f:?}"
            );
        }
        other => panic!("sender's last event {other:?}, not Closed"),
    }
    assert_eq!(got_tx, want_tx, "sender events");
    assert!(tx.is_terminated(), "sender not terminated: {tx:?}");
    assert!(rx.is_terminated(), "receiver not terminated: {rx:?}");
});
