//! `gregor get-offsets` (also `kafka-get-offsets.sh`, Kafka's GetOffsetShell):
//! one `topic:partition:offset` line per matching partition, in the order of
//! Kafka's tool (sorted by the text `topic-partition`, so `t-10` comes before
//! `t-2`), from ListOffsets.

use std::collections::HashMap;

use kafka_protocol::messages::list_offsets_request::{ListOffsetsPartition, ListOffsetsTopic};
use kafka_protocol::messages::{ApiKey, BrokerId, ListOffsetsRequest, ListOffsetsResponse};
use regex::Regex;

use super::admin;
use super::client::error_text;
use super::session::{topic_name, Session};

/// ListOffsets' "no offset matches" answer; Kafka's tool leaves such
/// partitions out.
const UNKNOWN_OFFSET: i64 = -1;
/// READ_UNCOMMITTED: the admin client's default isolation level.
const READ_UNCOMMITTED: i8 = 0;

#[derive(Debug, clap::Args)]
pub struct GetOffsetsArgs {
    /// The server(s) to connect to, host:port[,host:port].
    #[arg(long)]
    pub bootstrap_server: String,
    /// Comma-separated topic-partition patterns, `topic-regex[:p|:a-b|:a-|:-b]`
    /// (a range's end is exclusive); not with --topic or --partitions.
    #[arg(long)]
    pub topic_partitions: Option<String>,
    /// The topic (a regex) to get offsets for; all topics when absent.
    #[arg(long)]
    pub topic: Option<String>,
    /// Comma-separated partition ids; all partitions when absent.
    #[arg(long)]
    pub partitions: Option<String>,
    /// -1/latest, -2/earliest, -3/max-timestamp, -4/earliest-local,
    /// -5/latest-tiered, or a timestamp in ms.
    #[arg(long, default_value = "latest", allow_hyphen_values = true)]
    pub time: String,
    /// Client properties file (accepted; gregor has no TLS or SASL).
    #[arg(long)]
    pub command_config: Option<String>,
    /// Leave out internal topics (`__consumer_offsets`, ...).
    #[arg(long)]
    pub exclude_internal_topics: bool,
}

/// Which partitions of a topic one rule takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PartitionRule {
    One(i32),
    /// `from <= p < to`, Kafka's PartitionRangeFilter.
    Range {
        from: i32,
        to: i32,
    },
    /// `--partitions` ids; empty = all.
    Set(Vec<i32>),
}

impl PartitionRule {
    fn allows(&self, p: i32) -> bool {
        match self {
            PartitionRule::One(x) => p == *x,
            PartitionRule::Range { from, to } => p >= *from && p < *to,
            PartitionRule::Set(s) => s.is_empty() || s.contains(&p),
        }
    }
}

/// A topic regex (whole-name match) with its partition rule.
#[derive(Debug)]
pub struct Rule {
    pub topic: Regex,
    pub partitions: PartitionRule,
}

/// Kafka's topic include-list regex: `,` means `|`, spaces and surrounding
/// quotes are dropped, and it must match the whole name.
fn topic_regex(raw: &str) -> Result<Regex, String> {
    let cleaned: String = raw.replace(',', "|").replace(' ', "");
    let cleaned = cleaned
        .trim_start_matches(['"', '\''])
        .trim_end_matches(['"', '\'']);
    Regex::new(&format!("^(?:{cleaned})$"))
        .map_err(|e| format!("{cleaned} is an invalid regex: {e}"))
}

fn number(text: &str, spec: &str) -> Result<i32, String> {
    text.parse()
        .map_err(|_| format!("Invalid rule specification: {spec}"))
}

/// Parses `--topic-partitions`: `t1:1,t2:0-3,t3,t4:5-,t5:-3` (a topic part
/// left empty means every topic).
pub fn parse_topic_partitions(list: &str) -> Result<Vec<Rule>, String> {
    list.split(',').map(parse_rule).collect()
}

