//! The incremental UTF-8 validator fed in arbitrary chunks agrees with `std::str::from_utf8`,
//! and reports the same offset however the input is cut.
#![no_main]

use websock::proto::utf8::Validator;

libfuzzer_sys::fuzz_target!(|input: &[u8]| {
    let Some((&seed, data)) = input.split_first() else {
        return;
    };
    let whole = {
        let mut v = Validator::new();
        v.feed(data).and_then(|_| v.finish()).map_err(|e| e.offset)
    };
    let mut v = Validator::new();
    let mut start = 0;
    let mut chunked = Ok(());
    for end in websock_fuzz::chunk_ends(seed, data.len()) {
        if let Err(e) = v.feed(&data[start..end]) {
            chunked = Err(e.offset);
            break;
        }
        assert_eq!(v.fed(), end);
        assert_eq!(v.is_boundary(), std::str::from_utf8(&data[..end]).is_ok());
        start = end;
    }
    let chunked = chunked.and_then(|_| v.finish().map_err(|e| e.offset));
    assert_eq!(whole, chunked, "whole vs chunked");
    match std::str::from_utf8(data) {
        Ok(_) => assert_eq!(whole, Ok(())),
        Err(e) => {
            let off = whole.expect_err("std rejects, validator accepts");
            let lo = e.valid_up_to();
            assert!(
                off >= lo && off < data.len() && off <= lo + 3,
                "offset {off}, std {e:?}"
            );
        }
    }
});
