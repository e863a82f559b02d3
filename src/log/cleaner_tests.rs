//! Compaction tests on real files.

use std::collections::BTreeMap;
use std::fs;
use std::path::Path;

use super::cleaner::{
    STEP_CLEANED_WRITTEN, STEP_COMMITTED, STEP_INDEXES_SWAPPED_IN, STEP_INDEX_SWAPS_RENAMED,
    STEP_MERGED_AWAY_DELETED,
};
use super::*;
use crate::record::{
    batch_records, build_batch, validate_stored_batches, BatchParams, BuilderRecord, Compression,
    RecordIter,
};

const DAY_MS: i64 = 86_400_000;

fn compact_cfg(segment_bytes: u64) -> LogConfig {
    LogConfig {
        segment_bytes,
        index_interval_bytes: 64,
        cleanup_policy_compact: true,
        cleanup_policy_delete: false,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// One batch of (key, value) records with timestamp `ts`.
fn kv_batch(codec: Compression, recs: &[(Option<&str>, Option<&str>)], ts: i64) -> Vec<u8> {
    let records: Vec<BuilderRecord<'_>> = recs
        .iter()
        .enumerate()
        .map(|(i, (k, v))| BuilderRecord {
            offset_delta: i as i32,
            timestamp: ts,
            key: k.map(str::as_bytes),
            value: v.map(str::as_bytes),
            ..BuilderRecord::default()
        })
        .collect();
    build_batch(
        &records,
        BatchParams {
            compression: codec,
            ..BatchParams::default()
        },
    )
    .unwrap()
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct Rec {
    offset: i64,
    key: Option<String>,
    value: Option<String>,
}

fn read_all_bytes(log: &PartitionLog) -> Vec<u8> {
    let slice = log.read(log.log_start_offset(), u64::MAX, true).unwrap();
    let mut out = Vec::new();
    for r in &slice.ranges {
        let mut b = vec![0u8; r.len as usize];
        std::os::unix::fs::FileExt::read_exact_at(&*r.file, &mut b, r.position).unwrap();
        out.extend_from_slice(&b);
    }
    out
}

/// Every record in the log, checking batch framing/CRC and strictly increasing offsets.
fn records(log: &PartitionLog) -> Vec<Rec> {
    let bytes = read_all_bytes(log);
    if bytes.is_empty() {
        return Vec::new();
    }
    let headers = validate_stored_batches(&bytes).unwrap();
    let mut out: Vec<Rec> = Vec::new();
    let mut pos = 0usize;
    let mut prev_last = -1;
    for h in headers {
        assert!(h.base_offset > prev_last, "batches must not overlap");
        prev_last = h.last_offset();
        let batch = &bytes[pos..pos + h.total_bytes() as usize];
        let (hh, body) = batch_records(batch).unwrap();
        for r in RecordIter::new(&hh, &body) {
            let r = r.unwrap();
            assert!(r.offset >= h.base_offset && r.offset <= h.last_offset());
            if let Some(p) = out.last() {
                assert!(r.offset > p.offset, "offsets strictly increase");
            }
            out.push(Rec {
                offset: r.offset,
                key: r.key.map(|k| String::from_utf8(k.to_vec()).unwrap()),
                value: r.value.map(|v| String::from_utf8(v.to_vec()).unwrap()),
            });
        }
        pos += h.total_bytes() as usize;
    }
    out
}

/// key → (offset, value) of the latest record per key.
fn latest(recs: &[Rec]) -> BTreeMap<String, (i64, Option<String>)> {
    let mut m = BTreeMap::new();
    for r in recs {
        if let Some(k) = &r.key {
            m.insert(k.clone(), (r.offset, r.value.clone()));
        }
    }
    m
}

fn active_bytes(dir: &Path, log: &PartitionLog) -> Vec<u8> {
    fs::read(dir.join(segment::file_name(log.active().base_offset, ".log"))).unwrap()
}

/// 10 keys updated `rounds` times, one record per batch, plus a final active segment.
fn fill_updates(log: &mut PartitionLog, codec: Compression, rounds: usize, ts: i64) {
    for round in 0..rounds {
        for k in 0..10 {
            let key = format!("k{k}");
            let value = format!("v{k}-{round}");
            log.append(&kv_batch(codec, &[(Some(&key), Some(&value))], ts), 0, 0)
                .unwrap();
        }
    }
}

fn leftovers(dir: &Path) -> Vec<String> {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".cleaned") || n.ends_with(".swap"))
        .collect()
}

#[test]
fn keeps_exactly_latest_value_per_key() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(1000)).unwrap();
    fill_updates(&mut log, Compression::None, 30, now);
    let before = records(&log);
    let want = latest(&before);
    let end = log.log_end_offset();
    let active_base = log.active().base_offset;
    let active_before = active_bytes(dir.path(), &log);
    let size_before = log.size_bytes();
    let held = log.read(0, u64::MAX, true).unwrap();
    let held_bytes: Vec<u8> = {
        let mut out = Vec::new();
        for r in &held.ranges {
            let mut b = vec![0u8; r.len as usize];
            std::os::unix::fs::FileExt::read_exact_at(&*r.file, &mut b, r.position).unwrap();
            out.extend_from_slice(&b);
        }
        out
    };

    let stats = log.clean(now).unwrap();
    assert!(stats.round_started && stats.round_finished && !stats.more_work);
    assert!(stats.segments_cleaned > 0);
    assert!(stats.bytes_after < stats.bytes_before);
    assert_eq!(stats.first_dirty_offset, active_base);
    assert!(log.size_bytes() < size_before, "log shrinks");
    assert_eq!(log.log_end_offset(), end);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(
        active_bytes(dir.path(), &log),
        active_before,
        "active untouched"
    );
    assert!(leftovers(dir.path()).is_empty());

    let after = records(&log);
    assert_eq!(latest(&after), want);
    // Below the active segment, every key appears once.
    let mut seen = std::collections::HashSet::new();
    for r in after.iter().filter(|r| r.offset < active_base) {
        assert!(seen.insert(r.key.clone()), "duplicate key {:?}", r.key);
    }
    assert_eq!(
        stats.records_removed as usize,
        before.len() - after.len(),
        "removed count matches"
    );
    // Reads from inside a gap start at the next surviving batch.
    let first_kept = after[0].offset;
    if first_kept > 0 {
        let s = log.read(first_kept - 1, u64::MAX, true).unwrap();
        assert!(s.total_bytes > 0);
    }
    // A reader holding the pre-clean files keeps reading the old bytes.
    let mut again = Vec::new();
    for r in &held.ranges {
        let mut b = vec![0u8; r.len as usize];
        std::os::unix::fs::FileExt::read_exact_at(&*r.file, &mut b, r.position).unwrap();
        again.extend_from_slice(&b);
    }
    assert_eq!(again, held_bytes);

    // Nothing dirty: the next call does nothing.
    let stats = log.clean(now).unwrap();
    assert!(!stats.round_started);
    assert_eq!(stats.segments_cleaned, 0);

    // The checkpoint survives a restart, and the reopened log reads the same.
    log.close().unwrap();
    assert!(dir.path().join(CLEANER_CHECKPOINT_FILE).exists());
    let mut log = PartitionLog::open(dir.path(), compact_cfg(1000)).unwrap();
    assert_eq!(log.first_dirty_offset(), active_base);
    assert_eq!(records(&log), after);
    assert!(!log.clean(now).unwrap().round_started);
    // Appending more keeps working and the offsets continue.
    let info = log
        .append(
            &kv_batch(Compression::None, &[(Some("k1"), Some("new"))], now),
            0,
            0,
        )
        .unwrap();
    assert_eq!(info.base_offset, end);
}

