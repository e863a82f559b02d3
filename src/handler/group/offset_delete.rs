//! OffsetDelete (key 47), v0: drop committed offsets of partitions the
//! group no longer consumes.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::offset_delete_response::{
    OffsetDeleteResponsePartition, OffsetDeleteResponseTopic,
};
use kafka_protocol::messages::{ApiKey, OffsetDeleteRequest, OffsetDeleteResponse};

use super::preflight;
use crate::group::classic::GroupState;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::OffsetDelete, 0, 0);

pub async fn handle(ctx: &RequestContext<'_>, request: OffsetDeleteRequest) -> Outcome {
    let group_id = request.group_id.0.as_str();
    let mut response = OffsetDeleteResponse::default();
    if let Err(code) = preflight(ctx, group_id).await {
        response.error_code = code;
        return ctx.respond(&response);
    }
    let group = ctx.broker.groups.group(group_id, false);
    let committed = ctx.broker.groups.committed(group_id);
    if group.is_none() && committed.is_empty() {
        response.error_code = ResponseError::GroupIdNotFound.code();
        return ctx.respond(&response);
    }
    for topic in request.topics {
        let name = topic.name.0.as_str();
        let subscribed = group.as_ref().is_some_and(|g| {
            let g = g.lock().unwrap_or_else(|p| p.into_inner());
            g.state != GroupState::Empty && g.subscribes_to(name)
        });
        let mut partitions = Vec::new();
        for p in topic.partitions {
            let code = if subscribed {
                ResponseError::GroupSubscribedToTopic.code()
            } else if committed.contains_key(&(name.to_string(), p.partition_index)) {
                match crate::group::store::write_offset(
                    ctx.broker,
                    group_id,
                    name,
                    p.partition_index,
                    None,
                ) {
                    Ok(()) => {
                        ctx.broker
                            .groups
                            .set_offset(group_id, name, p.partition_index, None);
                        0
                    }
                    Err(code) => code,
                }
            } else {
                0
            };
            partitions.push(
                OffsetDeleteResponsePartition::default()
                    .with_partition_index(p.partition_index)
                    .with_error_code(code),
            );
        }
        response.topics.push(
            OffsetDeleteResponseTopic::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ctx.respond(&response)
}
