//! Fetch (key 1), v4-v18: long-poll (max_wait_ms / min_bytes), fetch
//! sessions (KIP-227), response and partition byte limits, topic IDs from
//! v13, whole batches served with `sendfile(2)`.
//!
//! v18 (Kafka 4.1, KIP-1166) adds one tagged partition field, the high
//! watermark the fetching replica knows. Only KRaft voters use it, to learn
//! of a new high watermark without waiting; Kafka's broker reads and ignores
//! it, and so does gregor: a consumer never sends it and gregor has no
//! follower replicas. The response is unchanged from v17.

pub mod encode;
pub mod session;

use std::time::Duration;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_response::{AbortedTransaction, PartitionData};
use kafka_protocol::messages::{ApiKey, FetchRequest, ProducerId};
use uuid::Uuid;

use self::encode::{encode_fetch_response, PartitionOut, TopicOut};
use self::session::{RequestedPartitions, SessionPartition, SessionPlan};
use super::list_offsets::check_leader_epoch;
use super::{ApiSpec, Outcome, RequestContext};
use crate::error::log_error_code;
use crate::log::ReadSlice;

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::Fetch, 4, 18);

const FIRST_VERSION_WITH_TOPIC_IDS: i16 = 13;
/// Longest a fetch may wait for data, whatever the client asks (ms).
const MAX_WAIT_CAP_MS: u64 = 30_000;
const READ_COMMITTED: i8 = 1;

pub async fn handle(ctx: &RequestContext<'_>, request: FetchRequest) -> Outcome {
    let broker = ctx.broker;
    let by_id = ctx.api_version >= FIRST_VERSION_WITH_TOPIC_IDS;
    let image = broker.metadata.image();
    let mut unknown_ids: Vec<(Uuid, i32)> = Vec::new();
    let mut upserts = Vec::new();
    for topic in &request.topics {
        let name = if by_id {
            match image.topic_by_id(&topic.topic_id) {
                Some(t) => t.name.clone(),
                None => {
                    unknown_ids.extend(
                        topic
                            .partitions
                            .iter()
                            .map(|p| (topic.topic_id, p.partition)),
                    );
                    continue;
                }
            }
        } else {
            topic.topic.0.as_str().to_string()
        };
        for p in &topic.partitions {
            upserts.push(SessionPartition {
                topic: name.clone(),
                topic_id: if by_id { topic.topic_id } else { Uuid::nil() },
                partition: p.partition,
                fetch_offset: p.fetch_offset,
                partition_max_bytes: p.partition_max_bytes,
                current_leader_epoch: p.current_leader_epoch,
                last_high_watermark: -1,
                last_log_start_offset: -1,
            });
        }
    }
    let forgotten = request
        .forgotten_topics_data
        .iter()
        .flat_map(|t| {
            let name = if by_id {
                image
                    .topic_by_id(&t.topic_id)
                    .map(|x| x.name.clone())
                    .unwrap_or_default()
            } else {
                t.topic.0.as_str().to_string()
            };
            let id = if by_id { t.topic_id } else { Uuid::nil() };
            t.partitions.iter().map(move |p| (name.clone(), id, *p))
        })
        .collect();
    let (session_id, epoch) = if ctx.api_version >= 7 {
        (request.session_id, request.session_epoch)
    } else {
        (0, session::FINAL_EPOCH)
    };
    let plan = match broker.fetch_sessions.plan(
        session_id,
        epoch,
        RequestedPartitions { upserts, forgotten },
    ) {
        Ok(plan) => plan,
        Err(code) => return respond(ctx, code, 0, Vec::new()),
    };

    let read_committed = request.isolation_level == READ_COMMITTED;
    let max_bytes = if request.max_bytes > 0 {
        request.max_bytes as u64
    } else {
        u64::MAX
    };
    let min_bytes = request.min_bytes.max(0) as u64;
    let wait = Duration::from_millis((request.max_wait_ms.max(0) as u64).min(MAX_WAIT_CAP_MS));
    let deadline = tokio::time::Instant::now() + wait;
    let mut appends = broker.replicas.subscribe_appends();
    let mut shutting_down = broker.shutting_down.clone();
    let results = loop {
        appends.borrow_and_update();
        let results = read_all(ctx, &plan, max_bytes, read_committed);
        let bytes: u64 = results.iter().map(|r| r.bytes).sum();
        let has_error = results.iter().any(|r| r.data.error_code != 0);
        if bytes >= min_bytes || has_error || !unknown_ids.is_empty() || *shutting_down.borrow() {
            break results;
        }
        tokio::select! {
            _ = tokio::time::sleep_until(deadline) => break read_all(ctx, &plan, max_bytes, read_committed),
            changed = appends.changed() => if changed.is_err() { break results },
            _ = shutting_down.changed() => break results,
        }
    };

    // Remember what the client now knows, then group by topic in plan order.
    let sent: Vec<(String, Uuid, i32, i64, i64)> = results
        .iter()
        .map(|r| {
            (
                r.key.topic.clone(),
                r.key.topic_id,
                r.key.partition,
                r.data.high_watermark,
                r.data.log_start_offset,
            )
        })
        .collect();
    broker.fetch_sessions.record_sent(plan.session_id, &sent);
    let mut topics: Vec<TopicOut> = Vec::new();
    for r in results {
        if plan.incremental && !r.is_news() {
            continue;
        }
        let same_topic = topics
            .last()
            .is_some_and(|t| t.name == r.key.topic && t.topic_id == r.key.topic_id);
        if !same_topic {
            let topic_id = if r.key.topic_id.is_nil() {
                image
                    .topics
                    .get(&r.key.topic)
                    .map(|t| t.topic_id)
                    .unwrap_or_default()
            } else {
                r.key.topic_id
            };
            topics.push(TopicOut {
                name: r.key.topic.clone(),
                topic_id,
                partitions: Vec::new(),
            });
        }
        if let Some(t) = topics.last_mut() {
            t.partitions.push(PartitionOut {
                data: r.data,
                records: r.records,
            });
        }
    }
    for (topic_id, partition) in unknown_ids {
        topics.push(TopicOut {
            name: String::new(),
            topic_id,
            partitions: vec![PartitionOut {
                data: PartitionData::default()
                    .with_partition_index(partition)
                    .with_error_code(ResponseError::UnknownTopicId.code())
                    .with_high_watermark(-1),
                records: None,
            }],
        });
    }
    respond(ctx, 0, plan.session_id, topics)
}

