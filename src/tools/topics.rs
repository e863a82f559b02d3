//! `gregor topics` (also run as `kafka-topics.sh`): Kafka 4.1's TopicCommand
//! flags — `--create [--if-not-exists] [--replica-assignment]`, `--list`,
//! `--describe` (with its partition filters, `--topics-with-overrides`,
//! `--topic-id`), `--delete [--if-exists]`, `--alter --partitions N` — with
//! `--topic` a regex except for `--create`, as Kafka reads it, and the same
//! output lines. Listing and describing live in `topics_describe.rs`.

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::create_partitions_request::{
    CreatePartitionsAssignment, CreatePartitionsTopic,
};
use kafka_protocol::messages::create_topics_request::{
    CreatableReplicaAssignment, CreatableTopic, CreatableTopicConfig,
};
use kafka_protocol::messages::delete_topics_request::DeleteTopicState;
use kafka_protocol::messages::{
    ApiKey, BrokerId, CreatePartitionsRequest, CreatePartitionsResponse, CreateTopicsRequest,
    CreateTopicsResponse, DeleteTopicsRequest, DeleteTopicsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::client::{error_text, Client};
use super::session::Session;
use super::topics_describe::{self, matching_topics};

/// How long the broker may take to create or delete topics, in ms.
const ADMIN_TIMEOUT_MS: i32 = 30_000;
/// Socket timeout of the tool's connections.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);

#[derive(Debug, clap::Args)]
pub struct TopicsArgs {
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    #[arg(long)]
    pub create: bool,
    #[arg(long)]
    pub list: bool,
    #[arg(long)]
    pub describe: bool,
    #[arg(long)]
    pub delete: bool,
    /// With --partitions N: grow the topic(s) to N partitions (CreatePartitions).
    #[arg(long)]
    pub alter: bool,
    /// Topic name; a regex (whole-name match, `,` = `|`) except with --create.
    #[arg(long)]
    pub topic: Option<String>,
    /// With --describe: the topic with this id instead of --topic.
    #[arg(long)]
    pub topic_id: Option<String>,
    #[arg(long)]
    pub partitions: Option<i32>,
    #[arg(long)]
    pub replication_factor: Option<i32>,
    /// Manual assignment `b1:b2,b3:b4` (partition 0 on brokers b1,b2, ...).
    #[arg(long)]
    pub replica_assignment: Option<String>,
    #[arg(long)]
    pub if_not_exists: bool,
    #[arg(long)]
    pub if_exists: bool,
    /// Topic config, `key=value` (repeatable; create only).
    #[arg(long = "config")]
    pub configs: Vec<String>,
    /// No longer supported since Kafka 4.0: warns and is ignored.
    #[arg(long = "delete-config")]
    pub delete_configs: Vec<String>,
    /// With --list/--describe: leave out internal topics (__consumer_offsets, ...).
    #[arg(long)]
    pub exclude_internal: bool,
    #[arg(long)]
    pub under_replicated_partitions: bool,
    #[arg(long)]
    pub unavailable_partitions: bool,
    #[arg(long)]
    pub under_min_isr_partitions: bool,
    #[arg(long)]
    pub at_min_isr_partitions: bool,
    /// With --describe: only topics with per-topic config overrides.
    #[arg(long)]
    pub topics_with_overrides: bool,
    /// Page size of DescribeTopicPartitions, in partitions (must be > 0).
    #[arg(long)]
    pub partition_size_limit_per_response: Option<i32>,
    /// Admin client properties file: accepted; only bootstrap.servers is read.
    #[arg(long)]
    pub command_config: Option<String>,
}

impl TopicsArgs {
    /// The flags given, by Kafka name, for the "can't be used with" checks.
    fn used(&self) -> Vec<&'static str> {
        let flags = [
            ("config", !self.configs.is_empty()),
            ("partitions", self.partitions.is_some()),
            ("replication-factor", self.replication_factor.is_some()),
            ("replica-assignment", self.replica_assignment.is_some()),
            (
                "under-replicated-partitions",
                self.under_replicated_partitions,
            ),
            ("under-min-isr-partitions", self.under_min_isr_partitions),
            ("at-min-isr-partitions", self.at_min_isr_partitions),
            ("unavailable-partitions", self.unavailable_partitions),
            ("topics-with-overrides", self.topics_with_overrides),
            ("if-exists", self.if_exists),
            ("if-not-exists", self.if_not_exists),
            ("exclude-internal", self.exclude_internal),
        ];
        flags
            .iter()
            .filter(|(_, on)| *on)
            .map(|(n, _)| *n)
            .collect()
    }

    fn action(&self) -> &'static str {
        [
            (self.list, "list"),
            (self.describe, "describe"),
            (self.create, "create"),
            (self.alter, "alter"),
            (self.delete, "delete"),
        ]
        .iter()
        .find(|(on, _)| *on)
        .map_or("", |(_, n)| n)
    }
}

