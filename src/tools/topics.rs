//! `gregor topics` (also run as `kafka-topics.sh`): the flags compose files and
//! init containers use with Kafka's tool — `--create [--if-not-exists]`, `--list`,
//! `--describe`, `--delete [--if-exists]`, `--alter --partitions N` — with the same
//! output lines.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::CreatePartitionsTopic;
use kafka_protocol::messages::create_topics_request::{CreatableTopic, CreatableTopicConfig};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::metadata_request::MetadataRequestTopic;
use kafka_protocol::messages::{
    ApiKey, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, MetadataRequest,
    MetadataResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::client::{error_text, Client};

/// How long the broker may take to create or delete topics, in ms.
const ADMIN_TIMEOUT_MS: i32 = 30_000;

#[derive(Debug, clap::Args)]
pub struct TopicsArgs {
    #[arg(long)]
    pub bootstrap_server: String,
    #[arg(long)]
    pub create: bool,
    #[arg(long)]
    pub list: bool,
    #[arg(long)]
    pub describe: bool,
    #[arg(long)]
    pub delete: bool,
    /// With --partitions N: grow the topic to N partitions (CreatePartitions).
    #[arg(long)]
    pub alter: bool,
    #[arg(long)]
    pub topic: Option<String>,
    #[arg(long)]
    pub partitions: Option<i32>,
    #[arg(long)]
    pub replication_factor: Option<i16>,
    #[arg(long)]
    pub if_not_exists: bool,
    #[arg(long)]
    pub if_exists: bool,
    /// Topic config, `key=value` (repeatable).
    #[arg(long = "config")]
    pub configs: Vec<String>,
    /// Accepted for compatibility (client properties file); not read.
    #[arg(long)]
    pub command_config: Option<String>,
}

/// Runs the command; Ok(lines to print).
pub fn run(args: &TopicsArgs) -> Result<Vec<String>, String> {
    let mut client = Client::connect(&args.bootstrap_server, Duration::from_secs(30))?;
    let topic = || args.topic.clone().ok_or("--topic is required");
    match (
        args.create,
        args.list,
        args.describe,
        args.delete,
        args.alter,
    ) {
        (true, false, false, false, false) => create(&mut client, args, &topic()?),
        (false, true, false, false, false) => list(&mut client),
        (false, false, true, false, false) => describe(&mut client, args.topic.as_deref()),
        (false, false, false, true, false) => delete(&mut client, args, &topic()?),
        (false, false, false, false, true) => alter(&mut client, args, &topic()?),
        _ => {
            Err("exactly one of --create, --list, --describe, --delete, --alter is required".into())
        }
    }
}

fn metadata(client: &mut Client, topics: Option<&[String]>) -> Result<MetadataResponse, String> {
    let req = MetadataRequest::default()
        .with_allow_auto_topic_creation(false)
        .with_topics(topics.map(|ts| {
            ts.iter()
                .map(|t| {
                    MetadataRequestTopic::default()
                        .with_name(Some(TopicName(StrBytes::from_string(t.clone()))))
                })
                .collect()
        }));
    client.call(ApiKey::Metadata, &req)
}

fn create(client: &mut Client, args: &TopicsArgs, name: &str) -> Result<Vec<String>, String> {
    let mut configs = Vec::new();
    for c in &args.configs {
        let (k, v) = c
            .split_once('=')
            .ok_or_else(|| format!("--config expects key=value, got {c:?}"))?;
        configs.push(
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_value(Some(StrBytes::from_string(v.to_string()))),
        );
    }
    let topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(args.partitions.unwrap_or(-1))
        .with_replication_factor(args.replication_factor.unwrap_or(-1))
        .with_configs(configs);
    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(ADMIN_TIMEOUT_MS);
    let resp: CreateTopicsResponse = client.call(ApiKey::CreateTopics, &req)?;
    let r = resp.topics.first().ok_or("empty CreateTopics response")?;
    match r.error_code {
        0 => Ok(vec![format!("Created topic {name}.")]),
        code if code == ResponseError::TopicAlreadyExists.code() && args.if_not_exists => {
            Ok(vec![])
        }
        code => Err(error_text(
            code,
            r.error_message.as_ref().map(|m| m.as_str()),
        )),
    }
}

fn alter(client: &mut Client, args: &TopicsArgs, name: &str) -> Result<Vec<String>, String> {
    let count = args
        .partitions
        .ok_or("--alter needs --partitions (the only alteration kafka-topics.sh makes)")?;
    if !client.supports(ApiKey::CreatePartitions) {
        return Err(format!(
            "the broker at {} does not support CreatePartitions (API key 37), which --alter --partitions needs",
            client.address
        ));
    }
    let req = CreatePartitionsRequest::default()
        .with_topics(vec![CreatePartitionsTopic::default()
            .with_name(TopicName(StrBytes::from_string(name.to_string())))
            .with_count(count)
            .with_assignments(None)])
        .with_timeout_ms(ADMIN_TIMEOUT_MS);
    let resp: CreatePartitionsResponse = client.call(ApiKey::CreatePartitions, &req)?;
    let r = resp
        .results
        .first()
        .ok_or("empty CreatePartitions response")?;
    topic_outcome(r.error_code, r.error_message.as_ref(), args.if_exists)
}

/// The outcome of a one-topic admin call: success, or an unknown topic that
/// `--if-exists` tolerates (as kafka-topics.sh does), or the broker's error.
fn topic_outcome(
    code: i16,
    message: Option<&StrBytes>,
    if_exists: bool,
) -> Result<Vec<String>, String> {
    match code {
        0 => Ok(vec![]),
        c if c == ResponseError::UnknownTopicOrPartition.code() && if_exists => Ok(vec![]),
        c => Err(error_text(c, message.map(|m| m.as_str()))),
    }
}

fn list(client: &mut Client) -> Result<Vec<String>, String> {
    let md = metadata(client, None)?;
    let mut names: Vec<String> = md
        .topics
        .iter()
        .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
        .collect();
    names.sort();
    Ok(names)
}

fn describe(client: &mut Client, topic: Option<&str>) -> Result<Vec<String>, String> {
    let wanted: Option<Vec<String>> = topic.map(|t| vec![t.to_string()]);
    let md = metadata(client, wanted.as_deref())?;
    let mut out = Vec::new();
    let mut topics: Vec<_> = md.topics.iter().collect();
    topics.sort_by_key(|t| t.name.as_ref().map(|n| n.0.to_string()));
    for t in topics {
        let name = t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default();
        if t.error_code != 0 {
            return Err(format!(
                "Topic '{name}': {}",
                error_text(t.error_code, None)
            ));
        }
        let rf = t.partitions.first().map_or(0, |p| p.replica_nodes.len());
        out.push(format!(
            "Topic: {name}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {}",
            t.topic_id,
            t.partitions.len(),
            super::configs::topic_settings(client, &name)?
        ));
        let mut parts: Vec<_> = t.partitions.iter().collect();
        parts.sort_by_key(|p| p.partition_index);
        for p in parts {
            let ids = |v: &[kafka_protocol::messages::BrokerId]| {
                v.iter()
                    .map(|b| b.0.to_string())
                    .collect::<Vec<_>>()
                    .join(",")
            };
            out.push(format!(
                "\tTopic: {name}\tPartition: {}\tLeader: {}\tReplicas: {}\tIsr: {}",
                p.partition_index,
                p.leader_id.0,
                ids(&p.replica_nodes),
                ids(&p.isr_nodes)
            ));
        }
    }
    Ok(out)
}

fn delete(client: &mut Client, args: &TopicsArgs, name: &str) -> Result<Vec<String>, String> {
    let topic_name = TopicName(StrBytes::from_string(name.to_string()));
    // v6 names topics in `topics` (name or id); earlier versions in `topic_names`.
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(ADMIN_TIMEOUT_MS);
    if client.version_for::<DeleteTopicsRequest>(ApiKey::DeleteTopics)? >= 6 {
        req.topics = vec![DeleteTopicState::default().with_name(Some(topic_name))];
    } else {
        req.topic_names = vec![topic_name];
    }
    let resp: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, &req)?;
    let r = resp
        .responses
        .first()
        .ok_or("empty DeleteTopics response")?;
    topic_outcome(r.error_code, r.error_message.as_ref(), args.if_exists)
}