#[test]
fn tombstones_kept_until_delete_retention_then_removed() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(600)).unwrap();
    fill_updates(&mut log, Compression::None, 5, now);
    for k in [2, 5] {
        let key = format!("k{k}");
        log.append(
            &kv_batch(Compression::None, &[(Some(&key), None)], now),
            0,
            0,
        )
        .unwrap();
    }
    // Push the tombstones out of the active segment.
    for i in 0..20 {
        let key = format!("other{i}");
        log.append(
            &kv_batch(Compression::None, &[(Some(&key), Some("x"))], now),
            0,
            0,
        )
        .unwrap();
    }
    let active_base = log.active().base_offset;
    log.clean(now).unwrap();
    let recs = records(&log);
    let l = latest(&recs);
    assert_eq!(l["k2"].1, None, "tombstone kept before delete_retention_ms");
    assert_eq!(l["k5"].1, None);
    assert_eq!(l["k3"].1.as_deref(), Some("v3-4"));
    assert_eq!(
        recs.iter()
            .filter(|r| r.key.as_deref() == Some("k2") && r.offset < active_base)
            .count(),
        1,
        "only the tombstone is left for a deleted key"
    );

    // New dirty data, then a clean a day and a bit later: tombstones go.
    for i in 0..30 {
        let key = format!("more{i}");
        log.append(
            &kv_batch(Compression::None, &[(Some(&key), Some("y"))], now),
            0,
            0,
        )
        .unwrap();
    }
    let later = now + DAY_MS + 60_000;
    let stats = log.clean(later).unwrap();
    assert!(stats.round_finished);
    assert!(stats.tombstones_removed >= 2);
    let recs = records(&log);
    let l = latest(&recs);
    assert!(!l.contains_key("k2") && !l.contains_key("k5"));
    assert_eq!(l["k3"].1.as_deref(), Some("v3-4"));
    assert_eq!(l["other0"].1.as_deref(), Some("x"));
}

