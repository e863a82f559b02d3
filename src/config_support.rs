//! Settings gregor parses but cannot honour yet, refused at start.
//!
//! A compose file written for a Kafka cluster or a TLS listener must not get
//! a broker that quietly does something else: three containers each running
//! a one-node "cluster" under the same cluster id (a topic created through
//! one is missing on the others), or a listener called SSL that speaks
//! plaintext (a TLS client sees a handshake failure, the broker a bogus frame
//! size). Each refusal names the setting and what to use instead. The cluster
//! and security issues replace these refusals with the real thing.

use std::collections::BTreeMap;

use crate::config::{ConfigError, Listener};

/// Security protocols by Kafka's names; only the first is served.
const PLAINTEXT: &str = "PLAINTEXT";
const SECURITY_PROTOCOLS: &[&str] = &["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"];

fn unsupported(key: &str, reason: String) -> ConfigError {
    ConfigError::Unsupported {
        key: key.to_string(),
        reason,
    }
}

/// Checks the settings against what one gregor node can do; `listeners` are
/// the parsed `listeners` (controller ones included).
pub(crate) fn refuse_unsupported(
    props: &BTreeMap<&str, &str>,
    listeners: &[Listener],
    node_id: i32,
) -> Result<(), ConfigError> {
    let controller_names = list(props.get("controller.listener.names").copied());
    check_roles(props, node_id)?;
    check_authorizer(props)?;
    check_voters(props, node_id)?;
    let map = protocol_map(props.get("listener.security.protocol.map").copied())?;
    for l in listeners {
        if controller_names.contains(&l.name.as_str()) {
            continue;
        }
        let protocol = map
            .get(l.name.as_str())
            .copied()
            .or_else(|| SECURITY_PROTOCOLS.iter().copied().find(|p| *p == l.name))
            .unwrap_or(PLAINTEXT);
        if !protocol.eq_ignore_ascii_case(PLAINTEXT) {
            let key = if map.contains_key(l.name.as_str()) {
                "listener.security.protocol.map"
            } else {
                "listeners"
            };
            return Err(unsupported(
                key,
                format!(
                    "listener {}://{}:{} uses security protocol {protocol}, and gregor serves only PLAINTEXT listeners so far (TLS and SASL are not implemented); map the listener to PLAINTEXT or remove it rather than have clients fail their handshakes",
                    l.name, l.host, l.port
                ),
            ));
        }
    }
    Ok(())
}

fn list(value: Option<&str>) -> Vec<&str> {
    value
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .collect()
}

fn protocol_map(value: Option<&str>) -> Result<BTreeMap<&str, &str>, ConfigError> {
    let mut map = BTreeMap::new();
    for item in list(value) {
        let Some((name, protocol)) = item.split_once(':') else {
            return Err(ConfigError::Invalid {
                key: "listener.security.protocol.map".into(),
                value: item.into(),
                reason: "expected LISTENER_NAME:PROTOCOL".into(),
            });
        };
        let protocol = protocol.trim();
        if !SECURITY_PROTOCOLS
            .iter()
            .any(|p| p.eq_ignore_ascii_case(protocol))
        {
            return Err(ConfigError::Invalid {
                key: "listener.security.protocol.map".into(),
                value: item.into(),
                reason: "the protocol must be PLAINTEXT, SSL, SASL_PLAINTEXT or SASL_SSL".into(),
            });
        }
        map.insert(name.trim(), protocol);
    }
    Ok(map)
}

fn check_roles(props: &BTreeMap<&str, &str>, node_id: i32) -> Result<(), ConfigError> {
    let roles = list(props.get("process.roles").copied());
    for r in &roles {
        if !matches!(*r, "broker" | "controller") {
            return Err(ConfigError::Invalid {
                key: "process.roles".into(),
                value: r.to_string(),
                reason: "expected broker and/or controller".into(),
            });
        }
    }
    let broker = roles.contains(&"broker");
    let controller = roles.contains(&"controller");
    if controller && !broker {
        return Err(unsupported(
            "process.roles",
            format!("node {node_id} is a controller only, but every gregor node is broker and controller in one (its metadata quorum runs inside the broker); use process.roles=broker,controller and point clients at it"),
        ));
    }
    if broker && !controller {
        return Err(unsupported(
            "process.roles",
            format!("node {node_id} is a broker only, which needs separate controller nodes; gregor runs one node that is its own controller until clustering lands: use process.roles=broker,controller with controller.quorum.voters={node_id}@<host>:<port> (or leave both unset)"),
        ));
    }
    Ok(())
}

