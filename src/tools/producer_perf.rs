//! `kafka-producer-perf-test`: Kafka 4.1's ProducerPerformance flags and output
//! (a progress line every 5 s and one summary line with latency percentiles), on
//! the pipelining producer of `pipeline.rs`.

use std::time::{Duration, Instant};

use super::args::Props;
use super::pipeline::{Producer, Settings};
use super::session::Session;
use super::txn::Txn;

/// Progress lines are printed this often, in ms (Kafka's fixed 5000).
const REPORTING_INTERVAL_MS: u128 = 5000;
/// Latencies kept for the percentiles, at most (Kafka samples down to 500 000).
const MAX_LATENCY_SAMPLES: i64 = 500_000;
/// Commit interval when transactions are on without --transaction-duration-ms, in ms.
const DEFAULT_TRANSACTION_DURATION_MS: i64 = 3000;
const DEFAULT_TRANSACTIONAL_ID_PREFIX: &str = "performance-producer-";
/// Socket timeout of the tool's connections.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// Longest pause between polls for answers while throttled or lingering.
const MAX_POLL_WAIT: Duration = Duration::from_millis(50);

#[derive(Debug, clap::Args)]
#[command(group(clap::ArgGroup::new("payload").required(true)
    .args(["record_size", "payload_file", "payload_monotonic"])))]
pub struct PerfArgs {
    /// Topic to produce to.
    #[arg(long, required = true)]
    pub topic: String,
    /// Number of records to produce.
    #[arg(long, required = true)]
    pub num_records: i64,
    /// Payload size of each record, in bytes.
    #[arg(long)]
    pub record_size: Option<usize>,
    /// File of payloads (split at --payload-delimiter), one picked at random per record.
    #[arg(long)]
    pub payload_file: Option<String>,
    /// Delimiter of the payloads in --payload-file.
    #[arg(long, default_value = "\\n")]
    pub payload_delimiter: String,
    /// Payloads are the record numbers 0, 1, 2, ... as text.
    #[arg(long)]
    pub payload_monotonic: bool,
    /// Most records per second; -1 for no limit.
    #[arg(long, required = true, allow_hyphen_values = true)]
    pub throughput: f64,
    /// Producer configs (bootstrap.servers=..., acks=..., linger.ms=...).
    #[arg(long = "producer-props", num_args = 1.., value_name = "PROP-NAME=PROP-VALUE")]
    pub producer_props: Vec<String>,
    /// Producer configs file (--producer-props win).
    #[arg(long = "producer.config", value_name = "CONFIG-FILE")]
    pub producer_config: Option<String>,
    /// Print the producer's metrics at the end.
    #[arg(long)]
    pub print_metrics: bool,
    /// Produce in transactions under this transactional id.
    #[arg(long)]
    pub transactional_id: Option<String>,
    /// Commit a transaction this often, in ms (turns transactions on).
    #[arg(long)]
    pub transaction_duration_ms: Option<i64>,
}

/// Kafka's Stats: totals, a 5 s window and sampled latencies in ms.
struct Stats {
    start: Instant,
    sampling: i64,
    iteration: i64,
    latencies: Vec<u32>,
    count: u64,
    bytes: u64,
    total_latency: u64,
    max_latency: u32,
    window_start: Instant,
    window_count: u64,
    window_bytes: u64,
    window_total: u64,
    window_max: u32,
}

fn mb_per_sec(bytes: u64, elapsed_ms: f64) -> f64 {
    1000.0 * bytes as f64 / elapsed_ms / (1024.0 * 1024.0)
}

impl Stats {
    fn new(records: i64) -> Stats {
        let now = Instant::now();
        Stats {
            start: now,
            sampling: (records / records.min(MAX_LATENCY_SAMPLES)).max(1),
            iteration: 0,
            latencies: Vec::new(),
            count: 0,
            bytes: 0,
            total_latency: 0,
            max_latency: 0,
            window_start: now,
            window_count: 0,
            window_bytes: 0,
            window_total: 0,
            window_max: 0,
        }
    }

