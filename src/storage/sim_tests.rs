//! The disk model itself: what survives a power cut.

use std::fs;

use nix::errno::Errno;

use super::sim::{Disk, Fault, Rule};
use super::{append, open, rename, sync_data, sync_dir, write_all_at, write_file_atomic, Mode, Op};

fn mounted() -> (tempfile::TempDir, super::sim::Mounted) {
    let dir = tempfile::tempdir().unwrap();
    let disk = Disk::mount(dir.path());
    (dir, disk)
}

#[test]
fn unsynced_data_and_unsynced_names_are_lost() {
    let (_dir, disk) = mounted();
    let root = disk.root().to_path_buf();
    let a = root.join("a");
    let f = open(&a, Mode::ReadWrite { truncate: false }).unwrap();
    write_all_at(&f, &a, b"hello", 0).unwrap();
    sync_data(&f, &a).unwrap();
    // The file's data is durable but its name is not: the directory was never synced.
    disk.power_cut();
    drop(f);
    disk.restart();
    assert!(!a.exists());
}

#[test]
fn synced_file_and_directory_survive_but_later_writes_do_not() {
    let (_dir, disk) = mounted();
    let root = disk.root().to_path_buf();
    let a = root.join("a");
    let f = open(&a, Mode::Append).unwrap();
    append(&f, &a, b"one;").unwrap();
    sync_data(&f, &a).unwrap();
    sync_dir(&root).unwrap();
    append(&f, &a, b"two;").unwrap();
    disk.power_cut();
    assert!(
        append(&f, &a, b"three;").is_err(),
        "no IO once the power is off"
    );
    drop(f);
    disk.restart();
    assert_eq!(fs::read(&a).unwrap(), b"one;");
}

#[test]
fn a_durable_name_without_durable_data_comes_back_empty() {
    let (_dir, disk) = mounted();
    let root = disk.root().to_path_buf();
    let a = root.join("a");
    let f = open(&a, Mode::ReadWrite { truncate: false }).unwrap();
    write_all_at(&f, &a, b"never synced", 0).unwrap();
    sync_dir(&root).unwrap();
    disk.power_cut();
    drop(f);
    disk.restart();
    assert_eq!(fs::read(&a).unwrap(), b"");
}

#[test]
fn atomic_replace_gives_old_or_new_never_torn() {
    let (_dir, disk) = mounted();
    let root = disk.root().to_path_buf();
    write_file_atomic(&root, "cp", b"old").unwrap();
    // Renamed but the directory not yet synced: the old contents come back.
    let tmp = root.join("cp.tmp");
    let f = open(&tmp, Mode::ReadWrite { truncate: true }).unwrap();
    write_all_at(&f, &tmp, b"new", 0).unwrap();
    sync_data(&f, &tmp).unwrap();
    rename(&tmp, &root.join("cp")).unwrap();
    disk.power_cut();
    drop(f);
    disk.restart();
    assert_eq!(fs::read(root.join("cp")).unwrap(), b"old");
    write_file_atomic(&root, "cp", b"new").unwrap();
    disk.power_cut();
    disk.restart();
    assert_eq!(fs::read(root.join("cp")).unwrap(), b"new");
}

#[test]
fn new_directories_need_their_parent_synced() {
    let (_dir, disk) = mounted();
    let root = disk.root().to_path_buf();
    let sub = root.join("p-0");
    super::create_dir_all(&sub).unwrap();
    write_file_atomic(&sub, "m", b"x").unwrap();
    disk.power_cut();
    disk.restart();
    assert!(!sub.exists(), "the parent was never synced");
    super::create_dir_all(&sub).unwrap();
    write_file_atomic(&sub, "m", b"x").unwrap();
    sync_dir(&root).unwrap();
    disk.power_cut();
    disk.restart();
    assert_eq!(fs::read(sub.join("m")).unwrap(), b"x");
}

#[test]
fn rules_inject_errors_short_writes_and_crashes() {
    let (_dir, disk) = mounted();
    let root = disk.root().to_path_buf();
    let a = root.join("a");
    disk.add_rule(Rule::on(Op::Open, Fault::Errno(Errno::EMFILE)).path("/a"));
    let err = open(&a, Mode::Append).unwrap_err();
    assert_eq!(err.raw_os_error(), Some(Errno::EMFILE as i32));
    let f = open(&a, Mode::Append).unwrap();
    disk.add_rule(Rule::on(Op::Write, Fault::ShortWrite { bytes: 2 }).skip(1));
    append(&f, &a, b"full").unwrap();
    assert!(append(&f, &a, b"torn").is_err());
    assert_eq!(fs::read(&a).unwrap(), b"fullto");
    disk.add_rule(Rule::on(Op::Sync, Fault::Errno(Errno::EIO)).times(2));
    assert!(sync_data(&f, &a).is_err());
    assert!(sync_data(&f, &a).is_err());
    sync_data(&f, &a).unwrap();
    disk.crash_after_ops(2);
    append(&f, &a, b"!").unwrap();
    assert!(append(&f, &a, b"?").is_err());
    assert!(disk.crashed());
    // Paths outside the disk are not affected.
    let other = tempfile::tempdir().unwrap();
    let b = other.path().join("b");
    let g = open(&b, Mode::Append).unwrap();
    append(&g, &b, b"fine").unwrap();
}
