//! Reading and writing `__consumer_offsets`: offset commits and group
//! metadata as Kafka's records, appended to the group's partition and
//! replayed on start.

use std::time::Instant;

use bytes::Bytes;

use super::classic::ClassicGroup;
use super::consumer::{ConsumerGroup, TopicsView};
use super::consumer_records::{self, Loaded};
use super::schema::{
    self, GroupMetadataValue, MemberMetadata, OffsetCommitValue, OffsetsRecordKey,
};
use super::schema_848;
use super::{CommittedOffset, OFFSETS_TOPIC};
use crate::broker::Broker;
use crate::internal_topic;
use crate::record;

/// Appends records (key, value; `None` is a tombstone) to the group's partition.
fn append(
    broker: &Broker,
    group_id: &str,
    records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
) -> Result<(), i16> {
    let partition = broker.groups.partition_for(group_id);
    internal_topic::append(broker, OFFSETS_TOPIC, partition, records, None)
}

/// The answer to a record Kafka's schema cannot hold (a group id, topic name or
/// metadata string over 32767 bytes): UNKNOWN_SERVER_ERROR, as Kafka 4.1's
/// coordinator answers when serializing the record fails, with the reason logged
/// at debug (the client sees only the code).
fn unencodable(group_id: &str, what: &str, error: &schema::SchemaError) -> i16 {
    crate::error::refuse(
        kafka_protocol::error::ResponseError::UnknownServerError,
        format_args!(
            "cannot write the {what} of group {:?} ({} bytes) to {OFFSETS_TOPIC}: {error}",
            crate::error::prefix(group_id),
            group_id.len()
        ),
    )
}

/// Persists one offset commit (or its deletion).
pub fn write_offset(
    broker: &Broker,
    group_id: &str,
    topic: &str,
    partition: i32,
    value: Option<&CommittedOffset>,
) -> Result<(), i16> {
    write_offsets(
        broker,
        group_id,
        &[(topic.to_string(), partition, value.cloned())],
    )
}

/// Persists several offsets of one group in one batch.
pub fn write_offsets(
    broker: &Broker,
    group_id: &str,
    offsets: &[(String, i32, Option<CommittedOffset>)],
) -> Result<(), i16> {
    write_offsets_as(broker, group_id, offsets, None)
}

/// [`write_offsets`], as a transactional batch of `producer` (TxnOffsetCommit): the
/// records count only after the transaction's COMMIT marker.
pub fn write_offsets_as(
    broker: &Broker,
    group_id: &str,
    offsets: &[(String, i32, Option<CommittedOffset>)],
    producer: Option<(i64, i16)>,
) -> Result<(), i16> {
    let records = offsets
        .iter()
        .map(|(topic, partition, value)| {
            let key = schema::try_encode_key(&OffsetsRecordKey::OffsetCommit {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition: *partition,
            })
            .map_err(|e| unencodable(group_id, "offset commit key", &e))?;
            let value = value
                .as_ref()
                .map(|c| {
                    schema::try_encode_offset_commit_value(&OffsetCommitValue {
                        offset: c.offset,
                        leader_epoch: c.leader_epoch,
                        metadata: c.metadata.clone(),
                        commit_timestamp: c.commit_timestamp_ms,
                        expire_timestamp: c.expire_timestamp_ms,
                    })
                })
                .transpose()
                .map_err(|e| unencodable(group_id, "offset commit value", &e))?;
            Ok((key, value))
        })
        .collect::<Result<Vec<_>, i16>>()?;
    let partition = broker.groups.partition_for(group_id);
    internal_topic::append(broker, OFFSETS_TOPIC, partition, records, producer)
}

/// Appends whatever changed in a KIP-848 group since its last write (see
/// `consumer_records`). On failure the group keeps its old written set, so the next
/// heartbeat or timer run retries the difference.
pub fn persist_consumer_group(broker: &Broker, group: &mut ConsumerGroup) {
    let (changes, written) = group.pending_records();
    if changes.is_empty() {
        return;
    }
    match append(broker, &group.group_id, changes) {
        Ok(()) => group.mark_written(written),
        Err(code) => {
            tracing::warn!(group = %group.group_id, code, "cannot persist consumer group state")
        }
    }
}

