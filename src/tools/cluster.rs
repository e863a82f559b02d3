//! `gregor cluster` (also `kafka-cluster.sh`, Kafka's ClusterTool):
//! `cluster-id` prints `Cluster ID: <id>` (testcontainers and compose files
//! read it), `list-endpoints` the brokers' table, both from DescribeCluster
//! (key 60). `unregister` removes a broker from a multi-node KRaft cluster;
//! gregor is one node, so it refuses with a clear error.

use super::admin;
use super::client::Client;

#[derive(Debug, clap::Args)]
pub struct ClusterArgs {
    #[command(subcommand)]
    pub command: ClusterCommand,
}

/// The connection flags of every subcommand (Kafka puts them after the
/// subcommand's name; clap takes them on either side).
#[derive(Debug, clap::Args)]
pub struct Connection {
    /// Brokers to connect to, host:port[,host:port] (`:9092` = localhost).
    #[arg(long, short = 'b')]
    pub bootstrap_server: Option<String>,
    /// Controllers to connect to; gregor's controller answers on the broker's
    /// listeners, so this reaches the same node.
    #[arg(long, short = 'C')]
    pub bootstrap_controller: Option<String>,
    /// Admin client properties file (accepted; gregor has no TLS or SASL).
    #[arg(long, short = 'c')]
    pub config: Option<String>,
}

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Get information about the ID of a cluster.
    ClusterId {
        #[command(flatten)]
        connection: Connection,
    },
    /// Unregister a broker.
    Unregister {
        #[command(flatten)]
        connection: Connection,
        /// The ID of the broker to unregister.
        #[arg(long, short = 'i')]
        id: i32,
    },
    /// List endpoints.
    ListEndpoints {
        #[command(flatten)]
        connection: Connection,
        /// Include fenced brokers (gregor never fences its one broker).
        #[arg(long)]
        include_fenced_brokers: bool,
    },
}

fn connect(c: &Connection) -> Result<Client, String> {
    admin::ignore_client_config("--config", c.config.as_deref());
    let address = admin::one_of_bootstrap(
        c.bootstrap_server.as_deref(),
        c.bootstrap_controller.as_deref(),
    )?;
    Client::connect(&address, admin::REQUEST_TIMEOUT)
}

pub fn run(args: &ClusterArgs) -> Result<Vec<String>, String> {
    match &args.command {
        ClusterCommand::ClusterId { connection } => {
            let resp = admin::describe_cluster(&mut connect(connection)?)?;
            Ok(vec![format!("Cluster ID: {}", resp.cluster_id.as_str())])
        }
        ClusterCommand::Unregister { connection, id } => {
            let resp = admin::describe_cluster(&mut connect(connection)?)?;
            let what = if resp.brokers.iter().any(|b| b.broker_id.0 == *id) {
                format!(
                    "broker {id} is the cluster's only node and cannot be unregistered from itself"
                )
            } else {
                format!("broker {id} is not registered in this single-node cluster")
            };
            Err(format!(
                "{what}; gregor runs one node and does not implement UnregisterBroker (API key 64)"
            ))
        }
        ClusterCommand::ListEndpoints {
            connection,
            include_fenced_brokers,
        } => {
            let controllers = connection.bootstrap_controller.is_some();
            if controllers && *include_fenced_brokers {
                return Err(
                    "The option --include-fenced-brokers is only supported with --bootstrap-server option"
                        .into(),
                );
            }
            let resp = admin::describe_cluster(&mut connect(connection)?)?;
            let controller = resp.controller_id.0;
            let nodes: Vec<_> = resp
                .brokers
                .iter()
                .filter(|b| !controllers || b.broker_id.0 == controller)
                .collect();
            Ok(endpoint_table(
                &nodes
                    .iter()
                    .map(|b| Endpoint {
                        id: b.broker_id.0,
                        host: b.host.to_string(),
                        port: b.port,
                        rack: b.rack.as_ref().map(|r| r.to_string()),
                        fenced: b.is_fenced,
                    })
                    .collect::<Vec<_>>(),
                controllers,
            ))
        }
    }
}

/// One row of `list-endpoints`.
#[derive(Debug)]
pub struct Endpoint {
    pub id: i32,
    pub host: String,
    pub port: i32,
    pub rack: Option<String>,
    pub fenced: bool,
}

/// Kafka's `list-endpoints` layout: ID, PORT and STATE 10 wide, HOST as wide
/// as the longest host (100 with no nodes), RACK as the longest rack (10 with
/// none), a missing rack printed as `null`.
pub fn endpoint_table(nodes: &[Endpoint], controllers: bool) -> Vec<String> {
    let host_w = nodes.iter().map(|n| n.host.len()).max().unwrap_or(100);
    let rack_w = nodes
        .iter()
        .filter_map(|n| n.rack.as_ref().map(String::len))
        .max()
        .unwrap_or(10);
    let row = |id: &str, host: &str, port: &str, rack: &str, state: Option<&str>, kind: &str| {
        let mut s = format!("{id:<10} {host:<host_w$} {port:<10} {rack:<rack_w$} ");
        if let Some(state) = state {
            s.push_str(&format!("{state:<10} "));
        }
        s.push_str(&format!("{kind:<15}"));
        s
    };
    let mut out = vec![row(
        "ID",
        "HOST",
        "PORT",
        "RACK",
        (!controllers).then_some("STATE"),
        "ENDPOINT_TYPE",
    )];
    for n in nodes {
        let state = if n.fenced { "fenced" } else { "unfenced" };
        out.push(row(
            &n.id.to_string(),
            &n.host,
            &n.port.to_string(),
            n.rack.as_deref().unwrap_or("null"),
            (!controllers).then_some(state),
            if controllers { "controller" } else { "broker" },
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn endpoint_rows() {
        let n = [Endpoint {
            id: 1,
            host: "localhost".into(),
            port: 9092,
            rack: None,
            fenced: false,
        }];
        let t = endpoint_table(&n, false);
        assert_eq!(
            t[0],
            "ID         HOST      PORT       RACK       STATE      ENDPOINT_TYPE  "
        );
        assert_eq!(
            t[1],
            "1          localhost 9092       null       unfenced   broker         "
        );
        assert!(endpoint_table(&n, true)[1].contains(" controller"));
    }
}
