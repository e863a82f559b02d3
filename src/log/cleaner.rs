//! Log compaction (`cleanup.policy=compact`): keep only the latest record per key.
//!
//! # Model (Kafka's)
//! The log splits into a *clean* prefix (already compacted: every key appears at most
//! once) and a *dirty* suffix, separated by the first dirty offset, persisted in
//! [`CLEANER_CHECKPOINT_FILE`]. The *cleanable* range ends at the first uncleanable
//! offset: the active segment's base, or earlier the base of the first dirty segment
//! holding a record younger than `min_compaction_lag_ms`. A round runs when
//! dirty bytes / cleanable bytes >= `min_cleanable_dirty_ratio`, or when the first dirty
//! batch is older than `max_compaction_lag_ms`:
//!
//! 1. Build an offset map key → latest offset over the dirty range. Full keys are
//!    stored (no hashing, so no collisions to get wrong); the map's heap bytes (keys,
//!    buckets, growth) are bounded by [`CleanerLimits::max_map_bytes`]: the first key
//!    that does not fit ends the round's range at its record, even in the middle of
//!    a segment (as Kafka's cleaner stops mid-segment), and the rest stays dirty for
//!    the next round. Every round maps at least one key, so successive rounds always
//!    advance.
//! 2. Rewrite every segment from the log start to the round's end, oldest first, one at a
//!    time. Records at or past the end are kept untouched (the map knows nothing of
//!    their keys' later offsets). A record is kept if no later offset for its key is in the map; keyless
//!    records are dropped; a tombstone (null value) that is the latest for its key is
//!    kept until `delete_retention_ms` after its segment was last modified (the rewrite
//!    keeps the original mtime so this clock is not reset). Segments whose content would
//!    not change are left alone.
//! 3. When all segments up to the end are rewritten, the checkpoint moves to the end.
//!
//! # Batches
//! A batch that loses no record is copied byte for byte. Otherwise it is rebuilt as
//! Kafka's cleaner does: same base offset and last offset delta (so the producer's last
//! sequence number still lines up), records at their original offsets (gaps inside the
//! batch), same producer id/epoch/base sequence, attributes, codec and leader epoch;
//! max timestamp and CRC recomputed. Batches never merge. A non-transactional batch left
//! empty is dropped.
//!
//! # Transactions
//! A round starts from the partition's transaction state: its last stable offset (LSO)
//! and its aborted-transaction index. Cleaning never reaches the segment holding the
//! LSO, so every transactional batch it sees belongs to a finished transaction, which
//! is *aborted* if the index lists its producer over its offset and *committed*
//! otherwise. Committed records are treated like any other (they enter the offset map
//! and are removed once superseded); aborted batches are removed whole, as Kafka does,
//! since read_committed consumers skip them anyway. Control batches (the markers) are
//! always kept: they cost a few bytes and keep read_uncommitted and read_committed
//! consumers' view of transaction boundaries intact, and producer state comes from
//! snapshots, so nothing else depends on the removed batches.
//!
//! # Merging small segments
//! Compaction leaves many small segments behind. After a round, and whenever the log is
//! not due, runs of adjacent cleaned segments (below the first dirty offset, never the
//! active one) whose sizes add up to at most `segment_bytes` and whose offsets fit one
//! index (relative offsets are `i32`) are copied, batch for batch, into one segment named
//! after the first (Kafka's `groupSegmentsBySize`). The first segment's base stays, so
//! the log start offset never moves. Bounded by the same per-call byte budget.
//!
//! # Crash safety
//! Per segment: write `<base>.{log,index,timeindex}.cleaned`, fsync, rename the indexes
//! then the log to `.swap` (the log rename commits), fsync the directory, rename the
//! `.swap` files over the originals (indexes first, log last), fsync the directory. Open
//! deletes `.cleaned` leftovers and completes committed swaps (`recovery::complete_swaps`),
//! so a crash at any point leaves either the old or the new segment, both valid and
//! holding the latest value of every key. A merge commits the same way; between its
//! commit and the final rename it deletes the segments it absorbed, and the loader
//! deletes any segment that lies inside a just-completed swap, so a crash leaves either
//! the separate segments or the merged one, never both. Readers holding the old file keep reading it
//! (the inode survives the rename until closed).
//!
//! # Bounded work
//! `clean` runs under the partition's lock, so each call does a bounded amount of work
//! ([`CleanerLimits::max_bytes_per_call`] bytes read, but at least one segment) and keeps
//! the round's state in memory; the next call continues. A round interrupted by a restart
//! starts again from the log start (rewriting is idempotent).

