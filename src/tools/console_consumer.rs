//! `gregor console-consumer` (also run as `kafka-console-consumer.sh`): prints the
//! records of a topic (all partitions, or one with `--partition`/`--offset`) in the
//! format of Kafka's DefaultMessageFormatter, stopping after `--max-messages` or
//! `--timeout-ms` without data, then says "Processed a total of N messages" on
//! stderr. With `--group` it resumes from and commits the group's offsets as a
//! standalone consumer (it does not join the group's membership).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::{ApiKey, FetchRequest, FetchResponse};

use super::args::{bootstrap, Props};
use super::client::error_text;
use super::fetched::{decode, ConsumedRecord};
use super::groups;
use super::session::{topic_name, PartitionInfo, Session, EARLIEST_TIMESTAMP, LATEST_TIMESTAMP};
use crate::record::TimestampType;

/// Fetch v13 names topics by id; the tool names them, so it stays at v12.
const FETCH_MAX_VERSION: i16 = 12;
/// Longest the broker holds a fetch waiting for data, in ms.
const FETCH_MAX_WAIT_MS: i32 = 500;
/// Per-response and per-partition fetch limits, in bytes (the Java consumer's).
const FETCH_MAX_BYTES: i32 = 50 << 20;
const PARTITION_MAX_BYTES: i32 = 1 << 20;
/// How often group offsets are committed while consuming (auto.commit.interval.ms).
const COMMIT_INTERVAL: Duration = Duration::from_secs(5);
/// Socket timeout: well above the fetch wait.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
const READ_UNCOMMITTED: i8 = 0;
const READ_COMMITTED: i8 = 1;

/// Set by SIGINT/SIGTERM so the loop ends and prints its total, as Kafka's
/// shutdown hook does.
static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Debug, clap::Args)]
pub struct ConsumerArgs {
    #[arg(long)]
    pub bootstrap_server: String,
    #[arg(long)]
    pub topic: String,
    /// Start at the earliest offset when there is no committed offset.
    #[arg(long)]
    pub from_beginning: bool,
    /// Exit after this many messages.
    #[arg(long)]
    pub max_messages: Option<u64>,
    /// Exit when no message arrives for this long, in ms.
    #[arg(long)]
    pub timeout_ms: Option<u64>,
    /// Consume only this partition.
    #[arg(long)]
    pub partition: Option<i32>,
    /// With --partition: earliest, latest (default) or an offset.
    #[arg(long)]
    pub offset: Option<String>,
    /// Resume from and commit to this consumer group's offsets.
    #[arg(long)]
    pub group: Option<String>,
    /// Formatter property, `key=value` (repeatable): print.key, print.value,
    /// print.timestamp, print.partition, print.offset, print.headers, key.separator,
    /// line.separator, headers.separator, null.literal.
    #[arg(long = "property", value_name = "KEY=VALUE")]
    pub properties: Vec<String>,
    /// Consumer property (repeatable): group.id, auto.offset.reset,
    /// enable.auto.commit, isolation.level; others are accepted and ignored.
    #[arg(long = "consumer-property", value_name = "KEY=VALUE")]
    pub consumer_properties: Vec<String>,
    #[arg(long = "consumer.config", value_name = "FILE")]
    pub consumer_config: Option<String>,
    /// read_uncommitted (default) or read_committed.
    #[arg(long)]
    pub isolation_level: Option<String>,
    /// Accepted for compatibility (records that fail to decode end the run).
    #[arg(long)]
    pub skip_message_on_error: bool,
}

/// DefaultMessageFormatter's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Formatter {
    pub print_timestamp: bool,
    pub print_partition: bool,
    pub print_offset: bool,
    pub print_headers: bool,
    pub print_key: bool,
    pub print_value: bool,
    pub key_separator: String,
    pub line_separator: String,
    pub headers_separator: String,
    pub null_literal: String,
}

