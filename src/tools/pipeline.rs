//! A pipelining producer for the load tools (producer-perf-test, verifiable-producer):
//! records are batched per partition (batch.size, linger.ms), and up to
//! max.in.flight.requests.per.connection Produce requests are outstanding per
//! broker, so throughput is not bound by one round trip per batch as the console
//! producer's is. Transactions (InitProducerId, AddPartitionsToTxn, EndTxn) are in
//! `txn.rs`; this file only stamps their producer id, epoch and sequences.

use std::collections::{BTreeMap, VecDeque};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};

use super::args::Props;
use super::client::error_text;
use super::console_producer::{parse_acks, parse_codec};
use super::partitioner::partition_for_key;
use super::session::{topic_name, Session};
use super::txn::Txn;
use crate::record::{build_batch, BatchParams, BuilderRecord, Compression, RecordHeaders};

/// Produce v13 names topics by id; v12 is the newest by name.
const PRODUCE_MAX_VERSION: i16 = 12;
/// Java producer defaults (Kafka 4.x): linger.ms 5, batch.size 16 KiB, 5 in flight.
const DEFAULT_LINGER_MS: u64 = 5;
const DEFAULT_BATCH_BYTES: usize = 16384;
const DEFAULT_MAX_IN_FLIGHT: usize = 5;
const DEFAULT_REQUEST_TIMEOUT_MS: i32 = 30_000;
/// Per-record overhead counted towards batch.size besides key and value, in bytes.
const RECORD_OVERHEAD_BYTES: usize = 16;

/// Producer settings from `key=value` producer properties.
#[derive(Debug, Clone, Copy)]
pub struct Settings {
    pub acks: i16,
    pub compression: Compression,
    pub linger: Duration,
    pub batch_bytes: usize,
    pub max_in_flight: usize,
    pub request_timeout_ms: i32,
}

impl Settings {
    pub fn from_props(p: &Props) -> Result<Settings, String> {
        let num = |key: &str, default: u64| -> Result<u64, String> {
            p.get(key).map_or(Ok(default), |v| {
                v.trim()
                    .parse::<u64>()
                    .map_err(|_| format!("{key} must be a non-negative number, got {v:?}"))
            })
        };
        Ok(Settings {
            acks: p.get("acks").map_or(Ok(-1), parse_acks)?,
            compression: p
                .get("compression.type")
                .map_or(Ok(Compression::None), parse_codec)?,
            linger: Duration::from_millis(num("linger.ms", DEFAULT_LINGER_MS)?),
            batch_bytes: (num("batch.size", DEFAULT_BATCH_BYTES as u64)? as usize).max(1),
            max_in_flight: (num(
                "max.in.flight.requests.per.connection",
                DEFAULT_MAX_IN_FLIGHT as u64,
            )? as usize)
                .max(1),
            request_timeout_ms: num("request.timeout.ms", DEFAULT_REQUEST_TIMEOUT_MS as u64)?
                .min(i32::MAX as u64) as i32,
        })
    }
}

/// One record's fate: `tag` as given to [`Producer::add`], its partition, and its
/// offset (-1 with acks=0, which gets no answer) or the broker's error.
#[derive(Debug)]
pub struct Outcome<T> {
    pub tag: T,
    pub partition: i32,
    pub result: Result<i64, String>,
}

struct Pending<T> {
    records: Vec<(Option<Vec<u8>>, Vec<u8>, i64, T)>,
    bytes: usize,
    since: Instant,
}

struct Flight<T> {
    version: i16,
    correlation: i32,
    batches: Vec<(i32, Vec<T>)>,
}

pub struct Producer<T> {
    pub session: Session,
    pub topic: String,
    leaders: BTreeMap<i32, i32>,
    partitions: Vec<i32>,
    settings: Settings,
    pending: BTreeMap<i32, Pending<T>>,
    in_flight: BTreeMap<i32, VecDeque<Flight<T>>>,
    /// Index into `partitions` of the sticky partition for unkeyed records.
    sticky: usize,
    pub txn: Option<Txn>,
    done: Vec<Outcome<T>>,
}

pub fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