use std::collections::HashMap;
use std::io;
use std::path::Path;

use super::io::{fail_point, sync_dir, write_file_atomic};
use super::recovery::SWAP_SUFFIX;
use super::segment::Segment;
use super::{LogError, PartitionLog};
use crate::record::{
    batch_records, build_batch, parse_header, BatchHeader, BatchParams, BuilderRecord, RecordError,
    RecordHeaders, RecordIter, TimestampType,
};
use crate::storage;

/// Per-partition file holding the first dirty offset (Kafka keeps one per log dir).
pub const CLEANER_CHECKPOINT_FILE: &str = "cleaner-offset-checkpoint";
const CHECKPOINT_VERSION: u32 = 1;
pub(crate) const CLEANED_SUFFIX: &str = ".cleaned";
/// Cleaned batches are buffered and written in chunks of about this many bytes.
const WRITE_CHUNK_BYTES: usize = 1024 * 1024;

/// Steps at which a test can make the swap stop as if the broker died (the
/// storage seam's fail points, named by [`swap_step_name`]).
pub(crate) const STEP_CLEANED_WRITTEN: u64 = 1;
pub(crate) const STEP_INDEX_SWAPS_RENAMED: u64 = 2;
pub(crate) const STEP_COMMITTED: u64 = 3;
pub(crate) const STEP_INDEXES_SWAPPED_IN: u64 = 4;
/// Merges only: the segments folded into the committed `.swap` are deleted.
pub(crate) const STEP_MERGED_AWAY_DELETED: u64 = 5;

/// The fail-point name of a swap step (see `storage::fail_point`).
pub(crate) fn swap_step_name(step: u64) -> &'static str {
    match step {
        STEP_CLEANED_WRITTEN => "clean.swap.cleaned_written",
        STEP_INDEX_SWAPS_RENAMED => "clean.swap.index_swaps_renamed",
        STEP_COMMITTED => "clean.swap.committed",
        STEP_INDEXES_SWAPPED_IN => "clean.swap.indexes_swapped_in",
        STEP_MERGED_AWAY_DELETED => "clean.swap.merged_away_deleted",
        _ => "clean.swap.unknown",
    }
}

/// Bounds on the work and memory of one [`PartitionLog::clean`] call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CleanerLimits {
    /// Cap on the offset map's heap bytes (keys, table buckets, the table's growth):
    /// a key that does not fit ends the round's range at that record, even in the
    /// middle of a segment, and the rest stays dirty for the next round. Kafka's
    /// log.cleaner.dedupe.buffer.size.
    pub max_map_bytes: u64,
    /// Segment bytes one call reads (map building plus rewriting) before returning; it
    /// always finishes the segment it is on, so a call may read up to one segment more.
    pub max_bytes_per_call: u64,
}

impl Default for CleanerLimits {
    fn default() -> Self {
        CleanerLimits {
            max_map_bytes: 64 * 1024 * 1024,
            max_bytes_per_call: 64 * 1024 * 1024,
        }
    }
}

/// What one [`PartitionLog::clean`] call did.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct CleanStats {
    /// A new round began in this call (the log was due for cleaning).
    pub round_started: bool,
    /// The round finished in this call and the first dirty offset advanced.
    pub round_finished: bool,
    /// A round is still in progress: call again.
    pub more_work: bool,
    /// Dirty ratio measured when the round started (0 if none started).
    pub dirty_ratio: f64,
    /// First dirty offset after this call.
    pub first_dirty_offset: i64,
    /// End (exclusive) of the round's range; 0 when no round ran.
    pub round_end_offset: i64,
    /// Segments replaced by a cleaned copy (emptied ones included).
    pub segments_cleaned: usize,
    /// Of those, segments deleted because nothing in them survived.
    pub segments_deleted: usize,
    /// Sizes of the replaced segments before and after.
    pub bytes_before: u64,
    pub bytes_after: u64,
    /// Segment bytes read (map building and rewriting).
    pub bytes_read: u64,
    pub records_removed: u64,
    /// Of `records_removed`, tombstones removed because delete_retention_ms passed.
    pub tombstones_removed: u64,
    /// Keys in the offset map of the current round.
    pub map_keys: usize,
    /// Heap bytes of that map (see `OffsetMap`); at most `max_map_bytes`, unless the
    /// round's very first key alone is larger.
    pub map_bytes: u64,
    /// Cleaned segments folded into a neighbour (see [`PartitionLog::clean`]).
    pub segments_merged: usize,
}

