//! ListConfigResources (key 74), v0-v1 (flexible): the config resources
//! that exist. v0 was ListClientMetricsResources and lists client-metrics
//! subscriptions only; v1 (KIP-1142) lists the requested types (all of them
//! when none is given): groups with dynamic configs, client-metrics
//! subscriptions (gregor has none), broker loggers (gregor has no dynamic
//! loggers, so none), the registered brokers and every topic.
//! Any other requested type answers UNSUPPORTED_VERSION, as in Kafka.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_config_resources_response::ConfigResource;
use kafka_protocol::messages::{ApiKey, ListConfigResourcesRequest, ListConfigResourcesResponse};
use kafka_protocol::protocol::StrBytes;

use super::group_configs::RESOURCE_GROUP;
use super::{RESOURCE_BROKER, RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC};
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::ListConfigResources, 0, 1);

/// Kafka's `ConfigResource.Type.CLIENT_METRICS`.
const RESOURCE_CLIENT_METRICS: i8 = 16;

/// The types each version can list, in the order Kafka lists them.
fn supported(version: i16) -> &'static [i8] {
    if version == 0 {
        &[RESOURCE_CLIENT_METRICS]
    } else {
        &[
            RESOURCE_GROUP,
            RESOURCE_CLIENT_METRICS,
            RESOURCE_BROKER_LOGGER,
            RESOURCE_BROKER,
            RESOURCE_TOPIC,
        ]
    }
}

pub async fn handle(ctx: &RequestContext<'_>, request: ListConfigResourcesRequest) -> Outcome {
    let supported = supported(ctx.api_version);
    let wanted: Vec<i8> = if request.resource_types.is_empty() {
        supported.to_vec()
    } else {
        request.resource_types.clone()
    };
    let mut response = ListConfigResourcesResponse::default();
    if wanted.iter().any(|t| !supported.contains(t)) {
        response.error_code = ResponseError::UnsupportedVersion.code();
        return ctx.respond(&response);
    }
    let image = ctx.broker.metadata.image();
    let resource = |name: String, resource_type: i8| {
        ConfigResource::default()
            .with_resource_name(StrBytes::from_string(name))
            .with_resource_type(resource_type)
    };
    for &t in supported.iter().filter(|t| wanted.contains(t)) {
        match t {
            RESOURCE_GROUP => response
                .config_resources
                .extend(image.group_configs.keys().map(|g| resource(g.clone(), t))),
            RESOURCE_BROKER => response
                .config_resources
                .extend(image.brokers.keys().map(|id| resource(id.to_string(), t))),
            RESOURCE_TOPIC => response
                .config_resources
                .extend(image.topics.keys().map(|name| resource(name.clone(), t))),
            // No client-metrics subscriptions and no dynamic loggers.
            _ => {}
        }
    }
    ctx.respond(&response)
}