fn respond(
    ctx: &RequestContext<'_>,
    error_code: i16,
    session_id: i32,
    topics: Vec<TopicOut>,
) -> Outcome {
    match encode_fetch_response(
        ctx.correlation_id,
        ctx.api_version,
        error_code,
        session_id,
        topics,
    ) {
        Ok(frame) => Outcome::Respond(frame),
        Err(e) => {
            tracing::error!(error = %e, "fetch response encoding failed");
            Outcome::Close(e.to_string())
        }
    }
}

struct PartitionResult {
    key: SessionPartition,
    data: PartitionData,
    records: Option<ReadSlice>,
    bytes: u64,
}

impl PartitionResult {
    /// Whether an incremental response must carry this partition.
    fn is_news(&self) -> bool {
        self.bytes > 0
            || self.data.error_code != 0
            || self.data.high_watermark != self.key.last_high_watermark
            || self.data.log_start_offset != self.key.last_log_start_offset
    }
}

/// Reads every planned partition once. The first partition with data gets
/// at least one whole batch even past the limits, so consumers always make
/// progress; after the response budget is spent, later partitions report
/// offsets only.
fn read_all(
    ctx: &RequestContext<'_>,
    plan: &SessionPlan,
    max_bytes: u64,
    read_committed: bool,
) -> Vec<PartitionResult> {
    let mut used: u64 = 0;
    let mut out = Vec::with_capacity(plan.partitions.len());
    for key in &plan.partitions {
        let mut data = PartitionData::default()
            .with_partition_index(key.partition)
            .with_high_watermark(-1)
            .with_aborted_transactions(if read_committed {
                Some(Vec::new())
            } else {
                None
            });
        let mut records = None;
        let mut bytes = 0;
        match ctx.broker.replicas.partition(&key.topic, key.partition) {
            None => {
                data.error_code = if key.topic_id.is_nil() {
                    ResponseError::UnknownTopicOrPartition.code()
                } else {
                    ResponseError::UnknownTopicId.code()
                };
            }
            Some(partition) => {
                if let Err(code) = check_leader_epoch(&partition, key.current_leader_epoch) {
                    data.error_code = code;
                } else {
                    let limit =
                        (key.partition_max_bytes.max(0) as u64).min(max_bytes.saturating_sub(used));
                    let min_one = used == 0;
                    let result = partition.with_log(|log| {
                        let hwm = log.log_end_offset();
                        let lso = log.last_stable_offset();
                        let start = log.log_start_offset();
                        // read_committed stops at the LSO and lists the aborted
                        // transactions the client must skip.
                        let bound = if read_committed { lso } else { i64::MAX };
                        let read = if limit == 0 && !min_one {
                            None
                        } else {
                            Some(log.read_below(key.fetch_offset, limit, min_one, bound))
                        };
                        let aborted = if read_committed && key.fetch_offset < lso {
                            log.aborted_transactions(key.fetch_offset, lso)
                        } else {
                            Vec::new()
                        };
                        (hwm, lso, start, read, aborted)
                    });
                    let (hwm, lso, start, read, aborted) = result;
                    data.high_watermark = hwm;
                    data.last_stable_offset = lso;
                    data.log_start_offset = start;
                    if read_committed {
                        data.aborted_transactions = Some(
                            aborted
                                .into_iter()
                                .map(|a| {
                                    AbortedTransaction::default()
                                        .with_producer_id(ProducerId(a.producer_id))
                                        .with_first_offset(a.first_offset)
                                })
                                .collect(),
                        );
                    }
                    match read {
                        None => {
                            // Budget spent: still report offsets, but an
                            // out-of-range position must be flagged now.
                            if key.fetch_offset < start || key.fetch_offset > hwm {
                                data.error_code = ResponseError::OffsetOutOfRange.code();
                            }
                        }
                        Some(Ok(slice)) => {
                            bytes = slice.total_bytes;
                            used += bytes;
                            records = Some(slice);
                        }
                        Some(Err(e)) => data.error_code = log_error_code(&e),
                    }
                }
            }
        }
        out.push(PartitionResult {
            key: key.clone(),
            data,
            records,
            bytes,
        });
    }
    out
}
