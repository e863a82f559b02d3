//! Starting the broker: settings from flags, files and the environment, then
//! open, serve until SIGTERM or SIGINT, and shut down gracefully (stop
//! accepting, finish in-flight requests, flush, exit 0).
//!
//! Also the two Kafka entry points that start a broker: `kafka-server-start.sh
//! CONFIG [--override k=v]...` and, with `--kafka-env`, the apache/kafka
//! image's environment plus its file input (`/mnt/shared/config`). The
//! `--write-config FILE` form resolves the same settings into a properties
//! file without starting, for the images' start scripts (whose next steps,
//! `kafka-storage format` and `kafka-server-start`, read that file).

use std::ffi::OsString;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;

use crate::broker::Broker;
use crate::config::{read_properties_file, BrokerConfig};
use crate::server::{run_listeners, Shutdown};

/// Longest the broker waits for connections to finish their in-flight
/// requests at shutdown before flushing and exiting anyway.
const SHUTDOWN_DRAIN_MS: u64 = 800;

/// Where the apache/kafka image reads mounted configuration files from.
const MOUNTED_CONFIG_DIR: &str = "/mnt/shared/config";

#[derive(Debug, Parser)]
#[command(
    name = "gregor",
    version,
    about = "A Kafka-wire-compatible message broker",
    after_help = crate::tools::help_text()
)]
struct Args {
    /// A server.properties-style file with Kafka property names.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (same as log.dirs); default ./data (/var/lib/kafka/data with --kafka-env).
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Any Kafka property, e.g. --override num.partitions=3 (repeatable; wins over --config).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Read the apache/kafka image's configuration: DIR/server.properties from
    /// --mounted-config-dir, then KAFKA_*, bitnami's KAFKA_CFG_* and
    /// CLUSTER_ID environment variables (they win over --config and the file;
    /// --data-dir and --override win over them).
    #[arg(long)]
    kafka_env: bool,
    /// With --kafka-env: the directory whose server.properties is read first.
    #[arg(long, value_name = "DIR", default_value = MOUNTED_CONFIG_DIR)]
    mounted_config_dir: PathBuf,
    /// Resolve and check the settings, write them to FILE as key=value lines,
    /// and exit without starting (the image's start scripts use this).
    #[arg(long, value_name = "FILE")]
    write_config: Option<PathBuf>,
    /// Keep nothing after exit: data goes to a fresh directory under the data
    /// dir that is removed at shutdown (also set by GREGOR_EPHEMERAL=true).
    #[arg(long)]
    ephemeral: bool,
}

/// `kafka-server-start.sh [-daemon] CONFIG [--override k=v]...`: the broker
/// from CONFIG (argv: the name it was called by, then its arguments).
pub fn server_start_main(argv: Vec<OsString>) -> ExitCode {
    let mut args: Vec<OsString> = vec!["gregor".into()];
    let mut config = None;
    let mut rest = argv.into_iter().skip(1).peekable();
    while let Some(a) = rest.next() {
        match a.to_str() {
            Some("-daemon") => {
                eprintln!("kafka-server-start: -daemon ignored: gregor stays in the foreground (a container's main process must)");
            }
            Some("--override") => {
                args.push(a);
                if let Some(v) = rest.next() {
                    args.push(v);
                }
            }
            Some("--version") => {
                println!("{}", crate::tools::cli::VERSION_TEXT);
                return ExitCode::SUCCESS;
            }
            Some("-h" | "--help") => {
                println!("USAGE: kafka-server-start.sh [-daemon] server.properties [--override property=value]*");
                return ExitCode::SUCCESS;
            }
            _ if config.is_none() => config = Some(a),
            _ => {
                eprintln!("kafka-server-start: unexpected argument {a:?}; expected server.properties [--override property=value]*");
                return ExitCode::from(2);
            }
        }
    }
    let Some(config) = config else {
        eprintln!(
            "USAGE: kafka-server-start.sh [-daemon] server.properties [--override property=value]*"
        );
        return ExitCode::from(1);
    };
    args.push("--config".into());
    args.push(config);
    main(args)
}

