//! Routing for the tools: a bootstrap connection plus connections to the brokers
//! that lead partitions or coordinate groups, and the Metadata, ListOffsets and
//! FindCoordinator requests several tools share.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse, ListOffsetsRequest,
    ListOffsetsResponse, MetadataRequest, MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::client::{check, error_text, Client};

/// ListOffsets timestamp asking for the log start offset.
pub const EARLIEST_TIMESTAMP: i64 = -2;
/// ListOffsets timestamp asking for the log end offset (or last stable offset).
pub const LATEST_TIMESTAMP: i64 = -1;
/// Longest wait for a new topic's partitions to get leaders.
const LEADER_WAIT: Duration = Duration::from_secs(10);
/// Pause between Metadata polls while waiting for leaders.
const LEADER_POLL: Duration = Duration::from_millis(100);
/// FindCoordinator key type of a consumer group.
const GROUP_KEY_TYPE: i8 = 0;

/// One partition of a topic as Metadata describes it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PartitionInfo {
    pub partition: i32,
    pub leader: i32,
}

pub fn topic_name(name: &str) -> TopicName {
    TopicName(StrBytes::from_string(name.to_string()))
}

pub struct Session {
    pub bootstrap: Client,
    timeout: Duration,
    /// node id -> host:port, from the last Metadata.
    brokers: HashMap<i32, String>,
    others: HashMap<i32, Client>,
}

impl Session {
    pub fn connect(bootstrap: &str, timeout: Duration) -> Result<Session, String> {
        Ok(Session {
            bootstrap: Client::connect(bootstrap, timeout)?,
            timeout,
            brokers: HashMap::new(),
            others: HashMap::new(),
        })
    }

    /// Metadata for `topics` (all topics when None); never auto-creates topics.
    pub fn metadata(&mut self, topics: Option<&[String]>) -> Result<MetadataResponse, String> {
        self.metadata_with(topics, false)
    }

    /// Metadata asking the broker to auto-create missing topics when `auto_create`
    /// (and the broker's auto.create.topics.enable) allow it, as producers do.
    pub fn metadata_with(
        &mut self,
        topics: Option<&[String]>,
        auto_create: bool,
    ) -> Result<MetadataResponse, String> {
        let req = MetadataRequest::default()
            .with_allow_auto_topic_creation(auto_create)
            .with_topics(topics.map(|ts| {
                ts.iter()
                    .map(|t| MetadataRequestTopic::default().with_name(Some(topic_name(t))))
                    .collect()
            }));
        let md: MetadataResponse = self.bootstrap.call(ApiKey::Metadata, &req)?;
        self.brokers = md
            .brokers
            .iter()
            .map(|b| (b.node_id.0, format!("{}:{}", b.host.as_str(), b.port)))
            .collect();
        Ok(md)
    }

    /// The partitions of one topic, sorted; an error when it does not exist. Waits
    /// up to [`LEADER_WAIT`] for leaders of a topic being created.
    pub fn partitions(
        &mut self,
        topic: &str,
        auto_create: bool,
    ) -> Result<Vec<PartitionInfo>, String> {
        let deadline = Instant::now() + LEADER_WAIT;
        loop {
            let md = self.metadata_with(Some(&[topic.to_string()]), auto_create)?;
            let t = md
                .topics
                .first()
                .ok_or_else(|| format!("no metadata for topic {topic}"))?;
            let retriable = t.error_code == ResponseError::LeaderNotAvailable.code()
                || (t.error_code == 0 && t.partitions.iter().any(|p| p.leader_id.0 < 0));
            if retriable && Instant::now() < deadline {
                std::thread::sleep(LEADER_POLL);
                continue;
            }
            if t.error_code != 0 {
                return Err(format!(
                    "topic '{topic}': {}",
                    error_text(t.error_code, None)
                ));
            }
            let mut parts: Vec<PartitionInfo> = t
                .partitions
                .iter()
                .map(|p| PartitionInfo {
                    partition: p.partition_index,
                    leader: p.leader_id.0,
                })
                .collect();
            if parts.is_empty() {
                return Err(format!("topic '{topic}' has no partitions"));
            }
            parts.sort_by_key(|p| p.partition);
            return Ok(parts);
        }
    }

