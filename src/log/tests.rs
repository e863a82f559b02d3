use std::fs;
use std::os::unix::fs::FileExt;
use std::path::Path;

use super::*;
use crate::record::test_util::{build_batch, simple_batch, TestRecord};
use crate::record::{parse_header, validate_batches, Compression};

fn cfg() -> LogConfig {
    LogConfig {
        index_interval_bytes: 64,
        ..LogConfig::default()
    }
}

fn bytes_of(slice: &ReadSlice) -> Vec<u8> {
    let mut out = Vec::new();
    for r in &slice.ranges {
        let mut b = vec![0u8; r.len as usize];
        r.file.read_exact_at(&mut b, r.position).unwrap();
        out.extend_from_slice(&b);
    }
    assert_eq!(out.len() as u64, slice.total_bytes);
    out
}

/// (base_offset, last_offset) of each batch in `bytes`, which must be valid batches.
fn batch_ranges(bytes: &[u8]) -> Vec<(i64, i64)> {
    validate_batches(bytes)
        .unwrap()
        .iter()
        .map(|h| (h.base_offset, h.last_offset()))
        .collect()
}

fn seg_path(dir: &Path, base: i64, suffix: &str) -> std::path::PathBuf {
    dir.join(segment::file_name(base, suffix))
}

/// Appends `n` batches of 3 records each with timestamps 1000 + 10*i.
fn fill(log: &mut PartitionLog, n: usize) {
    for i in 0..n {
        log.append(&simple_batch(3, 1000 + 10 * i as i64), 5, 0)
            .unwrap();
    }
}

#[test]
fn append_and_read_back_byte_for_byte() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 0));
    let a = simple_batch(2, 100);
    let b = simple_batch(3, 200);
    let info = log.append(&a, 7, 1).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 1, 2)
    );
    assert_eq!(info.log_append_time_ms, -1);
    let info = log.append(&b, 7, 1).unwrap();
    assert_eq!((info.base_offset, info.last_offset), (2, 4));
    assert_eq!(log.log_end_offset(), 5);

    let s = log.read(0, 1 << 20, false).unwrap();
    assert_eq!(s.ranges.len(), 1, "adjacent batches merge into one range");
    let got = bytes_of(&s);
    let mut want_a = a.clone();
    crate::record::set_base_offset(&mut want_a, 0).unwrap();
    crate::record::set_partition_leader_epoch(&mut want_a, 7).unwrap();
    let mut want_b = b.clone();
    crate::record::set_base_offset(&mut want_b, 2).unwrap();
    crate::record::set_partition_leader_epoch(&mut want_b, 7).unwrap();
    assert_eq!(got, [want_a, want_b].concat());
    assert_eq!(log.size_bytes(), got.len() as u64);
}

#[test]
fn multi_batch_append() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    let two = [simple_batch(2, 1), simple_batch(4, 2)].concat();
    let info = log.append(&two, 0, 0).unwrap();
    assert_eq!(
        (info.base_offset, info.last_offset, info.record_count),
        (0, 5, 6)
    );
    let s = log.read(0, u64::MAX, false).unwrap();
    assert_eq!(batch_ranges(&bytes_of(&s)), vec![(0, 1), (2, 5)]);
}

#[test]
fn read_from_middle_of_batch_returns_whole_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 4); // offsets 0-2, 3-5, 6-8, 9-11
    let s = log.read(7, u64::MAX, false).unwrap();
    assert_eq!(batch_ranges(&bytes_of(&s)), vec![(6, 8), (9, 11)]);
    assert!(log.read(12, 100, true).unwrap().ranges.is_empty());
    assert!(matches!(
        log.read(13, 100, true),
        Err(LogError::OffsetOutOfRange { offset: 13, .. })
    ));
    assert!(matches!(
        log.read(-1, 100, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
}

#[test]
fn max_bytes_and_min_one_batch() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 5);
    let one = simple_batch(3, 0).len() as u64;
    let s = log.read(0, one * 2 + one / 2, false).unwrap();
    assert_eq!(s.total_bytes, one * 2);
    assert_eq!(batch_ranges(&bytes_of(&s)).len(), 2);
    let s = log.read(0, one * 3, false).unwrap();
    assert_eq!(s.total_bytes, one * 3);
    // First batch larger than max_bytes.
    assert_eq!(log.read(3, one - 1, false).unwrap().total_bytes, 0);
    let s = log.read(3, one - 1, true).unwrap();
    assert_eq!(batch_ranges(&bytes_of(&s)), vec![(3, 5)]);
    assert_eq!(log.read(3, 0, true).unwrap().total_bytes, one);
}

#[test]
fn rolls_on_segment_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 0).len() as u64;
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            segment_bytes: one * 2,
            ..cfg()
        },
    )
    .unwrap();
    fill(&mut log, 5);
    assert_eq!(log.segment_count(), 3);
    for base in [0, 6, 12] {
        assert!(
            seg_path(dir.path(), base, ".log").exists(),
            "segment {base}"
        );
        assert!(seg_path(dir.path(), base, ".index").exists());
        assert!(seg_path(dir.path(), base, ".timeindex").exists());
    }
    // A read spanning segments continues into the next ones.
    let s = log.read(1, u64::MAX, false).unwrap();
    assert_eq!(s.ranges.len(), 3);
    assert_eq!(batch_ranges(&bytes_of(&s)).len(), 5);
    // An append larger than a segment is refused.
    let big = [simple_batch(3, 0), simple_batch(3, 0), simple_batch(3, 0)].concat();
    assert!(matches!(
        log.append(&big, 0, 0),
        Err(LogError::RecordListTooLarge { .. })
    ));
}

