//! Broker configuration, spelled with Kafka's own property names.
//!
//! Settings come, in increasing precedence, from built-in defaults, a
//! `server.properties`-style file (`--config`), and `--override key=value`
//! flags. Every value is parsed and validated once, here, so the rest of the
//! broker reads typed fields with units in their names. Unknown keys are
//! logged and ignored (a Kafka config file full of JVM-only settings must still
//! start the broker); a known key with a bad value stops the start.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;

use crate::log::{LogConfig, TimestampType};

/// Why a configuration could not be used.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("config file {path}: {source}")]
    File {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("config file {path} line {line}: expected key=value, got {text:?}")]
    Syntax {
        path: PathBuf,
        line: usize,
        text: String,
    },
    /// A setting gregor understands but cannot honour (yet): starting anyway
    /// would pretend (a plaintext "SSL" listener, a "cluster" of unconnected
    /// nodes), so the start stops and says what to use instead.
    #[error("{key}: {reason}")]
    Unsupported { key: String, reason: String },
    #[error("invalid value {value:?} for {key}: {reason}")]
    Invalid {
        key: String,
        value: String,
        reason: String,
    },
}

/// One listener the broker binds, e.g. `PLAINTEXT://0.0.0.0:9092`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// Listener name (`PLAINTEXT`, `INTERNAL`, ...): it links a bound socket to
    /// its advertised address, so Metadata can answer each client with the
    /// address family it connected through.
    pub name: String,
    pub host: String,
    pub port: u16,
}

impl Listener {
    pub fn bind_addr(&self) -> Result<SocketAddr, ConfigError> {
        let host = if self.host.is_empty() {
            "0.0.0.0"
        } else {
            &self.host
        };
        let text = if host.contains(':') && !host.starts_with('[') {
            format!("[{host}]:{}", self.port)
        } else {
            format!("{host}:{}", self.port)
        };
        use std::net::ToSocketAddrs;
        text.to_socket_addrs()
            .ok()
            .and_then(|mut addrs| addrs.next())
            .ok_or_else(|| ConfigError::Invalid {
                key: "listeners".into(),
                value: text.clone(),
                reason: "cannot resolve the listener address".into(),
            })
    }
}

