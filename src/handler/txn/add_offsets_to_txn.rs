//! AddOffsetsToTxn (key 25), v0-v4: the group's `__consumer_offsets` partition
//! joins the transaction, so TxnOffsetCommit can write there and the
//! transaction's marker reaches it.

use kafka_protocol::messages::{AddOffsetsToTxnRequest, AddOffsetsToTxnResponse, ApiKey};

use crate::group::OFFSETS_TOPIC;
use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::AddOffsetsToTxn, 0, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: AddOffsetsToTxnRequest) -> Outcome {
    let groups = &ctx.broker.groups;
    let result = match groups.ensure_ready(ctx.broker).await {
        Err(code) => Err(code),
        Ok(()) => {
            let partition = groups.partition_for(request.group_id.0.as_str());
            ctx.broker
                .txns
                .add_partitions(
                    ctx.broker,
                    request.transactional_id.0.as_str(),
                    request.producer_id.0,
                    request.producer_epoch,
                    &[(OFFSETS_TOPIC.to_string(), partition)],
                )
                .await
        }
    };
    tracing::debug!(outcome = ?result, "add_offsets_to_txn");
    ctx.respond(&AddOffsetsToTxnResponse::default().with_error_code(result.err().unwrap_or(0)))
}
