//! End-to-end tests of `MetadataStore` over real files, plus openraft's
//! storage conformance suite.

use std::collections::BTreeMap;
use std::fs::{self, OpenOptions};
use std::io::Write;
use std::path::Path;
use std::time::Duration;

use uuid::Uuid;

use super::log_store::{LogStore, LOG_FILE};
use super::state_machine::StateMachineStore;
use super::*;

const NODE: i32 = 1;

async fn open(dir: &Path) -> MetadataStore {
    MetadataStore::open(dir, NODE, None).await.expect("open")
}

async fn register(store: &MetadataStore) {
    let res = store
        .propose(MetadataCommand::RegisterBroker {
            node_id: NODE,
            host: "localhost".into(),
            port: 9092,
            rack: None,
        })
        .await
        .expect("register");
    assert_eq!(res, CommandResult::Ok);
}

async fn create(store: &MetadataStore, name: &str, partitions: i32) -> CommandResult {
    store
        .propose(MetadataCommand::CreateTopic {
            name: name.into(),
            topic_id: Uuid::new_v4(),
            partitions,
            replication_factor: 1,
            configs: BTreeMap::new(),
        })
        .await
        .expect("propose")
}

fn created_id(res: &CommandResult) -> Uuid {
    match res {
        CommandResult::TopicCreated { topic_id, .. } => *topic_id,
        other => panic!("expected TopicCreated, got {other:?}"),
    }
}

#[tokio::test]
async fn first_start_sets_cluster_id_and_controller() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    println!("open (first start): {:?}", store.open_duration());
    let img = store.image();
    assert_eq!(img.cluster_id.len(), 22, "{}", img.cluster_id);
    assert!(img
        .cluster_id
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'));
    assert_eq!(img.controller_id, NODE);
    assert!(img.last_applied_index > 0);
    let clone = store.clone();
    store.shutdown().await.expect("shutdown");
    store.shutdown().await.expect("second shutdown is a no-op");
    // Clones see the shutdown; the last image stays readable.
    let err = clone
        .propose(MetadataCommand::SetClusterId {
            cluster_id: "x".into(),
        })
        .await
        .expect_err("propose after shutdown fails");
    assert!(matches!(err, ClusterError::ShutDown), "{err}");
    assert_eq!(clone.image().cluster_id, img.cluster_id);
}

