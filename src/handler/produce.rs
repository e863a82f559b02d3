//! Produce (key 0), v3-v13: validate each partition's record batch (CRC32C,
//! magic 2, size, and every record as Kafka's LogValidator does: framing,
//! count, offset deltas, timestamps, keys on compacted topics, see
//! `record::validate`) and append it byte-for-byte; acks 0, 1 and -1 (on one
//! node the in-sync replica set is this broker, so -1 equals 1). Batches of
//! idempotent producers are checked against the partition's producer state
//! (`log::producer_state`): retries get their original offsets. A topic's
//! `compression.type` other than `producer` re-compresses batches whose codec
//! differs, and `min.insync.replicas` above the one in-sync replica refuses
//! acks=all with NOT_ENOUGH_REPLICAS, as Kafka does. A batch refused for some
//! of its records (no key on a compacted topic, a timestamp out of range) names
//! each of them in v8+'s `record_errors` (KIP-467).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::produce_response::{
    BatchIndexAndErrorMessage, PartitionProduceResponse, TopicProduceResponse,
};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiSpec, Outcome, RequestContext};
use crate::error::{log_error_code, record_error_code};
use crate::record::{validate_produced_records, RecordError, Rejections};
use crate::replica::now_ms;

/// v0-v2 (message formats 0 and 1) are gone since Kafka 4.0 and are refused,
/// but advertised from v0 as Kafka 4 does (KAFKA-18659): librdkafka up to
/// 2.11 checks the codec support of gzip, snappy and lz4 against Produce v0
/// and would otherwise send those batches uncompressed.
pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::Produce, 3, 13).advertising_from(0);

/// The one client id Kafka lets append to internal topics
/// (`__consumer_offsets`, `__transaction_state`), for its admin tooling.
/// Everyone else gets INVALID_TOPIC_EXCEPTION: a forged commit record would
/// otherwise become a group's offset after the next load.
const ADMIN_CLIENT_ID: &str = "__admin_client";

/// One node: the in-sync replica set of every partition is this broker.
const IN_SYNC_REPLICAS: i32 = 1;

/// v13 names topics by ID instead of by name (KIP-516).
const FIRST_VERSION_WITH_TOPIC_IDS: i16 = 13;

pub async fn handle(ctx: &RequestContext<'_>, request: ProduceRequest) -> Outcome {
    let acks = request.acks;
    let acks_valid = matches!(acks, -1 | 0 | 1);
    let image = ctx.broker.metadata.image();
    let by_id = ctx.api_version >= FIRST_VERSION_WITH_TOPIC_IDS;
    let mut appended_any = false;
    let mut responses = Vec::with_capacity(request.topic_data.len());
    for topic in request.topic_data {
        let name: Option<String> = if by_id {
            image.topic_by_id(&topic.topic_id).map(|t| t.name.clone())
        } else {
            Some(topic.name.0.as_str().to_string())
        };
        let unknown_code = if by_id {
            ResponseError::UnknownTopicId
        } else {
            ResponseError::UnknownTopicOrPartition
        };
        let mut partitions = Vec::with_capacity(topic.partition_data.len());
        for data in topic.partition_data {
            let mut out = PartitionProduceResponse::default()
                .with_index(data.index)
                .with_base_offset(-1)
                .with_log_append_time_ms(-1)
                .with_log_start_offset(-1);
            if !acks_valid {
                out.error_code = ResponseError::InvalidRequiredAcks.code();
                partitions.push(out);
                continue;
            }
            let internal = name
                .as_deref()
                .and_then(|n| image.topics.get(n))
                .is_some_and(|t| t.internal);
            if internal && ctx.client_id != Some(ADMIN_CLIENT_ID) {
                out.error_code = ResponseError::InvalidTopicException.code();
                out.error_message = Some(StrBytes::from_string(format!(
                    "Cannot append to internal topic {}",
                    name.as_deref().unwrap_or_default()
                )));
                partitions.push(out);
                continue;
            }
            let partition = name
                .as_deref()
                .and_then(|n| ctx.broker.replicas.partition(n, data.index));
            let Some(partition) = partition else {
                out.error_code = unknown_code.code();
                partitions.push(out);
                continue;
            };
            let Some(records) = data.records.filter(|r| !r.is_empty()) else {
                out.error_code = ResponseError::InvalidRecord.code();
                out.error_message = Some(StrBytes::from_static_str(
                    "produce request carries no record batch",
                ));
                partitions.push(out);
                continue;
            };
            if let Err(message) = single_batch(&records) {
                out.error_code = ResponseError::InvalidRecord.code();
                out.error_message = Some(StrBytes::from_string(message));
                partitions.push(out);
                continue;
            }
            let (rules, codec, min_insync, max_bytes) = partition.with_log(|log| {
                let c = log.config();
                (
                    c.record_rules(),
                    c.compression,
                    c.min_insync_replicas,
                    c.max_message_bytes,
                )
            });
            // Kafka checks the size before it reads a record: an oversized batch
            // is MESSAGE_TOO_LARGE however its records look, and is not parsed.
            if records.len() as u64 > u64::from(max_bytes) {
                out.error_code = ResponseError::MessageTooLarge.code();
                out.error_message = Some(StrBytes::from_string(format!(
                    "batch of {} bytes exceeds max.message.bytes {max_bytes}",
                    records.len()
                )));
                partitions.push(out);
                continue;
            }
            if acks == -1 && min_insync > IN_SYNC_REPLICAS {
                out.error_code = ResponseError::NotEnoughReplicas.code();
                out.error_message = Some(StrBytes::from_string(format!(
                    "The size of the current ISR {IN_SYNC_REPLICAS} is insufficient to satisfy \
                     the min.isr requirement of {min_insync} for partition {}-{}",
                    partition.topic, data.index
                )));
                partitions.push(out);
                continue;
            }
            // Every record, once, outside the partition lock: a batch whose CRC is
            // right but whose records lie must never reach the log.
            let checked = match validate_produced_records(&records, &rules, now_ms()) {
                Ok(checked) => checked,
                Err(e) => {
                    tracing::debug!(topic = %partition.topic, partition = data.index, error = %e, "produce refused");
                    out.error_code = record_error_code(&e);
                    out.error_message = Some(StrBytes::from_string(e.to_string()));
                    if let RecordError::Rejected(rejected) = &e {
                        name_rejected_records(&mut out, rejected, &partition.topic);
                        out.log_start_offset = partition.with_log(|log| log.log_start_offset());
                    }
                    partitions.push(out);
                    continue;
                }
            };
            let records = with_true_max_timestamp(records, &checked);
            let records = match codec.map(|c| crate::record::recompress_batch(&records, c)) {
                None | Some(Ok(None)) => records,
                Some(Ok(Some(recompressed))) => bytes::Bytes::from(recompressed),
                Some(Err(e)) => {
                    out.error_code = record_error_code(&e);
                    out.error_message = Some(StrBytes::from_string(e.to_string()));
                    partitions.push(out);
                    continue;
                }
            };
            if let Err(code) = verify_transactional(ctx, &partition.topic, data.index, &records) {
                out.error_code = code;
                partitions.push(out);
                continue;
            }
            let result =
                partition.with_log(|log| log.append(&records, partition.leader_epoch, now_ms()));
            match result {
                Ok(info) => {
                    if info.duplicate {
                        // Rare (a retry after a lost response); worth a line for operators.
                        tracing::info!(
                            topic = %partition.topic,
                            partition = data.index,
                            base_offset = info.base_offset,
                            "duplicate batch from an idempotent producer: answered with its original offsets"
                        );
                    }
                    appended_any |= !info.duplicate;
                    out.base_offset = info.base_offset;
                    out.log_append_time_ms = info.log_append_time_ms;
                    out.log_start_offset = info.log_start_offset;
                }
                Err(e) => {
                    tracing::debug!(topic = %partition.topic, partition = data.index, error = %e, "produce refused");
                    out.error_code = log_error_code(&e);
                    out.error_message = Some(StrBytes::from_string(e.to_string()));
                }
            }
            partitions.push(out);
        }
        responses.push(
            TopicProduceResponse::default()
                .with_name(topic.name)
                .with_topic_id(topic.topic_id)
                .with_partition_responses(partitions),
        );
    }
    if appended_any {
        ctx.broker.replicas.notify_append();
    }
    if acks == 0 {
        return Outcome::NoResponse;
    }
    ctx.respond(&ProduceResponse::default().with_responses(responses))
}