    fn record(&mut self, latency_ms: u32, bytes: usize, out: &mut Vec<String>) {
        self.count += 1;
        self.bytes += bytes as u64;
        self.total_latency += u64::from(latency_ms);
        self.max_latency = self.max_latency.max(latency_ms);
        self.window_count += 1;
        self.window_bytes += bytes as u64;
        self.window_total += u64::from(latency_ms);
        self.window_max = self.window_max.max(latency_ms);
        if self.iteration % self.sampling == 0 {
            self.latencies.push(latency_ms);
        }
        self.iteration += 1;
        if self.window_start.elapsed().as_millis() >= REPORTING_INTERVAL_MS {
            out.push(self.window_line());
            self.window_start = Instant::now();
            self.window_count = 0;
            self.window_bytes = 0;
            self.window_total = 0;
            self.window_max = 0;
        }
    }

    fn window_line(&self) -> String {
        let ms = (self.window_start.elapsed().as_secs_f64() * 1000.0).max(1.0);
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.1} ms avg latency, {:.1} ms max latency.",
            self.window_count,
            1000.0 * self.window_count as f64 / ms,
            mb_per_sec(self.window_bytes, ms),
            self.window_total as f64 / self.window_count.max(1) as f64,
            f64::from(self.window_max)
        )
    }

    fn total_line(&mut self) -> String {
        let ms = (self.start.elapsed().as_secs_f64() * 1000.0).max(1.0);
        self.latencies.sort_unstable();
        let n = self.latencies.len();
        let pct = |p: f64| {
            if n == 0 {
                0
            } else {
                self.latencies[((p * n as f64) as usize).min(n - 1)]
            }
        };
        format!(
            "{} records sent, {:.1} records/sec ({:.2} MB/sec), {:.2} ms avg latency, {:.2} ms max latency, {} ms 50th, {} ms 95th, {} ms 99th, {} ms 99.9th.",
            self.count,
            1000.0 * self.count as f64 / ms,
            mb_per_sec(self.bytes, ms),
            self.total_latency as f64 / self.count.max(1) as f64,
            f64::from(self.max_latency),
            pct(0.5),
            pct(0.95),
            pct(0.99),
            pct(0.999)
        )
    }
}

/// The payloads of --payload-file split at `delimiter` (empty pieces dropped).
fn read_payloads(path: &str, delimiter: &str) -> Result<Vec<Vec<u8>>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{path}: {e}"))?;
    let delimiter = if delimiter == "\\n" { "\n" } else { delimiter };
    let list: Vec<Vec<u8>> = text
        .split(delimiter)
        .filter(|s| !s.is_empty())
        .map(|s| s.as_bytes().to_vec())
        .collect();
    if list.is_empty() {
        return Err("File does not exist or empty file provided.".into());
    }
    Ok(list)
}

/// xorshift64*: random payload letters and picks, seeded like Kafka's (seed 0 → fixed).
struct Rng(u64);

impl Rng {
    fn next(&mut self, bound: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) >> 33) as usize % bound.max(1)
    }
}

/// Sleeps (while reading answers) until record `i` may be sent at `per_sec`.
fn throttle(
    producer: &mut Producer<(Instant, usize)>,
    start: Instant,
    i: i64,
    per_sec: f64,
) -> Result<(), String> {
    if per_sec <= 0.0 {
        return Ok(());
    }
    let due = start + Duration::from_secs_f64(i as f64 / per_sec);
    loop {
        let now = Instant::now();
        if now >= due {
            return Ok(());
        }
        producer.poll((due - now).min(MAX_POLL_WAIT))?;
    }
}

