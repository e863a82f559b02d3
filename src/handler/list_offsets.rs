//! ListOffsets (key 2), v1-v10: earliest, latest, by timestamp, and the
//! offset of the largest timestamp.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_offsets_response::{
    ListOffsetsPartitionResponse, ListOffsetsTopicResponse,
};
use kafka_protocol::messages::{ApiKey, ListOffsetsRequest, ListOffsetsResponse};

use super::{ApiSpec, Outcome, RequestContext};
use crate::error::log_error_code;
use crate::replica::Partition;

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::ListOffsets, 1, 10);

/// The response's leader_epoch exists from v4; the codec refuses it earlier.
const FIRST_VERSION_WITH_LEADER_EPOCH: i16 = 4;

/// Special timestamps of ListOffsets (Kafka's `ListOffsetsRequest` constants).
const LATEST_TIMESTAMP: i64 = -1;
const EARLIEST_TIMESTAMP: i64 = -2;
const MAX_TIMESTAMP: i64 = -3;
const EARLIEST_LOCAL_TIMESTAMP: i64 = -4;
const LATEST_TIERED_TIMESTAMP: i64 = -5;

pub async fn handle(ctx: &RequestContext<'_>, request: ListOffsetsRequest) -> Outcome {
    let read_committed = request.isolation_level == 1;
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.as_str();
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let out = ListOffsetsPartitionResponse::default()
                    .with_partition_index(p.partition_index)
                    .with_timestamp(-1)
                    .with_offset(-1)
                    .with_leader_epoch(-1);
                match ctx.broker.replicas.partition(name, p.partition_index) {
                    None => out.with_error_code(ResponseError::UnknownTopicOrPartition.code()),
                    Some(partition) => {
                        if let Err(code) = check_leader_epoch(&partition, p.current_leader_epoch) {
                            return out.with_error_code(code);
                        }
                        let mut out = lookup(&partition, p.timestamp, read_committed, out);
                        if ctx.api_version >= FIRST_VERSION_WITH_LEADER_EPOCH {
                            out.leader_epoch = partition.leader_epoch;
                        }
                        out
                    }
                }
            })
            .collect();
        topics.push(
            ListOffsetsTopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ctx.respond(&ListOffsetsResponse::default().with_topics(topics))
}

/// Kafka's leader-epoch fencing: -1 skips the check.
pub fn check_leader_epoch(partition: &Partition, requested: i32) -> Result<(), i16> {
    if requested < 0 || requested == partition.leader_epoch {
        Ok(())
    } else if requested > partition.leader_epoch {
        Err(ResponseError::UnknownLeaderEpoch.code())
    } else {
        Err(ResponseError::FencedLeaderEpoch.code())
    }
}

/// `read_committed`: the latest offset is the last stable offset, as in Kafka.
fn lookup(
    partition: &Partition,
    timestamp: i64,
    read_committed: bool,
    mut out: ListOffsetsPartitionResponse,
) -> ListOffsetsPartitionResponse {
    let found = partition.with_log(|log| -> Result<Option<(i64, i64)>, crate::log::LogError> {
        Ok(match timestamp {
            LATEST_TIMESTAMP | LATEST_TIERED_TIMESTAMP if read_committed => {
                Some((log.last_stable_offset(), -1))
            }
            LATEST_TIMESTAMP | LATEST_TIERED_TIMESTAMP => Some((log.log_end_offset(), -1)),
            EARLIEST_TIMESTAMP | EARLIEST_LOCAL_TIMESTAMP => Some((log.log_start_offset(), -1)),
            MAX_TIMESTAMP => log.max_timestamp()?.map(|(offset, ts)| (offset, ts)),
            ts if ts >= 0 => log.offset_for_timestamp(ts)?,
            _ => return Ok(None),
        })
    });
    match found {
        Ok(Some((offset, ts))) => {
            out.offset = offset;
            out.timestamp = ts;
        }
        Ok(None) => {
            if timestamp < 0 && !matches!(timestamp, MAX_TIMESTAMP) {
                out.error_code = ResponseError::InvalidRequest.code();
            }
        }
        Err(e) => out.error_code = log_error_code(&e),
    }
    out
}
