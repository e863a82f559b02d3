//! DescribeTopicPartitions (key 75), v0 (flexible): Kafka 4's paginated topic
//! description (KIP-966), which the Java admin client prefers to Metadata for
//! `describeTopics`.
//!
//! As Kafka's handler: an empty topic list means every topic; topics are
//! answered in name order from the cursor's topic (from the cursor's partition
//! in that topic); at most `response_partition_limit` partitions (clamped to
//! 1..=[`MAX_PARTITIONS_PER_RESPONSE`]) are listed, and when the limit cuts the
//! list `next_cursor` names the first partition left out. Named topics that do
//! not exist are answered with UNKNOWN_TOPIC_OR_PARTITION (or
//! INVALID_TOPIC_EXCEPTION for an invalid name); when listing every topic
//! there are none. With one broker there are no eligible leader replicas
//! (KIP-966's ELR needs a replication factor above one) and nothing offline.

use std::collections::BTreeSet;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_topic_partitions_response::{
    Cursor, DescribeTopicPartitionsResponsePartition, DescribeTopicPartitionsResponseTopic,
};
use kafka_protocol::messages::{
    ApiKey, BrokerId, DescribeTopicPartitionsRequest, DescribeTopicPartitionsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::metadata::TOPIC_ALL_OPERATIONS;
use super::{ApiSpec, Outcome, RequestContext};
use crate::cluster::TopicImage;

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DescribeTopicPartitions, 0, 0);

/// Kafka's `max.request.partition.size.limit` default: partitions per response.
pub const MAX_PARTITIONS_PER_RESPONSE: i32 = 2000;

fn name_of(s: &str) -> TopicName {
    TopicName(StrBytes::from_string(s.to_string()))
}

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeTopicPartitionsRequest) -> Outcome {
    let image = ctx.broker.metadata.image();
    let all = request.topics.is_empty();
    let names: BTreeSet<String> = if all {
        image.topics.keys().cloned().collect()
    } else {
        request
            .topics
            .iter()
            .map(|t| t.name.0.as_str().to_string())
            .collect()
    };
    let (cursor_topic, cursor_partition) = match &request.cursor {
        Some(c) => (
            c.topic_name.0.as_str().to_string(),
            c.partition_index.max(0),
        ),
        None => (String::new(), 0),
    };
    if request.cursor.is_some() && !all && !names.contains(&cursor_topic) {
        // Kafka: InvalidRequestException, answered as an error on every topic.
        let topics = names
            .iter()
            .map(|n| {
                DescribeTopicPartitionsResponseTopic::default()
                    .with_error_code(ResponseError::InvalidRequest.code())
                    .with_name(Some(name_of(n)))
            })
            .collect();
        return ctx.respond(&DescribeTopicPartitionsResponse::default().with_topics(topics));
    }
    let limit = request
        .response_partition_limit
        .clamp(1, MAX_PARTITIONS_PER_RESPONSE) as usize;
    let mut remaining = limit;
    let mut response = DescribeTopicPartitionsResponse::default();
    for name in names.range(cursor_topic.clone()..) {
        if remaining == 0 {
            // Everything before this topic is complete; continue with all of it.
            response.next_cursor = Some(
                Cursor::default()
                    .with_topic_name(name_of(name))
                    .with_partition_index(0),
            );
            break;
        }
        let Some(topic) = image.topics.get(name) else {
            if !all {
                let code = if super::topic_names::validate_topic_name(name).is_err() {
                    ResponseError::InvalidTopicException
                } else {
                    ResponseError::UnknownTopicOrPartition
                };
                response.topics.push(
                    DescribeTopicPartitionsResponseTopic::default()
                        .with_error_code(code.code())
                        .with_name(Some(name_of(name)))
                        .with_topic_id(Uuid::nil())
                        .with_is_internal(name.starts_with("__")),
                );
            }
            continue;
        };
        let start = if *name == cursor_topic {
            cursor_partition
        } else {
            0
        };
        let (entry, next) = describe(topic, start, remaining);
        remaining -= entry.partitions.len();
        response.topics.push(entry);
        if let Some(next) = next {
            response.next_cursor = Some(
                Cursor::default()
                    .with_topic_name(name_of(name))
                    .with_partition_index(next),
            );
            break;
        }
    }
    ctx.respond(&response)
}

/// The topic's partitions from `start`, at most `max`; also the index of the first
/// partition left out, if any.
fn describe(
    topic: &TopicImage,
    start: i32,
    max: usize,
) -> (DescribeTopicPartitionsResponseTopic, Option<i32>) {
    let from = usize::try_from(start)
        .unwrap_or(0)
        .min(topic.partitions.len());
    let upto = topic.partitions.len().min(from.saturating_add(max));
    let partitions = topic.partitions[from..upto]
        .iter()
        .map(|p| {
            DescribeTopicPartitionsResponsePartition::default()
                .with_partition_index(p.partition_index)
                .with_leader_id(BrokerId(p.leader_id))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
                .with_eligible_leader_replicas(Some(Vec::new()))
                .with_last_known_elr(Some(Vec::new()))
                .with_offline_replicas(Vec::new())
        })
        .collect();
    let next = (upto < topic.partitions.len()).then_some(upto as i32);
    let entry = DescribeTopicPartitionsResponseTopic::default()
        .with_name(Some(name_of(&topic.name)))
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
        // No authorizer: every topic operation is allowed (Kafka always fills this in).
        .with_topic_authorized_operations(TOPIC_ALL_OPERATIONS);
    (entry, next)
}
