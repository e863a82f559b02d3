//! ElectLeaders (key 43), v0-v2 (flexible from v2; election type from v1).
//!
//! Every partition here has one replica, which is its preferred replica and its
//! leader, so no election ever changes anything: each partition answers
//! ELECTION_NOT_NEEDED, for preferred and unclean elections alike (Kafka answers
//! the same when the leader is already preferred, or alive for unclean ones).
//! A null partition list means every partition; Kafka then leaves out the
//! partitions whose answer is ELECTION_NOT_NEEDED, so each topic appears with an
//! empty result list, and so it does here.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::elect_leaders_response::{PartitionResult, ReplicaElectionResult};
use kafka_protocol::messages::{ApiKey, ElectLeadersRequest, ElectLeadersResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::ElectLeaders, 0, 2);

/// ElectionType values: PREFERRED and UNCLEAN.
const PREFERRED: i8 = 0;
const UNCLEAN: i8 = 1;

pub async fn handle(ctx: &RequestContext<'_>, request: ElectLeadersRequest) -> Outcome {
    let image = ctx.broker.metadata.image();
    let results = match request.topic_partitions {
        None => image
            .topics
            .values()
            .map(|t| {
                ReplicaElectionResult::default()
                    .with_topic(TopicName(StrBytes::from_string(t.name.clone())))
            })
            .collect(),
        Some(list) => list
            .into_iter()
            .map(|t| {
                let topic = image.topics.get(t.topic.0.as_str());
                let partitions = t
                    .partitions
                    .iter()
                    .map(|&index| {
                        let exists = topic.is_some_and(|t| {
                            usize::try_from(index).is_ok_and(|i| i < t.partitions.len())
                        });
                        let (error, message) = if !exists {
                            (
                                ResponseError::UnknownTopicOrPartition,
                                "The partition does not exist.",
                            )
                        } else if !matches!(request.election_type, PREFERRED | UNCLEAN) {
                            (ResponseError::InvalidRequest, "Unknown election type.")
                        } else {
                            (
                                ResponseError::ElectionNotNeeded,
                                "Leader election not needed for topic partition.",
                            )
                        };
                        PartitionResult::default()
                            .with_partition_id(index)
                            .with_error_code(error.code())
                            .with_error_message(Some(StrBytes::from_static_str(message)))
                    })
                    .collect();
                ReplicaElectionResult::default()
                    .with_topic(t.topic)
                    .with_partition_result(partitions)
            })
            .collect(),
    };
    ctx.respond(&ElectLeadersResponse::default().with_replica_election_results(results))
}
