//! `gregor configs` (also run as `kafka-configs.sh`): `--describe [--all]` and
//! `--alter --add-config k=v,.. --delete-config k,..` for topics and brokers, over
//! DescribeConfigs (key 32) and IncrementalAlterConfigs (key 44), printing Kafka's
//! lines.

use std::time::Duration;

use kafka_protocol::messages::describe_configs_request::DescribeConfigsResource;
use kafka_protocol::messages::describe_configs_response::DescribeConfigsResourceResult;
use kafka_protocol::messages::incremental_alter_configs_request::{
    AlterConfigsResource, AlterableConfig,
};
use kafka_protocol::messages::{
    ApiKey, DescribeConfigsRequest, DescribeConfigsResponse, IncrementalAlterConfigsRequest,
    IncrementalAlterConfigsResponse,
};
use kafka_protocol::protocol::StrBytes;

use super::args::config_list;
use super::client::{check, Client};
use super::session::Session;

/// ConfigResource types.
const TOPIC_RESOURCE: i8 = 2;
const BROKER_RESOURCE: i8 = 4;
/// IncrementalAlterConfigs operations.
const OP_SET: i8 = 0;
const OP_DELETE: i8 = 1;
/// DescribeConfigs sources that hold an entity's own (dynamic) settings.
const DYNAMIC_TOPIC_CONFIG: i8 = 1;
const DYNAMIC_BROKER_CONFIG: i8 = 2;
const DYNAMIC_DEFAULT_BROKER_CONFIG: i8 = 3;

#[derive(Debug, clap::Args)]
pub struct ConfigsArgs {
    #[arg(long)]
    pub bootstrap_server: String,
    /// topics or brokers.
    #[arg(long)]
    pub entity_type: Option<String>,
    #[arg(long)]
    pub entity_name: Option<String>,
    /// The cluster-wide broker default (with --entity-type brokers).
    #[arg(long)]
    pub entity_default: bool,
    /// Shorthand for --entity-type topics --entity-name X.
    #[arg(long)]
    pub topic: Option<String>,
    /// Shorthand for --entity-type brokers --entity-name X.
    #[arg(long)]
    pub broker: Option<String>,
    #[arg(long)]
    pub describe: bool,
    /// With --describe: every config, not only the entity's own settings.
    #[arg(long)]
    pub all: bool,
    #[arg(long)]
    pub alter: bool,
    /// `k1=v1,k2=[a,b]`
    #[arg(long)]
    pub add_config: Option<String>,
    /// `k1,k2` (repeatable)
    #[arg(long = "delete-config")]
    pub delete_config: Vec<String>,
    /// Accepted for compatibility (client properties file); not read.
    #[arg(long)]
    pub command_config: Option<String>,
}

/// The entity a command is about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entity {
    pub resource_type: i8,
    /// None: every entity of the type (describe only). Some("") is the broker default.
    pub name: Option<String>,
}

impl Entity {
    fn kind(&self) -> &'static str {
        if self.resource_type == TOPIC_RESOURCE {
            "topic"
        } else {
            "broker"
        }
    }
}

pub fn entity(args: &ConfigsArgs) -> Result<Entity, String> {
    let (ty, name) = match (&args.topic, &args.broker, args.entity_type.as_deref()) {
        (Some(t), None, None | Some("topics")) => (TOPIC_RESOURCE, Some(t.clone())),
        (None, Some(b), None | Some("brokers")) => (BROKER_RESOURCE, Some(b.clone())),
        (None, None, Some("topics")) => (TOPIC_RESOURCE, args.entity_name.clone()),
        (None, None, Some("brokers")) => (
            BROKER_RESOURCE,
            if args.entity_default {
                Some(String::new())
            } else {
                args.entity_name.clone()
            },
        ),
        (None, None, Some(other)) => {
            return Err(format!(
                "--entity-type {other} is not supported (topics, brokers)"
            ))
        }
        (None, None, None) => return Err("--entity-type (or --topic/--broker) is required".into()),
        _ => return Err("--topic, --broker and --entity-type disagree".into()),
    };
    if ty == BROKER_RESOURCE {
        if let Some(n) = name.as_ref().filter(|n| !n.is_empty()) {
            n.parse::<i32>()
                .map_err(|_| format!("the broker entity name must be a broker id, got {n:?}"))?;
        }
    }
    Ok(Entity {
        resource_type: ty,
        name,
    })
}