/// KIP-467: names each refused record of the batch (`record_errors`, v8+; the
/// codec leaves them out of older versions) and puts Kafka's summary in
/// `error_message`, so a client can fail exactly those records and tell the
/// others they were refused for a different record's sake.
fn name_rejected_records(out: &mut PartitionProduceResponse, rejected: &Rejections, topic: &str) {
    let tp = format!("{topic}-{}", out.index);
    out.error_message = Some(StrBytes::from_string(rejected.summary(Some(&tp))));
    out.record_errors = rejected
        .records()
        .iter()
        .map(|r| {
            BatchIndexAndErrorMessage::default()
                .with_batch_index(r.index)
                .with_batch_index_error_message(Some(StrBytes::from_string(
                    Rejections::record_message(r, Some(&tp)),
                )))
        })
        .collect();
}

/// The batch with the max_timestamp validation computed, when the producer's
/// differs (rare: a copy of the batch, as Kafka rewrites it too); else as sent.
fn with_true_max_timestamp(
    records: bytes::Bytes,
    checked: &[crate::record::BatchHeader],
) -> bytes::Bytes {
    let stored = crate::record::parse_header(&records).map(|h| h.max_timestamp);
    match checked.first() {
        Some(h) if stored.is_ok_and(|ts| ts != h.max_timestamp) => {
            let mut copy = records.to_vec();
            match crate::record::set_create_time_max_timestamp(&mut copy, h.max_timestamp) {
                Ok(()) => bytes::Bytes::from(copy),
                Err(_) => records,
            }
        }
        _ => records,
    }
}

/// A transactional batch must belong to its producer's open transaction, at the
/// current epoch, with this partition added (KIP-890 verification: a zombie or a
/// producer that skipped AddPartitionsToTxn cannot leave a transaction hanging).
fn verify_transactional(
    ctx: &RequestContext<'_>,
    topic: &str,
    partition: i32,
    records: &[u8],
) -> Result<(), i16> {
    match crate::record::parse_header(records) {
        Ok(h) if h.is_transactional() && !h.is_control() => {
            ctx.broker
                .txns
                .verify_produce(h.producer_id, h.producer_epoch, topic, partition)
        }
        Ok(h) if h.is_control() => Err(ResponseError::InvalidRecord.code()),
        _ => Ok(()),
    }
}

/// Since Produce v3, Kafka requires exactly one record batch per partition
/// (it keeps a producer's sequence checks and offsets simple); more is
/// INVALID_RECORD. Damage inside the batch is left to the log's validation.
fn single_batch(records: &[u8]) -> Result<(), String> {
    match crate::record::parse_header(records) {
        Ok(header) if header.total_bytes() < records.len() as u64 => Err(format!(
            "produce request carries more than one record batch ({} bytes after the first)",
            records.len() as u64 - header.total_bytes()
        )),
        _ => Ok(()),
    }
}
