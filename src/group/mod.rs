//! The group coordinator: classic consumer groups and their committed
//! offsets, kept where Kafka keeps them — records in the internal compacted
//! topic `__consumer_offsets`, in Kafka's own key and value schemas.
//!
//! On one node this broker coordinates every group. A group lives in the
//! `__consumer_offsets` partition Kafka would pick (hash of the group id
//! modulo the partition count). The topic is created on first use; on start
//! it is replayed, and until that finishes group requests get
//! COORDINATOR_LOAD_IN_PROGRESS. This module owns group state; it never
//! touches sockets, and it writes to the log only through `store`.

pub mod classic;
pub mod consumer;
pub mod consumer_records;
pub mod dynamic_config;
pub mod schema;
pub mod schema_848;
pub mod store;

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Buf;
use kafka_protocol::error::ResponseError;

use self::classic::ClassicGroup;
use self::consumer::ConsumerGroup;
use crate::broker::Broker;

/// Name of the internal offsets topic.
pub const OFFSETS_TOPIC: &str = "__consumer_offsets";
/// How often group timers (sessions, rebalance deadlines) are checked.
pub const GROUP_TICK_MS: u64 = 100;

/// Group coordinator settings, with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct GroupConfig {
    /// `offsets.topic.num.partitions`.
    pub offsets_topic_num_partitions: i32,
    /// `group.initial.rebalance.delay.ms`.
    pub initial_rebalance_delay_ms: u64,
    /// `group.min.session.timeout.ms` / `group.max.session.timeout.ms`.
    pub min_session_timeout_ms: i32,
    pub max_session_timeout_ms: i32,
    /// `offsets.retention.ms`: how long offsets of an empty group are kept.
    pub offsets_retention_ms: i64,
    /// `offset.metadata.max.bytes`: longest commit metadata string.
    pub offset_metadata_max_bytes: usize,
    /// `offsets.topic.segment.bytes`.
    pub offsets_topic_segment_bytes: u64,
    /// `group.consumer.session.timeout.ms` (KIP-848 groups).
    pub consumer_session_timeout_ms: u64,
    /// `group.consumer.heartbeat.interval.ms` (KIP-848 groups).
    pub consumer_heartbeat_interval_ms: i32,
}

impl Default for GroupConfig {
    fn default() -> Self {
        GroupConfig {
            offsets_topic_num_partitions: 50,
            initial_rebalance_delay_ms: 3000,
            min_session_timeout_ms: 6000,
            max_session_timeout_ms: 1_800_000,
            offsets_retention_ms: 7 * 24 * 3_600_000,
            offset_metadata_max_bytes: 4096,
            offsets_topic_segment_bytes: 100 * 1024 * 1024,
            consumer_session_timeout_ms: 45_000,
            consumer_heartbeat_interval_ms: 5_000,
        }
    }
}

/// A committed offset as the coordinator keeps it.
#[derive(Debug, Clone, PartialEq)]
pub struct CommittedOffset {
    pub offset: i64,
    pub leader_epoch: i32,
    pub metadata: String,
    pub commit_timestamp_ms: i64,
    /// Set by OffsetCommit v2-v4 with an explicit retention time; -1 otherwise
    /// (then `offsets.retention.ms` applies).
    pub expire_timestamp_ms: i64,
}

const STATE_ABSENT: u8 = 0;
const STATE_LOADING: u8 = 1;
const STATE_READY: u8 = 2;

#[derive(Debug)]
pub struct GroupCoordinator {
    pub config: GroupConfig,
    state: AtomicU8,
    /// Serializes creation of the offsets topic.
    create_lock: tokio::sync::Mutex<()>,
    groups: Mutex<HashMap<String, Arc<Mutex<ClassicGroup>>>>,
    /// KIP-848 groups; a group id is either classic or consumer, never both.
    consumer_groups: Mutex<HashMap<String, Arc<Mutex<ConsumerGroup>>>>,
    /// group → (topic, partition) → offset.
    offsets: Mutex<HashMap<String, BTreeMap<(String, i32), CommittedOffset>>>,
    /// Transactional offset commits waiting for their transaction's end:
    /// producer id → group → (topic, partition) → offset.
    pending_txn_offsets: Mutex<HashMap<i64, PendingOffsets>>,
}

