//! Partition directories and their `partition.metadata` markers.
//!
//! The marker names the topic ID a directory belongs to, so a directory left
//! by a deleted topic is never served as the data of a new topic with the
//! same name. What this file must never do is delete data on the strength of
//! a file that is missing, empty or unreadable: after a power cut any
//! unsynced file can come back in that state, and a wrong guess here would
//! delete fsynced segments. So:
//!
//! - the marker is written durably (temp file, fsync, rename, fsync of the
//!   partition directory, then of the data directory that holds the new
//!   directory's entry) *before* the log is opened, hence before any record
//!   can be acknowledged into it;
//! - a directory is deleted only after it was renamed to `<dir>.<id>-delete`,
//!   which happens when the durable metadata log dropped its topic while this
//!   broker ran (Kafka's rename-then-delete), so the decision itself is what
//!   survives a crash;
//! - a directory whose marker names a topic ID the metadata image does not
//!   know is renamed to `<dir>.<id>-stray` (as Kafka 3.7+ does with stray
//!   logs) and reported, never deleted;
//! - a directory holding segment data with a missing or unreadable marker
//!   stops the start with an error naming the path: only an operator can say
//!   whose data it is.

use std::io;
use std::path::{Path, PathBuf};

use uuid::Uuid;

use super::ReplicaError;
use crate::storage::{self, sync_dir, write_file_atomic};

/// File in each partition directory naming the topic ID it belongs to.
pub(crate) const PARTITION_METADATA_FILE: &str = "partition.metadata";
/// Suffix of a directory whose deletion was decided (Kafka's `-delete`).
pub(crate) const DELETE_SUFFIX: &str = "-delete";
/// Suffix of a directory of a topic the metadata does not know (Kafka's `-stray`).
pub(crate) const STRAY_SUFFIX: &str = "-stray";
/// Suffix of segment data files.
const LOG_FILE_SUFFIX: &str = ".log";

/// What a directory's marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Marker {
    /// No marker file.
    Missing,
    Topic(Uuid),
    /// Present but empty, garbled or unreadable (the reason says which).
    Unreadable(String),
}

fn marker_text(topic_id: Uuid) -> String {
    format!("version: 0\ntopic_id: {topic_id}\n")
}

pub(crate) fn read_marker(dir: &Path) -> Marker {
    let path = dir.join(PARTITION_METADATA_FILE);
    let text = match storage::read_to_string(&path) {
        Ok(text) => text,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Marker::Missing,
        Err(e) => return Marker::Unreadable(e.to_string()),
    };
    let mut version = None;
    let mut id = None;
    for line in text.lines() {
        if let Some(v) = line.strip_prefix("version: ") {
            version = Some(v.trim().to_string());
        } else if let Some(v) = line.strip_prefix("topic_id: ") {
            id = Uuid::parse_str(v.trim()).ok();
        }
    }
    match (version.as_deref(), id) {
        (Some("0"), Some(id)) => Marker::Topic(id),
        _ if text.is_empty() => Marker::Unreadable("the file is empty".into()),
        _ => Marker::Unreadable(format!("unexpected contents ({} bytes)", text.len())),
    }
}

/// Whether `dir` holds any non-empty segment data file.
fn has_segment_data(dir: &Path) -> io::Result<bool> {
    for entry in storage::read_dir(dir)? {
        let entry = entry?;
        let is_log = entry
            .file_name()
            .to_str()
            .is_some_and(|n| n.ends_with(LOG_FILE_SUFFIX));
        if is_log && entry.metadata()?.len() > 0 {
            return Ok(true);
        }
    }
    Ok(false)
}

fn dir_error(path: &Path) -> impl FnOnce(io::Error) -> ReplicaError + '_ {
    move |source| ReplicaError::Dir {
        path: path.to_path_buf(),
        source,
    }
}