/// Every broker setting gregor uses, validated.
#[derive(Debug, Clone)]
pub struct BrokerConfig {
    /// `node.id` (alias `broker.id`).
    pub node_id: i32,
    /// `cluster.id`: used when the metadata log is first created.
    pub cluster_id: Option<String>,
    /// `listeners`: sockets to bind.
    pub listeners: Vec<Listener>,
    /// `advertised.listeners`: what Metadata tells clients, by listener name.
    pub advertised_listeners: Vec<Listener>,
    /// `log.dirs` / `log.dir` (first entry): where partitions and the metadata log live.
    pub data_dir: PathBuf,
    /// `num.partitions`: partitions of auto-created topics and of CreateTopics with -1.
    pub num_partitions: i32,
    /// `default.replication.factor`.
    pub default_replication_factor: i16,
    /// `auto.create.topics.enable`.
    pub auto_create_topics_enable: bool,
    /// `socket.request.max.bytes`: the largest request frame accepted.
    pub socket_request_max_bytes: u32,
    /// `max.connections`: concurrent client connections across all listeners.
    pub max_connections: usize,
    /// `max.connections.per.ip`: concurrent client connections from one address.
    pub max_connections_per_ip: usize,
    /// `connections.max.idle.ms`: a connection that neither sends nor is sent
    /// anything for this long is closed (`None`: never, Kafka's -1).
    pub connections_max_idle_ms: Option<u64>,
    /// `queued.max.requests`: responses that may wait to be written per connection
    /// before the broker stops reading from it (back-pressure on pipelining clients).
    pub queued_max_requests: usize,
    /// `log.retention.check.interval.ms`.
    pub log_retention_check_interval_ms: u64,
    /// `log.flush.scheduler.interval.ms`: how often the flush.ms policy is checked.
    pub log_flush_scheduler_interval_ms: u64,
    /// `log.cleaner.backoff.ms`: pause between cleaner passes over compacted partitions.
    pub log_cleaner_backoff_ms: u64,
    /// `log.cleaner.enable`: false leaves compacted topics uncompacted (Kafka's
    /// switch for test setups, e.g. kafka-python's broker config).
    pub log_cleaner_enable: bool,
    /// `delete.topic.enable`: false answers DeleteTopics with TOPIC_DELETION_DISABLED.
    pub delete_topic_enable: bool,
    /// `socket.send.buffer.bytes` / `socket.receive.buffer.bytes`: SO_SNDBUF /
    /// SO_RCVBUF of accepted connections, in bytes (`None`: the OS default and
    /// its autotuning, Kafka's -1).
    pub socket_send_buffer_bytes: Option<usize>,
    pub socket_receive_buffer_bytes: Option<usize>,
    /// `max.incremental.fetch.session.cache.slots`.
    pub max_incremental_fetch_session_cache_slots: usize,
    /// Default per-topic log settings (`log.segment.bytes`, `log.retention.ms`, ...).
    pub log_defaults: LogConfig,
    /// Group coordinator settings (`offsets.topic.num.partitions`, `group.*`, `offsets.retention.*`).
    pub groups: crate::group::GroupConfig,
    /// Transaction coordinator settings (`transaction.state.log.*`, `transaction.max.timeout.ms`).
    pub txn: crate::txn::coordinator::TxnConfig,
    /// Keys given in the file or flags that gregor accepted but does not act on.
    pub ignored_keys: Vec<String>,
    /// Of those, the keys neither gregor nor Kafka 4.1 knows (typos, other
    /// products' settings): the start logs them once, as a warning.
    pub unknown_keys: Vec<String>,
    /// Things the start should tell the operator about the configuration
    /// (parsing stays silent so `gregor health` and the tools can use it).
    pub notes: Vec<String>,
    /// Every property given explicitly (file, `KAFKA_*` environment, flags;
    /// the later of two wins), values trimmed. DescribeConfigs reports a key
    /// found here as STATIC_BROKER_CONFIG and one missing as DEFAULT_CONFIG,
    /// and topics list the `log.*` keys found here as synonyms.
    pub explicit: BTreeMap<String, String>,
}

/// Keys Kafka knows that gregor accepts without acting on them (yet): they are
/// logged at start so a copied Kafka config never stops the broker.
pub const ACCEPTED_UNUSED_KEYS: &[&str] = &[
    "process.roles",
    "controller.listener.names",
    "controller.quorum.voters",
    "controller.quorum.bootstrap.servers",
    "inter.broker.listener.name",
    "listener.security.protocol.map",
    "offsets.topic.replication.factor",
    "transaction.state.log.replication.factor",
    "transaction.state.log.min.isr",
    "num.network.threads",
    "num.io.threads",
    "num.recovery.threads.per.data.dir",
    "zookeeper.connect",
    // Replication, quorum and thread-pool settings of a Kafka cluster, which
    // one gregor node has no use for (listed so typos stand out as unknown).
    "num.replica.fetchers",
    "replica.lag.time.max.ms",
    "replica.socket.timeout.ms",
    "replica.fetch.max.bytes",
    "replica.fetch.wait.max.ms",
    "replica.high.watermark.checkpoint.interval.ms",
    "unclean.leader.election.enable",
    "auto.leader.rebalance.enable",
    "leader.imbalance.check.interval.seconds",
    "controller.quorum.election.timeout.ms",
    "controller.quorum.fetch.timeout.ms",
    "controller.quorum.request.timeout.ms",
    "metadata.log.dir",
    "metadata.log.segment.bytes",
    "metadata.max.retention.bytes",
    "offsets.commit.timeout.ms",
    "offsets.load.buffer.size",
    "share.coordinator.state.topic.replication.factor",
    "share.coordinator.state.topic.min.isr",
    "background.threads",
    "log.cleaner.threads",
    "log.cleaner.dedupe.buffer.size",
    "log.cleaner.io.buffer.size",
    "log.preallocate",
    "allow.everyone.if.no.acl.found",
    "authorizer.class.name",
    "super.users",
    "confluent.support.metrics.enable",
];