#[test]
fn rolls_on_segment_ms() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            segment_ms: 1000,
            ..cfg()
        },
    )
    .unwrap();
    log.maybe_roll(1_000_000).unwrap();
    assert_eq!(log.segment_count(), 1, "empty segments never roll");
    log.append(&simple_batch(1, 0), 0, 10_000).unwrap();
    log.append(&simple_batch(1, 0), 0, 10_500).unwrap();
    log.maybe_roll(11_000).unwrap();
    assert_eq!(log.segment_count(), 1);
    log.maybe_roll(11_001).unwrap();
    assert_eq!(log.segment_count(), 2);
    log.append(&simple_batch(1, 0), 0, 11_002).unwrap();
    log.append(&simple_batch(1, 0), 0, 12_003).unwrap(); // rolls inside append
    assert_eq!(log.segment_count(), 3);
    assert_eq!(log.log_end_offset(), 4);
}

#[test]
fn index_lookup_across_many_segments() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 2000,
        index_interval_bytes: 100,
        ..cfg()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    let mut batches = Vec::new();
    for i in 0..300 {
        let n = 1 + i % 4;
        let info = log.append(&simple_batch(n, i as i64), 0, 0).unwrap();
        batches.push((info.base_offset, info.last_offset));
    }
    assert!(log.segment_count() > 10);
    assert!(
        fs::metadata(seg_path(dir.path(), 0, ".index"))
            .unwrap()
            .len()
            > 0
    );
    let check = |log: &PartitionLog| {
        for &(base, last) in &batches {
            for o in base..=last {
                let s = log.read(o, 1, true).unwrap();
                assert_eq!(
                    batch_ranges(&bytes_of(&s)),
                    vec![(base, last)],
                    "offset {o}"
                );
            }
        }
        // One big read returns everything, in order, whole.
        let s = log.read(0, u64::MAX, false).unwrap();
        assert_eq!(batch_ranges(&bytes_of(&s)), batches);
        // Budgeted reads from arbitrary points return whole, contiguous batches.
        for (start, budget) in [(5, 700), (37, 1500), (100, 5000), (0, 333)] {
            let s = log.read(start, budget, true).unwrap();
            let got = batch_ranges(&bytes_of(&s));
            assert!(s.total_bytes <= budget);
            let i = batches
                .iter()
                .position(|&(b, l)| b <= start && start <= l)
                .unwrap();
            assert_eq!(got, batches[i..i + got.len()].to_vec());
            // Next batch would not have fit.
            if let Some(&(b, _)) = batches.get(i + got.len()) {
                let next = log.read(b, u64::MAX, false).unwrap();
                let next_len = validate_batches(&bytes_of(&next)).unwrap()[0].total_bytes();
                assert!(s.total_bytes + next_len > budget);
            }
        }
    };
    check(&log);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    check(&log);
}

#[test]
fn crc_failure_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 1);
    let mut bad = simple_batch(2, 0);
    let n = bad.len();
    bad[n - 1] ^= 1;
    assert!(matches!(
        log.append(&bad, 0, 0),
        Err(LogError::CorruptMessage(_))
    ));
    let good_then_bad = [simple_batch(1, 0), bad].concat();
    assert!(matches!(
        log.append(&good_then_bad, 0, 0),
        Err(LogError::CorruptMessage(_))
    ));
    let mut old = simple_batch(1, 0);
    old[16] = 1;
    assert!(matches!(
        log.append(&old, 0, 0),
        Err(LogError::UnsupportedMagic(1))
    ));
    assert_eq!(log.log_end_offset(), 3);
    let len = simple_batch(3, 0).len() as u64;
    assert_eq!(log.size_bytes(), len);
    assert_eq!(
        fs::metadata(seg_path(dir.path(), 0, ".log")).unwrap().len(),
        len
    );
}

#[test]
fn message_too_large() {
    let dir = tempfile::tempdir().unwrap();
    let b = simple_batch(3, 0);
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            max_message_bytes: b.len() as u32 - 1,
            ..cfg()
        },
    )
    .unwrap();
    let r = log.append(&b, 0, 0);
    assert!(matches!(r, Err(LogError::MessageTooLarge { size, .. }) if size == b.len() as u64));
    assert_eq!(log.size_bytes(), 0);
}

#[test]
fn log_append_time_patching_keeps_crc_valid() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            message_timestamp_type: TimestampType::LogAppendTime,
            ..cfg()
        },
    )
    .unwrap();
    let info = log.append(&simple_batch(3, 5), 0, 777_000).unwrap();
    assert_eq!(info.log_append_time_ms, 777_000);
    let bytes = bytes_of(&log.read(0, u64::MAX, false).unwrap());
    let h = validate_batches(&bytes).unwrap()[0];
    assert_eq!(h.max_timestamp, 777_000);
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    assert_eq!(
        log.offset_for_timestamp(777_000).unwrap(),
        Some((0, 777_000))
    );
    assert_eq!(log.max_timestamp().unwrap(), Some((0, 777_000)));
    drop(log);
    // Recovery re-validates the CRC of the patched batch.
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_end_offset(), 3);
}