/// Makes sure `dir` (under `data_dir`) exists and belongs to `topic_id`,
/// with its marker durable, before its log is opened.
pub(crate) fn prepare_dir(data_dir: &Path, dir: &Path, topic_id: Uuid) -> Result<(), ReplicaError> {
    if dir.exists() {
        match read_marker(dir) {
            Marker::Topic(id) if id == topic_id => return Ok(()),
            Marker::Topic(other) => {
                // Only reachable if the startup sweep missed it: keep the data.
                move_aside(data_dir, dir, other, STRAY_SUFFIX)?;
            }
            Marker::Missing | Marker::Unreadable(_)
                if !has_segment_data(dir).map_err(dir_error(dir))? =>
            {
                // Nothing acknowledged can live here (the marker is durable
                // before the log opens): a crash during creation.
                tracing::warn!(dir = %dir.display(), "partition directory without a readable marker and without data; taking it over");
            }
            Marker::Missing => {
                return Err(ReplicaError::Marker {
                    path: dir.join(PARTITION_METADATA_FILE),
                    reason: "missing, but the directory holds segment data".into(),
                    topic_id,
                })
            }
            Marker::Unreadable(reason) => {
                return Err(ReplicaError::Marker {
                    path: dir.join(PARTITION_METADATA_FILE),
                    reason,
                    topic_id,
                })
            }
        }
    }
    let created = !dir.exists();
    storage::create_dir_all(dir).map_err(dir_error(dir))?;
    write_file_atomic(
        dir,
        PARTITION_METADATA_FILE,
        marker_text(topic_id).as_bytes(),
    )
    .map_err(dir_error(dir))?;
    if created {
        sync_dir(data_dir).map_err(dir_error(data_dir))?;
    }
    Ok(())
}

/// Renames `dir` to `<dir>.<id><suffix>` (a fresh random id keeps repeated
/// moves of one name apart) and makes the rename durable.
fn move_aside(
    data_dir: &Path,
    dir: &Path,
    topic_id: Uuid,
    suffix: &str,
) -> Result<PathBuf, ReplicaError> {
    let name = dir
        .file_name()
        .and_then(|n| n.to_str())
        .unwrap_or("partition");
    let target = data_dir.join(format!("{name}.{}{suffix}", Uuid::new_v4().simple()));
    storage::rename(dir, &target).map_err(dir_error(dir))?;
    sync_dir(data_dir).map_err(dir_error(data_dir))?;
    if suffix == STRAY_SUFFIX {
        tracing::error!(dir = %dir.display(), moved_to = %target.display(), topic_id = %topic_id,
            "partition directory of a topic the metadata does not know: moved aside, not deleted; remove it by hand once you know it is not needed");
    }
    Ok(target)
}

/// Deletes a partition directory whose topic the metadata log dropped: the
/// rename to `-delete` first, so a crash midway finishes the deletion at the
/// next start instead of leaving a half-deleted partition.
pub(crate) fn delete_dir(data_dir: &Path, dir: &Path, topic_id: Uuid) {
    match move_aside(data_dir, dir, topic_id, DELETE_SUFFIX) {
        Ok(target) => remove_tree(&target),
        Err(ReplicaError::Dir { source, .. }) if source.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot delete partition directory")
        }
    }
}

fn remove_tree(dir: &Path) {
    if let Err(e) = storage::remove_dir_all(dir) {
        if e.kind() != io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove partition directory");
        }
    }
}

/// At start: finishes deletions that a crash interrupted (`-delete`
/// directories) and moves aside directories of topic IDs `known` rejects.
pub(crate) fn sweep(data_dir: &Path, known: impl Fn(&Uuid) -> bool) -> Result<(), ReplicaError> {
    let entries = match storage::read_dir(data_dir) {
        Ok(entries) => entries,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(dir_error(data_dir)(e)),
    };
    for entry in entries {
        let entry = entry.map_err(dir_error(data_dir))?;
        let dir = entry.path();
        let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
            continue;
        };
        if !entry.file_type().map_err(dir_error(&dir))?.is_dir() || name.ends_with(STRAY_SUFFIX) {
            continue;
        }
        if name.ends_with(DELETE_SUFFIX) {
            tracing::info!(dir = %dir.display(), "finishing the deletion of a deleted topic's partition");
            remove_tree(&dir);
            continue;
        }
        if let Marker::Topic(id) = read_marker(&dir) {
            if !known(&id) {
                move_aside(data_dir, &dir, id, STRAY_SUFFIX)?;
            }
        }
    }
    Ok(())
}

/// Whether `data_dir` holds any directory with a partition marker (used to
/// refuse a start whose metadata log is gone while partitions remain).
pub(crate) fn has_partition_dirs(data_dir: &Path) -> bool {
    let Ok(entries) = storage::read_dir(data_dir) else {
        return false;
    };
    entries.flatten().any(|e| {
        let name = e.file_name();
        let name = name.to_string_lossy();
        !name.ends_with(DELETE_SUFFIX)
            && !name.ends_with(STRAY_SUFFIX)
            && e.path().join(PARTITION_METADATA_FILE).exists()
    })
}

