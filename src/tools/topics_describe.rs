//! `kafka-topics.sh --list` and `--describe`: which topics a `--topic` regex
//! (or `--topic-id`) names, and Kafka's describe output with its filters
//! (`--under-replicated-partitions`, `--unavailable-partitions`,
//! `--under-min-isr-partitions`, `--at-min-isr-partitions`,
//! `--topics-with-overrides`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::metadata_response::MetadataResponseTopic;
use kafka_protocol::messages::{ApiKey, BrokerId};

use super::client::error_text;
use super::configs::{describe_resource, topic_settings};
use super::session::Session;
use super::topic_filter::{is_internal, IncludeList};
use super::topics::TopicsArgs;

/// DescribeConfigs resource type of topics.
const TOPIC_RESOURCE: i8 = 2;
/// A topic's min.insync.replicas when the broker does not say (Kafka's default).
const DEFAULT_MIN_ISR: usize = 1;

/// The error for a `--topic` that matches nothing (Kafka's text, then the
/// protocol error's name).
pub fn not_found(pattern: &str) -> String {
    format!(
        "Topic '{pattern}' does not exist as expected ({})",
        error_text(ResponseError::UnknownTopicOrPartition.code(), None)
    )
}

fn name_of(t: &MetadataResponseTopic) -> String {
    t.name.as_ref().map(|n| n.0.to_string()).unwrap_or_default()
}

/// Every topic's metadata, sorted by name, internal ones left out when asked.
fn all_topics(
    session: &mut Session,
    exclude_internal: bool,
) -> Result<Vec<MetadataResponseTopic>, String> {
    let md = session.metadata(None)?;
    let mut topics: Vec<MetadataResponseTopic> = md
        .topics
        .into_iter()
        .filter(|t| !(exclude_internal && (t.is_internal || is_internal(&name_of(t)))))
        .collect();
    topics.sort_by_key(name_of);
    Ok(topics)
}

/// The sorted names `pattern` matches (all topics when None).
pub fn matching_topics(
    session: &mut Session,
    pattern: Option<&str>,
    exclude_internal: bool,
) -> Result<Vec<String>, String> {
    let filter = pattern.map(IncludeList::new).transpose()?;
    Ok(all_topics(session, exclude_internal)?
        .iter()
        .map(name_of)
        .filter(|n| {
            filter
                .as_ref()
                .is_none_or(|f| f.allows(n, exclude_internal))
        })
        .collect())
}

pub fn list(session: &mut Session, args: &TopicsArgs) -> Result<Vec<String>, String> {
    matching_topics(session, args.topic.as_deref(), args.exclude_internal)
}

/// Which partition filters are on; no filter shows every partition and the topic lines.
struct Filters {
    under_replicated: bool,
    unavailable: bool,
    under_min_isr: bool,
    at_min_isr: bool,
}

impl Filters {
    fn any(&self) -> bool {
        self.under_replicated || self.unavailable || self.under_min_isr || self.at_min_isr
    }

    /// Whether a partition with this leader, replica count and ISR size is shown.
    fn shows(
        &self,
        leader: i32,
        live: &[i32],
        replicas: usize,
        isr: usize,
        min_isr: usize,
    ) -> bool {
        let has_leader = leader >= 0 && live.contains(&leader);
        !self.any()
            || (self.under_replicated && isr < replicas)
            || (self.unavailable && !has_leader)
            || (self.under_min_isr && (!has_leader || isr < min_isr))
            || (self.at_min_isr && isr == min_isr)
    }
}

