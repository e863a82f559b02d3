//! The log start offset moved by DeleteRecords, and the leader-epoch map that
//! OffsetForLeaderEpoch answers from.
//!
//! # Log start offset
//! Retention deletes whole segments, so after it the log start is simply the first
//! segment's base. DeleteRecords (Kafka's `deleteRecords`) may move the start into the
//! middle of a segment, which the files alone cannot say, so the new start is persisted
//! in [`LOG_START_OFFSET_FILE`] (Kafka keeps one `log-start-offset-checkpoint` per log
//! dir; gregor keeps one per partition so a partition's state lives in its directory).
//! It is written temp + fsync + rename + fsync-dir, so it is old or new, never torn.
//! On open the start is the larger of the checkpoint and the first segment's base, so it
//! never moves backwards, whichever of retention and DeleteRecords moved it last.
//!
//! The data below a new start is fsynced before the checkpoint names it, so after any
//! crash the recovered log reaches at least the checkpointed start. Should external
//! damage leave the log shorter anyway, open does what Kafka's loader does: drop every
//! segment and start an empty log at the checkpointed offset.
//!
//! # Leader epochs
//! Batches are stamped with the partition's leader epoch on append and epochs only grow
//! along the log, so the epochs of a log are a map epoch → first offset (Kafka's
//! `LeaderEpochFileCache`). It is rebuilt at open with few reads: each segment's first
//! batch header tells its first epoch, and only a segment whose epochs change inside it
//! is scanned header by header.

use std::collections::BTreeMap;
use std::io;
use std::path::Path;

use super::io::write_file_atomic;
use super::segment::Segment;
use super::{LogError, PartitionLog};

/// Per-partition file holding the log start offset set by DeleteRecords.
pub const LOG_START_OFFSET_FILE: &str = "log-start-offset-checkpoint";
const CHECKPOINT_VERSION: u32 = 1;

/// Kafka's UNDEFINED_EPOCH and UNDEFINED_EPOCH_OFFSET.
pub const UNDEFINED_EPOCH: i32 = -1;
pub const UNDEFINED_EPOCH_OFFSET: i64 = -1;

pub(crate) fn read_checkpoint(dir: &Path) -> Option<i64> {
    let text = crate::storage::read_to_string(&dir.join(LOG_START_OFFSET_FILE)).ok()?;
    let mut it = text.split_ascii_whitespace();
    let version: u32 = it.next()?.parse().ok()?;
    let offset: i64 = it.next()?.parse().ok()?;
    (version == CHECKPOINT_VERSION && offset >= 0 && it.next().is_none()).then_some(offset)
}

fn write_checkpoint(dir: &Path, offset: i64) -> io::Result<()> {
    let body = format!("{CHECKPOINT_VERSION} {offset}\n");
    write_file_atomic(dir, LOG_START_OFFSET_FILE, body.as_bytes())
}

/// Epoch → start offset of the batches in `segments` (see the module docs).
pub(crate) fn load_epochs(segments: &[Segment]) -> Result<BTreeMap<i32, i64>, LogError> {
    let mut firsts = Vec::with_capacity(segments.len());
    for seg in segments {
        firsts.push(if seg.size() > 0 {
            let h = seg.header_at(0)?;
            Some((h.partition_leader_epoch, h.base_offset))
        } else {
            None
        });
    }
    let mut epochs = BTreeMap::new();
    let last = segments.len().saturating_sub(1);
    for (i, seg) in segments.iter().enumerate() {
        let Some((first, first_offset)) = firsts[i] else {
            continue;
        };
        let changes_inside = if i == last {
            last_epoch(seg)? != Some(first)
        } else {
            firsts[i + 1..].iter().flatten().next().map(|f| f.0) != Some(first)
        };
        if changes_inside {
            let mut pos = 0;
            while pos < seg.size() {
                let h = seg.header_at(pos)?;
                observe(&mut epochs, h.partition_leader_epoch, h.base_offset);
                pos += h.total_bytes();
            }
        } else {
            observe(&mut epochs, first, first_offset);
        }
    }
    Ok(epochs)
}

/// Records that `epoch` starts at `offset` if it is newer than every epoch known.
pub(crate) fn observe(epochs: &mut BTreeMap<i32, i64>, epoch: i32, offset: i64) {
    if epoch >= 0 && epochs.last_key_value().is_none_or(|(e, _)| epoch > *e) {
        epochs.insert(epoch, offset);
    }
}

