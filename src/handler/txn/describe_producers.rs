//! DescribeProducers (key 61), v0: the idempotent and transactional producers
//! a partition knows, with their epoch, last sequence and open transaction
//! (`kafka-transactions.sh describe-producers`, hanging-transaction hunting).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_producers_response::{
    PartitionResponse, ProducerState, TopicResponse,
};
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, ProducerId,
};

use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DescribeProducers, 0, 0);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeProducersRequest) -> Outcome {
    let mut response = DescribeProducersResponse::default();
    for topic in request.topics {
        let mut partitions = Vec::with_capacity(topic.partition_indexes.len());
        for index in &topic.partition_indexes {
            let mut out = PartitionResponse::default().with_partition_index(*index);
            match ctx.broker.replicas.partition(topic.name.0.as_str(), *index) {
                None => out.error_code = ResponseError::UnknownTopicOrPartition.code(),
                Some(p) => {
                    out.active_producers = p.with_log(|log| {
                        let mut states: Vec<ProducerState> = log
                            .producer_states()
                            .iter()
                            .map(|(id, e)| {
                                let last = e.batches.back();
                                ProducerState::default()
                                    .with_producer_id(ProducerId(*id))
                                    .with_producer_epoch(i32::from(e.epoch))
                                    .with_last_sequence(last.map_or(-1, |b| b.last_seq))
                                    .with_last_timestamp(last.map_or(-1, |b| b.timestamp))
                                    .with_coordinator_epoch(-1)
                                    .with_current_txn_start_offset(e.txn_first_offset.unwrap_or(-1))
                            })
                            .collect();
                        states.sort_by_key(|s| s.producer_id.0);
                        states
                    });
                }
            }
            partitions.push(out);
        }
        response.topics.push(
            TopicResponse::default()
                .with_name(topic.name)
                .with_partitions(partitions),
        );
    }
    ctx.respond(&response)
}
