//! Topic name rules and topic creation shared by Metadata (auto-creation) and
//! CreateTopics.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use crate::broker::Broker;
use crate::cluster::{CommandResult, MetadataCommand, MetadataRejection};

/// Kafka's limit on topic name length, in characters.
pub const TOPIC_NAME_MAX_CHARS: usize = 249;

/// Names the broker keeps for itself (the metadata log lives in a directory of that name).
const RESERVED_NAMES: &[&str] = &["__cluster_metadata"];

/// Kafka's rule: 1-249 chars of `[a-zA-Z0-9._-]`, not "." or "..".
pub fn validate_topic_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("Topic name is empty".into());
    }
    if name == "." || name == ".." {
        return Err(format!("Topic name cannot be \"{name}\""));
    }
    if name.len() > TOPIC_NAME_MAX_CHARS {
        return Err(format!(
            "Topic name is longer than {TOPIC_NAME_MAX_CHARS} characters"
        ));
    }
    if let Some(c) = name
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Err(format!(
            "Topic name {name:?} contains {c:?}; only ASCII alphanumerics, '.', '_' and '-' are allowed"
        ));
    }
    if RESERVED_NAMES.contains(&name) {
        return Err(format!("Topic name {name:?} is reserved"));
    }
    Ok(())
}

/// A topic that could not be created, as a Kafka error code and message.
#[derive(Debug, Clone)]
pub struct CreateFailure {
    pub code: i16,
    pub message: String,
}

impl CreateFailure {
    pub fn new(kind: ResponseError, message: impl Into<String>) -> Self {
        CreateFailure {
            code: kind.code(),
            message: message.into(),
        }
    }
}

/// Creates a topic through the metadata log. Validation that does not depend
/// on the current state happens here; name clashes are decided by the state
/// machine so that concurrent creators get one winner.
pub async fn create_topic(
    broker: &Broker,
    name: &str,
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
    validate_only: bool,
) -> Result<Uuid, CreateFailure> {
    validate_topic_name(name)
        .map_err(|m| CreateFailure::new(ResponseError::InvalidTopicException, m))?;
    if partitions < 1 {
        return Err(CreateFailure::new(
            ResponseError::InvalidPartitions,
            format!("Number of partitions must be at least 1, got {partitions}"),
        ));
    }
    let image = broker.metadata.image();
    let brokers = image.brokers.len().max(1);
    if replication_factor < 1 || replication_factor as usize > brokers {
        return Err(CreateFailure::new(
            ResponseError::InvalidReplicationFactor,
            format!(
                "Replication factor {replication_factor} is below 1 or larger than the number of available brokers ({brokers})"
            ),
        ));
    }
    crate::topic_config::validate_all(&configs)
        .map_err(|m| CreateFailure::new(ResponseError::InvalidConfig, m))?;
    if image.topics.contains_key(name) {
        return Err(CreateFailure::new(
            ResponseError::TopicAlreadyExists,
            format!("Topic '{name}' already exists."),
        ));
    }
    let partitions_u64 = u64::try_from(partitions).unwrap_or(0);
    crate::replica::fd_budget::check(partitions_u64)
        .map_err(|e| CreateFailure::new(ResponseError::PolicyViolation, e.to_string()))?;
    let topic_id = Uuid::new_v4();
    if validate_only {
        return Ok(topic_id);
    }
    let result = broker
        .propose(MetadataCommand::CreateTopic {
            name: name.to_string(),
            topic_id,
            partitions,
            replication_factor,
            configs,
        })
        .await
        .map_err(propose_failure)?;
    match result {
        CommandResult::Rejected(rejection) => Err(CreateFailure::new(
            rejection_code(&rejection),
            rejection.to_string(),
        )),
        _ => Ok(topic_id),
    }
}

/// A proposal that failed: partitions this broker could not open are a
/// storage error (the client sees why; the broker keeps retrying them), a
/// metadata failure an unknown server error.
pub fn propose_failure(e: crate::broker::ProposeError) -> CreateFailure {
    let kind = match &e {
        crate::broker::ProposeError::Logs(_) => ResponseError::KafkaStorageError,
        crate::broker::ProposeError::Metadata(_) => ResponseError::UnknownServerError,
    };
    CreateFailure::new(kind, e.to_string())
}

/// The Kafka error a metadata rejection means to a client.
pub fn rejection_code(rejection: &MetadataRejection) -> ResponseError {
    match rejection {
        MetadataRejection::TopicAlreadyExists { .. }
        | MetadataRejection::TopicIdAlreadyExists { .. } => ResponseError::TopicAlreadyExists,
        MetadataRejection::UnknownTopicId { .. } => ResponseError::UnknownTopicId,
        MetadataRejection::InvalidTopicName { .. } => ResponseError::InvalidTopicException,
        MetadataRejection::InvalidPartitions { .. } => ResponseError::InvalidPartitions,
        MetadataRejection::InvalidReplicationFactor { .. } => {
            ResponseError::InvalidReplicationFactor
        }
        MetadataRejection::InvalidConfig { .. } => ResponseError::InvalidConfig,
        _ => ResponseError::InvalidRequest,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_follow_kafka_rules() {
        assert!(validate_topic_name("orders.v1_x-2").is_ok());
        assert!(validate_topic_name("").is_err());
        assert!(validate_topic_name("..").is_err());
        assert!(validate_topic_name("a/b").is_err());
        assert!(validate_topic_name(&"x".repeat(250)).is_err());
        assert!(validate_topic_name("__cluster_metadata").is_err());
    }
}
