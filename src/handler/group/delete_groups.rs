//! DeleteGroups (key 42), v0-v2: only groups without members; their offsets
//! and metadata are tombstoned in `__consumer_offsets`.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_groups_response::DeletableGroupResult;
use kafka_protocol::messages::{ApiKey, DeleteGroupsRequest, DeleteGroupsResponse};

use crate::group::store;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DeleteGroups, 0, 2);

pub async fn handle(ctx: &RequestContext<'_>, request: DeleteGroupsRequest) -> Outcome {
    let ready = ctx.broker.groups.ensure_ready(ctx.broker).await;
    let mut response = DeleteGroupsResponse::default();
    for group_id in request.groups_names {
        let id = group_id.0.as_str();
        let code = match ready.and_then(|()| crate::group::validate_group_id(id)) {
            Err(code) => code,
            Ok(()) => delete(ctx, id),
        };
        response.results.push(
            DeletableGroupResult::default()
                .with_group_id(group_id)
                .with_error_code(code),
        );
    }
    ctx.respond(&response)
}

fn delete(ctx: &RequestContext<'_>, id: &str) -> i16 {
    let groups = &ctx.broker.groups;
    let group = groups.group(id, false);
    let consumer = groups.consumer_group(id, false);
    let offsets = groups.committed(id);
    if group.is_none() && consumer.is_none() && offsets.is_empty() {
        return ResponseError::GroupIdNotFound.code();
    }
    if let Some(c) = &consumer {
        let c = c.lock().unwrap_or_else(|p| p.into_inner());
        if !c.is_empty() {
            return ResponseError::NonEmptyGroup.code();
        }
        if let Err(code) = store::delete_consumer_group(ctx.broker, &c) {
            return code;
        }
        drop(c);
        groups.remove_consumer_group(id);
    }
    if let Some(g) = &group {
        let mut g = g.lock().unwrap_or_else(|p| p.into_inner());
        if !g.is_deletable() {
            return ResponseError::NonEmptyGroup.code();
        }
        g.mark_dead();
    }
    let tombstones: Vec<(String, i32, Option<crate::group::CommittedOffset>)> =
        offsets.keys().map(|(t, p)| (t.clone(), *p, None)).collect();
    if !tombstones.is_empty() {
        if let Err(code) = store::write_offsets(ctx.broker, id, &tombstones) {
            return code;
        }
    }
    if group.is_some() || consumer.is_none() {
        if let Err(code) = store::write_group(ctx.broker, id, None) {
            return code;
        }
    }
    for (t, p, _) in tombstones {
        groups.set_offset(id, &t, p, None);
    }
    groups.remove_group(id);
    0
}
