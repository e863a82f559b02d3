//! OffsetCommit (key 8), v2-v9: offsets (with leader epoch and the metadata
//! string, round-tripped) written to `__consumer_offsets` before the answer.
//!
//! v10 (topic IDs instead of names) is not advertised, as Kafka 4.1 does not
//! advertise it: its OffsetCommitRequest.json marks v10
//! `latestVersionUnstable`, so a 4.1 broker offers 2-9 unless
//! `unstable.api.versions.enable=true`, and the 4.1 Java consumer and admin
//! client cap their commits at v9 (`Builder.forTopicNames`). kafka-protocol
//! 0.18 follows the same schema and has no v10 request codec (its response
//! codec goes to v10). The schema may still change before it is stable.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_commit_response::{
    OffsetCommitResponsePartition, OffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetCommitRequest, OffsetCommitResponse};

use super::{metadata_too_large, partition_known, preflight, unknown_partition};
use crate::group::classic::GroupState;
use crate::group::CommittedOffset;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::OffsetCommit, 2, 9);

/// `retention_time_ms` was removed in v5.
const LAST_VERSION_WITH_RETENTION: i16 = 4;

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetCommitRequest) -> Outcome {
    let group_id = request.group_id.0.as_str();
    let group_error = match preflight(ctx, group_id).await {
        Err(code) => Some(code),
        Ok(()) => check_membership(ctx, &request).err(),
    };
    let image = ctx.broker.metadata.image();
    let now_ms = crate::replica::now_ms();
    let max_metadata = ctx.broker.groups.config.offset_metadata_max_bytes;
    // v2-v4 may ask for a retention of their own (-1: the broker's); Kafka
    // then records an expire timestamp (OffsetCommitValue v1).
    let expire_ms =
        if ctx.api_version <= LAST_VERSION_WITH_RETENTION && request.retention_time_ms >= 0 {
            now_ms.saturating_add(request.retention_time_ms)
        } else {
            -1
        };
    let mut to_write: Vec<(String, i32, Option<CommittedOffset>)> = Vec::new();
    let mut codes: Vec<Vec<i16>> = Vec::new();
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let mut topic_codes = Vec::new();
        for p in &topic.partitions {
            let metadata = p
                .committed_metadata
                .as_ref()
                .map(|s| s.as_str().to_string())
                .unwrap_or_default();
            // Unknown partitions first, whatever the group's state, as Kafka 4.1.
            let code = if !partition_known(&image, name, p.partition_index) {
                unknown_partition(name, p.partition_index)
            } else if let Some(code) = group_error {
                code
            } else if metadata.len() > max_metadata {
                metadata_too_large(metadata.len(), max_metadata)
            } else {
                to_write.push((
                    name.to_string(),
                    p.partition_index,
                    Some(CommittedOffset {
                        offset: p.committed_offset,
                        leader_epoch: p.committed_leader_epoch,
                        metadata,
                        commit_timestamp_ms: now_ms,
                        expire_timestamp_ms: expire_ms,
                    }),
                ));
                0
            };
            topic_codes.push(code);
        }
        codes.push(topic_codes);
    }
    if !to_write.is_empty() {
        let written = crate::group::store::write_offsets(ctx.broker, group_id, &to_write);
        match written {
            Ok(()) => {
                for (topic, partition, value) in to_write {
                    ctx.broker
                        .groups
                        .set_offset(group_id, &topic, partition, value);
                }
            }
            Err(code) => {
                for c in codes.iter_mut().flatten() {
                    if *c == 0 {
                        *c = code;
                    }
                }
            }
        }
    }
    let topics = request
        .topics
        .iter()
        .zip(codes)
        .map(|(t, codes)| {
            OffsetCommitResponseTopic::default()
                .with_name(t.name.clone())
                .with_partitions(
                    t.partitions
                        .iter()
                        .zip(codes)
                        .map(|(p, code)| {
                            OffsetCommitResponsePartition::default()
                                .with_partition_index(p.partition_index)
                                .with_error_code(code)
                        })
                        .collect(),
                )
        })
        .collect();
    ctx.respond(&OffsetCommitResponse::default().with_topics(topics))
}

/// Kafka's rules for who may commit: anyone to a group without members
/// (generation -1, e.g. tools and `assign()` consumers), otherwise a member
/// of the current generation.
fn check_membership(ctx: &RequestContext<'_>, request: &OffsetCommitRequest) -> Result<(), i16> {
    let group_id = request.group_id.0.as_str();
    let generation = request.generation_id_or_member_epoch;
    let member_id = request.member_id.as_str();
    let instance = request.group_instance_id.as_ref().map(|s| s.as_str());
    if let Some(group) = ctx.broker.groups.consumer_group(group_id, false) {
        return group
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .check_commit(member_id, generation);
    }
    let Some(group) = ctx.broker.groups.group(group_id, false) else {
        return if generation < 0 {
            Ok(())
        } else {
            Err(ResponseError::IllegalGeneration.code())
        };
    };
    let g = group.lock().unwrap_or_else(|p| p.into_inner());
    if generation < 0 && g.state == GroupState::Empty {
        return Ok(());
    }
    if g.state == GroupState::CompletingRebalance {
        return Err(ResponseError::RebalanceInProgress.code());
    }
    if g.state == GroupState::Empty {
        return Err(ResponseError::IllegalGeneration.code());
    }
    g.heartbeat_check(member_id, instance, generation)
}
