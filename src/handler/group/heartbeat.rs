//! Heartbeat (key 12), v0-v4.

use std::time::Instant;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::{ApiKey, HeartbeatRequest, HeartbeatResponse};

use super::preflight;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::Heartbeat, 0, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: HeartbeatRequest) -> Outcome {
    let group_id = request.group_id.0.as_str();
    let code = match preflight(ctx, group_id).await {
        Err(code) => code,
        Ok(()) => match ctx.broker.groups.group(group_id, false) {
            None => ResponseError::UnknownMemberId.code(),
            Some(group) => group.lock().unwrap_or_else(|p| p.into_inner()).heartbeat(
                request.member_id.as_str(),
                request.group_instance_id.as_ref().map(|s| s.as_str()),
                request.generation_id,
                Instant::now(),
            ),
        },
    };
    ctx.respond(&HeartbeatResponse::default().with_error_code(code))
}
