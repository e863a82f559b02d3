//! Any bytes as a produce request's records: validation (header and CRC, then
//! every record, decompressing as needed) must return an error or a list of
//! batches that fit inside the input, never panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

/// The broker's allocator: kafka-protocol pre-sizes arrays from wire counts,
/// and the broker survives that through this allocator (see gregor::alloc).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

/// The broker's clock for the record checks, in ms (any fixed instant).
const NOW_MS: i64 = 1_700_000_000_000;

fuzz_target!(|data: &[u8]| {
    if let Ok(batches) = gregor::record::validate_batches(data) {
        let total: usize = batches.iter().map(|b| b.total_bytes() as usize).sum();
        assert_eq!(total, data.len());
        let rules = gregor::log::LogConfig::default().record_rules();
        if let Ok(checked) = gregor::record::validate_produced_records(data, &rules, NOW_MS) {
            assert_eq!(checked, batches);
        }
    }
});
