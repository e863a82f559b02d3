//! `gregor delete-records` (also `kafka-delete-records.sh`, Kafka's
//! DeleteRecordsCommand): moves partitions' log start offsets to the offsets
//! of a JSON file, through DeleteRecords (key 21), printing Kafka's lines.

use std::collections::BTreeMap;

use kafka_protocol::messages::delete_records_request::{
    DeleteRecordsPartition, DeleteRecordsTopic,
};
use kafka_protocol::messages::{ApiKey, DeleteRecordsRequest, DeleteRecordsResponse};

use super::admin;
use super::client::error_text;
use super::session::{topic_name, Session};

/// How long the broker may take to delete, in ms.
const DELETE_TIMEOUT_MS: i32 = 30_000;

#[derive(Debug, clap::Args)]
pub struct DeleteRecordsArgs {
    /// The server(s) to connect to, host:port[,host:port].
    #[arg(long)]
    pub bootstrap_server: String,
    /// JSON `{"partitions":[{"topic":"foo","partition":1,"offset":1}],"version":1}`;
    /// offset -1 means the high watermark.
    #[arg(long)]
    pub offset_json_file: String,
    /// Client properties file (accepted; gregor has no TLS or SASL).
    #[arg(long)]
    pub command_config: Option<String>,
}

/// Reads the offsets of an `--offset-json-file` (version 1, the only one).
pub fn parse_offsets(js: &serde_json::Value) -> Result<Vec<((String, i32), i64)>, String> {
    let version = match js.get("version") {
        None => 1,
        Some(v) => v.as_i64().ok_or("\"version\" is not a number")?,
    };
    if version != 1 {
        return Err(format!("Not supported version field value {version}"));
    }
    let mut out = Vec::new();
    for entry in admin::partitions_array(js)? {
        let tp = admin::entry_topic_partition(entry)?;
        let offset = entry
            .get("offset")
            .and_then(serde_json::Value::as_i64)
            .ok_or_else(|| format!("partition entry without a long \"offset\": {entry}"))?;
        out.push((tp, offset));
    }
    if let Some(d) = admin::duplicates(out.iter().map(|(tp, _)| tp)) {
        return Err(format!(
            "Offset json file contains duplicate topic partitions: {d}"
        ));
    }
    Ok(out)
}

pub fn run(args: &DeleteRecordsArgs) -> Result<Vec<String>, String> {
    admin::ignore_client_config("--command-config", args.command_config.as_deref());
    let js = admin::read_json_file("--offset-json-file", &args.offset_json_file)?;
    let offsets = parse_offsets(&js)?;
    let mut session = Session::connect(
        &admin::bootstrap_list(&args.bootstrap_server),
        admin::REQUEST_TIMEOUT,
    )?;
    if !session.bootstrap.supports(ApiKey::DeleteRecords) {
        return Err("the broker does not support DeleteRecords (API key 21)".into());
    }
    // Ask each partition's leader; a partition without metadata gets its
    // error line like any other failure.
    let mut lines = vec!["Executing records delete operation".to_string()];
    let mut by_leader: BTreeMap<i32, BTreeMap<String, Vec<(i32, i64)>>> = BTreeMap::new();
    let mut results: Vec<(String, String)> = Vec::new();
    for ((topic, partition), offset) in &offsets {
        match session.partitions(topic, false) {
            Ok(parts) => match parts.iter().find(|p| p.partition == *partition) {
                Some(p) => by_leader
                    .entry(p.leader)
                    .or_default()
                    .entry(topic.clone())
                    .or_default()
                    .push((*partition, *offset)),
                None => results.push((
                    admin::tp(topic, *partition),
                    "error: This server does not host this topic-partition.".into(),
                )),
            },
            Err(e) => results.push((admin::tp(topic, *partition), format!("error: {e}"))),
        }
    }
    for (leader, topics) in by_leader {
        let req = DeleteRecordsRequest::default()
            .with_timeout_ms(DELETE_TIMEOUT_MS)
            .with_topics(
                topics
                    .into_iter()
                    .map(|(t, ps)| {
                        DeleteRecordsTopic::default()
                            .with_name(topic_name(&t))
                            .with_partitions(
                                ps.into_iter()
                                    .map(|(p, o)| {
                                        DeleteRecordsPartition::default()
                                            .with_partition_index(p)
                                            .with_offset(o)
                                    })
                                    .collect(),
                            )
                    })
                    .collect(),
            );
        let resp: DeleteRecordsResponse =
            session.node(leader)?.call(ApiKey::DeleteRecords, &req)?;
        for t in &resp.topics {
            for p in &t.partitions {
                let text = if p.error_code == 0 {
                    format!("low_watermark: {}", p.low_watermark)
                } else {
                    format!("error: {}", error_text(p.error_code, None))
                };
                results.push((admin::tp(t.name.0.as_str(), p.partition_index), text));
            }
        }
    }
    lines.push("Records delete operation completed:".into());
    for (tp, text) in results {
        lines.push(format!("partition: {tp}\t{text}"));
    }
    Ok(lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Vec<((String, i32), i64)>, String> {
        parse_offsets(&serde_json::from_str(text).unwrap())
    }

    #[test]
    fn offset_files() {
        let v = parse(r#"{"partitions":[{"topic":"foo","partition":1,"offset":5}],"version":1}"#)
            .unwrap();
        assert_eq!(v, vec![(("foo".to_string(), 1), 5)]);
        // No version means version 1.
        assert!(parse(r#"{"partitions":[]}"#).unwrap().is_empty());
        assert!(parse(r#"{"partitions":[],"version":2}"#)
            .unwrap_err()
            .contains("version"));
        assert!(parse(r#"{"version":1}"#)
            .unwrap_err()
            .contains("Missing partitions"));
        assert!(parse(r#"{"partitions":[{"topic":"a","partition":0}]}"#).is_err());
        let dup = r#"{"partitions":[{"topic":"a","partition":0,"offset":1},{"topic":"a","partition":0,"offset":2}]}"#;
        assert!(parse(dup)
            .unwrap_err()
            .contains("duplicate topic partitions: a-0"));
    }
}
