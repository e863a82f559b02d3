//! One segment: `<base>.log` plus its `.index` and `.timeindex`.
//!
//! Invariants: `size` bytes of the log file are whole, valid batches with strictly
//! increasing offsets starting at or after `base_offset`; bytes beyond `size` (left by a
//! failed write) are ignored and overwritten by the next append.

use std::io;
use std::path::{Path, PathBuf};

use super::index::{OffsetIndex, TimeIndex};
use super::io::DataFile;
use super::LogError;
use crate::record::{
    parse_header, BatchHeader, BATCH_HEADER_BYTES, MIN_BATCH_LENGTH, RECORD_BATCH_MAGIC,
};

/// Sentinel for "no timestamp", as in Kafka (RecordBatch.NO_TIMESTAMP).
pub(crate) const NO_TIMESTAMP: i64 = -1;

/// Width of the zero-padded base offset in segment file names (Kafka uses 20 digits).
const FILE_NAME_DIGITS: usize = 20;

pub(crate) fn file_name(base_offset: i64, suffix: &str) -> String {
    format!("{base_offset:0width$}{suffix}", width = FILE_NAME_DIGITS)
}

/// Parses `<20 digits><suffix>` back into a base offset.
pub(crate) fn parse_file_name(name: &str, suffix: &str) -> Option<i64> {
    let digits = name.strip_suffix(suffix)?;
    if digits.len() != FILE_NAME_DIGITS || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

pub(crate) const LOG_SUFFIX: &str = ".log";
pub(crate) const INDEX_SUFFIX: &str = ".index";
pub(crate) const TIME_INDEX_SUFFIX: &str = ".timeindex";

/// Running per-segment state that both append and recovery advance batch by batch, and
/// the index entries that advancing produced.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Tracker {
    pub size: u64,
    pub next_offset: i64,
    pub max_timestamp: i64,
    /// Base offset of the first batch that carries `max_timestamp`.
    pub max_timestamp_offset: i64,
    pub bytes_since_index: u64,
    pub last_time_entry: i64,
}

impl Tracker {
    /// Accounts for a batch stored at `position`, emitting index entries as Kafka does:
    /// when more than `interval` bytes were appended since the last offset index entry,
    /// index this batch, and record the max timestamp so far if it grew.
    pub(crate) fn observe(
        &mut self,
        h: &BatchHeader,
        position: u64,
        interval: u32,
        offsets: &mut Vec<(i64, u64)>,
        times: &mut Vec<(i64, i64)>,
    ) {
        if h.max_timestamp > self.max_timestamp {
            self.max_timestamp = h.max_timestamp;
            self.max_timestamp_offset = h.base_offset;
        }
        if self.bytes_since_index > u64::from(interval) {
            offsets.push((h.base_offset, position));
            if self.max_timestamp > self.last_time_entry {
                times.push((self.max_timestamp, self.max_timestamp_offset));
                self.last_time_entry = self.max_timestamp;
            }
            self.bytes_since_index = 0;
        }
        self.bytes_since_index += h.total_bytes();
        self.size = position + h.total_bytes();
        self.next_offset = h.last_offset() + 1;
    }
}

#[derive(Debug)]
pub(crate) struct Segment {
    pub base_offset: i64,
    pub log: DataFile,
    pub index: OffsetIndex,
    pub time_index: TimeIndex,
    pub t: Tracker,
    /// Wall-clock ms the segment's age is measured from (first append, or file mtime
    /// for segments found on disk); None while empty. Drives segment_ms rolling.
    pub roll_base_ms: Option<i64>,
    /// Index files were missing or malformed when opened; they must be rebuilt.
    pub indexes_suspect: bool,
}

impl Segment {
    pub(crate) fn paths(dir: &Path, base: i64) -> [PathBuf; 3] {
        Self::paths_with(dir, base, "")
    }

    /// Paths of the three files with `extra` appended to each name (`.cleaned`, `.swap`).
    pub(crate) fn paths_with(dir: &Path, base: i64, extra: &str) -> [PathBuf; 3] {
        [LOG_SUFFIX, INDEX_SUFFIX, TIME_INDEX_SUFFIX]
            .map(|s| dir.join(format!("{}{extra}", file_name(base, s))))
    }

    /// Opens the three files. `fresh` truncates them (new segment). State is empty; the
    /// loader or recovery fills it in.
    pub(crate) fn open(dir: &Path, base: i64, fresh: bool) -> io::Result<Segment> {
        Self::open_with_suffix(dir, base, "", fresh)
    }

    /// [`Segment::open`] on the files named by [`Segment::paths_with`].
    pub(crate) fn open_with_suffix(
        dir: &Path,
        base: i64,
        extra: &str,
        fresh: bool,
    ) -> io::Result<Segment> {
        let [log, index, time] = Self::paths_with(dir, base, extra);
        let mut indexes_suspect = !(fresh || index.exists() && time.exists());
        let log = DataFile::open(&log, fresh)?;
        // A corrupt index must not stop the log opening: it is emptied and the segment
        // flagged so the loader rebuilds it by scanning.
        let index = OffsetIndex::open(&index, base, fresh).or_else(|_| {
            indexes_suspect = true;
            OffsetIndex::open(&index, base, true)
        })?;
        let time_index = TimeIndex::open(&time, base, fresh).or_else(|_| {
            indexes_suspect = true;
            TimeIndex::open(&time, base, true)
        })?;
        Ok(Segment {
            base_offset: base,
            log,
            index,
            time_index,
            t: Tracker {
                size: 0,
                next_offset: base,
                max_timestamp: NO_TIMESTAMP,
                max_timestamp_offset: base,
                bytes_since_index: 0,
                last_time_entry: NO_TIMESTAMP,
            },
            roll_base_ms: None,
            indexes_suspect,
        })
    }