#[test]
fn timestamp_lookups() {
    let dir = tempfile::tempdir().unwrap();
    let config = LogConfig {
        segment_bytes: 600,
        ..cfg()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    assert_eq!(log.max_timestamp().unwrap(), None);
    assert_eq!(log.offset_for_timestamp(0).unwrap(), None);
    // Out-of-order timestamps inside batches, every codec.
    let codecs = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];
    let mut expected: Vec<(i64, i64)> = Vec::new(); // (offset, ts)
    for i in 0..20i64 {
        let ts = [100 + i * 10, 95 + i * 10, 105 + i * 10];
        let recs: Vec<TestRecord> = ts
            .iter()
            .map(|&t| TestRecord::new(None, Some(b"v"), t))
            .collect();
        let b = build_batch(codecs[i as usize % 5], &recs);
        let info = log.append(&b, 0, 0).unwrap();
        for (k, &t) in ts.iter().enumerate() {
            expected.push((info.base_offset + k as i64, t));
        }
    }
    // A later batch repeats the maximum: the earliest record wins.
    let max = expected.iter().map(|e| e.1).max().unwrap();
    let info = log
        .append(
            &build_batch(Compression::Lz4, &[TestRecord::new(None, None, max)]),
            0,
            0,
        )
        .unwrap();
    expected.push((info.base_offset, max));
    assert!(log.segment_count() > 2);
    let check = |log: &PartitionLog| {
        for target in [
            0,
            94,
            95,
            96,
            100,
            101,
            150,
            155,
            156,
            294,
            295,
            296,
            max,
            max + 1,
        ] {
            let want = expected.iter().find(|e| e.1 >= target).copied();
            assert_eq!(
                log.offset_for_timestamp(target).unwrap(),
                want,
                "target {target}"
            );
        }
        let want = expected.iter().find(|e| e.1 == max).copied();
        assert_eq!(log.max_timestamp().unwrap(), want);
    };
    check(&log);
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    check(&log);
}

#[test]
fn reopen_after_close_keeps_offsets() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 10);
    let before = bytes_of(&log.read(0, u64::MAX, false).unwrap());
    log.close().unwrap();
    assert!(dir.path().join("recovery-point").exists());
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_end_offset(), 30);
    assert_eq!(bytes_of(&log.read(0, u64::MAX, false).unwrap()), before);
    assert_eq!(
        log.append(&simple_batch(1, 0), 0, 0).unwrap().base_offset,
        30
    );
}

#[test]
fn recovery_truncates_torn_tail() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 5);
    let size = log.size_bytes();
    drop(log); // crash: no flush, no checkpoint
    let path = seg_path(dir.path(), 0, ".log");
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(size - 7).unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_end_offset(), 12);
    let one = simple_batch(3, 0).len() as u64;
    assert_eq!(fs::metadata(&path).unwrap().len(), one * 4);
    assert_eq!(
        log.append(&simple_batch(2, 0), 0, 0).unwrap().base_offset,
        12
    );
    assert_eq!(
        batch_ranges(&bytes_of(&log.read(9, u64::MAX, false).unwrap())),
        vec![(9, 11), (12, 13)]
    );
}

#[test]
fn recovery_truncates_at_crc_mismatch_and_drops_later_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: one * 4,
        ..cfg()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    fill(&mut log, 10); // segments 0 (0..11), 12 (12..23), 24 (24..29)
    assert_eq!(log.segment_count(), 3);
    drop(log);
    // Flip a record byte in the second batch of segment 12.
    let path = seg_path(dir.path(), 12, ".log");
    let f = fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&path)
        .unwrap();
    let at = one + one - 3;
    let mut b = [0u8];
    f.read_exact_at(&mut b, at).unwrap();
    f.write_all_at(&[b[0] ^ 0x20], at).unwrap();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!(log.log_end_offset(), 15);
    assert_eq!(log.segment_count(), 2);
    assert!(!seg_path(dir.path(), 24, ".log").exists());
    assert_eq!(fs::metadata(&path).unwrap().len(), one);
}

#[test]
fn recovery_rebuilds_missing_and_corrupt_indexes() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 30);
    let before = bytes_of(&log.read(0, u64::MAX, false).unwrap());
    let ts = log.offset_for_timestamp(1155).unwrap();
    log.close().unwrap();
    let index = seg_path(dir.path(), 0, ".index");
    let time = seg_path(dir.path(), 0, ".timeindex");
    let index_len = fs::metadata(&index).unwrap().len();
    assert!(index_len > 0);
    fs::remove_file(&index).unwrap();
    fs::write(&time, b"garbage").unwrap();
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(fs::metadata(&index).unwrap().len(), index_len);
    assert_eq!(log.log_end_offset(), 90);
    assert_eq!(bytes_of(&log.read(0, u64::MAX, false).unwrap()), before);
    assert_eq!(log.offset_for_timestamp(1155).unwrap(), ts);
    log.close().unwrap();
    // An index entry pointing past the log is caught by the sanity check.
    fs::write(&index, [0, 0, 0, 1, 0x7f, 0, 0, 0]).unwrap();
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(bytes_of(&log.read(0, u64::MAX, false).unwrap()), before);
}