/// Appends a group's tombstones (it is being deleted).
pub fn delete_consumer_group(broker: &Broker, group: &ConsumerGroup) -> Result<(), i16> {
    let tombstones = group.tombstones();
    if tombstones.is_empty() {
        return Ok(());
    }
    append(broker, &group.group_id, tombstones)
}

/// The group-metadata record for a group's current state.
pub fn group_record(group: &ClassicGroup) -> (String, Option<GroupMetadataValue>) {
    let protocol = group.protocol_name.clone().unwrap_or_default();
    let members = group
        .member_list()
        .map(|m| MemberMetadata {
            member_id: m.member_id.clone(),
            group_instance_id: m.group_instance_id.clone(),
            client_id: m.client_id.clone(),
            client_host: m.client_host.clone(),
            rebalance_timeout: m.rebalance_timeout.as_millis() as i32,
            session_timeout: m.session_timeout.as_millis() as i32,
            subscription: m
                .protocols
                .iter()
                .find(|(n, _)| *n == protocol)
                .map(|(_, b)| b.to_vec())
                .unwrap_or_default(),
            assignment: m.assignment.to_vec(),
        })
        .collect();
    let value = GroupMetadataValue {
        protocol_type: group.protocol_type.clone().unwrap_or_default(),
        generation: group.generation_id,
        protocol: group.protocol_name.clone(),
        leader: group.leader_id.clone(),
        current_state_timestamp: group.state_since_ms,
        members,
    };
    (group.group_id.clone(), Some(value))
}

/// Persists a group's metadata (or a tombstone when `value` is None).
pub fn write_group(
    broker: &Broker,
    group_id: &str,
    value: Option<GroupMetadataValue>,
) -> Result<(), i16> {
    let key = schema::try_encode_key(&OffsetsRecordKey::GroupMetadata {
        group: group_id.to_string(),
    })
    .map_err(|e| unencodable(group_id, "group metadata key", &e))?;
    let value = value
        .as_ref()
        .map(schema::try_encode_group_metadata_value)
        .transpose()
        .map_err(|e| unencodable(group_id, "group metadata value", &e))?;
    append(broker, group_id, vec![(key, value)])
}

#[derive(Debug, Default)]
pub struct ReplayStats {
    pub records: u64,
    pub offsets: usize,
    pub groups: usize,
}

pub use crate::internal_topic::ReplayError;

/// Records of a transactional batch wait here until their transaction's marker:
/// producer id → (key, value) in log order.
type PendingTxnRecords = std::collections::HashMap<i64, Vec<(Vec<u8>, Option<Vec<u8>>)>>;

/// Rebuilds offsets and groups from every partition of the offsets topic.
/// Later records win; tombstones delete. Transactional offset commits count only
/// once their COMMIT marker is read. Unreadable records are skipped with a warning
/// rather than failing the whole load.
pub fn replay(broker: &Broker) -> Result<ReplayStats, ReplayError> {
    let image = broker.metadata.image();
    let mut stats = ReplayStats::default();
    let mut groups: std::collections::HashMap<String, Option<GroupMetadataValue>> =
        Default::default();
    let mut consumer: std::collections::HashMap<String, Loaded> = Default::default();
    let mut pending: PendingTxnRecords = Default::default();
    internal_topic::for_each_batch(broker, OFFSETS_TOPIC, |_, header, batch| {
        if header.is_control() {
            let records = pending.remove(&header.producer_id).unwrap_or_default();
            if crate::log::marker_kind(batch) == Some(false) {
                for (k, v) in &records {
                    apply_record(broker, Some(k), v.as_deref(), &mut groups, &mut consumer);
                }
            }
            return;
        }
        let (h, body) = match record::batch_records(batch) {
            Ok(x) => x,
            Err(e) => {
                tracing::warn!(error = %e, "skipping unreadable {OFFSETS_TOPIC} batch");
                return;
            }
        };
        for rec in record::RecordIter::new(&h, &body).flatten() {
            stats.records += 1;
            if header.is_transactional() {
                if let Some(k) = rec.key {
                    pending
                        .entry(header.producer_id)
                        .or_default()
                        .push((k.to_vec(), rec.value.map(<[u8]>::to_vec)));
                }
                continue;
            }
            apply_record(broker, rec.key, rec.value, &mut groups, &mut consumer);
        }
    })?;
    // Transactions still open at the end of the log stay pending with the
    // transaction coordinator, which completes them.
    broker.groups.restore_pending_txn_offsets(pending);
    let now = Instant::now();
    for (group_id, value) in groups {
        if let Some(v) = value {
            stats.groups += 1;
            broker.groups.insert_group(restore_group(
                &group_id,
                v,
                broker.groups.initial_delay(),
                now,
            ));
        }
    }
    let view = TopicsView::from_image(&image);
    let config = &broker.groups.config;
    for (group_id, loaded) in consumer {
        if let Some(g) = consumer_records::restore(
            &group_id,
            loaded,
            std::time::Duration::from_millis(config.consumer_session_timeout_ms),
            config.consumer_heartbeat_interval_ms,
            &view,
            now,
        ) {
            stats.groups += 1;
            broker.groups.insert_consumer_group(g);
        }
    }
    stats.offsets = broker
        .groups
        .offsets
        .lock()
        .map(|o| o.values().map(|g| g.len()).sum())
        .unwrap_or(0);
    Ok(stats)
}