/// The broker's entry point (argv includes the program name).
pub fn main(argv: Vec<OsString>) -> ExitCode {
    let args = Args::parse_from(argv);
    let (mut config, not_settings) = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gregor: {e}");
            return ExitCode::from(2);
        }
    };
    if let Some(path) = &args.write_config {
        return match write_config(path, &config) {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("gregor: cannot write {}: {e}", path.display());
                ExitCode::FAILURE
            }
        };
    }
    log_config_notes(&config);
    if !not_settings.is_empty() {
        tracing::info!(
            "environment variables for the JVM, log4j or JMX, not broker settings, ignored: {}",
            not_settings.join(", ")
        );
    }
    // Dropped after the runtime has shut the broker down: removes the data.
    let _ephemeral = if args.ephemeral || env_flag("GREGOR_EPHEMERAL") {
        match crate::ephemeral::EphemeralDir::create(&config.data_dir) {
            Ok(dir) => {
                tracing::info!(dir = %dir.path().display(), "ephemeral mode: data is removed at exit");
                config.data_dir = dir.path().to_path_buf();
                Some(dir)
            }
            Err(e) => {
                eprintln!(
                    "gregor: cannot create an ephemeral data dir under {}: {e}",
                    config.data_dir.display()
                );
                return ExitCode::FAILURE;
            }
        }
    } else {
        None
    };
    match crate::replica::fd_budget::raise_fd_limit() {
        Ok((old, new)) if old != new => {
            tracing::info!(
                from = old,
                to = new,
                "raised the open-file limit to its hard limit"
            );
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "cannot read or raise the open-file limit"),
    }
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("gregor: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gregor: {e}");
            ExitCode::FAILURE
        }
    }
}

/// Logs what the configuration parse noticed, each key once.
fn log_config_notes(config: &BrokerConfig) {
    if !config.unknown_keys.is_empty() {
        tracing::warn!(
            "configuration keys neither gregor nor Kafka 4.1 knows, ignored: {}",
            config.unknown_keys.join(", ")
        );
    }
    let unused: Vec<&str> = config
        .ignored_keys
        .iter()
        .filter(|k| !config.unknown_keys.contains(k))
        .map(String::as_str)
        .collect();
    if !unused.is_empty() {
        tracing::info!(
            "Kafka settings accepted but not used by one gregor node: {}",
            unused.join(", ")
        );
    }
    for note in &config.notes {
        tracing::info!("{note}");
    }
}

/// An on/off environment variable: `1`, `true` or `yes` (any case) is on.
fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

/// The settings in precedence order: --config, the mounted file and the
/// environment (with --kafka-env), --data-dir, --override.
/// Also returns the `KAFKA_*` variables that are not broker settings.
fn resolved_pairs(args: &Args) -> Result<(Vec<(String, String)>, Vec<String>), String> {
    let mut pairs = Vec::new();
    let mut not_settings = Vec::new();
    if let Some(path) = &args.config {
        pairs.extend(read_properties_file(path).map_err(|e| e.to_string())?);
    }
    if args.kafka_env {
        if !pairs.iter().any(|(k, _)| k == "log.dirs" || k == "log.dir") {
            pairs.push((
                "log.dirs".to_string(),
                crate::config_env::DEFAULT_LOG_DIRS.to_string(),
            ));
        }
        match crate::config_env::mounted_properties(&args.mounted_config_dir) {
            Ok(Some((path, file_pairs))) => {
                tracing::info!("reading the mounted configuration {}", path.display());
                pairs.extend(file_pairs);
            }
            Ok(None) => {}
            Err(e) => return Err(e.to_string()),
        }
        let (env_pairs, skipped) = crate::config_env::properties_from_env(std::env::vars());
        pairs.extend(env_pairs);
        not_settings = skipped;
    }
    if let Some(dir) = &args.data_dir {
        pairs.push(("log.dirs".to_string(), dir.display().to_string()));
    }
    for item in &args.overrides {
        let (k, v) = item
            .split_once('=')
            .ok_or_else(|| format!("--override expects KEY=VALUE, got {item:?}"))?;
        pairs.push((k.trim().to_string(), v.trim().to_string()));
    }
    Ok((pairs, not_settings))
}

