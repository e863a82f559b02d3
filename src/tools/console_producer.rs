//! `gregor console-producer` (also run as `kafka-console-producer.sh`): one record
//! per stdin line, parsed as Kafka's LineMessageReader does (`line_reader.rs`),
//! partitioned like the Java producer and sent in v2 record batches (optionally
//! compressed). Kafka 4.1's producer-tuning flags are accepted; those without
//! effect in gregor say so on stderr.

use std::collections::BTreeMap;
use std::io::BufRead;
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{ApiKey, ProduceRequest, ProduceResponse};

use super::args::{bootstrap, Props};
use super::client::check;
use super::line_reader::{parse_line, LineFormat, LineRecord};
use super::partitioner::Partitioner;
use super::session::{topic_name, Session};
use crate::record::{build_batch, BatchParams, BuilderRecord, Compression, RecordHeaders};

/// Produce v13 names topics by id; the tool names them, so it stays at v12.
const PRODUCE_MAX_VERSION: i16 = 12;
/// Kafka's console producer default for `--timeout` (linger), in ms.
const DEFAULT_LINGER_MS: u64 = 1000;
/// The Java producer's default `batch.size`, in bytes.
const DEFAULT_BATCH_BYTES: usize = 16384;
/// The Java producer's default `request.timeout.ms`.
const DEFAULT_REQUEST_TIMEOUT_MS: i32 = 30_000;
/// Lines buffered between the stdin reader thread and the sender.
const LINE_QUEUE: usize = 10_000;

#[derive(Debug, clap::Args)]
pub struct ProducerArgs {
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    /// Older name of --bootstrap-server.
    #[arg(long)]
    pub broker_list: Option<String>,
    #[arg(long)]
    pub topic: String,
    /// Line reader property, `key=value` (repeatable): parse.key, key.separator,
    /// parse.headers, headers.delimiter, headers.separator, headers.key.separator,
    /// ignore.error, null.marker. `--reader-property` is Kafka 4.2's name.
    #[arg(
        long = "property",
        visible_alias = "reader-property",
        value_name = "KEY=VALUE"
    )]
    pub properties: Vec<String>,
    /// A properties file of line reader properties (--property wins).
    #[arg(long, value_name = "FILE")]
    pub reader_config: Option<String>,
    /// Line reader class: LineMessageReader (the default, any package prefix).
    #[arg(long, value_name = "CLASS")]
    pub line_reader: Option<String>,
    /// Producer property, `key=value` (repeatable): acks, compression.type,
    /// linger.ms, batch.size, request.timeout.ms; others are accepted and ignored.
    /// `--command-property` is Kafka 4.2's name.
    #[arg(
        long = "producer-property",
        visible_alias = "command-property",
        value_name = "KEY=VALUE"
    )]
    pub producer_properties: Vec<String>,
    /// A properties file of producer properties; `--command-config` is Kafka 4.2's name.
    #[arg(
        long = "producer.config",
        visible_alias = "command-config",
        value_name = "FILE"
    )]
    pub producer_config: Option<String>,
    /// acks: -1 (all), 0 or 1.
    #[arg(long, allow_hyphen_values = true)]
    pub request_required_acks: Option<String>,
    /// none, gzip (the default when the flag has no value), snappy, lz4 or zstd.
    #[arg(long, num_args = 0..=1, default_missing_value = "gzip")]
    pub compression_codec: Option<String>,
    /// Send every record to this partition (a gregor extension).
    #[arg(long)]
    pub partition: Option<i32>,
    /// Batch size in bytes.
    #[arg(long)]
    pub batch_size: Option<usize>,
    /// Longest a record waits for its batch to fill, in ms.
    #[arg(long)]
    pub timeout: Option<u64>,
    /// Send each record on its own and wait for it.
    #[arg(long)]
    pub sync: bool,
    #[arg(long)]
    pub request_timeout_ms: Option<i32>,
    /// The producer's `batch.size`, in bytes (Kafka's second name for it).
    #[arg(long)]
    pub max_partition_memory_bytes: Option<usize>,
    /// Producer `retries`: accepted; gregor sends each batch once.
    #[arg(long)]
    pub message_send_max_retries: Option<i32>,
    /// Producer `retry.backoff.ms`: accepted; gregor sends each batch once.
    #[arg(long)]
    pub retry_backoff_ms: Option<u64>,
    /// Producer `max.block.ms`: accepted without effect.
    #[arg(long)]
    pub max_block_ms: Option<u64>,
    /// Producer `buffer.memory`, in bytes: accepted without effect.
    #[arg(long)]
    pub max_memory_bytes: Option<u64>,
    /// Producer `metadata.max.age.ms`: accepted without effect.
    #[arg(long)]
    pub metadata_expiry_ms: Option<u64>,
    /// Producer `send.buffer.bytes`, in bytes: accepted without effect.
    #[arg(long)]
    pub socket_buffer_size: Option<u64>,
}