type PendingOffsets = HashMap<String, BTreeMap<(String, i32), CommittedOffset>>;

impl GroupCoordinator {
    pub fn new(config: GroupConfig) -> Self {
        GroupCoordinator {
            config,
            state: AtomicU8::new(STATE_ABSENT),
            create_lock: tokio::sync::Mutex::new(()),
            groups: Mutex::new(HashMap::new()),
            consumer_groups: Mutex::new(HashMap::new()),
            offsets: Mutex::new(HashMap::new()),
            pending_txn_offsets: Mutex::new(HashMap::new()),
        }
    }

    pub fn initial_delay(&self) -> Duration {
        Duration::from_millis(self.config.initial_rebalance_delay_ms)
    }

    /// The `__consumer_offsets` partition that holds a group.
    pub fn partition_for(&self, group_id: &str) -> i32 {
        schema::partition_for_group(group_id, self.config.offsets_topic_num_partitions)
    }

    /// Called once at start: replays `__consumer_offsets` if it exists.
    pub fn start(broker: &Arc<Broker>) {
        let exists = broker.metadata.image().topics.contains_key(OFFSETS_TOPIC);
        if !exists {
            broker.groups.state.store(STATE_READY, Ordering::Release);
        } else {
            broker.groups.state.store(STATE_LOADING, Ordering::Release);
            let b = broker.clone();
            tokio::task::spawn_blocking(move || {
                let started = Instant::now();
                match store::replay(&b) {
                    Ok(stats) => tracing::info!(
                        groups = stats.groups,
                        offsets = stats.offsets,
                        records = stats.records,
                        elapsed_ms = started.elapsed().as_millis() as u64,
                        "consumer offsets loaded"
                    ),
                    Err(e) => {
                        tracing::error!(error = %e, "consumer offsets replay failed; starting with what was read")
                    }
                }
                b.groups.state.store(STATE_READY, Ordering::Release);
            });
        }
        let b = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(GROUP_TICK_MS));
            let mut stop = b.shutting_down.clone();
            loop {
                tokio::select! {
                    _ = tick.tick() => b.groups.tick(&b),
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// The offsets topic is being replayed.
    pub fn is_loading(&self) -> bool {
        self.state.load(Ordering::Acquire) == STATE_LOADING
    }

    /// Makes sure the offsets topic exists and is loaded. Errors are the
    /// Kafka codes clients retry on.
    pub async fn ensure_ready(&self, broker: &Broker) -> Result<(), i16> {
        match self.state.load(Ordering::Acquire) {
            STATE_READY => {}
            STATE_LOADING => return Err(ResponseError::CoordinatorLoadInProgress.code()),
            _ => {}
        }
        crate::internal_topic::ensure(
            broker,
            OFFSETS_TOPIC,
            self.config.offsets_topic_num_partitions,
            self.config.offsets_topic_segment_bytes,
            &self.create_lock,
        )
        .await
    }

    /// The group, created (Empty) when absent and `create` is set.
    pub fn group(&self, group_id: &str, create: bool) -> Option<Arc<Mutex<ClassicGroup>>> {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(g) = groups.get(group_id) {
            return Some(g.clone());
        }
        if !create {
            return None;
        }
        let g = Arc::new(Mutex::new(ClassicGroup::new(
            group_id,
            self.initial_delay(),
        )));
        groups.insert(group_id.to_string(), g.clone());
        Some(g)
    }

    /// The KIP-848 group, created when absent and `create` is set.
    pub fn consumer_group(
        &self,
        group_id: &str,
        create: bool,
    ) -> Option<Arc<Mutex<ConsumerGroup>>> {
        let mut groups = self
            .consumer_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        if let Some(g) = groups.get(group_id) {
            return Some(g.clone());
        }
        if !create {
            return None;
        }
        let g = Arc::new(Mutex::new(ConsumerGroup::new(
            group_id,
            Duration::from_millis(self.config.consumer_session_timeout_ms),
            self.config.consumer_heartbeat_interval_ms,
        )));
        groups.insert(group_id.to_string(), g.clone());
        Some(g)
    }

    pub fn all_consumer_groups(&self) -> Vec<Arc<Mutex<ConsumerGroup>>> {
        let groups = self
            .consumer_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        groups.values().cloned().collect()
    }

    pub(crate) fn remove_consumer_group(&self, group_id: &str) {
        let mut groups = self
            .consumer_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        groups.remove(group_id);
    }

    pub fn all_groups(&self) -> Vec<Arc<Mutex<ClassicGroup>>> {
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups.values().cloned().collect()
    }

    /// Group ids that have committed offsets but no live group object.
    pub fn offset_only_groups(&self) -> Vec<String> {
        let offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        let groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        offsets
            .keys()
            .filter(|g| !groups.contains_key(*g))
            .cloned()
            .collect()
    }

    pub(crate) fn insert_consumer_group(&self, group: ConsumerGroup) {
        let mut groups = self
            .consumer_groups
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        groups.insert(group.group_id.clone(), Arc::new(Mutex::new(group)));
    }

    pub(crate) fn insert_group(&self, group: ClassicGroup) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups.insert(group.group_id.clone(), Arc::new(Mutex::new(group)));
    }

    pub(crate) fn remove_group(&self, group_id: &str) {
        let mut groups = self.groups.lock().unwrap_or_else(|p| p.into_inner());
        groups.remove(group_id);
    }

    pub fn committed(&self, group_id: &str) -> BTreeMap<(String, i32), CommittedOffset> {
        let offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        offsets.get(group_id).cloned().unwrap_or_default()
    }

    pub(crate) fn set_offset(
        &self,
        group_id: &str,
        topic: &str,
        partition: i32,
        value: Option<CommittedOffset>,
    ) {
        let mut offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
        match value {
            Some(v) => {
                offsets
                    .entry(group_id.to_string())
                    .or_default()
                    .insert((topic.to_string(), partition), v);
            }
            None => {
                if let Some(g) = offsets.get_mut(group_id) {
                    g.remove(&(topic.to_string(), partition));
                    if g.is_empty() {
                        offsets.remove(group_id);
                    }
                }
            }
        }
    }

    /// Holds a transactional offset commit until its transaction ends.
    pub(crate) fn add_pending_txn_offset(
        &self,
        producer_id: i64,
        group_id: &str,
        topic: &str,
        partition: i32,
        value: CommittedOffset,
    ) {
        let mut pending = self
            .pending_txn_offsets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        pending
            .entry(producer_id)
            .or_default()
            .entry(group_id.to_string())
            .or_default()
            .insert((topic.to_string(), partition), value);
    }

    /// Partitions of the group with a transactional commit not yet ended.
    pub fn pending_txn_partitions(
        &self,
        group_id: &str,
    ) -> std::collections::BTreeSet<(String, i32)> {
        let pending = self
            .pending_txn_offsets
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        pending
            .values()
            .filter_map(|groups| groups.get(group_id))
            .flat_map(|offsets| offsets.keys().cloned())
            .collect()
    }

    /// The producer's transaction ended: its offsets become visible on commit and are
    /// dropped on abort (the marker in `__consumer_offsets` makes this durable).
    pub fn complete_txn_offsets(&self, producer_id: i64, commit: bool) {
        let done = self
            .pending_txn_offsets
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&producer_id);
        if let (Some(groups), true) = (done, commit) {
            for (group_id, offsets) in groups {
                for ((topic, partition), value) in offsets {
                    self.set_offset(&group_id, &topic, partition, Some(value));
                }
            }
        }
    }