#[test]
fn each_codec_stays_compressed() {
    for codec in [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        let dir = tempfile::tempdir().unwrap();
        let now = wall_clock_ms();
        let mut log = PartitionLog::open(dir.path(), compact_cfg(700)).unwrap();
        let mut n = 0;
        for round in 0..12 {
            // Each batch updates a few keys; some keys repeat inside one batch.
            let vals: Vec<String> = (0..4).map(|i| format!("val-{round}-{i}")).collect();
            let recs = [
                (Some("a"), Some(vals[0].as_str())),
                (Some("b"), Some(vals[1].as_str())),
                (Some("a"), Some(vals[2].as_str())),
                (None, Some(vals[3].as_str())), // keyless: dropped
            ];
            log.append(&kv_batch(codec, &recs, now + round), 0, 0)
                .unwrap();
            n += 4;
        }
        assert_eq!(log.log_end_offset(), n);
        let want = latest(&records(&log));
        let active_base = log.active().base_offset;
        let stats = log.clean(now).unwrap();
        assert!(stats.segments_cleaned > 0, "{codec:?}");
        let bytes = read_all_bytes(&log);
        for h in validate_stored_batches(&bytes).unwrap() {
            assert_eq!(h.compression(), codec, "{codec:?}");
            assert!(h.records_count > 0);
        }
        let recs = records(&log);
        assert_eq!(latest(&recs), want, "{codec:?}");
        assert!(recs
            .iter()
            .all(|r| r.key.is_some() || r.offset >= active_base));
    }
}

#[test]
fn rewritten_batch_keeps_offsets_and_producer_fields() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(300)).unwrap();
    let recs: Vec<BuilderRecord<'_>> = ["x", "y", "x", "z", "y"]
        .iter()
        .enumerate()
        .map(|(i, k)| BuilderRecord {
            offset_delta: i as i32,
            timestamp: now + i as i64,
            key: Some(k.as_bytes()),
            value: Some(b"v"),
            headers: crate::record::RecordHeaders::List(vec![(b"h", Some(b"1"))]),
        })
        .collect();
    let batch = build_batch(
        &recs,
        BatchParams {
            compression: Compression::Lz4,
            producer_id: 42,
            producer_epoch: 3,
            base_sequence: 100,
            ..BatchParams::default()
        },
    )
    .unwrap();
    log.append(&batch, 7, 0).unwrap();
    log.append(
        &kv_batch(Compression::None, &[(Some("q"), Some("q"))], now),
        7,
        0,
    )
    .unwrap();
    log.roll(now).unwrap();
    log.clean(now).unwrap();
    let bytes = read_all_bytes(&log);
    let h = validate_stored_batches(&bytes).unwrap()[0];
    assert_eq!(
        (h.base_offset, h.last_offset_delta, h.records_count),
        (0, 4, 3)
    );
    assert_eq!(
        (h.producer_id, h.producer_epoch, h.base_sequence),
        (42, 3, 100)
    );
    assert_eq!(h.partition_leader_epoch, 7);
    assert_eq!(h.compression(), Compression::Lz4);
    assert_eq!(h.max_timestamp, now + 4);
    let (hh, body) = batch_records(&bytes[..h.total_bytes() as usize]).unwrap();
    let got: Vec<(i64, i64, i32)> = RecordIter::new(&hh, &body)
        .map(|r| r.unwrap())
        .map(|r| (r.offset, r.timestamp, r.headers_count))
        .collect();
    assert_eq!(got, vec![(2, now + 2, 1), (3, now + 3, 1), (4, now + 4, 1)]);
}