pub fn describe(session: &mut Session, args: &TopicsArgs) -> Result<Vec<String>, String> {
    let mut topics = all_topics(session, args.exclude_internal)?;
    if let Some(id) = args
        .topic_id
        .as_deref()
        .filter(|id| *id != "AAAAAAAAAAAAAAAAAAAAAA")
    {
        topics.retain(|t| t.topic_id.to_string() == id || base64_id(&t.topic_id) == id);
        if topics.is_empty() && !args.if_exists {
            return Err(format!("TopicId '{id}' does not exist as expected"));
        }
    } else if let Some(p) = args.topic.as_deref() {
        let filter = IncludeList::new(p)?;
        topics.retain(|t| filter.allows(&name_of(t), args.exclude_internal));
        if topics.is_empty() && !args.if_exists {
            return Err(not_found(p));
        }
    }
    let md = session.metadata(Some(&[]))?;
    let live: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
    let filters = Filters {
        under_replicated: args.under_replicated_partitions,
        unavailable: args.unavailable_partitions,
        under_min_isr: args.under_min_isr_partitions,
        at_min_isr: args.at_min_isr_partitions,
    };
    let has_configs = session.bootstrap.supports(ApiKey::DescribeConfigs);
    let mut out = Vec::new();
    for t in &topics {
        let name = name_of(t);
        if t.error_code != 0 {
            return Err(format!(
                "Topic '{name}': {}",
                error_text(t.error_code, None)
            ));
        }
        let overrides = topic_settings(&mut session.bootstrap, &name)?;
        let min_isr = if has_configs && (filters.under_min_isr || filters.at_min_isr) {
            describe_resource(&mut session.bootstrap, TOPIC_RESOURCE, &name)?
                .iter()
                .find(|c| c.name.as_str() == "min.insync.replicas")
                .and_then(|c| c.value.as_ref().and_then(|v| v.as_str().parse().ok()))
                .unwrap_or(DEFAULT_MIN_ISR)
        } else {
            DEFAULT_MIN_ISR
        };
        let mut parts: Vec<_> = t.partitions.iter().collect();
        parts.sort_by_key(|p| p.partition_index);
        if !filters.any() && (!args.topics_with_overrides || !overrides.is_empty()) {
            let rf = parts.first().map_or(0, |p| p.replica_nodes.len());
            out.push(format!(
                "Topic: {name}\tTopicId: {}\tPartitionCount: {}\tReplicationFactor: {rf}\tConfigs: {overrides}",
                base64_id(&t.topic_id),
                parts.len(),
            ));
        }
        if args.topics_with_overrides {
            continue;
        }
        for p in parts {
            let (replicas, isr) = (p.replica_nodes.len(), p.isr_nodes.len());
            if !filters.shows(p.leader_id.0, &live, replicas, isr, min_isr) {
                continue;
            }
            let leader = if p.leader_id.0 < 0 {
                "none".to_string()
            } else {
                p.leader_id.0.to_string()
            };
            out.push(format!(
                "\tTopic: {name}\tPartition: {}\tLeader: {leader}\tReplicas: {}\tIsr: {}",
                p.partition_index,
                ids(&p.replica_nodes),
                ids(&p.isr_nodes)
            ));
        }
    }
    Ok(out)
}

fn ids(v: &[BrokerId]) -> String {
    v.iter()
        .map(|b| b.0.to_string())
        .collect::<Vec<_>>()
        .join(",")
}

/// A topic id as Kafka prints it: URL-safe base64 of its 16 bytes, unpadded.
pub fn base64_id(id: &uuid::Uuid) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let bytes = id.as_bytes();
    let mut out = String::with_capacity(22);
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |acc, (i, b)| acc | (u32::from(*b) << (16 - 8 * i)));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn topic_ids_print_as_kafka_base64() {
        let id = uuid::Uuid::from_bytes([0; 16]);
        assert_eq!(base64_id(&id), "AAAAAAAAAAAAAAAAAAAAAA");
        let id = uuid::Uuid::from_bytes([0xff; 16]);
        assert_eq!(base64_id(&id), "_____________________w");
    }

    #[test]
    fn partition_filters() {
        let f = Filters {
            under_replicated: true,
            unavailable: false,
            under_min_isr: false,
            at_min_isr: false,
        };
        assert!(!f.shows(1, &[1], 1, 1, 1));
        assert!(f.shows(1, &[1, 2], 2, 1, 1));
        let f = Filters {
            under_replicated: false,
            unavailable: true,
            under_min_isr: false,
            at_min_isr: false,
        };
        assert!(
            f.shows(-1, &[1], 1, 0, 1) && f.shows(3, &[1], 1, 1, 1) && !f.shows(1, &[1], 1, 1, 1)
        );
        let f = Filters {
            under_replicated: false,
            unavailable: false,
            under_min_isr: false,
            at_min_isr: true,
        };
        assert!(f.shows(1, &[1], 1, 1, 1) && !f.shows(1, &[1], 3, 3, 2));
    }
}
