//! TxnOffsetCommit (key 28), v0-v5: offsets committed inside a transaction.
//! They are written to `__consumer_offsets` as a transactional batch of the
//! producer (so a stale epoch is refused by the partition's producer state) and
//! held back until the transaction's COMMIT marker; an ABORT drops them. From v3
//! (KIP-447) a member id and generation fence zombie consumers of a classic group.
//!
//! v5 (KIP-890 part 2, transaction version 2) also does AddOffsetsToTxn's
//! work: the group's offsets partition joins the transaction (starting one if
//! none is open), as Kafka does for v5 whatever its finalized
//! `transaction.version`; v0-v4 still need AddOffsetsToTxn first.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::txn_offset_commit_response::{
    TxnOffsetCommitResponsePartition, TxnOffsetCommitResponseTopic,
};
use kafka_protocol::messages::{ApiKey, TxnOffsetCommitRequest, TxnOffsetCommitResponse};

use crate::group::{store, CommittedOffset, OFFSETS_TOPIC};
use crate::handler::group::{metadata_too_large, partition_known, unknown_partition};
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::TxnOffsetCommit, 0, 5);

/// The first version that adds the offsets partition to the transaction itself.
const FIRST_IMPLICIT_ADD_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext<'_>, request: TxnOffsetCommitRequest) -> Outcome {
    let code = check(ctx, &request).await.err();
    let group_id = request.group_id.0.as_str().to_string();
    let mut offsets = Vec::new();
    let now = crate::replica::now_ms();
    let image = ctx.broker.metadata.image();
    for t in &request.topics {
        for p in &t.partitions {
            let metadata = p
                .committed_metadata
                .as_ref()
                .map(|m| m.as_str().to_string())
                .unwrap_or_default();
            let max_metadata = ctx.broker.groups.config.offset_metadata_max_bytes;
            let code = if !partition_known(&image, t.name.0.as_str(), p.partition_index) {
                Some(unknown_partition(t.name.0.as_str(), p.partition_index))
            } else if metadata.len() > max_metadata {
                Some(metadata_too_large(metadata.len(), max_metadata))
            } else {
                None
            };
            offsets.push((
                t.name.0.as_str().to_string(),
                p.partition_index,
                CommittedOffset {
                    offset: p.committed_offset,
                    leader_epoch: p.committed_leader_epoch,
                    metadata,
                    commit_timestamp_ms: now,
                    expire_timestamp_ms: -1,
                },
                code,
            ));
        }
    }
    let write_code = match code {
        Some(c) => c,
        None => {
            let ok: Vec<(String, i32, Option<CommittedOffset>)> = offsets
                .iter()
                .filter(|o| o.3.is_none())
                .map(|(t, p, c, _)| (t.clone(), *p, Some(c.clone())))
                .collect();
            let producer = Some((request.producer_id.0, request.producer_epoch));
            // Nothing left to write (every partition refused on its own): no empty batch.
            let written = if ok.is_empty() {
                Ok(())
            } else {
                store::write_offsets_as(ctx.broker, &group_id, &ok, producer)
            };
            match written {
                Ok(()) => {
                    for (t, p, c) in ok {
                        if let Some(c) = c {
                            ctx.broker.groups.add_pending_txn_offset(
                                request.producer_id.0,
                                &group_id,
                                &t,
                                p,
                                c,
                            );
                        }
                    }
                    0
                }
                Err(code) => code,
            }
        }
    };
    tracing::debug!(outcome = ?write_code, "txn_offset_commit");
    let mut response = TxnOffsetCommitResponse::default();
    for t in request.topics {
        let partitions = t
            .partitions
            .iter()
            .map(|p| {
                let own = offsets
                    .iter()
                    .find(|o| o.0 == t.name.0.as_str() && o.1 == p.partition_index)
                    .and_then(|o| o.3);
                TxnOffsetCommitResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(own.unwrap_or(write_code))
            })
            .collect();
        response.topics.push(
            TxnOffsetCommitResponseTopic::default()
                .with_name(t.name)
                .with_partitions(partitions),
        );
    }
    ctx.respond(&response)
}

/// The group must be ready, the producer's transaction must include the group's
/// offsets partition (AddOffsetsToTxn before v5; v5 adds it here), and a named
/// member must be current.
async fn check(ctx: &RequestContext<'_>, request: &TxnOffsetCommitRequest) -> Result<(), i16> {
    let groups = &ctx.broker.groups;
    let group_id = request.group_id.0.as_str();
    crate::group::validate_group_id(group_id)?;
    groups.ensure_ready(ctx.broker).await?;
    let partition = groups.partition_for(group_id);
    if ctx.api_version < FIRST_IMPLICIT_ADD_VERSION {
        ctx.broker.txns.verify_produce(
            request.producer_id.0,
            request.producer_epoch,
            OFFSETS_TOPIC,
            partition,
        )?;
    }
    if !request.member_id.is_empty() && request.generation_id >= 0 {
        if let Some(g) = groups.group(group_id, false) {
            let g = g.lock().unwrap_or_else(|p| p.into_inner());
            g.heartbeat_check(
                request.member_id.as_str(),
                request.group_instance_id.as_ref().map(|s| s.as_str()),
                request.generation_id,
            )?;
        }
    }
    if ctx.api_version >= FIRST_IMPLICIT_ADD_VERSION {
        ctx.broker
            .txns
            .add_partitions(
                ctx.broker,
                request.transactional_id.0.as_str(),
                request.producer_id.0,
                request.producer_epoch,
                &[(OFFSETS_TOPIC.to_string(), partition)],
            )
            .await
            // As Kafka's AddPartitionsToTxnManager answers a fenced producer.
            .map_err(|code| {
                if code == ResponseError::ProducerFenced.code() {
                    ResponseError::InvalidProducerEpoch.code()
                } else {
                    code
                }
            })?;
    }
    Ok(())
}
