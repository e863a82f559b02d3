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
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info,openraft=warn")),
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
