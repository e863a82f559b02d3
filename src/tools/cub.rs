//! `cub` and `ub`: the readiness helpers of Confluent's images (Python `cub`
//! in cp 7.x, Go `ub` in 8.x). Compose init containers and custom entrypoints
//! written for cp-kafka wait with `cub kafka-ready -b kafka:29092 1 40`, so
//! the image answers the same command: wait until Metadata lists at least
//! MIN_BROKERS brokers, for at most TIMEOUT_SECS seconds.
//!
//! The ZooKeeper forms (`-z`, `zk-ready`) fail with a clear error: gregor has
//! no ZooKeeper.

use std::ffi::OsString;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use super::session::Session;

/// Longest wait for one connect or Metadata answer, in milliseconds; a
/// smaller remaining budget caps it.
const ATTEMPT_TIMEOUT_MS: u64 = 5_000;

/// Pause between attempts, in milliseconds (cub's own retry pause is 1 s).
const RETRY_PAUSE_MS: u64 = 1_000;

/// `cub kafka-ready` / `ub kafka-ready` flags; both spellings of each flag
/// are accepted by both names.
#[derive(Debug, clap::Args)]
pub struct KafkaReadyArgs {
    /// Comma-separated host:port list (a `PLAINTEXT://` prefix is allowed).
    #[arg(
        short = 'b',
        long = "bootstrap_broker_list",
        visible_alias = "bootstrap-servers",
        alias = "bootstrap-server"
    )]
    pub bootstrap: Option<String>,
    /// ZooKeeper connect string: refused, gregor has no ZooKeeper.
    #[arg(
        short = 'z',
        long = "zookeeper_connect",
        visible_alias = "zookeeper-connect"
    )]
    pub zookeeper: Option<String>,
    /// Client properties file (`bootstrap.servers`, `security.protocol`).
    #[arg(short = 'c', long = "config")]
    pub config: Option<String>,
    /// Security protocol; gregor speaks PLAINTEXT only.
    #[arg(short = 's', long = "security-protocol", visible_alias = "security")]
    pub security_protocol: Option<String>,
    /// Brokers that must be listed.
    pub min_brokers: usize,
    /// How long to keep trying, in seconds.
    pub timeout_secs: u64,
}

/// The tool's entry point for both `cub` and `ub`: the first argument names
/// the check.
pub fn main(mut argv: Vec<OsString>) -> ExitCode {
    let name = argv.first().map_or_else(
        || "cub".to_string(),
        |a| {
            std::path::Path::new(a)
                .file_name()
                .map_or_else(|| "cub".into(), |n| n.to_string_lossy().into_owned())
        },
    );
    if argv.len() < 2 {
        eprintln!(
            "usage: {name} kafka-ready [-b HOST:PORT,...] [-c CONFIG] MIN_BROKERS TIMEOUT_SECS"
        );
        return ExitCode::from(2);
    }
    argv.remove(0);
    let check = argv[0].to_string_lossy().into_owned();
    match check.as_str() {
        "kafka-ready" => {
            argv[0] = OsString::from(format!("{name} kafka-ready"));
            super::cli::clap_main(argv, kafka_ready)
        }
        "--version" | "-version" => {
            println!("{}", super::cli::VERSION_TEXT);
            ExitCode::SUCCESS
        }
        "zk-ready" => super::cli::finish(Err(format!(
            "{name} zk-ready: gregor runs without ZooKeeper (it is its own KRaft \
             controller); wait for the broker with `{name} kafka-ready -b HOST:PORT 1 SECS`"
        ))),
        other => super::cli::finish(Err(format!(
            "{name} {other}: not available in the gregor image (it has kafka-ready only)"
        ))),
    }
}

/// Polls Metadata until it lists `min_brokers` brokers or the time is up.
pub fn kafka_ready(args: &KafkaReadyArgs) -> Result<Vec<String>, String> {
    if args.zookeeper.is_some() {
        return Err("-z/--zookeeper_connect: gregor has no ZooKeeper; \
                    pass the broker's address with -b HOST:PORT"
            .into());
    }
    let props = match &args.config {
        Some(path) => crate::config::read_properties_file(std::path::Path::new(path))
            .map_err(|e| format!("{path}: {e}"))?,
        None => Vec::new(),
    };
    let prop = |key: &str| {
        props
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.trim().to_string())
    };
    let protocol = args
        .security_protocol
        .clone()
        .or_else(|| prop("security.protocol"))
        .unwrap_or_else(|| "PLAINTEXT".into());
    if !protocol.eq_ignore_ascii_case("PLAINTEXT") {
        return Err(format!(
            "security protocol {protocol}: gregor serves PLAINTEXT listeners only"
        ));
    }
    let bootstrap = args
        .bootstrap
        .clone()
        .or_else(|| prop("bootstrap.servers"))
        .ok_or("give the brokers with -b HOST:PORT (or bootstrap.servers in -c FILE)")?;
    let bootstrap = strip_protocols(&bootstrap);
    let deadline = Instant::now() + Duration::from_secs(args.timeout_secs);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let attempt = left
            .min(Duration::from_millis(ATTEMPT_TIMEOUT_MS))
            .max(Duration::from_millis(100));
        let found = Session::connect(&bootstrap, attempt).and_then(|mut s| {
            s.metadata(Some(&[])).map(|md| {
                md.brokers
                    .iter()
                    .map(|b| format!("{}:{}", b.host.as_str(), b.port))
                    .collect::<Vec<_>>()
            })
        });
        match found {
            Ok(brokers) if brokers.len() >= args.min_brokers => return Ok(vec![]),
            Ok(brokers) => eprintln!(
                "Expected {} brokers but found only {}. Brokers found {brokers:?}.",
                args.min_brokers,
                brokers.len()
            ),
            Err(e) => eprintln!("Kafka at {bootstrap} is not ready yet: {e}"),
        }
        if Instant::now() >= deadline {
            return Err(format!(
                "Kafka at {bootstrap} did not list {} broker(s) within {} s",
                args.min_brokers, args.timeout_secs
            ));
        }
        std::thread::sleep(left.min(Duration::from_millis(RETRY_PAUSE_MS)));
    }
}

/// `PLAINTEXT://kafka:29092,kafka2:29092` → `kafka:29092,kafka2:29092`.
fn strip_protocols(list: &str) -> String {
    list.split(',')
        .map(|s| s.trim())
        .filter(|s| !s.is_empty())
        .map(|s| s.split_once("://").map_or(s, |(_, rest)| rest))
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    #[test]
    fn protocol_prefixes_are_dropped() {
        assert_eq!(
            super::strip_protocols("PLAINTEXT://kafka:29092, b:1"),
            "kafka:29092,b:1"
        );
    }
}
