//! `kafka-consumer-perf-test`: Kafka 4.1's ConsumerPerformance flags and CSV
//! output. It reads every partition of the topic directly (no group join, so
//! rebalance.time.ms is 0), starting from the group's committed offsets, and
//! commits its positions for `--group` at the end as Kafka's auto-commit would.

use std::collections::BTreeMap;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::args::Props;
use super::fetcher::Fetcher;
use super::groups;
use super::session::Session;

/// Socket timeout of the tool's connections.
const SOCKET_TIMEOUT: Duration = Duration::from_secs(30);
/// How long one fetch waits for data, in ms (Kafka polls every 100 ms).
const POLL_WAIT_MS: i32 = 100;

#[derive(Debug, clap::Args)]
pub struct ConsumerPerfArgs {
    /// Brokers to bootstrap from (host:port,...).
    #[arg(long, required = true)]
    pub bootstrap_server: String,
    /// Topic to consume.
    #[arg(long, required = true)]
    pub topic: String,
    /// Number of records to consume.
    #[arg(long, required = true)]
    pub messages: i64,
    /// Group whose committed offsets are the start and which gets the end positions.
    #[arg(long)]
    pub group: Option<String>,
    /// Bytes fetched per partition per request.
    #[arg(long, default_value_t = 1024 * 1024)]
    pub fetch_size: i32,
    /// Start at the end of partitions with no committed offset.
    #[arg(long)]
    pub from_latest: bool,
    /// TCP receive buffer size, in bytes (the operating system's default is kept).
    #[arg(long, default_value_t = 2 * 1024 * 1024)]
    pub socket_buffer_size: i32,
    /// Consumer properties file.
    #[arg(long = "consumer.config")]
    pub consumer_config: Option<String>,
    /// Print the consumer's metrics at the end.
    #[arg(long)]
    pub print_metrics: bool,
    /// Print a line per --reporting-interval instead of one summary.
    #[arg(long)]
    pub show_detailed_stats: bool,
    /// Give up after this long without a record, in ms.
    #[arg(long, num_args = 0..=1, default_value_t = 10_000, default_missing_value = "10000")]
    pub timeout: u64,
    /// Interval between detailed stats lines, in ms.
    #[arg(long, default_value_t = 5000)]
    pub reporting_interval: u64,
    /// Time format (Java SimpleDateFormat letters y M d H m s S), in UTC.
    #[arg(long, default_value = "yyyy-MM-dd HH:mm:ss:SSS")]
    pub date_format: String,
    /// No header line.
    #[arg(long)]
    pub hide_header: bool,
}

