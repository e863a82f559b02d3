//! The transaction coordinator: one state machine per transactional id, persisted in
//! the compacted internal topic `__transaction_state` with Kafka's record schemas.
//!
//! On one node the coordinator writes the transaction markers itself, synchronously:
//! EndTxn records PrepareCommit/PrepareAbort, appends a COMMIT/ABORT control batch to
//! every partition of the transaction (the group coordinator materialises or drops
//! transactional offset commits at the same time), then records CompleteCommit /
//! CompleteAbort. A restart that finds a Prepare state replays the marker step, so a
//! crash between the steps cannot leave a transaction half ended.
//!
//! Fencing: every InitProducerId bumps the epoch, and an open transaction of the
//! previous incarnation is aborted with the new epoch. Produce requests carrying
//! transactional batches are checked here (the partition must be part of the
//! producer's open transaction at its current epoch: KIP-890's server-side
//! verification, done in-process), so a zombie cannot write after being fenced.

use std::collections::{BTreeSet, HashMap};
use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kafka_protocol::error::ResponseError;

use super::schema::{self, TransactionLogValue, TxnPartitions, TxnStatus};

mod end_tv2;
use crate::broker::Broker;
use crate::internal_topic;

/// Name of the internal transaction log topic.
pub const TXN_TOPIC: &str = "__transaction_state";
/// How often transaction timeouts are checked, in ms.
const TXN_TICK_MS: u64 = 1000;
/// `TransactionLogValue` version written for transaction-version-1 clients:
/// Kafka picks it from the finalized `transaction.version` feature, which gregor
/// does not advertise (level 0), so v0. A transaction ended with EndTxn v5
/// (`client_transaction_version` 2) is written at v1, whose tagged fields
/// carry the next producer id and the client's transaction version.
const TXN_LOG_VALUE_VERSION: i16 = 0;
/// An epoch this high is the last one: the next bump takes a new producer id.
const LAST_EPOCH: i16 = i16::MAX - 1;

/// Transaction coordinator settings, with Kafka's names and defaults.
#[derive(Debug, Clone)]
pub struct TxnConfig {
    /// `transaction.state.log.num.partitions`.
    pub num_partitions: i32,
    /// `transaction.state.log.segment.bytes`.
    pub segment_bytes: u64,
    /// `transaction.max.timeout.ms`: the largest timeout a producer may ask for.
    pub max_timeout_ms: i32,
}

impl Default for TxnConfig {
    fn default() -> Self {
        TxnConfig {
            num_partitions: 50,
            segment_bytes: 100 * 1024 * 1024,
            max_timeout_ms: 900_000,
        }
    }
}

/// One transactional id's state.
#[derive(Debug, Clone)]
pub struct TxnMetadata {
    pub transactional_id: String,
    pub producer_id: i64,
    pub previous_producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    pub partitions: BTreeSet<(String, i32)>,
    pub start_ms: i64,
    pub last_update_ms: i64,
    /// Between Prepare and Complete of a transaction-version-2 end whose epoch
    /// ran out: the producer id the transaction continues with (else -1).
    pub next_producer_id: i64,
    /// 2 once the producer ended a transaction with EndTxn v5 (KIP-890 part 2).
    pub client_transaction_version: i16,
}

impl TxnMetadata {
    fn to_value(&self) -> TransactionLogValue {
        let mut by_topic: std::collections::BTreeMap<&str, Vec<i32>> = Default::default();
        for (t, p) in &self.partitions {
            by_topic.entry(t).or_default().push(*p);
        }
        TransactionLogValue {
            producer_id: self.producer_id,
            previous_producer_id: self.previous_producer_id,
            producer_epoch: self.producer_epoch,
            timeout_ms: self.timeout_ms,
            status: self.status,
            partitions: (!by_topic.is_empty()).then(|| {
                by_topic
                    .into_iter()
                    .map(|(topic, partitions)| TxnPartitions {
                        topic: topic.to_string(),
                        partitions,
                    })
                    .collect()
            }),
            last_update_ms: self.last_update_ms,
            start_ms: self.start_ms,
            next_producer_id: self.next_producer_id,
            client_transaction_version: self.client_transaction_version,
        }
    }

