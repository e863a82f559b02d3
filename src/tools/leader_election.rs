//! `gregor leader-election` (also `kafka-leader-election.sh`, Kafka's
//! LeaderElectionCommand): runs a preferred or unclean election through
//! ElectLeaders (key 43) and prints Kafka's result lines. On gregor every
//! partition has one replica, so the broker answers ELECTION_NOT_NEEDED and
//! the tool prints "Valid replica already elected for partitions ...".

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_request::TopicPartitions;
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse};

use super::admin;
use super::client::{check, error_text};
use super::session::{topic_name, Session};

/// How long the broker may take to elect, in ms (Kafka's tool's default
/// timeout is 30 s).
const ELECTION_TIMEOUT_MS: i32 = 30_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum ElectionType {
    Preferred,
    Unclean,
}

impl ElectionType {
    /// ElectLeaders' `election_type` byte.
    fn code(self) -> i8 {
        match self {
            ElectionType::Preferred => 0,
            ElectionType::Unclean => 1,
        }
    }

    /// As Kafka's `ElectionType.toString` prints it.
    fn name(self) -> &'static str {
        match self {
            ElectionType::Preferred => "PREFERRED",
            ElectionType::Unclean => "UNCLEAN",
        }
    }
}

#[derive(Debug, clap::Args)]
pub struct LeaderElectionArgs {
    /// The server(s) to connect to, host:port[,host:port].
    #[arg(long)]
    pub bootstrap_server: String,
    /// Admin client properties file (accepted; gregor has no TLS or SASL).
    #[arg(long = "admin.config")]
    pub admin_config: Option<String>,
    /// JSON `{"partitions":[{"topic":"foo","partition":1}]}`.
    #[arg(long)]
    pub path_to_json_file: Option<String>,
    /// The topic of the one partition to elect (with --partition).
    #[arg(long)]
    pub topic: Option<String>,
    /// The partition of --topic.
    #[arg(long)]
    pub partition: Option<i32>,
    /// Elect every eligible partition.
    #[arg(long)]
    pub all_topic_partitions: bool,
    /// `preferred` or `unclean` (case-insensitive, as Kafka's tool reads it).
    #[arg(long, value_enum, ignore_case = true)]
    pub election_type: ElectionType,
}

/// Reads the partitions of a `--path-to-json-file`.
pub fn parse_partitions(js: &serde_json::Value) -> Result<Vec<(String, i32)>, String> {
    let list = admin::partitions_array(js)?
        .iter()
        .map(admin::entry_topic_partition)
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(d) = admin::duplicates(list.iter()) {
        return Err(format!(
            "Replica election data contains duplicate partitions: {d}"
        ));
    }
    if list.is_empty() {
        return Err("Replica election data is empty".into());
    }
    Ok(list)
}

/// The partitions to elect; None means all.
fn chosen(args: &LeaderElectionArgs) -> Result<Option<Vec<(String, i32)>>, String> {
    let sources = usize::from(args.path_to_json_file.is_some())
        + usize::from(args.topic.is_some())
        + usize::from(args.all_topic_partitions);
    if sources != 1 {
        return Err(
            "One and only one of the following options is required: --all-topic-partitions, --topic, --path-to-json-file"
                .into(),
        );
    }
    if let Some(path) = &args.path_to_json_file {
        let js = admin::read_json_file("--path-to-json-file", path)?;
        return parse_partitions(&js).map(Some);
    }
    match (&args.topic, args.partition) {
        (Some(t), Some(p)) => Ok(Some(vec![(t.clone(), p)])),
        (Some(_), None) => Err("Missing required option(s): partition".into()),
        _ if args.partition.is_some() => Err("--partition needs --topic".into()),
        _ => Ok(None),
    }
}

pub fn run(args: &LeaderElectionArgs) -> Result<Vec<String>, String> {
    admin::ignore_client_config("--admin.config", args.admin_config.as_deref());
    let partitions = chosen(args)?;
    let mut session = Session::connect(
        &admin::bootstrap_list(&args.bootstrap_server),
        admin::REQUEST_TIMEOUT,
    )?;
    if !session.bootstrap.supports(ApiKey::ElectLeaders) {
        return Err("the broker does not support ElectLeaders (API key 43)".into());
    }
    let topic_partitions = partitions.map(|list| {
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for (t, p) in list {
            by_topic.entry(t).or_default().push(p);
        }
        by_topic
            .into_iter()
            .map(|(t, ps)| {
                TopicPartitions::default()
                    .with_topic(topic_name(&t))
                    .with_partitions(ps)
            })
            .collect()
    });
    let req = ElectLeadersRequest::default()
        .with_election_type(args.election_type.code())
        .with_topic_partitions(topic_partitions)
        .with_timeout_ms(ELECTION_TIMEOUT_MS);
    // The controller answers elections; on gregor every node is it.
    let resp: ElectLeadersResponse = session.bootstrap.call(ApiKey::ElectLeaders, &req)?;
    check(resp.error_code, None)?;
    let (mut done, mut noop, mut failed) = (Vec::new(), Vec::new(), Vec::new());
    for t in &resp.replica_election_results {
        for p in &t.partition_result {
            let name = admin::tp(t.topic.0.as_str(), p.partition_id);
            match p.error_code {
                0 => done.push(name),
                c if c == ResponseError::ElectionNotNeeded.code() => noop.push(name),
                c => failed.push((
                    name,
                    error_text(c, p.error_message.as_ref().map(|m| m.as_str())),
                )),
            }
        }
    }
    let kind = args.election_type.name();
    let mut lines = Vec::new();
    if !done.is_empty() {
        lines.push(format!(
            "Successfully completed leader election ({kind}) for partitions {}",
            done.join(", ")
        ));
    }
    if !noop.is_empty() {
        lines.push(format!(
            "Valid replica already elected for partitions {}",
            noop.join(", ")
        ));
    }
    if failed.is_empty() {
        return Ok(lines);
    }
    for (name, e) in &failed {
        lines.push(format!(
            "Error completing leader election ({kind}) for partition: {name}: {e}"
        ));
    }
    // Kafka prints the lines, then fails.
    for l in &lines {
        println!("{l}");
    }
    Err(format!("{} replica(s) could not be elected", failed.len()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn election_files() {
        let js = serde_json::json!({"partitions":[{"topic":"a","partition":0},{"topic":"b","partition":2}]});
        assert_eq!(
            parse_partitions(&js).unwrap(),
            vec![("a".to_string(), 0), ("b".to_string(), 2)]
        );
        let dup = serde_json::json!({"partitions":[{"topic":"a","partition":0},{"topic":"a","partition":0}]});
        assert!(parse_partitions(&dup)
            .unwrap_err()
            .contains("duplicate partitions: a-0"));
        assert!(parse_partitions(&serde_json::json!({"partitions":[]})).is_err());
        assert!(parse_partitions(&serde_json::json!({"x":1})).is_err());
        assert!(parse_partitions(&serde_json::json!({"partitions":[{"topic":"a"}]})).is_err());
    }
}
