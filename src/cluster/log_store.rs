//! Durable Raft log, vote and committed index for the metadata quorum.
//!
//! Layout under the metadata directory:
//! - `raft.log`: append-only sequence of records
//!   `[len: u32 LE][crc32c(payload): u32 LE][payload: serde_json LogRecord]`.
//!   The first record may be a `Purged` marker (written by [`purge`]).
//! - `vote.json`, `committed.json`: tiny files replaced atomically.
//!
//! Why this shape: metadata is low volume (topic creations, broker
//! registrations), so simplicity and crash safety beat throughput. Every
//! append is fsync'd before openraft is told it is durable; the whole live log
//! is also kept in memory (it is purged after every snapshot, so it stays
//! small), which makes reads trivial and keeps open fast.
//!
//! Crash safety:
//! - A crash mid-append leaves a torn tail. On open, the first record whose
//!   length runs past EOF or whose CRC does not match ends the log; it and
//!   everything after it are cut off. Such records were never fsync'd, hence
//!   never acknowledged to openraft, so dropping them is safe. Damage with an
//!   intact record after it cannot come from a crash (each append is fsynced
//!   before the next starts): the log is refused, never truncated, because
//!   dropping committed metadata would make topics look deleted.
//! - `truncate` (conflict resolution, multi-node only) shortens the file in
//!   place and fsyncs before returning.
//! - `purge` rewrites the surviving records behind a `Purged` marker into a
//!   temp file, fsyncs it and renames it over `raft.log`. A crash before the
//!   rename leaves the old, longer log, which is still correct (purging is
//!   only an optimisation once a snapshot exists).
//!
//! IO here is blocking std::fs inside async fns on purpose: each call is a
//! small write + fsync that openraft awaits anyway, and metadata writes are
//! rare. If that ever shows up on a profile, move it to a dedicated thread.
//!
//! [`purge`]: RaftLogStorage::purge

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::fs::File;
use std::io;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use openraft::storage::{LogFlushed, RaftLogStorage};
use openraft::{LogState, RaftLogId, RaftLogReader, StorageIOError, Vote};
use serde::{Deserialize, Serialize};

use super::types::{LogEntry, MetadataLogId, RaftNodeId, RaftStorageError, TypeConfig};
use super::ClusterError;

pub(crate) const LOG_FILE: &str = "raft.log";
pub(crate) const VOTE_FILE: &str = "vote.json";
pub(crate) const COMMITTED_FILE: &str = "committed.json";

/// Bytes of the record header: length + CRC.
const HEADER_LEN: usize = 8;
/// Larger "records" can only come from a torn/garbage length field; a single
/// metadata command is a few KB at most.
const MAX_RECORD_LEN: usize = 64 * 1024 * 1024;

/// How long a metadata write failing with a transient error (no file
/// descriptors, no space, no memory) is retried before openraft is told it
/// failed, in ms. Past this the Raft core stops and the broker with it
/// (see `MetadataStore::wait_fatal`): better loud than a node that looks
/// healthy but can never change metadata again.
const STORAGE_RETRY_MS: u64 = 30_000;
/// First pause between retries, in ms; doubled up to [`STORAGE_RETRY_MAX_PAUSE_MS`].
const STORAGE_RETRY_FIRST_PAUSE_MS: u64 = 10;
const STORAGE_RETRY_MAX_PAUSE_MS: u64 = 1_000;

/// Errors that go away when the host frees resources. EIO is not one: after
/// a failed fsync the kernel may have dropped the dirty pages, so the write
/// is reported, never quietly retried.
fn is_transient(e: &io::Error) -> bool {
    use nix::errno::Errno;
    let transient = [
        Errno::EMFILE,
        Errno::ENFILE,
        Errno::ENOSPC,
        Errno::EDQUOT,
        Errno::ENOMEM,
        Errno::EAGAIN,
        Errno::EINTR,
    ];
    e.raw_os_error()
        .is_some_and(|code| transient.iter().any(|t| *t as i32 == code))
}

