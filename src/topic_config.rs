//! Topic-level configuration: which keys exist, what values they accept, what
//! they default to and which broker properties set that default, and how a
//! topic's overrides combine with the broker defaults into the `LogConfig`
//! its partitions run with.

use std::collections::BTreeMap;

use crate::log::{LogConfig, TimestampType};
use crate::record::Compression;

/// The value kinds a topic config can take; validation follows Kafka's.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// An integer at least this large.
    Long(i64),
    /// A ratio between 0 and 1.
    Ratio,
    Bool,
    /// One of a fixed set of words.
    OneOf(&'static [&'static str]),
    /// A comma-separated list whose items come from the set (any item when empty).
    ListOf(&'static [&'static str]),
}

/// The `config_type` of DescribeConfigs v3+ (Kafka's `ConfigDef.Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(i8)]
pub enum ConfigType {
    Unknown = 0,
    Boolean = 1,
    String = 2,
    Int = 3,
    Short = 4,
    Long = 5,
    Double = 6,
    List = 7,
    Class = 8,
    Password = 9,
}

/// A broker property that supplies a topic config's default when it is set,
/// e.g. `log.retention.hours` for `retention.ms`.
#[derive(Debug, Clone, Copy)]
pub struct BrokerSynonym {
    pub name: &'static str,
    /// Multiplies the broker value into the topic key's unit (hours → ms: 3 600 000).
    pub factor: i64,
    /// The broker property's own built-in default, if it has one (Kafka lists it
    /// as a DEFAULT_CONFIG synonym).
    pub default: Option<&'static str>,
}

const fn syn(name: &'static str, default: &'static str) -> BrokerSynonym {
    BrokerSynonym {
        name,
        factor: 1,
        default: Some(default),
    }
}

const fn syn_no_default(name: &'static str, factor: i64) -> BrokerSynonym {
    BrokerSynonym {
        name,
        factor,
        default: None,
    }
}

const HOUR_MS: i64 = 3_600_000;
const MINUTE_MS: i64 = 60_000;
const I64_MAX: &str = "9223372036854775807";

/// One topic config Kafka 4.x knows.
#[derive(Debug)]
pub struct TopicConfigDef {
    pub name: &'static str,
    kind: Kind,
    pub config_type: ConfigType,
    /// Kafka's built-in default, spelled as DescribeConfigs reports it.
    pub default: &'static str,
    /// Broker properties that set the default, highest priority first. Only
    /// the ones gregor reads (or that mean the same thing in Kafka) are listed.
    pub broker_synonyms: &'static [BrokerSynonym],
    /// One line for DescribeConfigs' `include_documentation`.
    pub doc: &'static str,
}

macro_rules! def {
    ($name:literal, $kind:expr, $ty:ident, $default:expr, [$($syn:expr),*], $doc:literal) => {
        TopicConfigDef {
            name: $name,
            kind: $kind,
            config_type: ConfigType::$ty,
            default: $default,
            broker_synonyms: &[$($syn),*],
            doc: $doc,
        }
    };
}