/// One stderr line for each flag gregor accepts but does not act on, so a
/// command line copied from Kafka runs and says what it did not do.
fn notes(args: &ProducerArgs) -> Vec<String> {
    let mut out = Vec::new();
    let mut note = |given: bool, flag: &str, why: &str| {
        if given {
            out.push(format!("Note: {flag} is accepted without effect: {why}"));
        }
    };
    let once = "gregor's console producer sends each batch once (no retries)";
    note(
        args.message_send_max_retries.is_some(),
        "--message-send-max-retries",
        once,
    );
    note(args.retry_backoff_ms.is_some(), "--retry-backoff-ms", once);
    note(
        args.max_block_ms.is_some(),
        "--max-block-ms",
        "gregor reads stdin into a bounded queue and never blocks on buffer memory",
    );
    note(
        args.max_memory_bytes.is_some(),
        "--max-memory-bytes",
        "gregor buffers one batch per partition",
    );
    note(
        args.metadata_expiry_ms.is_some(),
        "--metadata-expiry-ms",
        "a single node's partition leaders do not move, so metadata is read once",
    );
    note(
        args.socket_buffer_size.is_some(),
        "--socket-buffer-size",
        "gregor keeps the system's socket buffer sizes",
    );
    out
}

/// Kafka's only line reader; other classes are Java code gregor cannot run.
fn check_line_reader(class: Option<&str>) -> Result<(), String> {
    match class.map(|c| c.trim().rsplit('.').next().unwrap_or_default()) {
        None | Some("LineMessageReader") => Ok(()),
        Some(_) => Err(format!(
            "line reader {} is not available in gregor; only LineMessageReader is",
            class.unwrap_or_default()
        )),
    }
}

/// Producer settings resolved from the flags and properties.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SendSettings {
    pub acks: i16,
    pub compression: Compression,
    pub linger: Duration,
    pub batch_bytes: usize,
    pub request_timeout_ms: i32,
}

pub fn parse_acks(s: &str) -> Result<i16, String> {
    match s.trim() {
        "all" | "-1" => Ok(-1),
        "0" => Ok(0),
        "1" => Ok(1),
        other => Err(format!("acks must be all, -1, 0 or 1, got {other:?}")),
    }
}

pub fn parse_codec(s: &str) -> Result<Compression, String> {
    match s.trim().to_ascii_lowercase().as_str() {
        "none" | "" => Ok(Compression::None),
        "gzip" => Ok(Compression::Gzip),
        "snappy" => Ok(Compression::Snappy),
        "lz4" => Ok(Compression::Lz4),
        "zstd" => Ok(Compression::Zstd),
        other => Err(format!(
            "unknown compression codec {other:?} (none, gzip, snappy, lz4, zstd)"
        )),
    }
}

impl SendSettings {
    /// The dedicated flags win over `--producer-property` and the config file.
    pub fn resolve(args: &ProducerArgs, props: &Props) -> Result<SendSettings, String> {
        let acks = match (&args.request_required_acks, props.get("acks")) {
            (Some(a), _) => parse_acks(a)?,
            (None, Some(a)) => parse_acks(a)?,
            (None, None) => -1,
        };
        let compression = match (&args.compression_codec, props.get("compression.type")) {
            (Some(c), _) => parse_codec(c)?,
            (None, Some(c)) => parse_codec(c)?,
            (None, None) => Compression::None,
        };
        let number = |key: &str| -> Result<Option<u64>, String> {
            props
                .get(key)
                .map(|v| {
                    v.trim()
                        .parse::<u64>()
                        .map_err(|_| format!("{key} must be a number, got {v:?}"))
                })
                .transpose()
        };
        let linger_ms = args
            .timeout
            .or(number("linger.ms")?)
            .unwrap_or(DEFAULT_LINGER_MS);
        let batch_bytes = match args.max_partition_memory_bytes.or(args.batch_size) {
            Some(b) => b,
            None => number("batch.size")?.map_or(DEFAULT_BATCH_BYTES, |b| b as usize),
        };
        let request_timeout_ms = match args.request_timeout_ms {
            Some(t) => t,
            None => number("request.timeout.ms")?.map_or(DEFAULT_REQUEST_TIMEOUT_MS, |t| {
                t.min(i32::MAX as u64) as i32
            }),
        };
        Ok(SendSettings {
            acks,
            compression,
            linger: Duration::from_millis(if args.sync { 0 } else { linger_ms }),
            batch_bytes: if args.sync { 0 } else { batch_bytes.max(1) },
            request_timeout_ms,
        })
    }
}