fn epoch_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Civil date (y, m, d) of days since 1970-01-01 (Howard Hinnant's algorithm).
fn civil(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

/// Formats `ms` with SimpleDateFormat's y, M, d, H, m, s and S letters ('...' quotes).
pub fn format_time(pattern: &str, ms: i64) -> String {
    let (y, mo, d) = civil(ms.div_euclid(86_400_000));
    let day_ms = ms.rem_euclid(86_400_000);
    let fields = |c: char| -> Option<i64> {
        Some(match c {
            'y' => y,
            'M' => mo,
            'd' => d,
            'H' => day_ms / 3_600_000,
            'm' => day_ms / 60_000 % 60,
            's' => day_ms / 1000 % 60,
            'S' => day_ms % 1000,
            _ => return None,
        })
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        let run = chars[i..].iter().take_while(|&&x| x == c).count();
        if c == '\'' {
            let end = chars[i + 1..]
                .iter()
                .position(|&x| x == '\'')
                .map_or(chars.len(), |p| i + 1 + p);
            out.extend(&chars[i + 1..end]);
            i = end + 1;
            continue;
        }
        match fields(c) {
            Some(v) if c == 'y' && run == 2 => out.push_str(&format!("{:02}", v % 100)),
            Some(v) => out.push_str(&format!("{v:0run$}")),
            None => out.extend(&chars[i..i + run]),
        }
        i += run;
    }
    out
}

pub fn run(args: &ConsumerPerfArgs) -> Result<Vec<String>, String> {
    if args.messages <= 0 {
        return Err("--messages must be greater than zero".into());
    }
    let props = Props::default().with_file(args.consumer_config.as_deref())?;
    let group = args
        .group
        .clone()
        .or_else(|| props.get("group.id").map(str::to_string))
        .unwrap_or_else(|| format!("perf-consumer-{}", std::process::id()));
    if args.print_metrics {
        eprintln!("--print-metrics: gregor's consumer keeps no JMX-style metrics");
    }
    let dtf = |ms| format_time(&args.date_format, ms);
    if !args.hide_header {
        let extra = ", rebalance.time.ms, fetch.time.ms, fetch.MB.sec, fetch.nMsg.sec";
        if args.show_detailed_stats {
            println!("time, threadId, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}");
        } else {
            println!("start.time, end.time, data.consumed.in.MB, MB.sec, data.consumed.in.nMsg, nMsg.sec{extra}");
        }
    }
    let start_ms = epoch_ms();
    let mut session = Session::connect(&args.bootstrap_server, SOCKET_TIMEOUT)?;
    let parts = session.partitions(&args.topic, false)?;
    let ids: Vec<i32> = parts.iter().map(|p| p.partition).collect();
    let committed = groups::committed(
        session.coordinator(&group)?,
        &group,
        Some((&args.topic, &ids)),
    )?;
    let mut f = Fetcher {
        session,
        topic: args.topic.clone(),
        parts,
        positions: committed
            .iter()
            .map(|((_, p), o)| (*p, *o))
            .collect::<BTreeMap<_, _>>(),
        partition_bytes: args.fetch_size.max(1),
        from_latest: args.from_latest,
    };
    let missing: Vec<i32> = ids
        .iter()
        .copied()
        .filter(|p| !f.positions.contains_key(p))
        .collect();
    f.reset(&missing)?;

    let (mut msgs, mut bytes) = (0i64, 0u64);
    let (mut last_msgs, mut last_bytes) = (0i64, 0u64);
    let mut last_consumed = Instant::now();
    let mut last_report = epoch_ms();
    let mb = |b: u64| b as f64 / (1024.0 * 1024.0);
    while msgs < args.messages && last_consumed.elapsed() <= Duration::from_millis(args.timeout) {
        let recs = f.fetch(POLL_WAIT_MS)?;
        if !recs.is_empty() {
            last_consumed = Instant::now();
        }
        let now = epoch_ms();
        for r in recs {
            msgs += 1;
            bytes += (r.key.map_or(0, |k| k.len()) + r.value.map_or(0, |v| v.len())) as u64;
            if now - last_report >= args.reporting_interval as i64 {
                if args.show_detailed_stats {
                    let el = (now - last_report).max(1) as f64;
                    let rate_mb = 1000.0 * mb(bytes - last_bytes) / el;
                    let rate_n = 1000.0 * (msgs - last_msgs) as f64 / el;
                    println!(
                        "{}, 0, {:.4}, {rate_mb:.4}, {msgs}, {rate_n:.4}, 0, {}, {rate_mb:.4}, {rate_n:.4}",
                        dtf(now), mb(bytes), now - last_report
                    );
                }
                last_report = now;
                last_msgs = msgs;
                last_bytes = bytes;
            }
            if msgs >= args.messages {
                break;
            }
        }
    }
    if msgs < args.messages {
        println!("WARNING: Exiting before consuming the expected number of messages: timeout ({} ms) exceeded. You can use the --timeout option to increase the timeout.", args.timeout);
    }
    let offsets: Vec<(i32, i64)> = f.positions.iter().map(|(p, o)| (*p, *o)).collect();
    let topic = f.topic.clone();
    groups::commit(f.session.coordinator(&group)?, &group, &topic, &offsets)?;
    let end_ms = epoch_ms();
    let mut lines = Vec::new();
    if !args.show_detailed_stats {
        let secs = ((end_ms - start_ms).max(1)) as f64 / 1000.0;
        let total = mb(bytes);
        lines.push(format!(
            "{}, {}, {total:.4}, {:.4}, {msgs}, {:.4}, 0, {}, {:.4}, {:.4}",
            dtf(start_ms),
            dtf(end_ms),
            total / secs,
            msgs as f64 / secs,
            end_ms - start_ms,
            total / secs,
            msgs as f64 / secs
        ));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    #[test]
    fn java_date_format() {
        assert_eq!(
            super::format_time("yyyy-MM-dd HH:mm:ss:SSS", 1_700_000_000_123),
            "2023-11-14 22:13:20:123"
        );
        assert_eq!(super::format_time("'at' HH:mm", 0), "at 00:00");
    }
}
