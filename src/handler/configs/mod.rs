//! The config APIs: DescribeConfigs (32), AlterConfigs (33),
//! IncrementalAlterConfigs (44) and ListConfigResources (74), over topic,
//! broker and group resources (groups: `group_configs`).
//!
//! What a config is worth and where it comes from is decided in
//! `crate::config_describe`; these handlers resolve resources, turn failures
//! into per-resource error codes, and send topic changes through the metadata
//! log (`MetadataCommand::AlterTopicConfigs`), which the replica manager
//! applies to the live partition logs. Broker settings are read-only: they
//! come from the file, environment and flags read at start.

pub mod alter_configs;
pub mod describe_configs;
pub mod group_configs;
pub mod incremental_alter_configs;
pub mod list_config_resources;

use std::collections::{BTreeMap, HashMap};

use kafka_protocol::error::ResponseError;
use uuid::Uuid;

use super::topic_names::{rejection_code, validate_topic_name};
use crate::broker::Broker;
use crate::cluster::{CommandResult, MetadataCommand, MetadataRejection};

/// `resource_type` values (Kafka's `ConfigResource.Type`).
pub const RESOURCE_TOPIC: i8 = 2;
pub const RESOURCE_BROKER: i8 = 4;
pub const RESOURCE_BROKER_LOGGER: i8 = 8;

/// One resource's failure: an error code and its message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ResourceError {
    pub code: i16,
    pub message: String,
}

impl ResourceError {
    pub fn new(kind: ResponseError, message: impl Into<String>) -> Self {
        ResourceError {
            code: kind.code(),
            message: message.into(),
        }
    }
}

/// Alterations of topic configs read the current overrides, compute the new
/// ones and propose them: one at a time, so two concurrent APPENDs to the
/// same list cannot both start from the same value and lose one.
static ALTER_LOCK: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Checks a BROKER resource name: `""` means the cluster-wide default, else
/// it must be this broker's id. Returns true for the cluster default.
pub fn check_broker_name(broker: &Broker, name: &str) -> Result<bool, ResourceError> {
    if name.is_empty() {
        return Ok(true);
    }
    let id: i32 = name.parse().map_err(|_| {
        ResourceError::new(
            ResponseError::InvalidRequest,
            format!("Broker id must be an integer, but it is: {name}"),
        )
    })?;
    if id != broker.config.node_id {
        return Err(ResourceError::new(
            ResponseError::InvalidRequest,
            format!(
                "Unexpected broker id, expected {} or empty string, but received {name}",
                broker.config.node_id
            ),
        ));
    }
    Ok(false)
}

/// A topic's id and current overrides, or the per-resource error Kafka gives.
pub fn find_topic(
    broker: &Broker,
    name: &str,
) -> Result<(Uuid, BTreeMap<String, String>), ResourceError> {
    validate_topic_name(name)
        .map_err(|m| ResourceError::new(ResponseError::InvalidTopicException, m))?;
    let image = broker.metadata.image();
    let topic = image.topics.get(name).ok_or_else(|| {
        ResourceError::new(
            ResponseError::UnknownTopicOrPartition,
            format!("Topic '{name}' does not exist."),
        )
    })?;
    Ok((topic.topic_id, topic.configs.clone()))
}

/// Why a broker-side resource cannot be altered, or `None` when there is
/// nothing to alter (an empty change to this broker is a no-op, as in Kafka).
pub fn refuse_non_topic_alter(
    broker: &Broker,
    resource_type: i8,
    name: &str,
    keys: &[&str],
) -> Option<ResourceError> {
    match resource_type {
        RESOURCE_BROKER => {
            if let Err(e) = check_broker_name(broker, name) {
                return Some(e);
            }
            let first = keys.first()?;
            let what = if crate::config_describe::is_broker_key(first) {
                format!("Broker config '{first}' is read-only in gregor")
            } else {
                format!("Unknown or read-only broker config '{first}'")
            };
            Some(ResourceError::new(
                ResponseError::InvalidRequest,
                format!(
                    "{what}: broker settings cannot change at runtime; set it in server.properties or with --override and restart"
                ),
            ))
        }
        RESOURCE_BROKER_LOGGER => Some(ResourceError::new(
            ResponseError::InvalidRequest,
            "gregor has no dynamic loggers: log levels come from GREGOR_LOG at start",
        )),
        other => Some(unsupported_type(other)),
    }
}

pub fn unsupported_type(resource_type: i8) -> ResourceError {
    ResourceError::new(
        ResponseError::InvalidRequest,
        format!("Unsupported resource type: {resource_type}"),
    )
}

/// (type, name) pairs named more than once in one request: Kafka answers
/// each of them with INVALID_REQUEST rather than pick one.
pub fn duplicate_resources<'a>(
    resources: impl Iterator<Item = (i8, &'a str)>,
) -> std::collections::HashSet<(i8, String)> {
    let mut counts: HashMap<(i8, String), usize> = HashMap::new();
    for (t, n) in resources {
        *counts.entry((t, n.to_string())).or_default() += 1;
    }
    counts
        .into_iter()
        .filter(|(_, n)| *n > 1)
        .map(|(k, _)| k)
        .collect()
}

pub fn duplicate_resource_error() -> ResourceError {
    ResourceError::new(ResponseError::InvalidRequest, "Duplicate resource.")
}

/// Holds `ALTER_LOCK` for one topic alteration.
pub async fn alter_lock() -> tokio::sync::MutexGuard<'static, ()> {
    ALTER_LOCK.lock().await
}

/// Makes `next` the topic's overrides (validated first), through the
/// metadata log unless `validate_only`. Call with `alter_lock` held.
pub async fn replace_topic_configs(
    broker: &Broker,
    topic_id: Uuid,
    current: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ResourceError> {
    crate::topic_config::validate_all(next)
        .map_err(|m| ResourceError::new(ResponseError::InvalidConfig, m))?;
    let (set, delete) = config_diff(current, next);
    if validate_only || (set.is_empty() && delete.is_empty()) {
        return Ok(());
    }
    let result = broker
        .propose(MetadataCommand::AlterTopicConfigs {
            topic_id,
            set,
            delete,
        })
        .await
        .map_err(|e| ResourceError::new(ResponseError::UnknownServerError, e.to_string()))?;
    match result {
        CommandResult::Rejected(MetadataRejection::UnknownTopicId { .. }) => Err(
            ResourceError::new(ResponseError::UnknownTopicOrPartition, "Topic was deleted"),
        ),
        CommandResult::Rejected(r) => Err(ResourceError::new(rejection_code(&r), r.to_string())),
        _ => Ok(()),
    }
}

/// What turns the stored settings `current` into `next`: the keys to set
/// (new or changed values) and the keys to delete. Shared by the topic and
/// group config paths.
pub(crate) fn config_diff(
    current: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
) -> (BTreeMap<String, String>, Vec<String>) {
    let set: BTreeMap<String, String> = next
        .iter()
        .filter(|(k, v)| current.get(*k) != Some(*v))
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    let delete: Vec<String> = current
        .keys()
        .filter(|k| !next.contains_key(*k))
        .cloned()
        .collect();
    (set, delete)
}
