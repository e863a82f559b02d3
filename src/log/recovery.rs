//! Opening a partition directory: finding segments, trusting what the last flush made
//! durable, and scanning (CRC-validating) everything after it.
//!
//! The `recovery-point` checkpoint records, at each flush, the log end offset and the
//! exact size of the segment holding it. Everything before that segment was fsynced and
//! is loaded from its indexes; that segment is trusted only if its file still has the
//! recorded size; every later segment is rescanned batch by batch, its indexes rebuilt,
//! and a torn or corrupt tail truncated. After a truncation the following segments are
//! deleted, since their offsets would sit after a hole (Kafka does the same).

use std::collections::BTreeSet;
use std::io;
use std::path::Path;

use super::io::{sync_dir, write_file_atomic};
use super::segment::{
    parse_file_name, Segment, Tracker, INDEX_SUFFIX, LOG_SUFFIX, NO_TIMESTAMP, TIME_INDEX_SUFFIX,
};
use super::LogError;
use crate::record::{
    parse_header, ATTRIBUTES_OFFSET, BATCH_HEADER_BYTES, MIN_BATCH_LENGTH, RECORD_BATCH_MAGIC,
};
use crate::storage;

/// Name of the per-partition recovery checkpoint file.
pub(crate) const RECOVERY_POINT_FILE: &str = "recovery-point";
const CHECKPOINT_VERSION: u32 = 1;
/// Read size in bytes for CRC checks during recovery; bounds memory regardless of how
/// large a batch claims to be.
const RECOVERY_READ_CHUNK_BYTES: usize = 64 * 1024;
/// Leftovers of interrupted file operations (Kafka's suffixes) removed on open. `.swap`
/// files that commit a compaction are completed first (see [`complete_swaps`]).
const TEMP_SUFFIXES: [&str; 4] = [".deleted", ".cleaned", ".swap", ".tmp"];
/// Suffix of a cleaned segment that is ready to replace the original.
pub(crate) const SWAP_SUFFIX: &str = ".swap";

/// What the last flush made durable.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct RecoveryPoint {
    /// Every offset below this was fsynced.
    pub offset: i64,
    /// Base offset of the segment containing `offset`.
    pub segment_base: i64,
    /// Bytes of that segment that were fsynced.
    pub segment_size: u64,
}

pub(crate) fn read_checkpoint(dir: &Path) -> Option<RecoveryPoint> {
    let text = storage::read_to_string(&dir.join(RECOVERY_POINT_FILE)).ok()?;
    let mut it = text.split_ascii_whitespace();
    let version: u32 = it.next()?.parse().ok()?;
    if version != CHECKPOINT_VERSION {
        return None;
    }
    let rp = RecoveryPoint {
        offset: it.next()?.parse().ok()?,
        segment_base: it.next()?.parse().ok()?,
        segment_size: it.next()?.parse().ok()?,
    };
    it.next().is_none().then_some(rp)
}

/// Write-to-temp, fsync, rename, fsync-dir: the checkpoint is either old or new, never torn.
pub(crate) fn write_checkpoint(dir: &Path, rp: RecoveryPoint) -> io::Result<()> {
    let body = format!(
        "{CHECKPOINT_VERSION} {} {} {}\n",
        rp.offset, rp.segment_base, rp.segment_size
    );
    write_file_atomic(dir, RECOVERY_POINT_FILE, body.as_bytes())
}

fn empty_tracker(base: i64) -> Tracker {
    Tracker {
        size: 0,
        next_offset: base,
        max_timestamp: NO_TIMESTAMP,
        max_timestamp_offset: base,
        bytes_since_index: 0,
        last_time_entry: NO_TIMESTAMP,
    }
}

/// Loads a segment the checkpoint vouches for, from its indexes plus a header-only scan
/// from the last index entry to the end (at most about one index interval of headers).
fn load_trusted(seg: &mut Segment) -> Result<(), LogError> {
    if seg.indexes_suspect {
        return Err(io::Error::other("index files missing or malformed").into());
    }
    let size = seg.log.len()?;
    seg.index.check(size)?;
    let mut t = empty_tracker(seg.base_offset);
    t.size = size;
    if let Some((ts, off)) = seg.time_index.last() {
        (t.max_timestamp, t.max_timestamp_offset, t.last_time_entry) = (ts, off, ts);
    }
    let (mut pos, expect) = seg.index.last().map_or((0, None), |(o, p)| (p, Some(o)));
    let start = pos;
    seg.t = t;
    while pos < size {
        let h = seg.header_at(pos)?;
        // The same offset sanity a rescan applies: a negative delta would move the
        // segment's end below its base (and the log end below its start).
        let consistent = h.base_offset >= seg.t.next_offset
            && h.last_offset_delta >= 0
            && h.last_offset()
                .checked_sub(seg.base_offset)
                .is_some_and(|rel| rel <= i64::from(u32::MAX))
            && (pos != start || expect.is_none_or(|o| o == h.base_offset));
        if !consistent {
            return Err(io::Error::other("batch offsets disagree with the index").into());
        }
        if h.max_timestamp > seg.t.max_timestamp {
            seg.t.max_timestamp = h.max_timestamp;
            seg.t.max_timestamp_offset = h.base_offset;
        }
        seg.t.next_offset = h.last_offset() + 1;
        pos += h.total_bytes();
    }
    seg.time_index.check(seg.t.next_offset)?;
    seg.t.bytes_since_index = size - start;
    seg.roll_base_ms = (size > 0).then(|| seg.log.modified_ms());
    Ok(())
}

