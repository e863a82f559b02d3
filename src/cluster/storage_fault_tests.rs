//! Storage faults under the metadata log, injected through the storage seam:
//! transient errors are retried until they clear; anything else stops the
//! Raft core, and `wait_fatal` says so (the broker then exits loudly rather
//! than serving with a metadata log that can no longer change).

use std::time::Duration;

use nix::errno::Errno;
use uuid::Uuid;

use super::*;
use crate::storage::sim::{Disk, Fault, Rule};
use crate::storage::Op;

async fn create(store: &MetadataStore, name: &str) -> Result<CommandResult, ClusterError> {
    store
        .propose(MetadataCommand::CreateTopic {
            name: name.into(),
            topic_id: Uuid::new_v4(),
            partitions: 1,
            replication_factor: 1,
            configs: Default::default(),
        })
        .await
}

/// Opens the store and registers broker 1 (topics need a broker to live on).
async fn open(dir: &std::path::Path) -> Result<MetadataStore, ClusterError> {
    let store = MetadataStore::open(dir, 1, None).await?;
    if store.image().brokers.is_empty() {
        store
            .propose(MetadataCommand::RegisterBroker {
                node_id: 1,
                host: "localhost".into(),
                port: 9092,
                rack: None,
            })
            .await?;
    }
    Ok(store)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn transient_write_errors_are_retried_until_they_clear() {
    let root = tempfile::tempdir().unwrap();
    let disk = Disk::mount(root.path());
    let dir = disk.root().join("meta");
    let store = open(&dir).await.unwrap();
    for errno in [Errno::ENOSPC, Errno::EMFILE] {
        disk.add_rule(
            Rule::on(Op::Write, Fault::Errno(errno))
                .path("raft.log")
                .times(5),
        );
        let name = format!("retried-{errno:?}");
        let result = tokio::time::timeout(Duration::from_secs(20), create(&store, &name))
            .await
            .expect("a retried write finishes once the error clears");
        assert!(matches!(
            result.unwrap(),
            CommandResult::TopicCreated { .. }
        ));
        assert!(store.image().topics.contains_key(&name));
    }
    // The entries are really in the log: a reopen sees them.
    store.shutdown().await.unwrap();
    let store = open(&dir).await.unwrap();
    assert!(store.image().topics.contains_key("retried-ENOSPC"));
    assert!(store.image().topics.contains_key("retried-EMFILE"));
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_fsync_stops_the_core_and_is_reported() {
    let root = tempfile::tempdir().unwrap();
    let disk = Disk::mount(root.path());
    let dir = disk.root().join("meta");
    let store = open(&dir).await.unwrap();
    // EIO from fsync is never retried: the kernel may have dropped the pages.
    disk.add_rule(
        Rule::on(Op::Sync, Fault::Errno(Errno::EIO))
            .path("raft.log")
            .times(u64::MAX),
    );
    assert!(create(&store, "lost").await.is_err());
    let reason = tokio::time::timeout(Duration::from_secs(10), store.wait_fatal())
        .await
        .expect("the failure is reported");
    assert!(!reason.is_empty());
    assert!(!store.image().topics.contains_key("lost"));
    let _ = store.shutdown().await;
    // After the disk recovers, the store opens again with what was durable.
    disk.clear_faults();
    let store = open(&dir).await.unwrap();
    assert!(!store.image().topics.contains_key("lost"));
    assert!(matches!(
        create(&store, "after").await.unwrap(),
        CommandResult::TopicCreated { .. }
    ));
    store.shutdown().await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_power_cut_mid_proposal_keeps_every_acknowledged_topic() {
    let root = tempfile::tempdir().unwrap();
    let disk = Disk::mount(root.path());
    let dir = disk.root().join("meta");
    let mut acknowledged = Vec::new();
    for round in 0..6u64 {
        // The cut can land in open's own writes (the broker registration); that
        // start fails and the next one goes on from what was durable.
        let Ok(store) = open(&dir).await else {
            disk.restart();
            continue;
        };
        for name in &acknowledged {
            assert!(
                store.image().topics.contains_key(name),
                "round {round}: {name} lost"
            );
        }
        disk.crash_after_ops(5 + round * 7);
        for i in 0.. {
            let name = format!("r{round}-t{i}");
            match create(&store, &name).await {
                Ok(CommandResult::TopicCreated { .. }) => acknowledged.push(name),
                _ => break,
            }
        }
        let _ = store.shutdown().await;
        drop(store);
        disk.restart();
    }
    assert!(acknowledged.len() >= 6, "{acknowledged:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_call_failing_once_never_panics_the_store() {
    // Each run fails a different call once (skip = n): open must either
    // succeed or return an error, and proposals must answer.
    for n in 0..40 {
        let root = tempfile::tempdir().unwrap();
        let disk = Disk::mount(root.path());
        let dir = disk.root().join("meta");
        disk.add_rule(Rule::any(Fault::Errno(Errno::EIO)).skip(n));
        if let Ok(store) = open(&dir).await {
            let _ = tokio::time::timeout(Duration::from_secs(5), create(&store, "x")).await;
            let _ = store.shutdown().await;
        }
    }
}
