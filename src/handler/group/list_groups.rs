//! ListGroups (key 16), v0-v5: with state (v4+) and type (v5+) filters.

use kafka_protocol::messages::list_groups_response::ListedGroup;
use kafka_protocol::messages::{ApiKey, GroupId, ListGroupsRequest, ListGroupsResponse};
use kafka_protocol::protocol::StrBytes;

use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::ListGroups, 0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: ListGroupsRequest) -> Outcome {
    let mut response = ListGroupsResponse::default();
    if let Err(code) = ctx.broker.groups.ensure_ready(ctx.broker).await {
        response.error_code = code;
        return ctx.respond(&response);
    }
    let states: Vec<String> = request
        .states_filter
        .iter()
        .map(|s| s.as_str().to_ascii_lowercase())
        .collect();
    let types: Vec<String> = request
        .types_filter
        .iter()
        .map(|s| s.as_str().to_ascii_lowercase())
        .collect();
    let mut listed: Vec<(String, String, String, &'static str)> = ctx
        .broker
        .groups
        .all_groups()
        .iter()
        .map(|g| {
            let g = g.lock().unwrap_or_else(|p| p.into_inner());
            (
                g.group_id.clone(),
                g.protocol_type.clone().unwrap_or_default(),
                g.state.name().to_string(),
                "classic",
            )
        })
        .collect();
    for g in ctx.broker.groups.all_consumer_groups() {
        let g = g.lock().unwrap_or_else(|p| p.into_inner());
        listed.push((
            g.group_id.clone(),
            "consumer".to_string(),
            g.state_name().to_string(),
            "consumer",
        ));
    }
    // Groups known only by their committed offsets are Empty classic groups.
    for id in ctx.broker.groups.offset_only_groups() {
        listed.push((id, String::new(), "Empty".to_string(), "classic"));
    }
    listed.sort();
    response.groups = listed
        .into_iter()
        .filter(|(_, _, state, _)| {
            states.is_empty() || states.contains(&state.to_ascii_lowercase())
        })
        .filter(|(_, _, _, kind)| types.is_empty() || types.iter().any(|t| t == kind))
        .map(|(id, protocol_type, state, kind)| {
            ListedGroup::default()
                .with_group_id(GroupId(StrBytes::from_string(id)))
                .with_protocol_type(StrBytes::from_string(protocol_type))
                .with_group_state(StrBytes::from_string(state))
                .with_group_type(StrBytes::from_static_str(kind))
        })
        .collect();
    ctx.respond(&response)
}