/// Scans every batch (header sanity, offset order, CRC32C), rebuilds both indexes and
/// truncates at the first bad byte. Returns the number of bytes truncated.
pub(crate) fn recover_segment(seg: &mut Segment, interval: u32) -> Result<u64, LogError> {
    let file_len = seg.log.len()?;
    let base = seg.base_offset;
    let mut t = empty_tracker(base);
    let (mut offsets, mut times) = (Vec::new(), Vec::new());
    let mut pos = 0u64;
    let mut hdr = [0u8; BATCH_HEADER_BYTES];
    let mut chunk = vec![0u8; RECOVERY_READ_CHUNK_BYTES];
    let mut problem = None;
    while pos < file_len {
        if file_len - pos < BATCH_HEADER_BYTES as u64 {
            problem = Some("torn batch header");
            break;
        }
        seg.log.read_exact_at(&mut hdr, pos)?;
        let Ok(h) = parse_header(&hdr) else {
            problem = Some("unreadable header");
            break;
        };
        if h.magic != RECORD_BATCH_MAGIC || h.batch_length < MIN_BATCH_LENGTH {
            problem = Some("bad magic or batch length");
            break;
        }
        let total = h.total_bytes();
        if total > file_len - pos {
            problem = Some("torn batch");
            break;
        }
        // Checked: on damaged data base_offset can be anything, and the
        // difference of two arbitrary i64s overflows (found by the
        // log_recovery fuzz target).
        let rel_ok = h
            .last_offset()
            .checked_sub(base)
            .is_some_and(|rel| rel <= i64::from(u32::MAX));
        if h.base_offset < t.next_offset
            || h.last_offset_delta < 0
            || h.records_count < 0
            || !rel_ok
        {
            problem = Some("offsets out of order");
            break;
        }
        let mut crc = 0u32;
        let mut at = pos + ATTRIBUTES_OFFSET as u64;
        let end = pos + total;
        while at < end {
            let n = (end - at).min(chunk.len() as u64) as usize;
            seg.log.read_exact_at(&mut chunk[..n], at)?;
            crc = crc32c::crc32c_append(crc, &chunk[..n]);
            at += n as u64;
        }
        super::progress::add_scanned_bytes(total);
        if crc != h.crc {
            problem = Some("CRC mismatch");
            break;
        }
        t.observe(&h, pos, interval, &mut offsets, &mut times);
        pos = end;
    }
    let truncated = file_len - pos;
    if truncated > 0 {
        tracing::warn!(
            segment = %seg.log.path().display(),
            position = pos,
            truncated_bytes = truncated,
            reason = problem.unwrap_or("unknown"),
            "truncating corrupt or torn log tail"
        );
        seg.log.set_len(pos)?;
    }
    seg.index.truncate_entries(0)?;
    seg.index.append_many(&offsets)?;
    seg.time_index.truncate_entries(0)?;
    seg.time_index.append_many(&times)?;
    seg.t = t;
    seg.indexes_suspect = false;
    seg.roll_base_ms = (t.size > 0).then(|| seg.log.modified_ms());
    Ok(truncated)
}

fn remove_quietly(path: &Path, why: &str) {
    tracing::warn!(path = %path.display(), why, "removing file");
    if let Err(e) = storage::remove_file(path) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(path = %path.display(), error = %e, "failed to remove file");
        }
    }
}

/// Segments loaded from disk (sorted, non-empty list) plus the durable offset.
pub(crate) struct Loaded {
    pub segments: Vec<Segment>,
    pub recovery_point: i64,
}