/// DescribeConfigs source names, as Kafka's ConfigEntry.ConfigSource prints them.
pub fn source_name(source: i8) -> &'static str {
    match source {
        1 => "DYNAMIC_TOPIC_CONFIG",
        2 => "DYNAMIC_BROKER_CONFIG",
        3 => "DYNAMIC_DEFAULT_BROKER_CONFIG",
        4 => "STATIC_BROKER_CONFIG",
        5 => "DEFAULT_CONFIG",
        6 => "DYNAMIC_BROKER_LOGGER_CONFIG",
        7 => "CLIENT_METRICS_CONFIG",
        8 => "GROUP_CONFIG",
        _ => "UNKNOWN",
    }
}

fn text(s: &Option<StrBytes>) -> &str {
    s.as_ref().map_or("null", |s| s.as_str())
}

/// One config line: `  name=value sensitive=false synonyms={SOURCE:name=value, ..}`.
pub fn config_line(c: &DescribeConfigsResourceResult) -> String {
    let synonyms: Vec<String> = c
        .synonyms
        .iter()
        .map(|s| {
            format!(
                "{}:{}={}",
                source_name(s.source),
                s.name.as_str(),
                text(&s.value)
            )
        })
        .collect();
    let value = if c.is_sensitive {
        "null"
    } else {
        text(&c.value)
    };
    format!(
        "  {}={} sensitive={} synonyms={{{}}}",
        c.name.as_str(),
        value,
        c.is_sensitive,
        synonyms.join(", ")
    )
}

/// The request's check that the broker has the API, with a message saying so.
fn require(session: &Session, key: ApiKey) -> Result<(), String> {
    if session.bootstrap.supports(key) {
        Ok(())
    } else {
        Err(format!(
            "the broker at {} does not support {key:?} (API key {}), which kafka-configs needs",
            session.bootstrap.address, key as i16
        ))
    }
}

/// DescribeConfigs of one resource, every config with its synonyms.
pub fn describe_resource(
    client: &mut Client,
    resource_type: i8,
    name: &str,
) -> Result<Vec<DescribeConfigsResourceResult>, String> {
    let req = DescribeConfigsRequest::default()
        .with_include_synonyms(true)
        .with_resources(vec![DescribeConfigsResource::default()
            .with_resource_type(resource_type)
            .with_resource_name(StrBytes::from_string(name.to_string()))
            .with_configuration_keys(None)]);
    let resp: DescribeConfigsResponse = client.call(ApiKey::DescribeConfigs, &req)?;
    let r = resp
        .results
        .into_iter()
        .next()
        .ok_or("empty DescribeConfigs response")?;
    check(r.error_code, r.error_message.as_ref())?;
    Ok(r.configs)
}

/// A topic's own settings as `kafka-topics.sh --describe` lists them after
/// `Configs: ` (`k=v` joined by commas, sorted); empty when the broker lacks
/// DescribeConfigs.
pub fn topic_settings(client: &mut Client, topic: &str) -> Result<String, String> {
    if !client.supports(ApiKey::DescribeConfigs) {
        return Ok(String::new());
    }
    let mut own: Vec<String> = describe_resource(client, TOPIC_RESOURCE, topic)?
        .iter()
        .filter(|c| c.config_source == DYNAMIC_TOPIC_CONFIG)
        .map(|c| {
            let v = if c.is_sensitive {
                "<sensitive>"
            } else {
                text(&c.value)
            };
            format!("{}={v}", c.name.as_str())
        })
        .collect();
    own.sort();
    Ok(own.join(","))
}

