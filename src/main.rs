//! The `gregor` binary: parse settings, open the broker, serve until SIGTERM
//! or SIGINT, then shut down gracefully (stop accepting, finish in-flight
//! requests, flush, exit 0).

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::Parser;
use gregor::broker::Broker;
use gregor::config::{read_properties_file, BrokerConfig};
use gregor::server::{run_listeners, Shutdown};

/// Survives the absurd up-front allocations a malformed request can ask
/// of the protocol decoder (see `gregor::alloc`).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

/// Longest the broker waits for connections to finish their in-flight
/// requests at shutdown before flushing and exiting anyway.
const SHUTDOWN_DRAIN_MS: u64 = 800;

#[derive(Debug, Parser)]
#[command(
    name = "gregor",
    version,
    about = "A Kafka-wire-compatible message broker",
    after_help = gregor::tools::help_text()
)]
struct Args {
    /// A server.properties-style file with Kafka property names.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Data directory (same as log.dirs); default ./data.
    #[arg(long, value_name = "DIR")]
    data_dir: Option<PathBuf>,
    /// Any Kafka property, e.g. --override num.partitions=3 (repeatable; wins over --config).
    #[arg(long = "override", value_name = "KEY=VALUE")]
    overrides: Vec<String>,
    /// Read KAFKA_* and CLUSTER_ID environment variables as the apache/kafka image
    /// does (they win over --config; --data-dir and --override win over them).
    #[arg(long)]
    kafka_env: bool,
    /// Keep nothing after exit: data goes to a fresh directory under the data
    /// dir that is removed at shutdown (also set by GREGOR_EPHEMERAL=true).
    #[arg(long)]
    ephemeral: bool,
}

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GREGOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = gregor::tools::dispatch(&argv) {
        return code;
    }
    let args = Args::parse_from(argv);
    let mut config = match build_config(&args) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("gregor: {e}");
            return ExitCode::from(2);
        }
    };
    // Dropped after the runtime has shut the broker down: removes the data.
    let _ephemeral = if args.ephemeral || env_flag("GREGOR_EPHEMERAL") {
        match gregor::ephemeral::EphemeralDir::create(&config.data_dir) {
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
    match gregor::replica::fd_budget::raise_fd_limit() {
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

/// An on/off environment variable: `1`, `true` or `yes` (any case) is on.
fn env_flag(name: &str) -> bool {
    std::env::var(name)
        .is_ok_and(|v| matches!(v.trim().to_ascii_lowercase().as_str(), "1" | "true" | "yes"))
}

fn build_config(args: &Args) -> Result<BrokerConfig, String> {
    let mut pairs = Vec::new();
    if let Some(path) = &args.config {
        pairs.extend(read_properties_file(path).map_err(|e| e.to_string())?);
    }
    if args.kafka_env {
        let (env_pairs, skipped) = gregor::config_env::properties_from_env(std::env::vars());
        for name in skipped {
            tracing::info!(variable = %name, "environment variable is not a broker property; ignored");
        }
        pairs.extend(env_pairs);
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
    let config = BrokerConfig::from_pairs(&pairs).map_err(|e| e.to_string())?;
    for key in &config.ignored_keys {
        tracing::info!(key = %key, "configuration key accepted but not used by gregor");
    }
    Ok(config)
}

async fn run(config: BrokerConfig) -> anyhow::Result<()> {
    let started = std::time::Instant::now();
    let (signal, shutdown, mut done) = Shutdown::new();
    let broker = Broker::open(config, signal.subscribe()).await?;
    let addresses = run_listeners(broker.clone(), shutdown.clone()).await?;
    broker.spawn_background();
    tracing::info!(
        node_id = broker.config.node_id,
        data_dir = %broker.config.data_dir.display(),
        ?addresses,
        startup_ms = started.elapsed().as_secs_f64() * 1000.0,
        "gregor started"
    );
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
