//! Any bytes as a request frame: decoding must return an error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = gregor::protocol::decode_request(bytes::Bytes::copy_from_slice(data));
});
