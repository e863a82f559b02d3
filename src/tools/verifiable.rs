//! `kafka-verifiable-producer` and `kafka-verifiable-consumer`: Kafka 4.1's
//! VerifiableProducer / VerifiableConsumer flags and JSON event lines (one JSON
//! object a line, `timestamp` and `name` first), which system tests parse to check
//! that every acknowledged record was consumed.

use std::collections::BTreeMap;
use std::io::Write;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::args::Props;
use super::fetcher::Fetcher;
use super::groups;
use super::pipeline::{now_ms, Producer, Settings};
use super::session::Session;

/// Socket timeout of the tools' connections.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one consumer fetch waits for data, in ms.
const POLL_WAIT_MS: i32 = 100;
/// Longest sleep between throttled sends.
const MAX_POLL_WAIT: Duration = Duration::from_millis(50);

/// Prints one event: `timestamp`, `name`, then `fields` in the given order.
fn emit(name: &str, fields: &[(&str, Value)]) {
    let mut s = format!("{{\"timestamp\":{},\"name\":{}", now_ms(), json!(name));
    for (k, v) in fields {
        s.push_str(&format!(",{}:{}", json!(k), v));
    }
    s.push('}');
    let mut out = std::io::stdout().lock();
    let _ = writeln!(out, "{s}");
    let _ = out.flush();
}

#[derive(Debug, clap::Args)]
pub struct VerifiableProducerArgs {
    /// Topic to produce to.
    #[arg(long, required = true)]
    pub topic: String,
    /// Brokers (host:port,...).
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    /// Records to send; -1 sends until killed.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub max_messages: i64,
    /// Most records per second; -1 for no limit.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub throughput: i64,
    /// acks for each Produce (-1 = all, 0, 1).
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub acks: i16,
    /// Producer properties file.
    #[arg(long = "producer.config")]
    pub producer_config: Option<String>,
    /// Create time of the first record, in ms since the epoch; -1 for now.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub message_create_time: i64,
    /// Values are `<prefix>.<n>` instead of `<n>`.
    #[arg(long)]
    pub value_prefix: Option<i64>,
    /// Keys cycle through 0..N-1 (none when not given).
    #[arg(long)]
    pub repeating_keys: Option<i64>,
}

pub fn run_producer(args: &VerifiableProducerArgs) -> Result<(), String> {
    let mut props = Props::default().with_file(args.producer_config.as_deref())?;
    props.0.push(("acks".into(), args.acks.to_string()));
    let bootstrap = args
        .bootstrap_server
        .clone()
        .or_else(|| props.get("bootstrap.servers").map(str::to_string))
        .ok_or("--bootstrap-server is required")?;
    if args.message_create_time >= 0 {
        eprintln!("--message-create-time: records carry the time they are sent");
    }
    let mut settings = Settings::from_props(&props)?;
    // Kafka's verifiable producer sends each record as soon as it is made.
    settings.linger = settings.linger.min(Duration::from_millis(0));
    let session = Session::connect(&bootstrap, SOCKET_TIMEOUT)?;
    let mut p: Producer<(Option<String>, String)> =
        Producer::new(session, &args.topic, settings, std::process::id() as usize)?;
    emit("startup_complete", &[]);
    let start = Instant::now();
    let (mut sent, mut acked) = (0i64, 0i64);
    let report = |p: &mut Producer<(Option<String>, String)>, acked: &mut i64| {
        for o in p.take_outcomes() {
            let (k, v) = o.tag;
            match o.result {
                Ok(offset) => {
                    *acked += 1;
                    emit(
                        "producer_send_success",
                        &[
                            ("key", json!(k)),
                            ("value", json!(v)),
                            ("topic", json!(p.topic)),
                            ("partition", json!(o.partition)),
                            ("offset", json!(offset)),
                        ],
                    );
                }
                Err(e) => emit(
                    "producer_send_error",
                    &[
                        (
                            "exception",
                            json!("class org.apache.kafka.common.KafkaException"),
                        ),
                        ("message", json!(e)),
                        ("topic", json!(p.topic)),
                        ("key", json!(k)),
                        ("value", json!(v)),
                    ],
                ),
            }
        }
    };
    while args.max_messages < 0 || sent < args.max_messages {
        let key = args
            .repeating_keys
            .filter(|n| *n > 0)
            .map(|n| (sent % n).to_string());
        let value = match args.value_prefix {
            Some(pre) => format!("{pre}.{sent}"),
            None => sent.to_string(),
        };
        p.add(
            key.clone().map(String::into_bytes),
            value.clone().into_bytes(),
            (key, value),
        )?;
        sent += 1;
        p.poll(Duration::ZERO)?;
        report(&mut p, &mut acked);
        if args.throughput > 0 {
            let due = start + Duration::from_secs_f64(sent as f64 / args.throughput as f64);
            while Instant::now() < due {
                p.poll((due - Instant::now()).min(MAX_POLL_WAIT))?;
                report(&mut p, &mut acked);
            }
        }
    }
    p.flush()?;
    report(&mut p, &mut acked);
    emit("shutdown_complete", &[]);
    let secs = start.elapsed().as_secs_f64().max(0.001);
    emit(
        "tool_data",
        &[
            ("sent", json!(sent)),
            ("acked", json!(acked)),
            ("target_throughput", json!(args.throughput)),
            ("avg_throughput", json!(sent as f64 / secs)),
        ],
    );
    Ok(())
}

