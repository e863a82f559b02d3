//! The consumer side: one librdkafka consumer assigned every partition of a
//! topic at the earliest offset, reading to the high watermark as fast as
//! it can; repeated passes over the backlog until a minimum duration so that
//! short backlogs still give a steady figure.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, Context};
use clap::Args;
use rdkafka::bindings as rdsys;
use rdkafka::config::ClientConfig;
use rdkafka::consumer::{BaseConsumer, Consumer};
use rdkafka::{Offset, TopicPartitionList};
use serde::Serialize;

use crate::procstat;
use crate::produce::{progress_thread, WorkloadResult};

#[derive(Debug, Args)]
pub struct ConsumeArgs {
    /// Topic to read from the beginning.
    #[arg(long)]
    pub topic: String,
    /// Read the backlog again from the beginning until this many seconds have passed.
    #[arg(long, default_value_t = 0.0)]
    pub min_seconds: f64,
    /// At most this many passes over the backlog.
    #[arg(long, default_value_t = 1)]
    pub max_passes: u32,
    /// Give up after this many seconds.
    #[arg(long, default_value_t = 300.0)]
    pub timeout: f64,
    /// Extra librdkafka consumer properties, KEY=VALUE (repeatable).
    #[arg(long = "prop", value_name = "KEY=VALUE")]
    pub props: Vec<String>,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

impl ConsumeArgs {
    pub fn settings(&self) -> ConsumeSettings {
        ConsumeSettings {
            min_seconds: self.min_seconds,
            max_passes: self.max_passes.max(1),
            timeout: self.timeout,
            props: self.props.clone(),
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ConsumeSettings {
    pub min_seconds: f64,
    pub max_passes: u32,
    pub timeout: f64,
    pub props: Vec<String>,
}

pub fn consumer_config(bootstrap: &str, s: &ConsumeSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        // Partitions are assigned by hand; the group id is never used to commit.
        .set("group.id", crate::admin::fresh_topic_name("group"))
        .set("enable.auto.commit", "false")
        .set("enable.auto.offset.store", "false")
        .set("auto.offset.reset", "earliest")
        .set("enable.partition.eof", "false")
        // Large fetches: up to 16 MiB per partition, 64 MiB per response,
        // and up to 256 MiB / 1 M messages prefetched.
        .set("max.partition.fetch.bytes", "16777216")
        .set("fetch.max.bytes", "67108864")
        .set("receive.message.max.bytes", "100000000")
        .set("queued.max.messages.kbytes", "262144")
        .set("queued.min.messages", "1000000")
        .set("fetch.wait.max.ms", "100")
        .set("socket.nagle.disable", "true");
    for p in &s.props {
        if let Some((k, v)) = p.split_once('=') {
            c.set(k, v);
        }
    }
    c
}

pub fn run(
    bootstrap: &str,
    topic: &str,
    s: &ConsumeSettings,
    label: &str,
) -> anyhow::Result<WorkloadResult> {
    let consumer: BaseConsumer = consumer_config(bootstrap, s)
        .create()
        .context("creating consumer")?;
    let parts = crate::admin::partition_count(&consumer, topic)?;
    let mut high = Vec::with_capacity(parts as usize);
    let mut low = Vec::with_capacity(parts as usize);
    for p in 0..parts {
        let (lo, hi) = consumer
            .fetch_watermarks(topic, p, Duration::from_secs(10))
            .with_context(|| format!("watermarks of {topic}/{p}"))?;
        low.push(lo);
        high.push(hi);
    }
    let backlog: i64 = high.iter().zip(&low).map(|(h, l)| h - l).sum();
    if backlog <= 0 {
        return Err(anyhow!("topic {topic} is empty"));
    }
    let mut tpl = TopicPartitionList::new();
    for p in 0..parts {
        tpl.add_partition_offset(topic, p, Offset::Beginning)?;
    }

    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let progress = progress_thread(
        label.to_string(),
        stop.clone(),
        vec![Arc::new(move || (d2.load(Ordering::Relaxed), 0))],
        0,
    );

    let cpu0 = procstat::self_cpu_seconds();
    let t0 = Instant::now();
    let timeout = Duration::from_secs_f64(s.timeout);
    let (mut records, mut bytes, mut errors) = (0u64, 0u64, 0u64);
    let mut passes = 0;
    const BATCH: usize = 8192;
    let mut batch: Vec<*mut rdsys::rd_kafka_message_t> = vec![std::ptr::null_mut(); BATCH];
    // SAFETY: the client outlives the queue reference, released below.
    let queue = unsafe { rdsys::rd_kafka_queue_get_consumer(consumer.client().native_ptr()) };
    if queue.is_null() {
        return Err(anyhow!("no consumer queue"));
    }
    'passes: while passes < s.max_passes {
        consumer.assign(&tpl).context("assign")?;
        passes += 1;
        // Next offset still to be read, per partition.
        let mut next: Vec<i64> = low.clone();
        let mut remaining = parts as usize;
        while remaining > 0 {
            if t0.elapsed() > timeout {
                eprintln!("[{label}] timeout after {:.0} s", s.timeout);
                break 'passes;
            }
            // Up to BATCH messages per call from the consumer queue (one
            // librdkafka call per batch instead of one event per message).
            // SAFETY: `queue` is a live reference to the consumer queue and
            // `batch` has room for BATCH pointers; each returned message is
            // destroyed exactly once below.
            let got = unsafe {
                rdsys::rd_kafka_consume_batch_queue(queue, 100, batch.as_mut_ptr(), BATCH)
            };
            if got < 0 {
                errors += 1;
                continue;
            }
            for &m in &batch[..got as usize] {
                // SAFETY: librdkafka returned a valid message pointer.
                let (err, len, part, offset) =
                    unsafe { ((*m).err, (*m).len, (*m).partition, (*m).offset) };
                unsafe { rdsys::rd_kafka_message_destroy(m) };
                if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR_NO_ERROR {
                    if err != rdsys::rd_kafka_resp_err_t::RD_KAFKA_RESP_ERR__PARTITION_EOF {
                        errors += 1;
                        if errors < 5 {
                            eprintln!("[{label}] consume error: {err:?}");
                        }
                    }
                    continue;
                }
                records += 1;
                bytes += len as u64;
                let p = part as usize;
                if p < next.len() {
                    let was_open = next[p] < high[p];
                    next[p] = offset + 1;
                    if was_open && next[p] >= high[p] {
                        remaining -= 1;
                    }
                }
            }
            done.store(records, Ordering::Relaxed);
        }
        if t0.elapsed().as_secs_f64() >= s.min_seconds {
            break;
        }
    }
    let elapsed = t0.elapsed().as_secs_f64();
    // SAFETY: the reference taken above, released once.
    unsafe { rdsys::rd_kafka_queue_destroy(queue) };
    let client_cpu = procstat::self_cpu_seconds() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let _ = progress.join();
    Ok(WorkloadResult {
        name: label.to_string(),
        kind: "consume".into(),
        topic: topic.to_string(),
        settings: serde_json::json!({
            "partitions": parts,
            "backlog_records": backlog,
            "passes": passes,
            "min_seconds": s.min_seconds,
            "props": s.props,
        }),
        records,
        bytes,
        errors,
        elapsed_s: elapsed,
        records_per_s: records as f64 / elapsed,
        mb_per_s: bytes as f64 / elapsed / 1e6,
        latency: None,
        broker_cpu_s: None,
        broker_cpu_s_per_gb: None,
        client_cpu_s: client_cpu,
        other_cpu_s: None,
    })
}