/// Kafka's argument checks (TopicCommandOptions.checkArgs), with its messages.
pub fn check_args(args: &TopicsArgs) -> Result<(), String> {
    let actions = [
        args.list,
        args.describe,
        args.create,
        args.alter,
        args.delete,
    ];
    if actions.iter().filter(|a| **a).count() != 1 {
        return Err(
            "Command must include exactly one action: --list, --describe, --create, --alter or --delete"
                .into(),
        );
    }
    if args.bootstrap_server.is_none() {
        return Err("--bootstrap-server must be specified".into());
    }
    if !args.delete_configs.is_empty() {
        eprintln!("delete-config option is no longer supported and deprecated since version 4.0. The config will be fully removed in future releases.");
    }
    let action = args.action();
    // `--describe` without --topic describes every topic, as Kafka does.
    if (args.create || args.alter || args.delete) && args.topic.is_none() {
        return Err("Missing required argument \"[topic]\"".into());
    }
    if args.alter && args.partitions.is_none() {
        return Err(
            "Missing required argument \"[partitions]\" (To alter topic configurations, the kafka-configs tool can be used.)"
                .into(),
        );
    }
    // Which actions each flag is valid with.
    let allowed = |flag: &str| -> &[&str] {
        match flag {
            "config" | "partitions" | "replica-assignment" => &["create", "alter"],
            "replication-factor" | "if-not-exists" => &["create"],
            "if-exists" => &["alter", "delete", "describe"],
            "exclude-internal" => &["list", "describe"],
            _ => &["describe"],
        }
    };
    for flag in args.used() {
        if !allowed(flag).contains(&action) {
            return Err(format!(
                "Option \"[{flag}]\" can't be used with option \"[{action}]\""
            ));
        }
    }
    if args.create && args.replica_assignment.is_some() {
        for (other, on) in [
            ("partitions", args.partitions.is_some()),
            ("replication-factor", args.replication_factor.is_some()),
        ] {
            if on {
                return Err(format!(
                    "Option \"[replica-assignment]\" can't be used with option \"[{other}]\""
                ));
            }
        }
    }
    if args.topic_id.is_some() && !args.describe {
        return Err(format!(
            "Option \"[topic-id]\" can't be used with option \"[{action}]\""
        ));
    }
    if let Some(n) = args.partition_size_limit_per_response {
        if n < 1 {
            return Err("--partition-size-limit-per-response must be greater than 0".into());
        }
        eprintln!("Note: --partition-size-limit-per-response has no effect with gregor: a single node describes its topics in one Metadata response.");
    }
    if args.command_config.is_some() {
        eprintln!("Note: --command-config is accepted; gregor's tools need no client properties (no security protocols).");
    }
    Ok(())
}

