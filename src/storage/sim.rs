//! The test side of the storage seam: a model of a disk under one test
//! directory that remembers only what was made durable, and a fault plan.
//!
//! Durability follows the weakest reading of POSIX (what LazyFS simulates):
//! a file's contents survive a power cut as of its last fsync/fdatasync; a
//! directory's entries (creations, renames, deletions) as of the last fsync
//! of that directory; nothing else. A file whose name became durable but
//! whose data never was comes back empty. Contents are keyed by inode, so a
//! file renamed after its fsync keeps them under the new name once the
//! directory is synced.
//!
//! Each [`Disk`] is registered for a root directory; only calls on paths
//! under it are seen, so tests running in parallel do not disturb each other.

use std::collections::{BTreeMap, HashMap};
use std::ffi::OsString;
use std::fs::{self, File};
use std::io;
use std::os::unix::fs::{DirEntryExt, FileExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use nix::errno::Errno;

use super::Op;

static DISKS: Mutex<Vec<Arc<Disk>>> = Mutex::new(Vec::new());

/// What an injected fault does.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fault {
    /// The call fails with this errno.
    Errno(Errno),
    /// A write stores only its first `bytes` bytes, then fails.
    ShortWrite { bytes: usize },
    /// The power goes: this and every later call fails until [`Disk::restart`].
    Crash,
}

/// A fault for calls matching `op`, `path_contains` and (for [`Op::Point`])
/// `point`: the first `skip` matches pass, the next `times` fail.
#[derive(Debug, Clone)]
pub(crate) struct Rule {
    op: Option<Op>,
    path_contains: String,
    point: Option<&'static str>,
    skip: u64,
    times: u64,
    fault: Fault,
}

impl Rule {
    /// Calls of `op` (any path) fail once with `fault`.
    pub(crate) fn on(op: Op, fault: Fault) -> Rule {
        Rule {
            op: Some(op),
            path_contains: String::new(),
            point: None,
            skip: 0,
            times: 1,
            fault,
        }
    }

    /// Any call fails once with `fault`.
    pub(crate) fn any(fault: Fault) -> Rule {
        Rule {
            op: None,
            ..Rule::on(Op::Open, fault)
        }
    }

    /// The named [`super::fail_point`] stops as if the process died there.
    pub(crate) fn at_point(name: &'static str) -> Rule {
        Rule {
            point: Some(name),
            ..Rule::on(Op::Point, Fault::Errno(Errno::EIO))
        }
    }

    pub(crate) fn path(mut self, contains: &str) -> Rule {
        self.path_contains = contains.to_string();
        self
    }

    pub(crate) fn skip(mut self, n: u64) -> Rule {
        self.skip = n;
        self
    }

    pub(crate) fn times(mut self, n: u64) -> Rule {
        self.times = n;
        self
    }

    fn matches(&self, op: Op, path: &Path, point: Option<&str>) -> bool {
        self.op.is_none_or(|o| o == op)
            && (self.point.is_none() || self.point == point)
            && path.to_string_lossy().contains(&self.path_contains)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    File,
    Dir,
}

#[derive(Debug, Default)]
struct State {
    rules: Vec<Rule>,
    crashed: bool,
    /// Calls seen since the last (re)start.
    ops: u64,
    /// The power goes at this call (1-based), if set.
    crash_at_op: Option<u64>,
    /// Bytes writes may still store before they tear, if limited.
    write_budget_bytes: Option<u64>,
    /// Durable contents by inode.
    files: HashMap<u64, Vec<u8>>,
    /// Durable entries of each directory, by the directory's inode.
    dirs: HashMap<u64, BTreeMap<OsString, (u64, Kind)>>,
    root_ino: u64,
}

/// A simulated disk under one directory (see the module docs).
#[derive(Debug)]
pub(crate) struct Disk {
    root: PathBuf,
    state: Mutex<State>,
}

/// Keeps a [`Disk`] registered; unregisters it on drop.
#[derive(Debug)]
pub(crate) struct Mounted(Arc<Disk>);

impl std::ops::Deref for Mounted {
    type Target = Disk;
    fn deref(&self) -> &Disk {
        &self.0
    }
}

impl Drop for Mounted {
    fn drop(&mut self) {
        registry().retain(|d| !Arc::ptr_eq(d, &self.0));
    }
}

fn registry() -> MutexGuard<'static, Vec<Arc<Disk>>> {
    DISKS.lock().unwrap_or_else(|p| p.into_inner())
}

