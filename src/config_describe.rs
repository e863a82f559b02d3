//! Effective configuration with its sources: the one place that decides what
//! DescribeConfigs (topics and this broker) and CreateTopics report.
//!
//! A topic config's value comes, in order, from the topic's own override
//! (DYNAMIC_TOPIC_CONFIG), a broker property set in server.properties, the
//! `KAFKA_*` environment or `--override` (STATIC_BROKER_CONFIG, e.g.
//! `log.retention.hours` for `retention.ms`), or the built-in default
//! (DEFAULT_CONFIG). For the configs gregor enforces, the value is read back
//! from the `LogConfig` the partitions actually run with, so what is reported
//! is what is enforced.
//!
//! Synonyms are listed the way Kafka lists them (override, then set broker
//! properties, then broker properties' built-in defaults), with one
//! difference: Kafka drops every broker synonym listed before the first one
//! named like the highest-priority property (so `log.retention.hours=1` alone
//! shows as DEFAULT_CONFIG with no synonyms), while gregor keeps them, so a
//! `retention.ms` that comes from `log.retention.hours` says so.

use std::collections::BTreeMap;

use crate::config::{BrokerConfig, ACCEPTED_UNUSED_KEYS};
use crate::log::{LogConfig, TimestampType};
use crate::record::Compression;
use crate::topic_config::{self, ConfigType, TopicConfigDef, TOPIC_CONFIGS};

/// `config_source` of DescribeConfigs and CreateTopics (Kafka's `ConfigSource`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigSource {
    DynamicTopic = 1,
    DynamicBroker = 2,
    DynamicDefaultBroker = 3,
    StaticBroker = 4,
    Default = 5,
    DynamicBrokerLogger = 6,
    /// A group's own override (Kafka's DYNAMIC_GROUP_CONFIG).
    DynamicGroup = 8,
}

/// One synonym of a config: where else its value could come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigSynonym {
    pub name: String,
    /// `None` for sensitive configs.
    pub value: Option<String>,
    pub source: ConfigSource,
}

/// One config as DescribeConfigs reports it.
#[derive(Debug, Clone, PartialEq)]
pub struct ConfigEntry {
    pub name: String,
    /// `None` for sensitive configs and for unset keys without a default.
    pub value: Option<String>,
    pub source: ConfigSource,
    pub read_only: bool,
    pub sensitive: bool,
    pub config_type: ConfigType,
    pub doc: &'static str,
    /// The value's own source first, then what would apply without it.
    pub synonyms: Vec<ConfigSynonym>,
}

impl ConfigEntry {
    pub fn is_default(&self) -> bool {
        self.source == ConfigSource::Default
    }
}