/// Parses `--replica-assignment`: comma-separated partitions, each a
/// colon-separated broker list; all the same length and without duplicates.
pub fn parse_replica_assignment(s: &str) -> Result<Vec<Vec<i32>>, String> {
    let mut out: Vec<Vec<i32>> = Vec::new();
    for (i, part) in s.split(',').enumerate() {
        let brokers = part
            .split(':')
            .map(|b| {
                b.trim()
                    .parse::<i32>()
                    .map_err(|_| format!("invalid broker id {b:?} in --replica-assignment {s}"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let mut dups: Vec<i32> = brokers
            .iter()
            .enumerate()
            .filter(|(j, b)| brokers[..*j].contains(b))
            .map(|(_, b)| *b)
            .collect();
        dups.dedup();
        if !dups.is_empty() {
            let d: Vec<String> = dups.iter().map(i32::to_string).collect();
            return Err(format!(
                "Partition replica lists may not contain duplicate entries: {}",
                d.join(",")
            ));
        }
        if let Some(first) = out.first() {
            if first.len() != brokers.len() {
                return Err(format!(
                    "Partition {i} has different replication factor: {brokers:?}"
                ));
            }
        }
        out.push(brokers);
    }
    Ok(out)
}

/// The assignment, checked against the cluster's brokers (as Kafka's admin
/// client's CreateTopics does on the controller).
fn checked_assignment(session: &mut Session, s: &str) -> Result<Vec<Vec<i32>>, String> {
    let assignment = parse_replica_assignment(s)?;
    let md = session.metadata(Some(&[]))?;
    let live: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
    let mut unknown: Vec<i32> = assignment
        .iter()
        .flatten()
        .copied()
        .filter(|b| !live.contains(b))
        .collect();
    unknown.sort_unstable();
    unknown.dedup();
    if !unknown.is_empty() {
        let u: Vec<String> = unknown.iter().map(i32::to_string).collect();
        let l: Vec<String> = live.iter().map(i32::to_string).collect();
        return Err(format!(
            "Replica assignment names unknown broker(s) {} (brokers in the cluster: {})",
            u.join(","),
            l.join(",")
        ));
    }
    Ok(assignment)
}

/// Runs the command; Ok(lines to print).
pub fn run(args: &TopicsArgs) -> Result<Vec<String>, String> {
    check_args(args)?;
    let server = args.bootstrap_server.as_deref().unwrap_or_default();
    let mut session = Session::connect(server, SOCKET_TIMEOUT)?;
    if args.list {
        return topics_describe::list(&mut session, args);
    }
    if args.describe {
        return topics_describe::describe(&mut session, args);
    }
    let pattern = args.topic.as_deref().unwrap_or_default();
    if args.create {
        return create(&mut session, args, pattern);
    }
    let names = matching_topics(&mut session, Some(pattern), false)?;
    if names.is_empty() && !args.if_exists {
        return Err(topics_describe::not_found(pattern));
    }
    if names.is_empty() {
        return Ok(vec![]);
    }
    if args.alter {
        alter(&mut session, args, &names)
    } else {
        delete(&mut session.bootstrap, args, &names)
    }
}

fn create(session: &mut Session, args: &TopicsArgs, name: &str) -> Result<Vec<String>, String> {
    if args
        .replication_factor
        .is_some_and(|rf| !(1..=i16::MAX as i32).contains(&rf))
    {
        return Err(format!(
            "The replication factor must be between 1 and {} inclusive",
            i16::MAX
        ));
    }
    if args.partitions.is_some_and(|p| p < 1) {
        return Err("The partitions must be greater than 0".into());
    }
    let mut configs = Vec::new();
    for c in &args.configs {
        let (k, v) = c.split_once('=').ok_or_else(|| {
            "Invalid topic config: all configs to be added must be in the format \"key=val\"."
                .to_string()
        })?;
        configs.push(
            CreatableTopicConfig::default()
                .with_name(StrBytes::from_string(k.trim().to_string()))
                .with_value(Some(StrBytes::from_string(v.trim().to_string()))),
        );
    }
    let mut topic = CreatableTopic::default()
        .with_name(TopicName(StrBytes::from_string(name.to_string())))
        .with_num_partitions(args.partitions.unwrap_or(-1))
        .with_replication_factor(args.replication_factor.map_or(-1, |rf| rf as i16))
        .with_configs(configs);
    if let Some(s) = &args.replica_assignment {
        let assignment = checked_assignment(session, s)?;
        topic.assignments = assignment
            .into_iter()
            .enumerate()
            .map(|(i, brokers)| {
                CreatableReplicaAssignment::default()
                    .with_partition_index(i as i32)
                    .with_broker_ids(brokers.into_iter().map(BrokerId).collect())
            })
            .collect();
    }
    let req = CreateTopicsRequest::default()
        .with_topics(vec![topic])
        .with_timeout_ms(ADMIN_TIMEOUT_MS);
    let resp: CreateTopicsResponse = session.bootstrap.call(ApiKey::CreateTopics, &req)?;
    let r = resp.topics.first().ok_or("empty CreateTopics response")?;
    let mut out = Vec::new();
    if name.contains('.') || name.contains('_') {
        // Kafka prints this for either character (metric names map both to one).
        out.push("WARNING: Due to limitations in metric names, topics with a period ('.') or underscore ('_') could collide. To avoid issues it is best to use either, but not both.".to_string());
    }
    match r.error_code {
        0 => out.push(format!("Created topic {name}.")),
        code if code == ResponseError::TopicAlreadyExists.code() && args.if_not_exists => {}
        code => {
            return Err(error_text(
                code,
                r.error_message.as_ref().map(|m| m.as_str()),
            ))
        }
    }
    Ok(out)
}

fn alter(
    session: &mut Session,
    args: &TopicsArgs,
    names: &[String],
) -> Result<Vec<String>, String> {
    let count = args.partitions.unwrap_or_default();
    if !session.bootstrap.supports(ApiKey::CreatePartitions) {
        return Err(format!(
            "the broker at {} does not support CreatePartitions (API key 37), which --alter --partitions needs",
            session.bootstrap.address
        ));
    }
    let assignment = match &args.replica_assignment {
        Some(s) => Some(checked_assignment(session, s)?),
        None => None,
    };
    let mut topics = Vec::new();
    for name in names {
        let existing = session.partitions(name, false)?.len();
        // Kafka's --replica-assignment lists every partition; the new ones follow the existing.
        let assignments = assignment.as_ref().map(|a| {
            a.iter()
                .skip(existing)
                .map(|brokers| {
                    CreatePartitionsAssignment::default()
                        .with_broker_ids(brokers.iter().copied().map(BrokerId).collect())
                })
                .collect()
        });
        topics.push(
            CreatePartitionsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name.clone())))
                .with_count(count)
                .with_assignments(assignments),
        );
    }
    let req = CreatePartitionsRequest::default()
        .with_topics(topics)
        .with_timeout_ms(ADMIN_TIMEOUT_MS);
    let resp: CreatePartitionsResponse = session.bootstrap.call(ApiKey::CreatePartitions, &req)?;
    for r in &resp.results {
        topic_outcome(r.error_code, r.error_message.as_ref(), args.if_exists)?;
    }
    Ok(vec![])
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

fn delete(client: &mut Client, args: &TopicsArgs, names: &[String]) -> Result<Vec<String>, String> {
    let topic_names: Vec<TopicName> = names
        .iter()
        .map(|n| TopicName(StrBytes::from_string(n.clone())))
        .collect();
    // v6 names topics in `topics` (name or id); earlier versions in `topic_names`.
    let mut req = DeleteTopicsRequest::default().with_timeout_ms(ADMIN_TIMEOUT_MS);
    if client.version_for::<DeleteTopicsRequest>(ApiKey::DeleteTopics)? >= 6 {
        req.topics = topic_names
            .into_iter()
            .map(|n| DeleteTopicState::default().with_name(Some(n)))
            .collect();
    } else {
        req.topic_names = topic_names;
    }
    let resp: DeleteTopicsResponse = client.call(ApiKey::DeleteTopics, &req)?;
    for r in &resp.responses {
        topic_outcome(r.error_code, r.error_message.as_ref(), args.if_exists)?;
    }
    Ok(vec![])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn replica_assignments_parse_like_kafka() {
        assert_eq!(
            parse_replica_assignment("1:2,2:1").unwrap(),
            vec![vec![1, 2], vec![2, 1]]
        );
        assert_eq!(parse_replica_assignment("1").unwrap(), vec![vec![1]]);
        assert!(parse_replica_assignment("1:1")
            .unwrap_err()
            .contains("duplicate entries: 1"));
        assert!(parse_replica_assignment("1:2,3")
            .unwrap_err()
            .contains("different replication factor"));
        assert!(parse_replica_assignment("x").is_err());
    }
}
