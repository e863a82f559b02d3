//! InitProducerId (key 22), v0-v5: a producer id and epoch for an idempotent
//! or transactional producer.
//!
//! Without a transactional id Kafka always hands out a fresh producer id at
//! epoch 0, also when the request (v3+, KIP-360) names the producer's current
//! id and epoch: a new id resets every partition's sequence state, which is
//! what the client wants after an unrecoverable sequence error. With one, the
//! transaction coordinator bumps the id's epoch, fencing the previous
//! incarnation and aborting its open transaction.

use kafka_protocol::messages::{ApiKey, InitProducerIdRequest, InitProducerIdResponse, ProducerId};

use super::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::InitProducerId, 0, 5);

pub async fn handle(ctx: &RequestContext<'_>, request: InitProducerIdRequest) -> Outcome {
    let mut response = InitProducerIdResponse::default()
        .with_producer_id(ProducerId(-1))
        .with_producer_epoch(-1);
    match request.transactional_id {
        None => match ctx.broker.producer_ids.next_id(ctx.broker).await {
            Ok(id) => {
                response.producer_id = ProducerId(id);
                response.producer_epoch = 0;
            }
            Err(code) => response.error_code = code,
        },
        Some(tid) => {
            let expected = (request.producer_id.0 >= 0)
                .then_some((request.producer_id.0, request.producer_epoch));
            match ctx
                .broker
                .txns
                .init_producer_id(
                    ctx.broker,
                    tid.as_str(),
                    request.transaction_timeout_ms,
                    expected,
                )
                .await
            {
                Ok((id, epoch)) => {
                    response.producer_id = ProducerId(id);
                    response.producer_epoch = epoch;
                }
                Err(code) => response.error_code = code,
            }
        }
    }
    ctx.respond(&response)
}
