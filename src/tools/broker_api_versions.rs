//! `gregor broker-api-versions` (also run as `kafka-broker-api-versions.sh`): each
//! broker's ApiVersions in the layout of Kafka's tool (NodeApiVersions.toString),
//! with "usable" computed against the versions this binary's client speaks.

use std::time::Duration;

use kafka_protocol::messages::ApiKey;

use super::client::ApiRange;
use super::session::Session;

/// APIs only controllers or brokers among themselves serve: Kafka's tool, listing
/// client APIs, does not mention them when a broker lacks them.
const NOT_CLIENT_APIS: &[i16] = &[
    52, 53, 54, 56, 58, 59, 62, 63, 67, 70, 73, 82, 83, 84, 85, 86, 87,
];

#[derive(Debug, clap::Args)]
pub struct BrokerApiVersionsArgs {
    #[arg(long)]
    pub bootstrap_server: String,
    /// Accepted for compatibility (client properties file); not read.
    #[arg(long)]
    pub command_config: Option<String>,
}

fn versions_text(min: i16, max: i16) -> String {
    if min == max {
        min.to_string()
    } else {
        format!("{min} to {max}")
    }
}

/// One API line: `Produce(0): 3 to 13 [usable: 12]`.
pub fn api_line(r: &ApiRange) -> String {
    let Ok(key) = ApiKey::try_from(r.key) else {
        return format!("UNKNOWN({}): {}", r.key, versions_text(r.min, r.max));
    };
    let ours = key.valid_versions();
    let usable = if ours.max < r.min {
        "[unusable: node too new]".to_string()
    } else if r.max < ours.min {
        "[unusable: node too old]".to_string()
    } else {
        format!("[usable: {}]", ours.max.min(r.max))
    };
    format!(
        "{key:?}({}): {} {usable}",
        r.key,
        versions_text(r.min, r.max)
    )
}

/// The block for one broker: `host:port (id: N rack: R) -> (` ... `)`.
pub fn node_block(address: &str, id: i32, rack: Option<&str>, apis: &[ApiRange]) -> Vec<String> {
    let mut lines: Vec<(i16, String)> = apis.iter().map(|r| (r.key, api_line(r))).collect();
    for key in ApiKey::iter() {
        let k = key as i16;
        if !NOT_CLIENT_APIS.contains(&k) && !apis.iter().any(|r| r.key == k) {
            lines.push((k, format!("{key:?}({k}): UNSUPPORTED")));
        }
    }
    lines.sort_by_key(|(k, _)| *k);
    let mut out = vec![format!(
        "{address} (id: {id} rack: {}) -> (",
        rack.unwrap_or("null")
    )];
    let n = lines.len();
    for (i, (_, l)) in lines.into_iter().enumerate() {
        out.push(format!("\t{l}{}", if i + 1 < n { "," } else { "" }));
    }
    out.push(")".to_string());
    out
}

/// Runs the command; Ok(lines to print).
pub fn run(args: &BrokerApiVersionsArgs) -> Result<Vec<String>, String> {
    let timeout = Duration::from_secs(30);
    let mut session = Session::connect(&args.bootstrap_server, timeout)?;
    let md = session.metadata(Some(&[]))?;
    let mut brokers: Vec<_> = md.brokers.iter().collect();
    brokers.sort_by_key(|b| b.node_id.0);
    let mut out = Vec::new();
    for b in brokers {
        let address = format!("{}:{}", b.host.as_str(), b.port);
        let apis = session.node(b.node_id.0)?.api_versions().to_vec();
        out.extend(node_block(
            &address,
            b.node_id.0,
            b.rack.as_ref().map(|r| r.as_str()),
            &apis,
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_follow_kafka() {
        let r = |key, min, max| ApiRange { key, min, max };
        assert_eq!(api_line(&r(0, 3, 13)), "Produce(0): 3 to 13 [usable: 13]");
        assert_eq!(
            api_line(&r(18, 0, 99)),
            format!(
                "ApiVersions(18): 0 to 99 [usable: {}]",
                ApiKey::ApiVersions.valid_versions().max
            )
        );
        assert_eq!(api_line(&r(60, 0, 0)), "DescribeCluster(60): 0 [usable: 0]");
        assert_eq!(
            api_line(&r(3, 90, 99)),
            "Metadata(3): 90 to 99 [unusable: node too new]"
        );
        assert_eq!(api_line(&r(1000, 0, 1)), "UNKNOWN(1000): 0 to 1");
    }

    #[test]
    fn block_lists_every_client_api() {
        let apis = [
            ApiRange {
                key: 18,
                min: 0,
                max: 4,
            },
            ApiRange {
                key: 0,
                min: 3,
                max: 13,
            },
        ];
        let b = node_block("localhost:9092", 1, None, &apis);
        assert_eq!(b[0], "localhost:9092 (id: 1 rack: null) -> (");
        assert_eq!(b[1], "\tProduce(0): 3 to 13 [usable: 13],");
        assert_eq!(b[2], "\tFetch(1): UNSUPPORTED,");
        assert_eq!(b.last().unwrap(), ")");
        assert!(!b[b.len() - 2].ends_with(','));
        assert!(!b.iter().any(|l| l.contains("Vote(52)")));
    }
}
