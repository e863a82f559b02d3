//! Cluster metadata: topics, partitions, topic ids and configs, broker
//! registrations and producer-id blocks, kept as a replicated state machine on
//! openraft.
//!
//! # What this module owns
//! - The metadata Raft group: its log, vote, committed index and snapshots
//!   under one directory (e.g. `<data>/__cluster_metadata`), see
//!   [`log_store`] and [`state_machine`] for the file formats.
//! - The [`MetadataCommand`] vocabulary and its deterministic semantics
//!   ([`image::apply_command`]): validation such as "topic already exists"
//!   happens while applying, so concurrent proposals are settled by log order.
//! - Publishing an immutable [`MetadataImage`] after every applied batch.
//!   Request handlers read `image()` / `subscribe()`; they never read the log.
//!
//! # What it never does
//! - Touch partition data (log segments, replicas' bytes): creating a topic
//!   here only records it; the storage layer reacts to the image.
//! - Validate config *values* or resolve broker defaults (e.g. a replication
//!   factor of -1): callers do that before proposing.
//! - Generate ids inside `apply`: anything random is chosen by the proposer and
//!   carried in the command, so replays are deterministic.
//! - Talk to peers: single-voter for now. Going multi-node means a real
//!   [`network::NetworkFactory`] and adding voters through openraft's
//!   membership API; storage, commands and the image stay as they are.

pub mod image;
pub mod log_store;
pub mod meta_properties;
pub mod network;
pub mod state_machine;
pub mod types;

#[cfg(test)]
mod storage_fault_tests;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;
use std::fs::{File, OpenOptions};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use openraft::error::{ClientWriteError, Fatal, RaftError};
use openraft::{BasicNode, Config, LogIdOptionExt, Raft, ServerState, SnapshotPolicy};
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use image::{BrokerRegistration, MetadataImage, PartitionImage, TopicImage};
pub use types::{CommandResult, MetadataCommand, MetadataRejection, TypeConfig};

use image::NO_CONTROLLER;
use log_store::LogStore;
use network::NetworkFactory;
use state_machine::StateMachineStore;

/// Name of the lock file that keeps two processes off one metadata dir.
const LOCK_FILE: &str = "LOCK";

/// Errors from the metadata layer. Validation failures of commands are *not*
/// errors: they come back as [`CommandResult::Rejected`].
#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("I/O error while {context}: {source}")]
    Io {
        context: String,
        #[source]
        source: std::io::Error,
    },
    /// On-disk state that a crash cannot explain (a bad CRC at the tail is a
    /// torn write and is repaired silently; this is everything else).
    #[error("corrupt cluster metadata: {0}")]
    Corrupt(String),
    #[error("invalid node id {0}: must be >= 0")]
    InvalidNodeId(i32),
    #[error("metadata directory {0} is locked by another MetadataStore")]
    Locked(PathBuf),
    /// The directory belongs to a different cluster than the configured one
    /// (Kafka's InconsistentClusterIdException).
    #[error("cluster id mismatch: stored '{stored}', configured '{configured}'")]
    ClusterIdMismatch { stored: String, configured: String },
    /// This node is not the Raft leader (multi-node only).
    #[error("not the metadata leader (leader: {leader_id:?})")]
    NotController { leader_id: Option<i32> },
    #[error("timed out: {0}")]
    Timeout(String),
    #[error("metadata store is shut down")]
    ShutDown,
    #[error("raft: {0}")]
    Raft(String),
}

impl ClusterError {
    pub(crate) fn io(context: impl Into<String>, source: std::io::Error) -> Self {
        ClusterError::Io {
            context: context.into(),
            source,
        }
    }
}

/// Tunables; the defaults are what the broker uses.
#[derive(Clone, Debug)]
pub struct MetadataOptions {
    /// Build a snapshot (and purge the log behind it) after this many applied
    /// entries. Bounds both the log size and the replay work at open.
    pub snapshot_every: u64,
    /// Give up on `open` if this node is not leader and caught up by then.
    pub open_timeout: Duration,
}

impl Default for MetadataOptions {
    fn default() -> Self {
        MetadataOptions {
            snapshot_every: 1000,
            open_timeout: Duration::from_secs(10),
        }
    }
}

