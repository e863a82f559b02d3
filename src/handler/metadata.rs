//! Metadata (key 3), v0-v13: brokers (with the addresses of the listener the
//! client connected to), topics with IDs and partitions, and topic
//! auto-creation when `auto.create.topics.enable` and the request allow it.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::{
    MetadataResponseBroker, MetadataResponsePartition, MetadataResponseTopic,
};
use kafka_protocol::messages::{ApiKey, BrokerId, MetadataRequest, MetadataResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::topic_names::create_topic;
use super::{ApiSpec, Outcome, RequestContext};
use crate::cluster::{MetadataImage, TopicImage};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::Metadata, 0, 13);

/// Topics one Metadata request may auto-create. Each costs a metadata write
/// and a few file descriptors per partition; without a bound one 12 KB
/// request created 1,000 topics. Names past the bound answer
/// LEADER_NOT_AVAILABLE (retriable, what Kafka answers while a topic is being
/// created), so a client that really wants them gets them over its next
/// metadata refreshes.
const AUTO_CREATE_TOPICS_PER_REQUEST_MAX: usize = 64;

/// "Not requested" value of the authorized-operations fields.
const AUTHORIZED_OPERATIONS_OMITTED: i32 = i32::MIN;

pub async fn handle(ctx: &RequestContext<'_>, request: MetadataRequest) -> Outcome {
    let broker = ctx.broker;
    let mut image = broker.metadata.image();
    // v0: an empty list means every topic; v1+: null means every topic.
    let wanted = match request.topics {
        None => None,
        Some(list) if list.is_empty() && ctx.api_version == 0 => None,
        Some(list) => Some(list),
    };
    let mut topics = Vec::new();
    match wanted {
        None => {
            for topic in image.topics.values() {
                topics.push(describe(topic, ctx.broker.config.node_id));
            }
        }
        Some(list) => {
            let mut deferred = std::collections::HashSet::new();
            let auto_create =
                request.allow_auto_topic_creation && broker.config.auto_create_topics_enable;
            // Auto-create first, then answer everything from one fresh image.
            if auto_create {
                let mut created = false;
                let mut attempts = 0usize;
                for t in &list {
                    if let Some(name) = &t.name {
                        let name = name.0.as_str();
                        if !image.topics.contains_key(name) {
                            if attempts == AUTO_CREATE_TOPICS_PER_REQUEST_MAX {
                                deferred.insert(name.to_string());
                                continue;
                            }
                            attempts += 1;
                            match create_topic(
                                broker,
                                name,
                                broker.config.num_partitions,
                                broker.config.default_replication_factor,
                                Default::default(),
                                false,
                            )
                            .await
                            {
                                Ok(_) => {
                                    tracing::info!(
                                        topic = name,
                                        partitions = broker.config.num_partitions,
                                        "auto-created topic"
                                    );
                                    created = true;
                                }
                                Err(e) => {
                                    tracing::debug!(topic = name, error = %e.message, "auto-creation refused")
                                }
                            }
                        }
                    }
                }
                if created {
                    image = broker.metadata.image();
                }
                if !deferred.is_empty() {
                    tracing::debug!(
                        deferred = deferred.len(),
                        limit = AUTO_CREATE_TOPICS_PER_REQUEST_MAX,
                        "auto-creation of the rest deferred to later requests"
                    );
                }
            }
            for t in &list {
                if let Some(name) = t.name.as_ref().filter(|n| deferred.contains(n.0.as_str())) {
                    topics.push(
                        MetadataResponseTopic::default()
                            .with_error_code(ResponseError::LeaderNotAvailable.code())
                            .with_name(Some(name.clone()))
                            .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED),
                    );
                    continue;
                }
                topics.push(lookup(
                    &image,
                    t.name.as_ref().map(|n| n.0.as_str()),
                    t.topic_id,
                    ctx,
                ));
            }
        }
    }
    if request.include_topic_authorized_operations {
        // No authorizer yet: every operation is allowed. Bits 3-12 are
        // READ..ALTER_CONFIGS style operations for topics as Kafka encodes them.
        for t in &mut topics {
            if t.error_code == 0 {
                t.topic_authorized_operations = TOPIC_ALL_OPERATIONS;
            }
        }
    }
    let advertised = broker.config.advertised_for(&ctx.connection.listener_name);
    let brokers = image
        .brokers
        .values()
        .map(|b| {
            let (host, port) = if b.node_id == broker.config.node_id {
                (advertised.host.clone(), i32::from(advertised.port))
            } else {
                (b.host.clone(), b.port)
            };
            MetadataResponseBroker::default()
                .with_node_id(BrokerId(b.node_id))
                .with_host(StrBytes::from_string(host))
                .with_port(port)
                .with_rack(b.rack.clone().map(StrBytes::from_string))
        })
        .collect();
    let response = MetadataResponse::default()
        .with_brokers(brokers)
        .with_cluster_id(Some(StrBytes::from_string(image.cluster_id.clone())))
        .with_controller_id(BrokerId(image.controller_id))
        .with_topics(topics)
        .with_cluster_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED);
    ctx.respond(&response)
}

/// READ, WRITE, CREATE, DELETE, ALTER, DESCRIBE, DESCRIBE_CONFIGS, ALTER_CONFIGS
/// (AclOperation codes 3,4,5,6,7,8,10,11) as a bit set.
pub(crate) const TOPIC_ALL_OPERATIONS: i32 =
    (1 << 3) | (1 << 4) | (1 << 5) | (1 << 6) | (1 << 7) | (1 << 8) | (1 << 10) | (1 << 11);

fn lookup(
    image: &MetadataImage,
    name: Option<&str>,
    topic_id: Uuid,
    ctx: &RequestContext<'_>,
) -> MetadataResponseTopic {
    let found = match name {
        Some(n) => image.topics.get(n),
        None => image.topic_by_id(&topic_id),
    };
    match found {
        Some(topic) => describe(topic, ctx.broker.config.node_id),
        None => {
            let code = match name {
                Some(n) if super::topic_names::validate_topic_name(n).is_err() => {
                    ResponseError::InvalidTopicException
                }
                Some(_) => ResponseError::UnknownTopicOrPartition,
                None => ResponseError::UnknownTopicId,
            };
            MetadataResponseTopic::default()
                .with_error_code(code.code())
                .with_name(name.map(|n| TopicName(StrBytes::from_string(n.to_string()))))
                .with_topic_id(topic_id)
                .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
        }
    }
}

fn describe(topic: &TopicImage, _node_id: i32) -> MetadataResponseTopic {
    let partitions = topic
        .partitions
        .iter()
        .map(|p| {
            MetadataResponsePartition::default()
                .with_partition_index(p.partition_index)
                .with_leader_id(BrokerId(p.leader_id))
                .with_leader_epoch(p.leader_epoch)
                .with_replica_nodes(p.replicas.iter().copied().map(BrokerId).collect())
                .with_isr_nodes(p.isr.iter().copied().map(BrokerId).collect())
        })
        .collect();
    MetadataResponseTopic::default()
        .with_name(Some(TopicName(StrBytes::from_string(topic.name.clone()))))
        .with_topic_id(topic.topic_id)
        .with_is_internal(topic.internal)
        .with_partitions(partitions)
        .with_topic_authorized_operations(AUTHORIZED_OPERATIONS_OMITTED)
}