#[test]
fn recovery_handles_empty_dir_and_leftover_empty_segments() {
    let dir = tempfile::tempdir().unwrap();
    let sub = dir.path().join("topic-0");
    let mut log = PartitionLog::open(&sub, cfg()).unwrap();
    fill(&mut log, 2);
    log.close().unwrap();
    // Leftover empty segment at the end (crash right after a roll) and stray files.
    fs::write(seg_path(&sub, 6, ".log"), b"").unwrap();
    fs::write(seg_path(&sub, 99, ".index"), b"").unwrap();
    fs::write(sub.join("recovery-point.tmp"), b"x").unwrap();
    let mut log = PartitionLog::open(&sub, cfg()).unwrap();
    assert_eq!(log.segment_count(), 2);
    assert_eq!(log.log_end_offset(), 6);
    assert!(!seg_path(&sub, 99, ".index").exists());
    assert!(!sub.join("recovery-point.tmp").exists());
    assert_eq!(
        log.append(&simple_batch(1, 0), 0, 0).unwrap().base_offset,
        6
    );
    log.close().unwrap();
    // Empty segment in the middle is dropped.
    fs::write(seg_path(&sub, 3, ".log"), b"").unwrap();
    fs::remove_file(sub.join("recovery-point")).unwrap();
    let log = PartitionLog::open(&sub, cfg());
    // Segment 3 overlaps segment 0's offsets (0..5): refuse rather than guess.
    assert!(matches!(log, Err(LogError::CorruptLog { .. })));
    fs::remove_file(seg_path(&sub, 3, ".log")).unwrap();
    fs::write(seg_path(&sub, 10, ".log"), b"").unwrap();
    fs::write(seg_path(&sub, 20, ".log"), b"").unwrap();
    let log = PartitionLog::open(&sub, cfg()).unwrap();
    assert!(!seg_path(&sub, 10, ".log").exists());
    assert_eq!(
        log.log_end_offset(),
        20,
        "the last (empty) segment's base is the log end"
    );
}

#[test]
fn retention_by_time_and_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 0).len() as u64;
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            segment_bytes: one * 2,
            retention_ms: 1000,
            ..cfg()
        },
    )
    .unwrap();
    // Batch i has max timestamp 1002 + 10*i; two batches per segment.
    fill(&mut log, 10);
    assert_eq!(log.segment_count(), 5);
    let held = log.read(0, u64::MAX, false).unwrap();
    // Segments with newest record older than now - 1000 go: now=2045 deletes segment 0
    // (max 1012) and 1 (max 1032) but not 2 (max 1052).
    assert_eq!(log.apply_retention(2045).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 12);
    assert!(!seg_path(dir.path(), 0, ".log").exists());
    assert!(matches!(
        log.read(0, 100, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Ranges handed out before deletion still read.
    assert_eq!(batch_ranges(&bytes_of(&held)).len(), 10);
    // Never the active segment.
    assert_eq!(log.apply_retention(i64::MAX).unwrap(), 2);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.log_start_offset(), 24);

    let mut config = log.config().clone();
    config.retention_ms = -1;
    config.retention_bytes = (one * 3) as i64;
    log.set_config(config);
    fill(&mut log, 6); // segments now: 24(2 batches) 30 36 42(1)
    assert_eq!(log.size_bytes(), one * 8);
    // Delete oldest while what remains is still >= 3 batches worth.
    assert_eq!(log.apply_retention(0).unwrap(), 2);
    assert_eq!(log.size_bytes(), one * 4);
    assert_eq!(log.log_start_offset(), 36);
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_start_offset(), 36);
    assert_eq!(log.log_end_offset(), 48);
}

#[test]
fn flush_policy_writes_recovery_point() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            flush_messages: 5,
            ..cfg()
        },
    )
    .unwrap();
    let rp = dir.path().join("recovery-point");
    fill(&mut log, 1);
    assert!(!rp.exists());
    fill(&mut log, 1);
    assert!(fs::read_to_string(&rp).unwrap().starts_with("1 6 0 "));
    let mut config = log.config().clone();
    config.flush_messages = u64::MAX;
    config.flush_ms = 1000;
    log.set_config(config);
    log.append(&simple_batch(1, 0), 0, 0).unwrap();
    log.maybe_flush(log.last_flush_ms + 999).unwrap();
    assert!(fs::read_to_string(&rp).unwrap().starts_with("1 6 0 "));
    log.maybe_flush(log.last_flush_ms + 1000).unwrap();
    assert!(fs::read_to_string(&rp).unwrap().starts_with("1 7 0 "));
}

#[test]
fn flushed_prefix_is_trusted_and_tail_recovered() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: one * 2,
        ..cfg()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    fill(&mut log, 3);
    log.flush().unwrap(); // durable up to offset 9 (segment 6 has one batch)
    fill(&mut log, 3);
    drop(log);
    // Tear the tail of the unflushed last segment.
    let path = seg_path(dir.path(), 12, ".log");
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!(log.log_end_offset(), 15);
    assert_eq!(
        batch_ranges(&bytes_of(&log.read(0, u64::MAX, false).unwrap())).len(),
        5
    );
}

