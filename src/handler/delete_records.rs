//! DeleteRecords (key 21), v0-v2 (flexible from v2): moves partitions' log start
//! offsets forward (`PartitionLog::delete_records_before`), answering the new
//! low watermark.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_records_response::{
    DeleteRecordsPartitionResult, DeleteRecordsTopicResult,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse};

use super::{ApiSpec, Outcome, RequestContext};
use crate::error::log_error_code;

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DeleteRecords, 0, 2);

/// The requested offset meaning "up to the high watermark".
const HIGH_WATERMARK: i64 = -1;

pub async fn handle(ctx: &RequestContext<'_>, request: DeleteRecordsRequest) -> Outcome {
    let image = ctx.broker.metadata.image();
    let mut topics = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.as_str();
        let internal = image.topics.get(name).is_some_and(|t| t.internal);
        let partitions = topic
            .partitions
            .iter()
            .map(|p| {
                let (low_watermark, error) =
                    delete_one(ctx, name, internal, p.partition_index, p.offset);
                DeleteRecordsPartitionResult::default()
                    .with_partition_index(p.partition_index)
                    .with_low_watermark(low_watermark)
                    .with_error_code(error)
            })
            .collect();
        topics.push(
            DeleteRecordsTopicResult::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ctx.respond(&DeleteRecordsResponse::default().with_topics(topics))
}

/// (low watermark, error code); the low watermark is -1 on errors, as Kafka.
fn delete_one(
    ctx: &RequestContext<'_>,
    topic: &str,
    internal: bool,
    index: i32,
    offset: i64,
) -> (i64, i16) {
    let Some(partition) = ctx.broker.replicas.partition(topic, index) else {
        return (-1, ResponseError::UnknownTopicOrPartition.code());
    };
    if internal {
        // Kafka refuses too: the coordinators' state lives in these logs.
        return (-1, ResponseError::InvalidTopicException.code());
    }
    partition.with_log(|log| {
        if !log.config().cleanup_policy_delete {
            // Kafka: records of a compact-only topic "can not be deleted due to the
            // configured policy".
            return (-1, ResponseError::PolicyViolation.code());
        }
        let target = match offset {
            HIGH_WATERMARK => log.log_end_offset(),
            o if o < 0 => return (-1, ResponseError::OffsetOutOfRange.code()),
            o => o,
        };
        match log.delete_records_before(target) {
            Ok(start) => (start, 0),
            Err(e) => {
                tracing::debug!(topic, partition = index, offset, error = %e, "DeleteRecords refused");
                (-1, log_error_code(&e))
            }
        }
    })
}
