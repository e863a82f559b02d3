//! OffsetForLeaderEpoch (key 23), v2-v4 (flexible from v4; Kafka 4 dropped v0-v1):
//! the end offset of a leader epoch, which consumers (KIP-320) use after a
//! leader change to check that their position was not truncated away.
//!
//! The answer follows Kafka's `LeaderEpochFileCache.endOffsetFor` over the
//! epochs stamped into the log (`PartitionLog::end_offset_for_epoch`), after
//! Kafka's fencing of `current_leader_epoch`. `replica_id` (v3+) is -1 for
//! consumers and -2 for debugging tools; a broker id would be a follower, and
//! gets the same answer (Kafka asks it for CLUSTER_ACTION, which an
//! authorizer-less broker grants).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_for_leader_epoch_response::{
    EpochEndOffset, OffsetForLeaderTopicResult,
};
use kafka_protocol::messages::{ApiKey, OffsetForLeaderEpochRequest, OffsetForLeaderEpochResponse};

use super::list_offsets::check_leader_epoch;
use super::{ApiSpec, Outcome, RequestContext};
use crate::log::{UNDEFINED_EPOCH, UNDEFINED_EPOCH_OFFSET};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::OffsetForLeaderEpoch, 2, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetForLeaderEpochRequest) -> Outcome {
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.topic.0.as_str();
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let out = EpochEndOffset::default()
                    .with_partition(p.partition)
                    .with_leader_epoch(UNDEFINED_EPOCH)
                    .with_end_offset(UNDEFINED_EPOCH_OFFSET);
                let Some(partition) = ctx.broker.replicas.partition(name, p.partition) else {
                    return out.with_error_code(ResponseError::UnknownTopicOrPartition.code());
                };
                if let Err(code) = check_leader_epoch(&partition, p.current_leader_epoch) {
                    return out.with_error_code(code);
                }
                let (epoch, end) = partition.with_log(|log| {
                    log.end_offset_for_epoch(p.leader_epoch, partition.leader_epoch)
                });
                out.with_leader_epoch(epoch).with_end_offset(end)
            })
            .collect();
        topics.push(
            OffsetForLeaderTopicResult::default()
                .with_topic(topic.topic)
                .with_partitions(partitions),
        );
    }
    ctx.respond(&OffsetForLeaderEpochResponse::default().with_topics(topics))
}