struct Inner {
    node_id: i32,
    raft: Raft<TypeConfig>,
    image_rx: watch::Receiver<Arc<MetadataImage>>,
    controller_watcher: Mutex<Option<JoinHandle<()>>>,
    /// Held (flock'd) while open; dropped by `shutdown`.
    lock_file: Mutex<Option<File>>,
    open_duration: OnceLock<Duration>,
}

/// Handle to the metadata quorum. Cheap to clone; all clones share one Raft
/// node.
#[derive(Clone)]
pub struct MetadataStore {
    inner: Arc<Inner>,
}

impl MetadataStore {
    /// Opens (or creates) the Raft log/vote/snapshot under `dir`, starts a
    /// single-voter Raft for `node_id`, initializes membership on first start,
    /// and returns once this node is leader and all committed entries are
    /// applied.
    ///
    /// Fast by construction: the election is triggered immediately rather
    /// than waiting out an election timeout, and on restart openraft restores
    /// a node whose committed vote is its own straight to leader.
    ///
    /// `cluster_id` is used on first start if `Some`, else a random
    /// Kafka-style id (22-char base64url of a UUID) is chosen; either way it is
    /// persisted through a `SetClusterId` command. On restart a `Some` that
    /// differs from the stored id is an error: the directory belongs to
    /// another cluster.
    pub async fn open(
        dir: &Path,
        node_id: i32,
        cluster_id: Option<String>,
    ) -> Result<MetadataStore, ClusterError> {
        Self::open_with_options(dir, node_id, cluster_id, MetadataOptions::default()).await
    }

    /// [`open`](Self::open) with explicit tunables.
    pub async fn open_with_options(
        dir: &Path,
        node_id: i32,
        cluster_id: Option<String>,
        options: MetadataOptions,
    ) -> Result<MetadataStore, ClusterError> {
        let started = Instant::now();
        if node_id < 0 {
            return Err(ClusterError::InvalidNodeId(node_id));
        }
        crate::storage::create_dir_durable(dir)
            .map_err(|e| ClusterError::io(format!("creating {}", dir.display()), e))?;
        let lock_file = lock_dir(dir)?;

        let log_store = LogStore::open(dir)?;
        let sm = StateMachineStore::open(dir)?;
        let publisher = sm.publisher();
        let image_rx = publisher.subscribe();

        let config = Config {
            cluster_name: "gregor-metadata".to_string(),
            // Elections are triggered explicitly; the timeouts only matter
            // for a multi-node cluster losing its leader.
            heartbeat_interval: 250,
            election_timeout_min: 1000,
            election_timeout_max: 2000,
            snapshot_policy: SnapshotPolicy::LogsSinceLast(options.snapshot_every.max(1)),
            // Purge everything a snapshot covers: followers that fall behind
            // get the snapshot, which is small for metadata.
            max_in_snapshot_log_to_keep: 0,
            purge_batch_size: 1,
            ..Default::default()
        }
        .validate()
        .map_err(|e| ClusterError::Raft(format!("invalid raft config: {e}")))?;

        let raft_id = node_id as u64;
        let raft = Raft::new(raft_id, Arc::new(config), NetworkFactory, log_store, sm)
            .await
            .map_err(|e| ClusterError::Raft(format!("starting raft: {e}")))?;

        let store = MetadataStore {
            inner: Arc::new(Inner {
                node_id,
                raft: raft.clone(),
                image_rx,
                controller_watcher: Mutex::new(None),
                lock_file: Mutex::new(Some(lock_file)),
                open_duration: OnceLock::new(),
            }),
        };
        match store
            .become_leader(raft_id, options.open_timeout, &publisher)
            .await
        {
            Ok(()) => {}
            Err(e) => {
                let _ = store.shutdown().await;
                return Err(e);
            }
        }
        if let Err(e) = store.ensure_cluster_id(cluster_id).await {
            let _ = store.shutdown().await;
            return Err(e);
        }

        let elapsed = started.elapsed();
        tracing::info!(
            node_id,
            dir = %dir.display(),
            elapsed_us = elapsed.as_micros() as u64,
            "cluster metadata open"
        );
        let _ = store.inner.open_duration.set(elapsed);
        store.spawn_controller_watcher(publisher);
        Ok(store)
    }

