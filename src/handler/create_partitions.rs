//! CreatePartitions (key 37), v0-v3 (flexible from v2): grows topics to a new
//! partition count through the metadata log. The new partitions' logs are open
//! before the answer (see `Broker::propose`), so they take produce and fetch at
//! once, and Metadata lists them from the same image.

use std::collections::{HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_partitions_response::CreatePartitionsTopicResult;
use kafka_protocol::messages::{ApiKey, CreatePartitionsRequest, CreatePartitionsResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_names::{rejection_code, CreateFailure};
use super::{ApiSpec, Outcome, RequestContext};
use crate::broker::Broker;
use crate::cluster::image::MAX_PARTITIONS_PER_TOPIC;
use crate::cluster::{CommandResult, MetadataCommand};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::CreatePartitions, 0, 3);

pub async fn handle(ctx: &RequestContext<'_>, request: CreatePartitionsRequest) -> Outcome {
    let mut counts: HashMap<&str, usize> = HashMap::new();
    for t in &request.topics {
        *counts.entry(t.name.0.as_str()).or_default() += 1;
    }
    let duplicates: HashSet<String> = counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(name, _)| name.to_string())
        .collect();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in &request.topics {
        let name = topic.name.0.as_str();
        let outcome = if duplicates.contains(name) {
            Err(CreateFailure::new(
                ResponseError::InvalidRequest,
                "Duplicate topic in request.",
            ))
        } else {
            grow(ctx.broker, topic, request.validate_only).await
        };
        let mut result = CreatePartitionsTopicResult::default().with_name(topic.name.clone());
        if let Err(failure) = outcome {
            result.error_code = failure.code;
            result.error_message = Some(StrBytes::from_string(failure.message));
        }
        results.push(result);
    }
    ctx.respond(&CreatePartitionsResponse::default().with_results(results))
}

/// Kafka's checks (ReplicationControlManager.createPartitions), then the command.
async fn grow(
    broker: &Broker,
    topic: &CreatePartitionsTopic,
    validate_only: bool,
) -> Result<(), CreateFailure> {
    let name = topic.name.0.as_str();
    let image = broker.metadata.image();
    let Some(current) = image.topics.get(name) else {
        return Err(CreateFailure::new(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{name}' does not exist."),
        ));
    };
    if current.internal {
        // The group and transaction coordinators hash ids over a fixed count.
        return Err(CreateFailure::new(
            ResponseError::InvalidRequest,
            format!("Cannot change the partition count of internal topic '{name}'."),
        ));
    }
    let have = current.partitions.len() as i32;
    if topic.count == have {
        return Err(CreateFailure::new(
            ResponseError::InvalidPartitions,
            format!("Topic already has {have} partition(s)."),
        ));
    }
    if topic.count < have {
        return Err(CreateFailure::new(
            ResponseError::InvalidPartitions,
            format!(
                "The topic {name} currently has {have} partition(s); {} would not be an increase.",
                topic.count
            ),
        ));
    }
    if topic.count > MAX_PARTITIONS_PER_TOPIC {
        return Err(CreateFailure::new(
            ResponseError::InvalidPartitions,
            format!(
                "The topic {name} would have {} partitions, more than the limit of {MAX_PARTITIONS_PER_TOPIC}.",
                topic.count
            ),
        ));
    }
    if let Some(assignments) = &topic.assignments {
        let existing: Vec<i32> = current
            .partitions
            .first()
            .map(|p| p.replicas.clone())
            .unwrap_or_default();
        check_assignments(
            &image.brokers.keys().copied().collect(),
            &existing,
            topic.count - have,
            assignments
                .iter()
                .map(|a| a.broker_ids.iter().map(|b| b.0).collect()),
        )?;
    }
    let added = u64::try_from(topic.count - have).unwrap_or(0);
    crate::replica::fd_budget::check(added)
        .map_err(|e| CreateFailure::new(ResponseError::PolicyViolation, e.to_string()))?;
    if validate_only {
        return Ok(());
    }
    let result = broker
        .propose(MetadataCommand::CreatePartitions {
            topic_id: current.topic_id,
            total_count: topic.count,
        })
        .await
        .map_err(super::topic_names::propose_failure)?;
    match result {
        CommandResult::Rejected(rejection) => Err(CreateFailure::new(
            rejection_code(&rejection),
            rejection.to_string(),
        )),
        _ => Ok(()),
    }
}

/// Manual assignments for the new partitions: one per new partition, each naming
/// registered brokers once, as many as the topic's other partitions have. gregor
/// places replicas itself (the lowest broker ids, as for every partition), so an
/// assignment must also name that replica set; anything else would be silently
/// ignored, which is worse than refusing it.
fn check_assignments(
    brokers: &HashSet<i32>,
    existing: &[i32],
    additional: i32,
    assignments: impl ExactSizeIterator<Item = Vec<i32>>,
) -> Result<(), CreateFailure> {
    let bad = |m: String| CreateFailure::new(ResponseError::InvalidReplicaAssignment, m);
    if assignments.len() as i64 != i64::from(additional) {
        return Err(bad(format!(
            "Attempted to add {additional} additional partition(s), but only {} assignment(s) were specified.",
            assignments.len()
        )));
    }
    let placed: HashSet<i32> = existing.iter().copied().collect();
    for replicas in assignments {
        if replicas.is_empty() {
            return Err(bad(
                "The manual partition assignment includes an empty replica list.".into(),
            ));
        }
        let mut seen = HashSet::new();
        for b in &replicas {
            if !brokers.contains(b) {
                return Err(bad(format!(
                    "The manual partition assignment includes broker {b}, but no such broker is registered."
                )));
            }
            if !seen.insert(*b) {
                return Err(bad(format!(
                    "The manual partition assignment includes the broker {b} more than once."
                )));
            }
        }
        if replicas.len() != existing.len() {
            return Err(bad(format!(
                "The manual partition assignment includes a partition with {} replica(s), but this is not consistent with previous partitions, which have {} replica(s).",
                replicas.len(),
                existing.len()
            )));
        }
        if seen != placed {
            return Err(bad(format!(
                "The manual partition assignment {replicas:?} differs from the replica set {existing:?} this broker places every partition on."
            )));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn check(brokers: &[i32], existing: &[i32], add: i32, a: Vec<Vec<i32>>) -> Option<String> {
        let brokers = brokers.iter().copied().collect();
        check_assignments(&brokers, existing, add, a.into_iter())
            .err()
            .map(|f| {
                assert_eq!(f.code, ResponseError::InvalidReplicaAssignment.code());
                f.message
            })
    }

    #[test]
    fn assignments_must_match_the_broker_set() {
        assert_eq!(check(&[1], &[1], 2, vec![vec![1], vec![1]]), None);
        assert!(check(&[1], &[1], 2, vec![vec![1]])
            .unwrap()
            .contains("only 1 assignment"));
        assert!(check(&[1], &[1], 1, vec![vec![2]])
            .unwrap()
            .contains("broker 2"));
        assert!(check(&[1], &[1], 1, vec![vec![1, 1]])
            .unwrap()
            .contains("more than once"));
        assert!(check(&[1], &[1], 1, vec![vec![]])
            .unwrap()
            .contains("empty"));
        assert!(check(&[1, 2], &[1], 1, vec![vec![1, 2]])
            .unwrap()
            .contains("2 replica(s)"));
        assert!(check(&[1, 2], &[1], 1, vec![vec![2]])
            .unwrap()
            .contains("differs"));
        assert_eq!(check(&[1, 2], &[1, 2], 1, vec![vec![2, 1]]), None);
    }
}