#[tokio::test]
async fn topics_lifecycle_updates_image() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let mut sub = store.subscribe();
    sub.borrow_and_update();
    register(&store).await;
    assert!(sub.has_changed().expect("sender alive"));

    let res = create(&store, "orders", 3).await;
    let id = created_id(&res);
    let img = store.image();
    let t = img.topic("orders").expect("topic in image");
    assert_eq!(t.topic_id, id);
    assert_eq!(t.partitions.len(), 3);
    assert!(t
        .partitions
        .iter()
        .all(|p| p.leader_id == NODE && p.replicas == vec![NODE]));
    assert_eq!(
        img.topic_by_id(&id).map(|t| t.name.as_str()),
        Some("orders")
    );

    // Duplicate name is rejected, image unchanged.
    let before = store.image();
    let dup = create(&store, "orders", 1).await;
    assert!(matches!(
        dup,
        CommandResult::Rejected(MetadataRejection::TopicAlreadyExists { .. })
    ));
    let after = store.image();
    assert_eq!(after.topics, before.topics);

    // Configs.
    let res = store
        .propose(MetadataCommand::AlterTopicConfigs {
            topic_id: id,
            set: [("retention.ms".to_string(), "1000".to_string())].into(),
            delete: vec![],
        })
        .await
        .expect("alter");
    assert_eq!(res, CommandResult::Ok);
    assert_eq!(
        store
            .image()
            .topic("orders")
            .and_then(|t| t.configs.get("retention.ms").cloned()),
        Some("1000".to_string())
    );

    // Partitions.
    let res = store
        .propose(MetadataCommand::CreatePartitions {
            topic_id: id,
            total_count: 5,
        })
        .await
        .expect("create partitions");
    assert_eq!(res, CommandResult::Ok);
    assert_eq!(
        store.image().topic("orders").map(|t| t.partitions.len()),
        Some(5)
    );

    // Delete by id.
    let res = store
        .propose(MetadataCommand::DeleteTopic { topic_id: id })
        .await
        .expect("delete");
    assert_eq!(
        res,
        CommandResult::TopicDeleted {
            name: "orders".into(),
            topic_id: id
        }
    );
    assert!(store.image().topic_by_id(&id).is_none());
    let res = store
        .propose(MetadataCommand::DeleteTopic { topic_id: id })
        .await
        .expect("delete again");
    assert!(matches!(
        res,
        CommandResult::Rejected(MetadataRejection::UnknownTopicId { .. })
    ));
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn restart_preserves_state_and_cluster_id() {
    let dir = tempfile::tempdir().expect("tempdir");
    let (cluster_id, ids, applied) = {
        let store = MetadataStore::open(dir.path(), NODE, Some("my-cluster".into()))
            .await
            .expect("open");
        register(&store).await;
        let a = created_id(&create(&store, "a", 1).await);
        let b = created_id(&create(&store, "__consumer_offsets", 50).await);
        let img = store.image();
        store.shutdown().await.expect("shutdown");
        (img.cluster_id.clone(), vec![a, b], img.last_applied_index)
    };
    assert_eq!(cluster_id, "my-cluster");

    let store = open(dir.path()).await;
    println!("open (restart): {:?}", store.open_duration());
    let img = store.image();
    assert_eq!(img.cluster_id, "my-cluster");
    assert_eq!(img.controller_id, NODE);
    assert!(img.last_applied_index >= applied);
    assert_eq!(img.topic_by_id(&ids[0]).map(|t| t.name.as_str()), Some("a"));
    let offsets = img.topic_by_id(&ids[1]).expect("internal topic");
    assert!(offsets.internal);
    assert_eq!(offsets.partitions.len(), 50);
    assert!(img.brokers.contains_key(&NODE));
    // Still writable after restart.
    created_id(&create(&store, "c", 1).await);
    store.shutdown().await.expect("shutdown");

    // A different configured cluster id is refused.
    let err = MetadataStore::open(dir.path(), NODE, Some("other".into()))
        .await
        .expect_err("mismatch must fail");
    assert!(
        matches!(err, ClusterError::ClusterIdMismatch { .. }),
        "{err}"
    );

    // And the failed open released the lock.
    let store = MetadataStore::open(dir.path(), NODE, Some("my-cluster".into()))
        .await
        .expect("reopen with matching id");
    assert_eq!(store.image().topics.len(), 3);
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn second_open_of_same_dir_is_refused() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let err = MetadataStore::open(dir.path(), NODE, None)
        .await
        .expect_err("locked");
    assert!(matches!(err, ClusterError::Locked(_)), "{err}");
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn reopen_after_snapshot_and_purge() {
    let dir = tempfile::tempdir().expect("tempdir");
    let opts = MetadataOptions {
        snapshot_every: 10,
        ..Default::default()
    };
    let mut ids = Vec::new();
    {
        let store = MetadataStore::open_with_options(dir.path(), NODE, None, opts.clone())
            .await
            .expect("open");
        register(&store).await;
        for i in 0..25 {
            ids.push(created_id(&create(&store, &format!("t{i}"), 1).await));
        }
        // Policy-driven snapshots happened along the way; force a final one
        // covering everything so the log is empty after purge.
        store
            .snapshot_now(Duration::from_secs(10))
            .await
            .expect("snapshot");
        let m = store.raft_metrics();
        assert!(m.snapshot.is_some());
        assert_eq!(m.purged, m.last_applied);
        // One more entry after the snapshot, to be replayed from the log.
        ids.push(created_id(&create(&store, "after", 2).await));
        store.shutdown().await.expect("shutdown");
    }
    assert!(dir.path().join("snapshot.json").exists());

    let store = MetadataStore::open_with_options(dir.path(), NODE, None, opts)
        .await
        .expect("reopen");
    println!(
        "open (restart from snapshot + log tail): {:?}",
        store.open_duration()
    );
    let img = store.image();
    assert_eq!(img.topics.len(), 26);
    for id in &ids {
        assert!(img.topic_by_id(id).is_some(), "topic {id} lost");
    }
    assert_eq!(img.topic("after").map(|t| t.partitions.len()), Some(2));
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn torn_log_tail_is_dropped_on_reopen() {
    let dir = tempfile::tempdir().expect("tempdir");
    let id = {
        let store = open(dir.path()).await;
        register(&store).await;
        let id = created_id(&create(&store, "kept", 1).await);
        store.shutdown().await.expect("shutdown");
        id
    };
    // Crash mid-append: a header promising 100 bytes followed by 10 garbage
    // bytes.
    let path = dir.path().join(LOG_FILE);
    let good_len = fs::metadata(&path).expect("meta").len();
    {
        let mut f = OpenOptions::new()
            .append(true)
            .open(&path)
            .expect("open log");
        let mut torn = Vec::new();
        torn.extend_from_slice(&100u32.to_le_bytes());
        torn.extend_from_slice(&0xdead_beefu32.to_le_bytes());
        torn.extend_from_slice(&[0x7b; 10]);
        f.write_all(&torn).expect("write torn tail");
    }
    let store = open(dir.path()).await;
    assert!(store.image().topic_by_id(&id).is_some());
    // The torn bytes were cut before the new term's entries were appended.
    let data = fs::read(&path).expect("read log");
    assert!(data.len() as u64 >= good_len);
    assert_ne!(
        data.get(good_len as usize..good_len as usize + 4),
        Some(&100u32.to_le_bytes()[..])
    );
    created_id(&create(&store, "new", 1).await);
    store.shutdown().await.expect("shutdown");

    let store = open(dir.path()).await;
    assert_eq!(store.image().topics.len(), 2);
    store.shutdown().await.expect("shutdown");
}

#[tokio::test]
async fn producer_id_blocks_never_overlap_across_restarts() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut blocks: Vec<(i64, i64)> = Vec::new();
    for round in 0..3 {
        let opts = MetadataOptions {
            // Make the second round restart from a snapshot.
            snapshot_every: if round == 1 { 2 } else { 1000 },
            ..Default::default()
        };
        let store = MetadataStore::open_with_options(dir.path(), NODE, None, opts)
            .await
            .expect("open");
        for _ in 0..5 {
            match store
                .propose(MetadataCommand::AllocateProducerIds {
                    node_id: NODE,
                    block_size: 1000,
                })
                .await
                .expect("alloc")
            {
                CommandResult::ProducerIdBlock { first, size } => blocks.push((first, size)),
                other => panic!("unexpected {other:?}"),
            }
        }
        store.shutdown().await.expect("shutdown");
    }
    blocks.sort();
    for w in blocks.windows(2) {
        assert!(w[0].0 + w[0].1 <= w[1].0, "overlap: {w:?}");
    }
    assert_eq!(blocks.len(), 15);
}

#[tokio::test]
async fn open_time_first_start_and_restart() {
    let dir = tempfile::tempdir().expect("tempdir");
    let store = open(dir.path()).await;
    let first = store.open_duration();
    register(&store).await;
    for i in 0..20 {
        create(&store, &format!("t{i}"), 4).await;
    }
    store.shutdown().await.expect("shutdown");
    let mut restarts = Vec::new();
    for _ in 0..3 {
        let store = open(dir.path()).await;
        restarts.push(store.open_duration());
        store.shutdown().await.expect("shutdown");
    }
    println!("open time: first start {first:?}, restarts {restarts:?}");
}

#[test]
fn cluster_id_encoding() {
    // RFC 4648 test vectors, unpadded url-safe alphabet.
    assert_eq!(super::base64url_nopad(b"f"), "Zg");
    assert_eq!(super::base64url_nopad(b"fo"), "Zm8");
    assert_eq!(super::base64url_nopad(b"foo"), "Zm9v");
    assert_eq!(super::base64url_nopad(&[0xfb, 0xff]), "-_8");
    assert_eq!(random_cluster_id().len(), 22);
}

struct SuiteBuilder;

impl openraft::testing::StoreBuilder<TypeConfig, LogStore, StateMachineStore, tempfile::TempDir>
    for SuiteBuilder
{
    async fn build(
        &self,
    ) -> Result<(tempfile::TempDir, LogStore, StateMachineStore), openraft::StorageError<u64>> {
        let dir = tempfile::tempdir().map_err(|e| openraft::StorageIOError::write(&e))?;
        let io = |e: ClusterError| openraft::StorageIOError::write(&e);
        let log = LogStore::open(dir.path()).map_err(io)?;
        let sm = StateMachineStore::open(dir.path()).map_err(io)?;
        Ok((dir, log, sm))
    }
}

/// openraft's storage conformance suite against the real file-backed stores.
/// It builds its own runtimes, so this is a plain #[test].
#[test]
fn openraft_storage_suite() {
    openraft::testing::Suite::test_all(SuiteBuilder).expect("storage suite");
}
