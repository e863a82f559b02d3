//! Dynamic group configs: Kafka 4.1's GROUP config resource (KIP-848), set
//! with IncrementalAlterConfigs/AlterConfigs and read with DescribeConfigs.
//!
//! Overrides live in the metadata image (`MetadataImage::group_configs`,
//! written by `MetadataCommand::AlterGroupConfigs`), so they are replicated
//! and survive restarts. A key without an override takes the broker-wide
//! value: `consumer.*` from `group.consumer.*`, `share.*` from
//! `group.share.*`, and (as in Kafka 4.1, which does not copy them) the
//! `streams.*` and string keys from their built-in defaults.
//!
//! gregor runs KIP-848 consumer groups only, so `consumer.session.timeout.ms`
//! and `consumer.heartbeat.interval.ms` act on live groups (see
//! [`consumer_timeouts`]); the `share.*` and `streams.*` keys are validated
//! and stored exactly as Kafka does, for tools that set them, but no share or
//! streams group exists to use them.
//!
//! The bounds (`group.consumer.min.session.timeout.ms` and friends) are read
//! from the broker properties as given, with Kafka's defaults; gregor does
//! not otherwise use them.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::config::BrokerConfig;
use crate::config_describe::{ConfigEntry, ConfigSource, ConfigSynonym};
use crate::topic_config::ConfigType;

/// How one group config's value is checked on its own.
#[derive(Debug, Clone, Copy)]
enum Kind {
    /// A Java int no smaller than the given value.
    IntAtLeast(i64),
    /// `earliest`, `latest` or `by_duration:<ISO-8601 duration>`.
    OffsetReset,
    /// One of these exact strings.
    OneOf(&'static [&'static str]),
}

/// A group config key: its name, check, where its default comes from, doc.
struct GroupKey {
    name: &'static str,
    kind: Kind,
    /// The default when the group has no override.
    default: fn(&BrokerConfig) -> String,
    doc: &'static str,
}

/// The broker properties read here (from `BrokerConfig::explicit`), so the
/// config reader accepts them without calling them unknown.
pub const BROKER_KEYS_READ: &[&str] = &[
    "group.consumer.min.session.timeout.ms",
    "group.consumer.max.session.timeout.ms",
    "group.consumer.min.heartbeat.interval.ms",
    "group.consumer.max.heartbeat.interval.ms",
    "group.share.session.timeout.ms",
    "group.share.heartbeat.interval.ms",
    "group.share.record.lock.duration.ms",
    "group.share.min.session.timeout.ms",
    "group.share.max.session.timeout.ms",
    "group.share.min.heartbeat.interval.ms",
    "group.share.max.heartbeat.interval.ms",
    "group.share.min.record.lock.duration.ms",
    "group.share.max.record.lock.duration.ms",
    "group.streams.min.session.timeout.ms",
    "group.streams.max.session.timeout.ms",
    "group.streams.min.heartbeat.interval.ms",
    "group.streams.max.heartbeat.interval.ms",
    "group.streams.max.standby.replicas",
];

/// A broker property as an integer, or Kafka's default for it when unset
/// or not a number (the broker refuses no property gregor does not use).
fn broker_int(config: &BrokerConfig, key: &str, kafka_default: i64) -> i64 {
    config
        .explicit
        .get(key)
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(kafka_default)
}

