//! Per-segment aborted-transaction index, `<base>.txnindex`, Kafka's on-disk format.
//!
//! The file is a plain sequence of fixed 34-byte entries, all big-endian, exactly as
//! Kafka's `AbortedTxn` lays them out:
//!
//! | bytes  | field                | type  |
//! |--------|----------------------|-------|
//! | 0..2   | version (always 0)   | int16 |
//! | 2..10  | producer_id          | int64 |
//! | 10..18 | first_offset         | int64 |
//! | 18..26 | last_offset          | int64 |
//! | 26..34 | last_stable_offset   | int64 |
//!
//! One entry is appended per ABORT marker written into the segment: `first_offset` is the
//! first offset the producer wrote in the aborted transaction (possibly in an earlier
//! segment), `last_offset` the offset of the marker itself, and `last_stable_offset` the
//! partition's LSO once that transaction was completed. Entries are therefore ordered by
//! `last_offset`.
//!
//! A read_committed fetch collects the entries overlapping the fetched range and returns
//! `(producer_id, first_offset)` pairs as the Fetch response's `aborted_transactions`;
//! the consumer then skips that producer's transactional batches from `first_offset` up
//! to the producer's abort marker. `last_stable_offset` lets a search spanning segments
//! stop early: once an entry's LSO reaches the fetch's upper bound, no later segment can
//! hold an abort of a transaction that began inside the range.
//!
//! Most segments never see an aborted transaction, so like Kafka we do not create the
//! file until the first append: an absent file simply means "no aborts". Entries are few
//! (one per abort) and are cached in memory; the file exists only for restarts.

use std::fs::File;
use std::io::{self, Read};

use crate::storage;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

/// File name suffix of the transaction index, as in Kafka.
pub const TXN_INDEX_SUFFIX: &str = ".txnindex";
/// Bytes per entry (Kafka's `AbortedTxn.TOTAL_SIZE`).
pub const ENTRY_BYTES: usize = 34;
/// The only entry version Kafka has defined.
const CURRENT_VERSION: i16 = 0;

/// One aborted transaction; see the module doc for what each field means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AbortedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    pub last_offset: i64,
    pub last_stable_offset: i64,
}

pub fn encode_entry(e: &AbortedTxn) -> [u8; ENTRY_BYTES] {
    let mut b = [0u8; ENTRY_BYTES];
    b[0..2].copy_from_slice(&CURRENT_VERSION.to_be_bytes());
    b[2..10].copy_from_slice(&e.producer_id.to_be_bytes());
    b[10..18].copy_from_slice(&e.first_offset.to_be_bytes());
    b[18..26].copy_from_slice(&e.last_offset.to_be_bytes());
    b[26..34].copy_from_slice(&e.last_stable_offset.to_be_bytes());
    b
}

/// Decodes one entry; `None` if `b` is not exactly one entry or has an unknown version.
pub fn decode_entry(b: &[u8]) -> Option<AbortedTxn> {
    let b: &[u8; ENTRY_BYTES] = b.try_into().ok()?;
    let long = |at: usize| i64::from_be_bytes(b[at..at + 8].try_into().unwrap());
    if i16::from_be_bytes([b[0], b[1]]) != CURRENT_VERSION {
        return None;
    }
    Some(AbortedTxn {
        producer_id: long(2),
        first_offset: long(10),
        last_offset: long(18),
        last_stable_offset: long(26),
    })
}

/// The aborted-transaction index of one segment.
#[derive(Debug)]
pub struct TxnIndex {
    path: PathBuf,
    /// `None` until the file exists (it is created by the first append).
    file: Option<File>,
    /// The file was created by this handle and its directory entry not yet fsynced.
    dir_unsynced: AtomicBool,
    entries: Vec<AbortedTxn>,
}

fn open_rw(path: &Path, create: bool) -> io::Result<File> {
    // Append mode: every write lands at the current end, also after a truncation.
    if !create && !path.exists() {
        return Err(io::ErrorKind::NotFound.into());
    }
    storage::open(path, storage::Mode::Append)
}