/// Runs `op` until it succeeds, fails with a non-transient error, or
/// [`STORAGE_RETRY_MS`] have passed. Each attempt must leave the files as
/// they were when it fails (every operation here does), so a retry repeats
/// the whole operation.
async fn with_retry<T>(what: &str, mut op: impl FnMut() -> io::Result<T>) -> io::Result<T> {
    let started = std::time::Instant::now();
    let mut pause_ms = STORAGE_RETRY_FIRST_PAUSE_MS;
    let mut attempts = 0u32;
    loop {
        match op() {
            Ok(v) => {
                if attempts > 0 {
                    tracing::warn!(what, attempts, "metadata write succeeded after retries");
                }
                return Ok(v);
            }
            Err(e)
                if is_transient(&e)
                    && started.elapsed().as_millis() < u128::from(STORAGE_RETRY_MS) =>
            {
                if attempts == 0 {
                    tracing::error!(what, error = %e, retry_for_ms = STORAGE_RETRY_MS,
                        "metadata write failed; retrying (metadata changes wait meanwhile)");
                }
                attempts += 1;
                tokio::time::sleep(std::time::Duration::from_millis(pause_ms)).await;
                pause_ms = (pause_ms * 2).min(STORAGE_RETRY_MAX_PAUSE_MS);
            }
            Err(e) => {
                tracing::error!(what, error = %e, attempts, "metadata write failed for good");
                return Err(e);
            }
        }
    }
}

/// One record of `raft.log`.
#[derive(Serialize, Deserialize)]
enum LogRecord {
    /// Everything up to and including this log id has been purged.
    Purged(MetadataLogId),
    Entry(LogEntry),
}

pub(crate) use crate::storage::write_file_atomic;
use crate::storage::{self, write_file_replace, Mode};

/// Reads `dir/name` as JSON; `Ok(None)` if it does not exist.
pub(crate) fn read_json_file<T: for<'de> Deserialize<'de>>(
    dir: &Path,
    name: &str,
) -> Result<Option<T>, ClusterError> {
    let path = dir.join(name);
    match storage::read(&path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| ClusterError::Corrupt(format!("{}: {e}", path.display()))),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(ClusterError::io(format!("reading {}", path.display()), e)),
    }
}

fn encode_record(record: &LogRecord, out: &mut Vec<u8>) -> io::Result<()> {
    let payload = serde_json::to_vec(record).map_err(io::Error::other)?;
    if payload.len() > MAX_RECORD_LEN {
        return Err(io::Error::other(format!(
            "log record of {} bytes exceeds {MAX_RECORD_LEN}",
            payload.len()
        )));
    }
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&crc32c::crc32c(&payload).to_le_bytes());
    out.extend_from_slice(&payload);
    Ok(())
}

/// The result of scanning `raft.log`.
struct Scanned {
    entries: BTreeMap<u64, Slot>,
    last_purged: Option<MetadataLogId>,
    /// Length of the valid prefix.
    valid_len: u64,
}

/// A live log entry and where its record starts in the file (for truncate).
struct Slot {
    entry: LogEntry,
    offset: u64,
}

/// The payload of the record at the start of `rest` if its length is
/// plausible, it fits, and its CRC matches; `None` otherwise. A zero length is
/// never written (a JSON record is never empty), and zero-filled space is
/// what a crash can leave after a file's size grew but its data did not land.
fn intact_payload(rest: &[u8]) -> Option<&[u8]> {
    let header = rest.get(..HEADER_LEN)?;
    let len = u32::from_le_bytes([header[0], header[1], header[2], header[3]]) as usize;
    let crc = u32::from_le_bytes([header[4], header[5], header[6], header[7]]);
    if len == 0 || len > MAX_RECORD_LEN {
        return None;
    }
    let payload = rest.get(HEADER_LEN..HEADER_LEN.checked_add(len)?)?;
    (crc32c::crc32c(payload) == crc).then_some(payload)
}

