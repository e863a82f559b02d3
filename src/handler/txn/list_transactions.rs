//! ListTransactions (key 66), v0-v2: transactional ids with their producer id
//! and state, filtered by state, producer id, running time (v1) and an id
//! pattern (v2, a RE2-style regex like Kafka's).

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::list_transactions_response::TransactionState;
use kafka_protocol::messages::{
    ApiKey, ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use crate::handler::{ApiSpec, Outcome, RequestContext};
use crate::txn::schema::TxnStatus;

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::ListTransactions, 0, 2);

pub async fn handle(ctx: &RequestContext<'_>, request: ListTransactionsRequest) -> Outcome {
    let mut response = ListTransactionsResponse::default();
    if let Err(code) = ctx.broker.txns.ensure_ready(ctx.broker).await {
        response.error_code = code;
        return ctx.respond(&response);
    }
    let pattern = match request
        .transactional_id_pattern
        .as_deref()
        .filter(|p| !p.is_empty())
    {
        None => None,
        Some(p) => match regex::Regex::new(&format!("^(?:{p})$")) {
            Ok(r) => Some(r),
            Err(_) => {
                response.error_code = ResponseError::InvalidRegularExpression.code();
                return ctx.respond(&response);
            }
        },
    };
    let wanted_states: Vec<&str> = request.state_filters.iter().map(|s| s.as_str()).collect();
    response.unknown_state_filters = request
        .state_filters
        .iter()
        .filter(|s| !TxnStatus::ALL.iter().any(|st| st.name() == s.as_str()))
        .cloned()
        .collect();
    let now = crate::replica::now_ms();
    let mut all = ctx.broker.txns.all();
    all.sort_by(|a, b| a.transactional_id.cmp(&b.transactional_id));
    for meta in all {
        let state = meta.status.name();
        let keep = (wanted_states.is_empty() || wanted_states.contains(&state))
            && (request.producer_id_filters.is_empty()
                || request
                    .producer_id_filters
                    .iter()
                    .any(|p| p.0 == meta.producer_id))
            && (request.duration_filter < 0
                || (meta.status == TxnStatus::Ongoing
                    && now - meta.start_ms >= request.duration_filter))
            && pattern
                .as_ref()
                .is_none_or(|r| r.is_match(&meta.transactional_id));
        if keep {
            response.transaction_states.push(
                TransactionState::default()
                    .with_transactional_id(TransactionalId(StrBytes::from_string(
                        meta.transactional_id.clone(),
                    )))
                    .with_producer_id(ProducerId(meta.producer_id))
                    .with_transaction_state(StrBytes::from_static_str(state)),
            );
        }
    }
    ctx.respond(&response)
}