pub fn run(args: &PerfArgs) -> Result<Vec<String>, String> {
    if args.num_records <= 0 {
        return Err("--num-records should be greater than zero".into());
    }
    if args.record_size == Some(0) {
        return Err("--record-size should be greater than zero".into());
    }
    if args.producer_props.is_empty() && args.producer_config.is_none() {
        return Err("Either --producer-props or --producer.config must be specified.".into());
    }
    if args.transaction_duration_ms.is_some_and(|d| d <= 0) {
        return Err("--transaction-duration-ms should be greater than zero".into());
    }
    let props = Props::parse(&args.producer_props, "--producer-props")?
        .with_file(args.producer_config.as_deref())?;
    let bootstrap = props
        .get("bootstrap.servers")
        .ok_or("bootstrap.servers must be set in --producer-props or --producer.config")?
        .to_string();
    let payloads = match &args.payload_file {
        Some(f) => {
            let abs =
                std::fs::canonicalize(f).map_or_else(|_| f.clone(), |p| p.display().to_string());
            println!("Reading payloads from: {abs}");
            let list = read_payloads(f, &args.payload_delimiter)?;
            println!("Number of messages read: {}", list.len());
            list
        }
        None => Vec::new(),
    };
    let txn_id = args
        .transactional_id
        .clone()
        .or_else(|| props.get("transactional.id").map(str::to_string))
        .or_else(|| {
            args.transaction_duration_ms
                .map(|_| format!("{DEFAULT_TRANSACTIONAL_ID_PREFIX}{}", uuid::Uuid::new_v4()))
        });
    let txn_duration = args
        .transaction_duration_ms
        .unwrap_or(DEFAULT_TRANSACTION_DURATION_MS);
    let settings = Settings::from_props(&props)?;
    let mut session = Session::connect(&bootstrap, SOCKET_TIMEOUT)?;
    let txn = match &txn_id {
        Some(id) => Some(Txn::init(&mut session, id)?),
        None => None,
    };
    let mut producer: Producer<(Instant, usize)> =
        Producer::new(session, &args.topic, settings, std::process::id() as usize)?;
    producer.txn = txn;

    let mut rng = Rng(0x9E37_79B9_7F4A_7C15);
    let mut stats = Stats::new(args.num_records);
    let mut lines = Vec::new();
    let start = Instant::now();
    let mut txn_start = Instant::now();
    let mut payload = vec![0u8; args.record_size.unwrap_or(0)];
    for i in 0..args.num_records {
        let value = if !payloads.is_empty() {
            payloads[rng.next(payloads.len())].clone()
        } else if args.record_size.is_some() {
            for b in &mut payload {
                *b = b'A' + rng.next(26) as u8;
            }
            payload.clone()
        } else {
            i.to_string().into_bytes()
        };
        let size = value.len();
        producer.add(None, value, (Instant::now(), size))?;
        if txn_id.is_some() && txn_start.elapsed().as_millis() >= txn_duration as u128 {
            commit(&mut producer, &mut stats, &mut lines)?;
            txn_start = Instant::now();
        }
        throttle(&mut producer, start, i + 1, args.throughput)?;
        producer.poll(Duration::ZERO)?;
        account(&mut producer, &mut stats, &mut lines)?;
    }
    if txn_id.is_some() {
        commit(&mut producer, &mut stats, &mut lines)?;
    }
    producer.flush()?;
    account(&mut producer, &mut stats, &mut lines)?;
    lines.push(stats.total_line());
    if args.print_metrics {
        eprintln!("--print-metrics: gregor's producer keeps no JMX-style metrics; only the summary above is printed");
    }
    Ok(lines)
}

/// Flushes, then commits the transaction in progress.
fn commit(
    producer: &mut Producer<(Instant, usize)>,
    stats: &mut Stats,
    lines: &mut Vec<String>,
) -> Result<(), String> {
    producer.flush()?;
    account(producer, stats, lines)?;
    let mut txn = producer.txn.take().ok_or("no transaction")?;
    let r = txn.end(&mut producer.session, true);
    producer.txn = Some(txn);
    r
}

/// Feeds answered records into the stats, printing progress lines as they fall due
/// (straight away, as Kafka does, rather than at the end).
fn account(
    producer: &mut Producer<(Instant, usize)>,
    stats: &mut Stats,
    lines: &mut Vec<String>,
) -> Result<(), String> {
    for o in producer.take_outcomes() {
        if let Err(e) = o.result {
            return Err(format!(
                "producing to {}-{} failed: {e}",
                producer.topic, o.partition
            ));
        }
        let (sent, size) = o.tag;
        let latency = sent.elapsed().as_millis().min(u128::from(u32::MAX)) as u32;
        stats.record(latency, size, lines);
        for l in lines.drain(..) {
            println!("{l}");
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_line_has_kafkas_shape() {
        let mut s = Stats::new(10);
        let mut out = Vec::new();
        for l in [5, 1, 9, 3] {
            s.record(l, 100, &mut out);
        }
        let line = s.total_line();
        assert!(line.starts_with("4 records sent, "), "{line}");
        assert!(line.contains("4.50 ms avg latency, 9.00 ms max latency, 5 ms 50th, 9 ms 95th, 9 ms 99th, 9 ms 99.9th."), "{line}");
    }
}