#[test]
fn short_write_leaves_log_consistent() {
    let dir = tempfile::tempdir().unwrap();
    let disk = crate::storage::sim::Disk::mount(dir.path());
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 3);
    let size = log.size_bytes();
    disk.fail_writes_after(10);
    assert!(matches!(
        log.append(&simple_batch(3, 0), 0, 0),
        Err(LogError::Io(_))
    ));
    assert_eq!((log.log_end_offset(), log.size_bytes()), (9, size));
    assert_eq!(
        fs::metadata(seg_path(dir.path(), 0, ".log")).unwrap().len(),
        size
    );
    // Index write failing after the log write succeeded also rolls back.
    let one = simple_batch(3, 0).len() as u64;
    disk.fail_writes_after(one);
    let index_path = seg_path(dir.path(), 0, ".index");
    let index_len = fs::metadata(&index_path).unwrap().len();
    // With a 64-byte interval this append adds an index entry; the log write uses up
    // the budget so the index write fails.
    assert!(matches!(
        log.append(&simple_batch(3, 0), 0, 0),
        Err(LogError::Io(_))
    ));
    assert_eq!(fs::metadata(&index_path).unwrap().len(), index_len);
    assert_eq!((log.log_end_offset(), log.size_bytes()), (9, size));
    disk.clear_faults();
    let now = (log.log_end_offset(), log.size_bytes());
    assert_eq!(
        fs::metadata(seg_path(dir.path(), 0, ".log")).unwrap().len(),
        now.1
    );
    disk.add_rule(crate::storage::sim::Rule::on(
        crate::storage::Op::Sync,
        crate::storage::sim::Fault::Errno(nix::errno::Errno::EIO),
    ));
    assert!(log.flush().is_err());
    disk.clear_faults();
    // After a failed fsync the log refuses writes until it is recovered.
    assert!(matches!(
        log.append(&simple_batch(1, 0), 0, 0),
        Err(LogError::Offline { .. })
    ));
    drop(log);
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    let info = log.append(&simple_batch(1, 0), 0, 0).unwrap();
    assert_eq!(info.base_offset, now.0);
    let all = bytes_of(&log.read(0, u64::MAX, false).unwrap());
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(bytes_of(&log.read(0, u64::MAX, false).unwrap()), all);
    assert_eq!(parse_header(&all).unwrap().base_offset, 0);
}

#[test]
fn reads_stay_valid_while_appends_continue() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 2);
    let early = log.read(0, u64::MAX, false).unwrap();
    let early_bytes = bytes_of(&early);
    fill(&mut log, 3);
    assert_eq!(bytes_of(&early), early_bytes);
    let s = log.read(3, u64::MAX, false).unwrap();
    assert_eq!(
        batch_ranges(&bytes_of(&s)),
        vec![(3, 5), (6, 8), (9, 11), (12, 14)]
    );
}

#[test]
fn maybe_flush_checkpoints_rolled_segments() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: one * 2,
        ..cfg()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    fill(&mut log, 5); // segments 0, 6, 12 (active, one batch)
    log.maybe_flush(0).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("recovery-point")).unwrap(),
        "1 12 12 0\n"
    );
    fill(&mut log, 1);
    drop(log);
    let path = seg_path(dir.path(), 12, ".log");
    let len = fs::metadata(&path).unwrap().len();
    fs::OpenOptions::new()
        .write(true)
        .open(&path)
        .unwrap()
        .set_len(len - 1)
        .unwrap();
    let log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!(log.log_end_offset(), 15);
    assert_eq!(log.log_start_offset(), 0);
}

/// A batch of `n` records from an idempotent producer.
fn idem_batch(pid: i64, epoch: i16, seq: i32, n: i32) -> Vec<u8> {
    producer_batch(pid, epoch, seq, n, false)
}

/// A batch of `n` records from a producer, transactional or only idempotent.
fn producer_batch(pid: i64, epoch: i16, seq: i32, n: i32, transactional: bool) -> Vec<u8> {
    let recs: Vec<crate::record::BuilderRecord<'_>> = (0..n)
        .map(|i| crate::record::BuilderRecord {
            offset_delta: i,
            timestamp: 5_000,
            value: Some(b"produced"),
            ..Default::default()
        })
        .collect();
    crate::record::build_batch(
        &recs,
        crate::record::BatchParams {
            producer_id: pid,
            producer_epoch: epoch,
            base_sequence: seq,
            is_transactional: transactional,
            ..Default::default()
        },
    )
    .unwrap()
}

#[test]
fn idempotent_appends_dedupe_and_fence() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    let a = log.append(&idem_batch(42, 0, 0, 3), 0, 1).unwrap();
    let b = log.append(&idem_batch(42, 0, 3, 2), 0, 2).unwrap();
    assert_eq!((a.base_offset, b.base_offset), (0, 3));
    // A retry of the first batch: same offsets, nothing appended.
    let dup = log.append(&idem_batch(42, 0, 0, 3), 0, 3).unwrap();
    assert!(dup.duplicate);
    assert_eq!((dup.base_offset, dup.last_offset), (0, 2));
    assert_eq!(log.log_end_offset(), 5);
    // A gap, and a stale epoch.
    let gap = log.append(&idem_batch(42, 0, 7, 1), 0, 4).unwrap_err();
    assert_eq!(
        crate::error::log_error_code(&gap),
        45,
        "OUT_OF_ORDER_SEQUENCE_NUMBER"
    );
    log.append(&idem_batch(42, 1, 0, 1), 0, 5).unwrap();
    let stale = log.append(&idem_batch(42, 0, 5, 1), 0, 6).unwrap_err();
    assert_eq!(
        crate::error::log_error_code(&stale),
        47,
        "INVALID_PRODUCER_EPOCH"
    );
    assert_eq!(log.log_end_offset(), 6);
    // Non-idempotent batches are not checked.
    log.append(&simple_batch(2, 0), 0, 7).unwrap();
}