#[test]
fn transactional_and_control_batches() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(1 << 20)).unwrap();
    let txn = |k: &str, v: &str, seq: i32| {
        build_batch(
            &[BuilderRecord {
                timestamp: now,
                key: Some(k.as_bytes()),
                value: Some(v.as_bytes()),
                ..BuilderRecord::default()
            }],
            BatchParams {
                producer_id: 9,
                producer_epoch: 0,
                base_sequence: seq,
                is_transactional: true,
                ..BatchParams::default()
            },
        )
        .unwrap()
    };
    // Markers: key = version 0, type (0 ABORT, 1 COMMIT); value = version 0, coordinator epoch 0.
    let marker = |commit: bool| {
        build_batch(
            &[BuilderRecord {
                timestamp: now,
                key: Some(&[0, 0, 0, u8::from(commit)]),
                value: Some(&[0, 0, 0, 0, 0, 0]),
                ..BuilderRecord::default()
            }],
            BatchParams {
                producer_id: 9,
                producer_epoch: 0,
                is_transactional: true,
                is_control: true,
                ..BatchParams::default()
            },
        )
        .unwrap()
    };
    let plain = |k: &str, v: &str| kv_batch(Compression::None, &[(Some(k), Some(v))], now);
    log.append(&plain("a", "committed-old"), 0, 0).unwrap(); // 0
    log.append(&txn("a", "aborted", 0), 0, 0).unwrap(); // 1
    log.append(&marker(false), 0, 0).unwrap(); // 2 ABORT
    log.append(&txn("b", "txn-old", 1), 0, 0).unwrap(); // 3
    log.append(&marker(true), 0, 0).unwrap(); // 4 COMMIT
    log.append(&plain("b", "new"), 0, 0).unwrap(); // 5
    log.append(&txn("c", "txn-committed", 2), 0, 0).unwrap(); // 6
    log.append(&marker(true), 0, 0).unwrap(); // 7 COMMIT
    log.roll(now).unwrap();
    log.append(&plain("z", "active"), 0, 0).unwrap(); // 8
    assert_eq!(log.last_stable_offset(), 9);
    log.clean(now).unwrap();
    let recs = records(&log);
    let offsets: Vec<i64> = recs.iter().map(|r| r.offset).collect();
    // The aborted "a"@1 is removed and does not shadow "a"@0. The committed "b"@3 is
    // superseded by "b"@5 and its emptied batch goes; "c"@6 is the latest "c". Markers stay.
    assert_eq!(offsets, vec![0, 2, 4, 5, 6, 7, 8]);
    let bytes = read_all_bytes(&log);
    let hs = validate_stored_batches(&bytes).unwrap();
    let summary: Vec<(i64, i32, bool, bool)> = hs
        .iter()
        .map(|h| {
            (
                h.base_offset,
                h.records_count,
                h.is_transactional(),
                h.is_control(),
            )
        })
        .collect();
    assert_eq!(
        summary,
        vec![
            (0, 1, false, false),
            (2, 1, true, true),
            (4, 1, true, true),
            (5, 1, false, false),
            (6, 1, true, false),
            (7, 1, true, true),
            (8, 1, false, false)
        ]
    );
    // An open transaction stops cleaning at its segment: its records stay.
    log.append(&txn("z", "open", 3), 0, 0).unwrap(); // 9, never ended
    log.roll(now).unwrap();
    log.append(&plain("z", "newer"), 0, 0).unwrap(); // 10
    log.roll(now).unwrap();
    log.append(&plain("y", "active"), 0, 0).unwrap();
    assert_eq!(log.last_stable_offset(), 9);
    log.clean(now).unwrap();
    assert!(
        records(&log).iter().any(|r| r.offset == 9),
        "open transaction's record kept"
    );
}

#[test]
fn dirty_ratio_and_compaction_lags() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let config = LogConfig {
        min_cleanable_dirty_ratio: 0.9,
        ..compact_cfg(1000)
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    fill_updates(&mut log, Compression::None, 20, now);
    assert!(log.clean(now).unwrap().round_finished);
    let cleaned = log.size_bytes() - log.active().size();
    // A little dirty data (well under half of the cleanable bytes): not due.
    log.roll(now).unwrap();
    log.append(
        &kv_batch(Compression::None, &[(Some("k1"), Some("z"))], now),
        0,
        0,
    )
    .unwrap();
    log.roll(now).unwrap();
    let s = log.clean(now).unwrap();
    assert!(!s.round_started, "ratio below threshold: {s:?}");
    // ...unless that dirty record is older than max_compaction_lag_ms.
    log.set_config(LogConfig {
        max_compaction_lag_ms: 1000,
        ..config.clone()
    });
    assert!(!log.clean(now).unwrap().round_started);
    let s = log.clean(now + 5000).unwrap();
    assert!(s.round_started && s.round_finished, "{s:?}");
    assert!(s.dirty_ratio < 0.9);
    assert!(log.size_bytes() - log.active().size() <= cleaned + 200);

    // min_compaction_lag_ms: young segments are not cleanable.
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            min_compaction_lag_ms: 60_000,
            ..compact_cfg(1000)
        },
    )
    .unwrap();
    fill_updates(&mut log, Compression::None, 20, now);
    let size = log.size_bytes();
    let s = log.clean(now).unwrap();
    assert!(!s.round_started && s.segments_cleaned == 0);
    assert_eq!(log.size_bytes(), size);
    let s = log.clean(now + 61_000).unwrap();
    assert!(s.round_finished && s.segments_cleaned > 0);

    // Not compacted at all without the compact policy.
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            cleanup_policy_compact: false,
            ..compact_cfg(1000)
        },
    )
    .unwrap();
    fill_updates(&mut log, Compression::None, 20, now);
    assert_eq!(log.clean(now).unwrap(), CleanStats::default());
}

