//! `partition.metadata` contents through the startup sweep and partition
//! preparation (see gregor::fuzzing::marker).
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The broker's allocator, as in the broker (see gregor::alloc).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| gregor::fuzzing::partition_marker(data));