impl Formatter {
    pub fn from_props(p: &Props) -> Result<Formatter, String> {
        Ok(Formatter {
            print_timestamp: p.flag("print.timestamp", false)?,
            print_partition: p.flag("print.partition", false)?,
            print_offset: p.flag("print.offset", false)?,
            print_headers: p.flag("print.headers", false)?,
            print_key: p.flag("print.key", false)?,
            print_value: p.flag("print.value", true)?,
            key_separator: p.text("key.separator", "\t"),
            line_separator: p.text("line.separator", "\n"),
            headers_separator: p.text("headers.separator", ","),
            null_literal: p.text("null.literal", "null"),
        })
    }

    /// One record as DefaultMessageFormatter writes it: the enabled columns in the
    /// order timestamp, partition, offset, headers, key, value, separated by the key
    /// separator and ended by the line separator.
    pub fn format(&self, r: &ConsumedRecord) -> Vec<u8> {
        let mut cols: Vec<Vec<u8>> = Vec::new();
        let bytes = |b: &Option<Vec<u8>>| {
            b.clone()
                .unwrap_or_else(|| self.null_literal.as_bytes().to_vec())
        };
        if self.print_timestamp {
            let kind = match r.timestamp_type {
                TimestampType::CreateTime => "CreateTime",
                TimestampType::LogAppendTime => "LogAppendTime",
            };
            cols.push(format!("{kind}:{}", r.timestamp).into_bytes());
        }
        if self.print_partition {
            cols.push(format!("Partition:{}", r.partition).into_bytes());
        }
        if self.print_offset {
            cols.push(format!("Offset:{}", r.offset).into_bytes());
        }
        if self.print_headers {
            if r.headers.is_empty() {
                cols.push(b"NO_HEADERS".to_vec());
            } else {
                let mut h = Vec::new();
                for (i, (k, v)) in r.headers.iter().enumerate() {
                    if i > 0 {
                        h.extend_from_slice(self.headers_separator.as_bytes());
                    }
                    h.extend_from_slice(k);
                    h.push(b':');
                    h.extend(bytes(v));
                }
                cols.push(h);
            }
        }
        if self.print_key {
            cols.push(bytes(&r.key));
        }
        if self.print_value {
            cols.push(bytes(&r.value));
        }
        let mut out = cols.join(self.key_separator.as_bytes());
        if !cols.is_empty() {
            out.extend_from_slice(self.line_separator.as_bytes());
        }
        out
    }
}

/// Where to start a partition that has no committed offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    Earliest,
    Latest,
    At(i64),
}

/// Parses `--offset`: earliest, latest or a non-negative offset.
pub fn parse_offset(s: &str) -> Result<Start, String> {
    match s.trim() {
        "earliest" => Ok(Start::Earliest),
        "latest" => Ok(Start::Latest),
        n => match n.parse::<i64>() {
            Ok(o) if o >= 0 => Ok(Start::At(o)),
            _ => Err(format!(
                "The provided offset value '{n}' is incorrect. Valid values are 'earliest', 'latest', or a non-negative long."
            )),
        },
    }
}

fn install_signal_handlers() {
    extern "C" fn on_signal(_: nix::libc::c_int) {
        STOP.store(true, Ordering::SeqCst);
    }
    use nix::sys::signal::{sigaction, SaFlags, SigAction, SigHandler, SigSet, Signal};
    let action = SigAction::new(
        SigHandler::Handler(on_signal),
        SaFlags::SA_RESTART,
        SigSet::empty(),
    );
    for s in [Signal::SIGINT, Signal::SIGTERM] {
        // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
        let _ = unsafe { sigaction(s, &action) };
    }
}

struct Consumer {
    session: Session,
    topic: String,
    parts: Vec<PartitionInfo>,
    positions: BTreeMap<i32, i64>,
    isolation: i8,
    reset: Start,
    group: Option<String>,
    auto_commit: bool,
}