    fn from_value(transactional_id: &str, v: TransactionLogValue) -> Self {
        TxnMetadata {
            transactional_id: transactional_id.to_string(),
            producer_id: v.producer_id,
            previous_producer_id: v.previous_producer_id,
            producer_epoch: v.producer_epoch,
            timeout_ms: v.timeout_ms,
            status: v.status,
            partitions: v
                .partitions
                .unwrap_or_default()
                .into_iter()
                .flat_map(|t| {
                    let topic = t.topic;
                    t.partitions.into_iter().map(move |p| (topic.clone(), p))
                })
                .collect(),
            start_ms: v.start_ms,
            last_update_ms: v.last_update_ms,
            next_producer_id: v.next_producer_id,
            client_transaction_version: v.client_transaction_version,
        }
    }
}

// 0: not started yet (the broker is opening).
const STATE_LOADING: u8 = 1;
const STATE_READY: u8 = 2;

#[derive(Debug, Default)]
pub struct TransactionCoordinator {
    pub config: TxnConfig,
    state: AtomicU8,
    create_lock: tokio::sync::Mutex<()>,
    /// Serialises state changes: each one appends to the log and may write markers.
    ops: tokio::sync::Mutex<()>,
    txns: Mutex<HashMap<String, TxnMetadata>>,
}

/// Kafka's Java `String.hashCode` partitioning, as for groups.
fn partition_for(transactional_id: &str, partitions: i32) -> i32 {
    crate::group::schema::partition_for_group(transactional_id, partitions)
}

impl TransactionCoordinator {
    pub fn new(config: TxnConfig) -> Self {
        TransactionCoordinator {
            config,
            ..Default::default()
        }
    }

    fn lock_txns(&self) -> std::sync::MutexGuard<'_, HashMap<String, TxnMetadata>> {
        self.txns.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A copy of one transactional id's state.
    pub fn describe(&self, transactional_id: &str) -> Option<TxnMetadata> {
        self.lock_txns().get(transactional_id).cloned()
    }

    pub fn all(&self) -> Vec<TxnMetadata> {
        self.lock_txns().values().cloned().collect()
    }