fn describe_one(
    session: &mut Session,
    e: &Entity,
    name: &str,
    all: bool,
) -> Result<Vec<String>, String> {
    let client = if e.resource_type == BROKER_RESOURCE && !name.is_empty() {
        session.node(name.parse().unwrap_or(-1))?
    } else {
        &mut session.bootstrap
    };
    let configs = describe_resource(client, e.resource_type, name)?;
    let own: &[i8] = match (e.resource_type, name.is_empty()) {
        (TOPIC_RESOURCE, _) => &[DYNAMIC_TOPIC_CONFIG],
        (_, true) => &[DYNAMIC_DEFAULT_BROKER_CONFIG],
        (_, false) => &[DYNAMIC_BROKER_CONFIG],
    };
    let mut configs: Vec<&DescribeConfigsResourceResult> = configs
        .iter()
        .filter(|c| all || own.contains(&c.config_source))
        .collect();
    configs.sort_by(|a, b| a.name.as_str().cmp(b.name.as_str()));
    let head = match (name.is_empty(), all) {
        (true, _) => "Default configs for brokers in the cluster are:".to_string(),
        (false, true) => format!("All configs for {} {name} are:", e.kind()),
        (false, false) => format!("Dynamic configs for {} {name} are:", e.kind()),
    };
    let mut out = vec![head];
    out.extend(configs.into_iter().map(config_line));
    Ok(out)
}

fn describe(session: &mut Session, e: &Entity, all: bool) -> Result<Vec<String>, String> {
    require(session, ApiKey::DescribeConfigs)?;
    let names: Vec<String> = match &e.name {
        Some(n) => vec![n.clone()],
        None => {
            let md = session.metadata(if e.resource_type == TOPIC_RESOURCE {
                None
            } else {
                Some(&[])
            })?;
            let mut names: Vec<String> = if e.resource_type == TOPIC_RESOURCE {
                md.topics
                    .iter()
                    .filter_map(|t| t.name.as_ref().map(|n| n.0.to_string()))
                    .collect()
            } else {
                md.brokers.iter().map(|b| b.node_id.0.to_string()).collect()
            };
            names.sort();
            names
        }
    };
    let mut out = Vec::new();
    for n in names {
        out.extend(describe_one(session, e, &n, all)?);
    }
    Ok(out)
}

/// The IncrementalAlterConfigs entries for `--add-config` and `--delete-config`.
pub fn alterations(add: Option<&str>, delete: &[String]) -> Result<Vec<AlterableConfig>, String> {
    let mut out = Vec::new();
    for (k, v) in config_list(add.unwrap_or(""))? {
        out.push(
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k))
                .with_config_operation(OP_SET)
                .with_value(Some(StrBytes::from_string(v))),
        );
    }
    for k in delete
        .iter()
        .flat_map(|d| d.split(','))
        .map(str::trim)
        .filter(|k| !k.is_empty())
    {
        out.push(
            AlterableConfig::default()
                .with_name(StrBytes::from_string(k.to_string()))
                .with_config_operation(OP_DELETE)
                .with_value(None),
        );
    }
    if out.is_empty() {
        return Err("--alter needs --add-config or --delete-config".into());
    }
    Ok(out)
}

fn alter(session: &mut Session, e: &Entity, args: &ConfigsArgs) -> Result<Vec<String>, String> {
    let name = e
        .name
        .clone()
        .ok_or("--alter needs --entity-name (or --entity-default)")?;
    let configs = alterations(args.add_config.as_deref(), &args.delete_config)?;
    require(session, ApiKey::IncrementalAlterConfigs)?;
    let req = IncrementalAlterConfigsRequest::default().with_resources(vec![
        AlterConfigsResource::default()
            .with_resource_type(e.resource_type)
            .with_resource_name(StrBytes::from_string(name.clone()))
            .with_configs(configs),
    ]);
    let client = if e.resource_type == BROKER_RESOURCE && !name.is_empty() {
        session.node(name.parse().unwrap_or(-1))?
    } else {
        &mut session.bootstrap
    };
    let resp: IncrementalAlterConfigsResponse =
        client.call(ApiKey::IncrementalAlterConfigs, &req)?;
    let r = resp
        .responses
        .first()
        .ok_or("empty IncrementalAlterConfigs response")?;
    check(r.error_code, r.error_message.as_ref())?;
    Ok(vec![if name.is_empty() {
        "Completed updating default config for brokers in the cluster.".to_string()
    } else {
        format!("Completed updating config for {} {name}.", e.kind())
    }])
}

