//! The sans-IO core the way a device without `std` drives it: fixed receive and transmit
//! buffers, a tick counter as the clock, masking keys and the handshake key from the device's
//! random number generator, and nothing from the operating system.
//!
//! ```text
//! cargo run --example embedded
//! ```
//!
//! `drive` below uses only what `websock` offers with `default-features = false` (it builds
//! for `thumbv7em-none-eabihf`: `cargo build --lib --no-default-features --target
//! thumbv7em-none-eabihf`); `main` plays the device's UART or TCP stack with a loopback between
//! a client and a server, so the example runs on a host.

use core::time::Duration;

use websock::proto::handshake::client::ClientRequest;
use websock::proto::handshake::server::Accept;
use websock::proto::time::Instant;
use websock::{CloseFrame, Config, Connection, Event, Message};

/// The device's hardware random number generator (here a xorshift: replace with the real one).
struct Trng(u32);

impl Trng {
    fn next(&mut self) -> u32 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 17;
        self.0 ^= self.0 << 5;
        self.0
    }
}

/// Moves what `from` has to send into `wire` (a fixed transmit buffer) and from there into `to`,
/// as a device's send and receive interrupts would. Returns the bytes moved.
fn pump(from: &mut Connection, to: &mut Connection, wire: &mut [u8]) -> usize {
    let mut moved = 0;
    loop {
        // Fill the fixed buffer from the connection's queue, without a heap copy.
        let mut n = 0;
        for chunk in from.transmit_chunks() {
            let take = chunk.len().min(wire.len() - n);
            wire[n..n + take].copy_from_slice(&chunk[..take]);
            n += take;
            if n == wire.len() {
                break;
            }
        }
        if n == 0 {
            // Nothing queued: a large compressed message may have its next piece to prepare.
            if !from.prepare_transmit() {
                return moved;
            }
            continue;
        }
        from.advance_transmit(n);
        // The peer's receive side: straight into its connection.
        to.receive(&wire[..n]);
        moved += n;
    }
}

/// One exchange: handshake, a message each way, a close; the clock is a millisecond tick.
fn drive(rng: &mut Trng) -> (usize, Option<u16>) {
    let mut ticks = 0u64;
    let mut now = || {
        ticks += 1;
        Instant::from_origin(Duration::from_millis(ticks))
    };
    let config = Config::default()
        .max_message_size(4096)
        .max_frame_size(4096);
    let mut key = [0u8; 16];
    for k in key.chunks_mut(4) {
        k.copy_from_slice(&rng.next().to_ne_bytes());
    }
    let mut masks = Trng(rng.next() | 1);
    let request = ClientRequest::new("ws://device.local/telemetry").expect("a valid URI");
    let mut client = Connection::client_with(
        request,
        key,
        Box::new(move || masks.next().to_ne_bytes()),
        config.clone(),
        now(),
    )
    .expect("a valid request");
    let mut server = Connection::server(config, now());
    let mut wire = [0u8; 512]; // the fixed transmit buffer
    let mut moved = pump(&mut client, &mut server, &mut wire);
    let Some(Event::Request(_)) = server.poll_event() else {
        panic!("the server should have the request")
    };
    server.decide(Ok(Accept::new())).expect("one decision");
    moved += pump(&mut server, &mut client, &mut wire);
    assert_eq!(client.poll_event(), Some(Event::Open));
    assert_eq!(server.poll_event(), Some(Event::Open));

    client
        .send(Message::text("temperature=21.5"))
        .expect("open");
    moved += pump(&mut client, &mut server, &mut wire);
    let Some(Event::Message(m)) = server.poll_event() else {
        panic!("the server should have the message")
    };
    server.send(m).expect("open"); // echo
    moved += pump(&mut server, &mut client, &mut wire);
    assert_eq!(
        client.poll_event(),
        Some(Event::Message(Message::text("temperature=21.5")))
    );

    client
        .close(Some(CloseFrame::new(1000, "going to sleep")))
        .expect("open");
    moved += pump(&mut client, &mut server, &mut wire);
    moved += pump(&mut server, &mut client, &mut wire);
    server.handle_timeout(now());
    client.handle_timeout(now());
    let closed = match client.poll_event() {
        Some(Event::Closed(Ok(frame))) => frame.map(|f| u16::from(f.code)),
        other => panic!("the client should see the close: {other:?}"),
    };
    (moved, closed)
}

fn main() {
    let mut rng = Trng(0x1234_5678);
    let (moved, closed) = drive(&mut rng);
    println!("handshake, one message each way and the close: {moved} bytes through a 512-byte buffer; closed with {closed:?}");
}
