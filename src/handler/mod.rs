//! One file per Kafka API. Each declares the versions it implements in an
//! `ApiSpec`; the ApiVersions answer is built from `SUPPORTED_APIS`, so what we
//! advertise and what we handle cannot drift apart.
//!
//! Handlers read the metadata image and call the logs; they never touch
//! sockets. A per-partition failure is an error code in the response; only a
//! request that cannot be decoded or is not supported closes the connection.

pub mod api_versions;
pub mod configs;
pub mod create_partitions;
pub mod create_topics;
pub mod delete_records;
pub mod delete_topics;
pub mod describe_cluster;
pub mod describe_log_dirs;
pub mod describe_quorum;
pub mod describe_topic_partitions;
pub mod elect_leaders;
pub mod fetch;
pub mod find_coordinator;
pub mod group;
pub mod init_producer_id;
pub mod list_offsets;
pub mod metadata;
pub mod offset_for_leader_epoch;
pub mod produce;
pub mod topic_names;
pub mod txn;

use std::sync::Arc;

use bytes::Bytes;
use kafka_protocol::messages::{ApiKey, RequestKind};
use kafka_protocol::protocol::Encodable;
use tracing::Instrument;

use crate::broker::Broker;
use crate::protocol::request::{decode_body, decode_header, RequestError};
use crate::protocol::{encode_response, ResponseFrame};
use crate::server::connection::ConnectionInfo;

/// The versions of one API that gregor implements fully.
#[derive(Debug, Clone, Copy)]
pub struct ApiSpec {
    pub key: ApiKey,
    pub min_version: i16,
    pub max_version: i16,
    /// The lowest version put in ApiVersions; below `min_version` only when
    /// clients need to see older versions advertised that nobody sends
    /// (see `produce::SPEC`). Requests below `min_version` still close the
    /// connection.
    pub advertised_min_version: i16,
}

impl ApiSpec {
    pub const fn new(key: ApiKey, min_version: i16, max_version: i16) -> Self {
        ApiSpec {
            key,
            min_version,
            max_version,
            advertised_min_version: min_version,
        }
    }

    pub const fn advertising_from(mut self, version: i16) -> Self {
        self.advertised_min_version = version;
        self
    }

    pub fn supports(&self, version: i16) -> bool {
        (self.min_version..=self.max_version).contains(&version)
    }
}

/// Every API gregor answers. Anything else is not advertised, and a request
/// for it closes the connection.
pub const SUPPORTED_APIS: &[ApiSpec] = &[
    produce::SPEC,
    fetch::SPEC,
    list_offsets::SPEC,
    metadata::SPEC,
    api_versions::SPEC,
    create_topics::SPEC,
    delete_topics::SPEC,
    describe_cluster::SPEC,
    configs::describe_configs::SPEC,
    configs::alter_configs::SPEC,
    configs::incremental_alter_configs::SPEC,
    configs::list_config_resources::SPEC,
    create_partitions::SPEC,
    delete_records::SPEC,
    describe_log_dirs::SPEC,
    describe_quorum::SPEC,
    offset_for_leader_epoch::SPEC,
    elect_leaders::SPEC,
    describe_topic_partitions::SPEC,
    find_coordinator::SPEC,
    group::offset_commit::SPEC,
    group::offset_fetch::SPEC,
    group::join_group::SPEC,
    group::heartbeat::SPEC,
    group::leave_group::SPEC,
    group::sync_group::SPEC,
    group::describe_groups::SPEC,
    group::list_groups::SPEC,
    group::delete_groups::SPEC,
    group::offset_delete::SPEC,
    group::consumer_group_heartbeat::SPEC,
    group::consumer_group_describe::SPEC,
    init_producer_id::SPEC,
    txn::add_partitions_to_txn::SPEC,
    txn::add_offsets_to_txn::SPEC,
    txn::end_txn::SPEC,
    txn::txn_offset_commit::SPEC,
    txn::describe_producers::SPEC,
    txn::describe_transactions::SPEC,
    txn::list_transactions::SPEC,
];