impl TxnIndex {
    /// Opens the index at `path`, loading its entries if the file exists. Damage a crash
    /// can leave (a torn last entry) or that cannot be trusted (an unknown version, or
    /// `last_offset` going backwards) is cut off together with everything after it, with
    /// a warning: recovery rebuilds what is missing from the log.
    pub fn open(path: &Path) -> io::Result<TxnIndex> {
        let mut idx = TxnIndex {
            path: path.to_path_buf(),
            file: None,
            dir_unsynced: AtomicBool::new(false),
            entries: Vec::new(),
        };
        let mut file = match open_rw(path, false) {
            Ok(f) => f,
            Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(idx),
            Err(e) => return Err(e),
        };
        let mut buf = Vec::new();
        file.read_to_end(&mut buf)?;
        let mut why = None;
        for chunk in buf.chunks(ENTRY_BYTES) {
            let prev = idx.entries.last().map_or(i64::MIN, |p| p.last_offset);
            why = match decode_entry(chunk) {
                Some(e) if e.last_offset > prev => {
                    idx.entries.push(e);
                    continue;
                }
                Some(_) => Some("entry with non-increasing last offset"),
                None if chunk.len() < ENTRY_BYTES => Some("torn entry at end of file"),
                None => Some("entry with unknown version"),
            };
            break;
        }
        if let Some(why) = why {
            let keep = (idx.entries.len() * ENTRY_BYTES) as u64;
            tracing::warn!(
                path = %path.display(), reason = why, file_bytes = buf.len(), kept_bytes = keep,
                "truncating damaged transaction index"
            );
            storage::set_len(&file, path, keep)?;
        }
        idx.file = Some(file);
        Ok(idx)
    }

    /// Appends `e`, creating the file on first use. Like Kafka, refuses an entry whose
    /// `last_offset` does not exceed the previous one's: every abort has its own marker
    /// offset, so equal or lower means a caller bug, and ordering is what `truncate_to`
    /// relies on.
    pub fn append(&mut self, e: AbortedTxn) -> io::Result<()> {
        let prev = self.entries.last().map_or(i64::MIN, |p| p.last_offset);
        if e.last_offset <= prev {
            let p = self.path.display();
            let msg = format!(
                "{p}: aborted txn last offset {} not above {prev}",
                e.last_offset
            );
            return Err(io::Error::new(io::ErrorKind::InvalidInput, msg));
        }
        if self.file.is_none() {
            self.file = Some(open_rw(&self.path, true)?);
            self.dir_unsynced = AtomicBool::new(true);
        }
        let file = self.file.as_mut().expect("opened above");
        if let Err(err) = storage::append(file, &self.path, &encode_entry(&e)) {
            // Drop a partial entry so file and cache agree; if even that fails, the next
            // open truncates the torn tail.
            let _ = storage::set_len(file, &self.path, (self.entries.len() * ENTRY_BYTES) as u64);
            return Err(err);
        }
        self.entries.push(e);
        Ok(())
    }

    pub fn entries(&self) -> &[AbortedTxn] {
        &self.entries
    }

    /// Aborted transactions overlapping [fetch_offset, upper_bound): last_offset >=
    /// fetch_offset && first_offset < upper_bound. Appended to `out` in index order.
    pub fn collect_aborted(&self, fetch_offset: i64, upper_bound: i64, out: &mut Vec<AbortedTxn>) {
        out.extend(
            self.entries
                .iter()
                .filter(|e| e.last_offset >= fetch_offset && e.first_offset < upper_bound),
        );
    }

    /// Drops entries whose marker is at or beyond `offset` (the log is being truncated to
    /// end just before `offset`).
    pub fn truncate_to(&mut self, offset: i64) -> io::Result<()> {
        let keep = self.entries.partition_point(|e| e.last_offset < offset);
        if keep == self.entries.len() {
            return Ok(());
        }
        if let Some(f) = &self.file {
            storage::set_len(f, &self.path, (keep * ENTRY_BYTES) as u64)?;
        }
        self.entries.truncate(keep);
        Ok(())
    }

