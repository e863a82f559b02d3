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
mod raw;

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
    /// Produce with the raw engine (Produce v7 without a client library; see src/raw.rs).
    RawProduce {
        /// Topic to write (created fresh unless --no-create).
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        no_create: bool,
        #[arg(long, default_value_t = 100)]
        record_size: usize,
        #[arg(long, default_value_t = 6.0)]
        seconds: f64,
        #[arg(long, default_value_t = 1)]
        partitions: i32,
        /// 1 or all.
        #[arg(long, default_value = "1")]
        acks: String,
        /// Requests in flight on the connection.
        #[arg(long, default_value_t = 5)]
        in_flight: usize,
    },
    /// Read a topic from the beginning with the raw engine (Fetch v4; see src/raw.rs).
    RawConsume {
        #[arg(long)]
        topic: String,
        /// Value size the topic was written with (for MB/s).
        #[arg(long, default_value_t = 100)]
        record_size: usize,
        #[arg(long, default_value_t = 0.0)]
        min_seconds: f64,
        #[arg(long, default_value_t = 1)]
        max_passes: u32,
    },
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
        /// Fill the page cache with this sparse file first and leave it
        /// there (see ceilings.rs: on a lazily backed VM the first touch of
        /// memory, page cache included, is the bottleneck).
        #[arg(long)]
        warm_file: Option<PathBuf>,
    },
    /// Fill the page cache with a sparse file (again), as `ceilings --warm-file` does.
    Warm {
        #[arg(long)]
        file: PathBuf,
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
        Cmd::RawProduce {
            topic,
            no_create,
            record_size,
            seconds,
            partitions,
            acks,
            in_flight,
        } => {
            let topic = topic.unwrap_or_else(|| admin::fresh_topic_name("raw-produce"));
            if !no_create {
                admin::recreate_topic(&cli.bootstrap, &topic, partitions)?;
            }
            let acks = if acks == "all" { -1 } else { acks.parse()? };
            let s = raw::RawProduce {
                record_size,
                seconds,
                partitions,
                acks,
                in_flight,
            };
            println!(
                "{}",
                raw::produce(&cli.bootstrap, &topic, &s, "raw-produce")?.summary_line()
            );
        }
        Cmd::RawConsume {
            topic,
            record_size,
            min_seconds,
            max_passes,
        } => {
            let parts = admin::topic_partitions(&cli.bootstrap, &topic)?;
            let s = raw::RawConsume {
                record_size,
                min_seconds,
                max_passes,
                fetch_bytes: raw::FETCH_BYTES,
            };
            println!(
                "{}",
                raw::consume(&cli.bootstrap, &topic, parts, &s, "raw-consume")?.summary_line()
            );
        }
        Cmd::Matrix(args) => matrix::run(&cli.bootstrap, &args)?,
        Cmd::Warm { file } => {
            ceilings::warm(&file)?;
        }
        Cmd::Ceilings {
            dir,
            bytes,
            seconds,
            out,
            warm_file,
        } => {
            let res = ceilings::run(&dir, bytes, seconds, warm_file.as_deref())?;
            let json = serde_json::to_string_pretty(&res)?;
            println!("{json}");
            if let Some(out) = out {
                std::fs::write(out, json)?;
            }
        }
    }
    Ok(())
}