    pub(crate) fn size(&self) -> u64 {
        self.t.size
    }

    /// Reads and sanity-checks the batch header at `position` (which must be a batch
    /// start below `size`). Reads 61 bytes only, never the records.
    pub(crate) fn header_at(&self, position: u64) -> Result<BatchHeader, LogError> {
        let corrupt = |reason: String| LogError::CorruptLog {
            path: self.log.path().to_path_buf(),
            position,
            reason,
        };
        if position + BATCH_HEADER_BYTES as u64 > self.t.size {
            return Err(corrupt("batch header crosses the end of the log".into()));
        }
        let mut buf = [0u8; BATCH_HEADER_BYTES];
        self.log.read_exact_at(&mut buf, position)?;
        let h = parse_header(&buf).map_err(|e| corrupt(e.to_string()))?;
        if h.magic != RECORD_BATCH_MAGIC || h.batch_length < MIN_BATCH_LENGTH {
            return Err(corrupt(format!(
                "bad header (magic {}, batch_length {})",
                h.magic, h.batch_length
            )));
        }
        if position + h.total_bytes() > self.t.size {
            return Err(corrupt("batch crosses the end of the log".into()));
        }
        Ok(h)
    }

    /// Reads a whole batch into memory. Only for paths that need record contents
    /// (timestamp lookups), never for fetch.
    pub(crate) fn read_batch(&self, position: u64, h: &BatchHeader) -> Result<Vec<u8>, LogError> {
        let len =
            usize::try_from(h.total_bytes()).map_err(|_| io::Error::other("batch too large"))?;
        let mut buf = vec![0u8; len];
        self.log.read_exact_at(&mut buf, position)?;
        Ok(buf)
    }

    /// Writes already-patched batches at the end and updates the indexes. All or nothing:
    /// on any error the files are cut back and the in-memory state is unchanged.
    pub(crate) fn append(
        &mut self,
        bytes: &[u8],
        headers: &[BatchHeader],
        interval: u32,
        now_ms: i64,
    ) -> io::Result<()> {
        self.append_parts(&[bytes], headers, interval, now_ms)
    }

    /// Like [`Segment::append`] with the batches' bytes given as consecutive
    /// parts (written with one vectored write).
    pub(crate) fn append_parts(
        &mut self,
        parts: &[&[u8]],
        headers: &[BatchHeader],
        interval: u32,
        now_ms: i64,
    ) -> io::Result<()> {
        let start = self.t.size;
        let mut t = self.t;
        let (mut offsets, mut times) = (Vec::new(), Vec::new());
        let mut pos = start;
        for h in headers {
            t.observe(h, pos, interval, &mut offsets, &mut times);
            pos += h.total_bytes();
        }
        let index_before = self.index.entries();
        let result = self
            .log
            .write_all_vectored_at(parts, start)
            .and_then(|()| self.index.append_many(&offsets))
            .and_then(|()| self.time_index.append_many(&times));
        if let Err(e) = result {
            // Undo best-effort; even if truncation fails, bytes beyond `size` are ignored.
            let _ = self.log.set_len(start);
            if self.index.entries() != index_before {
                let _ = self.index.truncate_entries(index_before);
            }
            return Err(e);
        }
        self.t = t;
        if self.roll_base_ms.is_none() {
            self.roll_base_ms = Some(now_ms);
        }
        Ok(())
    }

    /// Makes sure the time index ends with the segment's max timestamp, so it can be
    /// recovered from the index alone after a clean flush (done on roll, flush, close).
    pub(crate) fn seal_time_index(&mut self) -> io::Result<()> {
        if self.t.max_timestamp > self.t.last_time_entry {
            self.time_index
                .append_many(&[(self.t.max_timestamp, self.t.max_timestamp_offset)])?;
            self.t.last_time_entry = self.t.max_timestamp;
        }
        Ok(())
    }

    pub(crate) fn sync(&self) -> io::Result<()> {
        self.sync_handles().iter().try_for_each(|h| h.sync())
    }

    /// The log, offset index and time index files, to fsync without the segment.
    pub(crate) fn sync_handles(&self) -> [super::io::SyncHandle; 3] {
        [
            self.log.sync_handle(),
            self.index.sync_handle(),
            self.time_index.sync_handle(),
        ]
    }

    /// Timestamp retention compares against: the max record timestamp, or the file's
    /// mtime when the segment carries no timestamps (Kafka's rule).
    pub(crate) fn largest_timestamp(&self) -> i64 {
        if self.t.max_timestamp >= 0 {
            self.t.max_timestamp
        } else {
            self.log.modified_ms()
        }
    }

    /// Removes the files. The log goes first: once it is gone the segment no longer exists
    /// for recovery, and leftover index files are cleaned as orphans on the next open.
    pub(crate) fn delete_files(&self) -> io::Result<()> {
        crate::storage::remove_file(self.log.path())?;
        for p in [self.index.path(), self.time_index.path()] {
            if let Err(e) = crate::storage::remove_file(p) {
                if e.kind() != io::ErrorKind::NotFound {
                    tracing::warn!(path = %p.display(), error = %e, "failed to delete index file");
                }
            }
        }
        Ok(())
    }
}
