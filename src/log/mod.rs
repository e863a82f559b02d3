//! The partition log: Kafka's on-disk layout, one directory per partition.
//!
//! A log is a list of segments (`<20-digit base offset>.log` + `.index` + `.timeindex`);
//! only the last ("active") one is appended to. Batches are stored byte-for-byte as the
//! producer sent them except for the broker-owned header fields (base offset, leader
//! epoch, and max timestamp + CRC on LogAppendTime topics), so fetches can be served
//! straight from the files with sendfile(2).
//!
//! Concurrency: the caller serialises all calls per partition (a mutex). Reads return
//! `Arc<File>` ranges over bytes that are never rewritten (files are append-only; only
//! recovery at open truncates), so they can be sent after the lock is released.

pub(crate) mod cleaner;
#[cfg(test)]
mod cleaner_tests;
mod index;
mod io;
#[cfg(test)]
pub(crate) mod power_tests;
pub mod producer_state;
pub mod progress;
mod read;
pub(crate) mod recovery;
mod retention;
pub(crate) mod segment;
mod start_offset;
#[cfg(test)]
mod tests;
pub mod txn_index;

use std::fs::File;
use std::path::{Path, PathBuf};
use std::sync::Arc;

pub use crate::record::TimestampType;
use crate::record::{
    parse_header, set_base_offset, set_max_timestamp_and_recompute_crc, set_partition_leader_epoch,
    validate_batches, BatchHeader, RecordError, BATCH_HEADER_BYTES,
};
pub use cleaner::{CleanStats, CleanerLimits, CLEANER_CHECKPOINT_FILE};
use recovery::RecoveryPoint;
use segment::Segment;
pub use start_offset::{LOG_START_OFFSET_FILE, UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

/// Default segment size before rolling: 1 GiB.
pub const DEFAULT_SEGMENT_BYTES: u64 = 1024 * 1024 * 1024;
/// Default segment age before rolling: 7 days in ms.
pub const DEFAULT_SEGMENT_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Default retention: 7 days in ms.
pub const DEFAULT_RETENTION_MS: i64 = 7 * 24 * 60 * 60 * 1000;
/// Default bytes of log between sparse index entries (Kafka's 4 KiB).
pub const DEFAULT_INDEX_INTERVAL_BYTES: u32 = 4096;
/// Default largest batch accepted, in bytes (Kafka's 1 MiB + 12-byte log overhead).
pub const DEFAULT_MAX_MESSAGE_BYTES: u32 = 1_048_588;
/// Default time tombstones stay readable on compacted topics: 1 day in ms.
pub const DEFAULT_DELETE_RETENTION_MS: i64 = 24 * 60 * 60 * 1000;
/// Default dirty ratio (dirty bytes / cleanable bytes) that triggers compaction.
pub const DEFAULT_MIN_CLEANABLE_DIRTY_RATIO: f64 = 0.5;
/// Default `message.timestamp.after.max.ms`: a CreateTime timestamp may be up to
/// 1 hour (in ms) ahead of the broker's clock (Kafka 4.0's default, KIP-1030).
pub const DEFAULT_MESSAGE_TIMESTAMP_AFTER_MAX_MS: i64 = 60 * 60 * 1000;
/// Default `producer.id.expiration.ms`: an idle producer's state is kept 1 day.
pub const DEFAULT_PRODUCER_ID_EXPIRATION_MS: i64 = 24 * 60 * 60 * 1000;
/// Hard cap on a segment's size in bytes: index entries store positions as u32 and
/// Kafka's segment.bytes is an i32, so segments never exceed i32::MAX bytes.
pub const MAX_SEGMENT_BYTES: u64 = i32::MAX as u64;

#[derive(Debug, Clone, PartialEq)]
pub struct LogConfig {
    /// Roll when the active segment would exceed this many bytes (capped at MAX_SEGMENT_BYTES).
    pub segment_bytes: u64,
    /// Roll when the active segment is older than this many ms.
    pub segment_ms: i64,
    /// Delete segments whose newest record is older than this many ms; -1 = unlimited.
    pub retention_ms: i64,
    /// Delete oldest segments while the log stays at least this many bytes; -1 = unlimited.
    pub retention_bytes: i64,
    /// fsync after this many records since the last flush; u64::MAX = never.
    pub flush_messages: u64,
    /// fsync when the last flush is older than this many ms; i64::MAX = never.
    pub flush_ms: i64,
    /// Bytes of log between sparse index entries.
    pub index_interval_bytes: u32,
    pub message_timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: produce refuses a CreateTime timestamp
    /// more than this many ms behind the broker's clock; i64::MAX = no limit.
    pub message_timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: produce refuses a CreateTime timestamp
    /// more than this many ms ahead of the broker's clock.
    pub message_timestamp_after_max_ms: i64,
    /// Largest batch accepted, in bytes (whole batch including the 12-byte overhead).
    pub max_message_bytes: u32,
    /// cleanup.policy contains `compact`: [`PartitionLog::clean`] compacts the log.
    pub cleanup_policy_compact: bool,
    /// cleanup.policy contains `delete`: retention by time and size applies.
    pub cleanup_policy_delete: bool,
    /// Compacted topics: how long a tombstone (null value) stays after its segment was
    /// last modified before the cleaner may remove it.
    pub delete_retention_ms: i64,
    /// Compact when dirty bytes / cleanable bytes reaches this ratio.
    pub min_cleanable_dirty_ratio: f64,
    /// Records younger than this (segment max timestamp) are not compacted yet.
    pub min_compaction_lag_ms: i64,
    /// Compact regardless of the dirty ratio once a dirty record is older than this.
    pub max_compaction_lag_ms: i64,
    /// Forget an idempotent producer's state after this many ms without appends
    /// (broker-wide `producer.id.expiration.ms`).
    pub producer_id_expiration_ms: i64,
    /// `compression.type`: the codec batches are stored with; `None` keeps the
    /// producer's (`producer`). Applied by the produce handler before append.
    pub compression: Option<crate::record::Compression>,
    /// `min.insync.replicas`: acks=all produce needs at least this many in-sync
    /// replicas, or it answers NOT_ENOUGH_REPLICAS.
    pub min_insync_replicas: i32,
}

impl LogConfig {
    /// What produce validation checks the records of this log's batches against.
    pub fn record_rules(&self) -> crate::record::RecordRules {
        crate::record::RecordRules {
            timestamp_type: self.message_timestamp_type,
            timestamp_before_max_ms: self.message_timestamp_before_max_ms,
            timestamp_after_max_ms: self.message_timestamp_after_max_ms,
            require_keys: self.cleanup_policy_compact,
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            segment_bytes: DEFAULT_SEGMENT_BYTES,
            segment_ms: DEFAULT_SEGMENT_MS,
            retention_ms: DEFAULT_RETENTION_MS,
            retention_bytes: -1,
            flush_messages: u64::MAX,
            flush_ms: i64::MAX,
            index_interval_bytes: DEFAULT_INDEX_INTERVAL_BYTES,
            message_timestamp_type: TimestampType::CreateTime,
            message_timestamp_before_max_ms: i64::MAX,
            message_timestamp_after_max_ms: DEFAULT_MESSAGE_TIMESTAMP_AFTER_MAX_MS,
            max_message_bytes: DEFAULT_MAX_MESSAGE_BYTES,
            cleanup_policy_compact: false,
            cleanup_policy_delete: true,
            delete_retention_ms: DEFAULT_DELETE_RETENTION_MS,
            min_cleanable_dirty_ratio: DEFAULT_MIN_CLEANABLE_DIRTY_RATIO,
            min_compaction_lag_ms: 0,
            max_compaction_lag_ms: i64::MAX,
            producer_id_expiration_ms: DEFAULT_PRODUCER_ID_EXPIRATION_MS,
            compression: None,
            min_insync_replicas: 1,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum LogError {
    #[error("offset {offset} out of range [{log_start_offset}, {log_end_offset}]")]
    OffsetOutOfRange {
        offset: i64,
        log_start_offset: i64,
        log_end_offset: i64,
    },
    /// Framing or CRC damage in produced data (Kafka: CORRUPT_MESSAGE).
    #[error("corrupt message: {0}")]
    CorruptMessage(RecordError),
    /// A batch larger than `max.message.bytes` (Kafka: MESSAGE_TOO_LARGE).
    #[error("batch of {size} bytes exceeds the limit of {max} bytes")]
    MessageTooLarge { size: u64, max: u64 },
    /// An append larger than a whole segment (Kafka: RECORD_LIST_TOO_LARGE).
    #[error("append of {size} bytes is larger than a segment ({max} bytes)")]
    RecordListTooLarge { size: u64, max: u64 },
    /// Well-framed but semantically invalid data (Kafka: INVALID_RECORD).
    #[error("invalid record: {0}")]
    InvalidRecord(String),
    /// Not a v2 batch (Kafka: UNSUPPORTED_FOR_MESSAGE_FORMAT).
    #[error("unsupported record batch magic {0}")]
    UnsupportedMagic(i8),
    /// On-disk data that should be valid is not (a bug or external damage).
    #[error("corrupt log {path} at position {position}: {reason}")]
    CorruptLog {
        path: PathBuf,
        position: u64,
        reason: String,
    },
    /// An idempotent producer's batch out of sequence or from a fenced epoch.
    #[error("{0}")]
    Producer(#[from] producer_state::ProducerError),
    /// An fsync failed earlier: the log is out of service until a restart
    /// recovers it (Kafka: KAFKA_STORAGE_ERROR, as for an offline log dir).
    #[error("partition log {dir} is offline after a failed fsync ({reason}); restart the broker to recover it")]
    Offline { dir: PathBuf, reason: String },
    #[error("I/O error: {0}")]
    Io(#[from] std::io::Error),
}

impl From<RecordError> for LogError {
    fn from(e: RecordError) -> Self {
        match e {
            RecordError::UnsupportedMagic(m) => LogError::UnsupportedMagic(m),
            e if e.is_corruption() => LogError::CorruptMessage(e),
            e => LogError::InvalidRecord(e.to_string()),
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AppendInfo {
    pub base_offset: i64,
    pub last_offset: i64,
    /// The append time stamped into the batches, or -1 for CreateTime topics.
    pub log_append_time_ms: i64,
    pub log_start_offset: i64,
    pub record_count: i64,
    /// The batch was a producer's retry of one already in the log: nothing was
    /// appended and the offsets are the original ones.
    pub duplicate: bool,
}

/// Exact file ranges holding whole batches, to be sent with sendfile(2).
#[derive(Debug, Clone, Default)]
pub struct ReadSlice {
    pub ranges: Vec<FileRange>,
    pub total_bytes: u64,
}

#[derive(Debug, Clone)]
pub struct FileRange {
    pub file: Arc<File>,
    pub position: u64,
    pub len: u64,
}

#[derive(Debug)]
pub struct PartitionLog {
    dir: PathBuf,
    config: LogConfig,
    /// Sorted by base offset, never empty; the last one is active.
    segments: Vec<Segment>,
    log_start_offset: i64,
    /// Offsets below this are known to be fsynced.
    recovery_point: i64,
    unflushed_messages: u64,
    last_flush_ms: i64,
    /// Compaction progress (first dirty offset, a round in progress) and limits.
    cleaner: cleaner::CleanerState,
    /// Idempotent producers' epochs and recent sequence ranges.
    producers: producer_state::ProducerStates,
    /// Aborted transactions of this partition, for read_committed fetches.
    aborted: txn_index::TxnIndex,
    /// Leader epoch → its first offset in the log (see `start_offset`).
    epochs: std::collections::BTreeMap<i32, i64>,
    /// Set when an fsync failed. After a failed fsync the kernel may have
    /// dropped the dirty pages and marked them clean, so what the files hold
    /// is unknown until they are read back from disk: the log takes no more
    /// appends until the broker restarts and recovers it (PostgreSQL's and
    /// Kafka's answer to the same problem: stop, then recover).
    fsync_failed: Option<String>,
}

/// The partition's aborted-transaction index: one file for the whole log (entries are
/// 34 bytes per aborted transaction, so segments do not need their own).
pub const ABORTED_TXN_FILE: &str = "aborted.txnindex";

/// For a control batch, whether its marker is an ABORT (`Some(true)`) or a COMMIT
/// (`Some(false)`); `None` if the batch holds no readable marker. The control record
/// key is `int16 version, int16 type` (0 = ABORT, 1 = COMMIT).
pub fn marker_kind(batch: &[u8]) -> Option<bool> {
    let (header, body) = crate::record::batch_records(batch).ok()?;
    let record = crate::record::RecordIter::new(&header, &body)
        .next()?
        .ok()?;
    let key = record.key?;
    let kind = i16::from_be_bytes([*key.get(2)?, *key.get(3)?]);
    match kind {
        0 => Some(true),
        1 => Some(false),
        _ => None,
    }
}

/// fsyncs of rolled segments prepared under the log's lock and run without
/// it; see [`PartitionLog::maybe_flush_prepare`].
#[derive(Debug)]
pub struct RolledFlush {
    handles: Vec<io::SyncHandle>,
    dir: PathBuf,
    /// The active segment's base when prepared: everything below is covered.
    active_base: i64,
}

impl RolledFlush {
    /// The fsyncs (segment files, then the directory). Takes no lock.
    pub fn run(&self) -> Result<(), LogError> {
        for h in &self.handles {
            h.sync()?;
        }
        io::sync_dir(&self.dir)?;
        Ok(())
    }
}

fn wall_clock_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl PartitionLog {
    /// Opens or creates the log in `dir`, recovering everything after the last flush.
    pub fn open(dir: &Path, config: LogConfig) -> Result<PartitionLog, LogError> {
        let mut loaded = recovery::load(dir, config.index_interval_bytes)?;
        let mut log_start_offset = loaded.segments[0].base_offset;
        if let Some(checkpointed) = start_offset::read_checkpoint(dir) {
            let end = loaded.segments[loaded.segments.len() - 1].t.next_offset;
            if checkpointed > end {
                // Only external damage gets here (the data below a checkpointed start
                // is fsynced first): start afresh at the start, as Kafka's loader does.
                tracing::warn!(dir = %dir.display(), log_start_offset = checkpointed, log_end_offset = end,
                    "log ends below its checkpointed start offset; starting an empty log there");
                for seg in &loaded.segments {
                    seg.delete_files()?;
                }
                loaded.segments = vec![Segment::open(dir, checkpointed, true)?];
                loaded.recovery_point = checkpointed;
            }
            log_start_offset = log_start_offset.max(checkpointed);
        }
        let cleaner = cleaner::CleanerState::load(dir);
        let epochs = start_offset::load_epochs(&loaded.segments)?;
        let mut log = PartitionLog {
            dir: dir.to_path_buf(),
            config,
            segments: loaded.segments,
            log_start_offset,
            recovery_point: loaded.recovery_point.max(log_start_offset),
            unflushed_messages: 0,
            last_flush_ms: wall_clock_ms(),
            cleaner,
            producers: Default::default(),
            aborted: txn_index::TxnIndex::open(&dir.join(ABORTED_TXN_FILE))?,
            epochs,
            fsync_failed: None,
        };
        // A crash between a DeleteRecords checkpoint and its segment deletions.
        log.delete_segments_below_start("deleted segment below the checkpointed log start")?;
        log.truncate_epochs_to_start();
        let end = log.log_end_offset();
        log.aborted.truncate_to(end)?;
        log.load_producer_state()?;
        Ok(log)
    }

    /// The newest producer snapshot at or below the log end, then the batch headers
    /// after it (see `producer_state`). Replayed producers count as active now, so a
    /// restart never expires them early.
    fn load_producer_state(&mut self) -> Result<(), LogError> {
        let end = self.log_end_offset();
        let (from, mut states) = producer_state::load_snapshot(&self.dir, end)?.unwrap_or_default();
        let now = wall_clock_ms();
        let mut replayed = 0u64;
        for seg in &self.segments {
            if seg.t.next_offset <= from {
                continue;
            }
            let mut pos = 0;
            while pos < seg.size() {
                let h = seg.header_at(pos)?;
                if h.last_offset() >= from {
                    let marker = if h.is_control() {
                        marker_kind(&seg.read_batch(pos, &h)?)
                    } else {
                        None
                    };
                    if let Some(done) = states.record(&h, now, marker) {
                        // An abort the index lost (written after its last flush).
                        let known = self
                            .aborted
                            .entries()
                            .iter()
                            .any(|e| e.last_offset == done.last_offset);
                        if done.aborted && !known {
                            let lso = states
                                .first_unstable_offset()
                                .unwrap_or(done.last_offset + 1);
                            self.aborted.append(txn_index::AbortedTxn {
                                producer_id: done.producer_id,
                                first_offset: done.first_offset,
                                last_offset: done.last_offset,
                                last_stable_offset: lso.min(done.last_offset + 1),
                            })?;
                        }
                    }
                    replayed += 1;
                }
                pos += h.total_bytes();
            }
        }
        if replayed > 0 || !states.is_empty() {
            tracing::debug!(dir = %self.dir.display(), snapshot = from, replayed, producers = states.len(), "producer state loaded");
        }
        self.producers = states;
        Ok(())
    }

    /// Appends a transaction marker (a control batch with one COMMIT or ABORT record)
    /// for the producer, closing its open transaction in this partition.
    pub fn append_marker(
        &mut self,
        producer_id: i64,
        producer_epoch: i16,
        commit: bool,
        coordinator_epoch: i32,
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        let key = [0u8, 0, 0, u8::from(commit)];
        let mut value = vec![0u8, 0];
        value.extend_from_slice(&coordinator_epoch.to_be_bytes());
        let record = crate::record::BuilderRecord {
            offset_delta: 0,
            timestamp: now_ms,
            key: Some(&key),
            value: Some(&value),
            headers: Default::default(),
        };
        let batch = crate::record::build_batch(
            &[record],
            crate::record::BatchParams {
                producer_id,
                producer_epoch,
                is_transactional: true,
                is_control: true,
                ..Default::default()
            },
        )
        .map_err(|e| LogError::InvalidRecord(e.to_string()))?;
        self.append(&batch, leader_epoch, now_ms)
    }

    /// The last stable offset: read_committed consumers read below it. It is the first
    /// offset of the oldest open transaction, or the log end when none is open; never
    /// below the log start (a transaction whose start DeleteRecords removed is unstable
    /// from the log start on, as Kafka's `maybeIncrementFirstUnstableOffset`).
    pub fn last_stable_offset(&self) -> i64 {
        let end = self.log_end_offset();
        self.producers
            .first_unstable_offset()
            .map_or(end, |o| o.max(self.log_start_offset).min(end))
    }

    /// Aborted transactions overlapping `[from, upper)`, for a read_committed fetch.
    pub fn aborted_transactions(&self, from: i64, upper: i64) -> Vec<txn_index::AbortedTxn> {
        let mut out = Vec::new();
        self.aborted.collect_aborted(from, upper, &mut out);
        out
    }

    /// Idempotent producer state, for DescribeProducers and tests.
    pub fn producer_states(&self) -> &producer_state::ProducerStates {
        &self.producers
    }

    /// Applies `producer_id_expiration_ms`. Returns how many producers were forgotten.
    pub fn expire_producers(&mut self, now_ms: i64) -> usize {
        self.producers
            .expire(now_ms, self.config.producer_id_expiration_ms)
    }

    pub fn log_start_offset(&self) -> i64 {
        self.log_start_offset
    }

    /// Next offset to be assigned (the high watermark on a single node).
    pub fn log_end_offset(&self) -> i64 {
        self.active().t.next_offset
    }

    /// Bytes of all segment log files (indexes excluded).
    pub fn size_bytes(&self) -> u64 {
        self.segments.iter().map(Segment::size).sum()
    }

    pub fn config(&self) -> &LogConfig {
        &self.config
    }

    /// Takes effect for subsequent appends, rolls, flushes and retention runs.
    pub fn set_config(&mut self, config: LogConfig) {
        self.config = config;
    }

    /// Number of segments, active included.
    pub fn segment_count(&self) -> usize {
        self.segments.len()
    }

    fn active(&self) -> &Segment {
        // `segments` is never empty: open creates one and retention keeps the active one.
        &self.segments[self.segments.len() - 1]
    }

    fn active_mut(&mut self) -> &mut Segment {
        let last = self.segments.len() - 1;
        &mut self.segments[last]
    }

    fn effective_segment_bytes(&self) -> u64 {
        self.config.segment_bytes.clamp(1, MAX_SEGMENT_BYTES)
    }

    /// Age after which the active segment rolls. On a compacted log it is at most
    /// `max_compaction_lag_ms` (as Kafka's `maxSegmentMs`): the cleaner never touches
    /// the active segment, so without the roll a quiet log would keep obsolete records
    /// past the promised lag.
    fn effective_segment_ms(&self) -> i64 {
        if self.config.cleanup_policy_compact {
            self.config
                .segment_ms
                .min(self.config.max_compaction_lag_ms)
        } else {
            self.config.segment_ms
        }
    }

    /// Validates, assigns offsets from the log end, patches the broker-owned header
    /// fields and appends. Invalid input writes nothing. See LogError for the mapping
    /// to Kafka error codes.
    pub fn append(
        &mut self,
        records: &[u8],
        leader_epoch: i32,
        now_ms: i64,
    ) -> Result<AppendInfo, LogError> {
        if let Some(reason) = &self.fsync_failed {
            return Err(LogError::Offline {
                dir: self.dir.clone(),
                reason: reason.clone(),
            });
        }
        let headers = validate_batches(records)?;
        let max = u64::from(self.config.max_message_bytes);
        let mut offsets_needed: i64 = 0;
        let mut record_count: i64 = 0;
        for h in &headers {
            if h.records_count == 0 {
                // Kafka rejects empty batches on produce; they only arise from compaction.
                return Err(LogError::InvalidRecord("batch has no records".into()));
            }
            if h.total_bytes() > max {
                return Err(LogError::MessageTooLarge {
                    size: h.total_bytes(),
                    max,
                });
            }
            offsets_needed += i64::from(h.last_offset_delta) + 1;
            record_count += i64::from(h.records_count);
        }
        let segment_max = self.effective_segment_bytes();
        if records.len() as u64 > segment_max {
            return Err(LogError::RecordListTooLarge {
                size: records.len() as u64,
                max: segment_max,
            });
        }
        // Idempotence: one check per batch against the state including the batches
        // before it in this append (Produce sends one batch per partition, but a log
        // append may carry more).
        let mut pending = producer_state::ProducerStates::default();
        for h in &headers {
            if h.producer_id < 0 {
                continue;
            }
            let checked = match pending.get(h.producer_id) {
                Some(_) => pending.check(h)?,
                None => self.producers.check(h)?,
            };
            if let producer_state::Checked::Duplicate(original) = checked {
                return Ok(AppendInfo {
                    base_offset: original.first_offset,
                    last_offset: original.last_offset,
                    log_append_time_ms: -1,
                    log_start_offset: self.log_start_offset,
                    record_count: 0,
                    duplicate: true,
                });
            }
            if headers.len() > 1 {
                if pending.get(h.producer_id).is_none() {
                    if let Some(e) = self.producers.get(h.producer_id) {
                        pending.insert(h.producer_id, e.clone());
                    }
                }
                pending.record(h, now_ms, None);
            }
        }
        if self.should_roll(now_ms, records.len() as u64, offsets_needed) {
            self.roll(now_ms)?;
        }

        let log_append_time = self.config.message_timestamp_type == TimestampType::LogAppendTime;
        // The broker owns a few header fields (base offset, leader epoch and,
        // for LogAppendTime, max timestamp and CRC). Only the 61-byte headers
        // are copied and patched; the records after them are written from the
        // producer's bytes with one vectored write. LogAppendTime batches are
        // copied whole, since their CRC covers the records.
        let mut heads: Vec<[u8; BATCH_HEADER_BYTES]> = Vec::with_capacity(headers.len());
        let mut whole: Vec<Vec<u8>> = Vec::new();
        let mut patched = Vec::with_capacity(headers.len());
        let mut next = self.log_end_offset();
        let mut pos = 0usize;
        for h in &headers {
            // validate_batches guarantees these ranges lie within `records`.
            let original = &records[pos..pos + h.total_bytes() as usize];
            let batch: &mut [u8] = if log_append_time {
                whole.push(original.to_vec());
                let last = whole.len() - 1;
                &mut whole[last]
            } else {
                let mut head = [0u8; BATCH_HEADER_BYTES];
                head.copy_from_slice(&original[..BATCH_HEADER_BYTES]);
                heads.push(head);
                let last = heads.len() - 1;
                &mut heads[last]
            };
            set_base_offset(batch, next)?;
            set_partition_leader_epoch(batch, leader_epoch)?;
            if log_append_time {
                set_max_timestamp_and_recompute_crc(batch, now_ms)?;
            }
            let p: BatchHeader = parse_header(batch)?;
            next = p
                .last_offset()
                .checked_add(1)
                .ok_or_else(|| LogError::InvalidRecord("offset overflow".into()))?;
            patched.push(p);
            pos += original.len();
        }
        let mut parts: Vec<&[u8]> = Vec::with_capacity(2 * headers.len());
        let mut pos = 0usize;
        for (i, h) in headers.iter().enumerate() {
            let end = pos + h.total_bytes() as usize;
            if log_append_time {
                parts.push(&whole[i]);
            } else {
                parts.push(&heads[i]);
                parts.push(&records[pos + BATCH_HEADER_BYTES..end]);
            }
            pos = end;
        }

        let interval = self.config.index_interval_bytes;
        self.active_mut()
            .append_parts(&parts, &patched, interval, now_ms)?;
        let mut pos = 0usize;
        for h in &patched {
            let len = h.total_bytes() as usize;
            // Markers are read from the records, which patching leaves alone.
            let marker = if h.is_control() {
                marker_kind(&records[pos..pos + len])
            } else {
                None
            };
            pos += len;
            if let Some(done) = self.producers.record(h, now_ms, marker) {
                if done.aborted {
                    let lso = self
                        .producers
                        .first_unstable_offset()
                        .unwrap_or(next)
                        .min(next);
                    self.aborted.append(txn_index::AbortedTxn {
                        producer_id: done.producer_id,
                        first_offset: done.first_offset,
                        last_offset: done.last_offset,
                        last_stable_offset: lso,
                    })?;
                }
            }
        }

        for h in &patched {
            start_offset::observe(&mut self.epochs, h.partition_leader_epoch, h.base_offset);
        }
        let first = patched[0].base_offset;
        let last = next - 1;
        self.unflushed_messages = self
            .unflushed_messages
            .saturating_add(u64::try_from(record_count).unwrap_or(0));
        if self.unflushed_messages >= self.config.flush_messages {
            self.flush_at(now_ms)?;
        } else {
            self.flush_if_due(now_ms)?;
        }
        Ok(AppendInfo {
            base_offset: first,
            last_offset: last,
            log_append_time_ms: if log_append_time { now_ms } else { -1 },
            log_start_offset: self.log_start_offset,
            record_count,
            duplicate: false,
        })
    }

    /// Kafka's roll rules for the active segment: never roll an empty segment; roll when
    /// the new bytes would push it past segment_bytes, when it is older than segment_ms,
    /// or when relative offsets would no longer fit the index (i32, as Kafka).
    fn should_roll(&self, now_ms: i64, add_bytes: u64, add_offsets: i64) -> bool {
        let active = self.active();
        if active.size() == 0 {
            return false;
        }
        let too_big = active.size().saturating_add(add_bytes) > self.effective_segment_bytes();
        let too_old = active
            .roll_base_ms
            .is_some_and(|t| now_ms.saturating_sub(t) > self.effective_segment_ms());
        let last_rel = (active.t.next_offset - active.base_offset).saturating_add(add_offsets) - 1;
        too_big || too_old || last_rel > i64::from(i32::MAX)
    }

    fn roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        let base = self.log_end_offset();
        self.active_mut().seal_time_index()?;
        // Restart replays producer state from here instead of from the log start.
        producer_state::write_snapshot(&self.dir, base, &self.producers)?;
        let seg = Segment::open(&self.dir, base, true)?;
        tracing::debug!(dir = %self.dir.display(), base, now_ms, "rolled new segment");
        self.segments.push(seg);
        Ok(())
    }

    /// Rolls the active segment if it is older than segment_ms (or oversized after a
    /// config change). Also checked on every append.
    pub fn maybe_roll(&mut self, now_ms: i64) -> Result<(), LogError> {
        if self.should_roll(now_ms, 0, 0) {
            self.roll(now_ms)?;
        }
        Ok(())
    }

    /// fsyncs every segment holding unflushed data (rolled ones included) and their
    /// indexes, then advances the recovery-point checkpoint to the log end.
    pub fn flush(&mut self) -> Result<(), LogError> {
        self.flush_at(wall_clock_ms())
    }

    fn flush_at(&mut self, now_ms: i64) -> Result<(), LogError> {
        let result = self.flush_files(now_ms);
        if let Err(e) = &result {
            self.note_fsync_failure(e);
        }
        result
    }

    /// Takes the log out of service after a failed fsync (see `fsync_failed`).
    pub fn note_fsync_failure(&mut self, error: &LogError) {
        if self.fsync_failed.is_none() {
            tracing::error!(dir = %self.dir.display(), %error,
                "fsync failed: this partition takes no more writes until the broker restarts and recovers it from disk");
            self.fsync_failed = Some(error.to_string());
        }
    }

    fn flush_files(&mut self, now_ms: i64) -> Result<(), LogError> {
        self.active_mut().seal_time_index()?;
        let rp = self.recovery_point;
        let last = self.segments.len() - 1;
        for (i, seg) in self.segments.iter().enumerate() {
            if i == last || seg.t.next_offset > rp {
                seg.sync()?;
            }
        }
        self.aborted.sync()?;
        io::sync_dir(&self.dir)?;
        let active = self.active();
        let point = RecoveryPoint {
            offset: active.t.next_offset,
            segment_base: active.base_offset,
            segment_size: active.size(),
        };
        recovery::write_checkpoint(&self.dir, point)?;
        self.recovery_point = point.offset;
        self.unflushed_messages = 0;
        self.last_flush_ms = now_ms;
        Ok(())
    }

    /// Applies the flush_ms policy; call periodically. Also fsyncs segments rolled since
    /// the last flush (Kafka flushes a segment when it rolls, asynchronously; doing it
    /// here keeps the fsync off the append path) so restart recovery only has to scan
    /// the active segment.
    pub fn maybe_flush(&mut self, now_ms: i64) -> Result<(), LogError> {
        if let Some(job) = self.maybe_flush_prepare(now_ms)? {
            if let Err(e) = job.run() {
                self.note_fsync_failure(&e);
                return Err(e);
            }
            self.finish_rolled_flush(&job)?;
        }
        Ok(())
    }

    /// The flush.ms rule, run now; otherwise the fsync of rolled segments,
    /// prepared to run without the log's lock (`RolledFlush::run`, then
    /// [`PartitionLog::finish_rolled_flush`]). A rolled segment can be a GiB:
    /// fsyncing it under the partition's lock stalled every append for
    /// seconds.
    pub fn maybe_flush_prepare(&mut self, now_ms: i64) -> Result<Option<RolledFlush>, LogError> {
        if self.flush_if_due(now_ms)? {
            return Ok(None);
        }
        Ok(self.prepare_rolled_flush())
    }

    /// The flush.ms rule alone (checked on append too). Returns whether it flushed.
    fn flush_if_due(&mut self, now_ms: i64) -> Result<bool, LogError> {
        let due = now_ms.saturating_sub(self.last_flush_ms) >= self.config.flush_ms;
        if due && self.log_end_offset() > self.recovery_point {
            self.flush_at(now_ms)?;
            return Ok(true);
        }
        Ok(false)
    }

    /// What it takes to make the non-active segments holding unflushed data
    /// durable, or `None` when they already are.
    fn prepare_rolled_flush(&self) -> Option<RolledFlush> {
        let active_base = self.active().base_offset;
        if self.recovery_point >= active_base {
            return None;
        }
        let rp = self.recovery_point;
        let last = self.segments.len() - 1;
        let handles = self.segments[..last]
            .iter()
            .filter(|seg| seg.t.next_offset > rp)
            .flat_map(|seg| seg.sync_handles())
            .collect();
        Some(RolledFlush {
            handles,
            dir: self.dir.clone(),
            active_base,
        })
    }

    /// Moves the recovery point to the active segment's base once `job` ran
    /// (the active segment itself stays unflushed). If the log rolled again
    /// meanwhile, the point waits for the next flush, which covers both.
    pub fn finish_rolled_flush(&mut self, job: &RolledFlush) -> Result<(), LogError> {
        let active_base = self.active().base_offset;
        if self.recovery_point >= job.active_base || active_base != job.active_base {
            return Ok(());
        }
        // The active segment is durable up to 0 bytes: reopening rescans all of it.
        let point = RecoveryPoint {
            offset: active_base,
            segment_base: active_base,
            segment_size: 0,
        };
        recovery::write_checkpoint(&self.dir, point)?;
        self.recovery_point = active_base;
        Ok(())
    }

    /// Flushes and writes the recovery point so the next open skips recovery.
    pub fn close(mut self) -> Result<(), LogError> {
        self.shutdown()
    }

    /// What a clean broker shutdown does to a log it keeps open: flush (the
    /// recovery point) and a producer-state snapshot at the log end, so the next
    /// start loads idempotent/transactional producer state from the snapshot
    /// instead of rescanning the active segment's batches.
    pub fn shutdown(&mut self) -> Result<(), LogError> {
        self.flush()?;
        let end = self.log_end_offset();
        producer_state::write_snapshot(&self.dir, end, &self.producers)?;
        Ok(())
    }
}