/// Every topic config Kafka 4.x accepts, alphabetically, with the accepted
/// values, defaults and broker synonyms.
pub const TOPIC_CONFIGS: &[TopicConfigDef] = &[
    def!("cleanup.policy", Kind::ListOf(&["delete", "compact"]), List, "delete",
        [syn("log.cleanup.policy", "delete")],
        "delete: old segments are removed by retention; compact: only the latest record per key is kept."),
    def!("compression.type",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
        String, "producer", [syn("compression.type", "producer")],
        "Final compression of the topic's batches; producer keeps the codec the producer chose."),
    def!("compression.gzip.level", Kind::Long(-1), Int, "-1", [syn("compression.gzip.level", "-1")],
        "Compression level when compression.type is gzip."),
    def!("compression.lz4.level", Kind::Long(1), Int, "9", [syn("compression.lz4.level", "9")],
        "Compression level when compression.type is lz4."),
    def!("compression.zstd.level", Kind::Long(-131072), Int, "3", [syn("compression.zstd.level", "3")],
        "Compression level when compression.type is zstd."),
    def!("delete.retention.ms", Kind::Long(0), Long, "86400000",
        [syn("log.cleaner.delete.retention.ms", "86400000")],
        "How long tombstones stay in a compacted topic after cleaning reached them."),
    def!("file.delete.delay.ms", Kind::Long(0), Long, "60000",
        [syn("log.segment.delete.delay.ms", "60000")],
        "Wait before a deleted segment file is removed from disk."),
    def!("flush.messages", Kind::Long(1), Long, I64_MAX,
        [syn("log.flush.interval.messages", I64_MAX)],
        "fsync the log after this many messages."),
    def!("flush.ms", Kind::Long(0), Long, I64_MAX, [syn_no_default("log.flush.interval.ms", 1)],
        "fsync the log when the last flush is older than this many milliseconds."),
    def!("follower.replication.throttled.replicas", Kind::ListOf(&[]), List, "", [],
        "Replicas whose follower replication is throttled (partition:broker list or *)."),
    def!("index.interval.bytes", Kind::Long(0), Int, "4096",
        [syn("log.index.interval.bytes", "4096")],
        "Bytes of log between entries of the offset index."),
    def!("leader.replication.throttled.replicas", Kind::ListOf(&[]), List, "", [],
        "Replicas whose leader replication is throttled (partition:broker list or *)."),
    def!("local.retention.bytes", Kind::Long(-2), Long, "-2",
        [syn("log.local.retention.bytes", "-2")],
        "Tiered storage: local bytes kept; -2 means retention.bytes."),
    def!("local.retention.ms", Kind::Long(-2), Long, "-2", [syn("log.local.retention.ms", "-2")],
        "Tiered storage: local milliseconds kept; -2 means retention.ms."),
    def!("max.compaction.lag.ms", Kind::Long(1), Long, I64_MAX,
        [syn("log.cleaner.max.compaction.lag.ms", I64_MAX)],
        "Longest time a record stays uncompacted."),
    def!("max.message.bytes", Kind::Long(0), Int, "1048588", [syn("message.max.bytes", "1048588")],
        "Largest record batch the topic accepts, in bytes."),
    def!("message.timestamp.after.max.ms", Kind::Long(0), Long, "3600000",
        [syn("log.message.timestamp.after.max.ms", "3600000")],
        "How far ahead of the broker's clock a CreateTime timestamp may be."),
    def!("message.timestamp.before.max.ms", Kind::Long(0), Long, I64_MAX,
        [syn("log.message.timestamp.before.max.ms", I64_MAX)],
        "How far behind the broker's clock a CreateTime timestamp may be."),
    def!("message.timestamp.difference.max.ms", Kind::Long(0), Long, I64_MAX,
        [syn("log.message.timestamp.difference.max.ms", I64_MAX)],
        "Deprecated: largest difference between a CreateTime timestamp and the broker's clock."),
    def!("message.timestamp.type", Kind::OneOf(&["CreateTime", "LogAppendTime"]), String,
        "CreateTime", [syn("log.message.timestamp.type", "CreateTime")],
        "CreateTime keeps the producer's timestamps; LogAppendTime stamps records with the broker's clock."),
    def!("min.cleanable.dirty.ratio", Kind::Ratio, Double, "0.5",
        [syn("log.cleaner.min.cleanable.ratio", "0.5")],
        "Compact when the uncompacted share of the log reaches this ratio."),
    def!("min.compaction.lag.ms", Kind::Long(0), Long, "0",
        [syn("log.cleaner.min.compaction.lag.ms", "0")],
        "Shortest time a record stays uncompacted."),
    def!("min.insync.replicas", Kind::Long(1), Int, "1", [syn("min.insync.replicas", "1")],
        "Replicas that must acknowledge an acks=all write."),
    def!("preallocate", Kind::Bool, Boolean, "false", [syn("log.preallocate", "false")],
        "Preallocate segment files on disk."),
    def!("remote.log.copy.disable", Kind::Bool, Boolean, "false", [],
        "Tiered storage: stop copying segments to remote storage."),
    def!("remote.log.delete.on.disable", Kind::Bool, Boolean, "false", [],
        "Tiered storage: delete remote data when tiering is turned off."),
    def!("remote.storage.enable", Kind::Bool, Boolean, "false", [],
        "Tiered storage for this topic."),
    def!("retention.bytes", Kind::Long(i64::MIN), Long, "-1", [syn("log.retention.bytes", "-1")],
        "Delete the oldest segments while a partition is larger than this; -1: no size limit."),
    def!("retention.ms", Kind::Long(-1), Long, "604800000",
        [
            syn_no_default("log.retention.ms", 1),
            syn_no_default("log.retention.minutes", MINUTE_MS),
            BrokerSynonym { name: "log.retention.hours", factor: HOUR_MS, default: Some("168") }
        ],
        "Delete segments whose newest record is older than this; -1: keep forever."),
    def!("segment.bytes", Kind::Long(14), Int, "1073741824",
        [syn("log.segment.bytes", "1073741824")],
        "Roll to a new segment file at this size."),
    def!("segment.index.bytes", Kind::Long(4), Int, "10485760",
        [syn("log.index.size.max.bytes", "10485760")],
        "Size of each segment's offset index."),
    def!("segment.jitter.ms", Kind::Long(0), Long, "0",
        [
            syn_no_default("log.roll.jitter.ms", 1),
            BrokerSynonym { name: "log.roll.jitter.hours", factor: HOUR_MS, default: Some("0") }
        ],
        "Random jitter subtracted from segment.ms."),
    def!("segment.ms", Kind::Long(1), Long, "604800000",
        [
            syn_no_default("log.roll.ms", 1),
            BrokerSynonym { name: "log.roll.hours", factor: HOUR_MS, default: Some("168") }
        ],
        "Roll to a new segment when the active one is older than this."),
    def!("unclean.leader.election.enable", Kind::Bool, Boolean, "false",
        [syn("unclean.leader.election.enable", "false")],
        "Let an out-of-sync replica become leader (data loss)."),
];