/// Heap bytes of one hash table bucket: the `(key, offset)` pair plus the table's
/// one control byte per bucket.
const MAP_BUCKET_BYTES: u64 = std::mem::size_of::<(Box<[u8]>, i64)>() as u64 + 1;
/// Control bytes the table keeps past its last bucket (one SIMD group).
const MAP_TABLE_TAIL_BYTES: u64 = 16;
/// Smallest heap chunk the system allocator hands out, in bytes (glibc on 64-bit).
const MALLOC_MIN_CHUNK_BYTES: u64 = 32;
/// Per-allocation bookkeeping the system allocator adds, in bytes, and the
/// alignment chunks are rounded up to.
const MALLOC_HEADER_BYTES: u64 = 8;
const MALLOC_ALIGN_BYTES: u64 = 16;

/// Heap bytes a boxed key of `len` bytes really takes (the allocator's chunk).
fn key_heap_bytes(len: usize) -> u64 {
    if len == 0 {
        return 0; // an empty Box<[u8]> does not allocate
    }
    let chunk =
        (len as u64 + MALLOC_HEADER_BYTES).div_ceil(MALLOC_ALIGN_BYTES) * MALLOC_ALIGN_BYTES;
    chunk.max(MALLOC_MIN_CHUNK_BYTES)
}

/// Heap bytes of a hash table able to hold `capacity` entries without growing:
/// buckets are a power of two kept at most 7/8 full.
fn table_heap_bytes(capacity: usize) -> u64 {
    if capacity == 0 {
        return 0;
    }
    let buckets = (capacity as u64 * 8).div_ceil(7).next_power_of_two();
    buckets * MAP_BUCKET_BYTES + MAP_TABLE_TAIL_BYTES
}

/// Keys → latest offset over a dirty range, held within a byte budget.
///
/// Full keys are stored (no digests, so no collisions to get wrong), so the memory
/// depends on the keys: the map counts what it really costs the heap — each key's
/// allocator chunk plus the table's buckets, which grow by doubling and, while
/// growing, exist twice — and refuses a new key that would take it past the budget.
#[derive(Debug, Default)]
struct OffsetMap {
    map: HashMap<Box<[u8]>, i64>,
    /// Heap bytes of the keys (allocator chunks).
    key_bytes: u64,
}

impl OffsetMap {
    /// Records `offset` for `key`, or returns false (storing nothing) when a new key
    /// would take the map past `max_bytes`. An empty map always takes its first key,
    /// so every round maps something and makes progress; that key is no larger than
    /// the batch being read, which is in memory anyway.
    fn put(&mut self, key: &[u8], offset: i64, max_bytes: u64) -> bool {
        if let Some(o) = self.map.get_mut(key) {
            *o = (*o).max(offset);
            return true;
        }
        let key_cost = key_heap_bytes(key.len());
        let capacity = self.map.capacity();
        let first = self.map.is_empty();
        if self.map.len() == capacity {
            // Growing doubles the buckets; the old table is freed only after the
            // entries moved, so both count.
            let grown = capacity.saturating_mul(2).max(3);
            let peak =
                self.key_bytes + key_cost + table_heap_bytes(capacity) + table_heap_bytes(grown);
            if peak > max_bytes && !first {
                return false;
            }
            self.map.reserve(grown - self.map.len());
        } else if self.bytes() + key_cost > max_bytes && !first {
            return false;
        }
        self.key_bytes += key_cost;
        self.map.insert(key.into(), offset);
        true
    }

    fn get(&self, key: &[u8]) -> Option<i64> {
        self.map.get(key).copied()
    }

    /// Heap bytes the map holds now.
    fn bytes(&self) -> u64 {
        self.key_bytes + table_heap_bytes(self.map.capacity())
    }
}

/// What a transactional batch turned out to be (see the module docs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Plain,
    Committed,
    Aborted,
    Open,
}

/// The partition's transactions as of the start of a round.
#[derive(Debug, Default)]
struct TxnView {
    lso: i64,
    /// producer id → (first offset, marker offset) of its aborted transactions.
    aborted: HashMap<i64, Vec<(i64, i64)>>,
}