#[derive(Debug, clap::Args)]
pub struct VerifiableConsumerArgs {
    /// Brokers (host:port,...).
    #[arg(long, required = true)]
    pub bootstrap_server: String,
    /// Topic to consume.
    #[arg(long, required = true)]
    pub topic: String,
    /// Group whose offsets are the start and get the commits.
    #[arg(long, required = true)]
    pub group_id: String,
    /// classic or consumer (gregor's tool reads every partition itself either way).
    #[arg(long, default_value = "classic")]
    pub group_protocol: String,
    /// Server-side assignor (consumer protocol).
    #[arg(long)]
    pub group_remote_assignor: Option<String>,
    /// Static membership id.
    #[arg(long)]
    pub group_instance_id: Option<String>,
    /// Stop after this many records; -1 runs until killed.
    #[arg(long, default_value_t = -1, allow_hyphen_values = true)]
    pub max_messages: i64,
    /// Session timeout, in ms (classic protocol).
    #[arg(long, default_value_t = 30_000)]
    pub session_timeout: i32,
    /// Print a record_data event per record.
    #[arg(long)]
    pub verbose: bool,
    /// Commit automatically instead of after each batch of records.
    #[arg(long)]
    pub enable_autocommit: bool,
    /// Where to start without a committed offset: earliest, latest or none.
    #[arg(long, default_value = "earliest")]
    pub reset_policy: String,
    /// Classic assignor class (JVM only).
    #[arg(long)]
    pub assignment_strategy: Option<String>,
    /// Consumer properties file.
    #[arg(long = "consumer.config")]
    pub consumer_config: Option<String>,
}