/// The definition of a topic config, `None` for names Kafka does not know.
pub fn definition(key: &str) -> Option<&'static TopicConfigDef> {
    TOPIC_CONFIGS.iter().find(|d| d.name == key)
}

/// True for comma-separated list configs (the only ones IncrementalAlterConfigs
/// may APPEND to or SUBTRACT from).
pub fn is_list(key: &str) -> bool {
    definition(key).is_some_and(|d| d.config_type == ConfigType::List)
}

/// Checks one topic config; the error text goes into the response's error message.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    let Some(def) = definition(key) else {
        return Err(format!("Unknown topic config name: {key}"));
    };
    let bad = || format!("Invalid value {value} for configuration {key}");
    match def.kind {
        Kind::Long(min) => {
            let n: i64 = value.trim().parse().map_err(|_| bad())?;
            if n < min {
                return Err(format!("{}: value must be at least {min}", bad()));
            }
        }
        Kind::Ratio => {
            let r: f64 = value.trim().parse().map_err(|_| bad())?;
            if !(0.0..=1.0).contains(&r) {
                return Err(format!("{}: value must be between 0 and 1", bad()));
            }
        }
        Kind::Bool => {
            if !matches!(value.trim(), "true" | "false") {
                return Err(bad());
            }
        }
        Kind::OneOf(words) => {
            if !words.contains(&value.trim()) {
                return Err(format!("{}: expected one of {}", bad(), words.join(", ")));
            }
        }
        Kind::ListOf(words) => {
            for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
                if !words.is_empty() && !words.contains(&item) {
                    return Err(format!("{}: expected items of {}", bad(), words.join(", ")));
                }
            }
        }
    }
    Ok(())
}

/// Validates every entry of a topic's configs.
pub fn validate_all(configs: &BTreeMap<String, String>) -> Result<(), String> {
    configs.iter().try_for_each(|(k, v)| validate(k, v))
}

/// An IncrementalAlterConfigs operation (`config_operation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlterOp {
    Set,
    Delete,
    /// Add items to a list config (those not in it yet).
    Append,
    /// Remove items from a list config.
    Subtract,
}

impl AlterOp {
    pub fn from_code(code: i8) -> Option<AlterOp> {
        match code {
            0 => Some(AlterOp::Set),
            1 => Some(AlterOp::Delete),
            2 => Some(AlterOp::Append),
            3 => Some(AlterOp::Subtract),
            _ => None,
        }
    }

    /// Kafka's name of the operation, for error messages.
    pub fn name(self) -> &'static str {
        match self {
            AlterOp::Set => "SET",
            AlterOp::Delete => "DELETE",
            AlterOp::Append => "APPEND",
            AlterOp::Subtract => "SUBTRACT",
        }
    }
}