#[test]
fn retention_only_with_delete_policy() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            retention_ms: 10,
            retention_bytes: 1,
            ..compact_cfg(300)
        },
    )
    .unwrap();
    fill_updates(&mut log, Compression::None, 5, 1000);
    let segs = log.segment_count();
    assert!(segs > 2);
    assert_eq!(log.apply_retention(1_000_000).unwrap(), 0);
    let mut config = log.config().clone();
    config.cleanup_policy_delete = true;
    log.set_config(config);
    assert_eq!(log.apply_retention(1_000_000).unwrap(), segs - 1);
}

#[test]
fn bounded_calls_finish_the_round_across_calls() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(500)).unwrap();
    fill_updates(&mut log, Compression::None, 20, now);
    let want = latest(&records(&log));
    log.set_cleaner_limits(CleanerLimits {
        max_map_bytes: u64::MAX,
        max_bytes_per_call: 1,
    });
    let (mut calls, mut interrupted) = (0, 0);
    loop {
        let s = log.clean(now).unwrap();
        calls += 1;
        assert!(s.segments_cleaned <= 1, "{s:?}");
        if s.more_work {
            interrupted += 1;
        } else if !s.round_started && !s.round_finished {
            break;
        }
        assert!(calls < 10_000);
    }
    assert!(calls > 3 && interrupted > 0);
    assert_eq!(log.first_dirty_offset(), log.active().base_offset);
    assert_eq!(latest(&records(&log)), want);

    // A tiny map: the round ends early and the rest stays dirty for later rounds.
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(500)).unwrap();
    fill_updates(&mut log, Compression::None, 20, now);
    let want = latest(&records(&log));
    log.set_cleaner_limits(CleanerLimits {
        max_map_bytes: 1,
        max_bytes_per_call: u64::MAX,
    });
    let s = log.clean(now).unwrap();
    assert!(s.round_finished && s.round_end_offset < log.active().base_offset);
    let mut rounds = 1;
    while log.clean(now).unwrap().round_started {
        rounds += 1;
        assert!(rounds < 1000);
    }
    assert!(rounds > 1);
    assert_eq!(log.first_dirty_offset(), log.active().base_offset);
    let recs = records(&log);
    assert_eq!(latest(&recs), want);
    let active_base = log.active().base_offset;
    let mut seen = std::collections::HashSet::new();
    for r in recs.iter().filter(|r| r.offset < active_base) {
        assert!(seen.insert(r.key.clone()), "duplicate key {:?}", r.key);
    }
}

#[test]
fn emptied_segments_are_dropped_but_log_start_stays() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(400)).unwrap();
    // Early segments only hold keys overwritten later.
    for i in 0..30 {
        let v = format!("{i}");
        log.append(
            &kv_batch(Compression::None, &[(Some("same"), Some(&v))], now),
            0,
            0,
        )
        .unwrap();
    }
    log.roll(now).unwrap();
    log.append(
        &kv_batch(Compression::None, &[(Some("z"), Some("z"))], now),
        0,
        0,
    )
    .unwrap();
    let segs = log.segment_count();
    let s = log.clean(now).unwrap();
    assert!(s.segments_deleted > 0);
    // The emptied first segment stays (then the survivors merge into it).
    assert!(log.segment_count() <= segs - s.segments_deleted);
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(log.segments[0].base_offset, 0, "first segment kept");
    let recs = records(&log);
    assert_eq!(
        recs.iter().map(|r| r.offset).collect::<Vec<_>>(),
        vec![29, 30]
    );
    assert!(log.read(0, u64::MAX, true).unwrap().total_bytes > 0);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), compact_cfg(400)).unwrap();
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(records(&log), recs);
}