impl TxnView {
    fn fate(&self, h: &BatchHeader) -> Fate {
        if !h.is_transactional() || h.is_control() {
            return Fate::Plain;
        }
        if h.base_offset >= self.lso {
            return Fate::Open;
        }
        let aborted = self.aborted.get(&h.producer_id).is_some_and(|ranges| {
            ranges
                .iter()
                .any(|(first, last)| *first <= h.base_offset && h.base_offset <= *last)
        });
        if aborted {
            Fate::Aborted
        } else {
            Fate::Committed
        }
    }
}

/// A round between calls.
#[derive(Debug)]
struct Round {
    map: OffsetMap,
    txns: TxnView,
    /// Segments with base < end are rewritten; the checkpoint moves here at the end.
    end: i64,
    /// Segments with base < next_base are done.
    next_base: i64,
}

#[derive(Debug)]
pub(crate) struct CleanerState {
    /// Start of the dirty range as last checkpointed (clamped to the log when used).
    first_dirty: i64,
    round: Option<Round>,
    limits: CleanerLimits,
}

impl CleanerState {
    pub(crate) fn load(dir: &Path) -> CleanerState {
        CleanerState {
            first_dirty: read_checkpoint(dir).unwrap_or(0),
            round: None,
            limits: CleanerLimits::default(),
        }
    }
}

fn read_checkpoint(dir: &Path) -> Option<i64> {
    let text = storage::read_to_string(&dir.join(CLEANER_CHECKPOINT_FILE)).ok()?;
    let mut it = text.split_ascii_whitespace();
    let version: u32 = it.next()?.parse().ok()?;
    let offset: i64 = it.next()?.parse().ok()?;
    (version == CHECKPOINT_VERSION && it.next().is_none()).then_some(offset)
}

/// Temp file, fsync, rename, fsync dir: the checkpoint is old or new, never torn.
fn write_checkpoint(dir: &Path, offset: i64) -> io::Result<()> {
    let body = format!("{CHECKPOINT_VERSION} {offset}\n");
    write_file_atomic(dir, CLEANER_CHECKPOINT_FILE, body.as_bytes())
}

fn corrupt(seg: &Segment, position: u64, e: RecordError) -> LogError {
    LogError::CorruptLog {
        path: seg.log.path().to_path_buf(),
        position,
        reason: e.to_string(),
    }
}

/// What happens to one batch.
enum Outcome {
    Unchanged,
    Rewritten(Vec<u8>),
    Dropped,
}

#[derive(Default)]
struct Removed {
    records: u64,
    tombstones: u64,
}

/// Applies the retention rules to one stored batch; records at or past `end` (not
/// covered by the map) are kept.
fn filter_batch(
    batch: &[u8],
    map: &OffsetMap,
    end: i64,
    txns: &TxnView,
    expire_tombstones: bool,
    removed: &mut Removed,
) -> Result<Outcome, RecordError> {
    let h = parse_header(batch)?;
    let fate = txns.fate(&h);
    match fate {
        _ if h.is_control() => return Ok(Outcome::Unchanged),
        Fate::Open => return Ok(Outcome::Unchanged),
        Fate::Aborted => {
            removed.records += u64::try_from(h.records_count).unwrap_or(0);
            return Ok(Outcome::Dropped);
        }
        Fate::Plain | Fate::Committed => {}
    }
    let txn = h.is_transactional();
    let (h, body) = batch_records(batch)?;
    let mut kept = Vec::new();
    let mut dropped = 0u64;
    for r in RecordIter::new(&h, &body) {
        let r = r?;
        // Past the mapped range (a round that stopped inside this segment): nothing is
        // known about later offsets of these keys, so keep them, as Kafka does.
        let keep = r.offset >= end
            || match r.key {
                None => false,
                Some(k) => match map.get(k) {
                    Some(latest) if r.offset < latest => false,
                    _ if r.value.is_none() && expire_tombstones => {
                        removed.tombstones += 1;
                        false
                    }
                    _ => true,
                },
            };
        if keep {
            kept.push(r);
        } else {
            dropped += 1;
        }
    }
    if dropped == 0 {
        return Ok(Outcome::Unchanged);
    }
    removed.records += dropped;
    if kept.is_empty() {
        return Ok(Outcome::Dropped);
    }
    let records: Vec<BuilderRecord<'_>> = kept
        .iter()
        .map(|r| BuilderRecord {
            // Offsets come from this batch, so the delta fits its i32 last_offset_delta.
            offset_delta: (r.offset - h.base_offset) as i32,
            timestamp: r.timestamp,
            key: r.key,
            value: r.value,
            headers: RecordHeaders::Encoded {
                count: r.headers_count,
                bytes: r.headers,
            },
        })
        .collect();
    let params = BatchParams {
        base_offset: h.base_offset,
        partition_leader_epoch: h.partition_leader_epoch,
        compression: h.try_compression()?,
        timestamp_type: h.timestamp_type(),
        log_append_time_ms: if h.timestamp_type() == TimestampType::LogAppendTime {
            h.max_timestamp
        } else {
            -1
        },
        producer_id: h.producer_id,
        producer_epoch: h.producer_epoch,
        base_sequence: h.base_sequence,
        is_transactional: txn,
        is_control: false,
        last_offset_delta: Some(h.last_offset_delta),
    };
    build_batch(&records, params).map(Outcome::Rewritten)
}