/// Finishes segment swaps the cleaner committed before a crash. The cleaner writes
/// `<base>.{log,index,timeindex}.cleaned`, fsyncs them, renames the indexes to `.swap`
/// and then the log to `<base>.log.swap`: that last rename is the commit point. Swapping
/// in renames the index `.swap` files over the originals, then the log. So a
/// `<base>.log.swap` means "this replaces `<base>.*`" and any index `.swap` beside it is
/// newer than the file it would replace; index `.swap` files without a log `.swap`
/// belong to an uncommitted clean and are deleted with the other leftovers. Returns the
/// bases of the completed segments; the loader rescans them rather than trust indexes.
pub(crate) fn complete_swaps(dir: &Path) -> io::Result<Vec<i64>> {
    let mut committed = Vec::new();
    for entry in storage::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(b) = name
            .strip_suffix(SWAP_SUFFIX)
            .and_then(|n| parse_file_name(n, LOG_SUFFIX))
        {
            committed.push(b);
        }
    }
    for &base in &committed {
        let swaps = Segment::paths_with(dir, base, SWAP_SUFFIX);
        let finals = Segment::paths(dir, base);
        // Indexes first, the log last: the log `.swap` must outlive its indexes' swaps.
        for i in [1, 2, 0] {
            match storage::rename(&swaps[i], &finals[i]) {
                Ok(()) => {}
                Err(e) if e.kind() == io::ErrorKind::NotFound && i != 0 => {}
                Err(e) => return Err(e),
            }
        }
        tracing::info!(dir = %dir.display(), segment = base, "completed interrupted compaction swap");
    }
    if !committed.is_empty() {
        sync_dir(dir)?;
    }
    Ok(committed)
}

pub(crate) fn load(dir: &Path, interval: u32) -> Result<Loaded, LogError> {
    // Durable in its parent: the directory must not vanish with what is fsynced inside.
    storage::create_dir_durable(dir)?;
    let swapped = complete_swaps(dir)?;
    let mut bases = BTreeSet::new();
    let mut index_files = Vec::new();
    for entry in storage::read_dir(dir)? {
        let entry = entry?;
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if let Some(b) = parse_file_name(&name, LOG_SUFFIX) {
            bases.insert(b);
        } else if let Some(b) = parse_file_name(&name, INDEX_SUFFIX)
            .or_else(|| parse_file_name(&name, TIME_INDEX_SUFFIX))
        {
            index_files.push((b, entry.path()));
        } else if TEMP_SUFFIXES.iter().any(|s| name.ends_with(s)) {
            remove_quietly(&entry.path(), "leftover temporary file");
        }
    }
    for (b, path) in &index_files {
        if !bases.contains(b) {
            remove_quietly(path, "index without a log segment");
        }
    }
    let bases: Vec<i64> = bases.into_iter().collect();
    let cp = read_checkpoint(dir);
    // Segment holding the checkpointed offset; everything before it is trusted.
    let containing = cp.and_then(|cp| bases.partition_point(|&b| b <= cp.offset).checked_sub(1));
    let mut segments: Vec<Segment> = Vec::new();
    for (i, &base) in bases.iter().enumerate() {
        if let Some(prev) = segments.last() {
            if swapped.contains(&prev.base_offset) && base < prev.t.next_offset {
                // Absorbed by a merge whose swap was just completed: the merged segment
                // holds all of it (merges take whole segments).
                for p in Segment::paths(dir, base) {
                    remove_quietly(&p, "segment absorbed by a completed merge");
                }
                continue;
            }
        }
        let mut seg = Segment::open(dir, base, false)?;
        let trusted = match (cp, containing) {
            _ if swapped.contains(&base) => false,
            (Some(cp), Some(c)) => {
                i < c || (i == c && cp.segment_base == base && seg.log.len()? == cp.segment_size)
            }
            _ => false,
        };
        let mut truncated = 0;
        if trusted {
            if let Err(e) = load_trusted(&mut seg) {
                tracing::warn!(segment = base, error = %e, "flushed segment failed checks; rescanning");
                truncated = recover_segment(&mut seg, interval)?;
            }
        } else {
            truncated = recover_segment(&mut seg, interval)?;
        }
        if let Some(prev) = segments.last() {
            if seg.base_offset < prev.t.next_offset {
                return Err(LogError::CorruptLog {
                    path: seg.log.path().to_path_buf(),
                    position: 0,
                    reason: format!(
                        "segment base {} overlaps previous segment ending at {}",
                        seg.base_offset, prev.t.next_offset
                    ),
                });
            }
        }
        segments.push(seg);
        if truncated > 0 && i + 1 < bases.len() {
            for &later in &bases[i + 1..] {
                for p in Segment::paths(dir, later) {
                    remove_quietly(&p, "segment after a truncated segment");
                }
            }
            break;
        }
    }
    // Empty segments other than the last hold nothing; dropping them keeps lookups simple.
    // The first one stays even if compaction emptied it: its base is the log start offset,
    // which compaction must not move.
    let last = segments.len().saturating_sub(1);
    let mut kept = Vec::with_capacity(segments.len());
    for (i, seg) in segments.into_iter().enumerate() {
        if i != last && i != 0 && seg.size() == 0 {
            tracing::warn!(
                segment = seg.base_offset,
                "removing empty non-active segment"
            );
            seg.delete_files()?;
        } else {
            kept.push(seg);
        }
    }
    if kept.is_empty() {
        kept.push(Segment::open(dir, 0, true)?);
    }
    let start = kept[0].base_offset;
    let end = kept[kept.len() - 1].t.next_offset;
    let recovery_point = cp.map_or(start, |cp| cp.offset.clamp(start, end));
    Ok(Loaded {
        segments: kept,
        recovery_point,
    })
}