/// Builds a log, crashes the clean at `step`, reopens, and checks the result.
fn crash_at(step: u64) {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(1000)).unwrap();
    fill_updates(&mut log, Compression::Zstd, 20, now);
    let before = records(&log);
    let want = latest(&before);
    let end = log.log_end_offset();
    log.flush().unwrap();
    let seg0 = segment::file_name(0, ".log");
    let size0 = fs::metadata(dir.path().join(&seg0)).unwrap().len();
    let disk = crate::storage::sim::Disk::mount(dir.path());
    disk.add_rule(crate::storage::sim::Rule::at_point(
        super::cleaner::swap_step_name(step),
    ));
    assert!(log.clean(now).is_err(), "step {step}");
    drop(log); // the "crash"
    let left = leftovers(dir.path());
    assert!(!left.is_empty(), "step {step} leaves files");

    let mut log = PartitionLog::open(dir.path(), compact_cfg(1000)).unwrap();
    assert!(leftovers(dir.path()).is_empty(), "step {step}: {left:?}");
    let recs = records(&log);
    assert_eq!(latest(&recs), want, "step {step}");
    assert_eq!(log.log_end_offset(), end);
    let size0_now = fs::metadata(dir.path().join(&seg0)).unwrap().len();
    if step >= STEP_COMMITTED {
        assert!(size0_now < size0, "step {step}: committed swap completed");
        assert!(recs.len() < before.len());
    } else {
        assert_eq!(size0_now, size0, "step {step}: old segment kept");
        assert_eq!(recs, before);
    }
    // The index of segment 0 matches its log (a read at each offset finds its batch).
    for r in &recs {
        let s = log.read(r.offset, 1, true).unwrap();
        let b = read_slice_first_header(&s);
        assert!(b.0 <= r.offset && r.offset <= b.1, "step {step}");
    }
    // The cleaner checkpoint was not advanced, so a full clean runs again.
    assert_eq!(log.first_dirty_offset(), 0);
    let s = log.clean(now).unwrap();
    assert!(s.round_finished);
    assert_eq!(latest(&records(&log)), want);
    assert!(leftovers(dir.path()).is_empty());
}

fn read_slice_first_header(s: &ReadSlice) -> (i64, i64) {
    let r = &s.ranges[0];
    let mut b = vec![0u8; r.len as usize];
    std::os::unix::fs::FileExt::read_exact_at(&*r.file, &mut b, r.position).unwrap();
    let h = crate::record::parse_header(&b).unwrap();
    (h.base_offset, h.last_offset())
}

#[test]
fn crash_after_cleaned_files_written() {
    crash_at(STEP_CLEANED_WRITTEN);
}

#[test]
fn crash_after_index_swaps_renamed() {
    crash_at(STEP_INDEX_SWAPS_RENAMED);
}

#[test]
fn crash_after_commit() {
    crash_at(STEP_COMMITTED);
}

#[test]
fn crash_after_indexes_swapped_in() {
    crash_at(STEP_INDEXES_SWAPPED_IN);
}

#[test]
fn stray_cleaned_and_swap_files_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(1000)).unwrap();
    fill_updates(&mut log, Compression::None, 20, now);
    let before = records(&log);
    log.close().unwrap();
    let p = |base: i64, s: &str| dir.path().join(segment::file_name(base, s));
    // Garbage `.cleaned` files and an index `.swap` without a log `.swap`: uncommitted.
    fs::write(p(0, ".log.cleaned"), b"garbage").unwrap();
    fs::write(p(0, ".index.cleaned"), b"garbage").unwrap();
    fs::write(p(0, ".index.swap"), b"garbage").unwrap();
    let log = PartitionLog::open(dir.path(), compact_cfg(1000)).unwrap();
    assert!(leftovers(dir.path()).is_empty());
    assert_eq!(records(&log), before);

    // A committed swap made by hand: a log `.swap` holding only the last batch of
    // segment 0 (as if every earlier record there were obsolete), without indexes.
    let seg0 = fs::read(p(0, ".log")).unwrap();
    let hs = validate_stored_batches(&seg0).unwrap();
    let last = hs.last().unwrap();
    let tail = &seg0[seg0.len() - last.total_bytes() as usize..];
    log.close().unwrap();
    fs::write(p(0, ".log.swap"), tail).unwrap();
    let log = PartitionLog::open(dir.path(), compact_cfg(1000)).unwrap();
    assert!(leftovers(dir.path()).is_empty());
    let recs = records(&log);
    assert_eq!(recs[0].offset, last.base_offset);
    assert_eq!(recs.len(), before.len() - (hs.len() - 1));
    assert_eq!(fs::read(p(0, ".log")).unwrap(), tail);
}

/// A compacted log of `n` unique keys in full segments of `segment_bytes`, cleaned once
/// (nothing removed, checkpoint at the active segment), then reopened with a larger
/// `segment.bytes` so its cleaned segments become mergeable.
fn mergeable_log(dir: &Path, n: usize, now: i64) -> (PartitionLog, Vec<Rec>) {
    let mut log = PartitionLog::open(dir, compact_cfg(600)).unwrap();
    for i in 0..n {
        let (k, v) = (format!("key{i}"), format!("value{i}"));
        log.append(
            &kv_batch(Compression::None, &[(Some(&k), Some(&v))], now),
            0,
            0,
        )
        .unwrap();
    }
    let s = log.clean(now).unwrap();
    assert!(s.round_finished);
    assert_eq!(s.segments_merged, 0, "full segments cannot merge");
    let before = records(&log);
    assert_eq!(before.len(), n);
    log.close().unwrap();
    let log = PartitionLog::open(dir, compact_cfg(2500)).unwrap();
    (log, before)
}

