//! A server-side connection fed arbitrary bytes in arbitrary chunks, mixed with API calls.
//! See `websock_fuzz::conn` for the input layout and what is checked.
#![no_main]

libfuzzer_sys::fuzz_target!(|data: &[u8]| {
    websock_fuzz::conn::run(websock::Role::Server, data);
});
