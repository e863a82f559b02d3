//! Topic creation and deletion through librdkafka's admin API.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use anyhow::{anyhow, Context};
use rdkafka::admin::{AdminClient, AdminOptions, NewTopic, TopicReplication};
use rdkafka::client::DefaultClientContext;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::types::RDKafkaErrorCode;

static SEQ: AtomicU32 = AtomicU32::new(0);

/// A topic name nobody used before: prefix, pid, wall-clock millis, sequence.
pub fn fresh_topic_name(prefix: &str) -> String {
    let ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis())
        .unwrap_or(0);
    let n = SEQ.fetch_add(1, Ordering::Relaxed);
    format!("load-{prefix}-{}-{ms}-{n}", std::process::id())
}

fn admin(bootstrap: &str) -> anyhow::Result<AdminClient<DefaultClientContext>> {
    ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating the admin client")
}

fn opts() -> AdminOptions {
    AdminOptions::new()
        .operation_timeout(Some(Duration::from_secs(15)))
        .request_timeout(Some(Duration::from_secs(15)))
}

/// Deletes `topic` if it exists, then creates it with `partitions`
/// partitions and replication factor 1, and waits until its metadata
/// shows every partition with a leader.
pub fn recreate_topic(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let admin = admin(bootstrap)?;
    let _ = futures_executor::block_on(admin.delete_topics(&[topic], &opts()));
    let new = NewTopic::new(topic, partitions, TopicReplication::Fixed(1));
    let results = futures_executor::block_on(admin.create_topics(&[new], &opts()))
        .context("CreateTopics request")?;
    for r in results {
        match r {
            Ok(_) => {}
            Err((_, RDKafkaErrorCode::TopicAlreadyExists)) => {}
            Err((name, code)) => return Err(anyhow!("creating topic {name}: {code}")),
        }
    }
    wait_for_leaders(bootstrap, topic, partitions)
}

/// Best-effort deletion (frees the peer's memory and gregor's disk between workloads).
pub fn delete_topic(bootstrap: &str, topic: &str) {
    if let Ok(admin) = admin(bootstrap) {
        let _ = futures_executor::block_on(admin.delete_topics(&[topic], &opts()));
    }
}

fn wait_for_leaders(bootstrap: &str, topic: &str, partitions: i32) -> anyhow::Result<()> {
    let consumer: BaseConsumer = ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .set("allow.auto.create.topics", "false")
        .create()?;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        if let Ok(md) = consumer.fetch_metadata(Some(topic), Duration::from_secs(5)) {
            if let Some(t) = md.topics().iter().find(|t| t.name() == topic) {
                let ready = t.error().is_none()
                    && t.partitions().len() == partitions as usize
                    && t.partitions().iter().all(|p| p.leader() >= 0);
                if ready {
                    return Ok(());
                }
            }
        }
        if std::time::Instant::now() > deadline {
            return Err(anyhow!(
                "topic {topic}: partitions have no leader after 20 s"
            ));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Partition count of `topic` as the broker reports it.
pub fn partition_count(consumer: &BaseConsumer, topic: &str) -> anyhow::Result<i32> {
    let md = consumer
        .fetch_metadata(Some(topic), Duration::from_secs(10))
        .context("metadata")?;
    let t = md
        .topics()
        .iter()
        .find(|t| t.name() == topic)
        .ok_or_else(|| anyhow!("topic {topic} not in metadata"))?;
    if let Some(e) = t.error() {
        return Err(anyhow!("topic {topic}: {e:?}"));
    }
    Ok(t.partitions().len() as i32)
}

/// Partition count of `topic`, asked through a short-lived consumer.
pub fn topic_partitions(bootstrap: &str, topic: &str) -> anyhow::Result<i32> {
    let consumer: BaseConsumer = rdkafka::config::ClientConfig::new()
        .set("bootstrap.servers", bootstrap)
        .create()
        .context("creating metadata consumer")?;
    partition_count(&consumer, topic)
}
