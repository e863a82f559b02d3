//! Fetch reads (header-only scans, file ranges out) and timestamp lookups.

use super::segment::Segment;
use super::{FileRange, LogError, PartitionLog, ReadSlice};
use crate::record::{batch_records, BatchHeader, RecordIter};

impl PartitionLog {
    /// Index of the segment that would hold `offset` (largest base offset <= offset).
    pub(super) fn segment_for(&self, offset: i64) -> usize {
        self.segments
            .partition_point(|s| s.base_offset <= offset)
            .saturating_sub(1)
    }

    /// The offset-index search alone, as a fetch starts it: the position of the last
    /// indexed batch at or before `offset` in the segment that would hold it. Public
    /// only for `benches/hot_paths.rs` (an external crate; the index types are private
    /// to `log`); the broker calls the index through [`PartitionLog::read`].
    #[doc(hidden)]
    pub fn offset_index_lookup(&self, offset: i64) -> Result<u64, LogError> {
        Ok(self.segments[self.segment_for(offset)]
            .index
            .lookup(offset)?)
    }

    /// The time-index search alone, as [`PartitionLog::offset_for_timestamp`] starts
    /// it: in the first segment reaching `timestamp_ms`, the offset of the last entry
    /// strictly older. Public only for `benches/hot_paths.rs`, like
    /// [`PartitionLog::offset_index_lookup`].
    #[doc(hidden)]
    pub fn time_index_lookup(&self, timestamp_ms: i64) -> Result<Option<i64>, LogError> {
        for seg in &self.segments {
            if seg.t.max_timestamp >= timestamp_ms && seg.size() > 0 {
                return Ok(seg.time_index.lookup_before(timestamp_ms)?);
            }
        }
        Ok(None)
    }

    /// Kafka's fetch read: whole batches starting with the one containing `offset`,
    /// continuing (across segments) while the total stays within `max_bytes`. If the first
    /// batch alone is larger, it is returned only when `min_one_batch` is set (so a
    /// consumer can always make progress). `offset == log_end_offset` gives an empty slice.
    pub fn read(
        &self,
        offset: i64,
        max_bytes: u64,
        min_one_batch: bool,
    ) -> Result<ReadSlice, LogError> {
        self.read_below(offset, max_bytes, min_one_batch, i64::MAX)
    }

    /// [`PartitionLog::read`] limited to batches starting below `max_offset` (the last
    /// stable offset for read_committed fetches; it always falls on a batch boundary).
    pub fn read_below(
        &self,
        offset: i64,
        max_bytes: u64,
        min_one_batch: bool,
        max_offset: i64,
    ) -> Result<ReadSlice, LogError> {
        let end = self.log_end_offset();
        let bounded = max_offset < end;
        if offset < self.log_start_offset || offset > end {
            return Err(LogError::OffsetOutOfRange {
                offset,
                log_start_offset: self.log_start_offset,
                log_end_offset: end,
            });
        }
        let mut out = ReadSlice::default();
        if offset == end {
            return Ok(out);
        }
        let first = self.segment_for(offset);
        let mut found = false;
        for (i, seg) in self.segments.iter().enumerate().skip(first) {
            let mut pos = if i == first {
                seg.index.lookup(offset)?
            } else {
                0
            };
            let mut run: Option<(u64, u64)> = None; // (start, len) in this segment
            let mut done = false;
            while pos < seg.size() {
                if found && !bounded {
                    // Jump over whole batches that certainly fit, using the index as a map of
                    // batch boundaries, so large fetches scan only ~one index interval.
                    let budget = max_bytes.saturating_sub(out.total_bytes);
                    if let Some(p) = seg.index.position_floor(pos.saturating_add(budget))? {
                        if p > pos && p <= seg.size() {
                            run.get_or_insert((pos, 0)).1 += p - pos;
                            out.total_bytes += p - pos;
                            pos = p;
                            continue;
                        }
                    }
                }
                let h = seg.header_at(pos)?;
                let len = h.total_bytes();
                if !found && h.last_offset() < offset {
                    pos += len;
                    continue;
                }
                if h.base_offset >= max_offset {
                    done = true;
                    break;
                }
                if out.total_bytes + len > max_bytes {
                    done = true;
                    if !(out.total_bytes == 0 && min_one_batch) {
                        break;
                    }
                }
                found = true;
                run.get_or_insert((pos, 0)).1 += len;
                out.total_bytes += len;
                pos += len;
                if done {
                    break;
                }
            }
            if let Some((start, len)) = run {
                if len > 0 {
                    out.ranges.push(FileRange {
                        file: seg.log.shared(),
                        position: start,
                        len,
                    });
                }
            }
            if done || (found && out.total_bytes >= max_bytes) {
                break;
            }
        }
        Ok(out)
    }

