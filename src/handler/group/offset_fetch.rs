//! OffsetFetch (key 9), v1-v9: committed offsets of one group, or of many
//! groups in one request (v8+). Partitions without a commit answer -1.
//!
//! v10 (topic IDs instead of names) is not advertised, as Kafka 4.1 does not
//! advertise it: OffsetFetchRequest.json marks v10 `latestVersionUnstable`,
//! so a 4.1 broker offers 1-9 unless `unstable.api.versions.enable=true`, and
//! the 4.1 Java consumer and admin client cap their requests at v9.
//! kafka-protocol 0.18 has no v10 request codec (its response codec goes to
//! v10). The schema may still change before it is stable.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_fetch_response::{
    OffsetFetchResponseGroup, OffsetFetchResponsePartition, OffsetFetchResponsePartitions,
    OffsetFetchResponseTopic, OffsetFetchResponseTopics,
};
use kafka_protocol::messages::{
    ApiKey, GroupId, OffsetFetchRequest, OffsetFetchResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::preflight;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::OffsetFetch, 1, 9);

const FIRST_MULTI_GROUP_VERSION: i16 = 8;
/// v1 has no top-level error: a group error goes on every partition.
const FIRST_VERSION_WITH_TOP_LEVEL_ERROR: i16 = 2;

/// (topic, partition, offset, leader epoch, metadata, error)
type Row = (String, i32, i64, i32, Option<String>, i16);

/// Offsets of one group: the requested partitions, or every committed one.
/// `require_stable` (v7+, KIP-447): a partition with a transactional commit still
/// pending answers UNSTABLE_OFFSET_COMMIT, which clients retry, rather than an
/// offset the transaction may be about to replace.
async fn fetch_group(
    ctx: &RequestContext<'_>,
    group_id: &str,
    wanted: Option<Vec<(String, Vec<i32>)>>,
    require_stable: bool,
) -> Result<Vec<(String, Vec<Row>)>, (i16, Vec<(String, Vec<i32>)>)> {
    if let Err(code) = preflight(ctx, group_id).await {
        return Err((code, wanted.unwrap_or_default()));
    }
    let committed = ctx.broker.groups.committed(group_id);
    let unstable = if require_stable {
        ctx.broker.groups.pending_txn_partitions(group_id)
    } else {
        Default::default()
    };
    let wanted = match wanted {
        Some(w) => w,
        None => {
            let mut all: Vec<(String, Vec<i32>)> = Vec::new();
            for (topic, partition) in committed.keys() {
                match all.last_mut() {
                    Some((t, ps)) if t == topic => ps.push(*partition),
                    _ => all.push((topic.clone(), vec![*partition])),
                }
            }
            all
        }
    };
    Ok(wanted
        .into_iter()
        .map(|(topic, partitions)| {
            let rows = partitions
                .into_iter()
                .map(|p| match committed.get(&(topic.clone(), p)) {
                    _ if unstable.contains(&(topic.clone(), p)) => (
                        topic.clone(),
                        p,
                        -1,
                        -1,
                        Some(String::new()),
                        ResponseError::UnstableOffsetCommit.code(),
                    ),
                    Some(c) => (
                        topic.clone(),
                        p,
                        c.offset,
                        c.leader_epoch,
                        Some(c.metadata.clone()),
                        0,
                    ),
                    None => (topic.clone(), p, -1, -1, Some(String::new()), 0),
                })
                .collect();
            (topic, rows)
        })
        .collect())
}

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetFetchRequest) -> Outcome {
    let mut response = OffsetFetchResponse::default();
    let require_stable = request.require_stable;
    if ctx.api_version >= FIRST_MULTI_GROUP_VERSION {
        for group in request.groups {
            let wanted = group.topics.map(|ts| {
                ts.into_iter()
                    .map(|t| (t.name.0.as_str().to_string(), t.partition_indexes))
                    .collect()
            });
            let group_id = group.group_id.0.as_str().to_string();
            let mut out = OffsetFetchResponseGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(group_id.clone())));
            match fetch_group(ctx, &group_id, wanted, require_stable).await {
                Ok(topics) => {
                    out.topics = topics
                        .into_iter()
                        .map(|(topic, rows)| {
                            OffsetFetchResponseTopics::default()
                                .with_name(TopicName(StrBytes::from_string(topic)))
                                .with_partitions(rows.into_iter().map(partitions_row).collect())
                        })
                        .collect();
                }
                Err((code, _)) => out.error_code = code,
            }
            response.groups.push(out);
        }
        return ctx.respond(&response);
    }
    let group_id = request.group_id.0.as_str().to_string();
    let wanted = request.topics.map(|ts| {
        ts.into_iter()
            .map(|t| (t.name.0.as_str().to_string(), t.partition_indexes))
            .collect()
    });
    let (topics, error) = match fetch_group(ctx, &group_id, wanted, require_stable).await {
        Ok(topics) => (topics, 0),
        Err((code, wanted)) => {
            let rows = wanted
                .into_iter()
                .map(|(t, ps)| {
                    let rows = ps
                        .into_iter()
                        .map(|p| (t.clone(), p, -1, -1, Some(String::new()), code))
                        .collect();
                    (t, rows)
                })
                .collect();
            (rows, code)
        }
    };
    response.topics = topics
        .into_iter()
        .map(|(topic, rows)| {
            OffsetFetchResponseTopic::default()
                .with_name(TopicName(StrBytes::from_string(topic)))
                .with_partitions(rows.into_iter().map(partition_row).collect())
        })
        .collect();
    if ctx.api_version >= FIRST_VERSION_WITH_TOP_LEVEL_ERROR {
        response.error_code = error;
    }
    ctx.respond(&response)
}

fn partition_row((_, p, offset, epoch, metadata, code): Row) -> OffsetFetchResponsePartition {
    OffsetFetchResponsePartition::default()
        .with_partition_index(p)
        .with_committed_offset(offset)
        .with_committed_leader_epoch(epoch)
        .with_metadata(metadata.map(StrBytes::from_string))
        .with_error_code(code)
}

fn partitions_row((_, p, offset, epoch, metadata, code): Row) -> OffsetFetchResponsePartitions {
    OffsetFetchResponsePartitions::default()
        .with_partition_index(p)
        .with_committed_offset(offset)
        .with_committed_leader_epoch(epoch)
        .with_metadata(metadata.map(StrBytes::from_string))
        .with_error_code(code)
}