pub fn spec_for(key: ApiKey) -> Option<&'static ApiSpec> {
    SUPPORTED_APIS.iter().find(|s| s.key == key)
}

/// What the connection does after a request.
#[derive(Debug)]
pub enum Outcome {
    Respond(ResponseFrame),
    /// Produce with acks=0: Kafka sends nothing back.
    NoResponse,
    /// The request can't be answered within the protocol: log and close.
    Close(String),
    /// A request for an API (or version) gregor does not implement: closed, as
    /// Kafka closes it, with one info line naming what was asked for and by
    /// which client, so a user can see what is missing without debug logs.
    Unsupported(String),
}

/// What a handler sees of the request besides its body.
#[derive(Debug)]
pub struct RequestContext<'a> {
    pub broker: &'a Arc<Broker>,
    pub connection: &'a ConnectionInfo,
    pub api_key: ApiKey,
    pub api_version: i16,
    pub correlation_id: i32,
    pub client_id: Option<&'a str>,
}

impl RequestContext<'_> {
    /// Encodes a plain response at the request's version.
    pub fn respond<R: Encodable>(&self, body: &R) -> Outcome {
        let header_version = self.api_key.response_header_version(self.api_version);
        match encode_response(self.correlation_id, header_version, body, self.api_version) {
            Ok(bytes) => Outcome::Respond(ResponseFrame::from_bytes(bytes)),
            Err(e) => {
                tracing::error!(api = ?self.api_key, version = self.api_version, error = %e, "response encoding failed");
                Outcome::Close(e.to_string())
            }
        }
    }
}

/// Decodes, dispatches and answers one request frame.
pub async fn handle_frame(
    broker: &Arc<Broker>,
    connection: &ConnectionInfo,
    frame: Bytes,
) -> Outcome {
    let peeked = match decode_header(frame) {
        Ok(p) => p,
        Err(e @ RequestError::UnknownApiKey { .. }) => return Outcome::Unsupported(e.to_string()),
        Err(e) => return Outcome::Close(e.to_string()),
    };
    let api_key = peeked.api_key;
    let api_version = peeked.api_version;
    let client_id = peeked.header.client_id.as_ref().map(|s| s.to_string());
    let Some(spec) = spec_for(api_key) else {
        return Outcome::Unsupported(format!(
            "{api_key:?} (key {}) v{api_version} is not implemented by gregor; client_id {:?}",
            api_key as i16,
            client_id
                .as_deref()
                .map(crate::error::prefix)
                .unwrap_or_default()
        ));
    };
    if !spec.supports(api_version) {
        if api_key == ApiKey::ApiVersions {
            // KIP-511: answer in v0 form so any client can read the ranges.
            return api_versions::unsupported_version(peeked.header.correlation_id);
        }
        return Outcome::Unsupported(format!(
            "{api_key:?} (key {}) v{api_version} is not supported (supported: v{}-v{}); client_id {:?}",
            api_key as i16,
            spec.min_version,
            spec.max_version,
            client_id.as_deref().map(crate::error::prefix).unwrap_or_default()
        ));
    }
    let request = match decode_body(peeked) {
        Ok(r) => r,
        Err(e) => return Outcome::Close(e.to_string()),
    };
    let client_id = request.header.client_id.as_ref().map(|s| s.as_str());
    let ctx = RequestContext {
        broker,
        connection,
        api_key,
        api_version,
        correlation_id: request.header.correlation_id,
        client_id,
    };
    // Every line a handler logs (each refusal's reason among them, see
    // `error::refuse`) carries the API, version, client and correlation id.
    let span = tracing::debug_span!(
        "request",
        api = ?api_key,
        v = api_version,
        client_id = client_id.map(crate::error::prefix).unwrap_or_default(),
        corr = ctx.correlation_id,
    );
    dispatch(ctx, request.body).instrument(span).await
}

