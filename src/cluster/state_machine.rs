//! The metadata state machine: applies committed entries to the working
//! [`MetadataImage`], publishes immutable copies to readers, and builds /
//! installs snapshots.
//!
//! Durability model: the state machine itself is *not* persisted on every
//! apply. Only snapshots are written (`snapshot.json`, temp + fsync + rename).
//! On open we restore the latest snapshot, and openraft re-applies the log
//! entries after it (up to the persisted committed index, then the rest once
//! this node is leader). That keeps apply cheap and makes the log the single
//! source of truth.

use std::io::Cursor;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use openraft::storage::RaftStateMachine;
use openraft::{
    EntryPayload, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StorageIOError, StoredMembership,
};
use serde::{Deserialize, Serialize};
use tokio::sync::watch;

use super::image::{apply_command, MetadataImage};
use super::log_store::{read_json_file, write_file_atomic};
use super::types::{
    CommandResult, LogEntry, MetadataLogId, MetadataMembership, MetadataSnapshotMeta,
    RaftStorageError, TypeConfig,
};
use super::ClusterError;

pub(crate) const SNAPSHOT_FILE: &str = "snapshot.json";

/// Everything the state machine knows; exactly what a snapshot contains.
#[derive(Serialize, Deserialize, Clone, Debug, Default)]
pub(crate) struct SmData {
    last_applied: Option<MetadataLogId>,
    last_membership: MetadataMembership,
    image: MetadataImage,
}

/// On-disk form of `snapshot.json`.
#[derive(Serialize, Deserialize)]
struct SnapshotFile {
    meta: MetadataSnapshotMeta,
    data: SmData,
}

/// The current snapshot, kept in memory so openraft can stream it to a
/// follower without re-reading the file.
struct CurrentSnapshot {
    meta: MetadataSnapshotMeta,
    /// `SmData` as JSON: the payload a follower receives.
    bytes: Vec<u8>,
}

/// State shared between the state machine and its snapshot builders (which
/// may run concurrently with applies).
struct Shared {
    dir: PathBuf,
    current: Mutex<Option<CurrentSnapshot>>,
    seq: AtomicU64,
}

impl Shared {
    /// Persists and installs `data` as the current snapshot unless a newer one
    /// is already current (a slow builder must not overwrite a snapshot
    /// installed from the leader meanwhile).
    fn store(&self, meta: &MetadataSnapshotMeta, data: &SmData) -> Result<Vec<u8>, std::io::Error> {
        let bytes = serde_json::to_vec(data).map_err(std::io::Error::other)?;
        // Hold the lock across the file write: it serialises writers of
        // snapshot.json (they share the temp file name).
        let mut current = self.current.lock().unwrap_or_else(|p| p.into_inner());
        let newer_exists = current
            .as_ref()
            .map(|c| c.meta.last_log_id > meta.last_log_id)
            .unwrap_or(false);
        if !newer_exists {
            let file = serde_json::to_vec(&SnapshotFile {
                meta: meta.clone(),
                data: data.clone(),
            })
            .map_err(std::io::Error::other)?;
            write_file_atomic(&self.dir, SNAPSHOT_FILE, &file)?;
            *current = Some(CurrentSnapshot {
                meta: meta.clone(),
                bytes: bytes.clone(),
            });
        }
        Ok(bytes)
    }
}

/// openraft state machine for cluster metadata.
pub struct StateMachineStore {
    data: SmData,
    shared: Arc<Shared>,
    publisher: watch::Sender<Arc<MetadataImage>>,
}

impl StateMachineStore {
    /// Restores the state machine from `dir/snapshot.json` if present.
    pub fn open(dir: &Path) -> Result<StateMachineStore, ClusterError> {
        let file: Option<SnapshotFile> = read_json_file(dir, SNAPSHOT_FILE)?;
        let (data, current) = match file {
            Some(f) => {
                f.data.image.check_consistency().map_err(|e| {
                    ClusterError::Corrupt(format!("{}: {e}", dir.join(SNAPSHOT_FILE).display()))
                })?;
                if f.data.last_applied != f.meta.last_log_id {
                    return Err(ClusterError::Corrupt(format!(
                        "{}: snapshot meta and data disagree on the last log id",
                        dir.join(SNAPSHOT_FILE).display()
                    )));
                }
                let bytes = serde_json::to_vec(&f.data)
                    .map_err(|e| ClusterError::Corrupt(format!("re-encoding snapshot: {e}")))?;
                (
                    f.data,
                    Some(CurrentSnapshot {
                        meta: f.meta,
                        bytes,
                    }),
                )
            }
            None => (SmData::default(), None),
        };
        let (publisher, _) = watch::channel(Arc::new(data.image.clone()));
        Ok(StateMachineStore {
            data,
            shared: Arc::new(Shared {
                dir: dir.to_path_buf(),
                current: Mutex::new(current),
                seq: AtomicU64::new(0),
            }),
            publisher,
        })
    }

