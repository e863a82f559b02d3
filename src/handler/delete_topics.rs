//! DeleteTopics (key 20), v1-v6: by name, and by topic ID from v6.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::delete_topics_response::DeletableTopicResult;
use kafka_protocol::messages::{ApiKey, DeleteTopicsRequest, DeleteTopicsResponse, TopicName};
use kafka_protocol::protocol::StrBytes;
use uuid::Uuid;

use super::{ApiSpec, Outcome, RequestContext};
use crate::cluster::{CommandResult, MetadataCommand};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DeleteTopics, 1, 6);

/// v6 replaced the list of names with (name or ID) entries.
const FIRST_VERSION_WITH_TOPIC_IDS: i16 = 6;

pub async fn handle(ctx: &RequestContext<'_>, request: DeleteTopicsRequest) -> Outcome {
    let targets: Vec<(Option<String>, Uuid)> = if ctx.api_version >= FIRST_VERSION_WITH_TOPIC_IDS {
        request
            .topics
            .into_iter()
            .map(|t| (t.name.map(|n| n.0.as_str().to_string()), t.topic_id))
            .collect()
    } else {
        request
            .topic_names
            .into_iter()
            .map(|n| (Some(n.0.as_str().to_string()), Uuid::nil()))
            .collect()
    };
    let mut responses = Vec::with_capacity(targets.len());
    for (name, id) in targets {
        let image = ctx.broker.metadata.image();
        let topic = match &name {
            Some(n) => image.topics.get(n),
            None => image.topic_by_id(&id),
        };
        let mut result = DeletableTopicResult::default()
            .with_name(name.clone().map(|n| TopicName(StrBytes::from_string(n))))
            .with_topic_id(id);
        match topic {
            _ if !ctx.broker.config.delete_topic_enable => {
                result.error_code = ResponseError::TopicDeletionDisabled.code();
                result.error_message = Some(StrBytes::from_static_str(
                    "topic deletion is disabled (delete.topic.enable=false)",
                ));
            }
            None => {
                let code = if name.is_some() {
                    ResponseError::UnknownTopicOrPartition
                } else {
                    ResponseError::UnknownTopicId
                };
                result.error_code = code.code();
            }
            Some(topic) if topic.internal => {
                result.error_code = ResponseError::InvalidTopicException.code();
                result.error_message = Some(StrBytes::from_static_str(
                    "internal topics cannot be deleted",
                ));
            }
            Some(topic) => {
                result.name = Some(TopicName(StrBytes::from_string(topic.name.clone())));
                result.topic_id = topic.topic_id;
                let outcome = ctx
                    .broker
                    .propose(MetadataCommand::DeleteTopic {
                        topic_id: topic.topic_id,
                    })
                    .await;
                match outcome {
                    Ok(CommandResult::Rejected(_)) => {
                        result.error_code = ResponseError::UnknownTopicOrPartition.code();
                    }
                    Ok(_) => {}
                    Err(e) => {
                        result.error_code = ResponseError::UnknownServerError.code();
                        result.error_message = Some(StrBytes::from_string(e.to_string()));
                    }
                }
            }
        }
        responses.push(result);
    }
    ctx.respond(&DeleteTopicsResponse::default().with_responses(responses))
}
