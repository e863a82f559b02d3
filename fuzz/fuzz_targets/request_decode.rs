//! Any bytes as a request frame: decoding must return an error, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The broker's allocator: kafka-protocol pre-sizes arrays from wire counts,
/// and the broker survives that through this allocator (see gregor::alloc).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| {
    let _ = gregor::protocol::decode_request(bytes::Bytes::copy_from_slice(data));
});