    /// The connection to broker `node`. With a single broker in the cluster that is
    /// the bootstrap connection itself (so a bootstrap address that differs from the
    /// advertised one, as inside a container, still works).
    pub fn node(&mut self, node: i32) -> Result<&mut Client, String> {
        if self.brokers.len() <= 1 || node < 0 {
            return Ok(&mut self.bootstrap);
        }
        if !self.others.contains_key(&node) {
            let addr = self
                .brokers
                .get(&node)
                .ok_or_else(|| format!("broker {node} is not in the cluster metadata"))?
                .clone();
            if addr == self.bootstrap.address {
                return Ok(&mut self.bootstrap);
            }
            let c = Client::connect_one(&addr, self.timeout)?;
            self.others.insert(node, c);
        }
        Ok(self.others.get_mut(&node).expect("inserted above"))
    }

    /// The connection to the coordinator of consumer group `group`.
    pub fn coordinator(&mut self, group: &str) -> Result<&mut Client, String> {
        let node = self.coordinator_id(group)?;
        self.node(node)
    }

    /// The node id of the coordinator of consumer group `group`.
    pub fn coordinator_id(&mut self, group: &str) -> Result<i32, String> {
        if self.brokers.is_empty() {
            self.metadata(Some(&[]))?;
        }
        let version = self
            .bootstrap
            .version_for::<FindCoordinatorRequest>(ApiKey::FindCoordinator)?;
        let mut req = FindCoordinatorRequest::default().with_key_type(GROUP_KEY_TYPE);
        // v4 batches keys in `coordinator_keys`; earlier versions take one `key`.
        if version >= 4 {
            req.coordinator_keys = vec![StrBytes::from_string(group.to_string())];
        } else {
            req.key = StrBytes::from_string(group.to_string());
        }
        let resp: FindCoordinatorResponse =
            self.bootstrap
                .call_at(ApiKey::FindCoordinator, version, &req)?;
        let node = if version >= 4 {
            let c = resp
                .coordinators
                .first()
                .ok_or("empty FindCoordinator response")?;
            check(c.error_code, c.error_message.as_ref())?;
            c.node_id.0
        } else {
            check(resp.error_code, resp.error_message.as_ref())?;
            resp.node_id.0
        };
        Ok(node)
    }

    /// ListOffsets for each partition of `topic` at `timestamp` (EARLIEST_TIMESTAMP,
    /// LATEST_TIMESTAMP or a time in ms), asked of each partition's leader.
    /// Returns (partition, offset) sorted by partition; -1 when no offset matches.
    pub fn list_offsets(
        &mut self,
        topic: &str,
        partitions: &[PartitionInfo],
        timestamp: i64,
        isolation_level: i8,
    ) -> Result<Vec<(i32, i64)>, String> {
        let mut by_leader: HashMap<i32, Vec<i32>> = HashMap::new();
        for p in partitions {
            by_leader.entry(p.leader).or_default().push(p.partition);
        }
        let mut out = Vec::new();
        for (leader, parts) in by_leader {
            let req = ListOffsetsRequest::default()
                .with_replica_id(BrokerId(-1))
                .with_isolation_level(isolation_level)
                .with_topics(vec![ListOffsetsTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(
                        parts
                            .iter()
                            .map(|&p| {
                                ListOffsetsPartition::default()
                                    .with_partition_index(p)
                                    .with_current_leader_epoch(-1)
                                    .with_timestamp(timestamp)
                            })
                            .collect(),
                    )]);
            let resp: ListOffsetsResponse = self.node(leader)?.call(ApiKey::ListOffsets, &req)?;
            for t in &resp.topics {
                for p in &t.partitions {
                    check(p.error_code, None)
                        .map_err(|e| format!("{topic}-{}: {e}", p.partition_index))?;
                    out.push((p.partition_index, p.offset));
                }
            }
        }
        out.sort_unstable();
        Ok(out)
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for Session {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Session").finish_non_exhaustive()
    }
}
