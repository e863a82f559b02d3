//! JoinGroup (key 11), v0-v9: KIP-394 member ids, KIP-345 static members,
//! KIP-814 skip_assignment.

use std::time::Instant;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::join_group_response::JoinGroupResponseMember;
use kafka_protocol::messages::{ApiKey, JoinGroupRequest, JoinGroupResponse};
use kafka_protocol::protocol::StrBytes;

use super::{client_host, preflight, settle};
use crate::group::classic::{JoinRequest, JoinResult};
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::JoinGroup, 0, 9);

/// KIP-394: from v4 a new member must come back with the id we give it.
const FIRST_VERSION_REQUIRING_MEMBER_ID: i16 = 4;
const FIRST_VERSION_WITH_SKIP_ASSIGNMENT: i16 = 9;

pub async fn handle(ctx: &RequestContext<'_>, request: JoinGroupRequest) -> Outcome {
    let group_id = request.group_id.0.as_str().to_string();
    let member_id = request.member_id.as_str().to_string();
    let result = join(ctx, &group_id, request).await;
    let result = result.unwrap_or_else(|code| JoinResult {
        error_code: code,
        generation_id: -1,
        member_id,
        ..Default::default()
    });
    let response = JoinGroupResponse::default()
        .with_error_code(result.error_code)
        .with_generation_id(result.generation_id)
        .with_protocol_type(result.protocol_type.map(StrBytes::from_string))
        .with_protocol_name(result.protocol_name.map(StrBytes::from_string))
        .with_leader(StrBytes::from_string(result.leader))
        .with_skip_assignment(
            result.skip_assignment && ctx.api_version >= FIRST_VERSION_WITH_SKIP_ASSIGNMENT,
        )
        .with_member_id(StrBytes::from_string(result.member_id))
        .with_members(
            result
                .members
                .into_iter()
                .map(|(id, instance, metadata)| {
                    JoinGroupResponseMember::default()
                        .with_member_id(StrBytes::from_string(id))
                        .with_group_instance_id(instance.map(StrBytes::from_string))
                        .with_metadata(metadata)
                })
                .collect(),
        );
    ctx.respond(&response)
}

async fn join(
    ctx: &RequestContext<'_>,
    group_id: &str,
    request: JoinGroupRequest,
) -> Result<JoinResult, i16> {
    preflight(ctx, group_id).await?;
    let config = &ctx.broker.groups.config;
    if request.session_timeout_ms < config.min_session_timeout_ms
        || request.session_timeout_ms > config.max_session_timeout_ms
    {
        return Err(crate::error::refuse(
            ResponseError::InvalidSessionTimeout,
            format_args!(
                "session_timeout_ms {} is outside group.min.session.timeout.ms..group.max.session.timeout.ms ({}..{} ms)",
                request.session_timeout_ms, config.min_session_timeout_ms, config.max_session_timeout_ms
            ),
        ));
    }
    let rebalance_timeout_ms = if ctx.api_version == 0 || request.rebalance_timeout_ms < 0 {
        request.session_timeout_ms
    } else {
        request.rebalance_timeout_ms
    };
    let join = JoinRequest {
        member_id: request.member_id.as_str().to_string(),
        group_instance_id: request.group_instance_id.map(|s| s.as_str().to_string()),
        client_id: ctx.client_id.unwrap_or_default().to_string(),
        client_host: client_host(ctx),
        session_timeout_ms: request.session_timeout_ms,
        rebalance_timeout_ms,
        protocol_type: request.protocol_type.as_str().to_string(),
        protocols: request
            .protocols
            .into_iter()
            .map(|p| (p.name.as_str().to_string(), p.metadata))
            .collect(),
        require_known_member_id: ctx.api_version >= FIRST_VERSION_REQUIRING_MEMBER_ID,
        supports_skip_assignment: ctx.api_version >= FIRST_VERSION_WITH_SKIP_ASSIGNMENT,
    };
    let member_id = join.member_id.clone();
    if let Some(consumer) = ctx.broker.groups.consumer_group(group_id, false) {
        let consumer = consumer.lock().unwrap_or_else(|p| p.into_inner());
        if !consumer.is_empty() {
            return Err(ResponseError::InconsistentGroupProtocol.code());
        }
        // The id becomes a classic group: the consumer group's records go.
        crate::group::store::delete_consumer_group(ctx.broker, &consumer)?;
        ctx.broker.groups.remove_consumer_group(group_id);
    }
    let group = ctx
        .broker
        .groups
        .group(group_id, true)
        .ok_or(ResponseError::CoordinatorNotAvailable.code())?;
    let reply = {
        let mut g = group.lock().unwrap_or_else(|p| p.into_inner());
        g.join(join, Instant::now())
    };
    Ok(settle(reply, || JoinResult {
        error_code: ResponseError::UnknownMemberId.code(),
        generation_id: -1,
        member_id,
        ..Default::default()
    })
    .await)
}