pub fn run_consumer(args: &VerifiableConsumerArgs) -> Result<(), String> {
    let _ = Props::default().with_file(args.consumer_config.as_deref())?;
    for (on, what) in [
        (
            args.group_remote_assignor.is_some(),
            "--group-remote-assignor",
        ),
        (args.group_instance_id.is_some(), "--group-instance-id"),
        (args.assignment_strategy.is_some(), "--assignment-strategy"),
    ] {
        if on {
            eprintln!("{what}: no effect; gregor's verifiable consumer reads every partition of the topic itself");
        }
    }
    if !["classic", "consumer"].contains(&args.group_protocol.to_ascii_lowercase().as_str()) {
        return Err(format!(
            "--group-protocol must be classic or consumer, got {:?}",
            args.group_protocol
        ));
    }
    let from_latest = match args.reset_policy.as_str() {
        "earliest" => false,
        "latest" => true,
        "none" => false,
        other => {
            return Err(format!(
                "--reset-policy must be earliest, latest or none, got {other:?}"
            ))
        }
    };
    let mut session = Session::connect(&args.bootstrap_server, SOCKET_TIMEOUT)?;
    let parts = session.partitions(&args.topic, false)?;
    let ids: Vec<i32> = parts.iter().map(|p| p.partition).collect();
    let group = args.group_id.clone();
    let committed = groups::committed(
        session.coordinator(&group)?,
        &group,
        Some((&args.topic, &ids)),
    )?;
    let mut f = Fetcher {
        session,
        topic: args.topic.clone(),
        parts,
        positions: committed.iter().map(|((_, p), o)| (*p, *o)).collect(),
        partition_bytes: 1 << 20,
        from_latest,
    };
    let missing: Vec<i32> = ids
        .iter()
        .copied()
        .filter(|p| !f.positions.contains_key(p))
        .collect();
    if args.reset_policy == "none" && !missing.is_empty() {
        return Err(format!(
            "no committed offset for partitions {missing:?} and --reset-policy none"
        ));
    }
    f.reset(&missing)?;
    emit("startup_complete", &[]);
    let tps: Vec<Value> = ids
        .iter()
        .map(|p| json!({"topic": args.topic, "partition": p}))
        .collect();
    emit("partitions_assigned", &[("partitions", json!(tps))]);
    let mut consumed = 0i64;
    while args.max_messages < 0 || consumed < args.max_messages {
        let mut recs = f.fetch(POLL_WAIT_MS)?;
        if args.max_messages >= 0 {
            recs.truncate((args.max_messages - consumed) as usize);
        }
        if recs.is_empty() {
            continue;
        }
        consumed += recs.len() as i64;
        let mut by_part: BTreeMap<i32, (i64, i64, i64)> = BTreeMap::new();
        for r in &recs {
            let e = by_part
                .entry(r.partition)
                .or_insert((0, r.offset, r.offset));
            *e = (e.0 + 1, e.1.min(r.offset), e.2.max(r.offset));
            if args.verbose {
                emit(
                    "record_data",
                    &[
                        (
                            "key",
                            json!(r
                                .key
                                .as_ref()
                                .map(|k| String::from_utf8_lossy(k).into_owned())),
                        ),
                        (
                            "value",
                            json!(r
                                .value
                                .as_ref()
                                .map(|v| String::from_utf8_lossy(v).into_owned())),
                        ),
                        ("topic", json!(args.topic)),
                        ("partition", json!(r.partition)),
                        ("offset", json!(r.offset)),
                    ],
                );
            }
        }
        let summary: Vec<Value> = by_part
            .iter()
            .map(|(p, (n, lo, hi))| json!({"topic": args.topic, "partition": p, "count": n, "minOffset": lo, "maxOffset": hi}))
            .collect();
        emit(
            "records_consumed",
            &[("count", json!(recs.len())), ("partitions", json!(summary))],
        );
        // Commit exactly what was handed out (the positions may run past a truncated round).
        let offsets: Vec<(i32, i64)> = by_part.iter().map(|(p, (_, _, hi))| (*p, hi + 1)).collect();
        let topic = f.topic.clone();
        let result = f
            .session
            .coordinator(&group)
            .and_then(|c| groups::commit(c, &group, &topic, &offsets));
        if !args.enable_autocommit || result.is_err() {
            let list: Vec<Value> = offsets
                .iter()
                .map(|(p, o)| json!({"topic": topic, "partition": p, "offset": o}))
                .collect();
            match result {
                Ok(()) => emit(
                    "offsets_committed",
                    &[("offsets", json!(list)), ("success", json!(true))],
                ),
                Err(e) => emit(
                    "offsets_committed",
                    &[
                        ("offsets", json!(list)),
                        ("error", json!(e)),
                        ("success", json!(false)),
                    ],
                ),
            }
        }
    }
    emit("partitions_revoked", &[("partitions", json!(tps))]);
    emit("shutdown_complete", &[]);
    Ok(())
}