#[test]
fn producer_state_survives_restart_with_and_without_snapshot() {
    let dir = tempfile::tempdir().unwrap();
    let small = LogConfig {
        segment_bytes: 400,
        ..cfg()
    };
    let mut log = PartitionLog::open(dir.path(), small.clone()).unwrap();
    let mut seq = 0;
    for _ in 0..20 {
        log.append(&idem_batch(7, 2, seq, 2), 0, 1).unwrap();
        seq += 2;
    }
    assert!(log.segment_count() > 2, "rolled, so snapshots exist");
    let end = log.log_end_offset();
    // Crash: no close, no final snapshot. The state comes back from the last roll's
    // snapshot plus the active segment's headers.
    drop(log);
    let mut log = PartitionLog::open(dir.path(), small.clone()).unwrap();
    let e = log.producer_states().get(7).unwrap().clone();
    assert_eq!(e.epoch, 2);
    assert_eq!(e.batches.back().unwrap().last_seq, seq - 1);
    let dup = log.append(&idem_batch(7, 2, seq - 2, 2), 0, 2).unwrap();
    assert!(dup.duplicate && dup.last_offset == end - 1);
    log.append(&idem_batch(7, 2, seq, 2), 0, 3).unwrap();
    seq += 2;
    log.close().unwrap();
    // Every snapshot gone: rebuilt from all batch headers.
    for entry in fs::read_dir(dir.path()).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().is_some_and(|e| e == "snapshot") {
            fs::remove_file(p).unwrap();
        }
    }
    let mut log = PartitionLog::open(dir.path(), small).unwrap();
    assert_eq!(
        log.producer_states()
            .get(7)
            .unwrap()
            .batches
            .back()
            .unwrap()
            .last_seq,
        seq - 1
    );
    assert!(
        log.append(&idem_batch(7, 2, seq + 1, 1), 0, 4).is_err(),
        "gap still detected"
    );
    // Expiry forgets an idle producer: then any sequence is accepted.
    assert_eq!(log.expire_producers(i64::MAX / 2), 1);
    log.append(&idem_batch(7, 2, seq + 100, 1), 0, 5).unwrap();
}

fn txn_batch(pid: i64, seq: i32, n: i32) -> Vec<u8> {
    producer_batch(pid, 0, seq, n, true)
}

#[test]
fn last_stable_offset_and_aborted_index_survive_restart() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    log.append(&simple_batch(2, 0), 0, 1).unwrap(); // 0-1
    log.append(&txn_batch(1, 0, 2), 0, 1).unwrap(); // 2-3, producer 1 opens at 2
    log.append(&txn_batch(2, 0, 1), 0, 1).unwrap(); // 4, producer 2 opens at 4
    log.append(&simple_batch(1, 0), 0, 1).unwrap(); // 5
    assert_eq!(log.last_stable_offset(), 2);
    // read_committed reads only below the LSO.
    let below = bytes_of(&log.read_below(0, u64::MAX, true, 2).unwrap());
    assert_eq!(batch_ranges(&below), vec![(0, 1)]);
    log.append_marker(1, 0, false, 0, 0, 2).unwrap(); // 6: abort producer 1
    assert_eq!(log.last_stable_offset(), 4, "producer 2 still open");
    log.append_marker(2, 0, true, 0, 0, 2).unwrap(); // 7: commit producer 2
    assert_eq!(log.last_stable_offset(), 8);
    let aborted = log.aborted_transactions(0, 8);
    assert_eq!(aborted.len(), 1);
    assert_eq!(
        (
            aborted[0].producer_id,
            aborted[0].first_offset,
            aborted[0].last_offset
        ),
        (1, 2, 6)
    );
    assert!(
        log.aborted_transactions(7, 8).is_empty(),
        "ends before the fetch offset"
    );
    // A transaction left open across a crash keeps the LSO where it was.
    log.append(&txn_batch(3, 0, 1), 0, 3).unwrap(); // 8
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.last_stable_offset(), 8);
    assert_eq!(log.aborted_transactions(0, 9).len(), 1);
    // The index file lost (not flushed): rebuilt from the markers on open.
    drop(log);
    fs::remove_file(dir.path().join(ABORTED_TXN_FILE)).unwrap();
    for e in fs::read_dir(dir.path()).unwrap() {
        let p = e.unwrap().path();
        if p.extension().is_some_and(|x| x == "snapshot") {
            fs::remove_file(p).unwrap();
        }
    }
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.aborted_transactions(0, 9).len(), 1);
    assert_eq!(log.last_stable_offset(), 8);
}

/// A log of 10 batches of 3 records, two batches per segment: segments 0 6 12 18 24.
fn two_batch_segments(dir: &Path) -> PartitionLog {
    let one = simple_batch(3, 0).len() as u64;
    let mut log = PartitionLog::open(
        dir,
        LogConfig {
            segment_bytes: one * 2,
            retention_ms: 1000,
            ..cfg()
        },
    )
    .unwrap();
    fill(&mut log, 10);
    assert_eq!(log.segment_count(), 5);
    log
}

