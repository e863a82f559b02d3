//! `gregor console-consumer` (also run as `kafka-console-consumer.sh`): prints the
//! records of a topic (all partitions, or one with `--partition`/`--offset`), or of
//! every topic an `--include` regex matches, through Kafka's formatter classes
//! (`console_format.rs`), stopping after `--max-messages` or `--timeout-ms`
//! without data, then says "Processed a total of N messages" on stderr. With
//! `--group` it resumes from and commits the group's offsets as a standalone
//! consumer (it does not join the group's membership).

use std::collections::BTreeMap;
use std::io::Write;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use super::args::Props;
use super::console_fetch::{Consumer, Subscription};
use super::console_format::{parse_deserializer, parse_style, Formatter, Style};
use super::groups;
use super::session::Session;
use super::topic_filter::IncludeList;

/// Longest the broker holds a fetch waiting for data, in ms.
const FETCH_MAX_WAIT_MS: i32 = 500;
/// How often group offsets are committed while consuming (auto.commit.interval.ms).
const COMMIT_INTERVAL: Duration = Duration::from_secs(5);
/// How often an `--include` regex is matched again against the topic list, so
/// topics created later are picked up (the Java consumer rechecks on each
/// metadata refresh).
const PATTERN_REFRESH: Duration = Duration::from_secs(1);
/// Socket timeout: well above the fetch wait.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
const READ_UNCOMMITTED: i8 = 0;
pub(super) const READ_COMMITTED: i8 = 1;

/// Set by SIGINT/SIGTERM so the loop ends and prints its total, as Kafka's
/// shutdown hook does.
static STOP: AtomicBool = AtomicBool::new(false);

#[derive(Debug, clap::Args)]
pub struct ConsumerArgs {
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    #[arg(long)]
    pub topic: Option<String>,
    /// Regex of topics to consume (whole-name match, `,` = `|`), instead of --topic.
    #[arg(long)]
    pub include: Option<String>,
    /// Older name of --include (gone from Kafka since 4.0; accepted with a note).
    #[arg(long)]
    pub whitelist: Option<String>,
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
    /// Formatter class: DefaultMessageFormatter (default), LoggingMessageFormatter
    /// or NoOpMessageFormatter (any package prefix).
    #[arg(long)]
    pub formatter: Option<String>,
    /// Formatter property, `key=value` (repeatable): print.key, print.value,
    /// print.timestamp, print.partition, print.offset, print.headers, key.separator,
    /// line.separator, headers.separator, null.literal, key.deserializer,
    /// value.deserializer, header.deserializer. `--formatter-property` is
    /// Kafka 4.2's name for it.
    #[arg(
        long = "property",
        visible_alias = "formatter-property",
        value_name = "KEY=VALUE"
    )]
    pub properties: Vec<String>,
    /// A properties file of formatter properties (--property wins).
    #[arg(long, value_name = "FILE")]
    pub formatter_config: Option<String>,
    /// Consumer property (repeatable): group.id, auto.offset.reset,
    /// enable.auto.commit, isolation.level, key.deserializer, value.deserializer;
    /// others are accepted and ignored. `--command-property` is Kafka 4.2's name.
    #[arg(
        long = "consumer-property",
        visible_alias = "command-property",
        value_name = "KEY=VALUE"
    )]
    pub consumer_properties: Vec<String>,
    /// A consumer properties file; `--command-config` is Kafka 4.2's name.
    #[arg(
        long = "consumer.config",
        visible_alias = "command-config",
        value_name = "FILE"
    )]
    pub consumer_config: Option<String>,
    /// Key deserializer class (StringDeserializer, LongDeserializer, ...).
    #[arg(long)]
    pub key_deserializer: Option<String>,
    /// Value deserializer class (StringDeserializer, LongDeserializer, ...).
    #[arg(long)]
    pub value_deserializer: Option<String>,
    /// read_uncommitted (default) or read_committed.
    #[arg(long)]
    pub isolation_level: Option<String>,
    /// Skip records the formatter cannot print (a deserializer error) instead of stopping.
    #[arg(long)]
    pub skip_message_on_error: bool,
    /// Print Kafka's system-test lifecycle event `shutdown_complete` on stdout at exit.
    #[arg(long)]
    pub enable_systest_events: bool,
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

