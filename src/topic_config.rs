//! Topic-level configuration: which keys exist, what values they accept, and
//! how a topic's overrides combine with the broker defaults into the
//! `LogConfig` its partitions run with.

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
    /// A comma-separated list whose items come from the set.
    ListOf(&'static [&'static str]),
}

/// Every topic config Kafka 4.x accepts, with the accepted values.
const TOPIC_CONFIGS: &[(&str, Kind)] = &[
    ("cleanup.policy", Kind::ListOf(&["delete", "compact"])),
    (
        "compression.type",
        Kind::OneOf(&["uncompressed", "zstd", "lz4", "snappy", "gzip", "producer"]),
    ),
    ("compression.gzip.level", Kind::Long(1)),
    ("compression.lz4.level", Kind::Long(1)),
    ("compression.zstd.level", Kind::Long(-131072)),
    ("delete.retention.ms", Kind::Long(0)),
    ("file.delete.delay.ms", Kind::Long(0)),
    ("flush.messages", Kind::Long(1)),
    ("flush.ms", Kind::Long(0)),
    ("follower.replication.throttled.replicas", Kind::ListOf(&[])),
    ("index.interval.bytes", Kind::Long(0)),
    ("leader.replication.throttled.replicas", Kind::ListOf(&[])),
    ("local.retention.bytes", Kind::Long(-2)),
    ("local.retention.ms", Kind::Long(-2)),
    ("max.compaction.lag.ms", Kind::Long(1)),
    ("max.message.bytes", Kind::Long(0)),
    ("message.timestamp.after.max.ms", Kind::Long(0)),
    ("message.timestamp.before.max.ms", Kind::Long(0)),
    ("message.timestamp.difference.max.ms", Kind::Long(0)),
    (
        "message.timestamp.type",
        Kind::OneOf(&["CreateTime", "LogAppendTime"]),
    ),
    ("min.cleanable.dirty.ratio", Kind::Ratio),
    ("min.compaction.lag.ms", Kind::Long(0)),
    ("min.insync.replicas", Kind::Long(1)),
    ("preallocate", Kind::Bool),
    ("remote.storage.enable", Kind::Bool),
    ("retention.bytes", Kind::Long(i64::MIN)),
    ("retention.ms", Kind::Long(-1)),
    ("segment.bytes", Kind::Long(14)),
    ("segment.index.bytes", Kind::Long(4)),
    ("segment.jitter.ms", Kind::Long(0)),
    ("segment.ms", Kind::Long(1)),
    ("unclean.leader.election.enable", Kind::Bool),
];

/// Checks one topic config; the error text goes into the response's error message.
pub fn validate(key: &str, value: &str) -> Result<(), String> {
    let Some((_, kind)) = TOPIC_CONFIGS.iter().find(|(k, _)| *k == key) else {
        return Err(format!("Unknown topic config name: {key}"));
    };
    let bad = || format!("Invalid value {value} for configuration {key}");
    match *kind {
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
}
