//! A partition directory of fuzzed files opened, read back, appended to,
//! cleaned and reopened (see gregor::fuzzing::log_files).
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The broker's allocator, as in the broker (see gregor::alloc).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| gregor::fuzzing::log_recovery(data));