/// The formatter `--formatter`, `--property`/`--formatter-config` and the
/// deserializer flags describe (the flags win over the properties, as in Kafka).
fn formatter(args: &ConsumerArgs, consumer_props: &Props) -> Result<Formatter, String> {
    let style = args
        .formatter
        .as_deref()
        .map_or(Ok(Style::Default), parse_style)?;
    let mut props = Props::parse(&args.properties, "--property")?
        .with_file(args.formatter_config.as_deref())?;
    for (key, flag) in [
        ("key.deserializer", &args.key_deserializer),
        ("value.deserializer", &args.value_deserializer),
    ] {
        if let Some(class) = flag.as_deref().or(consumer_props.get(key)) {
            parse_deserializer(class)?;
            if props.get(key).is_none() || flag.is_some() {
                props.0.push((key.to_string(), class.to_string()));
            }
        }
    }
    Formatter::with_style(style, &props)
}

/// Kafka's checks of the flags that pick what to read (ConsoleConsumerOptions).
fn subscription(args: &ConsumerArgs) -> Result<Subscription, String> {
    if let Some(w) = &args.whitelist {
        eprintln!("Note: --whitelist was removed in Kafka 4.0; gregor reads it as --include {w}");
    }
    let include = args.include.as_ref().or(args.whitelist.as_ref());
    match (&args.topic, include) {
        (Some(t), None) => Ok(Subscription::Topic(t.clone())),
        (None, Some(p)) => {
            if args.partition.is_some() {
                return Err("The topic is required when partition is specified.".into());
            }
            Ok(Subscription::Pattern(IncludeList::new(p)?))
        }
        _ => Err("Exactly one of --include/--topic is required.".into()),
    }
}

pub fn run(args: &ConsumerArgs) -> Result<(), String> {
    let subscription = subscription(args)?;
    if args.offset.is_some() && args.partition.is_none() {
        return Err("The partition is required when offset is specified.".into());
    }
    if args.offset.is_some() && args.from_beginning {
        return Err("Options from-beginning and offset cannot be specified together.".into());
    }
    let server = args
        .bootstrap_server
        .as_deref()
        .ok_or("Missing required argument \"[bootstrap-server]\"")?;
    let props = Props::parse(&args.consumer_properties, "--consumer-property")?
        .with_file(args.consumer_config.as_deref())?;
    let formatter = formatter(args, &props)?;
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
    if group.is_some() && args.partition.is_some() {
        return Err("Options group and partition cannot be specified together.".into());
    }
    let reset = match (props.get("auto.offset.reset"), args.from_beginning) {
        (Some("earliest"), _) | (None, true) => Start::Earliest,
        (Some(other), true) => {
            return Err(format!(
                "Can't simultaneously specify --from-beginning and 'auto.offset.reset={other}', please remove one option"
            ))
        }
        (Some("latest") | None, false) => Start::Latest,
        (Some(other), false) => {
            return Err(format!(
                "auto.offset.reset must be earliest or latest, got {other:?}"
            ))
        }
    };
    let session = Session::connect(server, SOCKET_TIMEOUT)?;
    let mut c = Consumer {
        session,
        subscription,
        only_partition: args.partition,
        parts: Vec::new(),
        positions: BTreeMap::new(),
        isolation,
        reset,
        auto_commit: props.flag("enable.auto.commit", true)?,
        group: group.clone(),
    };
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
    }
    let start = match &args.offset {
        Some(o) => Some(parse_offset(o)?),
        None => None,
    };
    let first = c.resolve()?;
    c.assign(first, start)?;
    let result = consume(&mut c, args, &formatter);
    let result = result.and_then(|count| {
        eprintln!("Processed a total of {count} messages");
        c.commit()
    });
    if args.enable_systest_events {
        println!("shutdown_complete");
    }
    result
}

