//! ConsumerGroupDescribe (key 69), v0-v1.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::consumer_group_describe_response::{
    Assignment, DescribedGroup, Member, TopicPartitions,
};
use kafka_protocol::messages::{
    ApiKey, ConsumerGroupDescribeRequest, ConsumerGroupDescribeResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::cluster::MetadataImage;
use crate::group::consumer::Tp;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::ConsumerGroupDescribe, 0, 1);

/// `member_type` 1: a member that joined with the consumer protocol (v1).
const MEMBER_TYPE_CONSUMER: i8 = 1;

pub async fn handle(ctx: &RequestContext<'_>, request: ConsumerGroupDescribeRequest) -> Outcome {
    let ready = ctx.broker.groups.ensure_ready(ctx.broker).await;
    let image = ctx.broker.metadata.image();
    let mut response = ConsumerGroupDescribeResponse::default();
    for group_id in request.group_ids {
        let mut out = DescribedGroup::default().with_group_id(group_id.clone());
        if let Err(code) = ready {
            out.error_code = code;
            response.groups.push(out);
            continue;
        }
        match ctx.broker.groups.consumer_group(group_id.0.as_str(), false) {
            None => {
                out.error_code = ResponseError::GroupIdNotFound.code();
                out.error_message = Some(StrBytes::from_string(format!(
                    "Group {} not found or not a consumer group",
                    group_id.0.as_str()
                )));
            }
            Some(group) => {
                let g = group.lock().unwrap_or_else(|p| p.into_inner());
                out.group_state = StrBytes::from_static_str(g.state_name());
                out.group_epoch = g.group_epoch;
                out.assignment_epoch = g.assignment_epoch;
                out.assignor_name = StrBytes::from_string(g.assignor_name.clone());
                out.members = g
                    .members
                    .values()
                    .map(|m| {
                        let mut member = Member::default()
                            .with_member_id(StrBytes::from_string(m.member_id.clone()))
                            .with_instance_id(m.instance_id.clone().map(StrBytes::from_string))
                            .with_rack_id(m.rack_id.clone().map(StrBytes::from_string))
                            .with_member_epoch(m.member_epoch)
                            .with_client_id(StrBytes::from_string(m.client_id.clone()))
                            .with_client_host(StrBytes::from_string(m.client_host.clone()))
                            .with_subscribed_topic_names(
                                m.subscribed_topic_names
                                    .iter()
                                    .map(|n| TopicName(StrBytes::from_string(n.clone())))
                                    .collect(),
                            )
                            .with_subscribed_topic_regex(
                                m.subscribed_topic_regex
                                    .as_ref()
                                    .map(|r| StrBytes::from_string(r.as_str().to_string())),
                            )
                            .with_assignment(assignment(&image, m.assigned.iter()))
                            .with_target_assignment(assignment(
                                &image,
                                g.target.get(&m.member_id).into_iter().flatten(),
                            ));
                        if ctx.api_version >= 1 {
                            member.member_type = MEMBER_TYPE_CONSUMER;
                        }
                        member
                    })
                    .collect();
            }
        }
        response.groups.push(out);
    }
    ctx.respond(&response)
}

fn assignment<'a>(image: &MetadataImage, tps: impl Iterator<Item = &'a Tp>) -> Assignment {
    let mut topics: Vec<TopicPartitions> = Vec::new();
    for (id, p) in tps {
        match topics.last_mut() {
            Some(t) if t.topic_id == *id => t.partitions.push(*p),
            _ => {
                let name = image
                    .topic_by_id(id)
                    .map(|t| t.name.clone())
                    .unwrap_or_default();
                topics.push(
                    TopicPartitions::default()
                        .with_topic_id(*id)
                        .with_topic_name(TopicName(StrBytes::from_string(name)))
                        .with_partitions(vec![*p]),
                );
            }
        }
    }
    Assignment::default().with_topic_partitions(topics)
}