/// Kafka 4.1's group configs, in the order DescribeConfigs lists them.
const KEYS: &[GroupKey] = &[
    GroupKey {
        name: "consumer.session.timeout.ms",
        kind: Kind::IntAtLeast(1),
        default: |c| c.groups.consumer_session_timeout_ms.to_string(),
        doc: "Session timeout of this group's KIP-848 consumers: a member that does not heartbeat for this long is removed.",
    },
    GroupKey {
        name: "consumer.heartbeat.interval.ms",
        kind: Kind::IntAtLeast(1),
        default: |c| c.groups.consumer_heartbeat_interval_ms.to_string(),
        doc: "Heartbeat interval told to this group's KIP-848 consumers.",
    },
    GroupKey {
        name: "share.session.timeout.ms",
        kind: Kind::IntAtLeast(1),
        default: |c| broker_int(c, "group.share.session.timeout.ms", 45_000).to_string(),
        doc: "Session timeout of share group members (stored; gregor has no share groups).",
    },
    GroupKey {
        name: "share.heartbeat.interval.ms",
        kind: Kind::IntAtLeast(1),
        default: |c| broker_int(c, "group.share.heartbeat.interval.ms", 5_000).to_string(),
        doc: "Heartbeat interval of share group members (stored; gregor has no share groups).",
    },
    GroupKey {
        name: "share.record.lock.duration.ms",
        kind: Kind::IntAtLeast(1000),
        default: |c| broker_int(c, "group.share.record.lock.duration.ms", 30_000).to_string(),
        doc: "Record acquisition lock duration of share groups (stored; gregor has no share groups).",
    },
    GroupKey {
        name: "share.auto.offset.reset",
        kind: Kind::OffsetReset,
        default: |_| "latest".to_string(),
        doc: "Where a share group starts: earliest, latest or by_duration:<PnDTnHnMn.nS> (stored; gregor has no share groups).",
    },
    GroupKey {
        name: "share.isolation.level",
        kind: Kind::OneOf(&["read_committed", "read_uncommitted"]),
        default: |_| "read_uncommitted".to_string(),
        doc: "Whether a share group delivers aborted transactional records (stored; gregor has no share groups).",
    },
    GroupKey {
        name: "streams.session.timeout.ms",
        kind: Kind::IntAtLeast(1),
        default: |_| "45000".to_string(),
        doc: "Session timeout of streams group members (stored; gregor has no streams groups).",
    },
    GroupKey {
        name: "streams.heartbeat.interval.ms",
        kind: Kind::IntAtLeast(1),
        default: |_| "5000".to_string(),
        doc: "Heartbeat interval of streams group members (stored; gregor has no streams groups).",
    },
    GroupKey {
        name: "streams.num.standby.replicas",
        kind: Kind::IntAtLeast(0),
        default: |_| "0".to_string(),
        doc: "Standby replicas per task of streams groups (stored; gregor has no streams groups).",
    },
];

fn key(name: &str) -> Option<&'static GroupKey> {
    KEYS.iter().find(|k| k.name == name)
}

/// True for the names Kafka 4.1 accepts on a GROUP resource.
pub fn is_group_key(name: &str) -> bool {
    key(name).is_some()
}

/// The config type DescribeConfigs reports for a key.
fn config_type(k: &GroupKey) -> ConfigType {
    match k.kind {
        Kind::IntAtLeast(_) => ConfigType::Int,
        _ => ConfigType::String,
    }
}

/// Checks one value on its own, returning it normalized (ints trimmed).
fn check_value(k: &GroupKey, value: &str) -> Result<String, String> {
    let invalid = |why: &str| format!("Invalid value {value} for configuration {}: {why}", k.name);
    match k.kind {
        Kind::IntAtLeast(min) => {
            let n: i32 = value
                .trim()
                .parse()
                .map_err(|_| invalid("Not a number of type INT"))?;
            if i64::from(n) < min {
                return Err(invalid(&format!("Value must be at least {min}")));
            }
            Ok(n.to_string())
        }
        Kind::OffsetReset => {
            let v = value.trim().to_ascii_lowercase();
            let ok = v == "earliest"
                || v == "latest"
                || v.strip_prefix("by_duration:")
                    .is_some_and(is_iso8601_duration);
            if ok {
                Ok(value.to_string())
            } else {
                Err(invalid(
                    "The value must be either 'earliest', 'latest' or of the format 'by_duration:<PnDTnHnMn.nS>'.",
                ))
            }
        }
        Kind::OneOf(allowed) => {
            if allowed.contains(&value) {
                Ok(value.to_string())
            } else {
                Err(invalid(&format!(
                    "String must be one of: {}",
                    allowed.join(", ")
                )))
            }
        }
    }
}

/// A non-negative ISO-8601 duration as Java's `Duration.parse` reads it:
/// `P[nD][T[nH][nM][n[.n]S]]` with at least one part (case-insensitive).
fn is_iso8601_duration(s: &str) -> bool {
    let s = s.to_ascii_uppercase();
    let Some(rest) = s.strip_prefix('P') else {
        return false;
    };
    let (date, time) = match rest.split_once('T') {
        Some((d, t)) => (d, Some(t)),
        None => (rest, None),
    };
    let mut parts = 0;
    let mut take = |text: &str, units: &[char], fraction_unit: Option<char>| -> bool {
        let mut number = String::new();
        let mut next_unit = 0;
        for c in text.chars() {
            if c.is_ascii_digit() || (c == '.' && fraction_unit.is_some()) {
                number.push(c);
                continue;
            }
            let Some(pos) = units[next_unit..].iter().position(|u| *u == c) else {
                return false;
            };
            let digits_ok = !number.is_empty()
                && !number.starts_with('.')
                && !number.ends_with('.')
                && (!number.contains('.') || Some(c) == fraction_unit)
                && number.matches('.').count() <= 1;
            if !digits_ok {
                return false;
            }
            number.clear();
            next_unit += pos + 1;
            parts += 1;
        }
        number.is_empty()
    };
    if !take(date, &['D'], None) {
        return false;
    }
    if let Some(t) = time {
        if t.is_empty() || !take(t, &['H', 'M', 'S'], Some('S')) {
            return false;
        }
    }
    parts > 0
}