#[test]
fn small_cleaned_segments_merge_and_offsets_stay() {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let (mut log, before) = mergeable_log(dir.path(), 120, now);
    let segs = log.segment_count();
    assert!(segs > 8, "{segs} segments");
    let s = log.clean(now).unwrap();
    assert!(!s.round_started, "nothing dirty");
    assert!(s.segments_merged >= 4, "{s:?}");
    assert!(
        log.segment_count() < segs / 2,
        "{} of {segs}",
        log.segment_count()
    );
    for seg in &log.segments[..log.segment_count() - 1] {
        assert!(seg.size() <= 2500);
    }
    assert_eq!(log.log_start_offset(), 0);
    assert_eq!(records(&log), before);
    // Every offset is found through the merged indexes.
    for r in &before {
        let (b, l) = read_slice_first_header(&log.read(r.offset, 1, true).unwrap());
        assert!(b <= r.offset && r.offset <= l);
    }
    assert!(leftovers(dir.path()).is_empty());
    let count = log.segment_count();
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), compact_cfg(2500)).unwrap();
    assert_eq!(log.segment_count(), count);
    assert_eq!(records(&log), before);
}

fn merge_crash_at(step: u64) {
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let (mut log, before) = mergeable_log(dir.path(), 120, now);
    let segs = log.segment_count();
    let disk = crate::storage::sim::Disk::mount(dir.path());
    disk.add_rule(crate::storage::sim::Rule::at_point(
        super::cleaner::swap_step_name(step),
    ));
    assert!(log.clean(now).is_err(), "step {step}");
    drop(log); // the "crash"
    let log = PartitionLog::open(dir.path(), compact_cfg(2500)).unwrap();
    assert!(leftovers(dir.path()).is_empty(), "step {step}");
    assert_eq!(records(&log), before, "step {step}");
    if step >= STEP_COMMITTED {
        assert!(
            log.segment_count() < segs,
            "step {step}: committed merge completed"
        );
    } else {
        assert_eq!(log.segment_count(), segs, "step {step}: nothing merged");
    }
    for r in &before {
        let (b, l) = read_slice_first_header(&log.read(r.offset, 1, true).unwrap());
        assert!(b <= r.offset && r.offset <= l, "step {step}");
    }
}

#[test]
fn merge_crash_before_commit() {
    merge_crash_at(STEP_CLEANED_WRITTEN);
    merge_crash_at(STEP_INDEX_SWAPS_RENAMED);
}

#[test]
fn merge_crash_after_commit() {
    merge_crash_at(STEP_COMMITTED);
    merge_crash_at(STEP_MERGED_AWAY_DELETED);
    merge_crash_at(STEP_INDEXES_SWAPPED_IN);
}

#[test]
fn max_compaction_lag_rolls_the_active_segment() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = LogConfig {
        max_compaction_lag_ms: 1_000,
        ..compact_cfg(1 << 20)
    };
    let mut log = PartitionLog::open(dir.path(), cfg.clone()).unwrap();
    log.append(
        &kv_batch(Compression::None, &[(Some("k"), Some("a"))], 10_000),
        0,
        10_000,
    )
    .unwrap();
    log.maybe_roll(10_900).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.maybe_roll(11_001).unwrap();
    assert_eq!(log.segment_count(), 2, "rolled so the cleaner can reach it");
    // Without compaction the lag does not apply.
    let dir2 = tempfile::tempdir().unwrap();
    let mut plain = PartitionLog::open(
        dir2.path(),
        LogConfig {
            cleanup_policy_compact: false,
            cleanup_policy_delete: true,
            ..cfg
        },
    )
    .unwrap();
    plain
        .append(
            &kv_batch(Compression::None, &[(Some("k"), Some("a"))], 10_000),
            0,
            10_000,
        )
        .unwrap();
    plain.maybe_roll(20_000).unwrap();
    assert_eq!(plain.segment_count(), 1);
}

/// A log whose one dirty segment holds 1,000 distinct keys, each written twice, then
/// every tenth deleted, in batches of 7 records (so map-bound rounds end inside
/// batches), plus an active segment. Returns the first segment's end.
fn many_keys_one_segment(log: &mut PartitionLog, ts: i64) -> i64 {
    let mut recs: Vec<(String, Option<String>)> = Vec::new();
    for pass in 0..2 {
        for k in 0..1000 {
            recs.push((format!("key-{k:05}"), Some(format!("v{pass}-{k}"))));
        }
    }
    for k in (0..1000).step_by(10) {
        recs.push((format!("key-{k:05}"), None));
    }
    for chunk in recs.chunks(7) {
        let batch: Vec<(Option<&str>, Option<&str>)> = chunk
            .iter()
            .map(|(k, v)| (Some(k.as_str()), v.as_deref()))
            .collect();
        log.append(&kv_batch(Compression::None, &batch, ts), 0, 0)
            .unwrap();
    }
    log.roll(ts).unwrap();
    log.append(
        &kv_batch(Compression::None, &[(Some("active"), Some("a"))], ts),
        0,
        0,
    )
    .unwrap();
    assert_eq!(log.segment_count(), 2, "one dirty segment");
    log.active().base_offset
}

