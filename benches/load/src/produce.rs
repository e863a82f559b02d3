//! The producer side: N librdkafka producer instances, one per thread, each
//! sending records of a fixed size as fast as librdkafka takes them (or at a
//! fixed rate), with the produce() -> delivery-callback latency of every
//! record in an HDR histogram.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Barrier, Mutex};
use std::time::{Duration, Instant};

use anyhow::Context;
use clap::Args;
use hdrhistogram::Histogram;
use rdkafka::bindings as rdsys;
use rdkafka::config::ClientConfig;
use rdkafka::error::{KafkaError, RDKafkaErrorCode};
use rdkafka::producer::{BaseProducer, BaseRecord, DeliveryResult, Producer, ProducerContext};
use rdkafka::ClientContext;
use serde::Serialize;

use crate::procstat;

#[derive(Debug, Args)]
pub struct ProduceArgs {
    /// Topic to write; default: a fresh topic created for this run.
    #[arg(long)]
    pub topic: Option<String>,
    /// Do not (re)create the topic; it must exist.
    #[arg(long)]
    pub no_create: bool,
    /// Value size of each record in bytes (no key).
    #[arg(long, default_value_t = 100)]
    pub record_size: usize,
    /// Records to send in total (over all producers).
    #[arg(long, default_value_t = 5_000_000)]
    pub records: u64,
    /// Stop sending after this many seconds even if --records is not reached.
    #[arg(long)]
    pub seconds: Option<f64>,
    /// Partitions of the created topic; records go round-robin over them.
    #[arg(long, default_value_t = 1)]
    pub partitions: i32,
    /// acks: 0, 1 or all.
    #[arg(long, default_value = "1")]
    pub acks: String,
    /// compression.type: none, gzip, snappy, lz4, zstd.
    #[arg(long, default_value = "none")]
    pub compression: String,
    /// Producer instances, one thread each.
    #[arg(long, default_value_t = 1)]
    pub producers: usize,
    /// Target records/s over all producers (default: as fast as possible).
    #[arg(long)]
    pub rate: Option<f64>,
    /// Extra librdkafka producer properties, KEY=VALUE (repeatable).
    #[arg(long = "prop", value_name = "KEY=VALUE")]
    pub props: Vec<String>,
    /// Send through the rdkafka crate's `BaseProducer::send` (librdkafka copies
    /// each payload, looks the topic up by name) instead of `rd_kafka_produce`
    /// with a topic handle and payloads referenced in place.
    #[arg(long)]
    pub copy_payload: bool,
    /// Write the result as JSON to this file.
    #[arg(long)]
    pub out: Option<std::path::PathBuf>,
}

