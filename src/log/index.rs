//! Sparse offset and time indexes, Kafka's on-disk format.
//!
//! `.index`: 8-byte entries (relative offset u32 BE, file position u32 BE), one per
//! `index_interval_bytes` of log, pointing at the *start* of a batch. Lets a read jump
//! close to its target instead of scanning the whole segment.
//!
//! `.timeindex`: 12-byte entries (timestamp i64 BE, relative offset u32 BE), appended
//! only when the segment's max timestamp grows, so timestamps strictly increase. An entry
//! (t, o) promises every record in batches up to the batch at offset `o` (inclusive of
//! the batch that was being appended) has timestamp <= t.
//!
//! Lookups binary-search the file with pread instead of holding entries in memory: a
//! full 1 GiB segment has up to 256 Ki entries and a broker may hold thousands of
//! segments; the page cache keeps hot indexes in memory anyway.

use std::io;
use std::path::Path;

use super::io::DataFile;

/// Bytes per offset index entry.
pub(crate) const OFFSET_ENTRY_BYTES: u64 = 8;
/// Bytes per time index entry.
pub(crate) const TIME_ENTRY_BYTES: u64 = 12;

fn rel(base: i64, offset: i64) -> io::Result<u32> {
    offset
        .checked_sub(base)
        .and_then(|d| u32::try_from(d).ok())
        .ok_or_else(|| io::Error::other(format!("offset {offset} not relative to base {base}")))
}

fn bad(path: &Path, why: &str) -> io::Error {
    io::Error::new(
        io::ErrorKind::InvalidData,
        format!("{}: {why}", path.display()),
    )
}

#[derive(Debug)]
pub(crate) struct OffsetIndex {
    file: DataFile,
    base_offset: i64,
    entries: u64,
    last: Option<(i64, u64)>,
}

impl OffsetIndex {
    pub(crate) fn open(path: &Path, base_offset: i64, truncate: bool) -> io::Result<Self> {
        let file = DataFile::open(path, truncate)?;
        let len = file.len()?;
        let mut idx = OffsetIndex {
            file,
            base_offset,
            entries: len / OFFSET_ENTRY_BYTES,
            last: None,
        };
        if len % OFFSET_ENTRY_BYTES != 0 {
            return Err(bad(
                idx.file.path(),
                "size is not a multiple of the entry size",
            ));
        }
        if idx.entries > 0 {
            idx.last = Some(idx.entry(idx.entries - 1)?);
        }
        Ok(idx)
    }

    /// Entry `i` as (absolute offset, position).
    fn entry(&self, i: u64) -> io::Result<(i64, u64)> {
        let mut b = [0u8; 8];
        self.file.read_exact_at(&mut b, i * OFFSET_ENTRY_BYTES)?;
        let r = u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let p = u32::from_be_bytes([b[4], b[5], b[6], b[7]]);
        Ok((self.base_offset + i64::from(r), u64::from(p)))
    }

    pub(crate) fn last(&self) -> Option<(i64, u64)> {
        self.last
    }

    /// Sanity check against the log: entries must point inside it. Only the last entry is
    /// read (entries are monotonic when written by us; a cheap check catches stale files).
    pub(crate) fn check(&self, log_size: u64) -> io::Result<()> {
        match self.last {
            Some((o, p)) if o < self.base_offset || p >= log_size => {
                Err(bad(self.file.path(), "last entry points outside the log"))
            }
            _ => Ok(()),
        }
    }

