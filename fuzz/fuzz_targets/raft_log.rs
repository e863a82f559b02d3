//! The metadata log's files opened, replayed into the state machine and
//! snapshotted (see gregor::fuzzing::raft).
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The broker's allocator, as in the broker (see gregor::alloc).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

fuzz_target!(|data: &[u8]| gregor::fuzzing::raft_log(data));
