//! ConsumerGroupHeartbeat (key 68), v0-v1: the KIP-848 consumer protocol.
//! v1 (KIP-1082) lets the client choose its member id; v0 gets one from us.

use std::collections::BTreeSet;
use std::time::Instant;

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_heartbeat_response::{Assignment, TopicPartitions};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupHeartbeatRequest, ConsumerGroupHeartbeatResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::{client_host, preflight};
use crate::group::consumer::{HeartbeatRequest, HeartbeatResult, TopicsView, JOIN_EPOCH};
use crate::group::dynamic_config::consumer_timeouts;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::ConsumerGroupHeartbeat, 0, 1);

/// From v1 the client generates its member id (KIP-1082).
const FIRST_VERSION_WITH_CLIENT_MEMBER_ID: i16 = 1;

pub async fn handle(ctx: &RequestContext<'_>, request: ConsumerGroupHeartbeatRequest) -> Outcome {
    let group_id = request.group_id.0.as_str().to_string();
    let result = heartbeat(ctx, &group_id, request).await;
    // The group's own consumer.heartbeat.interval.ms when it has one.
    let (_, interval) = consumer_timeouts(
        &ctx.broker.config,
        ctx.broker.metadata.image().group_configs.get(&group_id),
    );
    let response = ConsumerGroupHeartbeatResponse::default()
        .with_error_code(result.error_code)
        .with_error_message(result.error_message.map(StrBytes::from_string))
        .with_member_id(Some(StrBytes::from_string(result.member_id)).filter(|s| !s.is_empty()))
        .with_member_epoch(result.member_epoch)
        .with_heartbeat_interval_ms(interval)
        .with_assignment(result.assignment.map(|set| {
            let mut topics: Vec<TopicPartitions> = Vec::new();
            for (topic_id, partition) in set {
                match topics.last_mut() {
                    Some(t) if t.topic_id == topic_id => t.partitions.push(partition),
                    _ => topics.push(
                        TopicPartitions::default()
                            .with_topic_id(topic_id)
                            .with_partitions(vec![partition]),
                    ),
                }
            }
            Assignment::default().with_topic_partitions(topics)
        }));
    ctx.respond(&response)
}

async fn heartbeat(
    ctx: &RequestContext<'_>,
    group_id: &str,
    request: ConsumerGroupHeartbeatRequest,
) -> HeartbeatResult {
    let fail = |code: i16, message: &str| HeartbeatResult {
        error_code: code,
        error_message: Some(message.to_string()),
        member_id: request.member_id.as_str().to_string(),
        member_epoch: -1,
        assignment: None,
    };
    if let Err(code) = preflight(ctx, group_id).await {
        return fail(code, "coordinator not ready");
    }
    // Kafka's request validation.
    let mut member_id = request.member_id.as_str().to_string();
    if request.member_epoch == JOIN_EPOCH {
        if request.rebalance_timeout_ms < 0
            || request.subscribed_topic_names.is_none() && request.subscribed_topic_regex.is_none()
        {
            return fail(
                ResponseError::InvalidRequest.code(),
                "a joining member must give its rebalance timeout and subscription",
            );
        }
        if member_id.is_empty() {
            if ctx.api_version >= FIRST_VERSION_WITH_CLIENT_MEMBER_ID {
                return fail(
                    ResponseError::InvalidRequest.code(),
                    "member id must be set from v1",
                );
            }
            member_id = uuid::Uuid::new_v4().to_string();
        }
    } else if member_id.is_empty() {
        return fail(
            ResponseError::InvalidRequest.code(),
            "member id is required",
        );
    }
    if let Some(classic) = ctx.broker.groups.group(group_id, false) {
        if !classic.lock().unwrap_or_else(|p| p.into_inner()).is_empty() {
            return fail(
                ResponseError::GroupIdNotFound.code(),
                "the group is a classic group with members",
            );
        }
        ctx.broker.groups.remove_group(group_id);
    }
    let image = ctx.broker.metadata.image();
    let view = TopicsView::from_image(&image);
    let owned = request.topic_partitions.map(|tps| {
        tps.into_iter()
            .flat_map(|t| t.partitions.into_iter().map(move |p| (t.topic_id, p)))
            .collect::<BTreeSet<_>>()
    });
    let req = HeartbeatRequest {
        member_id,
        member_epoch: request.member_epoch,
        instance_id: request.instance_id.map(|s| s.as_str().to_string()),
        rack_id: request.rack_id.map(|s| s.as_str().to_string()),
        rebalance_timeout_ms: request.rebalance_timeout_ms,
        subscribed_topic_names: request.subscribed_topic_names.map(|names| {
            names
                .into_iter()
                .map(|n| n.0.as_str().to_string())
                .collect()
        }),
        subscribed_topic_regex: request
            .subscribed_topic_regex
            .map(|s| s.as_str().to_string()),
        server_assignor: request.server_assignor.map(|s| s.as_str().to_string()),
        owned,
        client_id: ctx.client_id.unwrap_or_default().to_string(),
        client_host: client_host(ctx),
    };
    let create = req.member_epoch == JOIN_EPOCH;
    let Some(group) = ctx.broker.groups.consumer_group(group_id, create) else {
        return fail(ResponseError::UnknownMemberId.code(), "unknown member");
    };
    let (session, interval) =
        consumer_timeouts(&ctx.broker.config, image.group_configs.get(group_id));
    let mut g = group.lock().unwrap_or_else(|p| p.into_inner());
    g.set_timeouts(session, interval);
    let result = g.heartbeat(req, &view, Instant::now());
    crate::group::store::persist_consumer_group(ctx.broker, &mut g);
    result
}