#[test]
fn delete_records_moves_start_and_deletes_segments_below() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = two_batch_segments(dir.path());
    // Inside segment 6 (batch 6-8 holds offset 7): segments 0 goes, 6 stays.
    assert_eq!(log.delete_records_before(7).unwrap(), 7);
    assert_eq!(log.log_start_offset(), 7);
    assert_eq!(log.segment_count(), 4);
    assert!(!seg_path(dir.path(), 0, ".log").exists());
    assert!(seg_path(dir.path(), 6, ".log").exists());
    assert!(matches!(
        log.read(6, 1 << 20, true),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    // Reading at the start returns the whole batch holding it (the client skips 6).
    let got = batch_ranges(&bytes_of(&log.read(7, 1 << 20, true).unwrap()));
    assert_eq!(got[0], (6, 8));
    // Timestamp lookups answer nothing below the start.
    assert_eq!(log.offset_for_timestamp(0).unwrap().map(|h| h.0), Some(7));
    // Lower or equal: no change, the current start is answered.
    assert_eq!(log.delete_records_before(3).unwrap(), 7);
    assert_eq!(log.delete_records_before(7).unwrap(), 7);
    // Beyond the log end: out of range, nothing changes.
    assert!(matches!(
        log.delete_records_before(31),
        Err(LogError::OffsetOutOfRange { .. })
    ));
    assert_eq!(log.log_start_offset(), 7);
    // Exactly at a segment base: that whole earlier segment goes.
    assert_eq!(log.delete_records_before(18).unwrap(), 18);
    assert_eq!(log.segment_count(), 2);
    // Up to the log end: the active segment stays, empty of readable data.
    assert_eq!(log.delete_records_before(30).unwrap(), 30);
    assert_eq!(log.segment_count(), 1);
    assert_eq!(log.read(30, 1 << 20, true).unwrap().total_bytes, 0);
    assert!(log.read(29, 1 << 20, true).is_err());
    // Appends continue after it.
    let info = log.append(&simple_batch(1, 2000), 5, 0).unwrap();
    assert_eq!((info.base_offset, info.log_start_offset), (30, 30));
}

#[test]
fn log_start_offset_survives_reopen_and_crash() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = two_batch_segments(dir.path());
    assert_eq!(log.delete_records_before(8).unwrap(), 8);
    // No close, no flush: as after kill -9.
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_start_offset(), 8);
    assert_eq!(log.log_end_offset(), 30);
    assert!(log.read(7, 100, true).is_err());
    log.close().unwrap();
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_start_offset(), 8);
    let text = fs::read_to_string(dir.path().join(LOG_START_OFFSET_FILE)).unwrap();
    assert_eq!(text, "1 8\n");
    assert!(!dir
        .path()
        .join(format!("{LOG_START_OFFSET_FILE}.tmp"))
        .exists());
}

#[test]
fn crash_between_checkpoint_and_segment_deletion_is_completed_on_open() {
    let dir = tempfile::tempdir().unwrap();
    let log = two_batch_segments(dir.path());
    drop(log);
    // The checkpoint was written but the segments below it were not deleted yet.
    fs::write(dir.path().join(LOG_START_OFFSET_FILE), "1 13\n").unwrap();
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_start_offset(), 13);
    assert_eq!(
        log.segment_count(),
        3,
        "segments 0 and 6 are wholly below 13"
    );
    assert!(!seg_path(dir.path(), 6, ".log").exists());
    assert!(seg_path(dir.path(), 12, ".log").exists());
    // A torn or foreign checkpoint is ignored (the segments still bound the start).
    drop(log);
    fs::write(dir.path().join(LOG_START_OFFSET_FILE), "1 1").unwrap();
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_start_offset(), 12);
    drop(log);
    fs::write(dir.path().join(LOG_START_OFFSET_FILE), "garbage").unwrap();
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_start_offset(), 12);
}

#[test]
fn checkpointed_start_beyond_the_log_end_starts_an_empty_log_there() {
    let dir = tempfile::tempdir().unwrap();
    let log = two_batch_segments(dir.path());
    drop(log);
    fs::write(dir.path().join(LOG_START_OFFSET_FILE), "1 40\n").unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (40, 40));
    assert_eq!(log.segment_count(), 1);
    assert_eq!(
        log.append(&simple_batch(1, 0), 5, 0).unwrap().base_offset,
        40
    );
}

#[test]
fn retention_never_moves_the_start_backwards() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = two_batch_segments(dir.path());
    assert_eq!(log.delete_records_before(9).unwrap(), 9);
    // now=2045 deletes segments ending at 1012 and 1032 by age (0 is already gone).
    assert_eq!(log.apply_retention(2045).unwrap(), 1);
    assert_eq!(log.log_start_offset(), 12);
    assert_eq!(log.delete_records_before(14).unwrap(), 14);
    let mut config = log.config().clone();
    config.retention_ms = -1;
    config.retention_bytes = 0;
    log.set_config(config);
    assert_eq!(log.apply_retention(0).unwrap(), 2);
    assert_eq!(log.log_start_offset(), 24);
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(
        log.log_start_offset(),
        24,
        "the older checkpoint (14) does not win"
    );
}

#[test]
fn last_stable_offset_never_below_log_start() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    log.append(&simple_batch(2, 0), 0, 1).unwrap(); // 0-1
    log.append(&txn_batch(1, 0, 2), 0, 1).unwrap(); // 2-3, open
    log.append(&simple_batch(3, 0), 0, 1).unwrap(); // 4-6
    assert_eq!(log.last_stable_offset(), 2);
    assert_eq!(log.delete_records_before(5).unwrap(), 5);
    assert_eq!(log.last_stable_offset(), 5);
    log.append_marker(1, 0, true, 0, 0, 2).unwrap(); // 7
    assert_eq!(log.last_stable_offset(), 8);
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.last_stable_offset(), 8);
}

