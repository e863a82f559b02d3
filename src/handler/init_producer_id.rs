//! InitProducerId (key 22), v0-v5: a producer id and epoch for an idempotent
//! producer.
//!
//! Without a transactional id Kafka always hands out a fresh producer id at
//! epoch 0, also when the request (v3+, KIP-360) names the producer's current
//! id and epoch: a new id resets every partition's sequence state, which is
//! what the client wants after an unrecoverable sequence error. Transactional
//! ids are refused until the transaction coordinator exists.

use kafka_protocol::error::ResponseError;
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
            tracing::warn!(
                transactional_id = %tid.as_str(),
                client = ctx.client_id.unwrap_or_default(),
                "transactional producers are not supported yet"
            );
            response.error_code = ResponseError::InvalidRequest.code();
        }
    }
    ctx.respond(&response)
}