    /// Largest binary-search result: greatest `i` with `key(entry i) <= target`.
    fn floor(
        &self,
        target: u64,
        key: impl Fn((i64, u64)) -> u64,
    ) -> io::Result<Option<(i64, u64)>> {
        // Keys grow with the entry number, so a target at or past the last entry (a
        // consumer at the tail; a fetch budget reaching past the end) needs no probes.
        if let Some(l) = self.last {
            if key(l) <= target {
                return Ok(Some(l));
            }
        }
        let (mut lo, mut hi) = (0u64, self.entries);
        let mut found = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let e = self.entry(mid)?;
            if key(e) <= target {
                found = Some(e);
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(found)
    }

    /// Position of a batch starting at or before `offset` (0 if none is indexed).
    pub(crate) fn lookup(&self, offset: i64) -> io::Result<u64> {
        let Some(r) = offset
            .checked_sub(self.base_offset)
            .and_then(|d| u64::try_from(d).ok())
        else {
            return Ok(0);
        };
        let base = self.base_offset;
        Ok(self
            .floor(r, |(o, _)| (o - base) as u64)?
            .map_or(0, |(_, p)| p))
    }

    /// Greatest indexed batch start at or before `position`.
    pub(crate) fn position_floor(&self, position: u64) -> io::Result<Option<u64>> {
        Ok(self.floor(position, |(_, p)| p)?.map(|(_, p)| p))
    }

    /// Appends (absolute offset, position) entries; on failure the file is cut back and
    /// nothing changes.
    pub(crate) fn append_many(&mut self, entries: &[(i64, u64)]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(entries.len() * OFFSET_ENTRY_BYTES as usize);
        for &(o, p) in entries {
            buf.extend_from_slice(&rel(self.base_offset, o)?.to_be_bytes());
            let p = u32::try_from(p).map_err(|_| io::Error::other("position exceeds u32"))?;
            buf.extend_from_slice(&p.to_be_bytes());
        }
        let at = self.entries * OFFSET_ENTRY_BYTES;
        if let Err(e) = self.file.write_all_at(&buf, at) {
            let _ = self.file.set_len(at);
            return Err(e);
        }
        self.entries += entries.len() as u64;
        self.last = entries.last().copied();
        Ok(())
    }

    /// Drops entries beyond the first `count` (used to undo a failed append).
    pub(crate) fn truncate_entries(&mut self, count: u64) -> io::Result<()> {
        self.file.set_len(count * OFFSET_ENTRY_BYTES)?;
        self.entries = count;
        self.last = if count > 0 {
            Some(self.entry(count - 1)?)
        } else {
            None
        };
        Ok(())
    }

    pub(crate) fn entries(&self) -> u64 {
        self.entries
    }

    pub(crate) fn sync_handle(&self) -> super::io::SyncHandle {
        self.file.sync_handle()
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }
}

#[derive(Debug)]
pub(crate) struct TimeIndex {
    file: DataFile,
    base_offset: i64,
    entries: u64,
    last: Option<(i64, i64)>,
}

impl TimeIndex {
    pub(crate) fn open(path: &Path, base_offset: i64, truncate: bool) -> io::Result<Self> {
        let file = DataFile::open(path, truncate)?;
        let len = file.len()?;
        let mut idx = TimeIndex {
            file,
            base_offset,
            entries: len / TIME_ENTRY_BYTES,
            last: None,
        };
        if len % TIME_ENTRY_BYTES != 0 {
            return Err(bad(
                idx.file.path(),
                "size is not a multiple of the entry size",
            ));
        }
        if idx.entries > 0 {
            idx.last = Some(idx.entry(idx.entries - 1)?);
        }
        Ok(idx)
    }

    /// Entry `i` as (timestamp ms, absolute offset).
    fn entry(&self, i: u64) -> io::Result<(i64, i64)> {
        let mut b = [0u8; 12];
        self.file.read_exact_at(&mut b, i * TIME_ENTRY_BYTES)?;
        let mut t = [0u8; 8];
        t.copy_from_slice(&b[..8]);
        let r = u32::from_be_bytes([b[8], b[9], b[10], b[11]]);
        Ok((i64::from_be_bytes(t), self.base_offset + i64::from(r)))
    }

    /// Last entry as (timestamp ms, absolute offset).
    pub(crate) fn last(&self) -> Option<(i64, i64)> {
        self.last
    }

    pub(crate) fn check(&self, next_offset: i64) -> io::Result<()> {
        match self.last {
            Some((_, o)) if o < self.base_offset || o >= next_offset.max(self.base_offset + 1) => {
                Err(bad(
                    self.file.path(),
                    "last entry points outside the segment",
                ))
            }
            _ => Ok(()),
        }
    }

