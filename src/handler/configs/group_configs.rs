//! The GROUP config resource (type 32) of DescribeConfigs, AlterConfigs and
//! IncrementalAlterConfigs: Kafka 4.1's dynamic group configs. What the
//! keys are and how they are checked is `crate::group::dynamic_config`;
//! here they are read from the image, changed through the metadata log
//! (`MetadataCommand::AlterGroupConfigs`) and pushed to the live group.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;

use super::{alter_lock, ResourceError};
use crate::broker::Broker;
use crate::cluster::{CommandResult, MetadataCommand};
use crate::config_describe::ConfigEntry;
use crate::group::dynamic_config;
use crate::topic_config::AlterOp;

/// `resource_type` of a group (Kafka's `ConfigResource.Type.GROUP`).
pub const RESOURCE_GROUP: i8 = 32;

fn check_name(name: &str) -> Result<(), ResourceError> {
    if name.is_empty() {
        return Err(ResourceError::new(
            ResponseError::InvalidRequest,
            "Group name must not be empty",
        ));
    }
    Ok(())
}

fn overrides_of(broker: &Broker, name: &str) -> BTreeMap<String, String> {
    broker
        .metadata
        .image()
        .group_configs
        .get(name)
        .cloned()
        .unwrap_or_default()
}

/// Every group config of `name` with its value and source. A group that
/// does not exist (or has no overrides) shows the defaults, as in Kafka.
pub fn describe(broker: &Broker, name: &str) -> Result<Vec<ConfigEntry>, ResourceError> {
    check_name(name)?;
    Ok(dynamic_config::describe(
        &broker.config,
        &overrides_of(broker, name),
    ))
}

/// IncrementalAlterConfigs on a group: SET and DELETE (a null SET value
/// deletes); group configs have no list type, so APPEND and SUBTRACT are
/// INVALID_CONFIG, as in Kafka.
pub async fn alter_incremental(
    broker: &Broker,
    name: &str,
    ops: &[(String, AlterOp, Option<String>)],
    validate_only: bool,
) -> Result<(), ResourceError> {
    check_name(name)?;
    let mut seen = std::collections::HashSet::new();
    if let Some((key, _, _)) = ops.iter().find(|(k, _, _)| !seen.insert(k.as_str())) {
        return Err(ResourceError::new(
            ResponseError::InvalidRequest,
            format!("Error due to duplicate config keys: {key}"),
        ));
    }
    let _serial = alter_lock().await;
    let current = overrides_of(broker, name);
    let mut next = current.clone();
    for (key, op, value) in ops {
        match (op, value) {
            (AlterOp::Set, Some(v)) => {
                next.insert(key.clone(), v.clone());
            }
            (AlterOp::Set, None) | (AlterOp::Delete, _) => {
                next.remove(key);
            }
            (AlterOp::Append | AlterOp::Subtract, _) => {
                return Err(ResourceError::new(
                    ResponseError::InvalidConfig,
                    format!(
                        "Can't {} to key {key} because its type is not LIST.",
                        op.name()
                    ),
                ))
            }
        }
    }
    replace(broker, name, &current, &next, validate_only).await
}

/// AlterConfigs on a group: `next` becomes its whole set of overrides.
pub async fn alter_all(
    broker: &Broker,
    name: &str,
    next: &BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ResourceError> {
    check_name(name)?;
    let _serial = alter_lock().await;
    let current = overrides_of(broker, name);
    replace(broker, name, &current, next, validate_only).await
}

/// Validates `next` as a whole, proposes the difference, then applies the
/// result to the live consumer group. Call with `alter_lock` held.
async fn replace(
    broker: &Broker,
    name: &str,
    current: &BTreeMap<String, String>,
    next: &BTreeMap<String, String>,
    validate_only: bool,
) -> Result<(), ResourceError> {
    dynamic_config::validate(&broker.config, next)
        .map_err(|m| ResourceError::new(ResponseError::InvalidConfig, m))?;
    let (set, delete) = super::config_diff(current, next);
    if validate_only || (set.is_empty() && delete.is_empty()) {
        return Ok(());
    }
    let result = broker
        .propose(MetadataCommand::AlterGroupConfigs {
            group_id: name.to_string(),
            set,
            delete,
        })
        .await
        .map_err(|e| ResourceError::new(ResponseError::UnknownServerError, e.to_string()))?;
    if let CommandResult::Rejected(r) = result {
        return Err(ResourceError::new(
            ResponseError::InvalidConfig,
            r.to_string(),
        ));
    }
    // The session timeout acts on the members' expiry from the next tick;
    // heartbeats re-read the image, so this only makes it immediate.
    if let Some(group) = broker.groups.consumer_group(name, false) {
        let image = broker.metadata.image();
        let (session, interval) =
            dynamic_config::consumer_timeouts(&broker.config, image.group_configs.get(name));
        group
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .set_timeouts(session, interval);
    }
    Ok(())
}