/// Runs the command; Ok(lines to print).
pub fn run(args: &ConfigsArgs) -> Result<Vec<String>, String> {
    let e = entity(args)?;
    if args.describe == args.alter {
        return Err("exactly one of --describe, --alter is required".into());
    }
    let mut session = Session::connect(&args.bootstrap_server, Duration::from_secs(30))?;
    if args.describe {
        describe(&mut session, &e, args.all)
    } else {
        alter(&mut session, &e, args)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::describe_configs_response::DescribeConfigsSynonym;

    fn args(line: &[&str]) -> ConfigsArgs {
        #[derive(clap::Parser)]
        struct P {
            #[command(flatten)]
            a: ConfigsArgs,
        }
        let mut v = vec!["configs", "--bootstrap-server", "x:1"];
        v.extend_from_slice(line);
        <P as clap::Parser>::parse_from(v).a
    }

    #[test]
    fn entities() {
        let e = entity(&args(&[
            "--entity-type",
            "topics",
            "--entity-name",
            "t",
            "--describe",
        ]))
        .unwrap();
        assert_eq!(
            e,
            Entity {
                resource_type: TOPIC_RESOURCE,
                name: Some("t".into())
            }
        );
        assert_eq!(entity(&args(&["--topic", "t"])).unwrap(), e);
        let b = entity(&args(&["--entity-type", "brokers", "--entity-default"])).unwrap();
        assert_eq!(b.name.as_deref(), Some(""));
        assert!(entity(&args(&["--entity-type", "brokers", "--entity-name", "x"])).is_err());
        assert!(entity(&args(&["--entity-type", "users"])).is_err());
        assert!(entity(&args(&["--topic", "t", "--entity-type", "brokers"])).is_err());
    }

    #[test]
    fn alter_entries() {
        let a = alterations(
            Some("retention.ms=1000,cleanup.policy=[compact,delete]"),
            &["segment.ms,x".into()],
        )
        .unwrap();
        let view: Vec<(String, i8, Option<String>)> = a
            .iter()
            .map(|c| {
                (
                    c.name.to_string(),
                    c.config_operation,
                    c.value.as_ref().map(|v| v.to_string()),
                )
            })
            .collect();
        assert_eq!(
            view,
            vec![
                ("retention.ms".into(), OP_SET, Some("1000".into())),
                (
                    "cleanup.policy".into(),
                    OP_SET,
                    Some("compact,delete".into())
                ),
                ("segment.ms".into(), OP_DELETE, None),
                ("x".into(), OP_DELETE, None),
            ]
        );
        assert!(alterations(None, &[]).is_err());
    }

    #[test]
    fn lines_follow_kafka() {
        let c = DescribeConfigsResourceResult::default()
            .with_name(StrBytes::from_static_str("retention.ms"))
            .with_value(Some(StrBytes::from_static_str("1000")))
            .with_config_source(DYNAMIC_TOPIC_CONFIG)
            .with_synonyms(vec![
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_static_str("retention.ms"))
                    .with_value(Some(StrBytes::from_static_str("1000")))
                    .with_source(1),
                DescribeConfigsSynonym::default()
                    .with_name(StrBytes::from_static_str("log.retention.hours"))
                    .with_value(Some(StrBytes::from_static_str("168")))
                    .with_source(5),
            ]);
        assert_eq!(
            config_line(&c),
            "  retention.ms=1000 sensitive=false synonyms={DYNAMIC_TOPIC_CONFIG:retention.ms=1000, DEFAULT_CONFIG:log.retention.hours=168}"
        );
        let s = c.with_is_sensitive(true).with_synonyms(vec![]);
        assert_eq!(
            config_line(&s),
            "  retention.ms=null sensitive=true synonyms={}"
        );
    }
}
