//! A transactional producer's side of Kafka transactions for the load tools:
//! FindCoordinator (transaction key), InitProducerId, AddPartitionsToTxn before a
//! partition's first batch of each transaction, and EndTxn.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::add_partitions_to_txn_request::AddPartitionsToTxnTopic;
use kafka_protocol::messages::{
    AddPartitionsToTxnRequest, AddPartitionsToTxnResponse, ApiKey, EndTxnRequest, EndTxnResponse,
    FindCoordinatorRequest, FindCoordinatorResponse, InitProducerIdRequest, InitProducerIdResponse,
    ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::client::error_text;
use super::session::{topic_name, Session};

/// FindCoordinator key type of a transactional id.
const TXN_KEY_TYPE: i8 = 1;
/// AddPartitionsToTxn v4 is the brokers' batched form; v3 is the newest a client sends.
const ADD_PARTITIONS_MAX_VERSION: i16 = 3;
/// transaction.timeout.ms asked for, as the Java producer's default (1 minute).
const TRANSACTION_TIMEOUT_MS: i32 = 60_000;
/// How long retriable coordinator errors (loading, concurrent transactions) are retried.
const RETRY_FOR: Duration = Duration::from_secs(30);
const RETRY_PAUSE: Duration = Duration::from_millis(20);

pub struct Txn {
    id: String,
    coordinator: i32,
    pub producer_id: i64,
    pub producer_epoch: i16,
    sequences: BTreeMap<i32, i32>,
    added: BTreeSet<i32>,
}

fn retriable(code: i16) -> bool {
    [
        ResponseError::CoordinatorLoadInProgress,
        ResponseError::ConcurrentTransactions,
        ResponseError::NotCoordinator,
        ResponseError::CoordinatorNotAvailable,
    ]
    .iter()
    .any(|e| e.code() == code)
}

/// Runs `attempt` until it returns a non-retriable error code (or 0), for up to
/// [`RETRY_FOR`].
fn with_retries<R>(
    what: &str,
    mut attempt: impl FnMut() -> Result<(i16, R), String>,
) -> Result<R, String> {
    let deadline = Instant::now() + RETRY_FOR;
    loop {
        let (code, r) = attempt()?;
        if code == 0 {
            return Ok(r);
        }
        if !retriable(code) || Instant::now() >= deadline {
            return Err(format!("{what}: {}", error_text(code, None)));
        }
        std::thread::sleep(RETRY_PAUSE);
    }
}

impl Txn {
    /// Finds the transaction coordinator and gets a producer id and epoch for `id`.
    pub fn init(session: &mut Session, id: &str) -> Result<Txn, String> {
        let key = StrBytes::from_string(id.to_string());
        let coordinator = with_retries("FindCoordinator", || {
            let version = session
                .bootstrap
                .version_for::<FindCoordinatorRequest>(ApiKey::FindCoordinator)?;
            let mut req = FindCoordinatorRequest::default().with_key_type(TXN_KEY_TYPE);
            if version >= 4 {
                req.coordinator_keys = vec![key.clone()];
            } else {
                req.key = key.clone();
            }
            let r: FindCoordinatorResponse =
                session
                    .bootstrap
                    .call_at(ApiKey::FindCoordinator, version, &req)?;
            Ok(match r.coordinators.first() {
                Some(c) if version >= 4 => (c.error_code, c.node_id.0),
                _ => (r.error_code, r.node_id.0),
            })
        })?;
        let tid = TransactionalId(key);
        let (producer_id, producer_epoch) = with_retries("InitProducerId", || {
            let req = InitProducerIdRequest::default()
                .with_transactional_id(Some(tid.clone()))
                .with_transaction_timeout_ms(TRANSACTION_TIMEOUT_MS)
                .with_producer_id(ProducerId(-1))
                .with_producer_epoch(-1);
            let r: InitProducerIdResponse = session
                .node(coordinator)?
                .call(ApiKey::InitProducerId, &req)?;
            Ok((r.error_code, (r.producer_id.0, r.producer_epoch)))
        })?;
        Ok(Txn {
            id: id.to_string(),
            coordinator,
            producer_id,
            producer_epoch,
            sequences: BTreeMap::new(),
            added: BTreeSet::new(),
        })
    }

    pub fn id(&self) -> TransactionalId {
        TransactionalId(StrBytes::from_string(self.id.clone()))
    }

    /// The base sequence of the next batch of `count` records to `partition`.
    pub fn next_sequence(&mut self, partition: i32, count: i32) -> i32 {
        let s = self.sequences.entry(partition).or_insert(0);
        let base = *s;
        *s = s.wrapping_add(count) & i32::MAX;
        base
    }

    /// Adds the partitions not yet in the current transaction to it.
    pub fn add_partitions(
        &mut self,
        session: &mut Session,
        topic: &str,
        partitions: &[i32],
    ) -> Result<(), String> {
        let new: Vec<i32> = partitions
            .iter()
            .copied()
            .filter(|p| !self.added.contains(p))
            .collect();
        if new.is_empty() {
            return Ok(());
        }
        let (tid, pid, epoch, node) = (
            self.id(),
            self.producer_id,
            self.producer_epoch,
            self.coordinator,
        );
        with_retries("AddPartitionsToTxn", || {
            let req = AddPartitionsToTxnRequest::default()
                .with_v3_and_below_transactional_id(tid.clone())
                .with_v3_and_below_producer_id(ProducerId(pid))
                .with_v3_and_below_producer_epoch(epoch)
                .with_v3_and_below_topics(vec![AddPartitionsToTxnTopic::default()
                    .with_name(topic_name(topic))
                    .with_partitions(new.clone())]);
            let r: AddPartitionsToTxnResponse = session.node(node)?.call_capped(
                ApiKey::AddPartitionsToTxn,
                ADD_PARTITIONS_MAX_VERSION,
                &req,
            )?;
            let code = r
                .results_by_topic_v3_and_below
                .iter()
                .flat_map(|t| t.results_by_partition.iter())
                .map(|p| p.partition_error_code)
                .find(|c| *c != 0)
                .unwrap_or(r.error_code);
            Ok((code, ()))
        })?;
        self.added.extend(new);
        Ok(())
    }

    /// Commits (or aborts) the current transaction; the caller has already had
    /// every batch of it acknowledged.
    pub fn end(&mut self, session: &mut Session, commit: bool) -> Result<(), String> {
        if self.added.is_empty() {
            return Ok(());
        }
        let req = EndTxnRequest::default()
            .with_transactional_id(self.id())
            .with_producer_id(ProducerId(self.producer_id))
            .with_producer_epoch(self.producer_epoch)
            .with_committed(commit);
        let node = self.coordinator;
        with_retries("EndTxn", || {
            let r: EndTxnResponse = session.node(node)?.call(ApiKey::EndTxn, &req)?;
            Ok((r.error_code, ()))
        })?;
        self.added.clear();
        Ok(())
    }
}

/// Opaque in debug output: it holds sockets, files or locks, not values
/// worth printing.
impl std::fmt::Debug for Txn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Txn").finish_non_exhaustive()
    }
}
