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

/// The property name for one `KAFKA_*` variable name, or `None` if it is not one.
pub fn property_name(var: &str) -> Option<String> {
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
    vars.sort();
    for (name, value) in vars {
        if name == "CLUSTER_ID" {
            pairs.push(("cluster.id".to_string(), value));
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
