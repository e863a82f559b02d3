//! Command-line tools built into the `gregor` binary (the image has nothing else),
//! each also run under its Kafka script name (`kafka-topics.sh`, ...).

use std::ffi::OsString;
use std::process::ExitCode;

pub mod admin;
pub mod args;
pub mod broker_api_versions;
pub mod cli;
pub mod client;
pub mod cluster;
pub mod configs;
pub mod console_consumer;
pub mod console_fetch;
pub mod console_format;
pub mod console_producer;
pub mod consumer_groups;
pub mod consumer_perf;
pub mod cub;
pub mod delete_records;
pub mod dump_log;
pub mod features;
pub mod fetched;
pub mod fetcher;
pub mod get_offsets;
pub mod group_list;
pub mod group_reset;
pub mod groups;
pub mod health;
pub mod leader_election;
pub mod line_reader;
pub mod log_dirs;
pub mod metadata_quorum;
pub mod names;
pub mod nc;
pub mod partitioner;
pub mod pipeline;
pub mod producer_perf;
pub mod session;
pub mod storage;
pub mod topic_filter;
pub mod topics;
pub mod topics_describe;
pub mod transactions;
pub mod txn;
pub mod verifiable;

/// One built-in tool: its Kafka script name (without `.sh`; `None` for
/// gregor's own), its gregor subcommand, and its entry point, which gets the
/// arguments after the tool's name.
#[derive(Debug)]
pub struct Tool {
    pub script: Option<&'static str>,
    pub subcommand: &'static str,
    pub about: &'static str,
    pub main: fn(Vec<OsString>) -> ExitCode,
}

/// Every tool, in `gregor --help` order. The image links each script name,
/// with and without `.sh`, to the binary.
pub const TOOLS: &[Tool] = &[
    Tool {
        script: Some("kafka-topics"),
        subcommand: "topics",
        about: "create, list, describe, alter or delete topics",
        main: |a| cli::clap_main(a, topics::run),
    },
    Tool {
        script: Some("kafka-console-producer"),
        subcommand: "console-producer",
        about: "produce stdin lines to a topic",
        main: |a| cli::clap_main(a, |x| console_producer::run(x).map(|()| vec![])),
    },
    Tool {
        script: Some("kafka-console-consumer"),
        subcommand: "console-consumer",
        about: "print a topic's records",
        main: |a| cli::clap_main(a, |x| console_consumer::run(x).map(|()| vec![])),
    },
    Tool {
        script: Some("kafka-consumer-groups"),
        subcommand: "consumer-groups",
        about: "list, describe and delete groups, reset their offsets",
        main: |a| cli::clap_main(a, consumer_groups::run),
    },
    Tool {
        script: Some("kafka-configs"),
        subcommand: "configs",
        about: "describe or alter topic and broker configs",
        main: |a| cli::clap_main(a, configs::run),
    },
    Tool {
        script: Some("kafka-broker-api-versions"),
        subcommand: "broker-api-versions",
        about: "print each broker's API versions",
        main: |a| cli::clap_main(a, broker_api_versions::run),
    },
    Tool {
        script: Some("kafka-server-start"),
        subcommand: "server-start",
        about: "run the broker from a server.properties file",
        main: crate::start::server_start_main,
    },
    Tool {
        script: Some("kafka-storage"),
        subcommand: "storage",
        about: "format a data directory (meta.properties), print random ids",
        main: |a| cli::clap_main(a, storage::run),
    },
    Tool {
        script: None,
        subcommand: "health",
        about: "exit 0 if the broker answers ApiVersions (container healthchecks)",
        main: |a| cli::clap_main(a, health::run),
    },
    Tool {
        script: Some("kafka-get-offsets"),
        subcommand: "get-offsets",
        about: "print partitions' offsets at a time (ListOffsets)",
        main: |a| cli::clap_main(a, get_offsets::run),
    },
    Tool {
        script: Some("kafka-delete-records"),
        subcommand: "delete-records",
        about: "move partitions' log start offsets (DeleteRecords)",
        main: |a| cli::clap_main(a, delete_records::run),
    },
    Tool {
        script: Some("kafka-log-dirs"),
        subcommand: "log-dirs",
        about: "describe brokers' log directories and partition sizes",
        main: |a| cli::clap_main(a, log_dirs::run),
    },
    Tool {
        script: Some("kafka-leader-election"),
        subcommand: "leader-election",
        about: "run a preferred or unclean leader election",
        main: |a| cli::clap_main(a, leader_election::run),
    },
    Tool {
        script: Some("kafka-cluster"),
        subcommand: "cluster",
        about: "print the cluster id or the endpoints (DescribeCluster)",
        main: |a| cli::clap_main(a, cluster::run),
    },
    Tool {
        script: Some("kafka-metadata-quorum"),
        subcommand: "metadata-quorum",
        about: "describe the metadata Raft quorum (DescribeQuorum)",
        main: |a| cli::clap_main(a, metadata_quorum::run),
    },
    Tool {
        script: Some("kafka-features"),
        subcommand: "features",
        about: "describe feature flags; release version mappings",
        main: |a| cli::clap_main(a, features::run),
    },
    Tool {
        script: Some("kafka-transactions"),
        subcommand: "transactions",
        about: "list and describe transactions and producers",
        main: |a| cli::clap_main(a, transactions::run),
    },
    Tool {
        script: Some("kafka-producer-perf-test"),
        subcommand: "producer-perf-test",
        about: "produce generated records as fast as allowed and report throughput and latency",
        main: |a| cli::clap_main(a, producer_perf::run),
    },
    Tool {
        script: Some("kafka-consumer-perf-test"),
        subcommand: "consumer-perf-test",
        about: "consume a topic as fast as possible and report throughput",
        main: |a| cli::clap_main(a, consumer_perf::run),
    },
    Tool {
        script: Some("kafka-verifiable-producer"),
        subcommand: "verifiable-producer",
        about: "produce numbered records, printing a JSON event per acknowledgement",
        main: |a| cli::clap_main(a, |x| verifiable::run_producer(x).map(|()| vec![])),
    },
    Tool {
        script: Some("kafka-verifiable-consumer"),
        subcommand: "verifiable-consumer",
        about: "consume and commit, printing JSON events",
        main: |a| cli::clap_main(a, |x| verifiable::run_consumer(x).map(|()| vec![])),
    },
    Tool {
        script: Some("kafka-dump-log"),
        subcommand: "dump-log",
        about: "print the batches and records of segment and index files (offline)",
        main: |a| cli::clap_main(a, dump_log::run),
    },
    Tool {
        script: Some("nc"),
        subcommand: "nc",
        about: "netcat's -z port check and stdin/stdout relay (healthchecks)",
        main: nc::main,
    },
    Tool {
        script: Some("cub"),
        subcommand: "cub",
        about: "Confluent's readiness helper: cub kafka-ready MIN_BROKERS TIMEOUT_SECS",
        main: cub::main,
    },
    Tool {
        script: Some("ub"),
        subcommand: "ub",
        about: "Confluent 8.x's readiness helper: ub kafka-ready MIN_BROKERS TIMEOUT_SECS",
        main: cub::main,
    },
    Tool {
        script: None,
        subcommand: "tool-names",
        about: "print every tool's script name",
        main: |a| cli::clap_main(a, names::run),
    },
];

