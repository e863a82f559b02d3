//! The console consumer's fetching: which partitions its `--topic` or
//! `--include` names, where each starts (committed offsets, `--offset`, the
//! reset policy), Fetch rounds per leader and standalone offset commits.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse};

use super::client::error_text;
use super::console_consumer::{Start, READ_COMMITTED};
use super::fetched::{decode, ConsumedRecord};
use super::groups;
use super::session::{topic_name, PartitionInfo, Session, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use super::topic_filter::IncludeList;

/// Fetch v13 names topics by id; the tool names them, so it stays at v12.
const FETCH_MAX_VERSION: i16 = 12;
/// Per-response and per-partition fetch limits, in bytes (the Java consumer's).
const FETCH_MAX_BYTES: i32 = 50 << 20;
const PARTITION_MAX_BYTES: i32 = 1 << 20;

/// One partition being consumed.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(super) struct Assigned {
    pub(super) topic: String,
    pub(super) partition: i32,
    pub(super) leader: i32,
}

/// The topics being read: one by name, or all an `--include` regex matches.
pub(super) enum Subscription {
    Topic(String),
    Pattern(IncludeList),
}

pub(super) struct Consumer {
    pub(super) session: Session,
    pub(super) subscription: Subscription,
    pub(super) only_partition: Option<i32>,
    pub(super) parts: Vec<Assigned>,
    pub(super) positions: BTreeMap<(String, i32), i64>,
    pub(super) isolation: i8,
    pub(super) reset: Start,
    pub(super) group: Option<String>,
    pub(super) auto_commit: bool,
}

impl Consumer {
    /// The partitions the subscription names now (an `--include` regex may match none yet).
    pub(super) fn resolve(&mut self) -> Result<Vec<Assigned>, String> {
        let topics: Vec<String> = match &self.subscription {
            Subscription::Topic(t) => vec![t.clone()],
            Subscription::Pattern(p) => {
                let md = self.session.metadata(None)?;
                let mut names: Vec<String> = md
                    .topics
                    .iter()
                    .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                    .filter(|n| p.allows(n, true))
                    .collect();
                names.sort();
                names
            }
        };
        let mut out = Vec::new();
        for topic in topics {
            for p in self.session.partitions(&topic, false)? {
                if self.only_partition.is_none_or(|o| o == p.partition) {
                    out.push(Assigned {
                        topic: topic.clone(),
                        partition: p.partition,
                        leader: p.leader,
                    });
                }
            }
        }
        if let (Some(p), Subscription::Topic(t)) = (self.only_partition, &self.subscription) {
            if out.is_empty() {
                return Err(format!("topic {t} has no partition {p}"));
            }
        }
        Ok(out)
    }

    /// Adds partitions not yet consumed: from the group's committed offsets,
    /// else from `start` (or the reset policy).
    pub(super) fn assign(
        &mut self,
        new: Vec<Assigned>,
        start: Option<Start>,
    ) -> Result<(), String> {
        let new: Vec<Assigned> = new
            .into_iter()
            .filter(|a| !self.parts.contains(a))
            .collect();
        let mut by_topic: BTreeMap<String, Vec<i32>> = BTreeMap::new();
        for a in &new {
            by_topic
                .entry(a.topic.clone())
                .or_default()
                .push(a.partition);
        }
        if let (Some(g), None) = (self.group.clone(), start) {
            for (topic, parts) in &by_topic {
                let coordinator = self.session.coordinator(&g)?;
                for ((t, p), o) in groups::committed(coordinator, &g, Some((topic, parts)))? {
                    if parts.contains(&p) {
                        self.positions.insert((t, p), o);
                    }
                }
            }
        }
        self.parts.extend(new.iter().cloned());
        for a in new {
            if !self.positions.contains_key(&(a.topic.clone(), a.partition)) || start.is_some() {
                self.seek(&a, start.unwrap_or(self.reset))?;
            }
        }
        Ok(())
    }

