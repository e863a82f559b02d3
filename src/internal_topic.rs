//! Internal compacted topics (`__consumer_offsets`, `__transaction_state`): created on
//! first use, appended to as uncompressed batches under the partition's flush policy,
//! and replayed batch by batch on start. Shared by the group and transaction
//! coordinators so both treat their topic the same way.

use std::collections::BTreeMap;
use std::os::unix::fs::FileExt;

use kafka_protocol::error::ResponseError;

use crate::broker::Broker;
use crate::record::{self, BatchHeader};

/// Bytes read from the log per step while replaying.
const REPLAY_READ_BYTES: u64 = 1 << 20;

/// Creates the topic (compacted, producer's compression, `segment_bytes` segments)
/// unless it exists. Errors are codes clients retry on.
pub async fn ensure(
    broker: &Broker,
    name: &str,
    partitions: i32,
    segment_bytes: u64,
    serial: &tokio::sync::Mutex<()>,
) -> Result<(), i16> {
    if broker.metadata.image().topics.contains_key(name) {
        return Ok(());
    }
    let _serial = serial.lock().await;
    if broker.metadata.image().topics.contains_key(name) {
        return Ok(());
    }
    let mut configs = BTreeMap::new();
    configs.insert("cleanup.policy".to_string(), "compact".to_string());
    configs.insert("compression.type".to_string(), "producer".to_string());
    configs.insert("segment.bytes".to_string(), segment_bytes.to_string());
    let result = broker
        .propose(crate::cluster::MetadataCommand::CreateTopic {
            name: name.to_string(),
            topic_id: uuid::Uuid::new_v4(),
            partitions,
            replication_factor: 1,
            configs,
        })
        .await;
    match result {
        Ok(crate::cluster::CommandResult::Rejected(r)) => {
            tracing::warn!(rejection = %r, "cannot create {name}");
            Err(ResponseError::CoordinatorNotAvailable.code())
        }
        Ok(_) => {
            tracing::info!(partitions, "created {name}");
            Ok(())
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot create {name}");
            Err(ResponseError::CoordinatorNotAvailable.code())
        }
    }
}

/// One record to append: key and value (`None`: tombstone).
pub type KeyValue = (Vec<u8>, Option<Vec<u8>>);

/// Appends records to one partition as one uncompressed batch; `producer` makes it a
/// transactional batch of that (id, epoch) (transactional offset commits).
pub fn append(
    broker: &Broker,
    topic: &str,
    partition_index: i32,
    records: Vec<KeyValue>,
    producer: Option<(i64, i16)>,
) -> Result<(), i16> {
    let Some(partition) = broker.replicas.partition(topic, partition_index) else {
        return Err(ResponseError::CoordinatorNotAvailable.code());
    };
    let now = crate::replica::now_ms();
    let builder_records: Vec<record::BuilderRecord<'_>> = records
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
    let mut params = record::BatchParams::default();
    if let Some((id, epoch)) = producer {
        params.producer_id = id;
        params.producer_epoch = epoch;
        params.is_transactional = true;
    }
    let batch = record::build_batch(&builder_records, params).map_err(|e| {
        tracing::error!(error = %e, "cannot build a {topic} batch");
        ResponseError::UnknownServerError.code()
    })?;
    partition
        .with_log(|log| log.append(&batch, partition.leader_epoch, now))
        .map_err(|e| {
            tracing::warn!(error = %e, "cannot append to {topic}");
            crate::error::log_error_code(&e)
        })?;
    broker.replicas.notify_append();
    Ok(())
}

#[derive(Debug, thiserror::Error)]
pub enum ReplayError {
    #[error("log: {0}")]
    Log(#[from] crate::log::LogError),
    #[error("read: {0}")]
    Io(#[from] std::io::Error),
}

/// Calls `f` with every batch (header and bytes) of every partition of `topic`, in
/// offset order per partition. Torn or unreadable tails end a partition's replay.
pub fn for_each_batch(
    broker: &Broker,
    topic: &str,
    mut f: impl FnMut(i32, &BatchHeader, &[u8]),
) -> Result<(), ReplayError> {
    let image = broker.metadata.image();
    let Some(t) = image.topics.get(topic) else {
        return Ok(());
    };
    for p in &t.partitions {
        let Some(partition) = broker.replicas.partition(topic, p.partition_index) else {
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
                    let Ok(header) = record::parse_header(rest) else {
                        break;
                    };
                    let total = header.total_bytes() as usize;
                    if total > rest.len() {
                        break;
                    }
                    let batch = &rest[..total];
                    rest = &rest[total..];
                    next = next.max(header.last_offset() + 1);
                    if header.last_offset() >= offset {
                        f(p.partition_index, &header, batch);
                    }
                }
            }
            if next <= offset {
                break;
            }
            offset = next;
        }
    }
    Ok(())
}