impl<T> Producer<T> {
    /// Connects and looks up `topic` (auto-creating it when the broker allows).
    pub fn new(
        mut session: Session,
        topic: &str,
        settings: Settings,
        sticky_seed: usize,
    ) -> Result<Producer<T>, String> {
        let parts = session.partitions(topic, true)?;
        let partitions: Vec<i32> = parts.iter().map(|p| p.partition).collect();
        Ok(Producer {
            session,
            topic: topic.to_string(),
            leaders: parts.iter().map(|p| (p.partition, p.leader)).collect(),
            sticky: sticky_seed % partitions.len(),
            partitions,
            settings,
            pending: BTreeMap::new(),
            in_flight: BTreeMap::new(),
            txn: None,
            done: Vec::new(),
        })
    }

    pub fn settings(&self) -> Settings {
        self.settings
    }

    /// Queues one record: keyed records go to murmur2(key) as Kafka's default
    /// partitioner; unkeyed ones stick to one partition until its batch is sent.
    pub fn add(&mut self, key: Option<Vec<u8>>, value: Vec<u8>, tag: T) -> Result<(), String> {
        let n = self.partitions.len() as i32;
        let partition = match &key {
            Some(k) => self.partitions[partition_for_key(k, n) as usize],
            None => self.partitions[self.sticky],
        };
        let size = key.as_ref().map_or(0, Vec::len) + value.len() + RECORD_OVERHEAD_BYTES;
        let p = self.pending.entry(partition).or_insert_with(|| Pending {
            records: Vec::new(),
            bytes: 0,
            since: Instant::now(),
        });
        p.records.push((key, value, now_ms(), tag));
        p.bytes += size;
        if p.bytes >= self.settings.batch_bytes {
            self.send(|q, _| q == partition)?;
        }
        Ok(())
    }

    /// Sends the batches whose linger has passed, then reads the answers that have
    /// arrived, waiting up to `wait` for the first one (or sleeping that long when
    /// nothing is in flight).
    pub fn poll(&mut self, wait: Duration) -> Result<(), String> {
        let now = Instant::now();
        let linger = self.settings.linger;
        self.send(|_, p| p.since + linger <= now)?;
        let mut wait = wait;
        if let Some(due) = self.pending.values().map(|p| p.since + linger).min() {
            wait = wait.min(due.saturating_duration_since(Instant::now()));
        }
        if self.in_flight.values().all(VecDeque::is_empty) {
            std::thread::sleep(wait);
            return Ok(());
        }
        let leaders: Vec<i32> = self.in_flight.keys().copied().collect();
        for leader in leaders {
            while self.in_flight.get(&leader).is_some_and(|q| !q.is_empty()) {
                if !self.session.node(leader)?.readable_within(wait)? {
                    break;
                }
                wait = Duration::ZERO;
                self.receive_one(leader)?;
            }
        }
        Ok(())
    }

    /// Sends everything pending and waits for every answer.
    pub fn flush(&mut self) -> Result<(), String> {
        self.send(|_, _| true)?;
        let leaders: Vec<i32> = self.in_flight.keys().copied().collect();
        for leader in leaders {
            while self.in_flight.get(&leader).is_some_and(|q| !q.is_empty()) {
                self.receive_one(leader)?;
            }
        }
        Ok(())
    }

    /// The outcomes gathered since the last call, in answer order.
    pub fn take_outcomes(&mut self) -> Vec<Outcome<T>> {
        std::mem::take(&mut self.done)
    }

    fn receive_one(&mut self, leader: i32) -> Result<(), String> {
        let flight = self
            .in_flight
            .get_mut(&leader)
            .and_then(VecDeque::pop_front)
            .ok_or("no request in flight")?;
        let resp: ProduceResponse = self.session.node(leader)?.receive_pipelined(
            ApiKey::Produce,
            flight.version,
            flight.correlation,
        )?;
        let mut answers: BTreeMap<i32, Result<i64, String>> = BTreeMap::new();
        for t in &resp.responses {
            for p in &t.partition_responses {
                let r = if p.error_code == 0 {
                    Ok(p.base_offset)
                } else {
                    Err(error_text(
                        p.error_code,
                        p.error_message.as_ref().map(|m| m.as_str()),
                    ))
                };
                answers.insert(p.index, r);
            }
        }
        for (partition, tags) in flight.batches {
            let answer = answers
                .get(&partition)
                .cloned()
                .unwrap_or_else(|| Err("no answer for the partition".to_string()));
            for (i, tag) in tags.into_iter().enumerate() {
                let result = answer.clone().map(|base| base + i as i64);
                self.done.push(Outcome {
                    tag,
                    partition,
                    result,
                });
            }
        }
        Ok(())
    }