fn parse_rule(spec: &str) -> Result<Rule, String> {
    let (topic, part) = match spec.split_once(':') {
        Some((t, p)) => (t, Some(p)),
        None => (spec, None),
    };
    let topic = topic_regex(if topic.is_empty() { ".*" } else { topic })?;
    let digits = |s: &str| s.chars().all(|c| c.is_ascii_digit());
    let partitions = match part {
        None => PartitionRule::Range {
            from: 0,
            to: i32::MAX,
        },
        Some(p) if digits(p) && !p.is_empty() => PartitionRule::One(number(p, spec)?),
        Some("") => PartitionRule::Range {
            from: 0,
            to: i32::MAX,
        },
        Some(p) => {
            let (a, b) = p
                .split_once('-')
                .filter(|(a, b)| digits(a) && digits(b))
                .ok_or_else(|| format!("Invalid rule specification: {spec}"))?;
            PartitionRule::Range {
                from: if a.is_empty() { 0 } else { number(a, spec)? },
                to: if b.is_empty() {
                    i32::MAX
                } else {
                    number(b, spec)?
                },
            }
        }
    };
    Ok(Rule { topic, partitions })
}

/// Parses `--topic` and `--partitions` into one rule.
pub fn parse_topic_and_partitions(
    topic: Option<&str>,
    partitions: Option<&str>,
) -> Result<Rule, String> {
    let ids = match partitions.filter(|p| !p.is_empty()) {
        None => vec![],
        Some(list) => list
            .split(',')
            .map(|p| p.trim().parse::<i32>())
            .collect::<Result<_, _>>()
            .map_err(|_| {
                format!(
                    "--partitions expects a comma separated list of numeric partition ids, but received: {list}"
                )
            })?,
    };
    Ok(Rule {
        topic: topic_regex(topic.unwrap_or(".*"))?,
        partitions: PartitionRule::Set(ids),
    })
}

/// The ListOffsets timestamp `--time` names.
pub fn parse_time(time: &str) -> Result<i64, String> {
    match time {
        "latest" => Ok(-1),
        "earliest" => Ok(-2),
        "max-timestamp" => Ok(-3),
        "earliest-local" => Ok(-4),
        "latest-tiered" => Ok(-5),
        other => other.parse().map_err(|_| {
            format!(
                "Malformed time argument {other}. Please use -1 or latest / -2 or earliest / -3 or max-timestamp / -4 or earliest-local / -5 or latest-tiered, or a specified long format timestamp"
            )
        }),
    }
}

pub fn run(args: &GetOffsetsArgs) -> Result<Vec<String>, String> {
    if args.topic_partitions.is_some() && (args.topic.is_some() || args.partitions.is_some()) {
        return Err("--topic-partitions cannot be used with --topic or --partitions".into());
    }
    admin::ignore_client_config("--command-config", args.command_config.as_deref());
    let timestamp = parse_time(&args.time)?;
    let rules = match &args.topic_partitions {
        Some(list) => parse_topic_partitions(list)?,
        None => vec![parse_topic_and_partitions(
            args.topic.as_deref(),
            args.partitions.as_deref(),
        )?],
    };
    let mut session = Session::connect(
        &admin::bootstrap_list(&args.bootstrap_server),
        admin::REQUEST_TIMEOUT,
    )?;
    let md = session.metadata(None)?;
    // (topic, partition, leader) of every partition some rule takes.
    let mut chosen: Vec<(String, i32, i32)> = Vec::new();
    for t in &md.topics {
        let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
            continue;
        };
        if t.error_code != 0 || (args.exclude_internal_topics && t.is_internal) {
            continue;
        }
        for p in &t.partitions {
            let taken = rules
                .iter()
                .any(|r| r.topic.is_match(&name) && r.partitions.allows(p.partition_index));
            if taken {
                chosen.push((name.clone(), p.partition_index, p.leader_id.0));
            }
        }
    }
    if chosen.is_empty() {
        return Err("Could not match any topic-partitions with the specified filters".into());
    }
    let offsets = list_offsets(&mut session, &chosen, timestamp)?;
    let mut found: Vec<(String, String)> = offsets
        .into_iter()
        .filter(|(_, _, o)| *o != UNKNOWN_OFFSET)
        .map(|(t, p, o)| (admin::tp(&t, p), format!("{t}:{p}:{o}")))
        .collect();
    found.sort();
    Ok(found.into_iter().map(|(_, line)| line).collect())
}

