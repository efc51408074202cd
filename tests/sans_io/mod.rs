//! Helpers for the tests that drive the sans-IO core by hand (no adapter, no socket).
#![allow(dead_code)]

use websock::{Connection, Event, Transmit};

/// Everything the connection wants written (a large compressed message compressed to the
/// end), and whether it asked for a shutdown.
pub fn drain(c: &mut Connection) -> (Vec<u8>, bool) {
    let mut out = Vec::new();
    let mut shutdown = false;
    loop {
        while let Some(t) = c.poll_transmit() {
            match t {
                Transmit::Data(b) => out.extend_from_slice(&b),
                Transmit::Shutdown => shutdown = true,
            }
        }
        if !c.prepare_transmit() {
            return (out, shutdown);
        }
    }
}

/// Every event the connection has, in order.
pub fn events(c: &mut Connection) -> Vec<Event> {
    std::iter::from_fn(|| c.poll_event()).collect()
}

/// Pseudo-random letters: text that compresses poorly (what costs a compressor most).
pub fn noisy_text(len: usize) -> String {
    let mut x = 0x2545_f491_u32;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            (b'a' + (x % 26) as u8) as char
        })
        .collect()
}