/// Runs the handler of a decoded request.
async fn dispatch(ctx: RequestContext<'_>, body: RequestKind) -> Outcome {
    match body {
        RequestKind::ApiVersions(r) => api_versions::handle(&ctx, r),
        RequestKind::Metadata(r) => metadata::handle(&ctx, r).await,
        RequestKind::Produce(r) => produce::handle(&ctx, r).await,
        RequestKind::Fetch(r) => fetch::handle(&ctx, r).await,
        RequestKind::ListOffsets(r) => list_offsets::handle(&ctx, r).await,
        RequestKind::CreateTopics(r) => create_topics::handle(&ctx, r).await,
        RequestKind::DeleteTopics(r) => delete_topics::handle(&ctx, r).await,
        RequestKind::DescribeCluster(r) => describe_cluster::handle(&ctx, r),
        RequestKind::DescribeConfigs(r) => configs::describe_configs::handle(&ctx, r).await,
        RequestKind::AlterConfigs(r) => configs::alter_configs::handle(&ctx, r).await,
        RequestKind::IncrementalAlterConfigs(r) => {
            configs::incremental_alter_configs::handle(&ctx, r).await
        }
        RequestKind::ListConfigResources(r) => {
            configs::list_config_resources::handle(&ctx, r).await
        }
        RequestKind::CreatePartitions(r) => create_partitions::handle(&ctx, r).await,
        RequestKind::DeleteRecords(r) => delete_records::handle(&ctx, r).await,
        RequestKind::DescribeLogDirs(r) => describe_log_dirs::handle(&ctx, r).await,
        RequestKind::DescribeQuorum(r) => describe_quorum::handle(&ctx, r),
        RequestKind::OffsetForLeaderEpoch(r) => offset_for_leader_epoch::handle(&ctx, r).await,
        RequestKind::ElectLeaders(r) => elect_leaders::handle(&ctx, r).await,
        RequestKind::DescribeTopicPartitions(r) => describe_topic_partitions::handle(&ctx, r).await,
        RequestKind::FindCoordinator(r) => find_coordinator::handle(&ctx, r).await,
        RequestKind::OffsetCommit(r) => group::offset_commit::handle(&ctx, r).await,
        RequestKind::OffsetFetch(r) => group::offset_fetch::handle(&ctx, r).await,
        RequestKind::JoinGroup(r) => group::join_group::handle(&ctx, r).await,
        RequestKind::Heartbeat(r) => group::heartbeat::handle(&ctx, r).await,
        RequestKind::LeaveGroup(r) => group::leave_group::handle(&ctx, r).await,
        RequestKind::SyncGroup(r) => group::sync_group::handle(&ctx, r).await,
        RequestKind::DescribeGroups(r) => group::describe_groups::handle(&ctx, r).await,
        RequestKind::ListGroups(r) => group::list_groups::handle(&ctx, r).await,
        RequestKind::DeleteGroups(r) => group::delete_groups::handle(&ctx, r).await,
        RequestKind::OffsetDelete(r) => group::offset_delete::handle(&ctx, r).await,
        RequestKind::InitProducerId(r) => init_producer_id::handle(&ctx, r).await,
        RequestKind::AddPartitionsToTxn(r) => txn::add_partitions_to_txn::handle(&ctx, r).await,
        RequestKind::AddOffsetsToTxn(r) => txn::add_offsets_to_txn::handle(&ctx, r).await,
        RequestKind::EndTxn(r) => txn::end_txn::handle(&ctx, r).await,
        RequestKind::TxnOffsetCommit(r) => txn::txn_offset_commit::handle(&ctx, r).await,
        RequestKind::DescribeProducers(r) => txn::describe_producers::handle(&ctx, r).await,
        RequestKind::DescribeTransactions(r) => txn::describe_transactions::handle(&ctx, r).await,
        RequestKind::ListTransactions(r) => txn::list_transactions::handle(&ctx, r).await,
        RequestKind::ConsumerGroupHeartbeat(r) => {
            group::consumer_group_heartbeat::handle(&ctx, r).await
        }
        RequestKind::ConsumerGroupDescribe(r) => {
            group::consumer_group_describe::handle(&ctx, r).await
        }
        other => Outcome::Close(format!(
            "no handler for {:?}",
            std::mem::discriminant(&other)
        )),
    }
}