impl ProduceArgs {
    pub fn settings(&self) -> ProduceSettings {
        ProduceSettings {
            record_size: self.record_size,
            records: self.records,
            seconds: self.seconds,
            partitions: self.partitions,
            acks: self.acks.clone(),
            compression: self.compression.clone(),
            producers: self.producers,
            rate: self.rate,
            props: self.props.clone(),
            copy_payload: self.copy_payload,
        }
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct ProduceSettings {
    pub record_size: usize,
    pub records: u64,
    pub seconds: Option<f64>,
    pub partitions: i32,
    pub acks: String,
    pub compression: String,
    pub producers: usize,
    pub rate: Option<f64>,
    pub props: Vec<String>,
    /// See [`ProduceArgs::copy_payload`].
    pub copy_payload: bool,
}

/// Producer properties used for every run (the client settings, and
/// what librdkafka needs to queue enough to keep the broker busy).
pub fn producer_config(bootstrap: &str, s: &ProduceSettings) -> ClientConfig {
    let mut c = ClientConfig::new();
    c.set("bootstrap.servers", bootstrap)
        .set(
            "acks",
            if s.acks == "all" {
                "-1"
            } else {
                s.acks.as_str()
            },
        )
        .set("compression.type", s.compression.as_str())
        .set("linger.ms", "5")
        .set("batch.size", "1000000")
        // Default 10000 messages per batch would cap 100 B batches at 1 MB
        // anyway, but small records need the count cap out of the way.
        .set("batch.num.messages", "1000000")
        // Local queue: default 100000 messages is only 0.1 s at 1 M/s; 500000
        // messages / 64 MiB keeps the broker fed without seconds of queueing.
        .set("queue.buffering.max.messages", "500000")
        .set("queue.buffering.max.kbytes", "65536")
        .set("enable.idempotence", "false")
        .set("message.max.bytes", "1000000")
        .set("socket.nagle.disable", "true");
    for p in &s.props {
        if let Some((k, v)) = p.split_once('=') {
            c.set(k, v);
        }
    }
    c
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct Latency {
    pub p50_ms: f64,
    pub p99_ms: f64,
    pub p999_ms: f64,
    pub max_ms: f64,
    pub mean_ms: f64,
}

#[derive(Debug, Clone, Serialize, Default)]
pub struct WorkloadResult {
    pub name: String,
    pub kind: String,
    pub topic: String,
    pub settings: serde_json::Value,
    pub records: u64,
    /// Value bytes moved (records x record size; keys and framing not counted).
    pub bytes: u64,
    pub errors: u64,
    pub elapsed_s: f64,
    pub records_per_s: f64,
    /// 10^6 bytes per second of record values.
    pub mb_per_s: f64,
    pub latency: Option<Latency>,
    /// CPU seconds (utime+stime) of the broker during the workload, if its pid is known.
    pub broker_cpu_s: Option<f64>,
    pub broker_cpu_s_per_gb: Option<f64>,
    /// CPU seconds of this load generator during the workload.
    pub client_cpu_s: f64,
    /// Busy CPU seconds of the whole machine during the workload, less the
    /// broker's and the load generator's: other processes competing for
    /// the same cores (set by the matrix).
    pub other_cpu_s: Option<f64>,
}

impl WorkloadResult {
    pub fn summary_line(&self) -> String {
        let mut s = format!(
            "{} (topic {}): {} records, {:.2} s, {:.0} records/s, {:.1} MB/s",
            self.name, self.topic, self.records, self.elapsed_s, self.records_per_s, self.mb_per_s
        );
        if let Some(l) = &self.latency {
            s += &format!(
                ", latency p50 {:.2} ms p99 {:.2} ms p99.9 {:.2} ms max {:.2} ms",
                l.p50_ms, l.p99_ms, l.p999_ms, l.max_ms
            );
        }
        if self.errors > 0 {
            s += &format!(", {} errors", self.errors);
        }
        if let Some(c) = self.broker_cpu_s_per_gb {
            s += &format!(", broker {c:.2} CPU s/GB");
        }
        s += &format!(", client CPU {:.2} s", self.client_cpu_s);
        if let Some(o) = self.other_cpu_s {
            s += &format!(", other processes {o:.2} CPU s");
        }
        s
    }
}

/// Per-producer state reached from the delivery callback.
struct Ctx {
    start: Instant,
    acked: AtomicU64,
    errors: AtomicU64,
    hist: Mutex<Histogram<u64>>,
    last_error: Mutex<Option<String>>,
}

impl ClientContext for Ctx {}

impl ProducerContext for Ctx {
    /// Nanoseconds from `start` to the produce() call, or 0 for records
    /// whose latency is not sampled.
    type DeliveryOpaque = usize;

    fn delivery(&self, result: &DeliveryResult<'_>, sent_at_ns: usize) {
        match result {
            Ok(_) => {
                self.acked.fetch_add(1, Ordering::Relaxed);
                if sent_at_ns != 0 {
                    let now = self.start.elapsed().as_nanos() as u64;
                    let us = now.saturating_sub(sent_at_ns as u64) / 1000;
                    let mut h = self.hist.lock().unwrap();
                    h.saturating_record(us.max(1));
                }
            }
            Err((e, _)) => {
                self.errors.fetch_add(1, Ordering::Relaxed);
                let mut last = self.last_error.lock().unwrap();
                if last.is_none() {
                    *last = Some(e.to_string());
                }
            }
        }
    }
}

/// A buffer of random upper-case letters (as kafka-producer-perf-test fills
/// payloads); records take windows of it at varying offsets, so the data
/// compresses like text rather than like one repeated record.
pub fn payload_pool(record_size: usize) -> Vec<u8> {
    let len = (4 << 20).max(record_size * 64);
    let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            b'A' + (x % 26) as u8
        })
        .collect()
}

/// Prints a progress line every second until `stop` is set.
pub fn progress_thread(
    label: String,
    stop: Arc<AtomicBool>,
    counters: Vec<Arc<dyn Fn() -> (u64, u64) + Send + Sync>>,
    record_size: u64,
) -> std::thread::JoinHandle<()> {
    std::thread::spawn(move || {
        let t0 = Instant::now();
        let mut last = (0u64, t0);
        let mut next = t0 + Duration::from_secs(1);
        while !stop.load(Ordering::Relaxed) {
            let now = Instant::now();
            if now < next {
                std::thread::sleep((next - now).min(Duration::from_millis(100)));
                continue;
            }
            next += Duration::from_secs(1);
            let (mut a, mut b) = (0, 0);
            for c in &counters {
                let (x, y) = c();
                a += x;
                b += y;
            }
            let dt = now.duration_since(last.1).as_secs_f64();
            let rate = (a - last.0) as f64 / dt;
            eprintln!(
                "[{label}] {:5.1} s: {a} records done, {b} in flight, {:.0} records/s, {:.1} MB/s",
                now.duration_since(t0).as_secs_f64(),
                rate,
                rate * record_size as f64 / 1e6
            );
            last = (a, now);
        }
    })
}

pub fn run(
    bootstrap: &str,
    topic: &str,
    s: &ProduceSettings,
    label: &str,
) -> anyhow::Result<WorkloadResult> {
    let n = s.producers.max(1);
    let pool = Arc::new(payload_pool(s.record_size));
    let start = Instant::now();
    let mut producers = Vec::with_capacity(n);
    for _ in 0..n {
        let ctx = Ctx {
            start,
            acked: AtomicU64::new(0),
            errors: AtomicU64::new(0),
            hist: Mutex::new(Histogram::new_with_bounds(1, 120_000_000, 3).unwrap()),
            last_error: Mutex::new(None),
        };
        let p: BaseProducer<Ctx> = producer_config(bootstrap, s)
            .create_with_context(ctx)
            .context("creating producer")?;
        producers.push(Arc::new(p));
    }
    let sent: Vec<Arc<AtomicU64>> = (0..n).map(|_| Arc::new(AtomicU64::new(0))).collect();
    let stop = Arc::new(AtomicBool::new(false));
    let counters: Vec<Arc<dyn Fn() -> (u64, u64) + Send + Sync>> = (0..n)
        .map(|i| {
            let p = producers[i].clone();
            let sent = sent[i].clone();
            Arc::new(move || {
                let acked = p.context().acked.load(Ordering::Relaxed);
                let sent = sent.load(Ordering::Relaxed);
                (acked, sent.saturating_sub(acked))
            }) as Arc<dyn Fn() -> (u64, u64) + Send + Sync>
        })
        .collect();
    let progress = progress_thread(
        label.to_string(),
        stop.clone(),
        counters,
        s.record_size as u64,
    );

    let cpu0 = procstat::self_cpu_seconds();
    let barrier = Arc::new(Barrier::new(n + 1));
    let mut handles = Vec::new();
    for i in 0..n {
        let p = producers[i].clone();
        let sent = sent[i].clone();
        let pool = pool.clone();
        let barrier = barrier.clone();
        let topic = topic.to_string();
        let quota = s.records / n as u64 + u64::from((i as u64) < s.records % n as u64);
        let rate = s.rate.map(|r| r / n as f64);
        let seconds = s.seconds;
        let size = s.record_size;
        let partitions = s.partitions.max(1);
        let copy = s.copy_payload;
        handles.push(std::thread::spawn(move || {
            barrier.wait();
            // `pool` (held by this closure) outlives the flush below, so
            // payloads referenced in place stay valid until delivered.
            send_loop(
                &p, &topic, &pool, size, partitions, quota, rate, seconds, &sent, i, copy,
            );
            let _ = p.flush(Duration::from_secs(120));
            Instant::now()
        }));
    }
    barrier.wait();
    let t0 = Instant::now();
    let mut end = t0;
    for h in handles {
        end = end.max(h.join().expect("producer thread panicked"));
    }
    let client_cpu = procstat::self_cpu_seconds() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let _ = progress.join();

    let elapsed = end.duration_since(t0).as_secs_f64();
    let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
    let (mut acked, mut errors) = (0, 0);
    for p in &producers {
        let c = p.context();
        acked += c.acked.load(Ordering::Relaxed);
        errors += c.errors.load(Ordering::Relaxed);
        hist.add(&*c.hist.lock().unwrap()).unwrap();
        if let Some(e) = c.last_error.lock().unwrap().as_ref() {
            eprintln!("[{label}] first delivery error: {e}");
        }
    }
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    let latency = (acked > 0).then(|| Latency {
        p50_ms: ms(0.50),
        p99_ms: ms(0.99),
        p999_ms: ms(0.999),
        max_ms: hist.max() as f64 / 1000.0,
        mean_ms: hist.mean() / 1000.0,
    });
    let bytes = acked * s.record_size as u64;
    Ok(WorkloadResult {
        name: label.to_string(),
        kind: "produce".into(),
        topic: topic.to_string(),
        settings: serde_json::to_value(s)?,
        records: acked,
        bytes,
        errors,
        elapsed_s: elapsed,
        records_per_s: acked as f64 / elapsed,
        mb_per_s: bytes as f64 / elapsed / 1e6,
        latency,
        broker_cpu_s: None,
        broker_cpu_s_per_gb: None,
        client_cpu_s: client_cpu,
        other_cpu_s: None,
    })
}

/// Shortest sleep of the --rate pacer, seconds (the kernel's timer slack
/// makes shorter sleeps cost a wake-up for nothing).
const MIN_PACING_SLEEP_S: f64 = 100e-6;

/// One record in this many has its latency measured.
pub const LATENCY_SAMPLE: u64 = 8;

#[allow(clippy::too_many_arguments)]
fn send_loop(
    p: &BaseProducer<Ctx>,
    topic: &str,
    pool: &[u8],
    size: usize,
    partitions: i32,
    quota: u64,
    rate: Option<f64>,
    seconds: Option<f64>,
    sent: &AtomicU64,
    seed: usize,
    copy: bool,
) {
    let start = p.context().start;
    let handle = if copy {
        None
    } else {
        TopicHandle::new(p, topic)
    };
    let t0 = Instant::now();
    let deadline = seconds.map(|s| t0 + Duration::from_secs_f64(s));
    let span = pool.len() - size;
    // Offsets into the pool step by a prime so neighbouring records differ.
    let mut off = (seed * 7919) % span.max(1);
    let mut n: u64 = 0;
    // With --rate: records that may be sent before the clock is read again.
    let mut due: u64 = 0;
    while n < quota {
        if n % 1024 == 0 {
            sent.store(n, Ordering::Relaxed);
            if deadline.is_some_and(|d| Instant::now() >= d) {
                break;
            }
        }
        if let Some(r) = rate {
            // Send the records due by now in one burst without reading the
            // clock again; when ahead, serve callbacks and sleep until the
            // next record is due. (Polling with a timeout here returned at
            // once while delivery reports kept coming, and the loop spun on
            // the clock: 38% of the client's CPU at half of peak.)
            if n >= due {
                let now = t0.elapsed().as_secs_f64();
                due = (now * r) as u64;
                if n >= due {
                    p.poll(Duration::ZERO);
                    let wait = ((n + 1) as f64 / r - now).max(MIN_PACING_SLEEP_S);
                    std::thread::sleep(Duration::from_secs_f64(wait));
                    continue;
                }
            }
        }
        let payload = &pool[off..off + size];
        off += 4099;
        if off >= span {
            off -= span;
        }
        let part = (n % partitions as u64) as i32;
        loop {
            // Every LATENCY_SAMPLE-th record carries its send time: reading
            // the clock twice per record costs the client more than 10% of
            // its CPU at 1 M records/s, and 1 in 8 still gives ~10^5 samples/s.
            let opaque = if n % LATENCY_SAMPLE == 0 {
                (start.elapsed().as_nanos() as usize).max(1)
            } else {
                0
            };
            let result = match &handle {
                Some(h) => h.produce(part, payload, opaque),
                None => {
                    let rec = BaseRecord::<(), [u8], usize>::with_opaque_to(topic, opaque)
                        .payload(payload)
                        .partition(part);
                    p.send(rec).map_err(|(e, _)| e)
                }
            };
            match result {
                Ok(()) => break,
                Err(KafkaError::MessageProduction(RDKafkaErrorCode::QueueFull)) => {
                    p.poll(Duration::from_millis(1));
                }
                Err(e) => {
                    eprintln!("produce error: {e}");
                    p.context().errors.fetch_add(1, Ordering::Relaxed);
                    break;
                }
            }
        }
        n += 1;
        if n % 512 == 0 {
            p.poll(Duration::ZERO);
        }
    }
    sent.store(n, Ordering::Relaxed);
}

/// A librdkafka topic handle for sending with `rd_kafka_produce`: per record
/// this skips what `BaseProducer::send` does (a CString of the topic name, a
/// by-name topic lookup under a lock, a copy of the payload), which took a
/// third of the producing thread at 100 B records. The delivery reports come
/// back through the crate's `poll` unchanged: the opaque is the same
/// pointer-sized integer `send` would pass.
struct TopicHandle(*mut rdsys::rd_kafka_topic_t);

impl TopicHandle {
    fn new(p: &BaseProducer<Ctx>, topic: &str) -> Option<TopicHandle> {
        let name = std::ffi::CString::new(topic).ok()?;
        // SAFETY: a live client and a NUL-terminated name; librdkafka copies it.
        let rkt = unsafe {
            rdsys::rd_kafka_topic_new(p.client().native_ptr(), name.as_ptr(), std::ptr::null_mut())
        };
        (!rkt.is_null()).then_some(TopicHandle(rkt))
    }

    /// Enqueues one record whose payload librdkafka reads in place (no
    /// RD_KAFKA_MSG_F_COPY): the caller keeps `payload` alive until the
    /// producer is flushed.
    fn produce(&self, partition: i32, payload: &[u8], opaque: usize) -> Result<(), KafkaError> {
        // SAFETY: the handle is live; payload outlives delivery (see above);
        // librdkafka neither writes nor frees it without RD_KAFKA_MSG_F_FREE.
        let r = unsafe {
            rdsys::rd_kafka_produce(
                self.0,
                partition,
                0,
                payload.as_ptr() as *mut std::ffi::c_void,
                payload.len(),
                std::ptr::null(),
                0,
                opaque as *mut std::ffi::c_void,
            )
        };
        if r == 0 {
            return Ok(());
        }
        // SAFETY: reads the calling thread's last librdkafka error.
        let code = unsafe { rdsys::rd_kafka_last_error() };
        Err(KafkaError::MessageProduction(code.into()))
    }
}

impl Drop for TopicHandle {
    fn drop(&mut self) {
        // SAFETY: the handle made in `new`, released once.
        unsafe { rdsys::rd_kafka_topic_destroy(self.0) };
    }
}