/// Records waiting for their batch to be sent, per partition.
struct Pending {
    records: Vec<(LineRecord, i64)>,
    bytes: usize,
    since: Instant,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn encode_batch(
    records: &[(LineRecord, i64)],
    compression: Compression,
) -> Result<Vec<u8>, String> {
    let recs: Vec<BuilderRecord<'_>> = records
        .iter()
        .enumerate()
        .map(|(i, (r, ts))| BuilderRecord {
            offset_delta: i as i32,
            timestamp: *ts,
            key: r.key.as_deref(),
            value: r.value.as_deref(),
            headers: RecordHeaders::List(
                r.headers
                    .iter()
                    .map(|(k, v)| (k.as_slice(), v.as_deref()))
                    .collect(),
            ),
        })
        .collect();
    build_batch(
        &recs,
        BatchParams {
            compression,
            ..Default::default()
        },
    )
    .map_err(|e| format!("cannot build a record batch: {e}"))
}

struct Sender<'a> {
    session: &'a mut Session,
    topic: String,
    leaders: BTreeMap<i32, i32>,
    settings: SendSettings,
    pending: BTreeMap<i32, Pending>,
    partitioner: Partitioner,
}

impl Sender<'_> {
    fn add(&mut self, partition: i32, rec: LineRecord) -> Result<(), String> {
        let size =
            rec.key.as_ref().map_or(0, Vec::len) + rec.value.as_ref().map_or(0, Vec::len) + 16;
        let p = self.pending.entry(partition).or_insert_with(|| Pending {
            records: Vec::new(),
            bytes: 0,
            since: Instant::now(),
        });
        p.records.push((rec, now_ms()));
        p.bytes += size;
        if p.bytes >= self.settings.batch_bytes {
            self.send(|p, _| p == partition)?;
        }
        Ok(())
    }

    /// When the oldest pending batch is due.
    fn next_deadline(&self) -> Option<Instant> {
        self.pending
            .values()
            .map(|p| p.since + self.settings.linger)
            .min()
    }

    fn send_due(&mut self) -> Result<(), String> {
        let now = Instant::now();
        let linger = self.settings.linger;
        self.send(|_, p| p.since + linger <= now)
    }

    /// Sends the pending batches `which` selects, one Produce per leader.
    fn send(&mut self, which: impl Fn(i32, &Pending) -> bool) -> Result<(), String> {
        let chosen: Vec<i32> = self
            .pending
            .iter()
            .filter(|(p, b)| which(**p, b))
            .map(|(p, _)| *p)
            .collect();
        let mut by_leader: BTreeMap<i32, Vec<(i32, Vec<u8>)>> = BTreeMap::new();
        for p in chosen {
            let batch = self.pending.remove(&p).expect("chosen from pending");
            let bytes = encode_batch(&batch.records, self.settings.compression)?;
            by_leader
                .entry(self.leaders[&p])
                .or_default()
                .push((p, bytes));
            self.partitioner.batch_sent(p);
        }
        for (leader, batches) in by_leader {
            let req = ProduceRequest::default()
                .with_acks(self.settings.acks)
                .with_timeout_ms(self.settings.request_timeout_ms)
                .with_topic_data(vec![TopicProduceData::default()
                    .with_name(topic_name(&self.topic))
                    .with_partition_data(
                        batches
                            .into_iter()
                            .map(|(p, b)| {
                                PartitionProduceData::default()
                                    .with_index(p)
                                    .with_records(Some(b.into()))
                            })
                            .collect(),
                    )]);
            let client = self.session.node(leader)?;
            if self.settings.acks == 0 {
                client.send_only(ApiKey::Produce, PRODUCE_MAX_VERSION, &req)?;
                continue;
            }
            let resp: ProduceResponse =
                client.call_capped(ApiKey::Produce, PRODUCE_MAX_VERSION, &req)?;
            for t in &resp.responses {
                for p in &t.partition_responses {
                    check(p.error_code, p.error_message.as_ref()).map_err(|e| {
                        format!("producing to {}-{} failed: {e}", self.topic, p.index)
                    })?;
                }
            }
        }
        Ok(())
    }
}

