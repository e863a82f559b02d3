//! SyncGroup (key 14), v0-v5: the leader's assignments reach every member.

use std::time::Instant;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, SyncGroupRequest, SyncGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::{preflight, settle};
use crate::group::classic::SyncResult;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::SyncGroup, 0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: SyncGroupRequest) -> Outcome {
    let result = sync(ctx, request).await.unwrap_or_else(|code| SyncResult {
        error_code: code,
        ..Default::default()
    });
    let response = SyncGroupResponse::default()
        .with_error_code(result.error_code)
        .with_protocol_type(result.protocol_type.map(StrBytes::from_string))
        .with_protocol_name(result.protocol_name.map(StrBytes::from_string))
        .with_assignment(result.assignment);
    ctx.respond(&response)
}

async fn sync(ctx: &RequestContext<'_>, request: SyncGroupRequest) -> Result<SyncResult, i16> {
    let group_id = request.group_id.0.as_str();
    preflight(ctx, group_id).await?;
    let group = ctx
        .broker
        .groups
        .group(group_id, false)
        .ok_or(ResponseError::UnknownMemberId.code())?;
    let assignments = request
        .assignments
        .into_iter()
        .map(|a| (a.member_id.as_str().to_string(), a.assignment))
        .collect();
    let (reply, persist) = {
        let mut g = group.lock().unwrap_or_else(|p| p.into_inner());
        let reply = g.sync(
            request.member_id.as_str(),
            request.group_instance_id.as_ref().map(|s| s.as_str()),
            request.generation_id,
            request.protocol_type.as_ref().map(|s| s.as_str()),
            request.protocol_name.as_ref().map(|s| s.as_str()),
            assignments,
            Instant::now(),
        );
        let persist = g
            .take_dirty()
            .then(|| crate::group::store::group_record(&g));
        (reply, persist)
    };
    if let Some((id, value)) = persist {
        // Kafka answers the leader only once the assignment is written.
        crate::group::store::write_group(ctx.broker, &id, value)?;
    }
    Ok(settle(reply, || SyncResult {
        error_code: ResponseError::RebalanceInProgress.code(),
        ..Default::default()
    })
    .await)
}
