//! gregor-load: an end-to-end load generator for Kafka-compatible brokers,
//! in the spirit of kafka-producer-perf-test and kafka-consumer-perf-test,
//! driven through librdkafka (the `rdkafka` crate, bundled librdkafka).
//!
//!     gregor-load --bootstrap 127.0.0.1:9092 produce --record-size 100 --records 5000000
//!     gregor-load --bootstrap 127.0.0.1:9092 consume --topic T
//!     gregor-load --bootstrap 127.0.0.1:9092 matrix --broker-pid PID --out gregor.json
//!     gregor-load ceilings --dir DATA_DIR --out ceilings.json
//!
//! Progress goes to stderr once a second; the summary goes to stdout (and to
//! `--out` as JSON where given). See benches/README.md.

mod admin;
mod ceilings;
mod consume;
mod matrix;
mod procstat;
mod produce;

use std::path::PathBuf;

use clap::{Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "gregor-load",
    version,
    about = "Load generator for Kafka-compatible brokers (librdkafka)"
)]
struct Cli {
    /// bootstrap.servers of the broker under test.
    #[arg(long, global = true, default_value = "127.0.0.1:9092")]
    bootstrap: String,
    #[command(subcommand)]
    cmd: Cmd,
}

#[derive(Debug, Subcommand)]
enum Cmd {
    /// Produce records as fast as possible (or at --rate) to a fresh topic.
    Produce(produce::ProduceArgs),
    /// Read a topic from the beginning as fast as possible.
    Consume(consume::ConsumeArgs),
    /// Run the benchmark matrix and write JSON results.
    Matrix(matrix::MatrixArgs),
    /// Measure the machine's ceilings: sequential writes to a dir, loopback sendfile.
    Ceilings {
        /// Directory to write the test file in (the broker's data dir).
        #[arg(long)]
        dir: PathBuf,
        /// Upper bound on bytes written by each write test.
        #[arg(long, default_value_t = 2 << 30)]
        bytes: u64,
        /// Upper bound on the duration of each test, seconds.
        #[arg(long, default_value_t = 5.0)]
        seconds: f64,
        /// Write the results as JSON to this file.
        #[arg(long)]
        out: Option<PathBuf>,
        /// Skip the memory warm-up (see ceilings.rs: on a lazily backed VM the
        /// first touch of memory, page cache included, is the bottleneck).
        #[arg(long)]
        no_warm: bool,
    },
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.cmd {
        Cmd::Produce(args) => {
            let topic = match &args.topic {
                Some(t) => t.clone(),
                None => admin::fresh_topic_name("produce"),
            };
            if !args.no_create {
                admin::recreate_topic(&cli.bootstrap, &topic, args.partitions)?;
            }
            let res = produce::run(&cli.bootstrap, &topic, &args.settings(), "produce")?;
            println!("{}", res.summary_line());
            if let Some(out) = &args.out {
                std::fs::write(out, serde_json::to_string_pretty(&res)?)?;
            }
        }
        Cmd::Consume(args) => {
            let res = consume::run(&cli.bootstrap, &args.topic, &args.settings(), "consume")?;
            println!("{}", res.summary_line());
            if let Some(out) = &args.out {
                std::fs::write(out, serde_json::to_string_pretty(&res)?)?;
            }
        }
        Cmd::Matrix(args) => matrix::run(&cli.bootstrap, &args)?,
        Cmd::Ceilings {
            dir,
            bytes,
            seconds,
            out,
            no_warm,
        } => {
            let res = ceilings::run(&dir, bytes, seconds, !no_warm)?;
            let json = serde_json::to_string_pretty(&res)?;
            println!("{json}");
            if let Some(out) = out {
                std::fs::write(out, json)?;
            }
        }
    }
    Ok(())
}