/// Kafka with an authorizer and no ACLs denies every client that is not a
/// super user; gregor has no ACLs yet, so it can stand in only where the
/// configuration lets everyone do everything anyway.
fn check_authorizer(props: &BTreeMap<&str, &str>) -> Result<(), ConfigError> {
    let Some(class) = props.get("authorizer.class.name").map(|c| c.trim()) else {
        return Ok(());
    };
    if class.is_empty() {
        return Ok(());
    }
    let everyone = props
        .get("allow.everyone.if.no.acl.found")
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("true"));
    if everyone {
        return Ok(());
    }
    Err(unsupported(
        "authorizer.class.name",
        format!("{class} is configured, but gregor has no ACLs yet and would let every client do everything; remove the authorizer, or set allow.everyone.if.no.acl.found=true if that is what you mean"),
    ))
}

fn check_voters(props: &BTreeMap<&str, &str>, node_id: i32) -> Result<(), ConfigError> {
    let voters = list(props.get("controller.quorum.voters").copied());
    if voters.len() > 1 {
        return Err(unsupported(
            "controller.quorum.voters",
            format!("{} voters are listed ({}), but gregor does not form multi-node clusters yet: each node would run its own one-node cluster under the same cluster id and see only its own topics; list only this node ({node_id}@<host>:<port>) and run one broker", voters.len(), voters.join(",")),
        ));
    }
    if let Some(voter) = voters.first() {
        let id = voter
            .split_once('@')
            .and_then(|(id, _)| id.trim().parse::<i32>().ok())
            .ok_or_else(|| ConfigError::Invalid {
                key: "controller.quorum.voters".into(),
                value: voter.to_string(),
                reason: "expected id@host:port".into(),
            })?;
        if id != node_id {
            return Err(unsupported(
                "controller.quorum.voters",
                format!("the only voter is node {id}, not this node ({node_id}): its metadata would live on another node, which gregor cannot join yet; use {node_id}@<host>:<port> or set node.id={id}"),
            ));
        }
    }
    let bootstrap = list(props.get("controller.quorum.bootstrap.servers").copied());
    if bootstrap.len() > 1 {
        return Err(unsupported(
            "controller.quorum.bootstrap.servers",
            format!("{} controllers are listed ({}), but gregor does not form multi-node clusters yet; list one (this node) or leave it unset", bootstrap.len(), bootstrap.join(",")),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use crate::config::BrokerConfig;

    fn start(items: &[(&str, &str)]) -> Result<BrokerConfig, String> {
        let pairs: Vec<(String, String)> = items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        BrokerConfig::from_pairs(&pairs).map_err(|e| e.to_string())
    }

    #[test]
    fn what_one_node_serves_starts() {
        // apache/kafka's single-node plaintext example.
        start(&[
            ("node.id", "1"),
            (
                "listener.security.protocol.map",
                "CONTROLLER:PLAINTEXT,PLAINTEXT:PLAINTEXT,PLAINTEXT_HOST:PLAINTEXT",
            ),
            (
                "advertised.listeners",
                "PLAINTEXT_HOST://localhost:9092,PLAINTEXT://broker:19092",
            ),
            ("process.roles", "broker,controller"),
            ("controller.quorum.voters", "1@broker:29093"),
            (
                "listeners",
                "CONTROLLER://:29093,PLAINTEXT_HOST://:9092,PLAINTEXT://:19092",
            ),
            ("controller.listener.names", "CONTROLLER"),
        ])
        .unwrap();
        // A controller listener mapped to SSL is not bound, so not refused.
        start(&[
            ("listeners", "PLAINTEXT://:9092,CONTROLLER://:9093"),
            (
                "listener.security.protocol.map",
                "PLAINTEXT:PLAINTEXT,CONTROLLER:SSL",
            ),
            ("controller.listener.names", "CONTROLLER"),
        ])
        .unwrap();
        // ZooKeeper-mode settings (no process.roles) start a single node.
        start(&[("zookeeper.connect", "localhost:2181"), ("broker.id", "1")]).unwrap();
    }

    #[test]
    fn what_it_cannot_serve_is_refused_with_the_setting_named() {
        let e = start(&[
            (
                "listeners",
                "SSL://:9093,CONTROLLER://:29093,SSL-INTERNAL://:19093",
            ),
            (
                "listener.security.protocol.map",
                "SSL:SSL,CONTROLLER:PLAINTEXT,SSL-INTERNAL:SSL",
            ),
            ("controller.listener.names", "CONTROLLER"),
        ])
        .unwrap_err();
        assert!(
            e.starts_with(
                "listener.security.protocol.map: listener SSL://:9093 uses security protocol SSL"
            ),
            "{e}"
        );
        let e = start(&[("listeners", "SASL_PLAINTEXT://:9092")]).unwrap_err();
        assert!(e.starts_with("listeners: listener SASL_PLAINTEXT"), "{e}");
        let e = start(&[
            ("node.id", "1"),
            ("process.roles", "broker,controller"),
            (
                "controller.quorum.voters",
                "1@kafka-1:9093,2@kafka-2:9093,3@kafka-3:9093",
            ),
        ])
        .unwrap_err();
        assert!(
            e.starts_with("controller.quorum.voters: 3 voters are listed"),
            "{e}"
        );
        let e = start(&[("process.roles", "controller"), ("node.id", "1")]).unwrap_err();
        assert!(
            e.starts_with("process.roles: node 1 is a controller only"),
            "{e}"
        );
        let e = start(&[("process.roles", "broker"), ("node.id", "4")]).unwrap_err();
        assert!(
            e.starts_with("process.roles: node 4 is a broker only"),
            "{e}"
        );
        let e = start(&[("controller.quorum.voters", "2@other:9093")]).unwrap_err();
        assert!(e.contains("the only voter is node 2"), "{e}");
        let e = start(&[("controller.quorum.bootstrap.servers", "a:9093,b:9093")]).unwrap_err();
        assert!(
            e.starts_with("controller.quorum.bootstrap.servers: 2 controllers"),
            "{e}"
        );
        let e = start(&[("listener.security.protocol.map", "PLAINTEXT:TLS")]).unwrap_err();
        assert!(e.contains("listener.security.protocol.map"), "{e}");
    }

    #[test]
    fn jbod_and_a_denying_authorizer_are_refused() {
        let e = start(&[("log.dirs", "/a,/b")]).unwrap_err();
        assert!(
            e.starts_with("log.dirs: 2 directories are listed (/a,/b)"),
            "{e}"
        );
        let e = start(&[(
            "authorizer.class.name",
            "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
        )])
        .unwrap_err();
        assert!(e.starts_with("authorizer.class.name: "), "{e}");
        start(&[
            (
                "authorizer.class.name",
                "org.apache.kafka.metadata.authorizer.StandardAuthorizer",
            ),
            ("allow.everyone.if.no.acl.found", "true"),
        ])
        .unwrap();
        let c = start(&[
            ("socket.send.buffer.bytes", "102400"),
            ("socket.receive.buffer.bytes", "-1"),
            ("delete.topic.enable", "false"),
            ("log.cleaner.enable", "false"),
        ])
        .unwrap();
        assert_eq!(c.socket_send_buffer_bytes, Some(102400));
        assert_eq!(c.socket_receive_buffer_bytes, None);
        assert!(!c.delete_topic_enable && !c.log_cleaner_enable);
        assert!(start(&[("socket.send.buffer.bytes", "10")]).is_err());
    }

    #[test]
    fn advertised_controller_listeners_are_not_client_listeners() {
        // kafka-python's Kafka 4 test config names CONTROLLER in both lists.
        let c = start(&[
            ("process.roles", "broker,controller"),
            (
                "listeners",
                "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
            ),
            (
                "advertised.listeners",
                "PLAINTEXT://localhost:9092,CONTROLLER://localhost:9093",
            ),
            ("controller.listener.names", "CONTROLLER"),
            ("controller.quorum.voters", "1@localhost:9093"),
        ])
        .unwrap();
        assert_eq!(c.advertised_listeners.len(), 1);
        assert_eq!(c.advertised_listeners[0].name, "PLAINTEXT");
    }
}