/// The tool a program called `name` (a path's file name, with or without
/// `.sh`) runs, if it is one of Kafka's script names.
pub fn tool_for_script(name: &str) -> Option<&'static Tool> {
    let stem = name.strip_suffix(".sh").unwrap_or(name);
    TOOLS.iter().find(|t| t.script == Some(stem))
}

/// The tool behind gregor subcommand `name` (`gregor topics ...`).
pub fn tool_for_subcommand(name: &str) -> Option<&'static Tool> {
    TOOLS.iter().find(|t| t.subcommand == name)
}

/// Runs the tool `argv` names, by program name (`kafka-topics.sh ...`, a link
/// to the binary) or by subcommand (`gregor topics ...`); None when it names
/// none and the binary is the broker.
pub fn dispatch(argv: &[OsString]) -> Option<ExitCode> {
    let arg0 = argv.first()?;
    let program = std::path::Path::new(arg0).file_name()?.to_str()?;
    if let Some(tool) = tool_for_script(program) {
        return Some((tool.main)(argv.to_vec()));
    }
    let sub = argv.get(1)?.to_str()?;
    let tool = tool_for_subcommand(sub)?;
    Some((tool.main)(argv[1..].to_vec()))
}

/// The tool list for `gregor --help`.
pub fn help_text() -> String {
    let mut out = String::from("Tools (gregor SUBCOMMAND --help, or the Kafka script name):\n");
    for t in TOOLS {
        let script = t.script.map(|s| format!(" ({s}.sh)")).unwrap_or_default();
        out.push_str(&format!("  {}{script}: {}\n", t.subcommand, t.about));
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn script_names() {
        let sub = |n: &str| super::tool_for_script(n).map(|t| t.subcommand);
        assert_eq!(sub("kafka-topics.sh"), Some("topics"));
        assert_eq!(sub("kafka-console-consumer"), Some("console-consumer"));
        assert_eq!(
            sub("kafka-broker-api-versions.sh"),
            Some("broker-api-versions")
        );
        assert_eq!(sub("gregor"), None);
        assert_eq!(sub("health"), None);
        assert!(super::tool_for_subcommand("health").is_some());
    }
}
