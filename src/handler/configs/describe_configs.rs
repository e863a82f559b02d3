//! DescribeConfigs (key 32), v1-v4 (v4 flexible; v3 added config types and
//! documentation): every topic config with its effective value and source,
//! this broker's settings, and a group's dynamic configs.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::{
    DescribeConfigsResourceResult, DescribeConfigsResult, DescribeConfigsSynonym,
};
use kafka_protocol::messages::{ApiKey, DescribeConfigsRequest, DescribeConfigsResponse};
use kafka_protocol::protocol::StrBytes;

use super::{
    check_broker_name, find_topic, group_configs, unsupported_type, ResourceError, RESOURCE_BROKER,
    RESOURCE_BROKER_LOGGER, RESOURCE_TOPIC,
};
use crate::broker::Broker;
use crate::config_describe::{cluster_min_insync, describe_broker, describe_topic, ConfigEntry};
use crate::handler::{ApiSpec, Outcome, RequestContext};

/// v0 is gone from Kafka 4 (and from the protocol crate).
pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DescribeConfigs, 1, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeConfigsRequest) -> Outcome {
    let results = request
        .resources
        .iter()
        .map(|resource| {
            let name = resource.resource_name.as_str();
            let mut result = DescribeConfigsResult::default()
                .with_resource_type(resource.resource_type)
                .with_resource_name(resource.resource_name.clone())
                .with_error_message(None);
            match entries(ctx.broker, resource.resource_type, name) {
                Ok(entries) => {
                    result.configs = entries
                        .iter()
                        .filter(|e| wanted(resource, &e.name))
                        .map(|e| encode(e, request.include_synonyms, request.include_documentation))
                        .collect();
                }
                Err(e) => {
                    result.error_code = e.code;
                    result.error_message = Some(StrBytes::from_string(e.message));
                }
            }
            result
        })
        .collect();
    ctx.respond(&DescribeConfigsResponse::default().with_results(results))
}

fn entries(
    broker: &Broker,
    resource_type: i8,
    name: &str,
) -> Result<Vec<ConfigEntry>, ResourceError> {
    match resource_type {
        RESOURCE_TOPIC => {
            let (_, overrides) = find_topic(broker, name)?;
            Ok(describe_topic(&broker.config, &overrides))
        }
        RESOURCE_BROKER => {
            // The cluster-wide default resource lists dynamic cluster
            // defaults: Kafka 4.1's only one on a new cluster is
            // min.insync.replicas (see `cluster_min_insync`).
            if check_broker_name(broker, name)? {
                Ok(vec![cluster_min_insync(&broker.config, false)])
            } else {
                Ok(describe_broker(&broker.config))
            }
        }
        group_configs::RESOURCE_GROUP => group_configs::describe(broker, name),
        RESOURCE_BROKER_LOGGER => Err(ResourceError::new(
            ResponseError::InvalidRequest,
            "gregor has no dynamic loggers: log levels come from GREGOR_LOG at start",
        )),
        other => Err(unsupported_type(other)),
    }
}

/// `configuration_keys` null (or empty) asks for every config; names that do
/// not exist are left out without an error, as Kafka does.
fn wanted(resource: &DescribeConfigsResource, name: &str) -> bool {
    match &resource.configuration_keys {
        None => true,
        Some(keys) if keys.is_empty() => true,
        Some(keys) => keys.iter().any(|k| k.as_str() == name),
    }
}

fn encode(
    e: &ConfigEntry,
    include_synonyms: bool,
    include_documentation: bool,
) -> DescribeConfigsResourceResult {
    let string = |v: &Option<String>| v.clone().map(StrBytes::from_string);
    let synonyms = if include_synonyms {
        e.synonyms
            .iter()
            .map(|s| {
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_string(s.name.clone()))
                    .with_value(string(&s.value))
                    .with_source(s.source as i8)
            })
            .collect()
    } else {
        Vec::new()
    };
    DescribeConfigsResourceResult::default()
        .with_name(StrBytes::from_string(e.name.clone()))
        .with_value(string(&e.value))
        .with_read_only(e.read_only)
        .with_config_source(e.source as i8)
        .with_is_sensitive(e.sensitive)
        .with_synonyms(synonyms)
        .with_config_type(e.config_type as i8)
        .with_documentation(include_documentation.then(|| StrBytes::from_static_str(e.doc)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::protocol::{Decodable, Encodable};

    /// Every advertised version encodes and decodes back to the same entries,
    /// types and docs only where the version has them.
    #[test]
    fn response_round_trips_at_every_version() {
        let config = crate::config::BrokerConfig::default();
        let entries = describe_topic(&config, &Default::default());
        for version in SPEC.min_version..=SPEC.max_version {
            let result = DescribeConfigsResult::default()
                .with_resource_type(RESOURCE_TOPIC)
                .with_resource_name(StrBytes::from_static_str("t"))
                .with_error_message(None)
                .with_configs(entries.iter().map(|e| encode(e, true, true)).collect());
            let response = DescribeConfigsResponse::default().with_results(vec![result]);
            let mut buf = bytes::BytesMut::new();
            response.encode(&mut buf, version).unwrap();
            let mut bytes = buf.freeze();
            let back = DescribeConfigsResponse::decode(&mut bytes, version).unwrap();
            assert!(bytes.is_empty(), "v{version}: bytes left over");
            let configs = &back.results[0].configs;
            assert_eq!(configs.len(), entries.len());
            let retention = configs
                .iter()
                .find(|c| c.name.as_str() == "retention.ms")
                .unwrap();
            assert_eq!(retention.value.as_deref(), Some("604800000"));
            assert_eq!(retention.config_source, 5);
            assert_eq!(retention.synonyms.len(), 1);
            if version >= 3 {
                assert_eq!(retention.config_type, 5);
                assert!(retention.documentation.is_some());
            }
        }
    }
}
