//! The file-IO seam. Every byte the log writes goes through [`DataFile`], so tests can
//! inject short writes and write errors (see [`Faults`]) and check that a failed append
//! leaves neither the files nor the in-memory state half-updated.
//!
//! Positional IO (pread/pwrite) is used throughout: the writer always knows where the
//! next byte goes, and concurrent readers of the same `File` never share a cursor.

use std::fs::{File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

/// Most iovecs one pwritev takes (Linux's IOV_MAX).
const IOV_MAX_SLICES: usize = 1024;

/// Fault plan shared by all files of one log. Inert unless a test arms it.
#[derive(Debug)]
pub(crate) struct Faults {
    /// Bytes that may still be written before writes start failing; u64::MAX = no limit.
    write_budget_bytes: AtomicU64,
    fail_sync: AtomicBool,
    /// Compaction stops (as if the process died) at this step of a segment swap; 0 = never.
    clean_crash_step: AtomicU64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            write_budget_bytes: AtomicU64::new(u64::MAX),
            fail_sync: AtomicBool::new(false),
            clean_crash_step: AtomicU64::new(0),
        }
    }
}

impl Faults {
    /// After `bytes` more bytes, writes stop short and fail (a torn write).
    #[cfg(test)]
    pub(crate) fn fail_writes_after(&self, bytes: u64) {
        self.write_budget_bytes.store(bytes, Ordering::SeqCst);
    }

    #[cfg(test)]
    pub(crate) fn fail_syncs(&self, fail: bool) {
        self.fail_sync.store(fail, Ordering::SeqCst);
    }

    #[cfg(test)]
    pub(crate) fn clear(&self) {
        self.write_budget_bytes.store(u64::MAX, Ordering::SeqCst);
        self.fail_sync.store(false, Ordering::SeqCst);
        self.clean_crash_step.store(0, Ordering::SeqCst);
    }

    /// Makes the next segment swap of the cleaner stop at `step` (see cleaner.rs).
    #[cfg(test)]
    pub(crate) fn crash_clean_at(&self, step: u64) {
        self.clean_crash_step.store(step, Ordering::SeqCst);
    }

    /// Errors if a test asked the cleaner to stop at `step`.
    pub(crate) fn clean_step(&self, step: u64) -> io::Result<()> {
        if self.clean_crash_step.load(Ordering::SeqCst) == step {
            return Err(injected("crash during segment swap"));
        }
        Ok(())
    }

    /// How many of `want` bytes may be written now.
    fn allow(&self, want: usize) -> usize {
        let budget = self.write_budget_bytes.load(Ordering::SeqCst);
        if budget == u64::MAX {
            return want;
        }
        let allowed = budget.min(want as u64);
        self.write_budget_bytes
            .store(budget - allowed, Ordering::SeqCst);
        allowed as usize
    }
}

fn injected(what: &str) -> io::Error {
    io::Error::other(format!("injected fault: {what}"))
}

/// One segment file (log, offset index or time index).
#[derive(Debug)]
pub(crate) struct DataFile {
    file: Arc<File>,
    path: PathBuf,
    faults: Arc<Faults>,
}

impl DataFile {
    /// Opens read-write, creating if missing; `truncate` empties an existing file.
    pub(crate) fn open(path: &Path, truncate: bool, faults: &Arc<Faults>) -> io::Result<DataFile> {
        let file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate)
            .open(path)?;
        Ok(DataFile {
            file: Arc::new(file),
            path: path.to_path_buf(),
            faults: Arc::clone(faults),
        })
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }

    /// The shared handle handed to readers (sendfile); stays valid after deletion.
    pub(crate) fn shared(&self) -> Arc<File> {
        Arc::clone(&self.file)
    }

    pub(crate) fn write_all_at(&self, buf: &[u8], position: u64) -> io::Result<()> {
        let allowed = self.faults.allow(buf.len());
        self.file.write_all_at(&buf[..allowed], position)?;
        if allowed < buf.len() {
            return Err(injected("short write"));
        }
        Ok(())
    }

    /// Writes `parts` back to back at `position` with pwritev, so a batch
    /// whose header the log patched is written as (patched header, producer's
    /// bytes) without first copying it into one buffer.
    pub(crate) fn write_all_vectored_at(&self, parts: &[&[u8]], position: u64) -> io::Result<()> {
        let total: usize = parts.iter().map(|p| p.len()).sum();
        let allowed = self.faults.allow(total);
        if allowed < total {
            let joined = parts.concat();
            self.file.write_all_at(&joined[..allowed], position)?;
            return Err(injected("short write"));
        }
        let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
        let mut rest = &mut slices[..];
        let mut at = position;
        while !rest.is_empty() {
            let count = rest.len().min(IOV_MAX_SLICES);
            let offset = i64::try_from(at).map_err(io::Error::other)?;
            let written = nix::sys::uio::pwritev(&*self.file, &rest[..count], offset)
                .map_err(io::Error::from)?;
            if written == 0 {
                return Err(io::ErrorKind::WriteZero.into());
            }
            at += written as u64;
            IoSlice::advance_slices(&mut rest, written);
        }
        Ok(())
    }

    pub(crate) fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        self.file.read_exact_at(buf, position)
    }

    pub(crate) fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub(crate) fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    /// Modification time in ms since the epoch (0 if unavailable).
    pub(crate) fn modified_ms(&self) -> i64 {
        self.file
            .metadata()
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
    }

    /// Sets the modification time (ms since the epoch). The cleaner keeps a rewritten
    /// segment's mtime, which drives tombstone expiry and time retention.
    pub(crate) fn set_modified_ms(&self, ms: i64) -> io::Result<()> {
        let ms = u64::try_from(ms).unwrap_or(0);
        self.file
            .set_modified(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms))
    }

    /// A handle that fsyncs this file without borrowing it.
    pub(crate) fn sync_handle(&self) -> SyncHandle {
        SyncHandle {
            file: Arc::clone(&self.file),
            faults: Arc::clone(&self.faults),
        }
    }
}

/// fsyncs one segment file without a borrow of its segment, so the log's
/// lock need not be held while a large rolled segment reaches the disk.
#[derive(Debug, Clone)]
pub(crate) struct SyncHandle {
    file: Arc<File>,
    faults: Arc<Faults>,
}

impl SyncHandle {
    pub(crate) fn sync(&self) -> io::Result<()> {
        if self.faults.fail_sync.load(Ordering::SeqCst) {
            return Err(injected("fsync"));
        }
        self.file.sync_data()
    }
}

/// Replaces `dir/name` with `bytes`: temp file, fsync, rename, fsync of the
/// directory, so a reader (or a restart after a crash) sees the old or the
/// new contents, never a torn file. For the log's small checkpoints.
pub(crate) fn write_file_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let f = File::create(&tmp)?;
        io::Write::write_all(&mut &f, bytes)?;
        f.sync_all()?;
    }
    std::fs::rename(&tmp, dir.join(name))?;
    sync_dir(dir)
}

/// fsync a directory so file creations/renames/deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}