impl Consumer {
    fn offsets_at(&mut self, timestamp: i64, only: Option<i32>) -> Result<Vec<(i32, i64)>, String> {
        let parts: Vec<PartitionInfo> = self
            .parts
            .iter()
            .copied()
            .filter(|p| only.is_none_or(|o| o == p.partition))
            .collect();
        let isolation = self.isolation;
        let topic = self.topic.clone();
        self.session
            .list_offsets(&topic, &parts, timestamp, isolation)
    }

    /// Positions for `partitions` from `start` (earliest/latest via ListOffsets).
    fn seek(&mut self, partitions: &[i32], start: Start) -> Result<(), String> {
        for &p in partitions {
            let offset = match start {
                Start::At(o) => o,
                Start::Earliest => self.offsets_at(EARLIEST_TIMESTAMP, Some(p))?[0].1,
                Start::Latest => self.offsets_at(LATEST_TIMESTAMP, Some(p))?[0].1,
            };
            self.positions.insert(p, offset);
        }
        Ok(())
    }

    fn commit(&mut self) -> Result<(), String> {
        let Some(group) = self.group.clone() else {
            return Ok(());
        };
        if !self.auto_commit {
            return Ok(());
        }
        let offsets: Vec<(i32, i64)> = self.positions.iter().map(|(p, o)| (*p, *o)).collect();
        let topic = self.topic.clone();
        let c = self.session.coordinator(&group)?;
        groups::commit(c, &group, &topic, &offsets)
    }

    /// One round of fetches (one request per leader). Returns the records in
    /// partition order and advances the positions past them.
    fn fetch(&mut self, wait_ms: i32) -> Result<Vec<ConsumedRecord>, String> {
        let mut by_leader: BTreeMap<i32, Vec<i32>> = BTreeMap::new();
        for p in &self.parts {
            if self.positions.contains_key(&p.partition) {
                by_leader.entry(p.leader).or_default().push(p.partition);
            }
        }
        let mut out = Vec::new();
        for (leader, parts) in by_leader {
            let req = FetchRequest::default()
                .with_max_wait_ms(wait_ms)
                .with_min_bytes(1)
                .with_max_bytes(FETCH_MAX_BYTES)
                .with_isolation_level(self.isolation)
                .with_topics(vec![FetchTopic::default()
                    .with_topic(topic_name(&self.topic))
                    .with_partitions(
                        parts
                            .iter()
                            .map(|p| {
                                FetchPartition::default()
                                    .with_partition(*p)
                                    .with_fetch_offset(self.positions[p])
                                    .with_partition_max_bytes(PARTITION_MAX_BYTES)
                            })
                            .collect(),
                    )]);
            let resp: FetchResponse =
                self.session
                    .node(leader)?
                    .call_capped(ApiKey::Fetch, FETCH_MAX_VERSION, &req)?;
            if resp.error_code != 0 {
                return Err(format!(
                    "fetch failed: {}",
                    error_text(resp.error_code, None)
                ));
            }
            for t in &resp.responses {
                for p in &t.partitions {
                    let partition = p.partition_index;
                    if p.error_code == ResponseError::OffsetOutOfRange.code() {
                        let reset = self.reset;
                        self.seek(&[partition], reset)?;
                        continue;
                    }
                    if p.error_code != 0 {
                        return Err(format!(
                            "fetching {}-{partition}: {}",
                            self.topic,
                            error_text(p.error_code, None)
                        ));
                    }
                    let Some(bytes) = &p.records else { continue };
                    let aborted: Option<Vec<(i64, i64)>> =
                        (self.isolation == READ_COMMITTED).then(|| {
                            p.aborted_transactions
                                .iter()
                                .flatten()
                                .map(|a| (a.producer_id.0, a.first_offset))
                                .collect()
                        });
                    let from = self.positions[&partition];
                    let (recs, next) = decode(partition, bytes, from, aborted.as_deref())?;
                    self.positions.insert(partition, next.max(from));
                    out.extend(recs);
                }
            }
        }
        Ok(out)
    }
}