/// The first byte offset after `bad` where an intact record starts, if any.
/// A crash can only tear the last write, and every write is fsynced before
/// the next one starts, so an intact record after a damaged one means the
/// damage is in the middle of the log (a flipped bit, a bad sector): not
/// something to repair by truncation. Quadratic in the worst case, which the
/// metadata log (purged behind every snapshot) keeps small, and only run on
/// a log that already has a damaged record.
fn intact_record_after(data: &[u8], bad: usize) -> Option<usize> {
    (bad + 1..data.len().saturating_sub(HEADER_LEN)).find(|&at| {
        intact_payload(&data[at..])
            .is_some_and(|payload| serde_json::from_slice::<LogRecord>(payload).is_ok())
    })
}

/// Parses records until EOF or the first torn record, replaying them with
/// exactly the semantics the in-memory map had when they were written
/// (insert by index; a `Purged` marker drops everything up to it), so a
/// reopened log is the log openraft last saw. Contiguity is openraft's
/// contract, not re-checked here: its own conformance suite appends with gaps.
///
/// A bad length or CRC is treated as a torn tail (see module docs) only when
/// no intact record follows it; otherwise the log is refused. A record
/// with a *valid* CRC that does not parse is not something a crash can
/// produce, so it is reported as corruption instead of being silently dropped
/// with everything after it.
fn scan_log(data: &[u8], path: &Path) -> Result<Scanned, ClusterError> {
    let mut entries = BTreeMap::new();
    let mut last_purged: Option<MetadataLogId> = None;
    let mut pos = 0usize;
    while pos < data.len() {
        let rest = &data[pos..];
        if rest.len() < HEADER_LEN {
            break;
        }
        let Some(payload) = intact_payload(rest) else {
            if let Some(next) = intact_record_after(data, pos) {
                return Err(ClusterError::Corrupt(format!(
                    "{}: the record at byte {pos} is damaged (bad length or checksum) but an \
                     intact record follows at byte {next}, so this is not a torn tail of the \
                     last write; refusing to drop the {} bytes after it. Restore the file from \
                     a backup or another node",
                    path.display(),
                    data.len() - pos
                )));
            }
            break;
        };
        let len = payload.len();
        let record: LogRecord = serde_json::from_slice(payload).map_err(|e| {
            ClusterError::Corrupt(format!(
                "{}: record at offset {pos} has a valid checksum but does not parse: {e}",
                path.display()
            ))
        })?;
        match record {
            LogRecord::Purged(id) => {
                entries.retain(|idx, _| *idx > id.index);
                last_purged = Some(id);
            }
            LogRecord::Entry(entry) => {
                let index = entry.log_id.index;
                // Purge only ever writes entries above its marker and later appends
                // go after them, so this is damage, not a crash: handing openraft an
                // entry at or below the purged id breaks its "purged < last" rule.
                if let Some(p) = last_purged.filter(|p| index <= p.index) {
                    return Err(ClusterError::Corrupt(format!(
                        "{}: the record at offset {pos} holds entry {index}, at or below the \
                         purged entry {}",
                        path.display(),
                        p.index
                    )));
                }
                entries.insert(
                    index,
                    Slot {
                        entry,
                        offset: pos as u64,
                    },
                );
            }
        }
        pos += HEADER_LEN + len;
    }
    Ok(Scanned {
        entries,
        last_purged,
        valid_len: pos as u64,
    })
}

struct LogInner {
    dir: PathBuf,
    /// `raft.log`, opened for appending.
    file: File,
    file_len: u64,
    entries: BTreeMap<u64, Slot>,
    last_purged: Option<MetadataLogId>,
    vote: Option<Vote<RaftNodeId>>,
    committed: Option<MetadataLogId>,
}

impl LogInner {
    fn log_path(&self) -> PathBuf {
        self.dir.join(LOG_FILE)
    }

    fn last_log_id(&self) -> Option<MetadataLogId> {
        self.entries
            .values()
            .next_back()
            .map(|s| *s.entry.get_log_id())
            .or(self.last_purged)
    }

