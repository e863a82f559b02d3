//! The environment of the official `apache/kafka` image, as properties.
//!
//! That image turns every `KAFKA_*` variable into a `server.properties` entry:
//! drop the `KAFKA_` prefix, then `___` becomes `-`, `__` becomes `_` and a single
//! `_` becomes `.`, all lower-cased (`KAFKA_LISTENER_SECURITY_PROTOCOL_MAP` →
//! `listener.security.protocol.map`, `KAFKA_ABC__DEF` → `abc_def`,
//! `KAFKA_ABC___DEF` → `abc-def`). Variables that configure the JVM, logging or
//! the image's scripts rather than the broker are not properties and are skipped.
//! `CLUSTER_ID` is the cluster id. When `KAFKA_LISTENERS` is absent the image
//! derives it from `KAFKA_ADVERTISED_LISTENERS` with every host replaced by
//! `0.0.0.0`; this module does the same, so a compose file written for that image
//! needs no change.
//!
//! bitnami/kafka's `KAFKA_CFG_*` variables are read too (its rule: every `_`
//! is a `.`, with `sasl_ssl`/`sasl_plaintext` kept whole), and its
//! `KAFKA_CLUSTER_ID` / `KAFKA_KRAFT_CLUSTER_ID` name the cluster id, so a
//! compose file written for that image configures gregor as well.

/// `KAFKA_*` variables that are not broker properties (JVM, log4j, JMX, the image's
/// own scripts). They are accepted and ignored.
const NOT_PROPERTIES: &[&str] = &[
    "KAFKA_HEAP_OPTS",
    "KAFKA_OPTS",
    "KAFKA_JVM_PERFORMANCE_OPTS",
    "KAFKA_GC_LOG_OPTS",
    "KAFKA_LOG4J_OPTS",
    "KAFKA_LOG4J_ROOT_LOGLEVEL",
    "KAFKA_LOG4J_LOGGERS",
    "KAFKA_TOOLS_LOG4J_LOGLEVEL",
    "KAFKA_JMX_OPTS",
    "KAFKA_JMX_PORT",
    "KAFKA_JMX_HOSTNAME",
    "KAFKA_DEBUG",
    "KAFKA_VERSION",
    "KAFKA_HOME",
];

/// The data directory when nothing configures `log.dirs`: the volume the
/// apache/kafka and cp-kafka images declare.
pub const DEFAULT_LOG_DIRS: &str = "/var/lib/kafka/data";

/// Variables naming the cluster id (apache's, then bitnami's two).
const CLUSTER_ID_VARS: &[&str] = &["CLUSTER_ID", "KAFKA_CLUSTER_ID", "KAFKA_KRAFT_CLUSTER_ID"];

/// The property for one bitnami `KAFKA_CFG_*` variable name.
pub fn bitnami_property_name(var: &str) -> Option<String> {
    let rest = var.strip_prefix("KAFKA_CFG_")?;
    if rest.is_empty() {
        return None;
    }
    let dotted = rest.to_ascii_lowercase().replace('_', ".");
    Some(
        dotted
            .replace("sasl.ssl", "sasl_ssl")
            .replace("sasl.plaintext", "sasl_plaintext"),
    )
}

/// The property name for one `KAFKA_*` variable name, or `None` if it is not one.
pub fn property_name(var: &str) -> Option<String> {
    if var.starts_with("KAFKA_CFG_") {
        return bitnami_property_name(var);
    }
    let rest = var.strip_prefix("KAFKA_")?;
    if rest.is_empty() || NOT_PROPERTIES.contains(&var) || var.starts_with("KAFKA_LOG4J_") {
        return None;
    }
    let mut out = String::with_capacity(rest.len());
    let bytes = rest.as_bytes();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'_' {
            let run = bytes[i..].iter().take_while(|b| **b == b'_').count();
            // Longest match first: ___ is '-', __ is '_', _ is '.'.
            let mut left = run;
            while left >= 3 {
                out.push('-');
                left -= 3;
            }
            if left == 2 {
                out.push('_');
            } else if left == 1 {
                out.push('.');
            }
            i += run;
        } else {
            out.push(char::from(bytes[i]).to_ascii_lowercase());
            i += 1;
        }
    }
    Some(out)
}

/// Properties from environment variables (name, value), in the image's precedence:
/// these override a properties file. Returns the pairs and the variables skipped.
pub fn properties_from_env<I>(vars: I) -> (Vec<(String, String)>, Vec<String>)
where
    I: IntoIterator<Item = (String, String)>,
{
    let mut pairs = Vec::new();
    let mut skipped = Vec::new();
    let mut advertised: Option<String> = None;
    let mut has_listeners = false;
    let mut vars: Vec<(String, String)> = vars.into_iter().collect();
    // bitnami's KAFKA_CFG_* after the apache-style names, so they win a tie;
    // CLUSTER_ID over bitnami's spellings.
    vars.sort_by_key(|(name, _)| {
        let rank = if CLUSTER_ID_VARS.contains(&name.as_str()) {
            3 - CLUSTER_ID_VARS.iter().position(|v| v == name).unwrap_or(0)
        } else if name.starts_with("KAFKA_CFG_") {
            1
        } else {
            0
        };
        (rank, name.clone())
    });
    for (name, value) in vars {
        if CLUSTER_ID_VARS.contains(&name.as_str()) {
            if !value.trim().is_empty() {
                pairs.push(("cluster.id".to_string(), value));
            }
            continue;
        }
        if !name.starts_with("KAFKA_") {
            continue;
        }
        match property_name(&name) {
            Some(key) => {
                if key == "listeners" {
                    has_listeners = true;
                }
                if key == "advertised.listeners" {
                    advertised = Some(value.clone());
                }
                pairs.push((key, value));
            }
            None => skipped.push(name),
        }
    }
    if let (false, Some(adv)) = (has_listeners, advertised) {
        pairs.push(("listeners".to_string(), listeners_from_advertised(&adv)));
    }
    (pairs, skipped)
}

