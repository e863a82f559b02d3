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
    crate::group::validate_group_id(group_id)?;
    ctx.broker.groups.ensure_ready(ctx.broker).await
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