fn rename_all(from: &[std::path::PathBuf], to: &[std::path::PathBuf]) -> io::Result<()> {
    for (f, t) in from.iter().zip(to) {
        storage::rename(f, t)?;
    }
    Ok(())
}

fn remove_if_exists(path: &Path) {
    if let Err(e) = storage::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "failed to remove file");
        }
    }
}

impl PartitionLog {
    /// Replaces the limits bounding each [`PartitionLog::clean`] call.
    pub fn set_cleaner_limits(&mut self, limits: CleanerLimits) {
        self.cleaner.limits = limits;
    }

    /// First offset not yet covered by a finished compaction round (clamped to the log).
    pub fn first_dirty_offset(&self) -> i64 {
        self.clamped_first_dirty()
    }

    fn clamped_first_dirty(&self) -> i64 {
        let d = self.cleaner.first_dirty;
        if d < self.log_start_offset || d > self.log_end_offset() {
            self.log_start_offset
        } else {
            d
        }
    }

    /// Compacts the log's non-active segments if it is due (see the module docs for the
    /// rules). A no-op unless `cleanup_policy_compact` is set. Meant to be called
    /// periodically for compacted partitions under the partition's lock; each call does a
    /// bounded amount of work and `more_work` in the result says a round is unfinished.
    /// `now_ms` is compared with record timestamps and segment mtimes (wall clock).
    pub fn clean(&mut self, now_ms: i64) -> Result<CleanStats, LogError> {
        let mut stats = CleanStats::default();
        if !self.config.cleanup_policy_compact {
            self.cleaner.round = None;
            stats.first_dirty_offset = self.clamped_first_dirty();
            return Ok(stats);
        }
        let budget = self.cleaner.limits.max_bytes_per_call;
        if self.cleaner.round.is_none() {
            match self.start_round(now_ms, &mut stats)? {
                Some(round) => self.cleaner.round = Some(round),
                None => {
                    self.merge_small_segments(now_ms, &mut stats)?;
                    stats.first_dirty_offset = self.clamped_first_dirty();
                    return Ok(stats);
                }
            }
        }
        let Some(mut round) = self.cleaner.round.take() else {
            return Ok(stats);
        };
        stats.round_end_offset = round.end;
        stats.map_keys = round.map.map.len();
        stats.map_bytes = round.map.bytes();
        let mut did_one = false;
        while let Some(idx) = self
            .segments
            .iter()
            .position(|s| s.base_offset >= round.next_base)
        {
            let last = self.segments.len() - 1;
            let seg_base = self.segments[idx].base_offset;
            if idx == last || seg_base >= round.end {
                break;
            }
            if did_one && stats.bytes_read >= budget {
                // Out of budget; keep the round for the next call.
                self.cleaner.round = Some(round);
                stats.more_work = true;
                stats.first_dirty_offset = self.clamped_first_dirty();
                return Ok(stats);
            }
            let next_base = self.segments[idx + 1].base_offset;
            self.clean_segment(idx, &round.map, round.end, &round.txns, now_ms, &mut stats)?;
            round.next_base = next_base;
            did_one = true;
        }
        write_checkpoint(&self.dir, round.end)?;
        self.cleaner.first_dirty = round.end;
        stats.round_finished = true;
        self.merge_small_segments(now_ms, &mut stats)?;
        stats.first_dirty_offset = self.clamped_first_dirty();
        tracing::info!(
            dir = %self.dir.display(),
            first_dirty_offset = round.end,
            "compaction round finished"
        );
        Ok(stats)
    }

