//! A partition directory as the broker finds it after a crash or damage:
//! every file `PartitionLog::open` reads, with the fuzzer's bytes.
//!
//! Input: the container of [`super::input::files`]. Kind bit 7 asks the
//! harness to give every whole batch of a segment file a matching CRC (so
//! mutations reach the record parsing instead of ending as a torn tail);
//! the low bits, mod [`KINDS`], pick the file, and param is the base offset
//! in the names of segment, index and snapshot files. Kind 13 is not a file:
//! its bytes choose the log config (bit 0 compacted, bit 1 LogAppendTime,
//! byte 1 the index interval).
//!
//! What must hold: open returns a log or an error (never a panic, a hang or
//! unbounded memory); an opened log answers every read consistently (whole
//! batches, offsets in order and inside `[start, end]`), accepts an append
//! and a clean, and after `close` opens again at the same offsets.

use std::os::unix::fs::FileExt;

use crate::log::cleaner::CLEANED_SUFFIX;
use crate::log::producer_state::SNAPSHOT_SUFFIX;
use crate::log::recovery::{RECOVERY_POINT_FILE, SWAP_SUFFIX};
use crate::log::segment::{file_name, INDEX_SUFFIX, LOG_SUFFIX, TIME_INDEX_SUFFIX};
use crate::log::{
    CleanerLimits, LogConfig, PartitionLog, TimestampType, ABORTED_TXN_FILE,
    CLEANER_CHECKPOINT_FILE, LOG_START_OFFSET_FILE,
};
use crate::record::{
    build_batch, parse_header, BatchParams, BuilderRecord, ATTRIBUTES_OFFSET, BATCH_HEADER_BYTES,
    CRC_OFFSET,
};
use crate::replica::dirs::{read_marker, PARTITION_METADATA_FILE};

use super::input::{files, FileEntry};
use super::scratch::Scratch;

/// Number of file kinds (see [`name_of`]) plus the config pseudo-file.
pub(crate) const KINDS: u8 = 14;
pub(crate) const KIND_LOG: u8 = 0;
pub(crate) const KIND_RECOVERY_POINT: u8 = 8;
pub(crate) const KIND_CONFIG: u8 = 13;
/// Kind bit: recompute the CRCs of the segment's whole batches.
pub(crate) const FIX_CRCS: u8 = 0x80;
/// Bytes between index entries unless the input says otherwise: small, so
/// short segments get several entries.
const DEFAULT_INTERVAL: u32 = 128;
/// Wall-clock stand-in for `now`: after every timestamp the seeds write.
const NOW_MS: i64 = 1_700_000_000_000;

/// The file name of kind `kind` (< 13) for base offset `base`.
pub(crate) fn name_of(kind: u8, base: i64) -> String {
    match kind {
        0 => file_name(base, LOG_SUFFIX),
        1 => file_name(base, INDEX_SUFFIX),
        2 => file_name(base, TIME_INDEX_SUFFIX),
        3 => file_name(base, SNAPSHOT_SUFFIX),
        4 => file_name(base, &format!("{LOG_SUFFIX}{SWAP_SUFFIX}")),
        5 => file_name(base, &format!("{INDEX_SUFFIX}{SWAP_SUFFIX}")),
        6 => file_name(base, &format!("{TIME_INDEX_SUFFIX}{SWAP_SUFFIX}")),
        7 => file_name(base, &format!("{LOG_SUFFIX}{CLEANED_SUFFIX}")),
        8 => RECOVERY_POINT_FILE.to_string(),
        9 => LOG_START_OFFSET_FILE.to_string(),
        10 => CLEANER_CHECKPOINT_FILE.to_string(),
        11 => ABORTED_TXN_FILE.to_string(),
        _ => PARTITION_METADATA_FILE.to_string(),
    }
}

/// The kind (< 13) a file name in a partition directory has, and its base
/// offset: the inverse of [`name_of`], for the seeds.
pub(crate) fn kind_of(name: &str) -> Option<(u8, u8)> {
    for kind in 0..KIND_CONFIG {
        for base in 0..=u8::MAX {
            if name_of(kind, i64::from(base)) == name {
                return Some((kind, base));
            }
        }
    }
    None
}

/// Gives every whole batch in `segment` a CRC matching its bytes.
fn fix_batch_crcs(segment: &mut [u8]) {
    let mut pos = 0usize;
    while let Ok(h) = parse_header(&segment[pos..]) {
        let Some(end) = usize::try_from(h.total_bytes())
            .ok()
            .and_then(|t| pos.checked_add(t))
            .filter(|&e| e <= segment.len() && e >= pos + BATCH_HEADER_BYTES)
        else {
            return;
        };
        let crc = crc32c::crc32c(&segment[pos + ATTRIBUTES_OFFSET..end]);
        segment[pos + CRC_OFFSET..pos + CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
        pos = end;
    }
}

fn config_from(bytes: &[u8]) -> LogConfig {
    let flags = bytes.first().copied().unwrap_or(0);
    let interval = bytes
        .get(1)
        .map_or(DEFAULT_INTERVAL, |&b| u32::from(b).max(1) * 16);
    LogConfig {
        cleanup_policy_compact: flags & 1 != 0,
        message_timestamp_type: if flags & 2 != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        },
        index_interval_bytes: interval,
        segment_bytes: 4096,
        delete_retention_ms: 0,
        min_cleanable_dirty_ratio: 0.0,
        ..LogConfig::default()
    }
}