    /// After replay: transactional commits whose marker was not found yet.
    pub(crate) fn restore_pending_txn_offsets(
        &self,
        pending: HashMap<i64, Vec<(Vec<u8>, Option<Vec<u8>>)>>,
    ) {
        for (producer_id, records) in pending {
            for (key, value) in records {
                let Ok(schema::OffsetsRecordKey::OffsetCommit {
                    group,
                    topic,
                    partition,
                }) = schema::decode_key(&key)
                else {
                    continue;
                };
                let Some(Ok(v)) = value.as_deref().map(schema::decode_offset_commit_value) else {
                    continue;
                };
                self.add_pending_txn_offset(
                    producer_id,
                    &group,
                    &topic,
                    partition,
                    CommittedOffset {
                        offset: v.offset,
                        leader_epoch: v.leader_epoch,
                        metadata: v.metadata,
                        commit_timestamp_ms: v.commit_timestamp,
                        expire_timestamp_ms: v.expire_timestamp,
                    },
                );
            }
        }
    }

    /// Runs group timers and persists groups whose state changed.
    fn tick(&self, broker: &Broker) {
        let now = Instant::now();
        for group in self.all_groups() {
            let snapshot = {
                let mut g = group.lock().unwrap_or_else(|p| p.into_inner());
                g.tick(now);
                g.take_dirty().then(|| store::group_record(&g))
            };
            if let Some((group_id, value)) = snapshot {
                if let Err(code) = store::write_group(broker, &group_id, value) {
                    tracing::warn!(group = %group_id, code, "cannot persist group state");
                }
            }
        }
        for group in self.all_consumer_groups() {
            let mut g = group.lock().unwrap_or_else(|p| p.into_inner());
            if g.tick(now) {
                store::persist_consumer_group(broker, &mut g);
            }
        }
        self.expire_offsets(broker);
    }

