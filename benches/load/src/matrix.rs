//! The benchmark matrix: a base case (100 B records, acks=1, one partition,
//! no compression, one producer) and one variation along each axis, 1 KiB
//! and 64 KiB produce, consumption of the 100 B and 64 KiB backlogs from the
//! beginning, and produce latency at half of the base case's peak rate
//! (with the linger.ms=5, and with linger.ms=1).

use std::path::PathBuf;
use std::time::Duration;

use clap::Args;
use serde::Serialize;

use crate::consume::{self, ConsumeSettings};
use crate::produce::{self, ProduceSettings, WorkloadResult};
use crate::{admin, procstat, raw};

/// Requests in flight of the raw producer.
const RAW_IN_FLIGHT: usize = 5;

#[derive(Debug, Args)]
pub struct MatrixArgs {
    /// Name of the broker under test in the results ("gregor", "tansu", ...).
    #[arg(long, default_value = "broker")]
    pub label: String,
    /// The broker's pid, to read its CPU time from /proc/PID/stat.
    #[arg(long)]
    pub broker_pid: Option<u32>,
    /// Time bound of each produce workload, seconds.
    #[arg(long, default_value_t = 6.0)]
    pub produce_seconds: f64,
    /// Minimum duration of each consume workload (the backlog is re-read), seconds.
    #[arg(long, default_value_t = 5.0)]
    pub consume_seconds: f64,
    /// Only run workloads whose name contains one of these (comma-separated).
    #[arg(long)]
    pub only: Option<String>,
    /// Write the JSON results here (rewritten after every workload).
    #[arg(long)]
    pub out: PathBuf,
    /// Top up this sparse warm file (see `gregor-load warm`) before every
    /// workload, outside its measured time: pages freed by the previous
    /// workload (deleted topics, the client's buffers) go back to the host
    /// of this VM within a minute and would be cold again for the next one.
    #[arg(long)]
    pub warm_file: Option<PathBuf>,
}

#[derive(Debug, Serialize)]
struct MatrixResult {
    label: String,
    bootstrap: String,
    broker_pid: Option<u32>,
    client: serde_json::Value,
    workloads: Vec<WorkloadResult>,
    failures: Vec<(String, String)>,
}

fn base() -> ProduceSettings {
    ProduceSettings {
        record_size: 100,
        records: 50_000_000,
        seconds: None,
        partitions: 1,
        acks: "1".into(),
        compression: "none".into(),
        producers: 1,
        rate: None,
        props: vec![],
        copy_payload: false,
    }
}

struct Runner<'a> {
    bootstrap: &'a str,
    args: &'a MatrixArgs,
    out: MatrixResult,
}

