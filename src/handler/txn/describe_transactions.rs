//! DescribeTransactions (key 65), v0: a transactional id's state, producer id
//! and epoch, timeout, start time and partitions
//! (`kafka-transactions.sh describe`).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_transactions_response::{TopicData, TransactionState};
use kafka_protocol::messages::{
    ApiKey, DescribeTransactionsRequest, DescribeTransactionsResponse, ProducerId, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DescribeTransactions, 0, 0);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeTransactionsRequest) -> Outcome {
    let ready = ctx.broker.txns.ensure_ready(ctx.broker).await;
    let mut response = DescribeTransactionsResponse::default();
    for tid in request.transactional_ids {
        let mut out = TransactionState::default()
            .with_transactional_id(tid.clone())
            .with_transaction_state(StrBytes::from_static_str(""))
            .with_producer_id(ProducerId(-1))
            .with_producer_epoch(-1)
            .with_transaction_start_time_ms(-1);
        match (&ready, ctx.broker.txns.describe(tid.as_str())) {
            (Err(code), _) => out.error_code = *code,
            (Ok(()), None) => out.error_code = ResponseError::TransactionalIdNotFound.code(),
            (Ok(()), Some(meta)) => {
                out.transaction_state = StrBytes::from_static_str(meta.status.name());
                out.transaction_timeout_ms = meta.timeout_ms;
                out.transaction_start_time_ms = meta.start_ms;
                out.producer_id = ProducerId(meta.producer_id);
                out.producer_epoch = meta.producer_epoch;
                let mut topics: Vec<TopicData> = Vec::new();
                for (topic, partition) in &meta.partitions {
                    match topics.last_mut() {
                        Some(t) if t.topic.0.as_str() == topic => t.partitions.push(*partition),
                        _ => topics.push(
                            TopicData::default()
                                .with_topic(TopicName(StrBytes::from_string(topic.clone())))
                                .with_partitions(vec![*partition]),
                        ),
                    }
                }
                out.topics = topics;
            }
        }
        response.transaction_states.push(out);
    }
    ctx.respond(&response)
}