fn build_config(args: &Args) -> Result<(BrokerConfig, Vec<String>), String> {
    let (pairs, not_settings) = resolved_pairs(args)?;
    let config = BrokerConfig::from_pairs(&pairs).map_err(|e| e.to_string())?;
    Ok((config, not_settings))
}

/// Writes the settings the broker would run with (every explicit key, the
/// last of duplicates) so `kafka-server-start FILE` starts the same broker.
fn write_config(path: &Path, config: &BrokerConfig) -> std::io::Result<()> {
    let mut text = format!(
        "# Written by gregor {} --write-config from its configuration sources.\n",
        env!("CARGO_PKG_VERSION")
    );
    for (k, v) in &config.explicit {
        text.push_str(&format!("{k}={v}\n"));
    }
    std::fs::write(path, text)
}

async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (signal, shutdown, mut done) = Shutdown::new();
    let broker = Broker::open(config, signal.subscribe()).await?;
    let addresses = run_listeners(broker.clone(), shutdown.clone()).await?;
    broker.spawn_background();
    announce_started(&broker, &addresses, started.elapsed());
    let failure = tokio::select! {
        () = wait_for_signal() => None,
        reason = broker.metadata.wait_fatal() => Some(reason),
    };
    match &failure {
        None => tracing::info!("shutting down"),
        Some(reason) => tracing::error!(%reason,
            "cluster metadata storage failed: stopping the broker (exit 1) rather than serving without a working metadata log"),
    }
    let _ = signal.send(true);
    drop(shutdown);
    let drained = tokio::time::timeout(Duration::from_millis(SHUTDOWN_DRAIN_MS), done.recv()).await;
    if drained.is_err() {
        tracing::warn!("connections still busy after {SHUTDOWN_DRAIN_MS} ms; closing anyway");
    }
    broker.close().await;
    if let Some(reason) = failure {
        anyhow::bail!("cluster metadata storage failed: {reason}");
    }
    tracing::info!("stopped");
    Ok(())
}

/// The start line, then the lines Kafka prints once a node serves clients,
/// which stacks and testcontainers' modules wait for: `Kafka Server started`
/// (KafkaRaftServer), `Transitioning from RECOVERY to RUNNING` (the broker
/// lifecycle; testcontainers-java and -go), and ZooKeeper mode's
/// `[KafkaServer id=N] started` when a ZooKeeper-era config is given.
fn announce_started(broker: &Broker, addresses: &[std::net::SocketAddr], took: Duration) {
    let c = &broker.config;
    let join = |ls: &[crate::config::Listener]| {
        ls.iter()
            .map(|l| format!("{}://{}:{}", l.name, l.host, l.port))
            .collect::<Vec<_>>()
            .join(",")
    };
    tracing::info!(
        "gregor {} (Kafka 4.1 protocol) started in {:.1} ms: node.id={} cluster.id={} listeners={} bound={:?} advertised.listeners={} data dir={}",
        env!("CARGO_PKG_VERSION"),
        took.as_secs_f64() * 1000.0,
        c.node_id,
        broker.metadata.image().cluster_id,
        join(&c.listeners),
        addresses,
        join(&c.advertised_listeners),
        c.data_dir.display()
    );
    let id = c.node_id;
    tracing::info!("[BrokerLifecycleManager id={id}] The broker has been unfenced. Transitioning from RECOVERY to RUNNING.");
    if c.explicit.contains_key("zookeeper.connect") {
        tracing::info!("[KafkaServer id={id}] started (zookeeper.connect is accepted but not used: gregor keeps its metadata itself)");
    }
    tracing::info!("[KafkaRaftServer nodeId={id}] Kafka Server started");
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = match signal(SignalKind::terminate()) {
        Ok(s) => s,
        Err(_) => {
            let _ = tokio::signal::ctrl_c().await;
            return;
        }
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = tokio::signal::ctrl_c() => {},
    }
}