    fn range(&self, range: impl RangeBounds<u64>) -> Vec<LogEntry> {
        // BTreeMap::range panics on inverted/empty-excluded ranges; openraft
        // may legitimately ask for an empty range, so normalise first.
        let start = match range.start_bound() {
            Bound::Included(s) => *s,
            Bound::Excluded(s) => s.saturating_add(1),
            Bound::Unbounded => 0,
        };
        let end = match range.end_bound() {
            Bound::Included(e) => e.saturating_add(1),
            Bound::Excluded(e) => *e,
            Bound::Unbounded => u64::MAX,
        };
        if start >= end {
            return Vec::new();
        }
        self.entries
            .range(start..end)
            .map(|(_, s)| s.entry.clone())
            .collect()
    }

    fn append(&mut self, entries: Vec<LogEntry>) -> io::Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        let mut buf = Vec::new();
        let mut offsets = Vec::with_capacity(entries.len());
        for entry in &entries {
            offsets.push(self.file_len + buf.len() as u64);
            encode_record(&LogRecord::Entry(entry.clone()), &mut buf)?;
        }
        let path = self.log_path();
        if let Err(e) = storage::append(&self.file, &path, &buf)
            .and_then(|_| storage::sync_data(&self.file, &path))
        {
            // Never leave a half-written batch in front of the next append:
            // open would refuse the log (damage followed by intact records).
            // If even the undo fails, the error must not be retried.
            if let Err(undo) = storage::set_len(&self.file, &path, self.file_len) {
                return Err(io::Error::other(format!(
                    "{e}; and cutting the partial write off failed too: {undo}"
                )));
            }
            return Err(e);
        }
        self.file_len += buf.len() as u64;
        for (entry, offset) in entries.into_iter().zip(offsets) {
            self.entries
                .insert(entry.log_id.index, Slot { entry, offset });
        }
        Ok(())
    }

    /// Deletes entries with index >= `index` by cutting the file short.
    fn truncate(&mut self, index: u64) -> io::Result<()> {
        let Some(offset) = self.entries.range(index..).next().map(|(_, s)| s.offset) else {
            return Ok(());
        };
        let path = self.log_path();
        storage::set_len(&self.file, &path, offset)?;
        storage::sync_data(&self.file, &path)?;
        self.file_len = offset;
        self.entries.split_off(&index);
        Ok(())
    }

    /// Drops entries with index <= `log_id.index` and rewrites the file.
    fn purge(&mut self, log_id: MetadataLogId) -> io::Result<()> {
        if self
            .last_purged
            .map(|p| p.index >= log_id.index)
            .unwrap_or(false)
        {
            return Ok(());
        }
        let kept = self.entries.split_off(&(log_id.index + 1));
        let mut buf = Vec::new();
        encode_record(&LogRecord::Purged(log_id), &mut buf)?;
        let mut new_entries = BTreeMap::new();
        for (index, slot) in kept {
            let offset = buf.len() as u64;
            encode_record(&LogRecord::Entry(slot.entry.clone()), &mut buf)?;
            new_entries.insert(
                index,
                Slot {
                    entry: slot.entry,
                    offset,
                },
            );
        }
        write_file_atomic(&self.dir, LOG_FILE, &buf)?;
        self.file = storage::open(&self.log_path(), Mode::Append)?;
        self.file_len = buf.len() as u64;
        self.entries = new_entries;
        self.last_purged = Some(log_id);
        Ok(())
    }
}

/// The Raft log store. Cheap to clone into readers (shared state behind a
/// mutex; the lock is never held across an `.await`).
#[derive(Clone)]
pub struct LogStore {
    inner: Arc<Mutex<LogInner>>,
}

