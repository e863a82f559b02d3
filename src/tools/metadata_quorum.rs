//! `gregor metadata-quorum` (also `kafka-metadata-quorum.sh`, Kafka's
//! MetadataQuorumCommand): `describe --status` and `describe --replication`
//! print the metadata Raft group as Kafka's tool does, from DescribeQuorum
//! (key 55). gregor's quorum is one voter, the node itself, so
//! `add-controller` and `remove-controller` refuse with a clear error.

use kafka_protocol::messages::describe_quorum_request::{PartitionData, TopicData};
use kafka_protocol::messages::describe_quorum_response::ReplicaState;
use kafka_protocol::messages::{ApiKey, DescribeQuorumRequest, DescribeQuorumResponse, TopicName};
use kafka_protocol::protocol::StrBytes;

use super::admin;
use super::client::{check, Client};

/// Where Kafka keeps its metadata quorum.
const METADATA_TOPIC: &str = "__cluster_metadata";

#[derive(Debug, clap::Args)]
pub struct MetadataQuorumArgs {
    /// Brokers to connect to, host:port[,host:port] (`:9092` = localhost).
    #[arg(long)]
    pub bootstrap_server: Option<String>,
    /// Controllers to connect to; gregor's controller answers on the broker's
    /// listeners.
    #[arg(long)]
    pub bootstrap_controller: Option<String>,
    /// Client properties file (accepted; gregor has no TLS or SASL).
    #[arg(long)]
    pub command_config: Option<String>,
    #[command(subcommand)]
    pub command: QuorumCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum QuorumCommand {
    /// Describe the metadata quorum info.
    Describe {
        /// A summary of the metadata quorum.
        #[arg(long)]
        status: bool,
        /// Per-replica log end offsets and lag.
        #[arg(long)]
        replication: bool,
        /// Times relative to now (with --replication).
        #[arg(long)]
        human_readable: bool,
    },
    /// Add a controller to the KRaft controller cluster.
    AddController {
        #[arg(long)]
        dry_run: bool,
    },
    /// Remove a controller from the KRaft controller cluster.
    RemoveController {
        #[arg(long, short = 'i')]
        controller_id: i32,
        #[arg(long, short = 'd')]
        controller_directory_id: String,
        #[arg(long)]
        dry_run: bool,
    },
}

/// What DescribeQuorum says of the metadata partition.
#[derive(Debug)]
pub struct Quorum {
    pub leader_id: i32,
    pub leader_epoch: i32,
    pub high_watermark: i64,
    pub voters: Vec<ReplicaState>,
    pub observers: Vec<ReplicaState>,
    /// node id -> its endpoints, `NAME://host:port`.
    pub endpoints: Vec<(i32, Vec<String>)>,
}

fn describe_quorum(client: &mut Client) -> Result<Quorum, String> {
    if !client.supports(ApiKey::DescribeQuorum) {
        return Err("the broker does not support DescribeQuorum (API key 55)".into());
    }
    let req = DescribeQuorumRequest::default().with_topics(vec![TopicData::default()
        .with_topic_name(TopicName(StrBytes::from_static_str(METADATA_TOPIC)))
        .with_partitions(vec![PartitionData::default().with_partition_index(0)])]);
    let resp: DescribeQuorumResponse = client.call(ApiKey::DescribeQuorum, &req)?;
    check(resp.error_code, resp.error_message.as_ref())?;
    let p = resp
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .next()
        .ok_or("empty DescribeQuorum response")?;
    check(p.error_code, p.error_message.as_ref())?;
    let endpoints = resp
        .nodes
        .iter()
        .map(|n| {
            let list = n
                .listeners
                .iter()
                .map(|l| {
                    let host = l.host.as_str();
                    let host = if host.contains(':') {
                        format!("[{host}]")
                    } else {
                        host.to_string()
                    };
                    format!("{}://{host}:{}", l.name.as_str(), l.port)
                })
                .collect();
            (n.node_id.0, list)
        })
        .collect();
    Ok(Quorum {
        leader_id: p.leader_id.0,
        leader_epoch: p.leader_epoch,
        high_watermark: p.high_watermark,
        voters: p.current_voters,
        observers: p.observers,
        endpoints,
    })
}

pub fn run(args: &MetadataQuorumArgs) -> Result<Vec<String>, String> {
    admin::ignore_client_config("--command-config", args.command_config.as_deref());
    let address = admin::one_of_bootstrap(
        args.bootstrap_server.as_deref(),
        args.bootstrap_controller.as_deref(),
    )?;
    match &args.command {
        QuorumCommand::Describe {
            status,
            replication,
            human_readable,
        } => {
            if *status == *replication {
                return Err("exactly one of --status and --replication is required".into());
            }
            if *human_readable && !*replication {
                return Err("The option --human-readable is only supported along with --replication".into());
            }
            let mut client = Client::connect(&address, admin::REQUEST_TIMEOUT)?;
            if *status {
                let cluster = admin::describe_cluster(&mut client)?;
                let q = describe_quorum(&mut client)?;
                status_lines(cluster.cluster_id.as_str(), &q)
            } else {
                let q = describe_quorum(&mut client)?;
                replication_lines(&q, *human_readable, now_ms())
            }
        }
        QuorumCommand::AddController { .. } => Err(
            "gregor's metadata quorum is this node alone and does not take voters; it does not implement AddRaftVoter (API key 80)"
                .into(),
        ),
        QuorumCommand::RemoveController { controller_id, .. } => Err(format!(
            "gregor's metadata quorum is this node alone; controller {controller_id} cannot be removed (RemoveRaftVoter, API key 81, is not implemented)"
        )),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

fn leader(q: &Quorum) -> Result<&ReplicaState, String> {
    q.voters
        .iter()
        .find(|v| v.replica_id.0 == q.leader_id)
        .ok_or_else(|| {
            format!(
                "the quorum has no leader among its voters (leader id {})",
                q.leader_id
            )
        })
}

fn directory_id(r: &ReplicaState) -> String {
    crate::cluster::base64url_nopad(r.replica_directory_id.as_bytes())
}

fn replica_list(q: &Quorum, replicas: &[ReplicaState]) -> String {
    let items: Vec<String> = replicas
        .iter()
        .map(|r| {
            let mut s = format!("{{\"id\": {}", r.replica_id.0);
            if !r.replica_directory_id.is_nil() {
                s.push_str(&format!(", \"directoryId\": \"{}\"", directory_id(r)));
            }
            let eps = q
                .endpoints
                .iter()
                .find(|(id, _)| *id == r.replica_id.0)
                .map(|(_, e)| e.as_slice())
                .unwrap_or_default();
            if !eps.is_empty() {
                let quoted: Vec<String> = eps.iter().map(|e| format!("\"{e}\"")).collect();
                s.push_str(&format!(", \"endpoints\": [{}]", quoted.join(", ")));
            }
            s.push('}');
            s
        })
        .collect();
    format!("[{}]", items.join(", "))
}

/// `describe --status`, Kafka's eight lines.
pub fn status_lines(cluster_id: &str, q: &Quorum) -> Result<Vec<String>, String> {
    let leader = leader(q)?;
    let laggiest = q
        .voters
        .iter()
        .min_by_key(|v| v.log_end_offset)
        .unwrap_or(leader);
    let lag = leader.log_end_offset - laggiest.log_end_offset;
    let lag_ms = if laggiest.replica_id == leader.replica_id {
        0
    } else if leader.last_caught_up_timestamp >= 0 && laggiest.last_caught_up_timestamp >= 0 {
        leader.last_caught_up_timestamp - laggiest.last_caught_up_timestamp
    } else {
        -1
    };
    Ok(vec![
        format!("ClusterId:              {cluster_id}"),
        format!("LeaderId:               {}", q.leader_id),
        format!("LeaderEpoch:            {}", q.leader_epoch),
        format!("HighWatermark:          {}", q.high_watermark),
        format!("MaxFollowerLag:         {lag}"),
        format!("MaxFollowerLagTimeMs:   {lag_ms}"),
        format!("CurrentVoters:          {}", replica_list(q, &q.voters)),
        format!("CurrentObservers:       {}", replica_list(q, &q.observers)),
    ])
}

/// `describe --replication`: leader, followers, observers, as Kafka's table.
pub fn replication_lines(q: &Quorum, human: bool, now: i64) -> Result<Vec<String>, String> {
    let leader = leader(q)?;
    let time = |t: i64, what: &str| -> Result<String, String> {
        if t < 0 {
            return Ok("-1".into());
        }
        if !human {
            return Ok(t.to_string());
        }
        if t == 0 || t > now {
            return Err(format!(
                "Error while computing relative time, possible drift in system clock.\nCurrent timestamp is {now}, {what} timestamp is {t}"
            ));
        }
        Ok(format!("{} ms ago", now - t))
    };
    let mut rows = Vec::new();
    let followers = q.voters.iter().filter(|v| v.replica_id.0 != q.leader_id);
    let groups = std::iter::once((leader, "Leader"))
        .chain(followers.map(|v| (v, "Follower")))
        .chain(q.observers.iter().map(|v| (v, "Observer")));
    for (r, role) in groups {
        rows.push(vec![
            r.replica_id.0.to_string(),
            directory_id(r),
            r.log_end_offset.to_string(),
            (leader.log_end_offset - r.log_end_offset).to_string(),
            time(r.last_fetch_timestamp, "last fetch")?,
            time(r.last_caught_up_timestamp, "last caught up")?,
            role.to_string(),
        ]);
    }
    Ok(admin::table(
        &[
            "NodeId",
            "DirectoryId",
            "LogEndOffset",
            "Lag",
            "LastFetchTimestamp",
            "LastCaughtUpTimestamp",
            "Status",
        ],
        &rows,
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use kafka_protocol::messages::BrokerId;

    fn quorum() -> Quorum {
        let voter = ReplicaState::default()
            .with_replica_id(BrokerId(1))
            .with_log_end_offset(12)
            .with_last_fetch_timestamp(1_000)
            .with_last_caught_up_timestamp(1_000);
        Quorum {
            leader_id: 1,
            leader_epoch: 3,
            high_watermark: 12,
            voters: vec![voter],
            observers: vec![],
            endpoints: vec![(1, vec!["PLAINTEXT://localhost:9092".into()])],
        }
    }

    #[test]
    fn status() {
        let lines = status_lines("abc", &quorum()).unwrap();
        assert_eq!(lines[1], "LeaderId:               1");
        assert_eq!(lines[4], "MaxFollowerLag:         0");
        assert_eq!(lines[5], "MaxFollowerLagTimeMs:   0");
        assert_eq!(
            lines[6],
            "CurrentVoters:          [{\"id\": 1, \"endpoints\": [\"PLAINTEXT://localhost:9092\"]}]"
        );
        assert_eq!(lines[7], "CurrentObservers:       []");
    }

    #[test]
    fn replication() {
        let lines = replication_lines(&quorum(), true, 1_500).unwrap();
        assert!(lines[0].starts_with("NodeId\tDirectoryId"), "{}", lines[0]);
        assert!(
            lines[1].starts_with("1     \tAAAAAAAAAAAAAAAAAAAAAA\t12"),
            "{}",
            lines[1]
        );
        assert!(lines[1].contains("500 ms ago"));
        assert!(lines[1].ends_with("Leader\t"));
    }
}
