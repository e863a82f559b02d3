//! FindCoordinator (key 10), v0-v6, including batched keys (v4+).
//!
//! On one node this broker coordinates every group and transactional id.
//! librdkafka also treats FindCoordinator in ApiVersions as the sign of a
//! broker new enough for LZ4 (its feature map predates per-API codecs), so
//! without it librdkafka silently produces LZ4 batches uncompressed.

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::find_coordinator_response::Coordinator;
use kafka_protocol::messages::{ApiKey, BrokerId, FindCoordinatorRequest, FindCoordinatorResponse};
use kafka_protocol::protocol::StrBytes;

use super::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::FindCoordinator, 0, 6);

/// v4 moved from one `key` to a list of `coordinator_keys`.
const FIRST_BATCHED_VERSION: i16 = 4;
/// Key types: consumer groups and transactional ids (share groups, 2, are not served).
const KEY_TYPE_GROUP: i8 = 0;
const KEY_TYPE_TRANSACTION: i8 = 1;

pub async fn handle(ctx: &RequestContext<'_>, request: FindCoordinatorRequest) -> Outcome {
    // Groups live in __consumer_offsets: create it on first use, as Kafka does.
    let group_error = if request.key_type == KEY_TYPE_GROUP {
        ctx.broker
            .groups
            .ensure_ready(ctx.broker)
            .await
            .err()
            .filter(|code| *code != ResponseError::CoordinatorLoadInProgress.code())
    } else if request.key_type == KEY_TYPE_TRANSACTION {
        ctx.broker
            .txns
            .ensure_ready(ctx.broker)
            .await
            .err()
            .filter(|code| *code != ResponseError::CoordinatorLoadInProgress.code())
    } else {
        None
    };
    let advertised = ctx
        .broker
        .config
        .advertised_for(&ctx.connection.listener_name);
    let node_id = ctx.broker.config.node_id;
    let key_type_ok = matches!(request.key_type, KEY_TYPE_GROUP | KEY_TYPE_TRANSACTION);
    let answer = |key: &StrBytes| -> Coordinator {
        let mut c = Coordinator::default().with_key(key.clone());
        if let Some(code) = group_error {
            c.error_code = code;
            c.node_id = BrokerId(-1);
            c.host = StrBytes::from_static_str("");
            c.port = -1;
        } else if !key_type_ok {
            c.error_code = ResponseError::InvalidRequest.code();
            c.error_message = Some(StrBytes::from_string(format!(
                "coordinator key type {} is not supported",
                request.key_type
            )));
            c.node_id = BrokerId(-1);
            c.host = StrBytes::from_static_str("");
            c.port = -1;
        } else {
            c.node_id = BrokerId(node_id);
            c.host = StrBytes::from_string(advertised.host.clone());
            c.port = i32::from(advertised.port);
        }
        c
    };
    let mut response = FindCoordinatorResponse::default();
    if ctx.api_version >= FIRST_BATCHED_VERSION {
        response.coordinators = request.coordinator_keys.iter().map(answer).collect();
    } else {
        let c = answer(&request.key);
        response.error_code = c.error_code;
        response.error_message = c.error_message;
        response.node_id = c.node_id;
        response.host = c.host;
        response.port = c.port;
    }
    ctx.respond(&response)
}