/// One dirty segment holding far more distinct keys than the offset map may hold:
/// every round stays within `max_map_bytes` (stopping inside the segment, inside a
/// batch even), successive rounds still compact the whole log, and no record that
/// should stay is lost; a tombstone past a round's end in particular must outlive
/// the older values it hides.
#[test]
fn offset_map_budget_holds_when_one_segment_overflows_it() {
    const MAP_BYTES: u64 = 8 * 1024;
    // Every key costs at least one 32-byte allocator chunk, so this many keys in one
    // round would already break the budget.
    const MAX_KEYS: usize = (MAP_BYTES / 32) as usize;
    let now = wall_clock_ms();
    // Cleaned at `now` (tombstones kept) and two days later (tombstones expired).
    for clean_at in [now, now + 2 * DAY_MS] {
        let dir = tempfile::tempdir().unwrap();
        let mut log = PartitionLog::open(dir.path(), compact_cfg(10 * 1024 * 1024)).unwrap();
        let first_segment_end = many_keys_one_segment(&mut log, now);
        let mut want = latest(&records(&log));
        if clean_at > now {
            want.retain(|_, (_, v)| v.is_some());
        }
        log.set_cleaner_limits(CleanerLimits {
            max_map_bytes: MAP_BYTES,
            max_bytes_per_call: u64::MAX,
        });
        let mut rounds = 0;
        loop {
            let s = log.clean(clean_at).unwrap();
            if !s.round_started {
                break;
            }
            rounds += 1;
            assert!(s.map_bytes <= MAP_BYTES, "round {rounds}: {s:?}");
            assert!(s.map_keys < MAX_KEYS, "round {rounds}: {s:?}");
            assert!(s.round_finished, "{s:?}");
            if rounds == 1 {
                assert!(
                    s.round_end_offset > 0 && s.round_end_offset < first_segment_end,
                    "the first round ends inside the segment: {s:?}"
                );
            }
            assert!(rounds < 100, "no progress: {s:?}");
        }
        assert!(rounds > 2, "{rounds} rounds");
        assert_eq!(log.first_dirty_offset(), first_segment_end);
        let recs = records(&log);
        assert_eq!(latest(&recs), want, "cleaned at {clean_at}");
        let mut seen = std::collections::HashSet::new();
        for r in recs.iter().filter(|r| r.offset < first_segment_end) {
            assert!(seen.insert(r.key.clone()), "duplicate key {:?}", r.key);
        }
    }
}

/// Peak RSS of one round over a segment of 12.5 M distinct keys (the report behind
/// the map budget). Slow; run by hand with --ignored --nocapture.
#[test]
#[ignore]
fn rss_of_a_round_over_many_distinct_keys() {
    fn vm_hwm_kb() -> u64 {
        let s = fs::read_to_string("/proc/self/status").unwrap();
        s.lines()
            .find_map(|l| l.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .unwrap()
    }
    let dir = tempfile::tempdir().unwrap();
    let now = wall_clock_ms();
    let mut log = PartitionLog::open(dir.path(), compact_cfg(1 << 30)).unwrap();
    const KEYS: usize = 12_500_000;
    const PER_BATCH: usize = 10_000;
    let keys: Vec<String> = (0..PER_BATCH).map(|_| String::new()).collect();
    let mut keys = keys;
    for b in 0..KEYS / PER_BATCH {
        for (i, k) in keys.iter_mut().enumerate() {
            k.clear();
            use std::fmt::Write;
            write!(k, "{:08}", b * PER_BATCH + i).unwrap();
        }
        let batch: Vec<(Option<&str>, Option<&str>)> =
            keys.iter().map(|k| (Some(k.as_str()), Some(""))).collect();
        log.append(&kv_batch(Compression::Zstd, &batch, now), 0, 0)
            .unwrap();
    }
    log.roll(now).unwrap();
    log.append(
        &kv_batch(Compression::None, &[(Some("a"), Some("a"))], now),
        0,
        0,
    )
    .unwrap();
    drop(keys);
    let size = log.segments[0].size();
    let before = vm_hwm_kb();
    let s = log.clean(now).unwrap();
    let after = vm_hwm_kb();
    eprintln!(
        "segment {size} bytes; VmHWM before {before} kB, after {after} kB; keys {} map_bytes {} end {}",
        s.map_keys, s.map_bytes, s.round_end_offset
    );
}
