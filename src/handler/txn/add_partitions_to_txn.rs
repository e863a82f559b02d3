//! AddPartitionsToTxn (key 24), v0-v3: a transactional producer announces the
//! partitions it is about to write. v4+ (batched, sent by brokers to verify
//! KIP-890 transactions) is not needed on one node: produce requests are
//! verified in-process.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_response::{
    AddPartitionsToTxnPartitionResult, AddPartitionsToTxnTopicResult,
};
use kafka_protocol::messages::{AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey};

use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::AddPartitionsToTxn, 0, 3);

pub async fn handle(ctx: &RequestContext<'_>, request: AddPartitionsToTxnRequest) -> Outcome {
    let image = ctx.broker.metadata.image();
    let mut wanted = Vec::new();
    let mut unknown = false;
    for t in &request.v3_and_below_topics {
        for p in &t.partitions {
            let exists = image
                .topics
                .get(t.name.0.as_str())
                .is_some_and(|topic| *p >= 0 && (*p as usize) < topic.partitions.len());
            unknown |= !exists;
            wanted.push((t.name.0.as_str().to_string(), *p, exists));
        }
    }
    // One bad partition fails the request; the others say they were not attempted.
    let code_for = |exists: bool, all: Result<(), i16>| -> i16 {
        match (unknown, exists, all) {
            (true, false, _) => ResponseError::UnknownTopicOrPartition.code(),
            (true, true, _) => ResponseError::OperationNotAttempted.code(),
            (false, _, Ok(())) => 0,
            (false, _, Err(code)) => code,
        }
    };
    let result = if unknown {
        Ok(())
    } else {
        let parts: Vec<(String, i32)> = wanted.iter().map(|(t, p, _)| (t.clone(), *p)).collect();
        ctx.broker
            .txns
            .add_partitions(
                ctx.broker,
                request.v3_and_below_transactional_id.0.as_str(),
                request.v3_and_below_producer_id.0,
                request.v3_and_below_producer_epoch,
                &parts,
            )
            .await
    };
    tracing::debug!(outcome = ?result, "add_partitions_to_txn");
    let mut response = AddPartitionsToTxnResponse::default();
    for t in request.v3_and_below_topics {
        let results = t
            .partitions
            .iter()
            .map(|p| {
                let exists = wanted
                    .iter()
                    .any(|(n, q, e)| n == t.name.0.as_str() && q == p && *e);
                AddPartitionsToTxnPartitionResult::default()
                    .with_partition_index(*p)
                    .with_partition_error_code(code_for(exists, result))
            })
            .collect();
        response.results_by_topic_v3_and_below.push(
            AddPartitionsToTxnTopicResult::default()
                .with_name(t.name)
                .with_results_by_partition(results),
        );
    }
    ctx.respond(&response)
}
