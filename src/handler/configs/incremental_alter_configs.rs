//! IncrementalAlterConfigs (key 44), v0-v1 (v1 flexible): SET, DELETE,
//! APPEND and SUBTRACT on single topic configs, leaving the others as they
//! are; SET and DELETE on group configs. Broker settings are read-only in
//! gregor.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::incremental_alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::incremental_alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{
    ApiKey, IncrementalAlterConfigsRequest, IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{
    alter_lock, duplicate_resource_error, duplicate_resources, find_topic, group_configs,
    refuse_non_topic_alter, replace_topic_configs, ResourceError, RESOURCE_TOPIC,
};
use crate::broker::Broker;
use crate::config_describe::describe_topic;
use crate::handler::{ApiSpec, Outcome, RequestContext};
use crate::topic_config::{apply_incremental, AlterError, AlterOp};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::IncrementalAlterConfigs, 0, 1);

pub async fn handle(ctx: &RequestContext<'_>, request: IncrementalAlterConfigsRequest) -> Outcome {
    let duplicates = duplicate_resources(
        request
            .resources
            .iter()
            .map(|r| (r.resource_type, r.resource_name.as_str())),
    );
    let mut responses = Vec::with_capacity(request.resources.len());
    for resource in &request.resources {
        let key = (resource.resource_type, resource.resource_name.to_string());
        let outcome = if duplicates.contains(&key) {
            Err(duplicate_resource_error())
        } else {
            alter_one(ctx.broker, resource, request.validate_only).await
        };
        let mut response = AlterConfigsResourceResponse::default()
            .with_resource_type(resource.resource_type)
            .with_resource_name(resource.resource_name.clone())
            .with_error_message(None);
        if let Err(e) = outcome {
            response.error_code = e.code;
            response.error_message = Some(StrBytes::from_string(e.message));
        }
        responses.push(response);
    }
    ctx.respond(&IncrementalAlterConfigsResponse::default().with_responses(responses))
}

async fn alter_one(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ResourceError> {
    let name = resource.resource_name.as_str();
    let mut ops = Vec::with_capacity(resource.configs.len());
    for c in &resource.configs {
        let op = AlterOp::from_code(c.config_operation).ok_or_else(|| {
            ResourceError::new(
                ResponseError::InvalidRequest,
                format!(
                    "Unknown config operation {} for {}",
                    c.config_operation,
                    c.name.as_str()
                ),
            )
        })?;
        ops.push((
            c.name.as_str().to_string(),
            op,
            c.value.as_ref().map(|v| v.as_str().to_string()),
        ));
    }
    if resource.resource_type == group_configs::RESOURCE_GROUP {
        return group_configs::alter_incremental(broker, name, &ops, validate_only).await;
    }
    if resource.resource_type != RESOURCE_TOPIC {
        let keys: Vec<&str> = ops.iter().map(|(k, _, _)| k.as_str()).collect();
        return match refuse_non_topic_alter(broker, resource.resource_type, name, &keys) {
            Some(e) => Err(e),
            None => Ok(()),
        };
    }
    let _serial = alter_lock().await;
    let (topic_id, current) = find_topic(broker, name)?;
    let effective = describe_topic(&broker.config, &current);
    let next = apply_incremental(&current, &ops, |key| {
        effective
            .iter()
            .find(|e| e.name == key)
            .and_then(|e| e.value.clone())
    })
    .map_err(|e| match e {
        AlterError::InvalidRequest(m) => ResourceError::new(ResponseError::InvalidRequest, m),
        AlterError::InvalidConfig(m) => ResourceError::new(ResponseError::InvalidConfig, m),
    })?;
    replace_topic_configs(broker, topic_id, &current, &next, validate_only).await
}
