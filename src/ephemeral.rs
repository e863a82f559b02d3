//! Ephemeral mode: the broker keeps its data in a fresh directory that is
//! removed when it exits, so every start of a CI stack sees an empty broker.
//!
//! The directory lives *under* the configured data dir rather than in a
//! system temp dir because a `FROM scratch` image has no `/tmp`, and the data
//! volume is the one place the unprivileged broker user may write. A broker
//! killed with SIGKILL cannot clean up, so each start also removes the
//! ephemeral directories of earlier runs, except those another live process
//! still holds (an advisory lock on a file inside each one tells them apart).

use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};

/// Prefix of the per-run directories inside the data dir.
const DIR_PREFIX: &str = ".ephemeral-";
/// Held (locked) for the life of the run that owns the directory.
const LOCK_FILE: &str = ".owner.lock";

/// An ephemeral data directory; dropping it removes the directory.
#[derive(Debug)]
pub struct EphemeralDir {
    path: PathBuf,
    /// Keeps the advisory lock until the directory is gone.
    _lock: File,
}

impl EphemeralDir {
    /// Creates a fresh run directory under `parent` (created if missing) after
    /// removing the unlocked leftovers of earlier runs.
    pub fn create(parent: &Path) -> std::io::Result<EphemeralDir> {
        std::fs::create_dir_all(parent)?;
        remove_leftovers(parent);
        let path = parent.join(format!("{DIR_PREFIX}{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir(&path)?;
        let lock = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(path.join(LOCK_FILE))?;
        lock.try_lock().map_err(std::io::Error::other)?;
        Ok(EphemeralDir { path, _lock: lock })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for EphemeralDir {
    fn drop(&mut self) {
        if let Err(e) = std::fs::remove_dir_all(&self.path) {
            tracing::warn!(dir = %self.path.display(), error = %e, "could not remove the ephemeral data dir");
        }
    }
}

/// Removes `parent/.ephemeral-*` directories whose lock nobody holds.
fn remove_leftovers(parent: &Path) {
    let Ok(entries) = std::fs::read_dir(parent) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if !name.to_string_lossy().starts_with(DIR_PREFIX) {
            continue;
        }
        let dir = entry.path();
        let held_elsewhere = match File::open(dir.join(LOCK_FILE)) {
            Ok(f) => f.try_lock().is_err(),
            // No lock file: a run that died between mkdir and lock.
            Err(_) => false,
        };
        if held_elsewhere {
            continue;
        }
        tracing::info!(dir = %dir.display(), "removing the ephemeral data dir of an earlier run");
        if let Err(e) = std::fs::remove_dir_all(&dir) {
            tracing::warn!(dir = %dir.display(), error = %e, "could not remove an old ephemeral data dir");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dir_is_removed_on_drop_and_leftovers_on_next_start() {
        let parent = tempfile::tempdir().unwrap();
        let first = EphemeralDir::create(parent.path()).unwrap();
        std::fs::write(first.path().join("data"), b"x").unwrap();
        let first_path = first.path().to_path_buf();
        // A second live run leaves the first (still locked) alone.
        let second = EphemeralDir::create(parent.path()).unwrap();
        assert!(first_path.exists());
        drop(first);
        assert!(!first_path.exists());
        // Simulate a SIGKILLed run: its directory stays, unlocked.
        let stale = parent.path().join(format!("{DIR_PREFIX}stale"));
        std::fs::create_dir(&stale).unwrap();
        std::fs::write(stale.join("segment"), b"old").unwrap();
        let third = EphemeralDir::create(parent.path()).unwrap();
        assert!(!stale.exists());
        assert!(second.path().exists() && third.path().exists());
    }
}