    async fn become_leader(
        &self,
        raft_id: u64,
        timeout: Duration,
        publisher: &watch::Sender<Arc<MetadataImage>>,
    ) -> Result<(), ClusterError> {
        let raft = &self.inner.raft;
        let initialized = raft.is_initialized().await.map_err(fatal)?;
        if !initialized {
            let mut members = BTreeMap::new();
            members.insert(raft_id, BasicNode::default());
            // `initialize` appends the membership entry and starts an
            // election at once.
            raft.initialize(members)
                .await
                .map_err(|e| ClusterError::Raft(format!("initializing membership: {e}")))?;
        } else {
            // No-op if openraft already restored us as leader from a
            // committed vote; otherwise campaign now instead of waiting for
            // the election timeout.
            raft.trigger().elect().await.map_err(fatal)?;
        }
        let metrics = raft
            .wait(Some(timeout))
            .metrics(
                |m| {
                    m.state == ServerState::Leader
                        && m.current_leader == Some(raft_id)
                        && m.last_applied.index() >= m.last_log_index
                },
                "leader with all entries applied",
            )
            .await
            .map_err(|e| ClusterError::Timeout(format!("becoming metadata leader: {e}")))?;
        set_controller(publisher, metrics.current_leader);
        Ok(())
    }

    async fn ensure_cluster_id(&self, configured: Option<String>) -> Result<(), ClusterError> {
        let stored = self.image().cluster_id.clone();
        if stored.is_empty() {
            let cluster_id = configured.unwrap_or_else(random_cluster_id);
            match self
                .propose(MetadataCommand::SetClusterId { cluster_id })
                .await?
            {
                CommandResult::Ok => Ok(()),
                CommandResult::Rejected(r) => {
                    Err(ClusterError::Raft(format!("setting cluster id: {r}")))
                }
                other => Err(ClusterError::Raft(format!(
                    "unexpected answer to SetClusterId: {other:?}"
                ))),
            }
        } else {
            match configured {
                Some(configured) if configured != stored => {
                    Err(ClusterError::ClusterIdMismatch { stored, configured })
                }
                _ => Ok(()),
            }
        }
    }

    /// Keeps `MetadataImage::controller_id` equal to the current Raft leader.
    fn spawn_controller_watcher(&self, publisher: watch::Sender<Arc<MetadataImage>>) {
        let mut metrics = self.inner.raft.metrics();
        let handle = tokio::spawn(async move {
            loop {
                let leader = metrics.borrow_and_update().current_leader;
                set_controller(&publisher, leader);
                if metrics.changed().await.is_err() {
                    break;
                }
            }
        });
        let mut slot = self
            .inner
            .controller_watcher
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        *slot = Some(handle);
    }

    /// Applies one command through Raft and returns the state machine's
    /// deterministic answer. When this returns, `image()` already reflects
    /// the command.
    pub async fn propose(&self, cmd: MetadataCommand) -> Result<CommandResult, ClusterError> {
        match self.inner.raft.client_write(cmd).await {
            Ok(resp) => Ok(resp.data),
            Err(RaftError::APIError(ClientWriteError::ForwardToLeader(f))) => {
                Err(ClusterError::NotController {
                    leader_id: f.leader_id.and_then(|id| i32::try_from(id).ok()),
                })
            }
            Err(RaftError::APIError(e)) => Err(ClusterError::Raft(e.to_string())),
            Err(RaftError::Fatal(f)) => Err(fatal(f)),
        }
    }

    /// The latest published image. Cheap: an `Arc` clone.
    pub fn image(&self) -> Arc<MetadataImage> {
        self.inner.image_rx.borrow().clone()
    }

    /// A receiver that is notified on every new image.
    pub fn subscribe(&self) -> watch::Receiver<Arc<MetadataImage>> {
        self.inner.image_rx.clone()
    }

    /// This node's broker / Raft id.
    pub fn node_id(&self) -> i32 {
        self.inner.node_id
    }

    /// How long `open` took (reported for the start-up latency budget).
    pub fn open_duration(&self) -> Duration {
        self.inner.open_duration.get().copied().unwrap_or_default()
    }

