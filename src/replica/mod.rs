//! Partition logs hosted by this broker, kept in line with the metadata image.
//!
//! The metadata image says which topics and partitions exist; this module
//! opens, re-configures and deletes the matching `PartitionLog`s on disk. It
//! never decides what exists: only `cluster` does.

pub(crate) mod dirs;
pub mod fd_budget;
#[cfg(test)]
mod power_tests;

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;
use uuid::Uuid;

use crate::cluster::{MetadataImage, TopicImage};
use crate::log::{LogConfig, LogError, PartitionLog};
use crate::topic_config;

#[derive(Debug, thiserror::Error)]
pub enum ReplicaError {
    #[error("partition {topic}-{partition}: {source}")]
    Log {
        topic: String,
        partition: i32,
        source: LogError,
    },
    #[error("partition directory {path}: {source}")]
    Dir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// A directory with segment data whose marker cannot be trusted: only an
    /// operator can say whose data it is, so nothing is opened or deleted.
    #[error(
        "{path}: {reason}; refusing to open or delete this partition's data. If the data \
         belongs to topic id {topic_id}, write \"version: 0\\ntopic_id: {topic_id}\\n\" \
         into the file; otherwise move the directory away"
    )]
    Marker {
        path: PathBuf,
        reason: String,
        topic_id: Uuid,
    },
    /// Opening a partition ran out of file descriptors.
    #[error(
        "partition {topic}-{partition}: out of file descriptors (process limit {limit}): \
         {source}; raise the limit (ulimit -n / LimitNOFILE / docker --ulimit nofile)"
    )]
    OutOfFds {
        topic: String,
        partition: i32,
        limit: u64,
        source: LogError,
    },
    /// Partition directories exist but the metadata log does not: starting
    /// would treat every partition as a deleted topic's.
    #[error(
        "{data_dir} holds partition directories but no metadata log ({metadata_dir} is \
         missing); refusing to start, since every partition would look like a deleted \
         topic's. Restore {metadata_dir}, or move the partition directories away"
    )]
    MetadataMissing {
        data_dir: PathBuf,
        metadata_dir: PathBuf,
    },
}

/// One hosted partition.
#[derive(Debug)]
pub struct Partition {
    pub topic: Arc<str>,
    pub topic_id: Uuid,
    pub index: i32,
    pub leader_epoch: i32,
    dir: PathBuf,
    /// A std mutex: every section under it is short, synchronous file IO
    /// (appends land in the page cache) with no `.await` inside.
    log: Mutex<PartitionLog>,
}

impl Partition {
    /// Runs `f` with the log locked. A poisoned lock (a panic in another
    /// holder) still yields the log: its state is kept consistent by the log
    /// itself, and refusing all further IO would turn one bug into an outage.
    pub fn with_log<T>(&self, f: impl FnOnce(&mut PartitionLog) -> T) -> T {
        let mut guard = self.log.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }
}

#[derive(Debug)]
struct TopicLogs {
    topic_id: Uuid,
    configs: std::collections::BTreeMap<String, String>,
    partitions: Vec<Arc<Partition>>,
}

#[derive(Debug)]
pub struct ReplicaManager {
    data_dir: PathBuf,
    defaults: LogConfig,
    topics: RwLock<HashMap<String, TopicLogs>>,
    /// Serializes reconciliation so two callers never open the same directory.
    reconcile_lock: Mutex<()>,
    /// Bumped after every append: long-polling fetches wait on it.
    appended: watch::Sender<u64>,
    /// The last reconcile failed (e.g. out of descriptors): the background
    /// loop retries it instead of waiting for the next metadata change.
    reconcile_failed: std::sync::atomic::AtomicBool,
}

impl ReplicaManager {
    pub fn new(data_dir: PathBuf, defaults: LogConfig) -> Self {
        ReplicaManager {
            data_dir,
            defaults,
            topics: RwLock::new(HashMap::new()),
            reconcile_lock: Mutex::new(()),
            appended: watch::channel(0).0,
            reconcile_failed: std::sync::atomic::AtomicBool::new(false),
        }
    }

