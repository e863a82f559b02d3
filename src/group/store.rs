//! Reading and writing `__consumer_offsets`: offset commits and group
//! metadata as Kafka's records, appended to the group's partition and
//! replayed on start.

use std::os::unix::fs::FileExt;
use std::time::Instant;

use bytes::Bytes;
use kafka_protocol::error::ResponseError;

use super::classic::ClassicGroup;
use super::consumer::{ConsumerGroup, TopicsView};
use super::consumer_records::{self, Loaded};
use super::schema_848;
use super::schema::{
    self, GroupMetadataValue, MemberMetadata, OffsetCommitValue, OffsetsRecordKey,
};
use super::{CommittedOffset, OFFSETS_TOPIC};
use crate::broker::Broker;
use crate::record;

/// Bytes read from the log per step while replaying.
const REPLAY_READ_BYTES: u64 = 1 << 20;

/// Appends records (key, value; `None` is a tombstone) to the group's
/// partition as one uncompressed batch, under the partition's flush policy.
fn append(
    broker: &Broker,
    group_id: &str,
    records: Vec<(Vec<u8>, Option<Vec<u8>>)>,
) -> Result<(), i16> {
    let partition_index = broker.groups.partition_for(group_id);
    let Some(partition) = broker.replicas.partition(OFFSETS_TOPIC, partition_index) else {
        return Err(ResponseError::CoordinatorNotAvailable.code());
    };
    let now = crate::replica::now_ms();
    let records: Vec<record::BuilderRecord<'_>> = records
        .iter()
        .enumerate()
        .map(|(i, (key, value))| record::BuilderRecord {
            offset_delta: i as i32,
            timestamp: now,
            key: Some(key),
            value: value.as_deref(),
            headers: Default::default(),
        })
        .collect();
    let batch = record::build_batch(&records, record::BatchParams::default()).map_err(|e| {
        tracing::error!(error = %e, "cannot build an offsets batch");
        ResponseError::UnknownServerError.code()
    })?;
    partition
        .with_log(|log| log.append(&batch, partition.leader_epoch, now))
        .map_err(|e| {
            tracing::warn!(group = group_id, error = %e, "cannot append to {OFFSETS_TOPIC}");
            crate::error::log_error_code(&e)
        })?;
    Ok(())
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
    let records = offsets
        .iter()
        .map(|(topic, partition, value)| {
            let key = schema::encode_key(&OffsetsRecordKey::OffsetCommit {
                group: group_id.to_string(),
                topic: topic.clone(),
                partition: *partition,
            });
            let value = value.as_ref().map(|c| {
                schema::encode_offset_commit_value(&OffsetCommitValue {
                    offset: c.offset,
                    leader_epoch: c.leader_epoch,
                    metadata: c.metadata.clone(),
                    commit_timestamp: c.commit_timestamp_ms,
                    expire_timestamp: c.expire_timestamp_ms,
                })
            });
            (key, value)
        })
        .collect();
    append(broker, group_id, records)
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
    let key = schema::encode_key(&OffsetsRecordKey::GroupMetadata {
        group: group_id.to_string(),
    });
    let value = value.as_ref().map(schema::encode_group_metadata_value);
    append(broker, group_id, vec![(key, value)])
}

#[derive(Debug, Default)]
pub struct ReplayStats {
    pub records: u64,
    pub offsets: usize,
    pub groups: usize,
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("log: {0}")]
    Log(#[from] crate::log::LogError),
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
}

/// Rebuilds offsets and groups from every partition of the offsets topic.
/// Later records win; tombstones delete. Unreadable records are skipped with
/// a warning rather than failing the whole load.
pub fn replay(broker: &Broker) -> Result<ReplayStats, ReplayError> {
    let image = broker.metadata.image();
    let Some(topic) = image.topics.get(OFFSETS_TOPIC) else {
        return Ok(ReplayStats::default());
    };
    let mut stats = ReplayStats::default();
    let mut groups: std::collections::HashMap<String, Option<GroupMetadataValue>> =
        Default::default();
    let mut consumer: std::collections::HashMap<String, Loaded> = Default::default();
    for p in &topic.partitions {
        let Some(partition) = broker.replicas.partition(OFFSETS_TOPIC, p.partition_index) else {
            continue;
        };
        let (mut offset, end) = partition.with_log(|l| (l.log_start_offset(), l.log_end_offset()));
        while offset < end {
            let slice = partition.with_log(|l| l.read(offset, REPLAY_READ_BYTES, true))?;
            if slice.ranges.is_empty() {
                break;
            }
            let mut next = offset;
            for range in &slice.ranges {
                let mut buf = vec![0u8; range.len as usize];
                range.file.read_exact_at(&mut buf, range.position)?;
                let mut rest: &[u8] = &buf;
                while !rest.is_empty() {
                    let header = match record::parse_header(rest) {
                        Ok(h) => h,
                        Err(_) => break,
                    };
                    let total = header.total_bytes() as usize;
                    if total > rest.len() {
                        break;
                    }
                    let batch = &rest[..total];
                    rest = &rest[total..];
                    next = next.max(header.last_offset() + 1);
                    if header.is_control() {
                        continue;
                    }
                    let (header, body) = match record::batch_records(batch) {
                        Ok(x) => x,
                        Err(e) => {
                            tracing::warn!(error = %e, "skipping unreadable {OFFSETS_TOPIC} batch");
                            continue;
                        }
                    };
                    for rec in record::RecordIter::new(&header, &body).flatten() {
                        if rec.offset < offset {
                            continue;
                        }
                        stats.records += 1;
                        apply_record(broker, rec.key, rec.value, &mut groups, &mut consumer);
                    }
                }
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
    }
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
    let view = TopicsView {
        topics: image
            .topics
            .values()
            .map(|t| (t.name.clone(), (t.topic_id, t.partitions.len() as i32)))
            .collect(),
    };
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