impl Runner<'_> {
    fn wanted(&self, name: &str) -> bool {
        match &self.args.only {
            None => true,
            Some(list) => list.split(',').any(|w| !w.is_empty() && name.contains(w)),
        }
    }

    fn save(&self) {
        if let Ok(json) = serde_json::to_string_pretty(&self.out) {
            let _ = std::fs::write(&self.args.out, json);
        }
    }

    /// Tops up the warm file (if any), then runs `f` with the broker's CPU
    /// time read around it.
    fn measured(
        &mut self,
        name: &str,
        f: impl FnOnce() -> anyhow::Result<WorkloadResult>,
    ) -> Option<WorkloadResult> {
        if let Some(path) = &self.args.warm_file {
            if let Err(e) = crate::ceilings::warm(path) {
                eprintln!("[{name}] warm file: {e:#}");
            }
        }
        let pid = self.args.broker_pid;
        let cpu0 = pid.and_then(procstat::cpu_seconds);
        let busy0 = procstat::machine_busy_seconds();
        let res = f();
        let cpu1 = pid.and_then(procstat::cpu_seconds);
        let busy1 = procstat::machine_busy_seconds();
        match res {
            Ok(mut r) => {
                if let (Some(a), Some(b)) = (busy0, busy1) {
                    let broker = match (cpu0, cpu1) {
                        (Some(x), Some(y)) => y - x,
                        _ => 0.0,
                    };
                    r.other_cpu_s = Some((b - a - broker - r.client_cpu_s).max(0.0));
                }
                if let (Some(a), Some(b)) = (cpu0, cpu1) {
                    r.broker_cpu_s = Some(b - a);
                    if r.bytes > 0 {
                        r.broker_cpu_s_per_gb = Some((b - a) / (r.bytes as f64 / 1e9));
                    }
                }
                println!("{}", r.summary_line());
                self.out.workloads.push(r.clone());
                self.save();
                Some(r)
            }
            Err(e) => {
                eprintln!("[{name}] FAILED: {e:#}");
                self.out.failures.push((name.to_string(), format!("{e:#}")));
                self.save();
                None
            }
        }
    }

    /// Produce workload on a fresh topic; returns the result and the topic.
    fn produce(
        &mut self,
        name: &str,
        s: ProduceSettings,
        keep: bool,
    ) -> Option<(WorkloadResult, String)> {
        if !self.wanted(name) {
            return None;
        }
        let topic = admin::fresh_topic_name(name);
        if let Err(e) = admin::recreate_topic(self.bootstrap, &topic, s.partitions) {
            eprintln!("[{name}] topic: {e:#}");
            self.out
                .failures
                .push((name.to_string(), format!("creating topic: {e:#}")));
            return None;
        }
        let bootstrap = self.bootstrap.to_string();
        let t = topic.clone();
        let r = self.measured(name, || produce::run(&bootstrap, &t, &s, name));
        if !keep {
            admin::delete_topic(self.bootstrap, &topic);
        }
        std::thread::sleep(Duration::from_millis(500));
        r.map(|r| (r, topic))
    }

    /// Raw-engine produce (src/raw.rs) to a fresh topic, deleted afterwards.
    fn raw_produce(&mut self, name: &str, record_size: usize) {
        if !self.wanted(name) {
            return;
        }
        let topic = admin::fresh_topic_name(name);
        if let Err(e) = admin::recreate_topic(self.bootstrap, &topic, 1) {
            self.out
                .failures
                .push((name.to_string(), format!("creating topic: {e:#}")));
            return;
        }
        let s = raw::RawProduce {
            record_size,
            seconds: self.args.produce_seconds,
            partitions: 1,
            acks: 1,
            in_flight: RAW_IN_FLIGHT,
        };
        let bootstrap = self.bootstrap.to_string();
        let t = topic.clone();
        self.measured(name, || raw::produce(&bootstrap, &t, &s, name));
        admin::delete_topic(self.bootstrap, &topic);
        std::thread::sleep(Duration::from_millis(500));
    }

    /// Raw-engine read of a backlog written with `record_size` records.
    fn raw_consume(&mut self, name: &str, topic: &str, record_size: usize) {
        if !self.wanted(name) {
            return;
        }
        let s = raw::RawConsume {
            record_size,
            min_seconds: self.args.consume_seconds,
            max_passes: 200,
            fetch_bytes: raw::FETCH_BYTES,
        };
        let bootstrap = self.bootstrap.to_string();
        self.measured(name, || {
            let parts = admin::topic_partitions(&bootstrap, topic)?;
            raw::consume(&bootstrap, topic, parts, &s, name)
        });
        std::thread::sleep(Duration::from_millis(500));
    }

    fn consume(&mut self, name: &str, topic: &str) {
        if !self.wanted(name) {
            return;
        }
        let s = ConsumeSettings {
            min_seconds: self.args.consume_seconds,
            max_passes: 50,
            timeout: 120.0,
            props: vec![],
        };
        let bootstrap = self.bootstrap.to_string();
        self.measured(name, || consume::run(&bootstrap, topic, &s, name));
        std::thread::sleep(Duration::from_millis(500));
    }
}