    /// Position of one partition from `start` (earliest/latest via ListOffsets).
    pub(super) fn seek(&mut self, a: &Assigned, start: Start) -> Result<(), String> {
        let info = [PartitionInfo {
            partition: a.partition,
            leader: a.leader,
        }];
        let offset = match start {
            Start::At(o) => o,
            Start::Earliest | Start::Latest => {
                let ts = if start == Start::Earliest {
                    EARLIEST_TIMESTAMP
                } else {
                    LATEST_TIMESTAMP
                };
                let found = self
                    .session
                    .list_offsets(&a.topic, &info, ts, self.isolation)?;
                found
                    .first()
                    .map(|(_, o)| *o)
                    .ok_or_else(|| format!("no offset for {}-{}", a.topic, a.partition))?
            }
        };
        self.positions
            .insert((a.topic.clone(), a.partition), offset);
        Ok(())
    }

    pub(super) fn commit(&mut self) -> Result<(), String> {
        let Some(group) = self.group.clone() else {
            return Ok(());
        };
        if !self.auto_commit {
            return Ok(());
        }
        let mut by_topic: BTreeMap<String, Vec<(i32, i64)>> = BTreeMap::new();
        for ((t, p), o) in &self.positions {
            by_topic.entry(t.clone()).or_default().push((*p, *o));
        }
        for (topic, offsets) in by_topic {
            let c = self.session.coordinator(&group)?;
            groups::commit(c, &group, &topic, &offsets)?;
        }
        Ok(())
    }

    /// One round of fetches (one request per leader). Returns the records in
    /// topic and partition order and advances the positions past them.
    pub(super) fn fetch(&mut self, wait_ms: i32) -> Result<Vec<(String, ConsumedRecord)>, String> {
        let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<i32>>> = BTreeMap::new();
        for a in &self.parts {
            by_leader
                .entry(a.leader)
                .or_default()
                .entry(a.topic.clone())
                .or_default()
                .push(a.partition);
        }
        let mut out = Vec::new();
        for (leader, topics) in by_leader {
            let req = FetchRequest::default()
                .with_max_wait_ms(wait_ms)
                .with_min_bytes(1)
                .with_max_bytes(FETCH_MAX_BYTES)
                .with_isolation_level(self.isolation)
                .with_topics(
                    topics
                        .iter()
                        .map(|(topic, parts)| {
                            FetchTopic::default()
                                .with_topic(topic_name(topic))
                                .with_partitions(
                                    parts
                                        .iter()
                                        .map(|p| {
                                            FetchPartition::default()
                                                .with_partition(*p)
                                                .with_fetch_offset(
                                                    self.positions[&(topic.clone(), *p)],
                                                )
                                                .with_partition_max_bytes(PARTITION_MAX_BYTES)
                                        })
                                        .collect(),
                                )
                        })
                        .collect(),
                );
            let resp: FetchResponse =
                self.session
                    .node(leader)?
                    .call_capped(ApiKey::Fetch, FETCH_MAX_VERSION, &req)?;
            if resp.error_code != 0 {
                return Err(format!(
                    "fetch failed: {}",
                    error_text(resp.error_code, None)
                ));
            }
            for t in &resp.responses {
                let topic = t.topic.0.to_string();
                for p in &t.partitions {
                    let partition = p.partition_index;
                    let key = (topic.clone(), partition);
                    if p.error_code == ResponseError::OffsetOutOfRange.code() {
                        let a = self
                            .parts
                            .iter()
                            .find(|a| a.topic == topic && a.partition == partition)
                            .cloned();
                        if let Some(a) = a {
                            let reset = self.reset;
                            self.seek(&a, reset)?;
                        }
                        continue;
                    }
                    if p.error_code != 0 {
                        return Err(format!(
                            "fetching {topic}-{partition}: {}",
                            error_text(p.error_code, None)
                        ));
                    }
                    let Some(bytes) = &p.records else { continue };
                    let Some(&from) = self.positions.get(&key) else {
                        continue;
                    };
                    let aborted: Option<Vec<(i64, i64)>> =
                        (self.isolation == READ_COMMITTED).then(|| {
                            p.aborted_transactions
                                .iter()
                                .flatten()
                                .map(|a| (a.producer_id.0, a.first_offset))
                                .collect()
                        });
                    let (recs, next) = decode(partition, bytes, from, aborted.as_deref())?;
                    self.positions.insert(key, next.max(from));
                    out.extend(recs.into_iter().map(|r| (topic.clone(), r)));
                }
            }
        }
        Ok(out)
    }
}
