//! DescribeGroups (key 15), v0-v6.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_groups_response::{DescribedGroup, DescribedGroupMember};
use kafka_protocol::messages::{ApiKey, DescribeGroupsRequest, DescribeGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DescribeGroups, 0, 6);

/// From v6 an unknown group is GROUP_ID_NOT_FOUND instead of a "Dead" group.
const FIRST_VERSION_WITH_NOT_FOUND: i16 = 6;

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeGroupsRequest) -> Outcome {
    let ready = ctx.broker.groups.ensure_ready(ctx.broker).await;
    let mut response = DescribeGroupsResponse::default();
    for group_id in request.groups {
        let mut out = DescribedGroup::default()
            .with_group_id(group_id.clone())
            .with_protocol_type(StrBytes::from_static_str(""))
            .with_protocol_data(StrBytes::from_static_str(""));
        if let Err(code) = ready.and_then(|()| crate::group::validate_group_id(group_id.0.as_str()))
        {
            out.error_code = code;
            response.groups.push(out);
            continue;
        }
        match ctx.broker.groups.group(group_id.0.as_str(), false) {
            None => {
                let has_offsets = !ctx.broker.groups.committed(group_id.0.as_str()).is_empty();
                if has_offsets {
                    out.group_state = StrBytes::from_static_str("Empty");
                } else {
                    out.group_state = StrBytes::from_static_str("Dead");
                    if ctx.api_version >= FIRST_VERSION_WITH_NOT_FOUND {
                        out.error_code = ResponseError::GroupIdNotFound.code();
                    }
                }
            }
            Some(group) => {
                let g = group.lock().unwrap_or_else(|p| p.into_inner());
                let protocol = g.protocol_name.clone().unwrap_or_default();
                out.group_state = StrBytes::from_static_str(g.state.name());
                out.protocol_type =
                    StrBytes::from_string(g.protocol_type.clone().unwrap_or_default());
                out.protocol_data = StrBytes::from_string(protocol.clone());
                out.members = g
                    .member_list()
                    .map(|m| {
                        DescribedGroupMember::default()
                            .with_member_id(StrBytes::from_string(m.member_id.clone()))
                            .with_group_instance_id(
                                m.group_instance_id.clone().map(StrBytes::from_string),
                            )
                            .with_client_id(StrBytes::from_string(m.client_id.clone()))
                            .with_client_host(StrBytes::from_string(m.client_host.clone()))
                            .with_member_metadata(
                                m.protocols
                                    .iter()
                                    .find(|(n, _)| *n == protocol)
                                    .map(|(_, b)| b.clone())
                                    .unwrap_or_default(),
                            )
                            .with_member_assignment(m.assignment.clone())
                    })
                    .collect();
            }
        }
        response.groups.push(out);
    }
    ctx.respond(&response)
}