/// The group's effective value of every key: override, else default.
fn effective(
    config: &BrokerConfig,
    overrides: &BTreeMap<String, String>,
) -> BTreeMap<&'static str, String> {
    KEYS.iter()
        .map(|k| {
            let v = overrides
                .get(k.name)
                .cloned()
                .unwrap_or_else(|| (k.default)(config));
            (k.name, v)
        })
        .collect()
}

/// Validates a group's complete set of overrides as Kafka does: known
/// names, each value on its own, then the merged values against the broker
/// bounds and each session timeout above its heartbeat interval. The
/// message is what INVALID_CONFIG carries.
pub fn validate(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Result<(), String> {
    for (name, value) in overrides {
        let k = key(name).ok_or_else(|| format!("Unknown group config name: {name}"))?;
        check_value(k, value)?;
    }
    let all = effective(config, overrides);
    let int = |name: &str| -> i64 {
        all.get(name)
            .and_then(|v| v.trim().parse().ok())
            .unwrap_or_default()
    };
    // (group key, broker bound key, Kafka's default bound, is lower bound)
    let bounds: &[(&str, &str, i64, bool)] = &[
        (
            "consumer.heartbeat.interval.ms",
            "group.consumer.min.heartbeat.interval.ms",
            5_000,
            true,
        ),
        (
            "consumer.heartbeat.interval.ms",
            "group.consumer.max.heartbeat.interval.ms",
            15_000,
            false,
        ),
        (
            "consumer.session.timeout.ms",
            "group.consumer.min.session.timeout.ms",
            45_000,
            true,
        ),
        (
            "consumer.session.timeout.ms",
            "group.consumer.max.session.timeout.ms",
            60_000,
            false,
        ),
        (
            "share.heartbeat.interval.ms",
            "group.share.min.heartbeat.interval.ms",
            5_000,
            true,
        ),
        (
            "share.heartbeat.interval.ms",
            "group.share.max.heartbeat.interval.ms",
            15_000,
            false,
        ),
        (
            "share.session.timeout.ms",
            "group.share.min.session.timeout.ms",
            45_000,
            true,
        ),
        (
            "share.session.timeout.ms",
            "group.share.max.session.timeout.ms",
            60_000,
            false,
        ),
        (
            "share.record.lock.duration.ms",
            "group.share.min.record.lock.duration.ms",
            15_000,
            true,
        ),
        (
            "share.record.lock.duration.ms",
            "group.share.max.record.lock.duration.ms",
            60_000,
            false,
        ),
        (
            "streams.heartbeat.interval.ms",
            "group.streams.min.heartbeat.interval.ms",
            5_000,
            true,
        ),
        (
            "streams.heartbeat.interval.ms",
            "group.streams.max.heartbeat.interval.ms",
            15_000,
            false,
        ),
        (
            "streams.session.timeout.ms",
            "group.streams.min.session.timeout.ms",
            45_000,
            true,
        ),
        (
            "streams.session.timeout.ms",
            "group.streams.max.session.timeout.ms",
            60_000,
            false,
        ),
        (
            "streams.num.standby.replicas",
            "group.streams.max.standby.replicas",
            2,
            false,
        ),
    ];
    for &(name, bound_key, kafka_default, lower) in bounds {
        let bound = broker_int(config, bound_key, kafka_default);
        let value = int(name);
        if lower && value < bound {
            return Err(format!(
                "{name} must be greater than or equal to {bound_key}"
            ));
        }
        if !lower && value > bound {
            return Err(format!("{name} must be less than or equal to {bound_key}"));
        }
    }
    for prefix in ["consumer", "share", "streams"] {
        let session = format!("{prefix}.session.timeout.ms");
        let heartbeat = format!("{prefix}.heartbeat.interval.ms");
        if int(&session) <= int(&heartbeat) {
            return Err(format!("{session} must be greater than {heartbeat}"));
        }
    }
    Ok(())
}

/// Every group config as DescribeConfigs shows it: an override is
/// DYNAMIC_GROUP_CONFIG, anything else DEFAULT_CONFIG (even when the value
/// comes from a `group.*` broker property, as in Kafka), with the one
/// synonym Kafka lists, named like the key itself.
pub fn describe(config: &BrokerConfig, overrides: &BTreeMap<String, String>) -> Vec<ConfigEntry> {
    let all = effective(config, overrides);
    KEYS.iter()
        .map(|k| {
            let value = all.get(k.name).cloned();
            let source = if overrides.contains_key(k.name) {
                ConfigSource::DynamicGroup
            } else {
                ConfigSource::Default
            };
            ConfigEntry {
                name: k.name.to_string(),
                value: value.clone(),
                source,
                read_only: false,
                sensitive: false,
                config_type: config_type(k),
                doc: k.doc,
                synonyms: vec![ConfigSynonym {
                    name: k.name.to_string(),
                    value,
                    source,
                }],
            }
        })
        .collect()
}

/// The default a DELETE/SUBTRACT falls back to and APPEND starts from.
pub fn default_of(config: &BrokerConfig, name: &str) -> Option<String> {
    key(name).map(|k| (k.default)(config))
}

/// The session timeout and heartbeat interval (ms) a KIP-848 group runs
/// with: its overrides (already validated when set) or the broker's.
pub fn consumer_timeouts(
    config: &BrokerConfig,
    overrides: Option<&BTreeMap<String, String>>,
) -> (Duration, i32) {
    let get = |name: &str| {
        overrides
            .and_then(|o| o.get(name))
            .and_then(|v| v.trim().parse::<i32>().ok())
    };
    let session = get("consumer.session.timeout.ms")
        .and_then(|ms| u64::try_from(ms).ok())
        .unwrap_or(config.groups.consumer_session_timeout_ms);
    let heartbeat = get("consumer.heartbeat.interval.ms")
        .unwrap_or(config.groups.consumer_heartbeat_interval_ms);
    (Duration::from_millis(session), heartbeat)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn overrides(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn validation_follows_kafka() {
        let c = BrokerConfig::default();
        assert!(validate(&c, &overrides(&[])).is_ok());
        assert!(validate(
            &c,
            &overrides(&[("consumer.heartbeat.interval.ms", "6000")])
        )
        .is_ok());
        let err = |p: &[(&str, &str)]| validate(&c, &overrides(p)).unwrap_err();
        assert!(err(&[("nope", "1")]).contains("Unknown group config name"));
        assert!(err(&[("consumer.heartbeat.interval.ms", "x")]).contains("Not a number"));
        assert!(err(&[("consumer.heartbeat.interval.ms", "4999")])
            .contains("group.consumer.min.heartbeat.interval.ms"));
        assert!(err(&[("consumer.session.timeout.ms", "60001")])
            .contains("group.consumer.max.session.timeout.ms"));
        assert!(err(&[("share.record.lock.duration.ms", "999")]).contains("at least 1000"));
        assert!(err(&[("streams.num.standby.replicas", "3")])
            .contains("group.streams.max.standby.replicas"));
        assert!(err(&[("share.isolation.level", "READ_COMMITTED")]).contains("one of"));
        assert!(validate(
            &c,
            &overrides(&[("share.auto.offset.reset", "by_duration:P1DT2H3M4.5S")])
        )
        .is_ok());
        assert!(err(&[("share.auto.offset.reset", "by_duration:-PT1S")]).contains("by_duration"));
        // Session must stay above the heartbeat interval once merged.
        let mut loose = BrokerConfig::default();
        loose.explicit.insert(
            "group.consumer.min.session.timeout.ms".into(),
            "1000".into(),
        );
        let e = validate(
            &loose,
            &overrides(&[("consumer.session.timeout.ms", "5000")]),
        )
        .unwrap_err();
        assert_eq!(
            e,
            "consumer.session.timeout.ms must be greater than consumer.heartbeat.interval.ms"
        );
    }

    #[test]
    fn durations() {
        for ok in ["P1D", "PT1H", "PT0.5S", "P2DT3M", "pt10s"] {
            assert!(is_iso8601_duration(ok), "{ok}");
        }
        for bad in [
            "", "P", "PT", "1D", "P1H", "PT1S1M", "PT.5S", "PT1.5M", "-PT1S",
        ] {
            assert!(!is_iso8601_duration(bad), "{bad}");
        }
    }

    #[test]
    fn describe_sources_and_live_timeouts() {
        let c = BrokerConfig::default();
        let o = overrides(&[("consumer.heartbeat.interval.ms", "7000")]);
        let entries = describe(&c, &o);
        assert_eq!(entries.len(), KEYS.len());
        let hb = entries
            .iter()
            .find(|e| e.name == "consumer.heartbeat.interval.ms")
            .unwrap();
        assert_eq!(
            (hb.value.as_deref(), hb.source),
            (Some("7000"), ConfigSource::DynamicGroup)
        );
        let st = entries
            .iter()
            .find(|e| e.name == "consumer.session.timeout.ms")
            .unwrap();
        assert_eq!(
            (st.value.as_deref(), st.source),
            (Some("45000"), ConfigSource::Default)
        );
        assert_eq!(st.synonyms.len(), 1);
        assert_eq!(
            consumer_timeouts(&c, Some(&o)),
            (Duration::from_millis(45_000), 7000)
        );
        assert_eq!(
            consumer_timeouts(&c, None),
            (Duration::from_millis(45_000), 5000)
        );
    }
}
