//! `FrameHeader::decode` on arbitrary bytes: a decoded header re-encodes to exactly the bytes it
//! came from, "need more" is consistent over prefixes, and control frames obey RFC 6455 5.5.
#![no_main]

use std::mem::discriminant;

use websock::proto::frame::{FrameHeader, MAX_HEADER_LEN};

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let full = FrameHeader::decode(data);
    match &full {
        Ok(Some((h, n))) => {
            let n = *n;
            assert!(n <= data.len(), "length {n} past the input");
            assert!(n <= MAX_HEADER_LEN);
            assert_eq!(n, h.encoded_len());
            let mut out = [0u8; MAX_HEADER_LEN];
            let m = h.encode(&mut out);
            assert_eq!(m, n, "encode wrote {m} bytes, decode read {n}");
            assert_eq!(&out[..m], &data[..n], "re-encoding {h:?}");
            assert!(h.rsv <= 7);
            assert!(h.payload_len >> 63 == 0, "63-bit length");
            if h.opcode.is_control() {
                assert!(h.payload_len <= 125 && h.fin, "control frame {h:?}");
            }
            // Bytes past the header do not matter.
            assert_eq!(FrameHeader::decode(&data[..n]), full);
        }
        Ok(None) => assert!(
            data.len() < MAX_HEADER_LEN,
            "need more with {} bytes",
            data.len()
        ),
        Err(_) => {}
    }
    // Over growing prefixes: "need more" until a verdict, which then never changes (an error
    // keeps its kind; its payload, e.g. a length, may become known).
    let mut verdict: Option<Result<Option<(FrameHeader, usize)>, _>> = None;
    for k in 0..=data.len().min(MAX_HEADER_LEN + 2) {
        let r = FrameHeader::decode(&data[..k]);
        match (&verdict, &r) {
            (None, Ok(None)) => {}
            (None, _) => verdict = Some(r),
            (Some(Ok(v)), Ok(w)) => assert_eq!(v, w, "prefix {k}"),
            (Some(Err(a)), Err(b)) => {
                assert_eq!(
                    discriminant(a),
                    discriminant(b),
                    "prefix {k}: {a:?} then {b:?}"
                )
            }
            (Some(v), _) => panic!("prefix {k}: {v:?} then {r:?}"),
        }
    }
    match (verdict, &full) {
        (None, Ok(None)) => {}
        (Some(Ok(v)), Ok(w)) => assert_eq!(&v, w),
        (Some(Err(a)), Err(b)) => assert_eq!(discriminant(&a), discriminant(b)),
        (v, _) => panic!("prefixes {v:?}, whole {full:?}"),
    }
});
