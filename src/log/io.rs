//! Segment files over the storage seam (`crate::storage`). Every byte the log
//! writes goes through [`DataFile`], so tests can inject short writes, IO errors
//! and power cuts and check that a failed append leaves neither the files nor the
//! in-memory state half-updated.
//!
//! Positional IO (pread/pwrite) is used throughout: the writer always knows where the
//! next byte goes, and concurrent readers of the same `File` never share a cursor.

use std::fs::File;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use crate::storage::{self, Mode};
pub(crate) use crate::storage::{fail_point, sync_dir, write_file_atomic};

/// One segment file (log, offset index or time index).
#[derive(Debug)]
pub(crate) struct DataFile {
    file: Arc<File>,
    path: PathBuf,
}

impl DataFile {
    /// Opens read-write, creating if missing; `truncate` empties an existing file.
    pub(crate) fn open(path: &Path, truncate: bool) -> io::Result<DataFile> {
        let file = storage::open(path, Mode::ReadWrite { truncate })?;
        Ok(DataFile {
            file: Arc::new(file),
            path: path.to_path_buf(),
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
        storage::write_all_at(&self.file, &self.path, buf, position)
    }

    /// Writes `parts` back to back at `position` with pwritev, so a batch
    /// whose header the log patched is written as (patched header, producer's
    /// bytes) without first copying it into one buffer.
    pub(crate) fn write_all_vectored_at(&self, parts: &[&[u8]], position: u64) -> io::Result<()> {
        storage::write_vectored_at(&self.file, &self.path, parts, position)
    }

    pub(crate) fn read_exact_at(&self, buf: &mut [u8], position: u64) -> io::Result<()> {
        storage::read_exact_at(&self.file, &self.path, buf, position)
    }

    pub(crate) fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }

    pub(crate) fn set_len(&self, len: u64) -> io::Result<()> {
        storage::set_len(&self.file, &self.path, len)
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
        let time = std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms);
        storage::set_modified(&self.file, &self.path, time)
    }

    /// A handle that fsyncs this file without borrowing it.
    pub(crate) fn sync_handle(&self) -> SyncHandle {
        SyncHandle {
            file: Arc::clone(&self.file),
            path: self.path.clone(),
        }
    }
}

/// fsyncs one segment file without a borrow of its segment, so the log's
/// lock need not be held while a large rolled segment reaches the disk.
#[derive(Debug, Clone)]
pub(crate) struct SyncHandle {
    file: Arc<File>,
    path: PathBuf,
}

impl SyncHandle {
    pub(crate) fn sync(&self) -> io::Result<()> {
        storage::sync_data(&self.file, &self.path)
    }
}