    /// Sends the pending batches `which` selects, one Produce per leader, first
    /// waiting for the oldest answer when a leader already has the maximum in flight.
    fn send(&mut self, which: impl Fn(i32, &Pending<T>) -> bool) -> Result<(), String> {
        let chosen: Vec<i32> = self
            .pending
            .iter()
            .filter(|(p, b)| which(**p, b))
            .map(|(p, _)| *p)
            .collect();
        if chosen.is_empty() {
            return Ok(());
        }
        if let Some(txn) = self.txn.as_mut() {
            txn.add_partitions(&mut self.session, &self.topic, &chosen)?;
        }
        let mut by_leader: BTreeMap<i32, Vec<(i32, Vec<u8>, Vec<T>)>> = BTreeMap::new();
        for p in chosen {
            let batch = self.pending.remove(&p).expect("chosen from pending");
            let mut params = BatchParams {
                compression: self.settings.compression,
                ..Default::default()
            };
            if let Some(txn) = self.txn.as_mut() {
                params.producer_id = txn.producer_id;
                params.producer_epoch = txn.producer_epoch;
                params.base_sequence = txn.next_sequence(p, batch.records.len() as i32);
                params.is_transactional = true;
            }
            let recs: Vec<BuilderRecord<'_>> = batch
                .records
                .iter()
                .enumerate()
                .map(|(i, (k, v, ts, _))| BuilderRecord {
                    offset_delta: i as i32,
                    timestamp: *ts,
                    key: k.as_deref(),
                    value: Some(v),
                    headers: RecordHeaders::List(Vec::new()),
                })
                .collect();
            let bytes = build_batch(&recs, params)
                .map_err(|e| format!("cannot build a record batch: {e}"))?;
            let tags = batch.records.into_iter().map(|r| r.3).collect();
            by_leader
                .entry(self.leaders[&p])
                .or_default()
                .push((p, bytes, tags));
            if self.partitions[self.sticky] == p {
                self.sticky = (self.sticky + 1) % self.partitions.len();
            }
        }
        for (leader, batches) in by_leader {
            while self.in_flight.get(&leader).map_or(0, VecDeque::len)
                >= self.settings.max_in_flight
            {
                self.receive_one(leader)?;
            }
            let mut data = Vec::new();
            let mut tags = Vec::new();
            for (p, bytes, t) in batches {
                data.push(
                    PartitionProduceData::default()
                        .with_index(p)
                        .with_records(Some(bytes.into())),
                );
                tags.push((p, t));
            }
            let req = ProduceRequest::default()
                .with_acks(self.settings.acks)
                .with_timeout_ms(self.settings.request_timeout_ms)
                .with_transactional_id(self.txn.as_ref().map(Txn::id))
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic_name(&self.topic))
                    .with_partition_data(data)]);
            let client = self.session.node(leader)?;
            if self.settings.acks == 0 {
                client.send_only(ApiKey::Produce, PRODUCE_MAX_VERSION, &req)?;
                for (partition, ts) in tags {
                    for tag in ts {
                        self.done.push(Outcome {
                            tag,
                            partition,
                            result: Ok(-1),
                        });
                    }
                }
                continue;
            }
            let (version, correlation) =
                client.send_pipelined(ApiKey::Produce, PRODUCE_MAX_VERSION, &req)?;
            self.in_flight.entry(leader).or_default().push_back(Flight {
                version,
                correlation,
                batches: tags,
            });
        }
        Ok(())
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl<T> std::fmt::Debug for Producer<T> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Producer").finish_non_exhaustive()
    }
}