/// ListOffsets of each partition, asked of its leader. A partition whose
/// answer is an error is reported on stderr and skipped, as Kafka's tool does.
fn list_offsets(
    session: &mut Session,
    chosen: &[(String, i32, i32)],
    timestamp: i64,
) -> Result<Vec<(String, i32, i64)>, String> {
    let mut by_leader: HashMap<i32, HashMap<&str, Vec<i32>>> = HashMap::new();
    for (t, p, leader) in chosen {
        by_leader
            .entry(*leader)
            .or_default()
            .entry(t)
            .or_default()
            .push(*p);
    }
    let mut out = Vec::new();
    for (leader, topics) in by_leader {
        let req = ListOffsetsRequest::default()
            .with_replica_id(BrokerId(-1))
            .with_isolation_level(READ_UNCOMMITTED)
            .with_topics(
                topics
                    .iter()
                    .map(|(t, ps)| {
                        ListOffsetsTopic::default()
                            .with_name(topic_name(t))
                            .with_partitions(
                                ps.iter()
                                    .map(|&p| {
                                        ListOffsetsPartition::default()
                                            .with_partition_index(p)
                                            .with_current_leader_epoch(-1)
                                            .with_timestamp(timestamp)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp: ListOffsetsResponse = session.node(leader)?.call(ApiKey::ListOffsets, &req)?;
        for t in &resp.topics {
            for p in &t.partitions {
                if p.error_code != 0 {
                    eprintln!(
                        "Skip getting offsets for topic-partition {} due to error: {}",
                        admin::tp(t.name.0.as_str(), p.partition_index),
                        error_text(p.error_code, None)
                    );
                    continue;
                }
                out.push((t.name.0.to_string(), p.partition_index, p.offset));
            }
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn takes(rules: &[Rule], topic: &str, p: i32) -> bool {
        rules
            .iter()
            .any(|r| r.topic.is_match(topic) && r.partitions.allows(p))
    }

    #[test]
    fn topic_partition_patterns() {
        let r = parse_topic_partitions("t1:1,t2:0-3,t3,t4:5-,t5:-3").unwrap();
        assert!(takes(&r, "t1", 1) && !takes(&r, "t1", 0));
        assert!(takes(&r, "t2", 0) && takes(&r, "t2", 2) && !takes(&r, "t2", 3));
        assert!(takes(&r, "t3", 0) && takes(&r, "t3", 99));
        assert!(!takes(&r, "t4", 4) && takes(&r, "t4", 5) && takes(&r, "t4", 1000));
        assert!(takes(&r, "t5", 2) && !takes(&r, "t5", 3));
        // The topic part is a regex matching the whole name.
        assert!(!takes(&r, "t10", 1) && !takes(&r, "xt1", 1));
        let r = parse_topic_partitions("t.*:0").unwrap();
        assert!(takes(&r, "t10", 0) && !takes(&r, "t10", 1));
        let r = parse_topic_partitions(":2").unwrap();
        assert!(takes(&r, "any", 2) && !takes(&r, "any", 1));
    }

    #[test]
    fn bad_patterns_are_refused() {
        for bad in ["t:x", "t:1-2-3", "t:a-", "t:1:2", "t(:1"] {
            assert!(parse_topic_partitions(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn topic_and_partitions() {
        let r = parse_topic_and_partitions(Some("a|b"), Some("0,2")).unwrap();
        assert!(r.topic.is_match("b") && r.partitions.allows(2) && !r.partitions.allows(1));
        let all = parse_topic_and_partitions(None, None).unwrap();
        assert!(all.topic.is_match("x") && all.partitions.allows(7));
        assert!(parse_topic_and_partitions(None, Some("0,x")).is_err());
    }

    #[test]
    fn times() {
        assert_eq!(parse_time("latest"), Ok(-1));
        assert_eq!(parse_time("-2"), Ok(-2));
        assert_eq!(parse_time("max-timestamp"), Ok(-3));
        assert_eq!(parse_time("1700000000000"), Ok(1_700_000_000_000));
        assert!(parse_time("yesterday").is_err());
    }
}
