//! The file-system seam of everything gregor stores: partition logs (`log/`),
//! partition directories (`replica/`) and the metadata log
//! (`cluster/log_store.rs`, `cluster/state_machine.rs`).
//!
//! Every open, write, fsync, rename and delete of those files goes through
//! the functions here, so tests can see exactly what a power cut would keep
//! and make any call fail the way a sick disk does (short writes, EIO,
//! ENOSPC, EMFILE, a crash at a chosen point), as raft-engine's
//! `FileSystem` and failpoints allow. See [`sim`] for the test side: a model
//! of the disk that keeps only what was fsynced, directory entries included.
//!
//! In a non-test build the hooks compile to nothing: these functions are the
//! std calls they wrap. Reads of segment data for fetches (sendfile of an
//! `Arc<File>`) do not pass here: they are the network path, and a failing
//! read there is an ordinary IO error on one connection.

#[cfg(test)]
pub(crate) mod sim;
#[cfg(test)]
mod sim_tests;

use std::fs::{self, File, OpenOptions};
use std::io::{self, IoSlice};
use std::os::unix::fs::FileExt;
use std::path::Path;

/// Most iovecs one pwritev takes (Linux's IOV_MAX).
const IOV_MAX_SLICES: usize = 1024;

/// What a call is about to do, for the hooks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Op {
    Open,
    Read,
    Write,
    Sync,
    SyncDir,
    SetLen,
    Rename,
    Remove,
    CreateDir,
    ListDir,
    /// A named point inside a multi-step operation (see [`fail_point`]).
    #[cfg_attr(not(test), allow(dead_code))]
    Point,
}

/// How a file is opened.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// Read and write at positions; created if missing, emptied if `truncate`.
    ReadWrite { truncate: bool },
    /// Appends only (every write goes to the end); created if missing.
    Append,
}

#[cfg(test)]
use sim::{after_dir_sync, after_file_sync, before};

#[cfg(not(test))]
#[inline(always)]
fn before(_op: Op, _path: &Path, want: usize) -> io::Result<usize> {
    Ok(want)
}

#[cfg(not(test))]
#[inline(always)]
fn after_file_sync(_path: &Path, _file: &File) {}

#[cfg(not(test))]
#[inline(always)]
fn after_dir_sync(_path: &Path) {}

fn short_write() -> io::Error {
    io::Error::new(io::ErrorKind::WriteZero, "injected fault: short write")
}

pub(crate) fn open(path: &Path, mode: Mode) -> io::Result<File> {
    before(Op::Open, path, 0)?;
    let mut options = OpenOptions::new();
    match mode {
        Mode::ReadWrite { truncate } => options
            .read(true)
            .write(true)
            .create(true)
            .truncate(truncate),
        // Readable too, so the test disk model can read what an fsync made durable.
        Mode::Append => options.read(true).append(true).create(true),
    };
    options.open(path)
}

pub(crate) fn read(path: &Path) -> io::Result<Vec<u8>> {
    before(Op::Read, path, 0)?;
    fs::read(path)
}

pub(crate) fn read_to_string(path: &Path) -> io::Result<String> {
    before(Op::Read, path, 0)?;
    fs::read_to_string(path)
}

pub(crate) fn read_exact_at(
    file: &File,
    path: &Path,
    buf: &mut [u8],
    position: u64,
) -> io::Result<()> {
    before(Op::Read, path, 0)?;
    file.read_exact_at(buf, position)
}

pub(crate) fn write_all_at(file: &File, path: &Path, buf: &[u8], position: u64) -> io::Result<()> {
    let allowed = before(Op::Write, path, buf.len())?;
    file.write_all_at(&buf[..allowed], position)?;
    if allowed < buf.len() {
        return Err(short_write());
    }
    Ok(())
}

/// Writes `parts` back to back at `position` with pwritev (a patched batch
/// header and the producer's bytes without first joining them).
pub(crate) fn write_vectored_at(
    file: &File,
    path: &Path,
    parts: &[&[u8]],
    position: u64,
) -> io::Result<()> {
    let total: usize = parts.iter().map(|p| p.len()).sum();
    let allowed = before(Op::Write, path, total)?;
    if allowed < total {
        let joined = parts.concat();
        file.write_all_at(&joined[..allowed], position)?;
        return Err(short_write());
    }
    let mut slices: Vec<IoSlice<'_>> = parts.iter().map(|p| IoSlice::new(p)).collect();
    let mut rest = &mut slices[..];
    let mut at = position;
    while !rest.is_empty() {
        let count = rest.len().min(IOV_MAX_SLICES);
        let offset = i64::try_from(at).map_err(io::Error::other)?;
        let written =
            nix::sys::uio::pwritev(file, &rest[..count], offset).map_err(io::Error::from)?;
        if written == 0 {
            return Err(io::ErrorKind::WriteZero.into());
        }
        at += written as u64;
        IoSlice::advance_slices(&mut rest, written);
    }
    Ok(())
}