impl LogStore {
    /// Opens (creating if needed) the log under `dir`, dropping a torn tail.
    pub fn open(dir: &Path) -> Result<LogStore, ClusterError> {
        storage::create_dir_all(dir)
            .map_err(|e| ClusterError::io(format!("creating {}", dir.display()), e))?;
        let path = dir.join(LOG_FILE);
        let data = match storage::read(&path) {
            Ok(d) => d,
            Err(e) if e.kind() == io::ErrorKind::NotFound => Vec::new(),
            Err(e) => return Err(ClusterError::io(format!("reading {}", path.display()), e)),
        };
        let scanned = scan_log(&data, &path)?;
        let file = storage::open(&path, Mode::Append)
            .map_err(|e| ClusterError::io(format!("opening {}", path.display()), e))?;
        if scanned.valid_len < data.len() as u64 {
            tracing::warn!(
                path = %path.display(),
                valid_len = scanned.valid_len,
                dropped_bytes = data.len() as u64 - scanned.valid_len,
                "dropping torn tail of the metadata log"
            );
            storage::set_len(&file, &path, scanned.valid_len)
                .and_then(|_| storage::sync_data(&file, &path))
                .map_err(|e| ClusterError::io(format!("truncating {}", path.display()), e))?;
        }
        let vote = read_json_file(dir, VOTE_FILE)?;
        // Advisory (see `save_committed`): unreadable or ahead of the log means
        // "unknown", and Raft re-commits after its election.
        let committed: Option<Option<MetadataLogId>> = match read_json_file(dir, COMMITTED_FILE) {
            Ok(c) => c,
            Err(e) => {
                tracing::warn!(error = %e, "ignoring an unreadable committed index");
                None
            }
        };
        let last_index = scanned
            .entries
            .keys()
            .next_back()
            .copied()
            .or(scanned.last_purged.map(|l| l.index));
        let committed = committed
            .flatten()
            .filter(|c| last_index.is_some_and(|last| c.index <= last));
        Ok(LogStore {
            inner: Arc::new(Mutex::new(LogInner {
                dir: dir.to_path_buf(),
                file,
                file_len: scanned.valid_len,
                entries: scanned.entries,
                last_purged: scanned.last_purged,
                vote,
                committed,
            })),
        })
    }

