//! What the admin tools (`kafka-get-offsets.sh`, `kafka-log-dirs.sh`, ...)
//! share: the bootstrap address forms Kafka's tools accept, the one-line notes
//! for flags that change nothing here, Kafka's table layout, and the partition
//! lists of their JSON files.

use std::collections::BTreeSet;
use std::time::Duration;

/// How long one request of an admin tool may take, in seconds.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
/// Largest JSON input file read, in bytes (Kafka has no limit; a partition
/// list this big is a mistake).
const MAX_JSON_FILE_BYTES: u64 = 64 << 20;

/// A bootstrap list as Kafka's clients read it: an entry with an empty host
/// (`:9092`, as compose docs write it) means localhost.
pub fn bootstrap_list(raw: &str) -> String {
    raw.split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(|s| {
            if s.starts_with(':') {
                format!("localhost{s}")
            } else {
                s.to_string()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Tells the user on stderr that `flag` was accepted and changes nothing.
pub fn ignored(flag: &str, why: &str) {
    eprintln!("Note: {flag} is accepted and ignored: {why}");
}

/// The note for `--command-config`-style client property files: gregor has
/// neither TLS nor SASL, which is what those files carry.
pub fn ignore_client_config(flag: &str, value: Option<&str>) {
    if value.is_some() {
        ignored(
            flag,
            "gregor's tools connect in plaintext without authentication, the only mode the broker has",
        );
    }
}

/// `topic-partition`, as Kafka's `TopicPartition.toString` prints it.
pub fn tp(topic: &str, partition: i32) -> String {
    format!("{topic}-{partition}")
}

/// Kafka's `ToolsUtils.prettyPrintTable`: every cell padded to its column's
/// widest value and followed by a tab (the last one too).
pub fn table(headers: &[&str], rows: &[Vec<String>]) -> Vec<String> {
    let mut widths: Vec<usize> = headers.iter().map(|h| h.chars().count()).collect();
    for row in rows {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let line = |cells: &mut dyn Iterator<Item = &str>| {
        let mut out = String::new();
        for (cell, w) in cells.zip(&widths) {
            out.push_str(cell);
            out.extend(std::iter::repeat_n(
                ' ',
                w.saturating_sub(cell.chars().count()),
            ));
            out.push('\t');
        }
        out
    };
    let mut out = vec![line(&mut headers.iter().copied())];
    for row in rows {
        out.push(line(&mut row.iter().map(String::as_str)));
    }
    out
}

/// Reads a JSON file given to `flag`.
pub fn read_json_file(flag: &str, path: &str) -> Result<serde_json::Value, String> {
    let meta = std::fs::metadata(path).map_err(|e| format!("{flag} {path}: {e}"))?;
    if meta.len() > MAX_JSON_FILE_BYTES {
        return Err(format!(
            "{flag} {path}: {} bytes, more than the {MAX_JSON_FILE_BYTES} bytes read",
            meta.len()
        ));
    }
    let text = std::fs::read_to_string(path).map_err(|e| format!("{flag} {path}: {e}"))?;
    serde_json::from_str(&text).map_err(|_| "The input string is not a valid JSON".to_string())
}

/// One `{"topic": .., "partition": .., ..}` entry of a JSON partition list.
pub fn entry_topic_partition(entry: &serde_json::Value) -> Result<(String, i32), String> {
    let topic = entry
        .get("topic")
        .and_then(serde_json::Value::as_str)
        .ok_or_else(|| format!("partition entry without a string \"topic\": {entry}"))?;
    let partition = entry
        .get("partition")
        .and_then(serde_json::Value::as_i64)
        .and_then(|p| i32::try_from(p).ok())
        .ok_or_else(|| format!("partition entry without an int \"partition\": {entry}"))?;
    Ok((topic.to_string(), partition))
}

/// The `partitions` array of a JSON file.
pub fn partitions_array<'a>(
    js: &'a serde_json::Value,
) -> Result<&'a Vec<serde_json::Value>, String> {
    js.get("partitions")
        .ok_or("Missing partitions field")?
        .as_array()
        .ok_or_else(|| "\"partitions\" is not an array".to_string())
}

/// The partitions named more than once, as `t-0,t-1`, or None.
pub fn duplicates<'a>(items: impl Iterator<Item = &'a (String, i32)>) -> Option<String> {
    let mut seen = BTreeSet::new();
    let mut dup = BTreeSet::new();
    for item in items {
        if !seen.insert(item) {
            dup.insert(tp(&item.0, item.1));
        }
    }
    (!dup.is_empty()).then(|| dup.into_iter().collect::<Vec<_>>().join(","))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_host_is_localhost() {
        assert_eq!(bootstrap_list(":9092"), "localhost:9092");
        assert_eq!(bootstrap_list("a:1, :2"), "a:1,localhost:2");
    }

    #[test]
    fn tables_pad_and_end_cells_with_tabs() {
        let t = table(&["A", "Long"], &[vec!["xyz".into(), "1".into()]]);
        assert_eq!(t, vec!["A  \tLong\t", "xyz\t1   \t"]);
    }

    #[test]
    fn duplicate_partitions_are_named() {
        let items = [
            ("a".to_string(), 0),
            ("a".to_string(), 1),
            ("a".to_string(), 0),
        ];
        assert_eq!(duplicates(items.iter()).as_deref(), Some("a-0"));
        assert_eq!(duplicates(items[..2].iter()), None);
    }
}

/// DescribeCluster (key 60) of the broker `client` is connected to: cluster
/// id, controller and brokers.
pub fn describe_cluster(
    client: &mut super::client::Client,
) -> Result<kafka_protocol::messages::DescribeClusterResponse, String> {
    use kafka_protocol::messages::{ApiKey, DescribeClusterRequest, DescribeClusterResponse};
    if !client.supports(ApiKey::DescribeCluster) {
        return Err("the broker does not support DescribeCluster (API key 60)".into());
    }
    let resp: DescribeClusterResponse = client.call(
        ApiKey::DescribeCluster,
        &DescribeClusterRequest::default().with_endpoint_type(BROKER_ENDPOINTS),
    )?;
    super::client::check(resp.error_code, resp.error_message.as_ref())?;
    Ok(resp)
}

/// DescribeCluster's `endpoint_type` asking for brokers.
const BROKER_ENDPOINTS: i8 = 1;

/// The address a `--bootstrap-server` / `--bootstrap-controller` pair names:
/// exactly one must be given. gregor's controller answers on the broker's
/// listeners, so both reach the same node.
pub fn one_of_bootstrap(server: Option<&str>, controller: Option<&str>) -> Result<String, String> {
    match (server, controller) {
        (Some(s), None) | (None, Some(s)) => Ok(bootstrap_list(s)),
        (Some(_), Some(_)) => {
            Err("only one of --bootstrap-server and --bootstrap-controller can be given".into())
        }
        (None, None) => {
            Err("one of --bootstrap-server or --bootstrap-controller must be specified".into())
        }
    }
}