#[cfg(test)]
mod tests {
    use std::fs;

    use super::*;

    fn setup() -> (tempfile::TempDir, PathBuf) {
        let data = tempfile::tempdir().unwrap();
        let dir = data.path().join("t-0");
        (data, dir)
    }

    fn write_segment(dir: &Path) {
        fs::write(dir.join("00000000000000000000.log"), b"not empty").unwrap();
    }

    #[test]
    fn marker_round_trip() {
        let (data, dir) = setup();
        let id = Uuid::new_v4();
        prepare_dir(data.path(), &dir, id).unwrap();
        assert_eq!(read_marker(&dir), Marker::Topic(id));
        prepare_dir(data.path(), &dir, id).unwrap();
        assert!(!dir.join("partition.metadata.tmp").exists());
    }

    #[test]
    fn an_empty_marker_with_data_refuses_and_keeps_the_data() {
        let (data, dir) = setup();
        let id = Uuid::new_v4();
        prepare_dir(data.path(), &dir, id).unwrap();
        write_segment(&dir);
        fs::write(dir.join(PARTITION_METADATA_FILE), b"").unwrap();
        let err = prepare_dir(data.path(), &dir, id).unwrap_err();
        assert!(err.to_string().contains("partition.metadata"), "{err}");
        assert!(dir.join("00000000000000000000.log").exists());
        fs::remove_file(dir.join(PARTITION_METADATA_FILE)).unwrap();
        assert!(prepare_dir(data.path(), &dir, id).is_err());
        assert!(dir.join("00000000000000000000.log").exists());
    }

    #[test]
    fn an_empty_marker_without_data_is_taken_over() {
        let (data, dir) = setup();
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(PARTITION_METADATA_FILE), b"").unwrap();
        fs::write(dir.join("00000000000000000000.log"), b"").unwrap();
        let id = Uuid::new_v4();
        prepare_dir(data.path(), &dir, id).unwrap();
        assert_eq!(read_marker(&dir), Marker::Topic(id));
    }

    #[test]
    fn another_topics_directory_is_moved_aside_not_deleted() {
        let (data, dir) = setup();
        let old = Uuid::new_v4();
        prepare_dir(data.path(), &dir, old).unwrap();
        write_segment(&dir);
        let new = Uuid::new_v4();
        prepare_dir(data.path(), &dir, new).unwrap();
        assert_eq!(read_marker(&dir), Marker::Topic(new));
        let strays: Vec<_> = fs::read_dir(data.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().ends_with(STRAY_SUFFIX))
            .collect();
        assert_eq!(strays.len(), 1);
        assert!(strays[0].path().join("00000000000000000000.log").exists());
    }

    #[test]
    fn sweep_finishes_deletions_and_moves_unknown_topics_aside() {
        let data = tempfile::tempdir().unwrap();
        let known = Uuid::new_v4();
        let unknown = Uuid::new_v4();
        let keep = data.path().join("a-0");
        let stray = data.path().join("b-0");
        prepare_dir(data.path(), &keep, known).unwrap();
        prepare_dir(data.path(), &stray, unknown).unwrap();
        write_segment(&stray);
        let deleted = data
            .path()
            .join(format!("c-0.{}{DELETE_SUFFIX}", Uuid::new_v4().simple()));
        fs::create_dir_all(&deleted).unwrap();
        // Directories without a marker, and plain files, are not ours.
        fs::create_dir_all(data.path().join("__cluster_metadata")).unwrap();
        sweep(data.path(), |id| *id == known).unwrap();
        assert!(keep.exists());
        assert!(!stray.exists());
        assert!(!deleted.exists());
        assert!(data.path().join("__cluster_metadata").exists());
        let moved: Vec<_> = fs::read_dir(data.path())
            .unwrap()
            .flatten()
            .filter(|e| e.file_name().to_string_lossy().starts_with("b-0."))
            .collect();
        assert_eq!(moved.len(), 1);
        assert!(moved[0].path().join("00000000000000000000.log").exists());
        assert!(has_partition_dirs(data.path()));
    }

    #[test]
    fn delete_dir_removes_the_directory() {
        let (data, dir) = setup();
        let id = Uuid::new_v4();
        prepare_dir(data.path(), &dir, id).unwrap();
        write_segment(&dir);
        delete_dir(data.path(), &dir, id);
        assert_eq!(fs::read_dir(data.path()).unwrap().count(), 0);
    }
}