pub fn run(bootstrap: &str, args: &MatrixArgs) -> anyhow::Result<()> {
    let secs = Some(args.produce_seconds);
    let client = serde_json::json!({
        "library": "librdkafka (bundled, rdkafka crate)",
        "librdkafka_version": rdkafka::util::get_rdkafka_version().1,
        "producer": {
            "linger.ms": 5, "batch.size": 1000000, "batch.num.messages": 1000000,
            "queue.buffering.max.messages": 500000, "queue.buffering.max.kbytes": 65536,
            "enable.idempotence": false, "socket.nagle.disable": true,
            "partitioning": "explicit, round-robin per record",
            "send": "rd_kafka_produce with a topic handle, payload referenced in place (no RD_KAFKA_MSG_F_COPY)",
            "payload": "random upper-case letters, no key",
            "latency_sample": format!("1 in {} records, produce() to delivery report", produce::LATENCY_SAMPLE)
        },
        "consumer": {
            "max.partition.fetch.bytes": 16777216, "fetch.max.bytes": 67108864,
            "queued.max.messages.kbytes": 262144, "queued.min.messages": 1000000,
            "fetch.wait.max.ms": 100, "assignment": "manual, all partitions from the beginning"
        },
        "raw_engine": {
            "what": "Produce v7 / Fetch v4 without a client library (benches/load/src/raw.rs), for the broker's own limit",
            "produce": format!("batches of ~{} B built once, timestamps and CRC-32C renewed per send, {} requests in flight, acks=1", raw::BATCH_BYTES, RAW_IN_FLIGHT),
            "consume": "one Fetch in flight, 16 MiB per partition, 64 KiB reads, batch headers parsed only",
        },
        "produce_seconds": args.produce_seconds,
        "consume_min_seconds": args.consume_seconds,
    });
    let mut r = Runner {
        bootstrap,
        args,
        out: MatrixResult {
            label: args.label.clone(),
            bootstrap: bootstrap.to_string(),
            broker_pid: args.broker_pid,
            client,
            workloads: vec![],
            failures: vec![],
        },
    };

    // Base case; its topic is the 100 B backlog for the consumer.
    let wanted_consume = r.wanted("consume-100b");
    let base_res = r.produce(
        "produce-100b-base",
        ProduceSettings {
            seconds: secs,
            ..base()
        },
        wanted_consume,
    );
    let peak = base_res.as_ref().map(|(res, _)| res.records_per_s);
    if let Some((_, topic)) = &base_res {
        r.consume("consume-100b", topic);
        r.raw_consume("consume-100b-raw", topic, 100);
        admin::delete_topic(bootstrap, topic);
    }

    r.produce(
        "produce-100b-acks-all",
        ProduceSettings {
            seconds: secs,
            acks: "all".into(),
            ..base()
        },
        false,
    );
    r.produce(
        "produce-100b-8-partitions",
        ProduceSettings {
            seconds: secs,
            partitions: 8,
            ..base()
        },
        false,
    );
    r.produce(
        "produce-100b-lz4",
        ProduceSettings {
            seconds: secs,
            compression: "lz4".into(),
            ..base()
        },
        false,
    );
    r.produce(
        "produce-100b-zstd",
        ProduceSettings {
            seconds: secs,
            compression: "zstd".into(),
            ..base()
        },
        false,
    );
    r.produce(
        "produce-100b-4-producers",
        ProduceSettings {
            seconds: secs,
            producers: 4,
            ..base()
        },
        false,
    );
    r.produce(
        "produce-1kib",
        ProduceSettings {
            seconds: secs,
            record_size: 1024,
            ..base()
        },
        false,
    );

    // 64 KiB records: at most ~1.5 GB of backlog, read back repeatedly.
    let wanted_big = r.wanted("consume-64kib");
    let big = r.produce(
        "produce-64kib",
        ProduceSettings {
            seconds: secs,
            record_size: 65536,
            records: 24_000,
            ..base()
        },
        wanted_big,
    );
    if let Some((_, topic)) = &big {
        r.consume("consume-64kib", topic);
        r.raw_consume("consume-64kib-raw", topic, 65536);
        admin::delete_topic(bootstrap, topic);
    }

    // The broker without a client library's per-record work (src/raw.rs).
    r.raw_produce("produce-100b-raw", 100);
    r.raw_produce("produce-1kib-raw", 1024);

    // Latency at half of the base case's peak rate.
    if let Some(peak) = peak {
        let rate = (peak / 2.0).max(1000.0);
        let records = (rate * args.produce_seconds) as u64;
        r.produce(
            "produce-100b-half-peak-latency",
            ProduceSettings {
                seconds: Some(args.produce_seconds * 2.0),
                rate: Some(rate),
                records,
                ..base()
            },
            false,
        );
        // The same with linger.ms=1: with linger.ms=5 every batch waits up to
        // 5 ms in the client before it is sent, so that run's p99 cannot be
        // below ~5 ms plus one round trip whatever the broker does.
        r.produce(
            "produce-100b-half-peak-latency-linger1",
            ProduceSettings {
                seconds: Some(args.produce_seconds * 2.0),
                rate: Some(rate),
                records,
                props: vec!["linger.ms=1".into()],
                ..base()
            },
            false,
        );
    }
    r.save();
    eprintln!("results written to {}", args.out.display());
    Ok(())
}