    pub fn partition(&self, topic: &str, index: i32) -> Option<Arc<Partition>> {
        let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
        let logs = topics.get(topic)?;
        usize::try_from(index)
            .ok()
            .and_then(|i| logs.partitions.get(i))
            .cloned()
    }

    /// Every hosted partition (for retention and flush sweeps).
    pub fn all_partitions(&self) -> Vec<Arc<Partition>> {
        let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
        topics
            .values()
            .flat_map(|t| t.partitions.iter().cloned())
            .collect()
    }

    /// Tells waiting fetches that data arrived.
    pub fn notify_append(&self) {
        self.appended.send_modify(|n| *n = n.wrapping_add(1));
    }

    pub fn subscribe_appends(&self) -> watch::Receiver<u64> {
        self.appended.subscribe()
    }

    fn partition_dir(&self, topic: &str, index: i32) -> PathBuf {
        self.data_dir.join(format!("{topic}-{index}"))
    }

    /// Opens logs for partitions the image has and we don't, applies config
    /// changes, and deletes logs of topics the image no longer has.
    pub fn reconcile(&self, image: &MetadataImage) -> Result<(), ReplicaError> {
        let _serial = self
            .reconcile_lock
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let result = self.reconcile_serial(image);
        self.reconcile_failed
            .store(result.is_err(), std::sync::atomic::Ordering::Relaxed);
        result
    }

    /// Whether the last [`reconcile`](Self::reconcile) failed and should be retried.
    pub fn reconcile_failed(&self) -> bool {
        self.reconcile_failed
            .load(std::sync::atomic::Ordering::Relaxed)
    }

    fn reconcile_serial(&self, image: &MetadataImage) -> Result<(), ReplicaError> {
        // Work out what to change under the read lock, do the IO without any
        // lock, then publish under the write lock.
        let mut to_delete: Vec<TopicLogs> = Vec::new();
        {
            let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
            let gone: Vec<String> = topics
                .iter()
                .filter(|(name, logs)| {
                    image
                        .topics
                        .get(name.as_str())
                        .map_or(true, |t| t.topic_id != logs.topic_id)
                })
                .map(|(name, _)| name.clone())
                .collect();
            for name in gone {
                if let Some(logs) = topics.remove(&name) {
                    to_delete.push(logs);
                }
            }
        }
        for logs in to_delete {
            for partition in logs.partitions {
                dirs::delete_dir(&self.data_dir, &partition.dir, logs.topic_id);
            }
        }
        for topic in image.topics.values() {
            self.reconcile_topic(topic)?;
        }
        Ok(())
    }

    fn reconcile_topic(&self, topic: &TopicImage) -> Result<(), ReplicaError> {
        let config = topic_config::log_config(&self.defaults, &topic.configs);
        let (have, configs_changed) = {
            let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
            match topics.get(&topic.name) {
                Some(logs) => (logs.partitions.len(), logs.configs != topic.configs),
                None => (0, false),
            }
        };
        if configs_changed {
            let topics = self.topics.read().unwrap_or_else(|p| p.into_inner());
            if let Some(logs) = topics.get(&topic.name) {
                for p in &logs.partitions {
                    p.with_log(|log| log.set_config(config.clone()));
                }
            }
        }
        let mut opened = Vec::new();
        for partition in topic.partitions.iter().skip(have) {
            let dir = self.partition_dir(&topic.name, partition.partition_index);
            dirs::prepare_dir(&self.data_dir, &dir, topic.topic_id)?;
            let log = PartitionLog::open(&dir, config.clone()).map_err(|source| {
                let emfile = matches!(&source, LogError::Io(e)
                    if e.raw_os_error() == Some(nix::errno::Errno::EMFILE as i32));
                let (topic, partition) = (topic.name.clone(), partition.partition_index);
                match fd_budget::fd_limit().filter(|_| emfile) {
                    Some(limit) => ReplicaError::OutOfFds {
                        topic,
                        partition,
                        limit,
                        source,
                    },
                    None => ReplicaError::Log {
                        topic,
                        partition,
                        source,
                    },
                }
            })?;
            crate::log::progress::add_opened_partition();
            opened.push(Arc::new(Partition {
                topic: topic.name.as_str().into(),
                topic_id: topic.topic_id,
                index: partition.partition_index,
                leader_epoch: partition.leader_epoch,
                dir,
                log: Mutex::new(log),
            }));
        }
        let mut topics = self.topics.write().unwrap_or_else(|p| p.into_inner());
        let logs = topics
            .entry(topic.name.clone())
            .or_insert_with(|| TopicLogs {
                topic_id: topic.topic_id,
                configs: topic.configs.clone(),
                partitions: Vec::new(),
            });
        logs.configs = topic.configs.clone();
        logs.partitions.extend(opened);
        Ok(())
    }