    /// Starts loading the log if it exists (at broker start) and the timeout timer.
    pub fn start(broker: &Arc<Broker>) {
        if broker.metadata.image().topics.contains_key(TXN_TOPIC) {
            Self::load(broker);
        } else {
            broker.txns.state.store(STATE_READY, Ordering::Release);
        }
        let b = broker.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(TXN_TICK_MS));
            let mut stop = b.shutting_down.clone();
            loop {
                tokio::select! {
                    _ = tick.tick() => b.txns.abort_timed_out(&b).await,
                    _ = stop.changed() => return,
                }
            }
        });
    }

    fn load(broker: &Arc<Broker>) {
        broker.txns.state.store(STATE_LOADING, Ordering::Release);
        let b = broker.clone();
        tokio::spawn(async move {
            let started = std::time::Instant::now();
            let b2 = b.clone();
            let loaded = tokio::task::spawn_blocking(move || replay(&b2)).await;
            match loaded {
                Ok(Ok(n)) => tracing::info!(
                    transactional_ids = n,
                    elapsed_ms = started.elapsed().as_millis() as u64,
                    "transaction state loaded"
                ),
                Ok(Err(e)) => {
                    tracing::error!(error = %e, "transaction state replay failed; starting with what was read")
                }
                Err(e) => tracing::error!(error = %e, "transaction state replay panicked"),
            }
            // Completing a transaction hands its offsets to the group coordinator,
            // which must have replayed its own log first.
            while b.groups.is_loading() {
                tokio::time::sleep(Duration::from_millis(10)).await;
            }
            // Transactions caught between Prepare and Complete: finish them.
            let unfinished: Vec<TxnMetadata> = b
                .txns
                .all()
                .into_iter()
                .filter(|t| matches!(t.status, TxnStatus::PrepareCommit | TxnStatus::PrepareAbort))
                .collect();
            {
                let _op = b.txns.ops.lock().await;
                for mut t in unfinished {
                    let commit = t.status == TxnStatus::PrepareCommit;
                    if let Err(code) = b.txns.complete(&b, &mut t, commit) {
                        tracing::warn!(transactional_id = %t.transactional_id, code, "cannot complete a transaction after restart");
                    }
                }
            }
            b.txns.state.store(STATE_READY, Ordering::Release);
        });
    }

    /// Makes sure the log topic exists and is loaded.
    pub async fn ensure_ready(&self, broker: &Broker) -> Result<(), i16> {
        if self.state.load(Ordering::Acquire) == STATE_LOADING {
            return Err(ResponseError::CoordinatorLoadInProgress.code());
        }
        internal_topic::ensure(
            broker,
            TXN_TOPIC,
            self.config.num_partitions,
            self.config.segment_bytes,
            &self.create_lock,
        )
        .await
    }

    /// Appends the state record and only then updates memory.
    fn persist(&self, broker: &Broker, meta: &TxnMetadata) -> Result<(), i16> {
        // A transactional id over 32767 bytes cannot be written: Kafka 4.1 fails the
        // same serialization and answers UNKNOWN_SERVER_ERROR.
        let unencodable = |e: schema::TxnSchemaError| {
            crate::error::refuse(
                ResponseError::UnknownServerError,
                format_args!(
                    "cannot write transactional id {:?} ({} bytes) to {TXN_TOPIC}: {e}",
                    crate::error::prefix(&meta.transactional_id),
                    meta.transactional_id.len()
                ),
            )
        };
        let key = schema::encode_key(&meta.transactional_id).map_err(unencodable)?;
        let version = if meta.client_transaction_version >= 2 {
            schema::value_version_for_transaction_version(meta.client_transaction_version)
        } else {
            TXN_LOG_VALUE_VERSION
        };
        let value = schema::encode_value(&meta.to_value(), version).map_err(unencodable)?;
        let partition = partition_for(&meta.transactional_id, self.config.num_partitions);
        internal_topic::append(broker, TXN_TOPIC, partition, vec![(key, Some(value))], None)?;
        self.lock_txns()
            .insert(meta.transactional_id.clone(), meta.clone());
        Ok(())
    }

    /// InitProducerId with a transactional id. Returns (producer id, epoch).
    pub async fn init_producer_id(
        &self,
        broker: &Broker,
        transactional_id: &str,
        timeout_ms: i32,
        expected: Option<(i64, i16)>,
    ) -> Result<(i64, i16), i16> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest.code());
        }
        if timeout_ms <= 0 || timeout_ms > self.config.max_timeout_ms {
            return Err(ResponseError::InvalidTransactionTimeout.code());
        }
        self.ensure_ready(broker).await?;
        let _op = self.ops.lock().await;
        let now = crate::replica::now_ms();
        let mut meta = match self.describe(transactional_id) {
            Some(m) => m,
            None => TxnMetadata {
                transactional_id: transactional_id.to_string(),
                producer_id: broker.producer_ids.next_id(broker).await?,
                previous_producer_id: -1,
                producer_epoch: -1,
                timeout_ms,
                status: TxnStatus::Empty,
                partitions: BTreeSet::new(),
                start_ms: -1,
                last_update_ms: now,
                next_producer_id: -1,
                client_transaction_version: 0,
            },
        };
        // KIP-360: a producer naming its id and epoch must be the current one.
        if let Some((pid, epoch)) = expected {
            if pid >= 0 && (pid != meta.producer_id || epoch != meta.producer_epoch) {
                return Err(ResponseError::ProducerFenced.code());
            }
        }
        match meta.status {
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence => {
                return Err(ResponseError::ConcurrentTransactions.code())
            }
            TxnStatus::Ongoing => {
                // The previous incarnation left a transaction open: fence it and abort.
                self.bump_epoch(broker, &mut meta).await?;
                self.end(broker, &mut meta, false)?;
            }
            _ => {}
        }
        self.bump_epoch(broker, &mut meta).await?;
        meta.timeout_ms = timeout_ms;
        meta.status = TxnStatus::Empty;
        meta.partitions.clear();
        meta.start_ms = -1;
        meta.last_update_ms = now;
        self.persist(broker, &meta)?;
        Ok((meta.producer_id, meta.producer_epoch))
    }

    /// The next epoch, or a new producer id at epoch 0 once epochs run out.
    async fn bump_epoch(&self, broker: &Broker, meta: &mut TxnMetadata) -> Result<(), i16> {
        if meta.producer_epoch >= LAST_EPOCH {
            meta.previous_producer_id = meta.producer_id;
            meta.producer_id = broker.producer_ids.next_id(broker).await?;
            meta.producer_epoch = 0;
        } else {
            meta.producer_epoch += 1;
        }
        Ok(())
    }

    /// The checks every transactional request makes. Returns the current state.
    fn validate(
        &self,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
    ) -> Result<TxnMetadata, i16> {
        let Some(meta) = self.describe(transactional_id) else {
            return Err(ResponseError::InvalidProducerIdMapping.code());
        };
        if meta.producer_id != producer_id {
            return Err(ResponseError::InvalidProducerIdMapping.code());
        }
        if epoch != meta.producer_epoch {
            return Err(ResponseError::ProducerFenced.code());
        }
        if matches!(
            meta.status,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort | TxnStatus::PrepareEpochFence
        ) {
            return Err(ResponseError::ConcurrentTransactions.code());
        }
        Ok(meta)
    }

    /// AddPartitionsToTxn / AddOffsetsToTxn: the partitions join the open transaction.
    pub async fn add_partitions(
        &self,
        broker: &Broker,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        partitions: &[(String, i32)],
    ) -> Result<(), i16> {
        self.ensure_ready(broker).await?;
        let _op = self.ops.lock().await;
        let mut meta = self.validate(transactional_id, producer_id, epoch)?;
        if meta.status == TxnStatus::Ongoing
            && partitions.iter().all(|p| meta.partitions.contains(p))
        {
            return Ok(());
        }
        let now = crate::replica::now_ms();
        if meta.status != TxnStatus::Ongoing {
            meta.status = TxnStatus::Ongoing;
            meta.start_ms = now;
            meta.partitions.clear();
        }
        meta.partitions.extend(partitions.iter().cloned());
        meta.last_update_ms = now;
        self.persist(broker, &meta)
    }

    /// EndTxn.
    pub async fn end_txn(
        &self,
        broker: &Broker,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(), i16> {
        self.ensure_ready(broker).await?;
        let _op = self.ops.lock().await;
        let mut meta = self.validate(transactional_id, producer_id, epoch)?;
        match (meta.status, commit) {
            (TxnStatus::Ongoing, _) => self.end(broker, &mut meta, commit),
            // A retried EndTxn whose first attempt completed.
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) => Ok(()),
            // Aborting with nothing open is harmless (clients do it after errors).
            (TxnStatus::Empty, false) => Ok(()),
            _ => Err(ResponseError::InvalidTxnState.code()),
        }
    }

    /// Prepare, markers, complete.
    fn end(&self, broker: &Broker, meta: &mut TxnMetadata, commit: bool) -> Result<(), i16> {
        meta.status = if commit {
            TxnStatus::PrepareCommit
        } else {
            TxnStatus::PrepareAbort
        };
        meta.last_update_ms = crate::replica::now_ms();
        self.persist(broker, meta)?;
        self.complete(broker, meta, commit)
    }

    /// Writes the markers of a prepared transaction and records its completion.
    fn complete(&self, broker: &Broker, meta: &mut TxnMetadata, commit: bool) -> Result<(), i16> {
        let now = crate::replica::now_ms();
        for (topic, index) in &meta.partitions {
            let Some(partition) = broker.replicas.partition(topic, *index) else {
                // Deleted since it joined the transaction: nothing to mark.
                continue;
            };
            partition
                .with_log(|log| {
                    log.append_marker(meta.producer_id, meta.producer_epoch, commit, 0, partition.leader_epoch, now)
                })
                .map_err(|e| {
                    tracing::warn!(%topic, partition = index, error = %e, "cannot write a transaction marker");
                    crate::error::log_error_code(&e)
                })?;
            if topic == crate::group::OFFSETS_TOPIC {
                broker.groups.complete_txn_offsets(meta.producer_id, commit);
            }
        }
        broker.replicas.notify_append();
        // Transaction version 2 whose epoch ran out: the markers went out with
        // the old id at its last epoch; the producer continues with the new id.
        if meta.next_producer_id >= 0 {
            meta.previous_producer_id = meta.producer_id;
            meta.producer_id = meta.next_producer_id;
            meta.producer_epoch = 0;
            meta.next_producer_id = -1;
        }
        // As Kafka: a completed transaction holds no partitions.
        meta.partitions.clear();
        meta.status = if commit {
            TxnStatus::CompleteCommit
        } else {
            TxnStatus::CompleteAbort
        };
        meta.last_update_ms = now;
        self.persist(broker, meta)
    }

    /// Aborts transactions open longer than their timeout, fencing the producer
    /// (`transaction.timeout.ms`; Kafka bumps the epoch here too).
    async fn abort_timed_out(&self, broker: &Broker) {
        if self.state.load(Ordering::Acquire) != STATE_READY {
            return;
        }
        let now = crate::replica::now_ms();
        let expired: Vec<String> = self
            .lock_txns()
            .values()
            .filter(|t| {
                t.status == TxnStatus::Ongoing && now - t.start_ms > i64::from(t.timeout_ms)
            })
            .map(|t| t.transactional_id.clone())
            .collect();
        for tid in expired {
            let _op = self.ops.lock().await;
            let Some(mut meta) = self.describe(&tid) else {
                continue;
            };
            if meta.status != TxnStatus::Ongoing {
                continue;
            }
            tracing::info!(transactional_id = %tid, producer_id = meta.producer_id, "aborting a transaction past its timeout");
            let result = match self.bump_epoch(broker, &mut meta).await {
                Ok(()) => self.end(broker, &mut meta, false),
                Err(code) => Err(code),
            };
            if let Err(code) = result {
                tracing::warn!(transactional_id = %tid, code, "cannot abort a timed-out transaction");
            }
        }
    }

    /// KIP-890 verification of a transactional produce: the producer's transaction
    /// must be open at this epoch and include the partition.
    pub fn verify_produce(
        &self,
        producer_id: i64,
        epoch: i16,
        topic: &str,
        partition: i32,
    ) -> Result<(), i16> {
        let txns = self.lock_txns();
        let Some(meta) = txns.values().find(|t| t.producer_id == producer_id) else {
            return Err(ResponseError::InvalidProducerIdMapping.code());
        };
        if epoch < meta.producer_epoch {
            return Err(ResponseError::InvalidProducerEpoch.code());
        }
        if meta.status != TxnStatus::Ongoing
            || !meta.partitions.contains(&(topic.to_string(), partition))
        {
            return Err(ResponseError::InvalidTxnState.code());
        }
        Ok(())
    }
}

