//! DescribeQuorum (key 55), v0-v2: the state of the metadata Raft group, which
//! `kafka-metadata-quorum.sh describe` prints. Kafka answers it for partition 0
//! of `__cluster_metadata`; so does gregor, from openraft's own metrics of the
//! single-voter group (`src/cluster/`), so nothing here is made up:
//!
//! - leader id and epoch: openraft's current leader and term;
//! - high watermark: the committed (applied) log index + 1, and each replica's
//!   log end offset: the last log index + 1. Kafka's offsets are exclusive ends
//!   ("the next offset"), openraft's indexes name the last entry, hence the +1;
//! - voters: this node (the only one); observers: none (brokers are voters);
//! - timestamps (v1+): the leader reports "now" for both, as Kafka's leader
//!   does for itself.
//!
//! v2 adds the voters' listeners (`nodes`): this node's advertised listener for
//! the connection, since gregor has no separate controller listener.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_quorum_response::{
    Listener, Node, PartitionData, ReplicaState, TopicData,
};
use kafka_protocol::messages::{ApiKey, BrokerId, DescribeQuorumRequest, DescribeQuorumResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DescribeQuorum, 0, 2);

/// The one topic-partition Kafka's quorum lives in.
const METADATA_TOPIC: &str = "__cluster_metadata";
const METADATA_PARTITION: i32 = 0;

pub fn handle(ctx: &RequestContext<'_>, request: DescribeQuorumRequest) -> Outcome {
    let metrics = ctx.broker.metadata.raft_metrics();
    let node_id = ctx.broker.metadata.node_id();
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(-1, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    // An index that does not exist yet is offset 0: nothing written.
    let exclusive_end = |index: Option<u64>| {
        index.map_or(0, |i| {
            i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1)
        })
    };
    let high_watermark = exclusive_end(metrics.last_applied.map(|l| l.index));
    let log_end = exclusive_end(metrics.last_log_index);
    let leader_id = metrics
        .current_leader
        .and_then(|l| i32::try_from(l).ok())
        .unwrap_or(-1);
    let epoch = i32::try_from(metrics.current_term).unwrap_or(i32::MAX);
    let is_leader = leader_id == node_id;
    let voter = ReplicaState::default()
        .with_replica_id(BrokerId(node_id))
        .with_log_end_offset(log_end)
        .with_last_fetch_timestamp(if is_leader { now_ms } else { -1 })
        .with_last_caught_up_timestamp(if is_leader { now_ms } else { -1 });
    let topics = request
        .topics
        .into_iter()
        .map(|t| {
            let known_topic = t.topic_name.0.as_str() == METADATA_TOPIC;
            let partitions = t
                .partitions
                .into_iter()
                .map(|p| {
                    let out = PartitionData::default().with_partition_index(p.partition_index);
                    if !known_topic || p.partition_index != METADATA_PARTITION {
                        return out
                            .with_error_code(ResponseError::UnknownTopicOrPartition.code())
                            .with_leader_id(BrokerId(-1))
                            .with_leader_epoch(-1)
                            .with_high_watermark(-1);
                    }
                    out.with_leader_id(BrokerId(leader_id))
                        .with_leader_epoch(epoch)
                        .with_high_watermark(high_watermark)
                        .with_current_voters(vec![voter.clone()])
                        .with_observers(vec![])
                })
                .collect();
            TopicData::default()
                .with_topic_name(t.topic_name)
                .with_partitions(partitions)
        })
        .collect();
    let advertised = ctx
        .broker
        .config
        .advertised_for(&ctx.connection.listener_name);
    let node = Node::default()
        .with_node_id(BrokerId(node_id))
        .with_listeners(vec![Listener::default()
            .with_name(StrBytes::from_string(advertised.name.clone()))
            .with_host(StrBytes::from_string(advertised.host.clone()))
            .with_port(advertised.port)]);
    let response = DescribeQuorumResponse::default()
        .with_topics(topics)
        .with_nodes(if ctx.api_version >= 2 {
            vec![node]
        } else {
            vec![]
        });
    ctx.respond(&response)
}