#[test]
fn compaction_after_delete_records_keeps_the_start() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 0).len() as u64;
    let mut log = PartitionLog::open(
        dir.path(),
        LogConfig {
            segment_bytes: one * 2,
            cleanup_policy_compact: true,
            cleanup_policy_delete: true,
            min_cleanable_dirty_ratio: 0.0,
            ..cfg()
        },
    )
    .unwrap();
    fill(&mut log, 10);
    assert_eq!(log.delete_records_before(4).unwrap(), 4);
    let stats = log.clean(10_000).unwrap();
    assert!(stats.round_finished);
    assert_eq!(log.log_start_offset(), 4);
    assert!(log.read(3, 100, true).is_err());
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(log.log_start_offset(), 4);
}

#[test]
fn end_offset_for_epoch_follows_kafka_rules() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: one * 2,
        ..cfg()
    };
    let mut log = PartitionLog::open(dir.path(), config.clone()).unwrap();
    // Empty log, current epoch 0: the current epoch ends at the log end.
    assert_eq!(log.end_offset_for_epoch(0, 0), (0, 0));
    assert_eq!(log.end_offset_for_epoch(1, 0), (-1, -1));
    // Epoch 1: 0-8 (segments 0, 6), epoch 3: 9-17, epoch 4: 18-20.
    for (epoch, batches) in [(1, 3), (3, 3), (4, 1)] {
        for _ in 0..batches {
            log.append(&simple_batch(3, 1000), epoch, 0).unwrap();
        }
    }
    let want = std::collections::BTreeMap::from([(1, 0), (3, 9), (4, 18)]);
    assert_eq!(log.leader_epochs(), &want);
    assert_eq!(log.end_offset_for_epoch(4, 4), (4, 21), "current epoch");
    assert_eq!(log.end_offset_for_epoch(3, 4), (3, 18));
    assert_eq!(
        log.end_offset_for_epoch(2, 4),
        (1, 9),
        "unknown epoch between known"
    );
    assert_eq!(log.end_offset_for_epoch(1, 4), (1, 9));
    assert_eq!(
        log.end_offset_for_epoch(0, 4),
        (0, 0),
        "below every known epoch"
    );
    assert_eq!(log.end_offset_for_epoch(5, 4), (-1, -1));
    assert_eq!(log.end_offset_for_epoch(-1, 4), (-1, -1));
    // A leader epoch newer than any batch counts as starting at the log end.
    assert_eq!(log.end_offset_for_epoch(4, 6), (4, 21));
    assert_eq!(log.end_offset_for_epoch(6, 6), (6, 21));
    // Rebuilt the same on open, from first headers plus scans of changing segments.
    drop(log);
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    assert_eq!(log.leader_epochs(), &want);
    // The start moving past epoch 1 leaves it starting at the new start.
    log.delete_records_before(10).unwrap();
    assert_eq!(
        log.leader_epochs(),
        &std::collections::BTreeMap::from([(3, 10), (4, 18)])
    );
    assert_eq!(log.end_offset_for_epoch(1, 4), (1, 10));
    drop(log);
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!(
        log.leader_epochs(),
        &std::collections::BTreeMap::from([(3, 10), (4, 18)])
    );
}

#[test]
fn rolled_flush_runs_between_lock_holds_and_waits_for_a_later_roll() {
    let dir = tempfile::tempdir().unwrap();
    let one = simple_batch(3, 0).len() as u64;
    let config = LogConfig {
        segment_bytes: one * 2,
        ..cfg()
    };
    let mut log = PartitionLog::open(dir.path(), config).unwrap();
    fill(&mut log, 5); // segments 0, 6, 12 (active, one batch)
    let job = log
        .maybe_flush_prepare(0)
        .unwrap()
        .expect("rolled segments to sync");
    // Appends go on while the fsyncs run (no lock in the broker): one more
    // batch stays in the active segment.
    fill(&mut log, 1);
    job.run().unwrap();
    log.finish_rolled_flush(&job).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("recovery-point")).unwrap(),
        "1 12 12 0\n"
    );
    // A roll between prepare and finish: the point waits for the next flush.
    fill(&mut log, 1); // rolls to 18
    let job = log
        .maybe_flush_prepare(0)
        .unwrap()
        .expect("segment 12 to sync");
    fill(&mut log, 2); // rolls again to 24
    job.run().unwrap();
    log.finish_rolled_flush(&job).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("recovery-point")).unwrap(),
        "1 12 12 0\n"
    );
    log.maybe_flush(0).unwrap();
    assert_eq!(
        fs::read_to_string(dir.path().join("recovery-point")).unwrap(),
        "1 24 24 0\n"
    );
}

/// Found by the log_recovery fuzz target: a flushed (trusted) segment whose
/// tail batch claims a negative last_offset_delta put the log end below its
/// start, and open panicked in `clamp` instead of rescanning the segment.
#[test]
fn a_trusted_batch_with_a_negative_offset_delta_is_rescanned_not_a_panic() {
    let dir = tempfile::tempdir().unwrap();
    let mut log = PartitionLog::open(dir.path(), cfg()).unwrap();
    fill(&mut log, 3);
    log.close().unwrap();
    let path = seg_path(dir.path(), 0, ".log");
    let data = fs::read(&path).unwrap();
    let last = data.len() - simple_batch(3, 1020).len();
    // last_offset_delta is at byte 23 of a batch.
    let f = fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.write_all_at(&(-100i32).to_be_bytes(), (last + 23) as u64)
        .unwrap();
    // An empty time index passes its own check whatever the segment's end.
    fs::write(seg_path(dir.path(), 0, ".timeindex"), b"").unwrap();
    let log = PartitionLog::open(dir.path(), cfg()).unwrap();
    assert_eq!((log.log_start_offset(), log.log_end_offset()), (0, 6));
}