pub fn run(args: &ConsumerArgs) -> Result<(), String> {
    if args.offset.is_some() && args.partition.is_none() {
        return Err("The partition is required when offset is specified.".into());
    }
    if args.offset.is_some() && args.from_beginning {
        return Err("Options from-beginning and offset cannot be specified together.".into());
    }
    let formatter = Formatter::from_props(&Props::parse(&args.properties, "--property")?)?;
    let props = Props::parse(&args.consumer_properties, "--consumer-property")?
        .with_file(args.consumer_config.as_deref())?;
    let isolation = match args
        .isolation_level
        .as_deref()
        .or(props.get("isolation.level"))
    {
        None | Some("read_uncommitted") => READ_UNCOMMITTED,
        Some("read_committed") => READ_COMMITTED,
        Some(other) => {
            return Err(format!(
                "isolation level must be read_committed or read_uncommitted, got {other:?}"
            ))
        }
    };
    let group = match (args.group.as_deref(), props.get("group.id")) {
        (Some(a), Some(b)) if a != b => {
            return Err(format!(
            "The group ids provided in different places (--group {a}, group.id {b}) do not match."
        ))
        }
        (a, b) => a.or(b).map(str::to_string),
    };
    let reset = if args.from_beginning {
        Start::Earliest
    } else {
        match props.get("auto.offset.reset") {
            Some("earliest") => Start::Earliest,
            Some("latest") | None => Start::Latest,
            Some(other) => {
                return Err(format!(
                    "auto.offset.reset must be earliest or latest, got {other:?}"
                ))
            }
        }
    };
    let mut session = Session::connect(
        &bootstrap(Some(&args.bootstrap_server), None)?,
        SOCKET_TIMEOUT,
    )?;
    let mut parts = session.partitions(&args.topic, false)?;
    if let Some(p) = args.partition {
        parts.retain(|i| i.partition == p);
        if parts.is_empty() {
            return Err(format!("topic {} has no partition {p}", args.topic));
        }
    }
    let mut c = Consumer {
        session,
        topic: args.topic.clone(),
        parts,
        positions: BTreeMap::new(),
        isolation,
        reset,
        auto_commit: props.flag("enable.auto.commit", true)?,
        group: group.clone(),
    };
    let all: Vec<i32> = c.parts.iter().map(|p| p.partition).collect();
    if let Some(g) = &group {
        let coordinator = c.session.coordinator(g)?;
        let described = groups::describe(coordinator, g)?;
        if !described.members.is_empty() {
            return Err(format!(
                "group {g} has {} active member(s) (state {}); gregor's console consumer commits as a standalone consumer and cannot join a group with members",
                described.members.len(),
                described.group_state.as_str()
            ));
        }
        let committed = groups::committed(coordinator, g, Some((&args.topic, &all)))?;
        for ((_, p), o) in committed {
            if all.contains(&p) {
                c.positions.insert(p, o);
            }
        }
    }
    let start = match &args.offset {
        Some(o) => Some(parse_offset(o)?),
        None => None,
    };
    let missing: Vec<i32> = all
        .iter()
        .copied()
        .filter(|p| start.is_some() || !c.positions.contains_key(p))
        .collect();
    c.seek(&missing, start.unwrap_or(reset))?;

    install_signal_handlers();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut count: u64 = 0;
    let mut last_data = Instant::now();
    let mut last_commit = Instant::now();
    let max = args.max_messages.unwrap_or(u64::MAX);
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let mut timed_out = false;
    let mut result = Ok(());
    'outer: while count < max && !STOP.load(Ordering::SeqCst) {
        let wait = match timeout {
            Some(t) => t
                .saturating_sub(last_data.elapsed())
                .as_millis()
                .min(FETCH_MAX_WAIT_MS as u128) as i32,
            None => FETCH_MAX_WAIT_MS,
        };
        let recs = match c.fetch(wait) {
            Ok(r) => r,
            Err(e) => {
                result = Err(e);
                break;
            }
        };
        if !recs.is_empty() {
            last_data = Instant::now();
        }
        for r in recs {
            if count >= max {
                // Not printed: the committed position must not pass it.
                let pos = c
                    .positions
                    .get_mut(&r.partition)
                    .expect("fetched partition");
                *pos = (*pos).min(r.offset);
                continue;
            }
            if let Err(e) = out.write_all(&formatter.format(&r)) {
                result = Err(format!("writing stdout: {e}"));
                break 'outer;
            }
            count += 1;
        }
        let _ = out.flush();
        if timeout.is_some_and(|t| last_data.elapsed() >= t) {
            timed_out = true;
            break;
        }
        if last_commit.elapsed() >= COMMIT_INTERVAL {
            if let Err(e) = c.commit() {
                result = Err(e);
                break;
            }
            last_commit = Instant::now();
        }
    }
    let _ = out.flush();
    drop(out);
    if result.is_ok() {
        result = c.commit();
    }
    if timed_out {
        eprintln!("[ERROR] Error processing message, terminating consumer process: org.apache.kafka.common.errors.TimeoutException");
    }
    eprintln!("Processed a total of {count} messages");
    result
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record() -> ConsumedRecord {
        ConsumedRecord {
            partition: 2,
            offset: 41,
            timestamp: 1700000000123,
            timestamp_type: TimestampType::CreateTime,
            key: Some(b"k1".to_vec()),
            value: Some(b"v1".to_vec()),
            headers: vec![(b"h".to_vec(), Some(b"x".to_vec())), (b"n".to_vec(), None)],
        }
    }

    fn fmt(props: &[&str]) -> Formatter {
        let items: Vec<String> = props.iter().map(|s| s.to_string()).collect();
        Formatter::from_props(&Props::parse(&items, "--property").unwrap()).unwrap()
    }

    fn show(f: &Formatter, r: &ConsumedRecord) -> String {
        String::from_utf8(f.format(r)).unwrap()
    }

    #[test]
    fn default_prints_the_value() {
        assert_eq!(show(&fmt(&[]), &record()), "v1\n");
    }

    #[test]
    fn all_columns_in_kafka_order() {
        let f = fmt(&[
            "print.key=true",
            "print.timestamp=true",
            "print.partition=true",
            "print.offset=true",
            "print.headers=true",
        ]);
        assert_eq!(
            show(&f, &record()),
            "CreateTime:1700000000123\tPartition:2\tOffset:41\th:x,n:null\tk1\tv1\n"
        );
    }

    #[test]
    fn key_separator_nulls_and_no_value() {
        let mut r = record();
        r.key = None;
        r.headers.clear();
        r.timestamp_type = TimestampType::LogAppendTime;
        assert_eq!(
            show(&fmt(&["print.key=true", "key.separator=:"]), &r),
            "null:v1\n"
        );
        assert_eq!(
            show(&fmt(&["print.key=true", "print.value=false"]), &r),
            "null\n"
        );
        assert_eq!(show(&fmt(&["print.headers=true"]), &r), "NO_HEADERS\tv1\n");
        assert_eq!(
            show(&fmt(&["print.timestamp=true", "print.value=false"]), &r),
            "LogAppendTime:1700000000123\n"
        );
        assert_eq!(show(&fmt(&["print.value=false"]), &r), "");
    }

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("earliest"), Ok(Start::Earliest));
        assert_eq!(parse_offset("latest"), Ok(Start::Latest));
        assert_eq!(parse_offset("12"), Ok(Start::At(12)));
        assert!(parse_offset("-3").is_err());
        assert!(parse_offset("soon").is_err());
    }
}
