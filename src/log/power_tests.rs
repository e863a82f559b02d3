//! Power cuts against one partition log, on the storage seam's disk model
//! (only what was fsynced survives, directory entries included).
//!
//! What gregor promises (docs/reliability.md): with `flush.messages=1` every
//! acknowledged batch survives any number of power cuts; with a flush policy
//! that leaves a tail unflushed, a cut loses at most that tail: what comes
//! back is a prefix of what was acknowledged, at least up to the last flush.

use std::os::unix::fs::FileExt;

use super::*;
use crate::record::test_util::{build_batch, TestRecord};
use crate::record::{batch_records, validate_stored_batches, Compression, RecordIter};
use crate::storage::sim::Disk;

/// A small deterministic generator (xorshift64): the cut points differ per
/// cycle but every run of the test sees the same ones.
pub(crate) struct Rng(pub(crate) u64);

impl Rng {
    pub(crate) fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n.max(1)
    }
}

fn config(flush_messages: u64) -> LogConfig {
    LogConfig {
        // Small segments so cuts also land inside rolls.
        segment_bytes: 4096,
        index_interval_bytes: 128,
        flush_messages,
        ..LogConfig::default()
    }
}

/// Every record value in the log, in offset order, with its offset.
pub(crate) fn values(log: &PartitionLog) -> Vec<(i64, Vec<u8>)> {
    let slice = log.read(log.log_start_offset(), u64::MAX, false).unwrap();
    let mut bytes = Vec::new();
    for r in &slice.ranges {
        let mut b = vec![0u8; r.len as usize];
        r.file.read_exact_at(&mut b, r.position).unwrap();
        bytes.extend_from_slice(&b);
    }
    if bytes.is_empty() {
        return Vec::new();
    }
    let mut out = Vec::new();
    let mut rest = &bytes[..];
    for h in validate_stored_batches(&bytes).expect("recovered log holds whole batches") {
        let len = h.total_bytes() as usize;
        let (header, body) = batch_records(&rest[..len]).unwrap();
        for record in RecordIter::new(&header, &body) {
            let record = record.unwrap();
            out.push((record.offset, record.value.unwrap().to_vec()));
        }
        rest = &rest[len..];
    }
    out
}

fn batch_of(cycle: u64, n: u64, records: u64) -> (Vec<u8>, Vec<Vec<u8>>) {
    let values: Vec<Vec<u8>> = (0..records)
        .map(|i| format!("c{cycle}-b{n}-r{i}").into_bytes())
        .collect();
    let now = wall_clock_ms();
    let recs: Vec<TestRecord> = values
        .iter()
        .map(|v| TestRecord::new(Some(b"k"), Some(v), now))
        .collect();
    (build_batch(Compression::None, &recs), values)
}

/// Runs `cycles` rounds of: open, check, append until the power goes at a
/// random call, restart the disk. `flush_every` = Some(k) calls
/// `PartitionLog::flush` after every k-th batch (the unflushed tail is what
/// may be lost); None relies on `flush.messages`.
fn power_cut_cycles(flush_messages: u64, flush_every: Option<u64>, cycles: u64) -> (u64, u64) {
    let root = tempfile::tempdir().unwrap();
    let disk = Disk::mount(root.path());
    let dir = disk.root().join("t-0");
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    // Acknowledged values in order, and how many of them a flush covered.
    let mut acked: Vec<Vec<u8>> = Vec::new();
    let mut flushed = 0usize;
    let mut in_flight: Vec<Vec<u8>> = Vec::new();
    let mut cuts = 0;
    for cycle in 0..cycles {
        let mut log =
            PartitionLog::open(&dir, config(flush_messages)).expect("open after power cut");
        let found: Vec<Vec<u8>> = values(&log).into_iter().map(|(_, v)| v).collect();
        let offsets: Vec<i64> = values(&log).into_iter().map(|(o, _)| o).collect();
        assert!(
            offsets.windows(2).all(|w| w[1] == w[0] + 1),
            "offsets contiguous"
        );
        if flush_every.is_none() {
            // Nothing acknowledged may be missing; at most the batch whose
            // append failed mid-way may also be there.
            assert!(
                found.len() >= acked.len(),
                "cycle {cycle}: {} of {} acknowledged records back",
                found.len(),
                acked.len()
            );
            assert_eq!(found[..acked.len()], acked[..], "cycle {cycle}");
            assert_eq!(
                found[acked.len()..],
                in_flight[..found.len() - acked.len()],
                "cycle {cycle}"
            );
        } else {
            assert!(
                found.len() >= flushed,
                "cycle {cycle}: lost flushed records ({} < {flushed})",
                found.len()
            );
            let known: Vec<&Vec<u8>> = acked.iter().chain(in_flight.iter()).collect();
            assert!(found.len() <= known.len());
            assert!(
                found.iter().zip(&known).all(|(a, b)| a == *b),
                "cycle {cycle}: not a prefix of what was written"
            );
        }
        // What came back is now the history: later appends continue from it.
        acked = found;
        flushed = acked.len();
        in_flight.clear();
        disk.crash_after_ops(1 + rng.below(400));
        for n in 0.. {
            let (batch, vals) = batch_of(cycle, n, 1 + rng.below(20));
            in_flight = vals;
            match log.append(&batch, 0, wall_clock_ms()) {
                Ok(_) => acked.append(&mut in_flight),
                Err(_) => break,
            }
            if let Some(k) = flush_every {
                if (n + 1) % k == 0 && log.flush().is_ok() {
                    flushed = acked.len();
                }
            }
        }
        assert!(disk.crashed(), "the loop only ends at the power cut");
        drop(log);
        disk.restart();
        cuts += 1;
    }
    (cuts, acked.len() as u64)
}

#[test]
fn flush_per_message_loses_nothing_acknowledged_across_power_cuts() {
    let (cuts, records) = power_cut_cycles(1, None, 12);
    eprintln!("flush.messages=1: {cuts} power cuts, {records} acknowledged records, 0 lost");
    assert_eq!(cuts, 12);
    assert!(records > 100, "the test wrote something: {records}");
}

#[test]
fn an_unflushed_tail_is_all_a_power_cut_can_take() {
    let (cuts, records) = power_cut_cycles(u64::MAX, Some(5), 12);
    eprintln!("flush every 5 batches: {cuts} power cuts, {records} records at the end, none lost below a flush");
    assert_eq!(cuts, 12);
}