    /// Builds a snapshot now and waits until it exists and the log behind it
    /// is purged. Normally snapshots happen by policy; this is for tests and
    /// operator tooling.
    pub async fn snapshot_now(&self, timeout: Duration) -> Result<(), ClusterError> {
        let raft = &self.inner.raft;
        let applied = raft.metrics().borrow().last_applied;
        raft.trigger().snapshot().await.map_err(fatal)?;
        raft.wait(Some(timeout))
            .metrics(
                |m| m.snapshot >= applied && m.purged >= applied,
                "snapshot built and log purged",
            )
            .await
            .map_err(|e| ClusterError::Timeout(format!("waiting for snapshot: {e}")))?;
        Ok(())
    }

    /// Resolves with the reason once the Raft core has stopped on an error
    /// (a storage write that kept failing; see `log_store::with_retry`).
    /// After that this node can never change metadata again, so the broker
    /// must stop rather than look healthy. Never resolves on a clean
    /// shutdown.
    pub async fn wait_fatal(&self) -> String {
        let mut metrics = self.inner.raft.metrics();
        loop {
            if let Err(f) = &metrics.borrow_and_update().running_state {
                if !matches!(f, Fatal::Stopped) {
                    return f.to_string();
                }
            }
            if metrics.changed().await.is_err() {
                return std::future::pending().await;
            }
        }
    }

    /// Raft metrics, for observability.
    pub fn raft_metrics(&self) -> openraft::RaftMetrics<u64, BasicNode> {
        self.inner.raft.metrics().borrow().clone()
    }

    /// Stops Raft and releases the directory lock. Idempotent. Other clones
    /// of the handle get `ShutDown` errors from `propose` afterwards; their
    /// last image stays readable.
    pub async fn shutdown(&self) -> Result<(), ClusterError> {
        let lock = self
            .inner
            .lock_file
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        let Some(lock) = lock else {
            return Ok(());
        };
        let watcher = self
            .inner
            .controller_watcher
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        if let Some(w) = watcher {
            w.abort();
        }
        let res = self
            .inner
            .raft
            .shutdown()
            .await
            .map_err(|e| ClusterError::Raft(format!("shutting down raft: {e}")));
        drop(lock);
        res
    }
}

impl std::fmt::Debug for MetadataStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let img = self.image();
        f.debug_struct("MetadataStore")
            .field("node_id", &self.inner.node_id)
            .field("cluster_id", &img.cluster_id)
            .field("last_applied_index", &img.last_applied_index)
            .finish_non_exhaustive()
    }
}

fn fatal(f: Fatal<u64>) -> ClusterError {
    match f {
        Fatal::Stopped => ClusterError::ShutDown,
        other => ClusterError::Raft(other.to_string()),
    }
}

/// Overlays the Raft leader onto the published image, only if it changed.
fn set_controller(publisher: &watch::Sender<Arc<MetadataImage>>, leader: Option<u64>) {
    let leader = leader
        .and_then(|l| i32::try_from(l).ok())
        .unwrap_or(NO_CONTROLLER);
    publisher.send_if_modified(|img| {
        if img.controller_id == leader {
            return false;
        }
        let mut next = (**img).clone();
        next.controller_id = leader;
        *img = Arc::new(next);
        true
    });
}

/// Takes an exclusive advisory lock on `dir/LOCK`: two Raft nodes writing one
/// log would corrupt it.
fn lock_dir(dir: &Path) -> Result<File, ClusterError> {
    let path = dir.join(LOCK_FILE);
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .map_err(|e| ClusterError::io(format!("opening {}", path.display()), e))?;
    match file.try_lock() {
        Ok(()) => Ok(file),
        Err(std::fs::TryLockError::WouldBlock) => Err(ClusterError::Locked(dir.to_path_buf())),
        Err(std::fs::TryLockError::Error(e)) => {
            Err(ClusterError::io(format!("locking {}", path.display()), e))
        }
    }
}

/// A Kafka-style cluster id: the 16 bytes of a random UUID in unpadded
/// base64url (22 characters), like `kafka-storage random-uuid`.
pub fn random_cluster_id() -> String {
    base64url_nopad(uuid::Uuid::new_v4().as_bytes())
}

fn base64url_nopad(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}
