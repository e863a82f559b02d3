//! LeaveGroup (key 13), v0-v5: one member (v0-v2) or a batch (v3+, KIP-345).

use std::time::Instant;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::leave_group_response::MemberResponse;
use kafka_protocol::messages::{ApiKey, LeaveGroupRequest, LeaveGroupResponse};

use super::preflight;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::LeaveGroup, 0, 5);

const FIRST_BATCHED_VERSION: i16 = 3;

pub async fn handle(ctx: &RequestContext<'_>, request: LeaveGroupRequest) -> Outcome {
    let group_id = request.group_id.0.as_str();
    let leaving: Vec<(String, Option<String>)> = if ctx.api_version >= FIRST_BATCHED_VERSION {
        request
            .members
            .iter()
            .map(|m| {
                (
                    m.member_id.as_str().to_string(),
                    m.group_instance_id.as_ref().map(|s| s.as_str().to_string()),
                )
            })
            .collect()
    } else {
        vec![(request.member_id.as_str().to_string(), None)]
    };
    let mut response = LeaveGroupResponse::default();
    match preflight(ctx, group_id).await {
        Err(code) => response.error_code = code,
        Ok(()) => {
            let group = ctx.broker.groups.group(group_id, false);
            let mut members = Vec::new();
            for (member_id, instance) in &leaving {
                let code = match &group {
                    None => ResponseError::UnknownMemberId.code(),
                    Some(g) => g.lock().unwrap_or_else(|p| p.into_inner()).leave(
                        member_id,
                        instance.as_deref(),
                        Instant::now(),
                    ),
                };
                members.push(
                    MemberResponse::default()
                        .with_member_id(kafka_protocol::protocol::StrBytes::from_string(
                            member_id.clone(),
                        ))
                        .with_group_instance_id(
                            instance
                                .clone()
                                .map(kafka_protocol::protocol::StrBytes::from_string),
                        )
                        .with_error_code(code),
                );
            }
            if ctx.api_version >= FIRST_BATCHED_VERSION {
                response.members = members;
            } else if let Some(m) = members.first() {
                response.error_code = m.error_code;
            }
        }
    }
    ctx.respond(&response)
}