/// Why a set of operations cannot be applied to a topic.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AlterError {
    /// The request itself is malformed (Kafka: INVALID_REQUEST).
    #[error("{0}")]
    InvalidRequest(String),
    /// A key or value is not acceptable (Kafka: INVALID_CONFIG).
    #[error("{0}")]
    InvalidConfig(String),
}

/// Applies IncrementalAlterConfigs operations to a topic's overrides and
/// returns the new overrides. APPEND and SUBTRACT start from the override,
/// or, without one, from the value the topic runs with (`effective`), so
/// appending `compact` to a topic with the default policy gives
/// `delete,compact`. Every key that changes is validated.
pub fn apply_incremental(
    current: &BTreeMap<String, String>,
    ops: &[(String, AlterOp, Option<String>)],
    effective: impl Fn(&str) -> Option<String>,
) -> Result<BTreeMap<String, String>, AlterError> {
    let mut seen = std::collections::HashSet::new();
    if let Some((key, _, _)) = ops.iter().find(|(k, _, _)| !seen.insert(k.as_str())) {
        return Err(AlterError::InvalidRequest(format!(
            "Error due to duplicate config keys: {key}"
        )));
    }
    let mut next = current.clone();
    for (key, op, value) in ops {
        match op {
            AlterOp::Set => match value {
                Some(v) => {
                    next.insert(key.clone(), v.clone());
                }
                None => {
                    next.remove(key);
                }
            },
            AlterOp::Delete => {
                next.remove(key);
            }
            AlterOp::Append | AlterOp::Subtract => {
                if !is_list(key) {
                    return Err(AlterError::InvalidConfig(format!(
                        "Can't {} to key {key} because its type is not LIST.",
                        op.name()
                    )));
                }
                let Some(value) = value else {
                    return Err(AlterError::InvalidRequest(format!(
                        "Null value not supported for {} of {key}",
                        op.name()
                    )));
                };
                let base = next
                    .get(key)
                    .cloned()
                    .or_else(|| effective(key))
                    .unwrap_or_default();
                let mut items: Vec<String> = list_items(&base);
                for item in list_items(value) {
                    if *op == AlterOp::Append {
                        if !items.contains(&item) {
                            items.push(item);
                        }
                    } else {
                        items.retain(|i| *i != item);
                    }
                }
                next.insert(key.clone(), items.join(","));
            }
        }
    }
    for (key, value) in &next {
        if current.get(key) != Some(value) {
            validate(key, value).map_err(AlterError::InvalidConfig)?;
        }
    }
    Ok(next)
}

fn list_items(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect()
}

/// The log settings a topic's partitions run with: broker defaults, overridden
/// by the topic's own (already validated) configs.
pub fn log_config(defaults: &LogConfig, topic: &BTreeMap<String, String>) -> LogConfig {
    let mut config = defaults.clone();
    let long = |key: &str| topic.get(key).and_then(|v| v.trim().parse::<i64>().ok());
    if let Some(v) = long("segment.bytes") {
        config.segment_bytes = v.max(14) as u64;
    }
    if let Some(v) = long("segment.ms") {
        config.segment_ms = v.max(1);
    }
    if let Some(v) = long("retention.ms") {
        config.retention_ms = v;
    }
    if let Some(v) = long("retention.bytes") {
        config.retention_bytes = v;
    }
    if let Some(v) = long("flush.messages") {
        config.flush_messages = v.max(1) as u64;
    }
    if let Some(v) = long("flush.ms") {
        config.flush_ms = v;
    }
    if let Some(v) = long("index.interval.bytes") {
        config.index_interval_bytes = v.clamp(0, i64::from(u32::MAX)) as u32;
    }
    if let Some(v) = long("max.message.bytes") {
        config.max_message_bytes = v.clamp(0, i64::from(u32::MAX)) as u32;
    }
    if let Some(policy) = topic.get("cleanup.policy") {
        let items: Vec<&str> = policy.split(',').map(str::trim).collect();
        config.cleanup_policy_compact = items.contains(&"compact");
        config.cleanup_policy_delete = items.contains(&"delete");
    }
    if let Some(v) = long("delete.retention.ms") {
        config.delete_retention_ms = v;
    }
    if let Some(v) = long("min.compaction.lag.ms") {
        config.min_compaction_lag_ms = v;
    }
    if let Some(v) = long("max.compaction.lag.ms") {
        config.max_compaction_lag_ms = v;
    }
    if let Some(v) = topic
        .get("min.cleanable.dirty.ratio")
        .and_then(|v| v.trim().parse::<f64>().ok())
    {
        config.min_cleanable_dirty_ratio = v;
    }
    if let Some(codec) = topic.get("compression.type") {
        config.compression = compression_type(codec);
    }
    if let Some(v) = long("min.insync.replicas") {
        config.min_insync_replicas = v.clamp(1, i64::from(i32::MAX)) as i32;
    }
    if let Some(v) = long("message.timestamp.before.max.ms") {
        config.message_timestamp_before_max_ms = v.max(0);
    }
    if let Some(v) = long("message.timestamp.after.max.ms") {
        config.message_timestamp_after_max_ms = v.max(0);
    }
    match topic.get("message.timestamp.type").map(|s| s.trim()) {
        Some("LogAppendTime") => config.message_timestamp_type = TimestampType::LogAppendTime,
        Some("CreateTime") => config.message_timestamp_type = TimestampType::CreateTime,
        _ => {}
    }
    config
}