    /// At start, before [`reconcile`](Self::reconcile): finishes deletions a
    /// crash interrupted and moves aside (never deletes) directories whose
    /// topic ID the image does not know. Only directories carrying a
    /// `partition.metadata` marker are touched.
    pub fn sweep_partition_dirs(&self, image: &MetadataImage) -> Result<(), ReplicaError> {
        dirs::sweep(&self.data_dir, |id| image.topic_by_id(id).is_some())
    }

    /// Deletes whole old segments past retention on every partition.
    pub fn apply_retention(&self) {
        let now = now_ms();
        for p in self.all_partitions() {
            match p.with_log(|log| log.apply_retention(now)) {
                Ok(0) => {}
                Ok(n) => {
                    tracing::info!(topic = %p.topic, partition = p.index, segments = n, "retention deleted segments")
                }
                Err(e) => {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "retention failed")
                }
            }
        }
    }

    /// One bounded cleaner pass over every compacted partition. Each call
    /// does at most the log's per-call budget and resumes next time.
    pub fn clean_compacted(&self) {
        let now = now_ms();
        for p in self.all_partitions() {
            let result = p.with_log(|log| {
                if log.config().cleanup_policy_compact {
                    log.clean(now).map(Some)
                } else {
                    Ok(None)
                }
            });
            match result {
                Ok(Some(stats)) if stats.segments_cleaned > 0 => tracing::info!(
                    topic = %p.topic,
                    partition = p.index,
                    segments = stats.segments_cleaned,
                    bytes_before = stats.bytes_before,
                    bytes_after = stats.bytes_after,
                    records_removed = stats.records_removed,
                    "compacted"
                ),
                Ok(_) => {}
                Err(e) => {
                    tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "compaction failed")
                }
            }
        }
    }

    /// The `flush.ms` policy, `segment.ms` rolls of idle partitions and
    /// `producer.id.expiration.ms`.
    pub fn periodic_flush(&self) {
        let now = now_ms();
        for p in self.all_partitions() {
            // The fsync of rolled segments runs between the two lock holds,
            // so appends to the partition go on meanwhile.
            let result = p
                .with_log(|log| {
                    log.expire_producers(now);
                    log.maybe_roll(now)?;
                    log.maybe_flush_prepare(now)
                })
                .and_then(|job| match job {
                    Some(job) => match job.run() {
                        Ok(()) => p.with_log(|log| log.finish_rolled_flush(&job)),
                        Err(e) => {
                            p.with_log(|log| log.note_fsync_failure(&e));
                            Err(e)
                        }
                    },
                    None => Ok(()),
                });
            if let Err(e) = result {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
            }
        }
    }

    /// Flushes every log to disk and snapshots its producer state (clean
    /// shutdown; see `PartitionLog::shutdown`).
    pub fn close_all(&self) {
        for p in self.all_partitions() {
            if let Err(e) = p.with_log(|log| log.shutdown()) {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "flush or producer snapshot at shutdown failed");
            }
        }
    }
}

/// Refuses a start whose metadata directory is gone while partition
/// directories remain (see [`ReplicaError::MetadataMissing`]).
pub fn check_metadata_present(
    data_dir: &std::path::Path,
    metadata_dir: &std::path::Path,
) -> Result<(), ReplicaError> {
    if !metadata_dir.exists() && dirs::has_partition_dirs(data_dir) {
        return Err(ReplicaError::MetadataMissing {
            data_dir: data_dir.to_path_buf(),
            metadata_dir: metadata_dir.to_path_buf(),
        });
    }
    Ok(())
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
