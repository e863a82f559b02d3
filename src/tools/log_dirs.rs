//! `gregor log-dirs` (also `kafka-log-dirs.sh`, Kafka's LogDirsCommand):
//! `--describe` prints each broker's log directories and partition sizes as
//! the JSON line of Kafka's tool, from DescribeLogDirs (key 35).

use std::collections::BTreeSet;

use kafka_protocol::messages::{ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse};
use serde_json::json;

use super::admin;
use super::client::{check, error_text};
use super::session::Session;

#[derive(Debug, clap::Args)]
pub struct LogDirsArgs {
    /// The server(s) to connect to, host:port[,host:port].
    #[arg(long)]
    pub bootstrap_server: String,
    /// Client properties file (accepted; gregor has no TLS or SASL).
    #[arg(long)]
    pub command_config: Option<String>,
    /// Describe the log directories of the brokers (the only action).
    #[arg(long)]
    pub describe: bool,
    /// Topics to include, `t1,t2`; all when absent.
    #[arg(long)]
    pub topic_list: Option<String>,
    /// Brokers to query, `0,1,2`; all when absent.
    #[arg(long)]
    pub broker_list: Option<String>,
}

fn ids(list: &str) -> Result<BTreeSet<i32>, String> {
    list.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            s.parse()
                .map_err(|_| format!("--broker-list: {s:?} is not a broker id"))
        })
        .collect()
}

fn joined(set: &BTreeSet<i32>) -> String {
    set.iter().map(i32::to_string).collect::<Vec<_>>().join(",")
}

/// The broker ids of the cluster: DescribeCluster, or Metadata's brokers when
/// the broker lacks it.
fn cluster_brokers(session: &mut Session) -> Result<BTreeSet<i32>, String> {
    if session.bootstrap.supports(ApiKey::DescribeCluster) {
        let resp = admin::describe_cluster(&mut session.bootstrap)?;
        return Ok(resp.brokers.iter().map(|b| b.broker_id.0).collect());
    }
    let md = session.metadata(Some(&[]))?;
    Ok(md.brokers.iter().map(|b| b.node_id.0).collect())
}

pub fn run(args: &LogDirsArgs) -> Result<Vec<String>, String> {
    if !args.describe {
        return Err("--describe is required (the only action of kafka-log-dirs)".into());
    }
    admin::ignore_client_config("--command-config", args.command_config.as_deref());
    let topics: BTreeSet<String> = args
        .topic_list
        .as_deref()
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_string)
        .collect();
    let wanted = ids(args.broker_list.as_deref().unwrap_or(""))?;
    let mut session = Session::connect(
        &admin::bootstrap_list(&args.bootstrap_server),
        admin::REQUEST_TIMEOUT,
    )?;
    let cluster = cluster_brokers(&mut session)?;
    let missing: BTreeSet<i32> = wanted.difference(&cluster).copied().collect();
    if !missing.is_empty() {
        return Err(format!(
            "ERROR: The given brokers do not exist from --broker-list: {}. Current existent brokers: {}",
            joined(&missing),
            joined(&cluster)
        ));
    }
    let brokers = if wanted.is_empty() { cluster } else { wanted };
    // Metadata fills the session's node addresses.
    session.metadata(Some(&[]))?;
    let mut lines = vec!["Querying brokers for log directories information".to_string()];
    let mut out = Vec::new();
    for &broker in &brokers {
        let client = session.node(broker)?;
        if !client.supports(ApiKey::DescribeLogDirs) {
            return Err(format!(
                "broker {broker} does not support DescribeLogDirs (API key 35)"
            ));
        }
        let resp: DescribeLogDirsResponse = client.call(
            ApiKey::DescribeLogDirs,
            &DescribeLogDirsRequest::default().with_topics(None),
        )?;
        check(resp.error_code, None).map_err(|e| format!("broker {broker}: {e}"))?;
        let dirs: Vec<serde_json::Value> = resp
            .results
            .iter()
            .map(|d| {
                let partitions: Vec<serde_json::Value> = d
                    .topics
                    .iter()
                    .filter(|t| topics.is_empty() || topics.contains(t.name.0.as_str()))
                    .flat_map(|t| {
                        t.partitions.iter().map(move |p| {
                            json!({
                                "partition": admin::tp(t.name.0.as_str(), p.partition_index),
                                "size": p.partition_size,
                                "offsetLag": p.offset_lag,
                                "isFuture": p.is_future_key,
                            })
                        })
                    })
                    .collect();
                let error = (d.error_code != 0).then(|| error_text(d.error_code, None));
                json!({
                    "partitions": partitions,
                    "error": error,
                    "logDir": d.log_dir.as_str(),
                })
            })
            .collect();
        out.push(json!({"broker": broker, "logDirs": dirs}));
    }
    lines.push(format!(
        "Received log directory information from brokers {}",
        joined(&brokers)
    ));
    lines.push(json!({"brokers": out, "version": 1}).to_string());
    Ok(lines)
}
