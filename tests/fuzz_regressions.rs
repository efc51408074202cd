//! Regression tests for bugs found by the fuzz targets in `fuzz/` (see `fuzz/run.sh`). Each test
//! replays the minimized input, or the API calls it decodes to, and checks what must hold.

use websock::proto::mask::{apply_mask, apply_mask_scalar};
use websock::{CloseCode, Config, Connection, Event, Role, Transmit};

/// Fuzz target `mask`, minimized input
/// `b"\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\xff\x01\x00\xff\xff\xff\xff\xff\x89\xe9"`
/// (key ff ff ff ff, offset `usize::MAX`, 2 bytes): `apply_mask_scalar` panicked with "attempt to
/// add with overflow" (src/proto/mask.rs:15, `offset + i`) in builds with overflow checks, while
/// `apply_mask` accepts any offset. The offset only matters modulo 4.
#[test]
fn mask_scalar_accepts_any_offset() {
    let key = [1, 2, 3, 4];
    let mut slow = [0u8; 2];
    apply_mask_scalar(&mut slow, key, usize::MAX);
    // usize::MAX is 3 modulo 4: the first byte takes key[3], the next key[0].
    assert_eq!(slow, [4, 1]);
    let mut fast = [0u8; 2];
    apply_mask(&mut fast, key, usize::MAX);
    assert_eq!(fast, slow);

    let mut slow = [0u8; 40];
    apply_mask_scalar(&mut slow, key, usize::MAX - 2);
    let mut fast = [0u8; 40];
    apply_mask(&mut fast, key, usize::MAX - 2);
    assert_eq!(fast, slow);
}

/// Fuzz targets `connection_server` and `connection_client`, minimized input `b"\x02\xf3\xf6"`
/// (`receive_eof()`, then `fail_with(1008, ..)`, now `fail`): after the transport ended and
/// `Transmit::Shutdown` was handed out, `fail_with` still queued a close frame
/// (src/proto/conn.rs, `abort` checks only `close_sent`), so `poll_transmit` returned data after
/// the shutdown and `is_terminated()` went back to false.
#[test]
fn fail_with_after_eof_transmits_nothing() {
    for role in [Role::Server, Role::Client] {
        let mut conn = Connection::open(
            role,
            Config::default(),
            websock::Agreed::default(),
            std::time::Instant::now(),
        )
        .with_mask_source(Box::new(|| [1, 2, 3, 4]));
        conn.receive_eof();
        match conn.poll_event() {
            Some(Event::Closed(Err(e))) => assert_eq!(e.close_code(), CloseCode::ABNORMAL),
            other => panic!("{role:?}: {other:?}"),
        }
        assert_eq!(conn.poll_event(), None);
        assert_eq!(conn.poll_transmit(), Some(Transmit::Shutdown));
        assert_eq!(conn.poll_transmit(), None);
        assert!(conn.is_terminated());

        conn.fail(CloseCode::POLICY_VIOLATION, "policy violation")
            .unwrap();
        assert_eq!(
            conn.poll_transmit(),
            None,
            "{role:?}: data transmitted after Transmit::Shutdown"
        );
        assert!(conn.is_terminated(), "{role:?}");
        assert_eq!(conn.poll_event(), None, "{role:?}: a second Closed");
    }
}

/// Fuzz target `deflate`, input `00 ff 01 c1 04 ff ff ff ff`: the messages `c1 04`, then empty
/// ones, compressed with context takeover by the server and inflated by the client. An empty
/// message right after another message compressed to nothing at all (zlib's sync flush emits
/// nothing when there is no new input), so the client read the appended `00 00 ff ff` as the
/// start of a 0xff00-byte stored block and the next empty message inflated to `00 ff ff`
/// (src/proto/ext/deflate.rs, `compress`). An empty message is now sent as `00`.
#[cfg(feature = "deflate")]
#[test]
fn deflate_round_trip_of_empty_messages_under_takeover() {
    use websock::proto::ext::deflate::{Deflate, DeflateConfig, DeflateParams};
    let params = DeflateParams {
        server_no_context_takeover: false,
        client_no_context_takeover: false,
        server_max_window_bits: 15,
        client_max_window_bits: 15,
    };
    let config = DeflateConfig::enabled().level(1);
    let mut tx = Deflate::new(params.for_server(), &config);
    let mut rx = Deflate::new(params.for_client(), &config);
    for msg in [&b"\xc1\x04"[..], b"", b"", b"", b""] {
        let packed = tx.compress(msg);
        let mut out = Vec::new();
        rx.decompress(&packed, true, &mut out, msg.len())
            .unwrap_or_else(|e| panic!("{msg:02x?} packed as {packed:02x?}: {e:?}"));
        assert_eq!(out, msg);
    }
}