/// Appends `buf` to a file opened with [`Mode::Append`].
pub(crate) fn append(file: &File, path: &Path, buf: &[u8]) -> io::Result<()> {
    let allowed = before(Op::Write, path, buf.len())?;
    io::Write::write_all(&mut &*file, &buf[..allowed])?;
    if allowed < buf.len() {
        return Err(short_write());
    }
    Ok(())
}

/// fdatasync: the file's data and size reach the disk.
pub(crate) fn sync_data(file: &File, path: &Path) -> io::Result<()> {
    before(Op::Sync, path, 0)?;
    file.sync_data()?;
    after_file_sync(path, file);
    Ok(())
}

/// fsync a directory so creations, renames and deletions in it are durable.
pub(crate) fn sync_dir(dir: &Path) -> io::Result<()> {
    before(Op::SyncDir, dir, 0)?;
    File::open(dir)?.sync_all()?;
    after_dir_sync(dir);
    Ok(())
}

pub(crate) fn set_len(file: &File, path: &Path, len: u64) -> io::Result<()> {
    before(Op::SetLen, path, 0)?;
    file.set_len(len)
}

pub(crate) fn set_modified(
    file: &File,
    path: &Path,
    time: std::time::SystemTime,
) -> io::Result<()> {
    before(Op::SetLen, path, 0)?;
    file.set_modified(time)
}

pub(crate) fn rename(from: &Path, to: &Path) -> io::Result<()> {
    before(Op::Rename, from, 0)?;
    fs::rename(from, to)
}

pub(crate) fn remove_file(path: &Path) -> io::Result<()> {
    before(Op::Remove, path, 0)?;
    fs::remove_file(path)
}

pub(crate) fn remove_dir_all(path: &Path) -> io::Result<()> {
    before(Op::Remove, path, 0)?;
    fs::remove_dir_all(path)
}

pub(crate) fn create_dir_all(path: &Path) -> io::Result<()> {
    before(Op::CreateDir, path, 0)?;
    fs::create_dir_all(path)
}

/// Creates `path` and any missing parents, each made durable in its parent
/// directory: a directory created by the broker (the data dir, the metadata
/// dir) must not vanish in a power cut along with what was fsynced inside it.
pub(crate) fn create_dir_durable(path: &Path) -> io::Result<()> {
    if path.is_dir() {
        return Ok(());
    }
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        create_dir_durable(parent)?;
        create_dir_all(path)?;
        sync_dir(parent)
    } else {
        create_dir_all(path)
    }
}

pub(crate) fn read_dir(path: &Path) -> io::Result<fs::ReadDir> {
    before(Op::ListDir, path, 0)?;
    fs::read_dir(path)
}

/// A named step of a multi-step operation (a compaction's segment swap) at
/// which a test can make the operation stop as if the process died there.
pub(crate) fn fail_point(path: &Path, name: &'static str) -> io::Result<()> {
    let _ = name;
    #[cfg(test)]
    sim::point(path, name)?;
    #[cfg(not(test))]
    let _ = path;
    Ok(())
}

/// Replaces `dir/name` with `bytes` so that a reader, or a restart after a
/// crash at any point, sees the old or the new contents and never a torn
/// file: temp file, fsync, rename, fsync of the directory.
pub(crate) fn write_file_atomic(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let f = open(&tmp, Mode::ReadWrite { truncate: true })?;
        write_all_at(&f, &tmp, bytes, 0)?;
        sync_data(&f, &tmp)?;
    }
    rename(&tmp, &dir.join(name))?;
    sync_dir(dir)
}

/// Replaces `dir/name` by rename without any fsync: readers see the old or
/// the new contents, and after a crash possibly neither (an empty or missing
/// file), so only for hints the reader may ignore or rebuild.
pub(crate) fn write_file_replace(dir: &Path, name: &str, bytes: &[u8]) -> io::Result<()> {
    let tmp = dir.join(format!("{name}.tmp"));
    {
        let f = open(&tmp, Mode::ReadWrite { truncate: true })?;
        write_all_at(&f, &tmp, bytes, 0)?;
    }
    rename(&tmp, &dir.join(name))
}
