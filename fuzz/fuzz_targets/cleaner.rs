//! Compaction of a log written by a fuzzed program, checked against a model
//! of what must survive (see gregor::fuzzing::cleaner).
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The broker's allocator, as in the broker (see gregor::alloc).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| gregor::fuzzing::cleaner(data));