    /// `offsets.retention.ms`: offsets of groups without members expire once
    /// their last commit is older than the retention.
    fn expire_offsets(&self, broker: &Broker) {
        let now_ms = crate::replica::now_ms();
        let retention = self.config.offsets_retention_ms;
        let expired: Vec<(String, String, i32)> = {
            let offsets = self.offsets.lock().unwrap_or_else(|p| p.into_inner());
            let mut out = Vec::new();
            for (group_id, parts) in offsets.iter() {
                let active = self
                    .group(group_id, false)
                    .is_some_and(|g| !g.lock().unwrap_or_else(|p| p.into_inner()).is_empty())
                    || self
                        .consumer_group(group_id, false)
                        .is_some_and(|g| !g.lock().unwrap_or_else(|p| p.into_inner()).is_empty());
                if active {
                    continue;
                }
                for ((topic, partition), c) in parts {
                    let expired = if c.expire_timestamp_ms >= 0 {
                        now_ms >= c.expire_timestamp_ms
                    } else {
                        now_ms.saturating_sub(c.commit_timestamp_ms) > retention
                    };
                    if expired {
                        out.push((group_id.clone(), topic.clone(), *partition));
                    }
                }
            }
            out
        };
        for (group_id, topic, partition) in expired {
            if store::write_offset(broker, &group_id, &topic, partition, None).is_ok() {
                self.set_offset(&group_id, &topic, partition, None);
            }
        }
    }
}

/// Topics of a consumer-protocol subscription (ConsumerProtocolSubscription:
/// version, topics array, ...); empty when the bytes are not one.
pub fn subscription_topics(metadata: &[u8]) -> Vec<String> {
    let mut buf = metadata;
    let mut out = Vec::new();
    if buf.remaining() < 6 {
        return out;
    }
    let _version = buf.get_i16();
    let count = buf.get_i32();
    for _ in 0..count.max(0) {
        if buf.remaining() < 2 {
            break;
        }
        let len = buf.get_i16();
        if len < 0 || buf.remaining() < len as usize {
            break;
        }
        out.push(String::from_utf8_lossy(&buf[..len as usize]).into_owned());
        buf.advance(len as usize);
    }
    out
}

/// Kafka's group id check: empty ids are refused.
pub fn validate_group_id(group_id: &str) -> Result<(), i16> {
    if group_id.is_empty() {
        Err(ResponseError::InvalidGroupId.code())
    } else {
        Ok(())
    }
}