fn invalid(key: &str, value: &str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        value: value.into(),
        reason: reason.into(),
    }
}

fn parse_num<T: std::str::FromStr>(key: &str, value: &str) -> Result<T, ConfigError> {
    value
        .trim()
        .parse::<T>()
        .map_err(|_| invalid(key, value, "not a valid number"))
}

fn parse_bool(key: &str, value: &str) -> Result<bool, ConfigError> {
    match value.trim().to_ascii_lowercase().as_str() {
        "true" => Ok(true),
        "false" => Ok(false),
        _ => Err(invalid(key, value, "expected true or false")),
    }
}

/// Parses `NAME://host:port,NAME2://host:port`.
pub fn parse_listeners(key: &str, value: &str) -> Result<Vec<Listener>, ConfigError> {
    let mut out = Vec::new();
    for item in value.split(',').map(str::trim).filter(|s| !s.is_empty()) {
        let (name, rest) = item
            .split_once("://")
            .ok_or_else(|| invalid(key, item, "expected NAME://host:port"))?;
        let (host, port) = rest
            .rsplit_once(':')
            .ok_or_else(|| invalid(key, item, "missing :port"))?;
        let port: u16 = port
            .parse()
            .map_err(|_| invalid(key, item, "port is not a number 0-65535"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        if name.is_empty() {
            return Err(invalid(key, item, "empty listener name"));
        }
        if out.iter().any(|l: &Listener| l.name == name) {
            return Err(invalid(key, item, "listener name used twice"));
        }
        out.push(Listener {
            name: name.to_string(),
            host: host.to_string(),
            port,
        });
    }
    if out.is_empty() {
        return Err(invalid(key, value, "no listener given"));
    }
    Ok(out)
}

/// Reads `key=value` lines (`#` and `!` comments, blank lines ignored).
pub fn read_properties_file(path: &std::path::Path) -> Result<Vec<(String, String)>, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::File {
        path: path.to_path_buf(),
        source,
    })?;
    let mut out = Vec::new();
    for (index, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') || line.starts_with('!') {
            continue;
        }
        let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) else {
            return Err(ConfigError::Syntax {
                path: path.to_path_buf(),
                line: index + 1,
                text: raw.to_string(),
            });
        };
        out.push((key.trim().to_string(), value.trim().to_string()));
    }
    Ok(out)
}

