//! A fetch loop over chosen partitions of one topic for the load tools
//! (consumer-perf-test, verifiable-consumer): positions per partition, one Fetch
//! per leader per round, records decoded by `fetched.rs`.

use std::collections::BTreeMap;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse};

use super::client::error_text;
use super::fetched::{decode, ConsumedRecord};
use super::session::{topic_name, PartitionInfo, Session, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};

/// Fetch v13 names topics by id; v12 is the newest by name.
const FETCH_MAX_VERSION: i16 = 12;
/// Most bytes one Fetch answer may carry, in bytes.
const FETCH_MAX_BYTES: i32 = 50 << 20;

pub struct Fetcher {
    pub session: Session,
    pub topic: String,
    pub parts: Vec<PartitionInfo>,
    pub positions: BTreeMap<i32, i64>,
    /// Bytes asked per partition per fetch.
    pub partition_bytes: i32,
    /// Where a partition without a position, or out of range, starts.
    pub from_latest: bool,
}

impl Fetcher {
    /// Sets the position of each partition in `partitions` without one to the
    /// log start or end (`from_latest`).
    pub fn reset(&mut self, partitions: &[i32]) -> Result<(), String> {
        let parts: Vec<PartitionInfo> = self
            .parts
            .iter()
            .copied()
            .filter(|p| partitions.contains(&p.partition))
            .collect();
        if parts.is_empty() {
            return Ok(());
        }
        let ts = if self.from_latest {
            LATEST_TIMESTAMP
        } else {
            EARLIEST_TIMESTAMP
        };
        let topic = self.topic.clone();
        for (p, o) in self.session.list_offsets(&topic, &parts, ts, 0)? {
            self.positions.insert(p, o);
        }
        Ok(())
    }

    /// One round of fetches over the partitions with a position, waiting up to
    /// `wait_ms` for data; advances the positions past what it returns.
    pub fn fetch(&mut self, wait_ms: i32) -> Result<Vec<ConsumedRecord>, String> {
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for p in &self.parts {
            if self.positions.contains_key(&p.partition) {
                by_leader.entry(p.leader).or_default().push(p.partition);
            }
        }
        let mut out = Vec::new();
        for (leader, parts) in by_leader {
            let req = FetchRequest::default()
                .with_max_wait_ms(wait_ms)
                .with_min_bytes(1)
                .with_max_bytes(FETCH_MAX_BYTES)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic_name(&self.topic))
                    .with_partitions(
                        parts
                            .iter()
                            .map(|p| {
                                FetchPartition::default()
                                    .with_partition(*p)
                                    .with_fetch_offset(self.positions[p])
                                    .with_partition_max_bytes(self.partition_bytes)
                            })
                            .collect(),
                    )]);
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
                for p in &t.partitions {
                    let partition = p.partition_index;
                    if p.error_code == ResponseError::OffsetOutOfRange.code() {
                        self.positions.remove(&partition);
                        self.reset(&[partition])?;
                        continue;
                    }
                    if p.error_code != 0 {
                        return Err(format!(
                            "fetching {}-{partition}: {}",
                            self.topic,
                            error_text(p.error_code, None)
                        ));
                    }
                    let Some(bytes) = &p.records else { continue };
                    let from = self.positions[&partition];
                    let (recs, next) = decode(partition, bytes, from, None)?;
                    self.positions.insert(partition, next.max(from));
                    out.extend(recs);
                }
            }
        }
        Ok(out)
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for Fetcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Fetcher").finish_non_exhaustive()
    }
}
