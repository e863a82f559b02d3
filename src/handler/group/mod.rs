//! Classic consumer-group APIs. Each file handles one API; the state lives
//! in `crate::group`.

pub mod consumer_group_describe;
pub mod consumer_group_heartbeat;
pub mod delete_groups;
pub mod describe_groups;
pub mod heartbeat;
pub mod join_group;
pub mod leave_group;
pub mod list_groups;
pub mod offset_commit;
pub mod offset_delete;
pub mod offset_fetch;
pub mod sync_group;

use super::RequestContext;

/// Checks shared by every group request: a valid group id and a loaded
/// coordinator (creating `__consumer_offsets` on first use).
pub async fn preflight(ctx: &RequestContext<'_>, group_id: &str) -> Result<(), i16> {
    use kafka_protocol::error::ResponseError;
    crate::group::validate_group_id(group_id).map_err(|_| {
        crate::error::refuse(
            ResponseError::InvalidGroupId,
            format_args!("the group id is empty"),
        )
    })?;
    ctx.broker
        .groups
        .ensure_ready(ctx.broker)
        .await
        .map_err(|code| {
            tracing::debug!(
                code,
                "refused: the group coordinator is not ready (__consumer_offsets loading or not creatable yet)"
            );
            code
        })
}

/// Whether the metadata image has `topic` with partition `partition`. Kafka 4.1
/// checks every offset commit (OffsetCommit and TxnOffsetCommit) against its
/// metadata cache before the group coordinator sees it, and answers
/// UNKNOWN_TOPIC_OR_PARTITION for a partition it does not have, whatever the group's
/// state; committing for a partition no broker hosts would only leave an offset
/// no consumer can use.
pub fn partition_known(
    image: &crate::cluster::image::MetadataImage,
    topic: &str,
    partition: i32,
) -> bool {
    image
        .topic(topic)
        .is_some_and(|t| t.partitions.iter().any(|p| p.partition_index == partition))
}

/// The code for a committed partition the image does not have, with the reason
/// logged (see [`partition_known`]).
pub fn unknown_partition(topic: &str, partition: i32) -> i16 {
    crate::error::refuse(
        kafka_protocol::error::ResponseError::UnknownTopicOrPartition,
        format_args!(
            "offset commit for {:?} partition {partition}: no such partition in the metadata image",
            crate::error::prefix(topic)
        ),
    )
}

/// The code for a commit whose metadata string is over `offset.metadata.max.bytes`.
pub fn metadata_too_large(len: usize, max: usize) -> i16 {
    crate::error::refuse(
        kafka_protocol::error::ResponseError::OffsetMetadataTooLarge,
        format_args!(
            "offset metadata is {len} bytes, more than offset.metadata.max.bytes ({max} bytes)"
        ),
    )
}

/// Kafka reports a member's host as "/<ip>".
pub fn client_host(ctx: &RequestContext<'_>) -> String {
    format!("/{}", ctx.connection.peer.ip())
}

/// Awaits a parked answer; a dropped sender (group removed) maps to `gone`.
pub async fn settle<T>(reply: crate::group::classic::Reply<T>, gone: impl FnOnce() -> T) -> T {
    match reply {
        crate::group::classic::Reply::Now(t) => t,
        crate::group::classic::Reply::Later(rx) => rx.await.unwrap_or_else(|_| gone()),
    }
}