impl BrokerConfig {
    /// Builds the configuration from ordered `key=value` pairs; later pairs win.
    pub fn from_pairs(pairs: &[(String, String)]) -> Result<BrokerConfig, ConfigError> {
        let mut props: BTreeMap<&str, &str> = BTreeMap::new();
        for (key, value) in pairs {
            props.insert(key.as_str(), value.as_str());
        }
        let mut ignored_keys = Vec::new();
        let mut cfg = BrokerConfig::default();
        let mut retention_ms: Option<i64> = None;
        let mut retention_minutes: Option<i64> = None;
        let mut retention_hours: Option<i64> = None;
        let mut roll_ms: Option<i64> = None;
        let mut roll_hours: Option<i64> = None;
        let mut log_dirs: Option<&str> = None;
        let mut log_dir: Option<&str> = None;
        let mut advertised: Option<&str> = None;
        for (&key, &value) in &props {
            let log = &mut cfg.log_defaults;
            match key {
                "node.id" | "broker.id" => cfg.node_id = parse_num(key, value)?,
                "cluster.id" => cfg.cluster_id = Some(value.to_string()),
                "listeners" => cfg.listeners = parse_listeners(key, value)?,
                "advertised.listeners" => advertised = Some(value),
                "log.dirs" => log_dirs = Some(value),
                "log.dir" => log_dir = Some(value),
                "num.partitions" => {
                    cfg.num_partitions = parse_num(key, value)?;
                    if cfg.num_partitions < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                }
                "default.replication.factor" => {
                    cfg.default_replication_factor = parse_num(key, value)?;
                    if cfg.default_replication_factor < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                }
                "auto.create.topics.enable" => {
                    cfg.auto_create_topics_enable = parse_bool(key, value)?
                }
                "socket.request.max.bytes" => {
                    cfg.socket_request_max_bytes = parse_num(key, value)?;
                    if cfg.socket_request_max_bytes < 1024 {
                        return Err(invalid(key, value, "must be at least 1024"));
                    }
                }
                "max.connections" => {
                    let n: i64 = parse_num(key, value)?;
                    if n < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                    cfg.max_connections = n.min(i64::from(i32::MAX)) as usize;
                }
                "max.connections.per.ip" => {
                    let n: i64 = parse_num(key, value)?;
                    if n < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                    cfg.max_connections_per_ip = n.min(i64::from(i32::MAX)) as usize;
                }
                "connections.max.idle.ms" => {
                    let n: i64 = parse_num(key, value)?;
                    cfg.connections_max_idle_ms = match n {
                        -1 => None,
                        n if n > 0 => Some(n as u64),
                        _ => return Err(invalid(key, value, "must be positive or -1 (never)")),
                    };
                }
                "queued.max.requests" => {
                    let n: i64 = parse_num(key, value)?;
                    if n < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                    cfg.queued_max_requests = n.min(1 << 20) as usize;
                }
                "log.retention.check.interval.ms" => {
                    cfg.log_retention_check_interval_ms = positive(key, value)?
                }
                "log.flush.scheduler.interval.ms" => {
                    cfg.log_flush_scheduler_interval_ms = positive(key, value)?
                }
                "log.cleaner.backoff.ms" => cfg.log_cleaner_backoff_ms = positive(key, value)?,
                "log.cleaner.enable" => cfg.log_cleaner_enable = parse_bool(key, value)?,
                "delete.topic.enable" => cfg.delete_topic_enable = parse_bool(key, value)?,
                "socket.send.buffer.bytes" => {
                    cfg.socket_send_buffer_bytes = socket_buffer(key, value)?
                }
                "socket.receive.buffer.bytes" => {
                    cfg.socket_receive_buffer_bytes = socket_buffer(key, value)?
                }
                "log.cleaner.delete.retention.ms" => {
                    log.delete_retention_ms = parse_num(key, value)?
                }
                "log.cleaner.min.cleanable.ratio" => {
                    log.min_cleanable_dirty_ratio = parse_num(key, value)?;
                    if !(0.0..=1.0).contains(&log.min_cleanable_dirty_ratio) {
                        return Err(invalid(key, value, "must be between 0 and 1"));
                    }
                }
                "log.cleaner.min.compaction.lag.ms" => {
                    log.min_compaction_lag_ms = parse_num(key, value)?
                }
                "log.cleaner.max.compaction.lag.ms" => {
                    log.max_compaction_lag_ms = parse_num(key, value)?
                }
                "log.cleanup.policy" => {
                    let items: Vec<&str> = value.split(',').map(str::trim).collect();
                    if items.iter().any(|i| !matches!(*i, "delete" | "compact")) {
                        return Err(invalid(key, value, "expected delete and/or compact"));
                    }
                    log.cleanup_policy_compact = items.contains(&"compact");
                    log.cleanup_policy_delete = items.contains(&"delete");
                }
                "max.incremental.fetch.session.cache.slots" => {
                    cfg.max_incremental_fetch_session_cache_slots = parse_num(key, value)?
                }
                "log.segment.bytes" => {
                    log.segment_bytes = parse_num(key, value)?;
                    if log.segment_bytes < 14 {
                        return Err(invalid(key, value, "must be at least 14"));
                    }
                }
                "log.roll.ms" => roll_ms = Some(parse_num(key, value)?),
                "log.roll.hours" => roll_hours = Some(parse_num(key, value)?),
                "log.retention.ms" => retention_ms = Some(parse_num(key, value)?),
                "log.retention.minutes" => retention_minutes = Some(parse_num(key, value)?),
                "log.retention.hours" => retention_hours = Some(parse_num(key, value)?),
                "log.retention.bytes" => log.retention_bytes = parse_num(key, value)?,
                "log.flush.interval.messages" => {
                    let n: i64 = parse_num(key, value)?;
                    if n < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                    log.flush_messages = n as u64;
                }
                "log.flush.interval.ms" => log.flush_ms = parse_num(key, value)?,
                "producer.id.expiration.ms" => {
                    log.producer_id_expiration_ms =
                        i64::try_from(positive(key, value)?).unwrap_or(i64::MAX)
                }
                "log.index.interval.bytes" => log.index_interval_bytes = parse_num(key, value)?,
                "log.message.timestamp.type" => {
                    log.message_timestamp_type = parse_timestamp_type(key, value)?
                }
                "log.message.timestamp.before.max.ms" => {
                    log.message_timestamp_before_max_ms = non_negative(key, value)?
                }
                "log.message.timestamp.after.max.ms" => {
                    log.message_timestamp_after_max_ms = non_negative(key, value)?
                }
                "message.max.bytes" => log.max_message_bytes = parse_num(key, value)?,
                "compression.type" => {
                    crate::topic_config::validate(key, value)
                        .map_err(|e| invalid(key, value, e))?;
                    log.compression = crate::topic_config::compression_type(value);
                }
                "min.insync.replicas" => {
                    log.min_insync_replicas = parse_num(key, value)?;
                    if log.min_insync_replicas < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                }
                "offsets.topic.num.partitions" => {
                    cfg.groups.offsets_topic_num_partitions = parse_num(key, value)?;
                    if cfg.groups.offsets_topic_num_partitions < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                }
                "transaction.state.log.num.partitions" => {
                    cfg.txn.num_partitions = parse_num(key, value)?;
                    if cfg.txn.num_partitions < 1 {
                        return Err(invalid(key, value, "must be at least 1"));
                    }
                }
                "transaction.state.log.segment.bytes" => {
                    cfg.txn.segment_bytes = positive(key, value)?
                }
                "transaction.max.timeout.ms" => {
                    cfg.txn.max_timeout_ms = i32::try_from(positive(key, value)?)
                        .map_err(|_| invalid(key, value, "must fit in 32 bits"))?
                }
                "offsets.topic.segment.bytes" => {
                    cfg.groups.offsets_topic_segment_bytes = positive(key, value)?
                }
                "group.initial.rebalance.delay.ms" => {
                    cfg.groups.initial_rebalance_delay_ms = parse_num(key, value)?
                }
                "group.min.session.timeout.ms" => {
                    cfg.groups.min_session_timeout_ms = parse_num(key, value)?
                }
                "group.max.session.timeout.ms" => {
                    cfg.groups.max_session_timeout_ms = parse_num(key, value)?
                }
                "offsets.retention.minutes" => {
                    let minutes: i64 = parse_num(key, value)?;
                    cfg.groups.offsets_retention_ms = minutes.saturating_mul(60_000);
                }
                "group.consumer.session.timeout.ms" => {
                    cfg.groups.consumer_session_timeout_ms = positive(key, value)?
                }
                "group.consumer.heartbeat.interval.ms" => {
                    cfg.groups.consumer_heartbeat_interval_ms = parse_num(key, value)?;
                    if cfg.groups.consumer_heartbeat_interval_ms < 1 {
                        return Err(invalid(key, value, "must be positive"));
                    }
                }
                "offsets.retention.ms" => cfg.groups.offsets_retention_ms = parse_num(key, value)?,
                "offset.metadata.max.bytes" => {
                    cfg.groups.offset_metadata_max_bytes = parse_num(key, value)?
                }
                // Read from `explicit` by the group config validation.
                other if crate::group::dynamic_config::BROKER_KEYS_READ.contains(&other) => {}
                other if ACCEPTED_UNUSED_KEYS.contains(&other) => {
                    ignored_keys.push(other.to_string())
                }
                other => {
                    cfg.unknown_keys.push(other.to_string());
                    ignored_keys.push(other.to_string());
                }
            }
        }
        if let Some(ms) = retention_ms
            .or(retention_minutes.map(|m| m.saturating_mul(60_000)))
            .or(retention_hours.map(|h| h.saturating_mul(3_600_000)))
        {
            cfg.log_defaults.retention_ms = if ms < 0 { -1 } else { ms };
        }
        if let Some(ms) = roll_ms.or(roll_hours.map(|h| h.saturating_mul(3_600_000))) {
            if ms < 1 {
                return Err(invalid("log.roll.ms", &ms.to_string(), "must be positive"));
            }
            cfg.log_defaults.segment_ms = ms;
        }
        if let Some(dirs) = log_dirs.or(log_dir) {
            let first = dirs.split(',').map(str::trim).find(|s| !s.is_empty());
            match first {
                Some(dir) => cfg.data_dir = PathBuf::from(dir),
                None => return Err(invalid("log.dirs", dirs, "empty")),
            }
            let listed: Vec<&str> = dirs
                .split(',')
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .collect();
            if listed.len() > 1 {
                return Err(ConfigError::Unsupported {
                    key: "log.dirs".into(),
                    reason: format!(
                        "{} directories are listed ({}), but gregor keeps all partitions in one data directory (no JBOD placement yet): list one directory (a RAID or LVM volume can span several disks)",
                        listed.len(),
                        listed.join(",")
                    ),
                });
            }
        }
        // KRaft controller listeners carry only controller traffic in Kafka; a single
        // gregor node has no controller quorum to serve, so they are not bound.
        crate::config_support::refuse_unsupported(&props, &cfg.listeners, cfg.node_id)?;
        if let Some(names) = props.get("controller.listener.names") {
            let names: Vec<&str> = names.split(',').map(str::trim).collect();
            let notes = &mut cfg.notes;
            cfg.listeners.retain(|l| {
                let controller = names.contains(&l.name.as_str());
                if controller {
                    notes.push(format!(
                        "controller listener {} (port {}) not bound: one node's metadata quorum needs no controller socket",
                        l.name, l.port
                    ));
                }
                !controller
            });
            if cfg.listeners.is_empty() {
                return Err(invalid(
                    "listeners",
                    "",
                    "only controller listeners are configured",
                ));
            }
        }
        cfg.advertised_listeners = match advertised {
            Some(value) => parse_listeners("advertised.listeners", value)?,
            None => default_advertised(&cfg.listeners),
        };
        // Since Kafka 3.9 a controller takes its endpoints from
        // advertised.listeners too; those are not client listeners here.
        if let Some(names) = props.get("controller.listener.names") {
            let names: Vec<&str> = names.split(',').map(str::trim).collect();
            cfg.advertised_listeners
                .retain(|l| !names.contains(&l.name.as_str()));
            if cfg.advertised_listeners.is_empty() {
                cfg.advertised_listeners = default_advertised(&cfg.listeners);
            }
        }
        for adv in &cfg.advertised_listeners {
            if !cfg.listeners.iter().any(|l| l.name == adv.name) {
                return Err(invalid(
                    "advertised.listeners",
                    &adv.name,
                    "names a listener that is not in listeners",
                ));
            }
        }
        cfg.ignored_keys = ignored_keys;
        cfg.explicit = props
            .iter()
            .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
            .collect();
        Ok(cfg)
    }