    fn lock(&self) -> MutexGuard<'_, LogInner> {
        // A poisoned lock means a panic mid-update of in-memory state that
        // mirrors the file; the file itself is still consistent, so keep going
        // rather than cascading the panic into every Raft call.
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + Send>(
        &mut self,
        range: RB,
    ) -> Result<Vec<LogEntry>, RaftStorageError> {
        Ok(self.lock().range(range))
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, RaftStorageError> {
        let inner = self.lock();
        Ok(LogState {
            last_purged_log_id: inner.last_purged,
            last_log_id: inner.last_log_id(),
        })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<RaftNodeId>) -> Result<(), RaftStorageError> {
        let bytes = serde_json::to_vec(vote).map_err(|e| StorageIOError::write_vote(&e))?;
        with_retry("saving the vote", || {
            let mut inner = self.lock();
            write_file_atomic(&inner.dir, VOTE_FILE, &bytes)?;
            inner.vote = Some(*vote);
            Ok(())
        })
        .await
        .map_err(|e| StorageIOError::write_vote(&e).into())
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<RaftNodeId>>, RaftStorageError> {
        Ok(self.lock().vote)
    }

    /// Persisting the committed index lets a restart re-apply committed
    /// entries before Raft starts, so `MetadataStore::open` can return with a
    /// complete image without waiting for a round of replication.
    ///
    /// It is written without fsync: the index is only a hint (the entries it
    /// names were made durable before they could commit, and a lost or stale
    /// hint just means Raft re-commits them after its election), and two
    /// fsyncs per metadata change would dominate startup and topic creation.
    async fn save_committed(
        &mut self,
        committed: Option<MetadataLogId>,
    ) -> Result<(), RaftStorageError> {
        let mut inner = self.lock();
        if inner.committed == committed {
            return Ok(());
        }
        let bytes = serde_json::to_vec(&committed).map_err(|e| StorageIOError::write(&e))?;
        // Only a hint: a failed write leaves an older one, which is as safe.
        match write_file_replace(&inner.dir, COMMITTED_FILE, &bytes) {
            Ok(()) => inner.committed = committed,
            Err(e) => tracing::warn!(error = %e, "cannot save the committed-index hint"),
        }
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<MetadataLogId>, RaftStorageError> {
        Ok(self.lock().committed)
    }

    async fn append<I>(
        &mut self,
        entries: I,
        callback: LogFlushed<TypeConfig>,
    ) -> Result<(), RaftStorageError>
    where
        I: IntoIterator<Item = LogEntry> + Send,
        I::IntoIter: Send,
    {
        let entries: Vec<LogEntry> = entries.into_iter().collect();
        with_retry("appending to the metadata log", || {
            self.lock().append(entries.clone())
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e))?;
        // Durable (fsync'd) before we tell openraft so.
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: MetadataLogId) -> Result<(), RaftStorageError> {
        with_retry("truncating the metadata log", || {
            self.lock().truncate(log_id.index)
        })
        .await
        .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }

    async fn purge(&mut self, log_id: MetadataLogId) -> Result<(), RaftStorageError> {
        with_retry("purging the metadata log", || self.lock().purge(log_id))
            .await
            .map_err(|e| StorageIOError::write_logs(&e))?;
        Ok(())
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for LogStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LogStore").finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use std::fs::{self, OpenOptions};
    use std::io::Write;

    use super::*;

    fn blank(term: u64, index: u64) -> LogEntry {
        openraft::testing::blank_ent::<TypeConfig>(term, 1, index)
    }

    async fn append(store: &mut LogStore, entries: Vec<LogEntry>) {
        // LogFlushed cannot be built outside openraft without a running core;
        // drive the inner append directly for file-format tests.
        store.lock().append(entries).expect("append");
    }

    #[tokio::test]
    async fn reopen_keeps_entries_and_drops_torn_tail() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = LogStore::open(dir.path()).expect("open");
            append(&mut store, (0..5).map(|i| blank(1, i)).collect()).await;
        }
        let path = dir.path().join(LOG_FILE);
        let full_len = fs::metadata(&path).expect("meta").len();
        // Simulate a crash mid-write of record 5: header + partial payload.
        {
            let mut buf = Vec::new();
            encode_record(&LogRecord::Entry(blank(1, 5)), &mut buf).expect("encode");
            let mut f = OpenOptions::new().append(true).open(&path).expect("open");
            f.write_all(&buf[..buf.len() - 3]).expect("write");
        }
        let mut store = LogStore::open(dir.path()).expect("reopen");
        let got = store.try_get_log_entries(0..).await.expect("read");
        assert_eq!(got.len(), 5);
        assert_eq!(fs::metadata(&path).expect("meta").len(), full_len);
        // The log must be appendable right after the cut.
        append(&mut store, vec![blank(2, 5)]).await;
        drop(store);
        let mut store = LogStore::open(dir.path()).expect("reopen 2");
        let got = store.try_get_log_entries(0..).await.expect("read");
        assert_eq!(got.len(), 6);
    }

    /// Found by the raft_log fuzz target: an intact entry at or below the
    /// purge marker was kept, and the store told openraft its last log id
    /// was below its last purged one.
    #[tokio::test]
    async fn an_entry_below_the_purge_marker_is_refused() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut buf = Vec::new();
        let purged = *blank(1, 5).get_log_id();
        encode_record(&LogRecord::Purged(purged), &mut buf).expect("encode");
        encode_record(&LogRecord::Entry(blank(1, 3)), &mut buf).expect("encode");
        fs::write(dir.path().join(LOG_FILE), &buf).expect("write");
        let err = LogStore::open(dir.path())
            .err()
            .expect("a damaged log must be refused");
        assert!(matches!(err, ClusterError::Corrupt(_)), "{err}");
    }

    #[tokio::test]
    async fn bad_crc_in_tail_is_dropped() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = LogStore::open(dir.path()).expect("open");
            append(&mut store, (0..3).map(|i| blank(1, i)).collect()).await;
        }
        let path = dir.path().join(LOG_FILE);
        let mut data = fs::read(&path).expect("read");
        let last = data.len() - 2;
        data[last] ^= 0xff;
        fs::write(&path, &data).expect("write");
        let mut store = LogStore::open(dir.path()).expect("reopen");
        let got = store.try_get_log_entries(0..).await.expect("read");
        assert_eq!(got.len(), 2);
    }

    #[tokio::test]
    async fn a_flipped_byte_mid_log_is_refused_not_truncated() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = LogStore::open(dir.path()).expect("open");
            for i in 0..6 {
                append(&mut store, vec![blank(1, i)]).await;
            }
        }
        let path = dir.path().join(LOG_FILE);
        let original = fs::read(&path).expect("read");
        let mut data = original.clone();
        let middle = data.len() / 2;
        data[middle] ^= 0x01;
        fs::write(&path, &data).expect("write");
        let err = LogStore::open(dir.path())
            .err()
            .expect("a damaged log must be refused");
        assert!(matches!(err, ClusterError::Corrupt(_)), "{err}");
        assert!(err.to_string().contains("not a torn tail"), "{err}");
        // Nothing was cut off: the file is as damaged as it was, for an operator.
        assert_eq!(fs::read(&path).expect("read"), data);
    }

    #[tokio::test]
    async fn a_zero_filled_tail_is_a_torn_write() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = LogStore::open(dir.path()).expect("open");
            append(&mut store, (0..4).map(|i| blank(1, i)).collect()).await;
        }
        let path = dir.path().join(LOG_FILE);
        let len = fs::metadata(&path).expect("meta").len();
        // The size grew but the data never landed: what ext4 can leave.
        let f = OpenOptions::new().write(true).open(&path).expect("open");
        f.set_len(len + 4096).expect("extend");
        drop(f);
        let mut store = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(store.try_get_log_entries(0..).await.expect("read").len(), 4);
        assert_eq!(fs::metadata(&path).expect("meta").len(), len);
    }

    #[tokio::test]
    async fn purge_and_truncate_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = LogStore::open(dir.path()).expect("open");
            append(&mut store, (0..10).map(|i| blank(1, i)).collect()).await;
            store
                .purge(openraft::testing::log_id(1, 1, 3))
                .await
                .expect("purge");
            store
                .truncate(openraft::testing::log_id(1, 1, 8))
                .await
                .expect("truncate");
            append(&mut store, vec![blank(2, 8)]).await;
        }
        let mut store = LogStore::open(dir.path()).expect("reopen");
        let state = store.get_log_state().await.expect("state");
        assert_eq!(state.last_purged_log_id.map(|l| l.index), Some(3));
        assert_eq!(state.last_log_id, Some(openraft::testing::log_id(2, 1, 8)));
        let got = store.try_get_log_entries(0..).await.expect("read");
        let idx: Vec<u64> = got.iter().map(|e| e.log_id.index).collect();
        assert_eq!(idx, vec![4, 5, 6, 7, 8]);
    }

    #[tokio::test]
    async fn vote_and_committed_survive_reopen() {
        let dir = tempfile::tempdir().expect("tempdir");
        let vote = Vote::new_committed(3, 1);
        let committed = Some(openraft::testing::log_id(3, 1, 7));
        {
            let mut store = LogStore::open(dir.path()).expect("open");
            append(&mut store, (0..10).map(|i| blank(3, i)).collect()).await;
            store.save_vote(&vote).await.expect("vote");
            store.save_committed(committed).await.expect("committed");
        }
        let mut store = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(store.read_vote().await.expect("vote"), Some(vote));
        assert_eq!(store.read_committed().await.expect("committed"), committed);
    }

    #[tokio::test]
    async fn a_damaged_or_ahead_committed_hint_is_ignored() {
        let dir = tempfile::tempdir().expect("tempdir");
        {
            let mut store = LogStore::open(dir.path()).expect("open");
            append(&mut store, (0..5).map(|i| blank(1, i)).collect()).await;
            // Ahead of the log: possible only if the log lost its tail.
            store
                .save_committed(Some(openraft::testing::log_id(1, 1, 9)))
                .await
                .expect("committed");
        }
        let mut store = LogStore::open(dir.path()).expect("reopen");
        assert_eq!(store.read_committed().await.expect("committed"), None);
        drop(store);
        // What a crash can leave of a file replaced without fsync.
        std::fs::write(dir.path().join(COMMITTED_FILE), b"").expect("write");
        let mut store = LogStore::open(dir.path()).expect("reopen with an empty hint");
        assert_eq!(store.read_committed().await.expect("committed"), None);
        assert_eq!(
            store
                .get_log_state()
                .await
                .expect("state")
                .last_log_id
                .map(|l| l.index),
            Some(4)
        );
    }
}