/// Rebuilds every transactional id's latest state from the log.
fn replay(broker: &Broker) -> Result<usize, internal_topic::ReplayError> {
    let mut latest: HashMap<String, Option<TransactionLogValue>> = HashMap::new();
    internal_topic::for_each_batch(broker, TXN_TOPIC, |_, header, batch| {
        if header.is_control() {
            return;
        }
        let Ok((h, body)) = crate::record::batch_records(batch) else {
            return;
        };
        for rec in crate::record::RecordIter::new(&h, &body).flatten() {
            let Some(key) = rec.key else { continue };
            let tid = match schema::decode_key(key) {
                Ok(t) => t,
                Err(e) => {
                    tracing::warn!(error = %e, "skipping unreadable {TXN_TOPIC} key");
                    continue;
                }
            };
            match rec.value.map(schema::decode_value) {
                None => {
                    latest.insert(tid, None);
                }
                Some(Ok(v)) => {
                    latest.insert(tid, Some(v));
                }
                Some(Err(e)) => {
                    tracing::warn!(error = %e, %tid, "skipping unreadable transaction state")
                }
            }
        }
    })?;
    let mut txns = broker.txns.lock_txns();
    for (tid, v) in latest {
        if let Some(v) = v {
            txns.insert(tid.clone(), TxnMetadata::from_value(&tid, v));
        }
    }
    Ok(txns.len())
}