fn disk_for(path: &Path) -> Option<Arc<Disk>> {
    registry()
        .iter()
        .find(|d| path.starts_with(&d.root))
        .cloned()
}

fn eio(what: &str) -> io::Error {
    io::Error::new(io::ErrorKind::Other, format!("injected fault: {what}"))
}

impl Disk {
    /// Starts modelling `root` (which must exist): everything under it now
    /// counts as durable.
    pub(crate) fn mount(root: &Path) -> Mounted {
        let disk = Arc::new(Disk {
            root: root.canonicalize().expect("disk root exists"),
            state: Mutex::new(State::default()),
        });
        disk.baseline();
        registry().push(Arc::clone(&disk));
        Mounted(disk)
    }

    /// The root as registered (canonical): build paths from this one.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub(crate) fn add_rule(&self, rule: Rule) {
        self.lock().rules.push(rule);
    }

    /// Writes tear after `bytes` more bytes (and every later write fails).
    pub(crate) fn fail_writes_after(&self, bytes: u64) {
        self.lock().write_budget_bytes = Some(bytes);
    }

    pub(crate) fn clear_faults(&self) {
        let mut st = self.lock();
        st.rules.clear();
        st.write_budget_bytes = None;
    }

    /// The power goes at the `n`th call from now (1 = the next one).
    pub(crate) fn crash_after_ops(&self, n: u64) {
        let mut st = self.lock();
        st.crash_at_op = Some(st.ops + n.max(1));
    }

    /// The power goes now.
    pub(crate) fn power_cut(&self) {
        self.lock().crashed = true;
    }

    pub(crate) fn crashed(&self) -> bool {
        self.lock().crashed
    }

    /// Power comes back: the tree under the root becomes exactly what was
    /// durable, faults are cleared, and that state is the new baseline.
    /// Everything that used the files must have been dropped first.
    pub(crate) fn restart(&self) {
        {
            let st = self.lock();
            for entry in fs::read_dir(&self.root).expect("list disk root") {
                let path = entry.expect("entry").path();
                if path.is_dir() {
                    fs::remove_dir_all(&path).expect("clear dir");
                } else {
                    fs::remove_file(&path).expect("clear file");
                }
            }
            materialize(&st, &self.root, st.root_ino);
        }
        self.baseline();
    }

    fn baseline(&self) {
        let mut st = self.lock();
        let (rules_kept, root) = (Vec::new(), self.root.clone());
        *st = State {
            rules: rules_kept,
            ..State::default()
        };
        st.root_ino = fs::metadata(&root).expect("root").ino();
        snapshot_tree(&mut st, &root);
    }

    fn before(&self, op: Op, path: &Path, want: usize, point: Option<&str>) -> io::Result<usize> {
        let mut st = self.lock();
        if st.crashed {
            return Err(eio("the power is off"));
        }
        st.ops += 1;
        if st.crash_at_op == Some(st.ops) {
            st.crashed = true;
            return Err(eio("power cut"));
        }
        let mut allowed = want;
        if op == Op::Write {
            if let Some(budget) = st.write_budget_bytes.as_mut() {
                let n = (*budget).min(want as u64);
                *budget -= n;
                allowed = n as usize;
            }
        }
        let mut fault = None;
        for rule in st.rules.iter_mut() {
            if rule.times == 0 || !rule.matches(op, path, point) {
                continue;
            }
            if rule.skip > 0 {
                rule.skip -= 1;
                continue;
            }
            rule.times -= 1;
            fault = Some(rule.fault.clone());
            break;
        }
        match fault {
            None => Ok(allowed),
            Some(Fault::Errno(e)) => Err(io::Error::from_raw_os_error(e as i32)),
            Some(Fault::ShortWrite { bytes }) if op == Op::Write => Ok(bytes.min(allowed)),
            Some(Fault::ShortWrite { .. }) => Err(eio("short write on a non-write")),
            Some(Fault::Crash) => {
                st.crashed = true;
                Err(eio("power cut"))
            }
        }
    }

    fn file_synced(&self, file: &File) {
        let Ok(content) = read_all(file) else { return };
        let Ok(meta) = file.metadata() else { return };
        let mut st = self.lock();
        if !st.crashed {
            st.files.insert(meta.ino(), content);
        }
    }

    fn dir_synced(&self, dir: &Path) {
        let Ok(listing) = list(dir) else { return };
        let Ok(meta) = fs::metadata(dir) else { return };
        let mut st = self.lock();
        if !st.crashed {
            st.dirs.insert(meta.ino(), listing);
        }
    }
}