    /// The channel the state machine publishes images on. `MetadataStore`
    /// keeps a clone to overlay the controller id.
    pub fn publisher(&self) -> watch::Sender<Arc<MetadataImage>> {
        self.publisher.clone()
    }

    /// Publishes the working image. `controller_id` is not state-machine
    /// state (it comes from Raft metrics), so the currently published value is
    /// carried over; `send_modify` makes the read-and-replace atomic with
    /// respect to the controller-id updater.
    fn publish(&self) {
        let image = &self.data.image;
        self.publisher.send_modify(|cur| {
            let mut next = image.clone();
            next.controller_id = cur.controller_id;
            *cur = Arc::new(next);
        });
    }
}

/// Builds a snapshot from a copy of the state taken when openraft asked for
/// the builder, so applies can continue while the file is written.
pub struct SnapshotBuilder {
    data: SmData,
    shared: Arc<Shared>,
}

impl RaftSnapshotBuilder<TypeConfig> for SnapshotBuilder {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, RaftStorageError> {
        let seq = self.shared.seq.fetch_add(1, Ordering::Relaxed);
        let snapshot_id = match &self.data.last_applied {
            Some(id) => format!("{}-{}-{}", id.leader_id.term, id.index, seq),
            None => format!("none-{seq}"),
        };
        let meta = SnapshotMeta {
            last_log_id: self.data.last_applied,
            last_membership: self.data.last_membership.clone(),
            snapshot_id,
        };
        let bytes = self
            .shared
            .store(&meta, &self.data)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        Ok(Snapshot {
            meta,
            snapshot: Box::new(Cursor::new(bytes)),
        })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = SnapshotBuilder;

    async fn applied_state(
        &mut self,
    ) -> Result<(Option<MetadataLogId>, MetadataMembership), RaftStorageError> {
        Ok((self.data.last_applied, self.data.last_membership.clone()))
    }

    /// Applies a batch and publishes once at the end: readers see the batch
    /// atomically, and the image is visible before openraft answers the
    /// proposer (it responds only after `apply` returns).
    async fn apply<I>(&mut self, entries: I) -> Result<Vec<CommandResult>, RaftStorageError>
    where
        I: IntoIterator<Item = LogEntry> + Send,
        I::IntoIter: Send,
    {
        let mut results = Vec::new();
        for entry in entries {
            let res = match entry.payload {
                EntryPayload::Blank => CommandResult::Ok,
                EntryPayload::Normal(ref cmd) => apply_command(&mut self.data.image, cmd),
                EntryPayload::Membership(ref m) => {
                    self.data.last_membership =
                        StoredMembership::new(Some(entry.log_id), m.clone());
                    CommandResult::Ok
                }
            };
            self.data.last_applied = Some(entry.log_id);
            self.data.image.last_applied_index = entry.log_id.index;
            results.push(res);
        }
        self.publish();
        Ok(results)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        SnapshotBuilder {
            data: self.data.clone(),
            shared: self.shared.clone(),
        }
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, RaftStorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(
        &mut self,
        meta: &MetadataSnapshotMeta,
        snapshot: Box<Cursor<Vec<u8>>>,
    ) -> Result<(), RaftStorageError> {
        let mut data: SmData = serde_json::from_slice(snapshot.get_ref())
            .map_err(|e| StorageIOError::read_snapshot(Some(meta.signature()), &e))?;
        data.image.check_consistency().map_err(|e| {
            StorageIOError::read_snapshot(Some(meta.signature()), &std::io::Error::other(e))
        })?;
        // The meta is authoritative for what the snapshot covers.
        data.last_applied = meta.last_log_id;
        data.last_membership = meta.last_membership.clone();
        data.image.last_applied_index = meta.last_log_id.map(|l| l.index).unwrap_or(0);
        self.shared
            .store(meta, &data)
            .map_err(|e| StorageIOError::write_snapshot(Some(meta.signature()), &e))?;
        self.data = data;
        self.publish();
        Ok(())
    }

    async fn get_current_snapshot(
        &mut self,
    ) -> Result<Option<Snapshot<TypeConfig>>, RaftStorageError> {
        let current = self
            .shared
            .current
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        Ok(current.as_ref().map(|c| Snapshot {
            meta: c.meta.clone(),
            snapshot: Box::new(Cursor::new(c.bytes.clone())),
        }))
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for SnapshotBuilder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SnapshotBuilder").finish_non_exhaustive()
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for StateMachineStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StateMachineStore").finish_non_exhaustive()
    }
}