/// Maps a `compression.type` value to the codec batches are stored with;
/// `None` for `producer` (keep what the producer sent) and unknown words.
pub fn compression_type(value: &str) -> Option<Compression> {
    match value.trim() {
        "uncompressed" | "none" => Some(Compression::None),
        "gzip" => Some(Compression::Gzip),
        "snappy" => Some(Compression::Snappy),
        "lz4" => Some(Compression::Lz4),
        "zstd" => Some(Compression::Zstd),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_keys_with_good_values_pass() {
        assert!(validate("retention.ms", "-1").is_ok());
        assert!(validate("cleanup.policy", "compact,delete").is_ok());
        assert!(validate("min.cleanable.dirty.ratio", "0.5").is_ok());
        assert!(validate("message.timestamp.type", "LogAppendTime").is_ok());
    }

    #[test]
    fn unknown_keys_and_bad_values_fail() {
        assert!(validate("no.such.config", "1")
            .unwrap_err()
            .contains("Unknown"));
        assert!(validate("retention.ms", "soon").is_err());
        assert!(validate("retention.ms", "-5").is_err());
        assert!(validate("cleanup.policy", "shred").is_err());
        assert!(validate("min.cleanable.dirty.ratio", "2").is_err());
    }

    #[test]
    fn overrides_win_over_defaults() {
        let defaults = LogConfig::default();
        let mut topic = BTreeMap::new();
        topic.insert("segment.bytes".to_string(), "1024".to_string());
        topic.insert(
            "message.timestamp.type".to_string(),
            "LogAppendTime".to_string(),
        );
        let config = log_config(&defaults, &topic);
        assert_eq!(config.segment_bytes, 1024);
        assert!(matches!(
            config.message_timestamp_type,
            TimestampType::LogAppendTime
        ));
        assert_eq!(config.retention_ms, defaults.retention_ms);
        assert!(!config.cleanup_policy_compact);
        assert_eq!(config.compression, None);
        assert_eq!(config.min_insync_replicas, 1);
        topic.insert("compression.type".to_string(), "zstd".to_string());
        topic.insert("min.insync.replicas".to_string(), "2".to_string());
        let config = log_config(&defaults, &topic);
        assert_eq!(config.compression, Some(Compression::Zstd));
        assert_eq!(config.min_insync_replicas, 2);
        topic.insert("compression.type".to_string(), "producer".to_string());
        assert_eq!(log_config(&defaults, &topic).compression, None);
    }

    #[test]
    fn timestamp_limits_reach_the_record_rules() {
        let defaults = LogConfig::default();
        let rules = defaults.record_rules();
        assert_eq!(rules.timestamp_before_max_ms, i64::MAX);
        assert_eq!(rules.timestamp_after_max_ms, 3_600_000);
        let mut topic = BTreeMap::new();
        topic.insert(
            "message.timestamp.before.max.ms".to_string(),
            "60000".to_string(),
        );
        topic.insert(
            "message.timestamp.after.max.ms".to_string(),
            " 5000 ".to_string(),
        );
        topic.insert("cleanup.policy".to_string(), "compact".to_string());
        let rules = log_config(&defaults, &topic).record_rules();
        assert_eq!(rules.timestamp_before_max_ms, 60_000);
        assert_eq!(rules.timestamp_after_max_ms, 5_000);
        assert!(rules.require_keys);
        assert!(validate("message.timestamp.after.max.ms", "-1").is_err());
    }

    #[test]
    fn cleanup_policy_maps_to_compaction_settings() {
        let mut topic = BTreeMap::new();
        topic.insert("cleanup.policy".to_string(), "compact,delete".to_string());
        topic.insert("min.cleanable.dirty.ratio".to_string(), "0.1".to_string());
        let config = log_config(&LogConfig::default(), &topic);
        assert!(config.cleanup_policy_compact && config.cleanup_policy_delete);
        assert_eq!(config.min_cleanable_dirty_ratio, 0.1);
        topic.insert("cleanup.policy".to_string(), "compact".to_string());
        assert!(!log_config(&LogConfig::default(), &topic).cleanup_policy_delete);
    }

    fn ops(items: &[(&str, AlterOp, Option<&str>)]) -> Vec<(String, AlterOp, Option<String>)> {
        items
            .iter()
            .map(|(k, op, v)| (k.to_string(), *op, v.map(str::to_string)))
            .collect()
    }

    fn map(items: &[(&str, &str)]) -> BTreeMap<String, String> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn no_effective(_: &str) -> Option<String> {
        None
    }

    #[test]
    fn set_and_delete_change_only_the_named_keys() {
        let current = map(&[("retention.ms", "1000"), ("segment.bytes", "2048")]);
        let next = apply_incremental(
            &current,
            &ops(&[
                ("retention.ms", AlterOp::Set, Some("5000")),
                ("segment.bytes", AlterOp::Delete, None),
                ("flush.ms", AlterOp::Set, Some("10")),
                ("not.there", AlterOp::Delete, None),
            ]),
            no_effective,
        )
        .unwrap();
        assert_eq!(next, map(&[("retention.ms", "5000"), ("flush.ms", "10")]));
    }

    #[test]
    fn append_and_subtract_work_on_lists_from_the_effective_value() {
        let effective = |k: &str| (k == "cleanup.policy").then(|| "delete".to_string());
        let next = apply_incremental(
            &BTreeMap::new(),
            &ops(&[("cleanup.policy", AlterOp::Append, Some("compact"))]),
            effective,
        )
        .unwrap();
        assert_eq!(next, map(&[("cleanup.policy", "delete,compact")]));
        // Appending what is there already changes nothing; subtracting removes.
        let next = apply_incremental(
            &next,
            &ops(&[("cleanup.policy", AlterOp::Append, Some("delete"))]),
            effective,
        )
        .unwrap();
        assert_eq!(next, map(&[("cleanup.policy", "delete,compact")]));
        let next = apply_incremental(
            &next,
            &ops(&[("cleanup.policy", AlterOp::Subtract, Some("delete"))]),
            effective,
        )
        .unwrap();
        assert_eq!(next, map(&[("cleanup.policy", "compact")]));
        let next = apply_incremental(
            &next,
            &ops(&[("cleanup.policy", AlterOp::Subtract, Some("compact"))]),
            effective,
        )
        .unwrap();
        assert_eq!(next, map(&[("cleanup.policy", "")]));
    }

    #[test]
    fn bad_operations_are_refused() {
        let err = |o: &[(&str, AlterOp, Option<&str>)]| {
            apply_incremental(&BTreeMap::new(), &ops(o), no_effective).unwrap_err()
        };
        assert!(matches!(
            err(&[("retention.ms", AlterOp::Append, Some("1"))]),
            AlterError::InvalidConfig(m) if m.contains("not LIST") && m.contains("APPEND")
        ));
        assert!(matches!(
            err(&[
                ("retention.ms", AlterOp::Set, Some("1")),
                ("retention.ms", AlterOp::Delete, None)
            ]),
            AlterError::InvalidRequest(m) if m.contains("duplicate")
        ));
        assert!(matches!(
            err(&[("retention.ms", AlterOp::Set, Some("soon"))]),
            AlterError::InvalidConfig(_)
        ));
        assert!(matches!(
            err(&[("no.such.config", AlterOp::Set, Some("1"))]),
            AlterError::InvalidConfig(m) if m.contains("Unknown")
        ));
        assert!(matches!(
            err(&[("cleanup.policy", AlterOp::Append, Some("shred"))]),
            AlterError::InvalidConfig(_)
        ));
        assert_eq!(AlterOp::from_code(4), None);
    }
}
