//! Power cuts against a whole broker's storage (metadata log, partition
//! directories and their markers, partition logs) on the storage seam's
//! disk model: the reproduction of "a power cut deletes whole partitions"
//! (with LazyFS: 58,629 of 58,629 acknowledged records deleted over 10 cuts).

use std::sync::Arc;

use crate::broker::Broker;
use crate::cluster::{CommandResult, MetadataCommand};
use crate::config::BrokerConfig;
use crate::log::power_tests::Rng;
use crate::record::test_util::{build_batch, TestRecord};
use crate::record::Compression;
use crate::storage::sim::Disk;

fn values_of(broker: &Broker, topic: &str) -> Option<Vec<Vec<u8>>> {
    let partition = broker.replicas.partition(topic, 0)?;
    let values = partition.with_log(|log| crate::log::power_tests::values(log));
    Some(values.into_iter().map(|(_, v)| v).collect())
}

fn now_ms() -> i64 {
    crate::replica::now_ms()
}

/// One boot: open the broker, check, maybe create the topic, append until
/// the power goes. Returns the acknowledged values after this boot, and
/// whether the topic's creation was acknowledged.
async fn boot(
    config: BrokerConfig,
    disk: &Disk,
    rng: &mut Rng,
    cycle: u64,
    topic: &str,
    mut created: bool,
    mut acked: Vec<Vec<u8>>,
) -> (bool, Vec<Vec<u8>>) {
    let (_tx, rx) = tokio::sync::watch::channel(false);
    let broker: Arc<Broker> = Broker::open(config, rx)
        .await
        .expect("the broker starts after a power cut");
    match values_of(&broker, topic) {
        Some(found) => {
            assert!(
                found.len() >= acked.len() && found[..acked.len()] == acked[..],
                "cycle {cycle}: {} of {} acknowledged records back",
                found.len().min(acked.len()),
                acked.len()
            );
            acked = found;
        }
        None => assert!(!created, "cycle {cycle}: the topic's partition is gone"),
    }
    // Until the topic exists, each boot cuts a few calls later than the one
    // before, so the cuts walk through its creation (metadata record,
    // directory, marker, first segment); after that, anywhere in the appends.
    disk.crash_after_ops(if created {
        1 + rng.below(300)
    } else {
        1 + cycle
    });
    if !created {
        let command = MetadataCommand::CreateTopic {
            name: topic.to_string(),
            topic_id: uuid::Uuid::new_v4(),
            partitions: 1,
            replication_factor: 1,
            configs: Default::default(),
        };
        match broker.propose(command).await {
            Ok(CommandResult::Rejected(_)) => created = true, // it exists from an earlier boot
            Ok(_) => created = true,
            Err(_) => return (created, acked),
        }
    }
    let Some(partition) = broker.replicas.partition(topic, 0) else {
        return (created, acked);
    };
    for n in 0.. {
        let values: Vec<Vec<u8>> = (0..1 + rng.below(10))
            .map(|i| format!("c{cycle}-b{n}-r{i}").into_bytes())
            .collect();
        let records: Vec<TestRecord> = values
            .iter()
            .map(|v| TestRecord::new(Some(b"k"), Some(v), now_ms()))
            .collect();
        let batch = build_batch(Compression::None, &records);
        match partition.with_log(|log| log.append(&batch, 0, now_ms())) {
            Ok(_) => acked.extend(values),
            Err(_) => break,
        }
    }
    (created, acked)
}

#[test]
fn power_cuts_never_delete_a_partition_or_lose_an_acknowledged_record() {
    let root = tempfile::tempdir().unwrap();
    let disk = Disk::mount(root.path());
    let mut config = BrokerConfig::default();
    config.data_dir = disk.root().join("data");
    config.log_defaults.flush_messages = 1;
    config.log_defaults.segment_bytes = 8192;
    let mut rng = Rng(0x2545_f491_4f6c_dd1d);
    let (mut created, mut acked) = (false, Vec::new());
    let mut created_at = None;
    for cycle in 0..12 {
        // A fresh runtime per boot: dropping it stops the old broker's tasks
        // (and closes its files) as a power cut stops the process.
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        let was_created = created;
        (created, acked) = runtime.block_on(boot(
            config.clone(),
            &disk,
            &mut rng,
            cycle,
            "power",
            created,
            std::mem::take(&mut acked),
        ));
        if created && !was_created {
            created_at = Some(cycle);
        }
        disk.power_cut();
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        disk.restart();
    }
    // The last check: one more boot with the power on.
    let runtime = tokio::runtime::Runtime::new().unwrap();
    runtime.block_on(async {
        let (_tx, rx) = tokio::sync::watch::channel(false);
        let broker = Broker::open(config.clone(), rx).await.unwrap();
        let found = values_of(&broker, "power").expect("partition present");
        assert!(found.len() >= acked.len() && found[..acked.len()] == acked[..]);
        broker.close().await;
    });
    eprintln!(
        "broker power cuts: 12, topic created in cycle {created_at:?}, {} acknowledged records, all back",
        acked.len()
    );
    assert!(created_at.is_some(), "the topic was created in some cycle");
    assert!(
        acked.len() > 50,
        "records were acknowledged: {}",
        acked.len()
    );
}

#[test]
fn a_crash_inside_partition_creation_never_blocks_the_next_start() {
    use crate::storage::sim::{Fault, Rule};
    use crate::storage::Op;
    // Crash at each step of creating a partition's directory and marker.
    for (op, path) in [
        (Op::CreateDir, "/data/t-0"),
        (Op::Open, "partition.metadata.tmp"),
        (Op::Sync, "partition.metadata.tmp"),
        (Op::Rename, "partition.metadata"),
        (Op::SyncDir, "/data/t-0"),
        (Op::Open, "00000000000000000000.log"),
    ] {
        let root = tempfile::tempdir().unwrap();
        let disk = Disk::mount(root.path());
        let mut config = BrokerConfig::default();
        config.data_dir = disk.root().join("data");
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let (_tx, rx) = tokio::sync::watch::channel(false);
            let broker = Broker::open(config.clone(), rx).await.unwrap();
            disk.add_rule(Rule::on(op, Fault::Crash).path(path));
            let command = MetadataCommand::CreateTopic {
                name: "t".into(),
                topic_id: uuid::Uuid::new_v4(),
                partitions: 1,
                replication_factor: 1,
                configs: Default::default(),
            };
            assert!(broker.propose(command).await.is_err(), "{op:?} {path}");
        });
        runtime.shutdown_timeout(std::time::Duration::from_secs(5));
        disk.restart();
        let runtime = tokio::runtime::Runtime::new().unwrap();
        runtime.block_on(async {
            let (_tx, rx) = tokio::sync::watch::channel(false);
            let broker = Broker::open(config.clone(), rx)
                .await
                .unwrap_or_else(|e| panic!("start after a crash at {op:?} {path}: {e}"));
            // The creation was committed before the crash: the partition is there, empty.
            assert_eq!(values_of(&broker, "t"), Some(Vec::new()), "{op:?} {path}");
            broker.close().await;
        });
    }
}