    /// The advertised address for a listener name (falls back to the first).
    pub fn advertised_for(&self, listener_name: &str) -> &Listener {
        self.advertised_listeners
            .iter()
            .find(|l| l.name == listener_name)
            .unwrap_or(&self.advertised_listeners[0])
    }
}

/// A socket buffer size: -1 (or 0) is the OS default, else at least 1 KiB.
fn socket_buffer(key: &str, value: &str) -> Result<Option<usize>, ConfigError> {
    let n: i64 = parse_num(key, value)?;
    match n {
        -1 | 0 => Ok(None),
        n if n >= 1024 => Ok(Some(usize::try_from(n).unwrap_or(usize::MAX))),
        _ => Err(invalid(
            key,
            value,
            "must be -1 (the OS default) or at least 1024",
        )),
    }
}

fn positive(key: &str, value: &str) -> Result<u64, ConfigError> {
    let n: u64 = parse_num(key, value)?;
    if n == 0 {
        return Err(invalid(key, value, "must be positive"));
    }
    Ok(n)
}

fn non_negative(key: &str, value: &str) -> Result<i64, ConfigError> {
    let n: i64 = parse_num(key, value)?;
    if n < 0 {
        return Err(invalid(key, value, "must be at least 0"));
    }
    Ok(n)
}

