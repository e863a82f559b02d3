//! The broker: configuration, the metadata image, partition logs and the
//! fetch-session cache, shared by every connection.

use std::sync::Arc;
use std::time::Duration;

use tokio::sync::watch;

use crate::cluster::meta_properties;
use crate::cluster::{MetadataCommand, MetadataStore};
use crate::config::BrokerConfig;
use crate::group::GroupCoordinator;
use crate::handler::fetch::session::FetchSessionCache;
use crate::replica::ReplicaManager;

/// Everything a request handler may need.
#[derive(Debug)]
pub struct Broker {
    pub config: BrokerConfig,
    pub metadata: MetadataStore,
    pub replicas: ReplicaManager,
    pub fetch_sessions: FetchSessionCache,
    pub groups: GroupCoordinator,
    /// Producer ids for InitProducerId, from blocks allocated through Raft.
    pub producer_ids: crate::txn::producer_ids::ProducerIdManager,
    /// Transactional ids and their transactions (`__transaction_state`).
    pub txns: crate::txn::coordinator::TransactionCoordinator,
    /// Set to true once shutdown starts: long-polling fetches answer at once.
    pub shutting_down: watch::Receiver<bool>,
}

/// Why the broker could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("data directory {path}: {source}")]
    DataDir {
        path: std::path::PathBuf,
        source: std::io::Error,
    },
    #[error("cluster metadata: {0}")]
    Metadata(#[from] crate::cluster::ClusterError),
    #[error("data directory identity: {0}")]
    Identity(#[from] crate::cluster::meta_properties::MetaError),
    #[error("partition logs: {0}")]
    Logs(#[from] crate::replica::ReplicaError),
}

/// Why a metadata change was not (fully) carried out.
#[derive(Debug, thiserror::Error)]
pub enum ProposeError {
    #[error(transparent)]
    Metadata(#[from] crate::cluster::ClusterError),
    /// The change is committed, but this broker could not open (or delete)
    /// the partition logs it implies; retried in the background.
    #[error("the change is committed, but this broker cannot host its partitions yet: {0}")]
    Logs(#[from] crate::replica::ReplicaError),
}

impl Broker {
    /// Opens the metadata store and every partition log under the data dir,
    /// registers this broker, and reconciles logs with the metadata image.
    pub async fn open(
        config: BrokerConfig,
        shutting_down: watch::Receiver<bool>,
    ) -> Result<Arc<Broker>, StartError> {
        crate::storage::create_dir_durable(&config.data_dir).map_err(|source| {
            StartError::DataDir {
                path: config.data_dir.clone(),
                source,
            }
        })?;
        let metadata_dir = config.data_dir.join("__cluster_metadata");
        crate::replica::check_metadata_present(&config.data_dir, &metadata_dir)?;
        let cluster_id = meta_properties::resolve_cluster_id(
            &config.data_dir,
            config.node_id,
            config.cluster_id.as_deref(),
        )?;
        let metadata = MetadataStore::open(&metadata_dir, config.node_id, cluster_id).await?;
        let image = metadata.image();
        meta_properties::ensure_written(&config.data_dir, config.node_id, &image.cluster_id)?;
        let advertised = &config.advertised_listeners[0];
        let registered = image.brokers.get(&config.node_id);
        let needs_registration = registered.map_or(true, |b| {
            b.host != advertised.host || b.port != i32::from(advertised.port)
        });
        if needs_registration {
            metadata
                .propose(MetadataCommand::RegisterBroker {
                    node_id: config.node_id,
                    host: advertised.host.clone(),
                    port: i32::from(advertised.port),
                    rack: None,
                })
                .await?;
        }
        let replicas = ReplicaManager::new(config.data_dir.clone(), config.log_defaults.clone());
        let image = metadata.image();
        replicas.sweep_partition_dirs(&image)?;
        {
            let partitions = image.topics.values().map(|t| t.partitions.len()).sum();
            let _progress = crate::log::progress::RecoveryReporter::start(partitions);
            replicas.reconcile(&image)?;
        }
        let config_groups = config.groups.clone();
        let config_txn = config.txn.clone();
        let fetch_sessions =
            FetchSessionCache::new(config.max_incremental_fetch_session_cache_slots);
        Ok(Arc::new(Broker {
            config,
            metadata,
            replicas,
            fetch_sessions,
            groups: GroupCoordinator::new(config_groups),
            producer_ids: Default::default(),
            txns: crate::txn::coordinator::TransactionCoordinator::new(config_txn),
            shutting_down,
        }))
    }

    /// Proposes a metadata change and brings the partition logs in line with
    /// the resulting image before returning, so a request that created a
    /// topic can be followed at once by a produce to it.
    pub async fn propose(
        &self,
        command: MetadataCommand,
    ) -> Result<crate::cluster::CommandResult, ProposeError> {
        let result = self.metadata.propose(command).await?;
        if let Err(e) = self.replicas.reconcile(&self.metadata.image()) {
            tracing::error!(error = %e, "cannot apply metadata change to partition logs");
            return Err(e.into());
        }
        Ok(result)
    }

    /// Background upkeep: retention, segment.ms rolls and the flush.ms policy,
    /// plus reconciling logs with metadata changes made elsewhere.
    pub fn spawn_background(self: &Arc<Self>) {
        GroupCoordinator::start(self);
        crate::txn::coordinator::TransactionCoordinator::start(self);
        let broker = self.clone();
        let retention_every = Duration::from_millis(broker.config.log_retention_check_interval_ms);
        let flush_every = Duration::from_millis(broker.config.log_flush_scheduler_interval_ms);
        let mut stop = broker.shutting_down.clone();
        tokio::spawn(async move {
            let mut retention = tokio::time::interval(retention_every);
            let mut cleaner =
                tokio::time::interval(Duration::from_millis(broker.config.log_cleaner_backoff_ms));
            let mut flush = tokio::time::interval(flush_every);
            let mut image = broker.metadata.subscribe();
            loop {
                tokio::select! {
                    _ = retention.tick() => {
                        let b = broker.clone();
                        let _ = tokio::task::spawn_blocking(move || b.replicas.apply_retention()).await;
                    }
                    _ = cleaner.tick(), if broker.config.log_cleaner_enable => {
                        let b = broker.clone();
                        let _ = tokio::task::spawn_blocking(move || b.replicas.clean_compacted()).await;
                    }
                    _ = flush.tick() => {
                        if broker.replicas.reconcile_failed() {
                            let current = broker.metadata.image();
                            if let Err(e) = broker.replicas.reconcile(&current) {
                                tracing::error!(error = %e, "cannot apply metadata change to partition logs (retrying)");
                            }
                        }
                        let b = broker.clone();
                        let _ = tokio::task::spawn_blocking(move || b.replicas.periodic_flush()).await;
                    }
                    changed = image.changed() => {
                        if changed.is_err() { return; }
                        let current = image.borrow_and_update().clone();
                        if let Err(e) = broker.replicas.reconcile(&current) {
                            tracing::error!(error = %e, "cannot apply metadata change to partition logs");
                        }
                    }
                    _ = stop.changed() => return,
                }
            }
        });
    }

    /// Flushes and closes every log, then stops the metadata store.
    pub async fn close(&self) {
        self.replicas.close_all();
        if let Err(e) = self.metadata.shutdown().await {
            tracing::warn!(error = %e, "metadata store shutdown");
        }
    }
}