    /// Offset of the last entry whose timestamp is strictly below `timestamp_ms`: every
    /// record before that entry's batch is older than the target, so a search may start
    /// there. Strictly below, because equal timestamps may also occur in earlier batches.
    pub(crate) fn lookup_before(&self, timestamp_ms: i64) -> io::Result<Option<i64>> {
        let (mut lo, mut hi) = (0u64, self.entries);
        let mut found = None;
        while lo < hi {
            let mid = lo + (hi - lo) / 2;
            let (t, o) = self.entry(mid)?;
            if t < timestamp_ms {
                found = Some(o);
                lo = mid + 1;
            } else {
                hi = mid;
            }
        }
        Ok(found)
    }

    /// Appends (timestamp, absolute offset) entries; on failure nothing changes.
    pub(crate) fn append_many(&mut self, entries: &[(i64, i64)]) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::with_capacity(entries.len() * TIME_ENTRY_BYTES as usize);
        for &(t, o) in entries {
            buf.extend_from_slice(&t.to_be_bytes());
            buf.extend_from_slice(&rel(self.base_offset, o)?.to_be_bytes());
        }
        let at = self.entries * TIME_ENTRY_BYTES;
        if let Err(e) = self.file.write_all_at(&buf, at) {
            let _ = self.file.set_len(at);
            return Err(e);
        }
        self.entries += entries.len() as u64;
        self.last = entries.last().copied();
        Ok(())
    }

    pub(crate) fn truncate_entries(&mut self, count: u64) -> io::Result<()> {
        self.file.set_len(count * TIME_ENTRY_BYTES)?;
        self.entries = count;
        self.last = if count > 0 {
            Some(self.entry(count - 1)?)
        } else {
            None
        };
        Ok(())
    }

    pub(crate) fn sync_handle(&self) -> super::io::SyncHandle {
        self.file.sync_handle()
    }

    pub(crate) fn path(&self) -> &Path {
        self.file.path()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The binary search and the shortcut past the last entry agree, before and after
    /// the last entry moves (append, then a cut back by a failed append's undo).
    #[test]
    fn offset_index_floor_with_and_without_the_last_entry_shortcut() {
        let dir = tempfile::tempdir().unwrap();
        let mut idx = OffsetIndex::open(&dir.path().join("0.index"), 100, true).unwrap();
        assert_eq!(idx.lookup(150).unwrap(), 0, "empty index");
        // Batches indexed at offsets 100, 110, ..., 190 at positions 0, 1000, ..., 9000.
        let entries: Vec<(i64, u64)> = (0..10).map(|i| (100 + 10 * i, 1000 * i as u64)).collect();
        idx.append_many(&entries).unwrap();
        assert_eq!(idx.lookup(99).unwrap(), 0, "below the base");
        assert_eq!(idx.lookup(100).unwrap(), 0);
        assert_eq!(idx.lookup(125).unwrap(), 2000);
        assert_eq!(idx.lookup(189).unwrap(), 8000);
        assert_eq!(idx.lookup(190).unwrap(), 9000, "at the last entry");
        assert_eq!(idx.lookup(10_000).unwrap(), 9000, "past the last entry");
        assert_eq!(idx.position_floor(8999).unwrap(), Some(8000));
        assert_eq!(idx.position_floor(50_000).unwrap(), Some(9000));
        idx.truncate_entries(4).unwrap();
        assert_eq!(idx.last(), Some((130, 3000)));
        assert_eq!(idx.lookup(10_000).unwrap(), 3000, "the cut-back last entry");
        assert_eq!(idx.lookup(125).unwrap(), 2000);
        assert_eq!(idx.position_floor(2500).unwrap(), Some(2000));
        drop(idx);
        let reopened = OffsetIndex::open(&dir.path().join("0.index"), 100, false).unwrap();
        assert_eq!(
            reopened.lookup(10_000).unwrap(),
            3000,
            "last entry read back at open"
        );
        assert_eq!(reopened.lookup(115).unwrap(), 1000);
    }
}