pub fn parse_timestamp_type(key: &str, value: &str) -> Result<TimestampType, ConfigError> {
    match value.trim() {
        "CreateTime" => Ok(TimestampType::CreateTime),
        "LogAppendTime" => Ok(TimestampType::LogAppendTime),
        _ => Err(invalid(key, value, "expected CreateTime or LogAppendTime")),
    }
}

/// Without `advertised.listeners`, Kafka advertises the bound address; a
/// wildcard bind is advertised as `localhost` so the default works for local
/// clients.
fn default_advertised(listeners: &[Listener]) -> Vec<Listener> {
    listeners
        .iter()
        .map(|l| {
            let host = match l.host.as_str() {
                "" | "0.0.0.0" | "::" => "localhost".to_string(),
                other => other.to_string(),
            };
            Listener {
                name: l.name.clone(),
                host,
                port: l.port,
            }
        })
        .collect()
}

impl Default for BrokerConfig {
    fn default() -> Self {
        let listeners = vec![Listener {
            name: "PLAINTEXT".into(),
            host: "0.0.0.0".into(),
            port: 9092,
        }];
        BrokerConfig {
            node_id: 1,
            cluster_id: None,
            advertised_listeners: default_advertised(&listeners),
            listeners,
            data_dir: PathBuf::from("./data"),
            num_partitions: 1,
            default_replication_factor: 1,
            auto_create_topics_enable: true,
            socket_request_max_bytes: 100 * 1024 * 1024,
            max_connections: i32::MAX as usize,
            max_connections_per_ip: i32::MAX as usize,
            connections_max_idle_ms: Some(600_000),
            queued_max_requests: 500,
            log_retention_check_interval_ms: 300_000,
            log_flush_scheduler_interval_ms: 1_000,
            max_incremental_fetch_session_cache_slots: 1000,
            log_cleaner_backoff_ms: 15_000,
            log_cleaner_enable: true,
            delete_topic_enable: true,
            // Kafka's defaults are 102400; gregor leaves the kernel's
            // autotuning in place unless a value is configured.
            socket_send_buffer_bytes: None,
            socket_receive_buffer_bytes: None,
            log_defaults: LogConfig::default(),
            groups: crate::group::GroupConfig::default(),
            txn: Default::default(),
            ignored_keys: Vec::new(),
            unknown_keys: Vec::new(),
            notes: Vec::new(),
            explicit: BTreeMap::new(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_listen_everywhere_and_advertise_localhost() {
        let cfg = BrokerConfig::from_pairs(&[]).unwrap();
        assert_eq!(cfg.listeners[0].port, 9092);
        assert_eq!(cfg.advertised_listeners[0].host, "localhost");
        assert_eq!(cfg.data_dir, PathBuf::from("./data"));
        assert_eq!(cfg.num_partitions, 1);
        assert!(cfg.auto_create_topics_enable);
    }

    #[test]
    fn kafka_names_are_read() {
        let cfg = BrokerConfig::from_pairs(&pairs(&[
            (
                "listeners",
                "INTERNAL://0.0.0.0:29092,EXTERNAL://0.0.0.0:9092",
            ),
            (
                "advertised.listeners",
                "INTERNAL://kafka:29092,EXTERNAL://localhost:9092",
            ),
            ("log.dirs", "/var/lib/kafka"),
            ("num.partitions", "4"),
            ("log.retention.hours", "1"),
            ("log.segment.bytes", "1048576"),
            ("process.roles", "broker,controller"),
        ]))
        .unwrap();
        assert_eq!(cfg.listeners.len(), 2);
        assert_eq!(cfg.advertised_for("INTERNAL").host, "kafka");
        assert_eq!(cfg.advertised_for("EXTERNAL").port, 9092);
        assert_eq!(cfg.num_partitions, 4);
        assert_eq!(cfg.log_defaults.retention_ms, 3_600_000);
        assert_eq!(cfg.log_defaults.segment_bytes, 1_048_576);
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/kafka"));
        assert_eq!(cfg.ignored_keys, vec!["process.roles".to_string()]);
    }

    #[test]
    fn bad_values_are_refused_with_the_key() {
        let err = BrokerConfig::from_pairs(&pairs(&[("num.partitions", "many")])).unwrap_err();
        assert!(err.to_string().contains("num.partitions"), "{err}");
        let err = BrokerConfig::from_pairs(&pairs(&[("listeners", "nonsense")])).unwrap_err();
        assert!(err.to_string().contains("listeners"), "{err}");
        let err = BrokerConfig::from_pairs(&pairs(&[("auto.create.topics.enable", "maybe")]))
            .unwrap_err();
        assert!(err.to_string().contains("true or false"), "{err}");
    }

    #[test]
    fn unknown_keys_do_not_stop_the_start() {
        let cfg = BrokerConfig::from_pairs(&pairs(&[("some.jvm.thing", "1")])).unwrap();
        assert_eq!(cfg.ignored_keys, vec!["some.jvm.thing".to_string()]);
    }

    #[test]
    fn apache_kafka_image_settings_are_accepted_and_controller_listeners_not_bound() {
        let env = [
            ("KAFKA_NODE_ID", "1"),
            ("KAFKA_PROCESS_ROLES", "broker,controller"),
            (
                "KAFKA_LISTENERS",
                "PLAINTEXT://:9092,CONTROLLER://:9093,EXTERNAL://:29092",
            ),
            (
                "KAFKA_ADVERTISED_LISTENERS",
                "PLAINTEXT://kafka:9092,EXTERNAL://localhost:29092",
            ),
            ("KAFKA_CONTROLLER_LISTENER_NAMES", "CONTROLLER"),
            (
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,EXTERNAL:PLAINTEXT",
            ),
            ("KAFKA_INTER_BROKER_LISTENER_NAME", "PLAINTEXT"),
            ("KAFKA_CONTROLLER_QUORUM_VOTERS", "1@kafka:9093"),
            ("KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR", "1"),
            ("KAFKA_TRANSACTION_STATE_LOG_REPLICATION_FACTOR", "1"),
            ("KAFKA_TRANSACTION_STATE_LOG_MIN_ISR", "1"),
            ("KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS", "0"),
            ("KAFKA_NUM_PARTITIONS", "3"),
            ("KAFKA_AUTO_CREATE_TOPICS_ENABLE", "false"),
            ("KAFKA_LOG_DIRS", "/var/lib/kafka/data"),
            ("CLUSTER_ID", "MkU3OEVBNTcwNTJENDM2Qk"),
        ];
        let (props, _) = crate::config_env::properties_from_env(
            env.iter().map(|(k, v)| (k.to_string(), v.to_string())),
        );
        let cfg = BrokerConfig::from_pairs(&props).unwrap();
        let names: Vec<&str> = cfg.listeners.iter().map(|l| l.name.as_str()).collect();
        assert_eq!(names, vec!["PLAINTEXT", "EXTERNAL"]);
        assert_eq!(cfg.advertised_for("EXTERNAL").port, 29092);
        assert_eq!(cfg.advertised_for("PLAINTEXT").host, "kafka");
        assert_eq!(cfg.num_partitions, 3);
        assert!(!cfg.auto_create_topics_enable);
        assert_eq!(cfg.groups.initial_rebalance_delay_ms, 0);
        assert_eq!(cfg.data_dir, PathBuf::from("/var/lib/kafka/data"));
        assert_eq!(cfg.cluster_id.as_deref(), Some("MkU3OEVBNTcwNTJENDM2Qk"));
    }
}
