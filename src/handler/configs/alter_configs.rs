//! AlterConfigs (key 33), v0-v2 (v2 flexible): replaces the whole set of a
//! topic's or group's overrides (keys not in the request go back to their
//! defaults, as in Kafka). Broker settings are read-only in gregor.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::alter_configs_request::AlterConfigsResource;
use kafka_protocol::messages::alter_configs_response::AlterConfigsResourceResponse;
use kafka_protocol::messages::{AlterConfigsRequest, AlterConfigsResponse, ApiKey};
use kafka_protocol::protocol::StrBytes;

use super::group_configs::{self, RESOURCE_GROUP};
use super::{
    alter_lock, duplicate_resource_error, duplicate_resources, find_topic, refuse_non_topic_alter,
    replace_topic_configs, ResourceError, RESOURCE_TOPIC,
};
use crate::broker::Broker;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::AlterConfigs, 0, 2);

pub async fn handle(ctx: &RequestContext<'_>, request: AlterConfigsRequest) -> Outcome {
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
    ctx.respond(&AlterConfigsResponse::default().with_responses(responses))
}

async fn alter_one(
    broker: &Broker,
    resource: &AlterConfigsResource,
    validate_only: bool,
) -> Result<(), ResourceError> {
    let name = resource.resource_name.as_str();
    if resource.resource_type != RESOURCE_TOPIC && resource.resource_type != RESOURCE_GROUP {
        let keys: Vec<&str> = resource.configs.iter().map(|c| c.name.as_str()).collect();
        return match refuse_non_topic_alter(broker, resource.resource_type, name, &keys) {
            Some(e) => Err(e),
            None => Ok(()),
        };
    }
    // A null value leaves the key out, i.e. back to its default.
    let mut next = BTreeMap::new();
    for c in &resource.configs {
        let key = c.name.as_str().to_string();
        if next.contains_key(&key) {
            return Err(ResourceError::new(
                ResponseError::InvalidRequest,
                format!("Error due to duplicate config keys: {key}"),
            ));
        }
        if let Some(v) = &c.value {
            next.insert(key, v.as_str().to_string());
        }
    }
    if resource.resource_type == RESOURCE_GROUP {
        return group_configs::alter_all(broker, name, &next, validate_only).await;
    }
    let _serial = alter_lock().await;
    let (topic_id, current) = find_topic(broker, name)?;
    replace_topic_configs(broker, topic_id, &current, &next, validate_only).await
}