    /// Decides whether the log is due and, if so, builds the offset map.
    fn start_round(
        &mut self,
        now_ms: i64,
        stats: &mut CleanStats,
    ) -> Result<Option<Round>, LogError> {
        let first_dirty = self.clamped_first_dirty();
        let last = self.segments.len() - 1;
        // First uncleanable offset: the active segment, the segment holding the last
        // stable offset (open transactions), or a segment too young to clean.
        let lso = self.last_stable_offset();
        let lso_segment = self.segments[self.segment_for(lso)].base_offset;
        let mut uncleanable = self.segments[last].base_offset.min(lso_segment);
        if self.config.min_compaction_lag_ms > 0 {
            for seg in &self.segments[..last] {
                if seg.t.next_offset > first_dirty
                    && seg.size() > 0
                    && now_ms.saturating_sub(seg.largest_timestamp())
                        < self.config.min_compaction_lag_ms
                {
                    uncleanable = seg.base_offset;
                    break;
                }
            }
        }
        let (mut clean_bytes, mut dirty_bytes) = (0u64, 0u64);
        let mut first_dirty_seg = None;
        for (i, seg) in self.segments[..last].iter().enumerate() {
            if seg.base_offset >= uncleanable {
                break;
            }
            if seg.t.next_offset > first_dirty {
                dirty_bytes += seg.size();
                if first_dirty_seg.is_none() && seg.size() > 0 {
                    first_dirty_seg = Some(i);
                }
            } else {
                clean_bytes += seg.size();
            }
        }
        let Some(first_dirty_seg) = first_dirty_seg else {
            return Ok(None);
        };
        let ratio = dirty_bytes as f64 / (clean_bytes + dirty_bytes) as f64;
        let mut due = ratio >= self.config.min_cleanable_dirty_ratio;
        if !due && self.config.max_compaction_lag_ms < i64::MAX {
            let seg = &self.segments[first_dirty_seg];
            let h = seg.header_at(0)?;
            let ts = if h.max_timestamp >= 0 {
                h.max_timestamp
            } else {
                seg.log.modified_ms()
            };
            due = now_ms.saturating_sub(ts) > self.config.max_compaction_lag_ms;
        }
        if !due {
            return Ok(None);
        }
        stats.round_started = true;
        stats.dirty_ratio = ratio;
        let mut txns = TxnView {
            lso,
            aborted: HashMap::new(),
        };
        for a in self.aborted.entries() {
            txns.aborted
                .entry(a.producer_id)
                .or_default()
                .push((a.first_offset, a.last_offset));
        }
        let limits = self.cleaner.limits;
        let mut map = OffsetMap::default();
        let mut end = uncleanable;
        let mut read = 0u64;
        'segments: for (i, seg) in self.segments[..last].iter().enumerate() {
            if seg.base_offset >= uncleanable {
                break;
            }
            if seg.t.next_offset <= first_dirty || seg.size() == 0 {
                continue;
            }
            if i > first_dirty_seg && read >= limits.max_bytes_per_call {
                end = seg.base_offset;
                break;
            }
            read += seg.size();
            let mut pos = 0;
            while pos < seg.size() {
                let h = seg.header_at(pos)?;
                let fate = txns.fate(&h);
                if matches!(fate, Fate::Plain | Fate::Committed)
                    && !h.is_control()
                    && h.last_offset() >= first_dirty
                {
                    let bytes = seg.read_batch(pos, &h)?;
                    let (hh, body) = batch_records(&bytes).map_err(|e| corrupt(seg, pos, e))?;
                    for r in RecordIter::new(&hh, &body) {
                        let r = r.map_err(|e| corrupt(seg, pos, e))?;
                        if let (Some(k), true) = (r.key, r.offset >= first_dirty) {
                            if !map.put(k, r.offset, limits.max_map_bytes) {
                                // Full, maybe in the middle of a segment (of a batch,
                                // even): the round covers what was mapped.
                                end = r.offset;
                                break 'segments;
                            }
                        }
                    }
                }
                pos += h.total_bytes();
            }
        }
        stats.bytes_read += read;
        tracing::debug!(
            dir = %self.dir.display(),
            first_dirty,
            end,
            ratio,
            keys = map.map.len(),
            map_bytes = map.bytes(),
            "compaction round started"
        );
        Ok(Some(Round {
            map,
            txns,
            end,
            // The first segment, even when DeleteRecords moved the start inside it.
            next_base: self.segments[0].base_offset,
        }))
    }

    /// Rewrites segment `idx` (never the active one) without the records `map` makes
    /// obsolete and swaps it in; records at or past `end` (the round's range) stay as
    /// they are. Leaves the segment alone if nothing would change.
    fn clean_segment(
        &mut self,
        idx: usize,
        map: &OffsetMap,
        end: i64,
        txns: &TxnView,
        now_ms: i64,
        stats: &mut CleanStats,
    ) -> Result<(), LogError> {
        let interval = self.config.index_interval_bytes;
        let seg = &self.segments[idx];
        let base = seg.base_offset;
        let mtime = seg.log.modified_ms();
        let expire_tombstones = now_ms.saturating_sub(mtime) > self.config.delete_retention_ms;
        stats.bytes_read += seg.size();
        let mut out = Segment::open_with_suffix(&self.dir, base, CLEANED_SUFFIX, true)?;
        let cleaned_paths = Segment::paths_with(&self.dir, base, CLEANED_SUFFIX);
        let result = (|| -> Result<Option<Removed>, LogError> {
            let mut removed = Removed::default();
            let mut changed = false;
            let (mut buf, mut headers): (Vec<u8>, Vec<BatchHeader>) = (Vec::new(), Vec::new());
            let mut pos = 0;
            while pos < seg.size() {
                let h = seg.header_at(pos)?;
                let bytes = seg.read_batch(pos, &h)?;
                let outcome = filter_batch(&bytes, map, end, txns, expire_tombstones, &mut removed)
                    .map_err(|e| corrupt(seg, pos, e))?;
                pos += h.total_bytes();
                let kept = match outcome {
                    Outcome::Unchanged => bytes,
                    Outcome::Rewritten(b) => {
                        changed = true;
                        b
                    }
                    Outcome::Dropped => {
                        changed = true;
                        continue;
                    }
                };
                headers.push(parse_header(&kept)?);
                buf.extend_from_slice(&kept);
                if buf.len() >= WRITE_CHUNK_BYTES {
                    out.append(&buf, &headers, interval, now_ms)?;
                    buf.clear();
                    headers.clear();
                }
            }
            if !changed {
                return Ok(None);
            }
            if !buf.is_empty() {
                out.append(&buf, &headers, interval, now_ms)?;
            }
            out.seal_time_index()?;
            out.log.set_modified_ms(mtime)?;
            out.sync()?;
            Ok(Some(removed))
        })();
        let removed = match result {
            Ok(Some(r)) => r,
            other => {
                drop(out);
                for p in &cleaned_paths {
                    remove_if_exists(p);
                }
                return other.map(|_| ());
            }
        };
        let size_before = seg.size();
        let roll_base_ms = seg.roll_base_ms;
        let t = out.t;
        drop(out);

        self.commit_swap(base, &[])?;
        let mut fresh = Segment::open(&self.dir, base, false)?;
        fresh.t = t;
        fresh.roll_base_ms = roll_base_ms;
        fresh.indexes_suspect = false;
        stats.segments_cleaned += 1;
        stats.bytes_before += size_before;
        stats.bytes_after += t.size;
        stats.records_removed += removed.records;
        stats.tombstones_removed += removed.tombstones;
        if t.size == 0 && idx != 0 {
            // Nothing survived: drop the segment (its offsets become a gap). The first
            // segment stays, empty, so the log start offset does not move.
            fresh.delete_files()?;
            self.segments.remove(idx);
            stats.segments_deleted += 1;
        } else {
            self.segments[idx] = fresh;
        }
        tracing::debug!(
            dir = %self.dir.display(),
            segment = base,
            size_before,
            size_after = t.size,
            records_removed = removed.records,
            "cleaned segment"
        );
        Ok(())
    }

    /// Renames `<base>.*.cleaned` into place: indexes to `.swap`, then the log (the commit
    /// point, made durable by the directory fsync), then deletes the segments `absorbed`
    /// (a merge) and swaps the new files in, indexes first. See the module docs.
    fn commit_swap(&self, base: i64, absorbed: &[Segment]) -> Result<(), LogError> {
        let step = |s| fail_point(&self.dir, swap_step_name(s));
        let cleaned_paths = Segment::paths_with(&self.dir, base, CLEANED_SUFFIX);
        let swap_paths = Segment::paths_with(&self.dir, base, SWAP_SUFFIX);
        let final_paths = Segment::paths(&self.dir, base);
        step(STEP_CLEANED_WRITTEN)?;
        rename_all(&cleaned_paths[1..], &swap_paths[1..])?;
        step(STEP_INDEX_SWAPS_RENAMED)?;
        storage::rename(&cleaned_paths[0], &swap_paths[0])?;
        sync_dir(&self.dir)?;
        step(STEP_COMMITTED)?;
        if !absorbed.is_empty() {
            for seg in absorbed {
                seg.delete_files()?;
            }
            sync_dir(&self.dir)?;
            step(STEP_MERGED_AWAY_DELETED)?;
        }
        rename_all(&swap_paths[1..], &final_paths[1..])?;
        step(STEP_INDEXES_SWAPPED_IN)?;
        storage::rename(&swap_paths[0], &final_paths[0])?;
        sync_dir(&self.dir)?;
        Ok(())
    }

    /// Folds runs of small cleaned segments into one (see the module docs). Returns
    /// after the byte budget is spent; the rest waits for the next call.
    fn merge_small_segments(
        &mut self,
        now_ms: i64,
        stats: &mut CleanStats,
    ) -> Result<(), LogError> {
        let budget = self.cleaner.limits.max_bytes_per_call;
        let limit = self.effective_segment_bytes();
        let clean_end = self.clamped_first_dirty();
        let mut spent = 0u64;
        let mut i = 0;
        loop {
            let last = self.segments.len() - 1;
            if i >= last || self.segments[i].t.next_offset > clean_end || spent >= budget {
                break;
            }
            // The longest run from i of cleaned, non-active segments that fits one segment.
            let mut j = i;
            let mut size = 0u64;
            while j < last
                && self.segments[j].t.next_offset <= clean_end
                && size + self.segments[j].size() <= limit
                && self.segments[j].t.next_offset - 1 - self.segments[i].base_offset
                    <= i64::from(i32::MAX)
            {
                size += self.segments[j].size();
                j += 1;
            }
            if j - i >= 2 {
                self.merge_run(i, j, now_ms)?;
                stats.segments_merged += j - i;
                spent += size;
            }
            i += 1;
        }
        stats.bytes_read += spent;
        Ok(())
    }

    /// Copies segments `from..to` into one named after the first and swaps it in.
    fn merge_run(&mut self, from: usize, to: usize, now_ms: i64) -> Result<(), LogError> {
        let interval = self.config.index_interval_bytes;
        let base = self.segments[from].base_offset;
        let mtime = self.segments[from..to]
            .iter()
            .map(|s| s.log.modified_ms())
            .max()
            .unwrap_or(now_ms);
        let mut out = Segment::open_with_suffix(&self.dir, base, CLEANED_SUFFIX, true)?;
        let result = (|| -> Result<(), LogError> {
            for seg in &self.segments[from..to] {
                let (mut buf, mut headers): (Vec<u8>, Vec<BatchHeader>) = (Vec::new(), Vec::new());
                let mut pos = 0;
                while pos < seg.size() {
                    let h = seg.header_at(pos)?;
                    buf.extend_from_slice(&seg.read_batch(pos, &h)?);
                    pos += h.total_bytes();
                    headers.push(h);
                    if buf.len() >= WRITE_CHUNK_BYTES || pos >= seg.size() {
                        out.append(&buf, &headers, interval, now_ms)?;
                        buf.clear();
                        headers.clear();
                    }
                }
            }
            out.seal_time_index()?;
            out.log.set_modified_ms(mtime)?;
            out.sync()?;
            Ok(())
        })();
        if let Err(e) = result {
            drop(out);
            for p in &Segment::paths_with(&self.dir, base, CLEANED_SUFFIX) {
                remove_if_exists(p);
            }
            return Err(e);
        }
        let t = out.t;
        drop(out);
        let absorbed: Vec<Segment> = self.segments.drain(from + 1..to).collect();
        if let Err(e) = self.commit_swap(base, &absorbed) {
            // Not swapped in memory: the process must reopen the log to see the disk
            // state (as after a crash); keep serving the old segments meanwhile.
            self.segments.splice(from + 1..from + 1, absorbed);
            return Err(e);
        }
        let roll_base_ms = self.segments[from].roll_base_ms;
        let mut fresh = Segment::open(&self.dir, base, false)?;
        fresh.t = t;
        fresh.roll_base_ms = roll_base_ms;
        fresh.indexes_suspect = false;
        self.segments[from] = fresh;
        tracing::debug!(
            dir = %self.dir.display(),
            segment = base,
            merged = to - from,
            size = t.size,
            "merged cleaned segments"
        );
        Ok(())
    }
}