    /// Makes appended entries durable, after the file's creation its directory entry too;
    /// a no-op if the file was never created.
    pub fn sync(&self) -> io::Result<()> {
        let Some(f) = &self.file else { return Ok(()) };
        storage::sync_data(f, &self.path)?;
        if self.dir_unsynced.load(Ordering::Relaxed) {
            if let Some(dir) = self.path.parent().filter(|d| !d.as_os_str().is_empty()) {
                storage::sync_dir(dir)?;
            }
            self.dir_unsynced.store(false, Ordering::Relaxed);
        }
        Ok(())
    }

    /// Removes the file; fine if it was never created.
    pub fn delete(self) -> io::Result<()> {
        drop(self.file);
        match storage::remove_file(&self.path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => Err(e),
            _ => Ok(()),
        }
    }

    /// Moves the file to `new_path` (segment swaps, `.deleted`/`.cleaned` suffixes); fine
    /// if it was never created, in which case a later append creates it at `new_path`.
    /// The open handle stays valid across the rename.
    pub fn rename_to(&mut self, new_path: &Path) -> io::Result<()> {
        match storage::rename(&self.path, new_path) {
            Err(e) if e.kind() != io::ErrorKind::NotFound => return Err(e),
            _ => {}
        }
        self.path = new_path.to_path_buf();
        Ok(())
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn txn(pid: i64, first: i64, last: i64) -> AbortedTxn {
        let last_stable_offset = last + 1;
        AbortedTxn {
            producer_id: pid,
            first_offset: first,
            last_offset: last,
            last_stable_offset,
        }
    }

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let dir = tempfile::tempdir().unwrap();
        let p = dir.path().join(format!("{:020}{TXN_INDEX_SUFFIX}", 0));
        (dir, p)
    }

    fn file_len(p: &Path) -> u64 {
        std::fs::metadata(p).unwrap().len()
    }

    fn reopened(p: &Path) -> Vec<AbortedTxn> {
        TxnIndex::open(p).unwrap().entries().to_vec()
    }

    fn write_raw(p: &Path, entries: &[[u8; ENTRY_BYTES]], tail: &[u8]) {
        std::fs::write(p, [entries.concat(), tail.to_vec()].concat()).unwrap();
    }

    #[test]
    fn encoding_matches_kafka_layout() {
        let e = AbortedTxn {
            last_stable_offset: 0x0102,
            ..txn(1, 2, 3)
        };
        let b = encode_entry(&e);
        assert_eq!(
            (&b[0..2], b[9], b[17], b[25], &b[32..34]),
            (&[0, 0][..], 1, 2, 3, &[1, 2][..])
        );
        assert_eq!(decode_entry(&b), Some(e));
        assert_eq!(decode_entry(&b[..33]), None);
    }

    #[test]
    fn nonexistent_and_empty_files() {
        let (_d, p) = setup();
        let idx = TxnIndex::open(&p).unwrap();
        assert!(idx.is_empty() && !p.exists(), "open must not create it");
        let mut out = vec![];
        idx.collect_aborted(0, i64::MAX, &mut out);
        assert!(out.is_empty());
        idx.sync().unwrap();
        std::fs::write(&p, b"").unwrap();
        assert!(TxnIndex::open(&p).unwrap().is_empty());
    }

    #[test]
    fn append_creates_lazily_reopens_and_refuses_disorder() {
        let (_d, p) = setup();
        let mut idx = TxnIndex::open(&p).unwrap();
        assert!(!p.exists());
        idx.append(txn(7, 0, 5)).unwrap();
        assert!(p.exists());
        idx.append(txn(8, 3, 9)).unwrap();
        assert!(idx.append(txn(2, 0, 8)).is_err());
        assert!(
            idx.append(txn(2, 0, 9)).is_err(),
            "equal marker offsets too"
        );
        idx.sync().unwrap();
        idx.sync().unwrap();
        assert_eq!(file_len(&p), 2 * ENTRY_BYTES as u64);
        drop(idx);
        let mut idx = TxnIndex::open(&p).unwrap();
        assert_eq!(idx.entries(), &[txn(7, 0, 5), txn(8, 3, 9)]);
        idx.append(txn(7, 10, 12)).unwrap();
        assert_eq!(reopened(&p).len(), 3);
    }

