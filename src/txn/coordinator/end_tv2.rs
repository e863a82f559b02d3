//! EndTxn v5: ending a transaction under transaction version 2 (KIP-890 part 2).
//!
//! Every end bumps the producer epoch: the Prepare record already holds the
//! new epoch, the COMMIT/ABORT markers are written with it, and the answer
//! hands it to the producer, which starts its next transaction there (at
//! sequence 0). A batch of the ended transaction that arrives late carries the
//! old epoch and is refused by the partition's producer state, so it can no
//! longer join the next transaction (the "hanging transaction" KIP-890
//! closes). Once the epoch runs out, the markers are written at the last epoch
//! and the producer continues with a new producer id at epoch 0, which the
//! Prepare record names (`next_producer_id`) so a restart finishes the same way.
//!
//! Because the epoch moves on every end, "same epoch" no longer identifies a
//! retry: a retried EndTxn carries the epoch just before the current one (or,
//! after a change of producer id, the old id at the last epoch). As Kafka's
//! coordinator, a retry of the end that completed answers success with the
//! current id and epoch; an abort with nothing open still bumps the epoch.
//!
//! The request version decides, as in Kafka (`transactionVersionForEndTxn`):
//! EndTxn v0-v4 keep transaction version 1 semantics (`end_txn`).

use kafka_protocol::error::ResponseError;

use super::{TransactionCoordinator, LAST_EPOCH};
use crate::broker::Broker;
use crate::txn::schema::TxnStatus;

/// The `client_transaction_version` recorded for a producer using EndTxn v5.
const TRANSACTION_VERSION_2: i16 = 2;

impl TransactionCoordinator {
    /// EndTxn v5. Returns the producer id and epoch the producer continues with.
    pub async fn end_txn_v2(
        &self,
        broker: &Broker,
        transactional_id: &str,
        producer_id: i64,
        epoch: i16,
        commit: bool,
    ) -> Result<(i64, i16), i16> {
        if transactional_id.is_empty() {
            return Err(ResponseError::InvalidRequest.code());
        }
        self.ensure_ready(broker).await?;
        let _op = self.ops.lock().await;
        let Some(mut meta) = self.describe(transactional_id) else {
            return Err(ResponseError::InvalidProducerIdMapping.code());
        };
        // A retry of an end that moved the producer to a new id.
        let retry_on_overflow = meta.previous_producer_id == producer_id
            && epoch == LAST_EPOCH
            && meta.producer_epoch == 0;
        // A retry of an end that bumped the epoch.
        let retry_on_bump = i32::from(meta.producer_epoch) == i32::from(epoch) + 1;
        let retry = retry_on_bump || retry_on_overflow;
        if meta.producer_id != producer_id && !retry_on_overflow {
            return Err(ResponseError::InvalidProducerIdMapping.code());
        }
        let valid_epoch = match meta.status {
            TxnStatus::Ongoing
            | TxnStatus::Empty
            | TxnStatus::Dead
            | TxnStatus::PrepareEpochFence => epoch == meta.producer_epoch,
            TxnStatus::PrepareCommit | TxnStatus::PrepareAbort => retry_on_bump,
            TxnStatus::CompleteCommit | TxnStatus::CompleteAbort => {
                retry || epoch == meta.producer_epoch
            }
        };
        if !valid_epoch {
            return Err(ResponseError::ProducerFenced.code());
        }
        let current = (meta.producer_id, meta.producer_epoch);
        match (meta.status, commit) {
            (TxnStatus::Ongoing, _) => {}
            (TxnStatus::CompleteCommit, true) | (TxnStatus::CompleteAbort, false) if retry => {
                return Ok(current)
            }
            // An abort with nothing open: still an end, so still a bump.
            (TxnStatus::CompleteCommit | TxnStatus::CompleteAbort | TxnStatus::Empty, false)
                if !retry =>
            {
                meta.partitions.clear();
                meta.start_ms = crate::replica::now_ms();
            }
            // Only seen while a restart finishes the transaction.
            (TxnStatus::PrepareCommit, true) | (TxnStatus::PrepareAbort, false) => {
                return Err(ResponseError::ConcurrentTransactions.code())
            }
            _ => return Err(ResponseError::InvalidTxnState.code()),
        }
        if meta.producer_epoch >= LAST_EPOCH {
            meta.next_producer_id = broker.producer_ids.next_id(broker).await?;
        }
        meta.producer_epoch = meta
            .producer_epoch
            .checked_add(1)
            .ok_or(ResponseError::InvalidProducerEpoch.code())?;
        meta.client_transaction_version = TRANSACTION_VERSION_2;
        self.end(broker, &mut meta, commit)?;
        Ok((meta.producer_id, meta.producer_epoch))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use kafka_protocol::error::ResponseError;

    use super::LAST_EPOCH;
    use crate::broker::Broker;
    use crate::config::BrokerConfig;

    async fn broker(dir: &std::path::Path) -> Arc<Broker> {
        let config = BrokerConfig {
            data_dir: dir.to_path_buf(),
            cluster_id: Some("tv2-test-cluster-000000".into()),
            ..BrokerConfig::default()
        };
        let (_stop, rx) = tokio::sync::watch::channel(false);
        let broker = Broker::open(config, rx).await.expect("broker opens");
        broker.spawn_background();
        broker
    }

    /// An epoch that runs out cannot be reached over the wire in a test
    /// (32,766 ends), so the state is set here: the end at the last epoch
    /// hands over a new producer id at epoch 0, a retry with the old id
    /// answers the same, and the old id is no longer accepted.
    #[tokio::test]
    async fn the_end_at_the_last_epoch_moves_to_a_new_producer_id() {
        let dir = tempfile::tempdir().unwrap();
        let broker = broker(dir.path()).await;
        let txns = &broker.txns;
        let (pid, _) = txns
            .init_producer_id(&broker, "t", 60_000, None)
            .await
            .unwrap();
        let mut meta = txns.describe("t").unwrap();
        meta.producer_epoch = LAST_EPOCH;
        txns.persist(&broker, &meta).unwrap();

        let (next, epoch) = txns
            .end_txn_v2(&broker, "t", pid, LAST_EPOCH, false)
            .await
            .unwrap();
        assert_ne!(next, pid);
        assert_eq!(epoch, 0);
        let meta = txns.describe("t").unwrap();
        assert_eq!(
            (meta.previous_producer_id, meta.next_producer_id),
            (pid, -1)
        );
        assert_eq!(meta.client_transaction_version, 2);
        // The retry of that end, still with the old id at the last epoch.
        let retried = txns.end_txn_v2(&broker, "t", pid, LAST_EPOCH, false).await;
        assert_eq!(retried, Ok((next, 0)));
        // A commit with the old id is not a retry of that abort.
        let stale = txns.end_txn_v2(&broker, "t", pid, LAST_EPOCH, true).await;
        assert_eq!(stale, Err(ResponseError::InvalidTxnState.code()));
        // The new id goes on from epoch 0.
        assert_eq!(
            txns.end_txn_v2(&broker, "t", next, 0, false).await,
            Ok((next, 1))
        );
    }
}