fn apply_record(
    broker: &Broker,
    key: Option<&[u8]>,
    value: Option<&[u8]>,
    groups: &mut std::collections::HashMap<String, Option<GroupMetadataValue>>,
    consumer: &mut std::collections::HashMap<String, Loaded>,
) {
    let Some(key) = key else { return };
    match schema_848::decode_consumer_key(key) {
        Ok(None) => {}
        Ok(Some(k)) => {
            let group = k.group().to_string();
            let decoded = match value {
                None => None,
                Some(raw) => match schema_848::decode_value(&k, raw) {
                    Ok(Some(v)) => Some((v, raw)),
                    // Type 4 (deprecated partition metadata): nothing to keep.
                    Ok(None) => return,
                    Err(e) => {
                        tracing::warn!(error = %e, %group, "skipping unreadable consumer group record");
                        return;
                    }
                },
            };
            consumer.entry(group).or_default().apply(k, key, decoded);
            return;
        }
        Err(e) => {
            tracing::warn!(error = %e, "skipping unreadable {OFFSETS_TOPIC} consumer group key");
            return;
        }
    }
    match schema::decode_key(key) {
        Ok(OffsetsRecordKey::OffsetCommit {
            group,
            topic,
            partition,
        }) => {
            let value = match value.map(schema::decode_offset_commit_value) {
                None => None,
                Some(Ok(v)) => Some(CommittedOffset {
                    offset: v.offset,
                    leader_epoch: v.leader_epoch,
                    metadata: v.metadata,
                    commit_timestamp_ms: v.commit_timestamp,
                    expire_timestamp_ms: v.expire_timestamp,
                }),
                Some(Err(e)) => {
                    tracing::warn!(error = %e, %group, "skipping unreadable offset commit value");
                    return;
                }
            };
            broker.groups.set_offset(&group, &topic, partition, value);
        }
        Ok(OffsetsRecordKey::GroupMetadata { group }) => {
            match value.map(schema::decode_group_metadata_value) {
                None => {
                    groups.insert(group, None);
                }
                Some(Ok(v)) => {
                    groups.insert(group, Some(v));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, %group, "skipping unreadable group metadata")
                }
            }
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "skipping unreadable {OFFSETS_TOPIC} key"),
    }
}

fn restore_group(
    group_id: &str,
    v: GroupMetadataValue,
    delay: std::time::Duration,
    now: Instant,
) -> ClassicGroup {
    let protocol = v.protocol.clone();
    let members = v
        .members
        .into_iter()
        .map(|m| {
            ClassicGroup::restored_member(
                m.member_id,
                m.group_instance_id,
                m.client_id,
                m.client_host,
                m.session_timeout,
                m.rebalance_timeout,
                v.protocol_type.clone(),
                protocol.clone().map(|p| (p, Bytes::from(m.subscription))),
                Bytes::from(m.assignment),
                now,
            )
        })
        .collect();
    ClassicGroup::restored(
        group_id,
        delay,
        v.generation,
        Some(v.protocol_type.clone()).filter(|s| !s.is_empty()),
        v.protocol,
        v.leader,
        members,
        now,
    )
}
