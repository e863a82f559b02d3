//! Command-line tools built into the `gregor` binary (the image has nothing else),
//! each also run under its Kafka script name (`kafka-topics.sh`, ...).

pub mod args;
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
pub mod topics;

/// Kafka's script names and the gregor subcommands they run.
pub const SCRIPT_NAMES: &[(&str, &str)] = &[
    ("kafka-topics", "topics"),
    ("kafka-console-producer", "console-producer"),
    ("kafka-console-consumer", "console-consumer"),
    ("kafka-consumer-groups", "consumer-groups"),
    ("kafka-configs", "configs"),
    ("kafka-broker-api-versions", "broker-api-versions"),
];

/// The subcommand a program called `name` (a path's file name, with or without
/// `.sh`) runs, if it is one of Kafka's script names.
pub fn tool_for_script(name: &str) -> Option<&'static str> {
    let stem = name.strip_suffix(".sh").unwrap_or(name);
    SCRIPT_NAMES
        .iter()
        .find(|(s, _)| *s == stem)
        .map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    #[test]
    fn script_names() {
        assert_eq!(super::tool_for_script("kafka-topics.sh"), Some("topics"));
        assert_eq!(
            super::tool_for_script("kafka-console-consumer"),
            Some("console-consumer")
        );
        assert_eq!(
            super::tool_for_script("kafka-broker-api-versions.sh"),
            Some("broker-api-versions")
        );
        assert_eq!(super::tool_for_script("gregor"), None);
        assert_eq!(super::tool_for_script("kafka-server-start.sh"), None);
    }
}