/// Every topic config with its effective value for a topic with `overrides`,
/// on a broker started with `broker`.
pub fn describe_topic(
    broker: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> Vec<ConfigEntry> {
    let running = topic_config::log_config(&broker.log_defaults, overrides);
    TOPIC_CONFIGS
        .iter()
        .map(|def| topic_entry(def, &broker.explicit, &running, overrides))
        .collect()
}

fn topic_entry(
    def: &'static TopicConfigDef,
    explicit: &BTreeMap<String, String>,
    running: &LogConfig,
    overrides: &BTreeMap<String, String>,
) -> ConfigEntry {
    let mut synonyms = Vec::new();
    if let Some(v) = overrides.get(def.name) {
        synonyms.push(ConfigSynonym {
            name: def.name.to_string(),
            value: Some(normalize(def, v)),
            source: ConfigSource::DynamicTopic,
        });
    }
    // The first set broker property that is valid for the topic key supplies
    // the default (the order of `broker_synonyms` is the priority order).
    let mut from_broker = None;
    for s in def.broker_synonyms {
        if let Some(v) = explicit.get(s.name) {
            synonyms.push(ConfigSynonym {
                name: s.name.to_string(),
                value: Some(v.clone()),
                source: ConfigSource::StaticBroker,
            });
            if from_broker.is_none() {
                from_broker = convert(def, v, s.factor);
            }
        }
    }
    for s in def.broker_synonyms {
        if let Some(d) = s.default {
            synonyms.push(ConfigSynonym {
                name: s.name.to_string(),
                value: Some(d.to_string()),
                source: ConfigSource::Default,
            });
        }
    }
    let value = running_value(running, def.name).unwrap_or_else(|| {
        overrides
            .get(def.name)
            .map(|v| normalize(def, v))
            .or(from_broker)
            .unwrap_or_else(|| def.default.to_string())
    });
    let source = synonyms
        .first()
        .map(|s| s.source)
        .unwrap_or(ConfigSource::Default);
    ConfigEntry {
        name: def.name.to_string(),
        value: Some(value),
        source,
        read_only: false,
        sensitive: false,
        config_type: def.config_type,
        doc: def.doc,
        synonyms,
    }
}

/// A broker property's value in the topic key's unit, if it is a valid value
/// for the topic key (a bad one is ignored, as the broker ignored it).
fn convert(def: &TopicConfigDef, value: &str, factor: i64) -> Option<String> {
    let converted = if factor == 1 {
        normalize(def, value)
    } else {
        value
            .trim()
            .parse::<i64>()
            .ok()?
            .saturating_mul(factor)
            .to_string()
    };
    topic_config::validate(def.name, &converted)
        .ok()
        .map(|()| converted)
}

/// Trims a value; lists lose empty items and the spaces around items.
fn normalize(def: &TopicConfigDef, value: &str) -> String {
    if def.config_type == ConfigType::List {
        value
            .split(',')
            .map(str::trim)
            .filter(|s| !s.is_empty())
            .collect::<Vec<_>>()
            .join(",")
    } else {
        value.trim().to_string()
    }
}

/// The value of a config gregor enforces, as the partitions run with it;
/// `None` for configs gregor stores but does not act on.
fn running_value(c: &LogConfig, key: &str) -> Option<String> {
    Some(match key {
        "segment.bytes" => c.segment_bytes.to_string(),
        "segment.ms" => c.segment_ms.to_string(),
        "retention.ms" => c.retention_ms.to_string(),
        "retention.bytes" => c.retention_bytes.to_string(),
        // "never" is u64::MAX inside gregor, Long.MAX_VALUE in Kafka.
        "flush.messages" => c.flush_messages.min(i64::MAX as u64).to_string(),
        "flush.ms" => c.flush_ms.to_string(),
        "index.interval.bytes" => c.index_interval_bytes.to_string(),
        "max.message.bytes" => c.max_message_bytes.to_string(),
        "delete.retention.ms" => c.delete_retention_ms.to_string(),
        "min.compaction.lag.ms" => c.min_compaction_lag_ms.to_string(),
        "max.compaction.lag.ms" => c.max_compaction_lag_ms.to_string(),
        "min.cleanable.dirty.ratio" => java_double(c.min_cleanable_dirty_ratio),
        "min.insync.replicas" => c.min_insync_replicas.to_string(),
        "compression.type" => match c.compression {
            None => "producer",
            Some(Compression::None) => "uncompressed",
            Some(Compression::Gzip) => "gzip",
            Some(Compression::Snappy) => "snappy",
            Some(Compression::Lz4) => "lz4",
            Some(Compression::Zstd) => "zstd",
        }
        .to_string(),
        "message.timestamp.before.max.ms" => c.message_timestamp_before_max_ms.to_string(),
        "message.timestamp.after.max.ms" => c.message_timestamp_after_max_ms.to_string(),
        "message.timestamp.type" => match c.message_timestamp_type {
            TimestampType::LogAppendTime => "LogAppendTime".to_string(),
            _ => "CreateTime".to_string(),
        },
        _ => return None,
    })
}

/// Java's `Double.toString` for ordinary ratios: always a decimal point.
fn java_double(v: f64) -> String {
    let s = v.to_string();
    if s.contains('.') || s.contains('e') || !v.is_finite() {
        s
    } else {
        format!("{s}.0")
    }
}

/// One broker property DescribeConfigs reports.
struct BrokerKey {
    name: &'static str,
    config_type: ConfigType,
    /// The value as gregor runs with it, from a parsed configuration.
    value: fn(&BrokerConfig) -> Option<String>,
    /// When not set: true reports the running value (derived from other
    /// keys, e.g. `advertised.listeners` from `listeners`), false reports the
    /// key's built-in default.
    derived: bool,
    /// Passwords and the like: reported as null. None of gregor's settings are
    /// secret today; the flag is here so that adding one cannot leak it.
    sensitive: bool,
    doc: &'static str,
}

const fn key(
    name: &'static str,
    config_type: ConfigType,
    value: fn(&BrokerConfig) -> Option<String>,
    doc: &'static str,
) -> BrokerKey {
    BrokerKey {
        name,
        config_type,
        value,
        derived: false,
        sensitive: false,
        doc,
    }
}

const fn derived(
    name: &'static str,
    config_type: ConfigType,
    value: fn(&BrokerConfig) -> Option<String>,
    doc: &'static str,
) -> BrokerKey {
    BrokerKey {
        name,
        config_type,
        value,
        derived: true,
        sensitive: false,
        doc,
    }
}

fn some(v: impl ToString) -> Option<String> {
    Some(v.to_string())
}

fn listeners(list: &[crate::config::Listener]) -> Option<String> {
    some(
        list.iter()
            .map(|l| {
                if l.host.contains(':') {
                    format!("{}://[{}]:{}", l.name, l.host, l.port)
                } else {
                    format!("{}://{}:{}", l.name, l.host, l.port)
                }
            })
            .collect::<Vec<_>>()
            .join(","),
    )
}

fn cleanup_policy(c: &LogConfig) -> Option<String> {
    let mut items = Vec::new();
    if c.cleanup_policy_compact {
        items.push("compact");
    }
    if c.cleanup_policy_delete {
        items.push("delete");
    }
    some(items.join(","))
}

const HOUR_MS: i64 = 3_600_000;

/// Every broker property gregor reads (see `BrokerConfig::from_pairs`), in
/// the order DescribeConfigs lists them. None can change at runtime.
const BROKER_KEYS: &[BrokerKey] = {
    use ConfigType::*;
    &[
        derived("node.id", Int, |c| some(c.node_id), "This broker's id."),
        derived("broker.id", Int, |c| some(c.node_id), "Alias of node.id."),
        key(
            "cluster.id",
            String,
            |c| c.cluster_id.clone(),
            "Cluster id written to the metadata log on first start.",
        ),
        key(
            "listeners",
            String,
            |c| listeners(&c.listeners),
            "Sockets the broker binds.",
        ),
        derived(
            "advertised.listeners",
            String,
            |c| listeners(&c.advertised_listeners),
            "Addresses Metadata gives clients, by listener name.",
        ),
        derived(
            "log.dirs",
            String,
            |c| some(c.data_dir.display()),
            "Data directory (one; several are refused).",
        ),
        key(
            "log.dir",
            String,
            |_| None,
            "Data directory when log.dirs is not set.",
        ),
        key(
            "num.partitions",
            Int,
            |c| some(c.num_partitions),
            "Partitions of auto-created topics and of CreateTopics with -1.",
        ),
        key(
            "default.replication.factor",
            Int,
            |c| some(c.default_replication_factor),
            "Replication factor of CreateTopics with -1.",
        ),
        key(
            "auto.create.topics.enable",
            Boolean,
            |c| some(c.auto_create_topics_enable),
            "Metadata requests create unknown topics.",
        ),
        key(
            "socket.request.max.bytes",
            Int,
            |c| some(c.socket_request_max_bytes),
            "Largest request frame accepted, in bytes.",
        ),
        key(
            "max.connections",
            Int,
            |c| some(c.max_connections),
            "Concurrent client connections over all listeners.",
        ),
        key(
            "max.connections.per.ip",
            Int,
            |c| some(c.max_connections_per_ip),
            "Concurrent client connections from one address.",
        ),
        key(
            "connections.max.idle.ms",
            Long,
            |c| some(c.connections_max_idle_ms.map_or(-1, |ms| ms as i64)),
            "Idle connections are closed after this many milliseconds (-1: never).",
        ),
        key(
            "queued.max.requests",
            Int,
            |c| some(c.queued_max_requests),
            "Responses queued per connection before the broker stops reading it.",
        ),
        key(
            "max.incremental.fetch.session.cache.slots",
            Int,
            |c| some(c.max_incremental_fetch_session_cache_slots),
            "Incremental fetch sessions kept.",
        ),
        key(
            "message.max.bytes",
            Int,
            |c| some(c.log_defaults.max_message_bytes),
            "Default max.message.bytes of topics.",
        ),
        key(
            "log.segment.bytes",
            Int,
            |c| some(c.log_defaults.segment_bytes),
            "Default segment.bytes of topics.",
        ),
        key(
            "log.roll.ms",
            Long,
            |_| None,
            "Default segment.ms of topics.",
        ),
        key(
            "log.roll.hours",
            Int,
            |c| some(c.log_defaults.segment_ms / HOUR_MS),
            "Default segment.ms of topics, in hours (log.roll.ms wins).",
        ),
        key(
            "log.retention.ms",
            Long,
            |_| None,
            "Default retention.ms of topics.",
        ),
        key(
            "log.retention.minutes",
            Int,
            |_| None,
            "Default retention.ms of topics, in minutes (log.retention.ms wins).",
        ),
        key(
            "log.retention.hours",
            Int,
            |c| some(c.log_defaults.retention_ms / HOUR_MS),
            "Default retention.ms of topics, in hours (log.retention.ms and .minutes win).",
        ),
        key(
            "log.retention.bytes",
            Long,
            |c| some(c.log_defaults.retention_bytes),
            "Default retention.bytes of topics.",
        ),
        key(
            "log.retention.check.interval.ms",
            Long,
            |c| some(c.log_retention_check_interval_ms),
            "How often retention runs.",
        ),
        key(
            "log.flush.interval.messages",
            Long,
            |c| some(c.log_defaults.flush_messages.min(i64::MAX as u64)),
            "Default flush.messages of topics.",
        ),
        key(
            "log.flush.interval.ms",
            Long,
            |_| None,
            "Default flush.ms of topics.",
        ),
        key(
            "log.flush.scheduler.interval.ms",
            Long,
            |c| some(c.log_flush_scheduler_interval_ms),
            "How often the flush.ms policy is checked.",
        ),
        key(
            "producer.id.expiration.ms",
            Int,
            |c| some(c.log_defaults.producer_id_expiration_ms),
            "Forget an idempotent producer's state after this long without appends.",
        ),
        key(
            "log.index.interval.bytes",
            Int,
            |c| some(c.log_defaults.index_interval_bytes),
            "Default index.interval.bytes of topics.",
        ),
        key(
            "log.message.timestamp.type",
            String,
            |c| running_value(&c.log_defaults, "message.timestamp.type"),
            "Default message.timestamp.type of topics.",
        ),
        key(
            "log.message.timestamp.before.max.ms",
            Long,
            |c| some(c.log_defaults.message_timestamp_before_max_ms),
            "Default message.timestamp.before.max.ms of topics.",
        ),
        key(
            "log.message.timestamp.after.max.ms",
            Long,
            |c| some(c.log_defaults.message_timestamp_after_max_ms),
            "Default message.timestamp.after.max.ms of topics.",
        ),
        key(
            "log.cleanup.policy",
            List,
            |c| cleanup_policy(&c.log_defaults),
            "Default cleanup.policy of topics.",
        ),
        key(
            "log.cleaner.backoff.ms",
            Long,
            |c| some(c.log_cleaner_backoff_ms),
            "Pause between cleaner passes over compacted partitions.",
        ),
        key(
            "log.cleaner.enable",
            Boolean,
            |c| some(c.log_cleaner_enable),
            "Whether compacted topics are compacted.",
        ),
        key(
            "delete.topic.enable",
            Boolean,
            |c| some(c.delete_topic_enable),
            "Whether DeleteTopics may delete topics.",
        ),
        key(
            "socket.send.buffer.bytes",
            Int,
            |c| some(c.socket_send_buffer_bytes.map_or(-1, |b| b as i64)),
            "SO_SNDBUF of client connections (-1: the OS default).",
        ),
        key(
            "socket.receive.buffer.bytes",
            Int,
            |c| some(c.socket_receive_buffer_bytes.map_or(-1, |b| b as i64)),
            "SO_RCVBUF of client connections (-1: the OS default).",
        ),
        key(
            "log.cleaner.delete.retention.ms",
            Long,
            |c| some(c.log_defaults.delete_retention_ms),
            "Default delete.retention.ms of topics.",
        ),
        key(
            "log.cleaner.min.cleanable.ratio",
            Double,
            |c| some(java_double(c.log_defaults.min_cleanable_dirty_ratio)),
            "Default min.cleanable.dirty.ratio of topics.",
        ),
        key(
            "log.cleaner.min.compaction.lag.ms",
            Long,
            |c| some(c.log_defaults.min_compaction_lag_ms),
            "Default min.compaction.lag.ms of topics.",
        ),
        key(
            "log.cleaner.max.compaction.lag.ms",
            Long,
            |c| some(c.log_defaults.max_compaction_lag_ms),
            "Default max.compaction.lag.ms of topics.",
        ),
        key(
            "offsets.topic.num.partitions",
            Int,
            |c| some(c.groups.offsets_topic_num_partitions),
            "Partitions of __consumer_offsets.",
        ),
        key(
            "offsets.topic.segment.bytes",
            Int,
            |c| some(c.groups.offsets_topic_segment_bytes),
            "Segment size of __consumer_offsets.",
        ),
        key(
            "offsets.retention.minutes",
            Int,
            |c| some(c.groups.offsets_retention_ms / 60_000),
            "Offsets of groups without members expire after this long.",
        ),
        key(
            "offsets.retention.ms",
            Long,
            |_| None,
            "Like offsets.retention.minutes, in milliseconds (gregor's own; wins).",
        ),
        key(
            "offset.metadata.max.bytes",
            Int,
            |c| some(c.groups.offset_metadata_max_bytes),
            "Longest offset commit metadata.",
        ),
        key(
            "group.initial.rebalance.delay.ms",
            Int,
            |c| some(c.groups.initial_rebalance_delay_ms),
            "Wait for more members before the first rebalance of a new group.",
        ),
        key(
            "group.min.session.timeout.ms",
            Int,
            |c| some(c.groups.min_session_timeout_ms),
            "Smallest classic group session timeout.",
        ),
        key(
            "group.max.session.timeout.ms",
            Int,
            |c| some(c.groups.max_session_timeout_ms),
            "Largest classic group session timeout.",
        ),
        key(
            "group.consumer.session.timeout.ms",
            Int,
            |c| some(c.groups.consumer_session_timeout_ms),
            "KIP-848 member session timeout.",
        ),
        key(
            "group.consumer.heartbeat.interval.ms",
            Int,
            |c| some(c.groups.consumer_heartbeat_interval_ms),
            "KIP-848 heartbeat interval.",
        ),
        key(
            "transaction.state.log.num.partitions",
            Int,
            |c| some(c.txn.num_partitions),
            "Partitions of __transaction_state.",
        ),
        key(
            "transaction.state.log.segment.bytes",
            Int,
            |c| some(c.txn.segment_bytes),
            "Segment size of __transaction_state.",
        ),
        key(
            "transaction.max.timeout.ms",
            Int,
            |c| some(c.txn.max_timeout_ms),
            "Largest transaction.timeout.ms a producer may ask for.",
        ),
    ]
};

/// Doc of keys gregor accepts from Kafka configs without acting on them.
const UNUSED_DOC: &str =
    "Accepted for compatibility with Kafka configurations; not used by gregor.";

/// This broker's settings: every property gregor reads, plus the accepted
/// but unused Kafka properties that were set. All are read-only (they come
/// from the file, environment and flags read at start).
pub fn describe_broker(config: &BrokerConfig) -> Vec<ConfigEntry> {
    let defaults = BrokerConfig::default();
    let mut out: Vec<ConfigEntry> = BROKER_KEYS
        .iter()
        .map(|k| {
            let set = config.explicit.get(k.name);
            let default = (k.value)(&defaults);
            let unset_value = if k.derived {
                (k.value)(config)
            } else {
                default.clone()
            };
            let hide = |v: Option<String>| if k.sensitive { None } else { v };
            let mut synonyms = Vec::new();
            if let Some(v) = set {
                synonyms.push(ConfigSynonym {
                    name: k.name.to_string(),
                    value: hide(Some(v.clone())),
                    source: ConfigSource::StaticBroker,
                });
            }
            if default.is_some() {
                synonyms.push(ConfigSynonym {
                    name: k.name.to_string(),
                    value: hide(default),
                    source: ConfigSource::Default,
                });
            }
            ConfigEntry {
                name: k.name.to_string(),
                value: hide(set.cloned().or(unset_value)),
                source: if set.is_some() {
                    ConfigSource::StaticBroker
                } else {
                    ConfigSource::Default
                },
                read_only: true,
                sensitive: k.sensitive,
                config_type: k.config_type,
                doc: k.doc,
                synonyms,
            }
        })
        .collect();
    out.push(cluster_min_insync(config, true));
    for name in ACCEPTED_UNUSED_KEYS {
        if let Some(v) = config.explicit.get(*name) {
            out.push(ConfigEntry {
                name: name.to_string(),
                value: Some(v.clone()),
                source: ConfigSource::StaticBroker,
                read_only: true,
                sensitive: false,
                config_type: ConfigType::Unknown,
                doc: UNUSED_DOC,
                synonyms: vec![ConfigSynonym {
                    name: name.to_string(),
                    value: Some(v.clone()),
                    source: ConfigSource::StaticBroker,
                }],
            });
        }
    }
    out
}

/// `min.insync.replicas` as Kafka 4.1 shows it on a broker resource. A
/// 4.1 cluster (ELR enabled) writes a cluster-level dynamic default of it
/// when formatted, copied from the static setting, so its source is
/// DYNAMIC_DEFAULT_BROKER_CONFIG, on the cluster-default resource (`""`,
/// the only entry there; `per_broker` false: only that synonym) and on
/// each broker (then the static setting and the built-in default follow).
/// gregor has no dynamic broker configs: the value is the static one.
pub fn cluster_min_insync(config: &BrokerConfig, per_broker: bool) -> ConfigEntry {
    const NAME: &str = "min.insync.replicas";
    let value = config.log_defaults.min_insync_replicas.to_string();
    let synonym = |value: String, source| ConfigSynonym {
        name: NAME.to_string(),
        value: Some(value),
        source,
    };
    let mut synonyms = vec![synonym(value.clone(), ConfigSource::DynamicDefaultBroker)];
    if per_broker {
        if let Some(v) = config.explicit.get(NAME) {
            synonyms.push(synonym(v.clone(), ConfigSource::StaticBroker));
        }
        synonyms.push(synonym("1".to_string(), ConfigSource::Default));
    }
    ConfigEntry {
        name: NAME.to_string(),
        value: Some(value),
        source: ConfigSource::DynamicDefaultBroker,
        // Alterable in Kafka; gregor has no dynamic broker configs.
        read_only: true,
        sensitive: false,
        config_type: ConfigType::Int,
        doc: "Fewest in-sync replicas an acks=all produce needs (cluster-wide default of topics' min.insync.replicas).",
        synonyms,
    }
}

/// True if `name` is a broker property DescribeConfigs reports.
pub fn is_broker_key(name: &str) -> bool {
    BROKER_KEYS.iter().any(|k| k.name == name) || ACCEPTED_UNUSED_KEYS.contains(&name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn broker(pairs: &[(&str, &str)]) -> BrokerConfig {
        let pairs: Vec<(String, String)> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_pairs(&pairs).unwrap()
    }

    fn entry<'a>(entries: &'a [ConfigEntry], name: &str) -> &'a ConfigEntry {
        entries
            .iter()
            .find(|e| e.name == name)
            .unwrap_or_else(|| panic!("{name} not described"))
    }

    fn syn(name: &str, value: &str, source: ConfigSource) -> ConfigSynonym {
        ConfigSynonym {
            name: name.into(),
            value: Some(value.into()),
            source,
        }
    }

    #[test]
    fn every_topic_config_is_described_with_kafka_defaults() {
        let entries = describe_topic(&broker(&[]), &BTreeMap::new());
        assert_eq!(entries.len(), TOPIC_CONFIGS.len());
        for e in &entries {
            assert_eq!(e.source, ConfigSource::Default, "{}", e.name);
            assert!(e.is_default() && !e.read_only && !e.sensitive);
            let def = topic_config::definition(&e.name).unwrap();
            // gregor's built-in LogConfig matches Kafka's defaults.
            assert_eq!(e.value.as_deref(), Some(def.default), "{}", e.name);
            assert!(e.synonyms.iter().all(|s| s.source == ConfigSource::Default));
        }
        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.config_type, ConfigType::Long);
        assert_eq!(
            retention.synonyms,
            vec![syn("log.retention.hours", "168", ConfigSource::Default)]
        );
        assert_eq!(
            entry(&entries, "cleanup.policy").config_type,
            ConfigType::List
        );
        assert!(entry(&entries, "flush.ms").synonyms.is_empty());
    }

    #[test]
    fn override_then_static_broker_then_default() {
        let b = broker(&[
            ("log.retention.hours", "2"),
            ("log.segment.bytes", "1048576"),
        ]);
        let overrides: BTreeMap<String, String> =
            [("retention.ms".to_string(), " 1000 ".to_string())].into();
        let entries = describe_topic(&b, &overrides);

        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("1000"));
        assert_eq!(retention.source, ConfigSource::DynamicTopic);
        assert_eq!(
            retention.synonyms,
            vec![
                syn("retention.ms", "1000", ConfigSource::DynamicTopic),
                syn("log.retention.hours", "2", ConfigSource::StaticBroker),
                syn("log.retention.hours", "168", ConfigSource::Default),
            ]
        );

        let segment = entry(&entries, "segment.bytes");
        assert_eq!(segment.value.as_deref(), Some("1048576"));
        assert_eq!(segment.source, ConfigSource::StaticBroker);
        assert!(!segment.is_default());

        // Without the override, the broker's hours become the topic's ms.
        let entries = describe_topic(&b, &BTreeMap::new());
        let retention = entry(&entries, "retention.ms");
        assert_eq!(retention.value.as_deref(), Some("7200000"));
        assert_eq!(retention.source, ConfigSource::StaticBroker);
    }

    #[test]
    fn broker_synonyms_reach_topic_values() {
        let b = broker(&[
            ("min.insync.replicas", "2"),
            ("compression.type", "zstd"),
            ("log.cleanup.policy", "compact, delete"),
        ]);
        let entries = describe_topic(&b, &BTreeMap::new());
        let misr = entry(&entries, "min.insync.replicas");
        assert_eq!(misr.value.as_deref(), Some("2"));
        assert_eq!(misr.source, ConfigSource::StaticBroker);
        assert_eq!(
            entry(&entries, "compression.type").value.as_deref(),
            Some("zstd")
        );
        let policy = entry(&entries, "cleanup.policy");
        assert_eq!(policy.value.as_deref(), Some("compact,delete"));
        assert_eq!(policy.source, ConfigSource::StaticBroker);
        // The record timestamp window, from the broker defaults.
        let b = broker(&[("log.message.timestamp.after.max.ms", "60000")]);
        let entries = describe_topic(&b, &BTreeMap::new());
        let after = entry(&entries, "message.timestamp.after.max.ms");
        assert_eq!(after.value.as_deref(), Some("60000"));
        assert_eq!(after.source, ConfigSource::StaticBroker);
        assert_eq!(
            entry(&entries, "message.timestamp.before.max.ms")
                .value
                .as_deref(),
            Some("9223372036854775807")
        );
        // max.message.bytes <- message.max.bytes
        let b = broker(&[("message.max.bytes", "5000")]);
        let entries = describe_topic(&b, &BTreeMap::new());
        let max = entry(&entries, "max.message.bytes");
        assert_eq!(max.value.as_deref(), Some("5000"));
        assert_eq!(max.synonyms[0].name, "message.max.bytes");
    }

    #[test]
    fn broker_keys_report_static_or_default_and_are_read_only() {
        let b = broker(&[
            ("num.partitions", "3"),
            ("listeners", "PLAINTEXT://127.0.0.1:9999"),
            ("process.roles", "broker,controller"),
        ]);
        let entries = describe_broker(&b);
        let parts = entry(&entries, "num.partitions");
        assert_eq!(parts.value.as_deref(), Some("3"));
        assert_eq!(parts.source, ConfigSource::StaticBroker);
        assert_eq!(
            parts.synonyms,
            vec![
                syn("num.partitions", "3", ConfigSource::StaticBroker),
                syn("num.partitions", "1", ConfigSource::Default),
            ]
        );
        let auto = entry(&entries, "auto.create.topics.enable");
        assert_eq!(auto.value.as_deref(), Some("true"));
        assert_eq!(auto.source, ConfigSource::Default);
        assert_eq!(auto.config_type, ConfigType::Boolean);
        // Derived from listeners when not set.
        let adv = entry(&entries, "advertised.listeners");
        assert_eq!(adv.value.as_deref(), Some("PLAINTEXT://127.0.0.1:9999"));
        assert_eq!(adv.source, ConfigSource::Default);
        assert_eq!(
            entry(&entries, "log.retention.hours").value.as_deref(),
            Some("168")
        );
        assert_eq!(entry(&entries, "log.retention.ms").value, None);
        assert_eq!(
            entry(&entries, "log.message.timestamp.after.max.ms")
                .value
                .as_deref(),
            Some("3600000")
        );
        assert_eq!(
            entry(&entries, "process.roles").source,
            ConfigSource::StaticBroker
        );
        assert!(entries.iter().all(|e| e.read_only && !e.sensitive));
    }

    #[test]
    fn every_reported_broker_key_is_one_gregor_parses() {
        let defaults = BrokerConfig::default();
        for k in BROKER_KEYS {
            let Some(v) = (k.value)(&defaults) else {
                continue;
            };
            let cfg = BrokerConfig::from_pairs(&[(k.name.to_string(), v.clone())])
                .unwrap_or_else(|e| panic!("{}={v}: {e}", k.name));
            assert!(
                !cfg.ignored_keys.contains(&k.name.to_string()),
                "{} is not read by BrokerConfig::from_pairs",
                k.name
            );
            // Its default, read back, is the same value.
            assert_eq!((k.value)(&cfg).as_deref(), Some(v.as_str()), "{}", k.name);
        }
    }
}