/// Reads stdin on a thread so the sender can flush lingering batches while waiting.
fn spawn_stdin_reader() -> mpsc::Receiver<std::io::Result<String>> {
    let (tx, rx) = mpsc::sync_channel(LINE_QUEUE);
    std::thread::spawn(move || {
        for line in std::io::stdin().lock().lines() {
            let stop = line.is_err();
            if tx.send(line).is_err() || stop {
                break;
            }
        }
    });
    rx
}

pub fn run(args: &ProducerArgs) -> Result<(), String> {
    let bootstrap = bootstrap(
        args.bootstrap_server.as_deref(),
        args.broker_list.as_deref(),
    )?;
    check_line_reader(args.line_reader.as_deref())?;
    let reader_props =
        Props::parse(&args.properties, "--property")?.with_file(args.reader_config.as_deref())?;
    let format = LineFormat::from_props(&reader_props)?;
    for n in notes(args) {
        eprintln!("{n}");
    }
    let props = Props::parse(&args.producer_properties, "--producer-property")?
        .with_file(args.producer_config.as_deref())?;
    let settings = SendSettings::resolve(args, &props)?;
    let mut session = Session::connect(
        &bootstrap,
        Duration::from_millis(settings.request_timeout_ms as u64 + 5000),
    )?;
    let parts = session.partitions(&args.topic, true)?;
    if let Some(p) = args.partition {
        if !parts.iter().any(|i| i.partition == p) {
            return Err(format!("topic {} has no partition {p}", args.topic));
        }
    }
    let seed = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    let mut sender = Sender {
        session: &mut session,
        topic: args.topic.clone(),
        leaders: parts.iter().map(|p| (p.partition, p.leader)).collect(),
        settings,
        pending: BTreeMap::new(),
        partitioner: Partitioner::new(parts.len() as i32, seed),
    };
    let lines = spawn_stdin_reader();
    let mut line_no = 0u64;
    loop {
        let next = match sender.next_deadline() {
            None => lines
                .recv()
                .map_err(|_| mpsc::RecvTimeoutError::Disconnected),
            Some(d) => lines.recv_timeout(d.saturating_duration_since(Instant::now())),
        };
        match next {
            Ok(line) => {
                let line = line.map_err(|e| format!("reading stdin: {e}"))?;
                line_no += 1;
                let rec = parse_line(&format, &line, line_no)?;
                let partition = args
                    .partition
                    .unwrap_or_else(|| sender.partitioner.partition(rec.key.as_deref()));
                sender.add(partition, rec)?;
            }
            Err(mpsc::RecvTimeoutError::Timeout) => sender.send_due()?,
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
        }
    }
    sender.send(|_, _| true)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rec(key: Option<&str>, value: Option<&str>) -> LineRecord {
        LineRecord {
            key: key.map(|k| k.as_bytes().to_vec()),
            value: value.map(|v| v.as_bytes().to_vec()),
            headers: vec![],
        }
    }

    #[test]
    fn acks_and_codecs() {
        assert_eq!(parse_acks("all"), Ok(-1));
        assert_eq!(parse_acks("-1"), Ok(-1));
        assert_eq!(parse_acks("0"), Ok(0));
        assert!(parse_acks("2").is_err());
        assert_eq!(parse_codec("ZSTD"), Ok(Compression::Zstd));
        assert_eq!(parse_codec("none"), Ok(Compression::None));
        assert!(parse_codec("brotli").is_err());
        assert!(check_line_reader(Some("kafka.tools.LineMessageReader")).is_ok());
        assert!(check_line_reader(Some("com.example.CsvReader")).is_err());
    }

    #[test]
    fn batch_round_trips_through_the_consumer_decoder() {
        let records = vec![
            (rec(Some("k"), Some("v")), 5),
            (
                LineRecord {
                    headers: vec![(b"h".to_vec(), None)],
                    ..rec(None, None)
                },
                6,
            ),
        ];
        let b = encode_batch(&records, Compression::Lz4).unwrap();
        crate::record::validate_batches(&b).unwrap();
        let (got, next) = super::super::fetched::decode(0, &b, 0, None).unwrap();
        assert_eq!(next, 2);
        assert_eq!(got[0].key.as_deref(), Some(&b"k"[..]));
        assert_eq!(got[1].value, None);
        assert_eq!(got[1].headers, vec![(b"h".to_vec(), None)]);
        assert_eq!(got[1].timestamp, 6);
    }
}