/// The epoch of a segment's last batch: a header scan from its last index entry.
fn last_epoch(seg: &Segment) -> Result<Option<i32>, LogError> {
    let mut pos = seg.index.last().map_or(0, |(_, p)| p);
    let mut epoch = None;
    while pos < seg.size() {
        let h = seg.header_at(pos)?;
        epoch = Some(h.partition_leader_epoch);
        pos += h.total_bytes();
    }
    Ok(epoch)
}

impl PartitionLog {
    /// DeleteRecords: moves the log start offset up to `new_start` and deletes the
    /// segments wholly below it. `new_start` beyond the log end (the high watermark on
    /// one node) is OFFSET_OUT_OF_RANGE; one at or below the current start changes
    /// nothing. Returns the log start offset afterwards (Kafka's low watermark).
    pub fn delete_records_before(&mut self, new_start: i64) -> Result<i64, LogError> {
        let end = self.log_end_offset();
        if new_start < 0 || new_start > end {
            return Err(LogError::OffsetOutOfRange {
                offset: new_start,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        if new_start <= self.log_start_offset {
            return Ok(self.log_start_offset);
        }
        if self.recovery_point < new_start {
            // The checkpoint must never name an offset a crash could take back.
            self.flush()?;
        }
        write_checkpoint(&self.dir, new_start)?;
        self.log_start_offset = new_start;
        self.delete_segments_below_start("deleted segment below the log start offset")?;
        self.truncate_epochs_to_start();
        tracing::info!(dir = %self.dir.display(), log_start_offset = new_start, "log start offset advanced");
        Ok(new_start)
    }

    /// Deletes non-active segments whose every offset lies below the log start
    /// (Kafka's rule: the next segment's base is at or below the start).
    pub(super) fn delete_segments_below_start(&mut self, why: &str) -> Result<usize, LogError> {
        let mut deleted = 0;
        while self.segments.len() > 1 && self.segments[1].base_offset <= self.log_start_offset {
            self.remove_first_segment(why)?;
            deleted += 1;
        }
        Ok(deleted)
    }

    /// Keeps the epoch map within the log: of the epochs starting below the log start
    /// only the newest stays, starting at the log start (Kafka's `truncateFromStart`).
    pub(super) fn truncate_epochs_to_start(&mut self) {
        let start = self.log_start_offset;
        let below: Vec<i32> = self
            .epochs
            .iter()
            .filter(|(_, o)| **o < start)
            .map(|(e, _)| *e)
            .collect();
        if let Some((&newest, rest)) = below.split_last() {
            for e in rest {
                self.epochs.remove(e);
            }
            self.epochs.insert(newest, start);
        }
    }

    /// Epoch → first offset of the epochs in the log.
    pub fn leader_epochs(&self) -> &BTreeMap<i32, i64> {
        &self.epochs
    }

    /// OffsetForLeaderEpoch: `(epoch, end offset)` for `requested`, following Kafka's
    /// `LeaderEpochFileCache.endOffsetFor`. `current_epoch` is the partition's leader
    /// epoch; a leader's cache always holds it (assigned at the log end when it became
    /// leader), so when no batch carries it yet it counts as starting at the log end.
    /// - the latest epoch: the log end offset;
    /// - an older epoch: the newest known epoch at or below it, ended by the start of
    ///   the first epoch above it; below every known epoch, the requested epoch itself
    ///   with that start offset (the older data is gone);
    /// - an epoch above every known one, or -1: `(UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET)`.
    pub fn end_offset_for_epoch(&self, requested: i32, current_epoch: i32) -> (i32, i64) {
        let end = self.log_end_offset();
        let mut epochs = self.epochs.clone();
        observe(&mut epochs, current_epoch, end);
        let latest = epochs.last_key_value().map(|(e, _)| *e);
        if requested == UNDEFINED_EPOCH {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        }
        if latest == Some(requested) {
            return (requested, end);
        }
        let Some((_, &higher_start)) = epochs.range(requested.saturating_add(1)..).next() else {
            return (UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET);
        };
        match epochs.range(..=requested).next_back() {
            Some((&floor, _)) => (floor, higher_start),
            None => (requested, higher_start),
        }
    }
}
