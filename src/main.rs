//! The `gregor` binary: one of the built-in tools when argv names one
//! (`kafka-topics.sh ...`, `gregor topics ...`), otherwise the broker.

use std::process::ExitCode;

/// Survives the absurd up-front allocations a malformed request can ask
/// of the protocol decoder (see `gregor::alloc`).
#[global_allocator]
static ALLOCATOR: gregor::alloc::GuardedAlloc = gregor::alloc::GuardedAlloc;

fn main() -> ExitCode {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_env("GREGOR_LOG")
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default_filter())),
        )
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_writer(std::io::stderr)
        .init();
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if let Some(code) = gregor::tools::dispatch(&argv) {
        return code;
    }
    gregor::start::main(argv)
}

/// The log level without GREGOR_LOG: the apache/kafka image's
/// `KAFKA_LOG4J_ROOT_LOGLEVEL` (log4j's level names) if set, else info.
fn default_filter() -> String {
    let level = std::env::var("KAFKA_LOG4J_ROOT_LOGLEVEL")
        .ok()
        .map(|l| l.trim().to_ascii_lowercase())
        .and_then(|l| match l.as_str() {
            "trace" | "debug" | "info" | "error" => Some(l),
            "warn" | "warning" => Some("warn".into()),
            "fatal" => Some("error".into()),
            "off" => Some("off".into()),
            "all" => Some("trace".into()),
            _ => None,
        })
        .unwrap_or_else(|| "info".into());
    format!("{level},openraft=warn")
}