/// The poll loop; Ok(records processed). On an error the total is printed
/// before it is returned, as Kafka's tool reports it on the way out.
fn consume(c: &mut Consumer, args: &ConsumerArgs, formatter: &Formatter) -> Result<u64, String> {
    install_signal_handlers();
    let stdout = std::io::stdout();
    let mut out = std::io::BufWriter::new(stdout.lock());
    let mut count: u64 = 0;
    let mut last_data = Instant::now();
    let mut last_commit = Instant::now();
    let mut last_refresh = Instant::now();
    let max = args.max_messages.unwrap_or(u64::MAX);
    let timeout = args.timeout_ms.map(Duration::from_millis);
    let fail = |count: u64, e: String| {
        eprintln!("Processed a total of {count} messages");
        Err(e)
    };
    while count < max && !STOP.load(Ordering::SeqCst) {
        if matches!(c.subscription, Subscription::Pattern(_))
            && last_refresh.elapsed() >= PATTERN_REFRESH
        {
            let now = match c.resolve() {
                Ok(n) => n,
                Err(e) => return fail(count, e),
            };
            if let Err(e) = c.assign(now, None) {
                return fail(count, e);
            }
            last_refresh = Instant::now();
        }
        let wait = match timeout {
            Some(t) => t
                .saturating_sub(last_data.elapsed())
                .as_millis()
                .min(FETCH_MAX_WAIT_MS as u128) as i32,
            None => FETCH_MAX_WAIT_MS,
        };
        let recs = if c.parts.is_empty() {
            std::thread::sleep(Duration::from_millis(wait.max(0) as u64));
            Vec::new()
        } else {
            match c.fetch(wait) {
                Ok(r) => r,
                Err(e) => return fail(count, e),
            }
        };
        if !recs.is_empty() {
            last_data = Instant::now();
        }
        for (topic, r) in recs {
            if count >= max {
                // Not printed: the committed position must not pass it.
                if let Some(pos) = c.positions.get_mut(&(topic, r.partition)) {
                    *pos = (*pos).min(r.offset);
                }
                continue;
            }
            count += 1;
            match formatter.format(&r) {
                Ok(bytes) => {
                    if let Err(e) = out.write_all(&bytes) {
                        return fail(count, format!("writing stdout: {e}"));
                    }
                }
                Err(e) if args.skip_message_on_error => {
                    eprintln!("[ERROR] Error processing message, skipping this message: {e}");
                }
                Err(e) => {
                    let _ = out.flush();
                    // The record is consumed: Kafka's consumer has moved past it too.
                    let _ = c.commit();
                    return fail(
                        count,
                        format!("Error processing message, terminating consumer process: {e}"),
                    );
                }
            }
        }
        let _ = out.flush();
        if timeout.is_some_and(|t| last_data.elapsed() >= t) {
            eprintln!("[ERROR] Error processing message, terminating consumer process: org.apache.kafka.common.errors.TimeoutException");
            break;
        }
        if last_commit.elapsed() >= COMMIT_INTERVAL {
            if let Err(e) = c.commit() {
                return fail(count, e);
            }
            last_commit = Instant::now();
        }
    }
    let _ = out.flush();
    Ok(count)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_parse() {
        assert_eq!(parse_offset("earliest"), Ok(Start::Earliest));
        assert_eq!(parse_offset("latest"), Ok(Start::Latest));
        assert_eq!(parse_offset("12"), Ok(Start::At(12)));
        assert!(parse_offset("-3").is_err());
        assert!(parse_offset("soon").is_err());
    }
}
