//! CreateTopics (key 19), v2-v7: partitions, replication factor or explicit
//! assignments, configs, validate_only.

use std::collections::{BTreeMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_topics_request::CreatableTopic;
use kafka_protocol::messages::create_topics_response::{
    CreatableTopicConfigs, CreatableTopicResult,
};
use kafka_protocol::messages::{ApiKey, CreateTopicsRequest, CreateTopicsResponse};
use kafka_protocol::protocol::StrBytes;

use super::topic_names::{create_topic, CreateFailure};
use super::{ApiSpec, Outcome, RequestContext};
use crate::broker::Broker;

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::CreateTopics, 2, 7);

pub async fn handle(ctx: &RequestContext<'_>, request: CreateTopicsRequest) -> Outcome {
    let mut seen = HashSet::new();
    let duplicates: HashSet<String> = request
        .topics
        .iter()
        .filter(|t| !seen.insert(t.name.0.as_str().to_string()))
        .map(|t| t.name.0.as_str().to_string())
        .collect();
    let mut results = Vec::with_capacity(request.topics.len());
    for topic in request.topics {
        let name = topic.name.0.as_str().to_string();
        let mut result = CreatableTopicResult::default()
            .with_name(topic.name.clone())
            .with_num_partitions(-1)
            .with_replication_factor(-1);
        let outcome = if duplicates.contains(&name) {
            Err(CreateFailure::new(
                ResponseError::InvalidRequest,
                format!("Topic '{name}' appears more than once in the request"),
            ))
        } else {
            create_one(ctx.broker, &topic, request.validate_only).await
        };
        match outcome {
            Ok(created) => {
                result.topic_id = created.topic_id;
                result.num_partitions = created.partitions;
                result.replication_factor = created.replication_factor;
                result.configs = Some(describe_configs(ctx.broker, &created.configs));
            }
            Err(failure) => {
                result.error_code = failure.code;
                result.error_message = Some(StrBytes::from_string(failure.message));
            }
        }
        results.push(result);
    }
    ctx.respond(&CreateTopicsResponse::default().with_topics(results))
}

struct Created {
    topic_id: uuid::Uuid,
    partitions: i32,
    replication_factor: i16,
    configs: BTreeMap<String, String>,
}

async fn create_one(
    broker: &Broker,
    topic: &CreatableTopic,
    validate_only: bool,
) -> Result<Created, CreateFailure> {
    let mut configs = BTreeMap::new();
    for c in &topic.configs {
        match &c.value {
            Some(v) => {
                configs.insert(c.name.as_str().to_string(), v.as_str().to_string());
            }
            None => {
                return Err(CreateFailure::new(
                    ResponseError::InvalidConfig,
                    format!(
                        "Null value not supported for topic config {}",
                        c.name.as_str()
                    ),
                ))
            }
        }
    }
    let (partitions, replication_factor) = if topic.assignments.is_empty() {
        let partitions = if topic.num_partitions == -1 {
            broker.config.num_partitions
        } else {
            topic.num_partitions
        };
        let rf = if topic.replication_factor == -1 {
            broker.config.default_replication_factor
        } else {
            topic.replication_factor
        };
        (partitions, rf)
    } else {
        if topic.num_partitions != -1 || topic.replication_factor != -1 {
            return Err(CreateFailure::new(
                ResponseError::InvalidRequest,
                "Both numPartitions or replicationFactor and replicasAssignments were set; only one may be given",
            ));
        }
        validate_assignments(broker, topic)?
    };
    let topic_id = create_topic(
        broker,
        topic.name.0.as_str(),
        partitions,
        replication_factor,
        configs.clone(),
        validate_only,
    )
    .await?;
    Ok(Created {
        topic_id,
        partitions,
        replication_factor,
        configs,
    })
}

/// Explicit assignments must name partitions 0..n once each, with the same
/// number of existing, distinct brokers for every partition.
fn validate_assignments(
    broker: &Broker,
    topic: &CreatableTopic,
) -> Result<(i32, i16), CreateFailure> {
    let image = broker.metadata.image();
    let bad = |m: String| CreateFailure::new(ResponseError::InvalidReplicaAssignment, m);
    let mut indexes: Vec<i32> = topic
        .assignments
        .iter()
        .map(|a| a.partition_index)
        .collect();
    indexes.sort_unstable();
    if indexes.iter().enumerate().any(|(i, p)| *p != i as i32) {
        return Err(bad("Partitions must be numbered 0..n, each once".into()));
    }
    let rf = topic.assignments[0].broker_ids.len();
    for a in &topic.assignments {
        if a.broker_ids.len() != rf || rf == 0 {
            return Err(bad(
                "Every partition needs the same, non-zero number of replicas".into(),
            ));
        }
        let distinct: HashSet<i32> = a.broker_ids.iter().map(|b| b.0).collect();
        if distinct.len() != a.broker_ids.len() {
            return Err(bad(format!(
                "Duplicate broker in partition {}",
                a.partition_index
            )));
        }
        if let Some(missing) = distinct.iter().find(|b| !image.brokers.contains_key(b)) {
            return Err(bad(format!(
                "Unknown broker {missing} in partition {}",
                a.partition_index
            )));
        }
    }
    Ok((topic.assignments.len() as i32, rf as i16))
}

/// The configs a new topic runs with, with their sources: the same entries
/// DescribeConfigs gives for the topic (CreateTopics v5+ carries them).
fn describe_configs(
    broker: &Broker,
    overrides: &BTreeMap<String, String>,
) -> Vec<CreatableTopicConfigs> {
    crate::config_describe::describe_topic(&broker.config, overrides)
        .into_iter()
        .map(|e| {
            CreatableTopicConfigs::default()
                .with_name(StrBytes::from_string(e.name))
                .with_value(e.value.map(StrBytes::from_string))
                .with_read_only(e.read_only)
                .with_config_source(e.source as i8)
                .with_is_sensitive(e.sensitive)
        })
        .collect()
}