    /// (offset, timestamp) of the first record with timestamp >= `timestamp_ms`, Kafka's
    /// ListOffsets by timestamp. Segment max timestamps and the time index narrow the
    /// search to a batch; only those batches' records are decoded.
    pub fn offset_for_timestamp(&self, timestamp_ms: i64) -> Result<Option<(i64, i64)>, LogError> {
        for seg in &self.segments {
            if seg.t.max_timestamp < timestamp_ms || seg.size() == 0 {
                continue;
            }
            let from = seg
                .time_index
                .lookup_before(timestamp_ms)?
                .unwrap_or(seg.base_offset);
            let mut pos = seg.index.lookup(from)?;
            while pos < seg.size() {
                let h = seg.header_at(pos)?;
                if h.max_timestamp >= timestamp_ms && h.last_offset() >= self.log_start_offset {
                    // A record whose offset lies outside its batch's range is
                    // damage (stored batches are only CRC-checked on recovery):
                    // never an answer (found by the log_recovery fuzz target).
                    let (first, last) = (h.base_offset, h.last_offset());
                    let hit = self.first_record_matching(seg, pos, &h, |offset, ts| {
                        offset >= self.log_start_offset
                            && (first..=last).contains(&offset)
                            && ts >= timestamp_ms
                    })?;
                    if hit.is_some() {
                        return Ok(hit);
                    }
                }
                pos += h.total_bytes();
            }
        }
        Ok(None)
    }

    /// (offset, timestamp) of the earliest record carrying the log's largest timestamp
    /// (ListOffsets MAX_TIMESTAMP, -3). None for an empty log or one without timestamps.
    pub fn max_timestamp(&self) -> Result<Option<(i64, i64)>, LogError> {
        let mut best: Option<&Segment> = None;
        for seg in &self.segments {
            if seg.size() > 0 && best.is_none_or(|b| seg.t.max_timestamp > b.t.max_timestamp) {
                best = Some(seg);
            }
        }
        let Some(seg) = best.filter(|s| s.t.max_timestamp >= 0) else {
            return Ok(None);
        };
        let target = seg.t.max_timestamp;
        let mut pos = seg.index.lookup(seg.t.max_timestamp_offset)?;
        while pos < seg.size() {
            let h = seg.header_at(pos)?;
            if h.max_timestamp == target {
                let (first, last) = (h.base_offset, h.last_offset());
                let matches =
                    |offset: i64, ts: i64| ts == target && (first..=last).contains(&offset);
                if let Some(hit) = self.first_record_matching(seg, pos, &h, matches)? {
                    return Ok(Some(hit));
                }
                // The producer's max_timestamp overstates its records; report the batch.
                return Ok(Some((h.last_offset(), target)));
            }
            pos += h.total_bytes();
        }
        Ok(None)
    }

    /// Decodes the batch at `pos` and returns the first record satisfying `pred`.
    fn first_record_matching(
        &self,
        seg: &Segment,
        pos: u64,
        h: &BatchHeader,
        pred: impl Fn(i64, i64) -> bool,
    ) -> Result<Option<(i64, i64)>, LogError> {
        let bytes = seg.read_batch(pos, h)?;
        let (header, body) = batch_records(&bytes)?;
        for r in RecordIter::new(&header, &body) {
            let r = r?;
            if pred(r.offset, r.timestamp) {
                return Ok(Some((r.offset, r.timestamp)));
            }
        }
        Ok(None)
    }
}