/// `NAME://host:port,...` with every host replaced by `0.0.0.0`.
fn listeners_from_advertised(advertised: &str) -> String {
    advertised
        .split(',')
        .map(|l| {
            let l = l.trim();
            match (l.split_once("://"), l.rfind(':')) {
                (Some((name, _)), Some(colon)) if colon > name.len() + 2 => {
                    format!("{name}://0.0.0.0{}", &l[colon..])
                }
                _ => l.to_string(),
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// The apache/kafka image's file input: `server.properties` in the mounted
/// config directory (`/mnt/shared/config`), whose entries the environment
/// then overrides. None when the directory holds no such file.
pub fn mounted_properties(
    dir: &std::path::Path,
) -> Result<Option<(std::path::PathBuf, Vec<(String, String)>)>, crate::config::ConfigError> {
    let path = dir.join("server.properties");
    if !path.is_file() {
        return Ok(None);
    }
    crate::config::read_properties_file(&path).map(|pairs| Some((path, pairs)))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn names_follow_the_image_rules() {
        let cases = [
            ("KAFKA_NODE_ID", "node.id"),
            (
                "KAFKA_LISTENER_SECURITY_PROTOCOL_MAP",
                "listener.security.protocol.map",
            ),
            ("KAFKA_ABC_DEF", "abc.def"),
            ("KAFKA_ABC___DEF", "abc-def"),
            ("KAFKA_ABC__DEF", "abc_def"),
            (
                "KAFKA_OFFSETS_TOPIC_REPLICATION_FACTOR",
                "offsets.topic.replication.factor",
            ),
            (
                "KAFKA_TRANSACTION_STATE_LOG_MIN_ISR",
                "transaction.state.log.min.isr",
            ),
            (
                "KAFKA_GROUP_INITIAL_REBALANCE_DELAY_MS",
                "group.initial.rebalance.delay.ms",
            ),
            ("KAFKA_LOG_DIRS", "log.dirs"),
            ("KAFKA_A____B", "a-.b"),
        ];
        for (var, prop) in cases {
            assert_eq!(property_name(var).as_deref(), Some(prop), "{var}");
        }
        for var in [
            "KAFKA_HEAP_OPTS",
            "KAFKA_LOG4J_LOGGERS",
            "KAFKA_JMX_PORT",
            "KAFKA_",
            "OTHER",
        ] {
            assert_eq!(property_name(var), None, "{var}");
        }
    }

    #[test]
    fn bitnami_names_and_cluster_ids() {
        assert_eq!(
            property_name("KAFKA_CFG_MESSAGE_MAX_BYTES").as_deref(),
            Some("message.max.bytes")
        );
        assert_eq!(
            property_name("KAFKA_CFG_LISTENER_NAME_CLIENT_SASL_PLAINTEXT_X").as_deref(),
            Some("listener.name.client.sasl_plaintext.x")
        );
        let (pairs, _) = properties_from_env(env(&[
            ("KAFKA_CFG_NODE_ID", "0"),
            ("KAFKA_NODE_ID", "5"),
            ("KAFKA_KRAFT_CLUSTER_ID", "kraft"),
            ("KAFKA_CLUSTER_ID", "bitnami"),
        ]));
        let get = |k: &str| {
            pairs
                .iter()
                .rev()
                .find(|(p, _)| p == k)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(get("node.id"), Some("0"));
        assert_eq!(get("cluster.id"), Some("bitnami"));
        let (pairs, _) =
            properties_from_env(env(&[("KAFKA_CLUSTER_ID", "b"), ("CLUSTER_ID", "a")]));
        assert_eq!(pairs.last().map(|(_, v)| v.as_str()), Some("a"));
    }

    #[test]
    fn listeners_derived_from_advertised_and_cluster_id() {
        let (pairs, skipped) = properties_from_env(env(&[
            (
                "KAFKA_ADVERTISED_LISTENERS",
                "INTERNAL://kafka:29092,EXTERNAL://localhost:9092",
            ),
            ("CLUSTER_ID", "MkU3OEVBNTcwNTJENDM2Qk"),
            ("KAFKA_HEAP_OPTS", "-Xmx1G"),
            ("PATH", "/bin"),
        ]));
        assert!(pairs.contains(&(
            "listeners".into(),
            "INTERNAL://0.0.0.0:29092,EXTERNAL://0.0.0.0:9092".into()
        )));
        assert!(pairs.contains(&("cluster.id".into(), "MkU3OEVBNTcwNTJENDM2Qk".into())));
        assert_eq!(skipped, vec!["KAFKA_HEAP_OPTS".to_string()]);
        // An explicit KAFKA_LISTENERS wins.
        let (pairs, _) = properties_from_env(env(&[
            ("KAFKA_ADVERTISED_LISTENERS", "PLAINTEXT://localhost:9092"),
            ("KAFKA_LISTENERS", "PLAINTEXT://:9092"),
        ]));
        let listeners: Vec<_> = pairs.iter().filter(|(k, _)| k == "listeners").collect();
        assert_eq!(listeners.len(), 1);
        assert_eq!(listeners[0].1, "PLAINTEXT://:9092");
    }
}