    #[test]
    fn damaged_files_truncated() {
        let (_d, p) = setup();
        let (good, later) = (encode_entry(&txn(1, 0, 4)), encode_entry(&txn(3, 7, 8)));
        write_raw(&p, &[good], &later[..20]); // torn tail
        let mut idx = TxnIndex::open(&p).unwrap();
        assert_eq!(idx.entries(), &[txn(1, 0, 4)]);
        assert_eq!(file_len(&p), ENTRY_BYTES as u64);
        idx.append(txn(3, 7, 8)).unwrap();
        assert_eq!(reopened(&p), [txn(1, 0, 4), txn(3, 7, 8)]);
        let mut bad = encode_entry(&txn(2, 1, 6));
        bad[1] = 1; // version 1
        write_raw(&p, &[good, bad, later], b"");
        assert_eq!(reopened(&p), [txn(1, 0, 4)]);
        assert_eq!(file_len(&p), ENTRY_BYTES as u64);
        write_raw(&p, &[good, encode_entry(&txn(3, 2, 3)), later], b""); // disorder
        assert_eq!(reopened(&p), [txn(1, 0, 4)]);
    }

    #[test]
    fn collect_aborted_edges() {
        let (_d, p) = setup();
        let mut idx = TxnIndex::open(&p).unwrap();
        let (a, b) = (txn(1, 10, 20), txn(2, 15, 30));
        idx.append(a).unwrap();
        idx.append(b).unwrap();
        let got = |from, to| {
            let mut out = vec![];
            idx.collect_aborted(from, to, &mut out);
            out
        };
        assert_eq!(got(20, 21), [a, b], "last_offset == fetch_offset: in");
        assert_eq!(got(21, 100), [b], "marker before fetch_offset: out");
        assert_eq!(got(0, 10), [], "first_offset == upper_bound: out");
        assert_eq!((got(0, 11), got(0, 16)), (vec![a], vec![a, b]));
        assert_eq!((got(30, 31), got(31, 100)), (vec![b], vec![]));
        let mut out = vec![txn(9, 0, 1)];
        idx.collect_aborted(25, 26, &mut out);
        assert_eq!(out, [txn(9, 0, 1), b], "appends to out");
    }

    #[test]
    fn truncate_to_drops_suffix() {
        let (_d, p) = setup();
        let mut idx = TxnIndex::open(&p).unwrap();
        for (pid, last) in [(0, 5), (1, 9), (2, 14)] {
            idx.append(txn(pid, last - 2, last)).unwrap();
        }
        idx.truncate_to(15).unwrap();
        assert_eq!(idx.entries().len(), 3);
        idx.truncate_to(9).unwrap();
        assert_eq!(idx.entries(), &[txn(0, 3, 5)]);
        assert_eq!(file_len(&p), ENTRY_BYTES as u64);
        idx.append(txn(5, 6, 8)).unwrap();
        assert_eq!(reopened(&p), [txn(0, 3, 5), txn(5, 6, 8)]);
        idx.truncate_to(0).unwrap();
        assert!(idx.is_empty() && reopened(&p).is_empty());
        let q = p.with_extension("other"); // never created: nothing to do or create
        TxnIndex::open(&q).unwrap().truncate_to(0).unwrap();
        assert!(!q.exists());
    }

    #[test]
    fn rename_and_delete() {
        let (d, p) = setup();
        let q = d.path().join("moved.txnindex");
        let mut idx = TxnIndex::open(&p).unwrap();
        idx.rename_to(&q).unwrap(); // never created
        assert_eq!(idx.path(), q.as_path());
        assert!(!q.exists() && !p.exists());
        idx.append(txn(1, 0, 3)).unwrap();
        assert!(q.exists() && !p.exists(), "created at the renamed path");
        idx.rename_to(&p).unwrap();
        idx.append(txn(1, 4, 6)).unwrap(); // handle still valid after rename
        assert!(p.exists() && !q.exists());
        assert_eq!(reopened(&p).len(), 2);
        idx.delete().unwrap();
        assert!(!p.exists());
        TxnIndex::open(&q).unwrap().delete().unwrap(); // never created
    }
}
