//! `parse_extensions` on arbitrary text: what parses formats back (`to_header_value`) to text
//! that parses to the same offers; several header values parse like their comma-joined list.
#![no_main]

use websock::proto::handshake::header::parse_extensions;

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    let Ok(s) = std::str::from_utf8(data) else {
        return;
    };
    if let Ok(offers) = parse_extensions([s]) {
        let joined: Vec<String> = offers.iter().map(|o| o.to_header_value()).collect();
        let again = parse_extensions([joined.join(", ").as_str()]);
        assert_eq!(again.as_ref(), Ok(&offers), "formatted as {joined:?}");
        for (o, v) in offers.iter().zip(&joined) {
            assert_eq!(parse_extensions([v.as_str()]), Ok(vec![o.clone()]), "{v:?}");
            assert!(!o.name.is_empty());
        }
    }
    // Lines as separate header fields: when each parses alone, the list equals the joined one.
    let lines: Vec<&str> = s.split('\n').collect();
    if let Ok(offers) = parse_extensions(lines.iter().copied()) {
        assert_eq!(parse_extensions([lines.join(",").as_str()]), Ok(offers));
    }
});
