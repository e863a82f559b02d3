//! Partition logs hosted by this broker, kept in line with the metadata image.
//!
//! The metadata image says which topics and partitions exist; this module
//! opens, re-configures and deletes the matching `PartitionLog`s on disk. It
//! never decides what exists: only `cluster` does.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, RwLock};

use tokio::sync::watch;
use uuid::Uuid;

use crate::cluster::{MetadataImage, TopicImage};
use crate::log::{LogConfig, LogError, PartitionLog};
use crate::topic_config;

/// File in each partition directory naming the topic ID it belongs to, so a
/// directory left behind by a deleted topic is never mistaken for the data of
/// a new topic with the same name.
const PARTITION_METADATA_FILE: &str = "partition.metadata";

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
}

impl ReplicaManager {
    pub fn new(data_dir: PathBuf, defaults: LogConfig) -> Self {
        ReplicaManager {
            data_dir,
            defaults,
            topics: RwLock::new(HashMap::new()),
            reconcile_lock: Mutex::new(()),
            appended: watch::channel(0).0,
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
                remove_dir(&partition.dir);
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
            prepare_dir(&dir, topic.topic_id)?;
            let log =
                PartitionLog::open(&dir, config.clone()).map_err(|source| ReplicaError::Log {
                    topic: topic.name.clone(),
                    partition: partition.partition_index,
                    source,
                })?;
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

    /// Removes partition directories whose topic ID the image doesn't know:
    /// what a crash between a committed DeleteTopic and the directory
    /// removal leaves behind. Only directories carrying our
    /// `partition.metadata` are touched, never anything else in the data dir.
    pub fn remove_orphans(&self, image: &MetadataImage) {
        let Ok(entries) = std::fs::read_dir(&self.data_dir) else {
            return;
        };
        for entry in entries.flatten() {
            let dir = entry.path();
            let Ok(text) = std::fs::read_to_string(dir.join(PARTITION_METADATA_FILE)) else {
                continue;
            };
            let id = text
                .lines()
                .find_map(|l| l.strip_prefix("topic_id: "))
                .and_then(|v| Uuid::parse_str(v.trim()).ok());
            if let Some(id) = id {
                if image.topic_by_id(&id).is_none() {
                    tracing::info!(dir = %dir.display(), topic_id = %id, "removing partition of a deleted topic");
                    remove_dir(&dir);
                }
            }
        }
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
                    Some(job) => {
                        job.run()?;
                        p.with_log(|log| log.finish_rolled_flush(&job))
                    }
                    None => Ok(()),
                });
            if let Err(e) = result {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "flush failed");
            }
        }
    }

    /// Flushes every log to disk (clean shutdown).
    pub fn close_all(&self) {
        for p in self.all_partitions() {
            if let Err(e) = p.with_log(|log| log.flush()) {
                tracing::warn!(topic = %p.topic, partition = p.index, error = %e, "flush at shutdown failed");
            }
        }
    }
}

/// Makes sure `dir` belongs to `topic_id`: a directory left by an older topic
/// of the same name is wiped first.
fn prepare_dir(dir: &Path, topic_id: Uuid) -> Result<(), ReplicaError> {
    let marker = dir.join(PARTITION_METADATA_FILE);
    let expected = format!("version: 0\ntopic_id: {topic_id}\n");
    match std::fs::read_to_string(&marker) {
        Ok(found) if found == expected => return Ok(()),
        Ok(_) => {
            tracing::warn!(dir = %dir.display(), "partition directory belongs to an older topic; removing it");
            remove_dir(dir);
        }
        Err(_) if dir.exists() => {
            tracing::warn!(dir = %dir.display(), "partition directory without topic id; removing it");
            remove_dir(dir);
        }
        Err(_) => {}
    }
    let err = |source| ReplicaError::Dir {
        path: dir.to_path_buf(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(err)?;
    let tmp = dir.join(format!("{PARTITION_METADATA_FILE}.tmp"));
    std::fs::write(&tmp, expected).map_err(err)?;
    std::fs::rename(&tmp, &marker).map_err(err)?;
    Ok(())
}

fn remove_dir(dir: &Path) {
    if let Err(e) = std::fs::remove_dir_all(dir) {
        if e.kind() != std::io::ErrorKind::NotFound {
            tracing::warn!(dir = %dir.display(), error = %e, "cannot remove partition directory");
        }
    }
}

pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
