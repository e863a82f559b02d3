//! EndTxn (key 26), v0-v4: commit or abort the producer's transaction. The
//! markers are written before the response (see `txn::coordinator`). v5 (the
//! KIP-890 "transaction version 2" epoch bump per transaction) is not offered,
//! so clients stay on transaction version 1.

use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse};

use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::EndTxn, 0, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: EndTxnRequest) -> Outcome {
    let result = ctx
        .broker
        .txns
        .end_txn(
            ctx.broker,
            request.transactional_id.0.as_str(),
            request.producer_id.0,
            request.producer_epoch,
            request.committed,
        )
        .await;
    tracing::debug!(outcome = ?result, "end_txn");
    ctx.respond(&EndTxnResponse::default().with_error_code(result.err().unwrap_or(0)))
}
