//! Throw-away directories for one fuzz input.
//!
//! The targets write a partition or metadata directory per input, thousands
//! of times a second, so they go to tmpfs (`/dev/shm`) when it exists: an
//! fsync there costs nothing, and the fuzzer measures the code, not the
//! disk. The directory is removed when the guard drops, also after a caught
//! error, so a long run does not fill the machine.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

static NEXT: AtomicU64 = AtomicU64::new(0);

/// A fresh, empty directory, deleted on drop.
pub(crate) struct Scratch {
    path: PathBuf,
}

impl Scratch {
    pub(crate) fn new(what: &str) -> Scratch {
        let shm = Path::new("/dev/shm");
        let root = if shm.is_dir() {
            shm.to_path_buf()
        } else {
            std::env::temp_dir()
        };
        let n = NEXT.fetch_add(1, Ordering::Relaxed);
        let path = root.join(format!("gregor-fuzz-{what}-{}-{n}", std::process::id()));
        // A leftover of an earlier process with the same pid.
        let _ = std::fs::remove_dir_all(&path);
        if let Err(e) = std::fs::create_dir_all(&path) {
            // The harness cannot run without it: this is not a finding.
            panic!("cannot create scratch directory {}: {e}", path.display());
        }
        Scratch { path }
    }

    pub(crate) fn path(&self) -> &Path {
        &self.path
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.path);
    }
}