/// Writes the entries into `dir`; returns the log config they ask for.
pub(crate) fn write_dir(dir: &std::path::Path, entries: &[FileEntry<'_>]) -> LogConfig {
    let mut config = config_from(&[]);
    for f in entries {
        let kind = (f.kind & !FIX_CRCS) % KINDS;
        if kind == KIND_CONFIG {
            config = config_from(f.bytes);
            continue;
        }
        let mut bytes = f.bytes.to_vec();
        if f.kind & FIX_CRCS != 0 {
            fix_batch_crcs(&mut bytes);
        }
        let path = dir.join(name_of(kind, i64::from(f.param)));
        std::fs::write(path, bytes).expect("scratch dir is writable");
    }
    config
}

/// Reads from `offset` as a fetch would and checks what comes back. Only a
/// log whose segments were all rescanned (`strict`: no recovery point
/// vouched for any) must hold batches in order: a flushed segment is
/// trusted by design, bytes and indexes alike, to keep restarts fast.
fn check_read(log: &PartitionLog, offset: i64, strict: bool) {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    let Ok(slice) = log.read(offset, 1 << 20, true) else {
        return;
    };
    let mut total = 0u64;
    let mut previous_last = None;
    for range in &slice.ranges {
        let mut bytes = vec![0u8; usize::try_from(range.len).expect("a range fits memory")];
        range
            .file
            .read_exact_at(&mut bytes, range.position)
            .expect("a returned range is readable");
        total += range.len;
        let mut pos = 0usize;
        while strict && pos < bytes.len() {
            let h = parse_header(&bytes[pos..]).expect("a returned range holds whole batches");
            let len = usize::try_from(h.total_bytes()).expect("batch size fits");
            assert!(
                len > 0 && pos + len <= bytes.len(),
                "a returned range cuts a batch"
            );
            assert!(
                h.last_offset() < end,
                "a batch past the log end was returned"
            );
            assert!(
                h.last_offset() >= start.min(offset),
                "a batch below the start was returned"
            );
            if let Some(p) = previous_last {
                assert!(h.base_offset > p, "batches out of offset order");
            }
            previous_last = Some(h.last_offset());
            pos += len;
        }
    }
    assert_eq!(
        total, slice.total_bytes,
        "read total disagrees with its ranges"
    );
}

/// Every read-side call a broker makes on a partition.
fn read_everything(log: &PartitionLog, strict: bool) {
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    assert!(start <= end, "log start {start} past log end {end}");
    let lso = log.last_stable_offset();
    assert!(
        (start..=end).contains(&lso),
        "last stable offset {lso} outside [{start}, {end}]"
    );
    for offset in (start..end).take(64) {
        check_read(log, offset, strict);
        let _ = log.offset_index_lookup(offset);
    }
    check_read(log, end, strict);
    assert!(
        log.read(end.saturating_add(1), 1024, true).is_err(),
        "a read past the end"
    );
    for ts in [i64::MIN, -1, 0, NOW_MS - 1_000_000, NOW_MS, i64::MAX] {
        if let Ok(Some((offset, _))) = log.offset_for_timestamp(ts) {
            assert!(
                !strict || (start..end).contains(&offset),
                "timestamp lookup found {offset} outside the log"
            );
        }
        let _ = log.time_index_lookup(ts);
    }
    let _ = log.max_timestamp();
    let _ = log.aborted_transactions(start, end);
    for epoch in [-1, 0, 1, 5, i32::MAX] {
        let _ = log.end_offset_for_epoch(epoch, 0);
    }
    let _ = log.producer_states().iter().count();
    let _ = log.first_dirty_offset();
}

fn one_batch() -> Vec<u8> {
    let record = BuilderRecord {
        offset_delta: 0,
        timestamp: NOW_MS,
        key: Some(b"k"),
        value: Some(b"v"),
        headers: Default::default(),
    };
    build_batch(&[record], BatchParams::default()).expect("a one-record batch builds")
}

pub fn log_recovery(data: &[u8]) {
    let scratch = Scratch::new("log");
    let dir = scratch.path().join("t-0");
    std::fs::create_dir_all(&dir).expect("scratch dir is writable");
    let entries = files(data);
    let config = write_dir(&dir, &entries);
    let strict = !entries
        .iter()
        .any(|f| (f.kind & !FIX_CRCS) % KINDS == KIND_RECOVERY_POINT);
    let _ = read_marker(&dir);
    let Ok(mut log) = PartitionLog::open(&dir, config.clone()) else {
        return;
    };
    read_everything(&log, strict);
    let before = log.log_end_offset();
    if let Ok(info) = log.append(&one_batch(), 0, NOW_MS) {
        assert_eq!(info.base_offset, before, "an append lands at the log end");
        assert_eq!(log.log_end_offset(), before + 1);
    }
    log.set_cleaner_limits(CleanerLimits {
        max_map_bytes: 4096,
        max_bytes_per_call: 4096,
    });
    for _ in 0..4 {
        match log.clean(NOW_MS) {
            Ok(stats) if stats.more_work => continue,
            _ => break,
        }
    }
    read_everything(&log, strict);
    let (start, end) = (log.log_start_offset(), log.log_end_offset());
    if log.close().is_err() {
        return;
    }
    let log = PartitionLog::open(&dir, config).expect("a log closed cleanly opens again");
    assert_eq!(
        (log.log_start_offset(), log.log_end_offset()),
        (start, end),
        "reopening a cleanly closed log moved its offsets"
    );
    read_everything(&log, strict);
}