fn read_all(file: &File) -> io::Result<Vec<u8>> {
    let len = usize::try_from(file.metadata()?.len()).map_err(io::Error::other)?;
    let mut buf = vec![0u8; len];
    file.read_exact_at(&mut buf, 0)?;
    Ok(buf)
}

fn list(dir: &Path) -> io::Result<BTreeMap<OsString, (u64, Kind)>> {
    let mut out = BTreeMap::new();
    for entry in fs::read_dir(dir)? {
        let entry = entry?;
        let kind = if entry.file_type()?.is_dir() {
            Kind::Dir
        } else {
            Kind::File
        };
        out.insert(entry.file_name(), (entry.ino(), kind));
    }
    Ok(out)
}

fn snapshot_tree(st: &mut State, dir: &Path) {
    let listing = list(dir).expect("list");
    for (name, (ino, kind)) in &listing {
        let path = dir.join(name);
        match kind {
            Kind::Dir => snapshot_tree(st, &path),
            Kind::File => {
                let content = File::open(&path)
                    .and_then(|f| read_all(&f))
                    .unwrap_or_default();
                st.files.insert(*ino, content);
            }
        }
    }
    let ino = fs::metadata(dir).expect("dir").ino();
    st.dirs.insert(ino, listing);
}

fn materialize(st: &State, dir: &Path, ino: u64) {
    let Some(listing) = st.dirs.get(&ino) else {
        return;
    };
    for (name, (child, kind)) in listing {
        let path = dir.join(name);
        match kind {
            Kind::Dir => {
                fs::create_dir(&path).expect("recreate dir");
                materialize(st, &path, *child);
            }
            Kind::File => {
                let content = st.files.get(child).map(Vec::as_slice).unwrap_or_default();
                fs::write(&path, content).expect("recreate file");
            }
        }
    }
}

pub(super) fn before(op: Op, path: &Path, want: usize) -> io::Result<usize> {
    match disk_for(path) {
        Some(disk) => disk.before(op, path, want, None),
        None => Ok(want),
    }
}

pub(super) fn point(path: &Path, name: &str) -> io::Result<()> {
    match disk_for(path) {
        Some(disk) => disk.before(Op::Point, path, 0, Some(name)).map(|_| ()),
        None => Ok(()),
    }
}

pub(super) fn after_file_sync(path: &Path, file: &File) {
    if let Some(disk) = disk_for(path) {
        disk.file_synced(file);
    }
}

pub(super) fn after_dir_sync(path: &Path) {
    if let Some(disk) = disk_for(path) {
        disk.dir_synced(path);
    }
}
