//! Command-line tools built into the `gregor` binary (the image has nothing else),
//! each also run under its Kafka script name (`kafka-topics.sh`, ...).

use std::ffi::OsString;
use std::process::ExitCode;

pub mod args;
pub mod cli;
pub mod broker_api_versions;
pub mod client;
pub mod configs;
pub mod console_consumer;
pub mod console_producer;
pub mod consumer_groups;
pub mod fetched;
pub mod groups;
pub mod health;
pub mod partitioner;
pub mod session;
pub mod storage;
pub mod topics;

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
        main: |a| {
            cli::clap_main(a, |x| {
                console_producer::run(x).map(|()| vec![])
            })
        },
    },
    Tool {
        script: Some("kafka-console-consumer"),
        subcommand: "console-consumer",
        about: "print a topic's records",
        main: |a| {
            cli::clap_main(a, |x| {
                console_consumer::run(x).map(|()| vec![])
            })
        },
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
        assert_eq!(sub("kafka-broker-api-versions.sh"), Some("broker-api-versions"));
        assert_eq!(sub("gregor"), None);
        assert_eq!(sub("health"), None);
        assert!(super::tool_for_subcommand("health").is_some());
    }
}
