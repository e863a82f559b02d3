//! EndTxn (key 26), v0-v5: commit or abort the producer's transaction. The
//! markers are written before the response (see `txn::coordinator`).
//!
//! v5 (KIP-890 part 2) ends the transaction under transaction version 2: the
//! epoch is bumped at every end and the answer carries the producer id and
//! epoch to continue with. As in Kafka, the request version decides; v0-v4
//! keep the epoch. Kafka 4.1 advertises v5 whatever its finalized
//! `transaction.version`, and clients that follow the feature (the Java
//! client) send v5 only once `transaction.version` 2 is finalized, which
//! gregor does not advertise yet (see docs/compatibility.md).

use kafka_protocol::messages::{ApiKey, EndTxnRequest, EndTxnResponse, ProducerId};

use crate::handler::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::EndTxn, 0, 5);

/// The first EndTxn version with transaction version 2 semantics.
const FIRST_TV2_VERSION: i16 = 5;

pub async fn handle(ctx: &RequestContext<'_>, request: EndTxnRequest) -> Outcome {
    let transactional_id = request.transactional_id.0.as_str();
    let txns = &ctx.broker.txns;
    if ctx.api_version >= FIRST_TV2_VERSION {
        let result = txns
            .end_txn_v2(
                ctx.broker,
                transactional_id,
                request.producer_id.0,
                request.producer_epoch,
                request.committed,
            )
            .await;
        tracing::debug!(outcome = ?result, transactional_id, "end_txn v5");
        let (code, (producer_id, epoch)) = match result {
            Ok(ids) => (0, ids),
            Err(code) => (code, (-1, -1)),
        };
        return ctx.respond(
            &EndTxnResponse::default()
                .with_error_code(code)
                .with_producer_id(ProducerId(producer_id))
                .with_producer_epoch(epoch),
        );
    }
    let result = txns
        .end_txn(
            ctx.broker,
            transactional_id,
            request.producer_id.0,
            request.producer_epoch,
            request.committed,
        )
        .await;
    tracing::debug!(outcome = ?result, transactional_id, "end_txn");
    ctx.respond(&EndTxnResponse::default().with_error_code(result.err().unwrap_or(0)))
}
