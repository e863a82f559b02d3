//! `gregor transactions` (also `kafka-transactions.sh`, Kafka's
//! TransactionsCommand): `list` (ListTransactions, key 66), `describe`
//! (DescribeTransactions, 65), `describe-producers` (DescribeProducers, 61)
//! and `find-hanging` (the three together) print Kafka's tables. `abort` needs
//! WriteTxnMarkers (27) and `forceTerminateTransaction` InitProducerId v6
//! (KIP-939), which gregor does not offer, so both refuse with a clear error.

use std::collections::BTreeMap;

use kafka_protocol::messages::describe_producers_request::TopicRequest;
use kafka_protocol::messages::describe_producers_response::ProducerState;
use kafka_protocol::messages::{
    ApiKey, DescribeProducersRequest, DescribeProducersResponse, DescribeTransactionsRequest,
    DescribeTransactionsResponse, FindCoordinatorRequest, FindCoordinatorResponse,
    ListTransactionsRequest, ListTransactionsResponse, ProducerId, TransactionalId,
};
use kafka_protocol::protocol::StrBytes;

use super::admin;
use super::client::{check, error_text};
use super::session::{topic_name, Session};

/// FindCoordinator key type of a transactional id.
const TRANSACTION_KEY_TYPE: i8 = 1;
/// Milliseconds in a minute, for `--max-transaction-timeout` and durations.
const MS_PER_MINUTE: i64 = 60_000;

#[derive(Debug, clap::Args)]
pub struct TransactionsArgs {
    /// The server(s) to connect to, host:port[,host:port].
    #[arg(long)]
    pub bootstrap_server: String,
    /// Client properties file (accepted; gregor has no TLS or SASL).
    #[arg(long)]
    pub command_config: Option<String>,
    #[command(subcommand)]
    pub command: TxnCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum TxnCommand {
    /// List transactions.
    List {
        /// Only transactions running longer than this, in ms (< 0: all).
        #[arg(long, allow_hyphen_values = true)]
        duration_filter: Option<i64>,
        /// Transactional id regular expression pattern to filter by.
        #[arg(long)]
        transactional_id_pattern: Option<String>,
    },
    /// Describe the state of an active transactional-id.
    Describe {
        #[arg(long)]
        transactional_id: String,
    },
    /// Describe the states of active producers for a topic partition.
    DescribeProducers {
        /// Ask this broker's replica instead of the leader.
        #[arg(long)]
        broker_id: Option<i32>,
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
    },
    /// Abort a hanging transaction (needs WriteTxnMarkers, not offered).
    Abort {
        #[arg(long)]
        topic: String,
        #[arg(long)]
        partition: i32,
        #[arg(long)]
        start_offset: Option<i64>,
        #[arg(long)]
        producer_id: Option<i64>,
        #[arg(long)]
        producer_epoch: Option<i16>,
        #[arg(long)]
        coordinator_epoch: Option<i32>,
    },
    /// Find hanging transactions.
    FindHanging {
        #[arg(long)]
        broker_id: Option<i32>,
        /// Transactions open longer than this, in minutes, are candidates.
        #[arg(long, default_value_t = 15)]
        max_transaction_timeout: i64,
        #[arg(long)]
        topic: Option<String>,
        #[arg(long)]
        partition: Option<i32>,
    },
    /// Force-abort a transaction (KIP-939; needs InitProducerId v6).
    #[command(name = "forceTerminateTransaction")]
    ForceTerminateTransaction {
        #[arg(long = "transactionalId")]
        transactional_id: String,
    },
}

pub fn run(args: &TransactionsArgs) -> Result<Vec<String>, String> {
    admin::ignore_client_config("--command-config", args.command_config.as_deref());
    let connect = || {
        Session::connect(
            &admin::bootstrap_list(&args.bootstrap_server),
            admin::REQUEST_TIMEOUT,
        )
    };
    match &args.command {
        TxnCommand::List {
            duration_filter,
            transactional_id_pattern,
        } => list(&mut connect()?, *duration_filter, transactional_id_pattern.as_deref()),
        TxnCommand::Describe { transactional_id } => describe(&mut connect()?, transactional_id),
        TxnCommand::DescribeProducers {
            broker_id,
            topic,
            partition,
        } => describe_producers(&mut connect()?, *broker_id, topic, *partition),
        TxnCommand::Abort { topic, partition, .. } => Err(format!(
            "cannot abort the transaction on {}: aborting writes a marker with WriteTxnMarkers (API key 27), which gregor does not offer to clients (its coordinator writes markers itself)",
            admin::tp(topic, *partition)
        )),
        TxnCommand::FindHanging {
            broker_id,
            max_transaction_timeout,
            topic,
            partition,
        } => {
            if topic.is_none() && broker_id.is_none() {
                return Err("The `find-hanging` command requires either --topic or --broker-id to limit the scope of the search".into());
            }
            if partition.is_some() && topic.is_none() {
                return Err("The --partition argument requires --topic to be provided".into());
            }
            let timeout = max_transaction_timeout.saturating_mul(MS_PER_MINUTE);
            find_hanging(&mut connect()?, *broker_id, timeout, topic.as_deref(), *partition)
        }
        TxnCommand::ForceTerminateTransaction { transactional_id } => Err(format!(
            "cannot force-terminate transactional id `{transactional_id}`: it needs InitProducerId v6 with keepPreparedTxn (KIP-939, two-phase commit), which gregor does not implement (it offers InitProducerId v0-v5)"
        )),
    }
}

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

/// Every broker's ListTransactions, as (coordinator id, id, producer id, state).
fn listings(
    session: &mut Session,
    duration: Option<i64>,
    pattern: Option<&str>,
    producer_ids: &[i64],
) -> Result<Vec<(i32, String, i64, String)>, String> {
    let md = session.metadata(Some(&[]))?;
    let brokers: Vec<i32> = md.brokers.iter().map(|b| b.node_id.0).collect();
    let mut out = Vec::new();
    for b in brokers {
        let req = ListTransactionsRequest::default()
            .with_duration_filter(duration.unwrap_or(-1))
            .with_transactional_id_pattern(pattern.map(|p| StrBytes::from_string(p.to_string())))
            .with_producer_id_filters(producer_ids.iter().map(|&p| ProducerId(p)).collect());
        let client = session.node(b)?;
        if !client.supports(ApiKey::ListTransactions) {
            return Err(format!(
                "broker {b} does not support ListTransactions (API key 66)"
            ));
        }
        let resp: ListTransactionsResponse = client.call(ApiKey::ListTransactions, &req)?;
        check(resp.error_code, None).map_err(|e| format!("Failed to list transactions: {e}"))?;
        for t in resp.transaction_states {
            out.push((
                b,
                t.transactional_id.0.to_string(),
                t.producer_id.0,
                t.transaction_state.to_string(),
            ));
        }
    }
    Ok(out)
}

fn list(
    session: &mut Session,
    duration: Option<i64>,
    pattern: Option<&str>,
) -> Result<Vec<String>, String> {
    let rows: Vec<Vec<String>> = listings(session, duration, pattern, &[])?
        .into_iter()
        .map(|(b, id, pid, state)| vec![id, b.to_string(), pid.to_string(), state])
        .collect();
    Ok(admin::table(
        &[
            "TransactionalId",
            "Coordinator",
            "ProducerId",
            "TransactionState",
        ],
        &rows,
    ))
}

/// The node coordinating `transactional_id`.
fn transaction_coordinator(session: &mut Session, id: &str) -> Result<i32, String> {
    let version = session
        .bootstrap
        .version_for::<FindCoordinatorRequest>(ApiKey::FindCoordinator)?;
    let mut req = FindCoordinatorRequest::default().with_key_type(TRANSACTION_KEY_TYPE);
    if version >= 4 {
        req.coordinator_keys = vec![StrBytes::from_string(id.to_string())];
    } else {
        req.key = StrBytes::from_string(id.to_string());
    }
    let resp: FindCoordinatorResponse =
        session
            .bootstrap
            .call_at(ApiKey::FindCoordinator, version, &req)?;
    if version >= 4 {
        let c = resp
            .coordinators
            .first()
            .ok_or("empty FindCoordinator response")?;
        check(c.error_code, c.error_message.as_ref())?;
        Ok(c.node_id.0)
    } else {
        check(resp.error_code, resp.error_message.as_ref())?;
        Ok(resp.node_id.0)
    }
}

/// DescribeTransactions of one id at its coordinator: (coordinator, state).
fn describe_one(
    session: &mut Session,
    id: &str,
) -> Result<
    (
        i32,
        kafka_protocol::messages::describe_transactions_response::TransactionState,
    ),
    String,
> {
    let coordinator = transaction_coordinator(session, id)?;
    session.metadata(Some(&[]))?;
    let client = session.node(coordinator)?;
    if !client.supports(ApiKey::DescribeTransactions) {
        return Err("the broker does not support DescribeTransactions (API key 65)".into());
    }
    let req = DescribeTransactionsRequest::default()
        .with_transactional_ids(vec![TransactionalId(StrBytes::from_string(id.to_string()))]);
    let resp: DescribeTransactionsResponse = client.call(ApiKey::DescribeTransactions, &req)?;
    let state = resp
        .transaction_states
        .into_iter()
        .next()
        .ok_or("empty DescribeTransactions response")?;
    check(state.error_code, None)?;
    Ok((coordinator, state))
}

fn describe(session: &mut Session, id: &str) -> Result<Vec<String>, String> {
    let (coordinator, s) = describe_one(session, id).map_err(|e| {
        format!("Failed to describe transaction state of transactional-id `{id}`: {e}")
    })?;
    let (start, duration) = if s.transaction_start_time_ms >= 0 {
        (
            s.transaction_start_time_ms.to_string(),
            (now_ms() - s.transaction_start_time_ms).to_string(),
        )
    } else {
        ("None".to_string(), "None".to_string())
    };
    let partitions: Vec<String> = s
        .topics
        .iter()
        .flat_map(|t| {
            t.partitions
                .iter()
                .map(|p| admin::tp(t.topic.0.as_str(), *p))
        })
        .collect();
    let row = vec![
        coordinator.to_string(),
        id.to_string(),
        s.producer_id.0.to_string(),
        s.producer_epoch.to_string(),
        s.transaction_state.to_string(),
        s.transaction_timeout_ms.to_string(),
        start,
        duration,
        partitions.join(","),
    ];
    Ok(admin::table(
        &[
            "CoordinatorId",
            "TransactionalId",
            "ProducerId",
            "ProducerEpoch",
            "TransactionState",
            "TransactionTimeoutMs",
            "CurrentTransactionStartTimeMs",
            "TransactionDurationMs",
            "TopicPartitions",
        ],
        &[row],
    ))
}

/// DescribeProducers of partitions of `topic` at `node`.
fn producers(
    session: &mut Session,
    node: i32,
    topic: &str,
    partitions: &[i32],
) -> Result<Vec<(i32, Result<Vec<ProducerState>, String>)>, String> {
    let client = session.node(node)?;
    if !client.supports(ApiKey::DescribeProducers) {
        return Err("the broker does not support DescribeProducers (API key 61)".into());
    }
    let req = DescribeProducersRequest::default().with_topics(vec![TopicRequest::default()
        .with_name(topic_name(topic))
        .with_partition_indexes(partitions.to_vec())]);
    let resp: DescribeProducersResponse = client.call(ApiKey::DescribeProducers, &req)?;
    Ok(resp
        .topics
        .into_iter()
        .flat_map(|t| t.partitions)
        .map(|p| {
            let r = if p.error_code == 0 {
                Ok(p.active_producers)
            } else {
                Err(error_text(
                    p.error_code,
                    p.error_message.as_ref().map(|m| m.as_str()),
                ))
            };
            (p.partition_index, r)
        })
        .collect())
}

fn describe_producers(
    session: &mut Session,
    broker: Option<i32>,
    topic: &str,
    partition: i32,
) -> Result<Vec<String>, String> {
    let clause = broker.map_or_else(|| "leader".to_string(), |b| format!("broker {b}"));
    let fail = |e: String| {
        format!(
            "Failed to describe producers for partition {} on {clause}: {e}",
            admin::tp(topic, partition)
        )
    };
    let node = match broker {
        Some(b) => {
            session.metadata(Some(&[]))?;
            b
        }
        None => {
            let parts = session.partitions(topic, false).map_err(fail)?;
            parts
                .iter()
                .find(|p| p.partition == partition)
                .map(|p| p.leader)
                .ok_or_else(|| fail("This server does not host this topic-partition.".into()))?
        }
    };
    let result = producers(session, node, topic, &[partition]).map_err(fail)?;
    let states = result
        .into_iter()
        .next()
        .ok_or_else(|| fail("empty DescribeProducers response".into()))?
        .1
        .map_err(fail)?;
    let rows: Vec<Vec<String>> = states
        .iter()
        .map(|s| {
            let start = if s.current_txn_start_offset >= 0 {
                s.current_txn_start_offset.to_string()
            } else {
                "None".into()
            };
            vec![
                s.producer_id.0.to_string(),
                s.producer_epoch.to_string(),
                s.coordinator_epoch.to_string(),
                s.last_sequence.to_string(),
                s.last_timestamp.to_string(),
                start,
            ]
        })
        .collect();
    Ok(admin::table(
        &[
            "ProducerId",
            "ProducerEpoch",
            "LatestCoordinatorEpoch",
            "LastSequence",
            "LastTimestamp",
            "CurrentTransactionStartOffset",
        ],
        &rows,
    ))
}

/// Open transactions older than `timeout_ms` whose coordinator no longer
/// counts the partition in the transaction (Kafka's definition of hanging).
fn find_hanging(
    session: &mut Session,
    broker: Option<i32>,
    timeout_ms: i64,
    topic: Option<&str>,
    partition: Option<i32>,
) -> Result<Vec<String>, String> {
    let md = session.metadata(topic.map(|t| vec![t.to_string()]).as_deref())?;
    // topic -> node -> partitions to ask about.
    let mut wanted: BTreeMap<String, BTreeMap<i32, Vec<i32>>> = BTreeMap::new();
    for t in &md.topics {
        let Some(name) = t.name.as_ref().map(|n| n.0.to_string()) else {
            continue;
        };
        if t.error_code != 0 {
            return Err(format!(
                "topic '{name}': {}",
                error_text(t.error_code, None)
            ));
        }
        for p in &t.partitions {
            let on_broker = broker.is_none_or(|b| p.replica_nodes.iter().any(|r| r.0 == b));
            if on_broker && partition.is_none_or(|x| x == p.partition_index) {
                let node = broker.unwrap_or(p.leader_id.0);
                wanted
                    .entry(name.clone())
                    .or_default()
                    .entry(node)
                    .or_default()
                    .push(p.partition_index);
            }
        }
    }
    let now = now_ms();
    let mut open: Vec<(String, i32, ProducerState)> = Vec::new();
    for (t, nodes) in &wanted {
        for (node, parts) in nodes {
            for (p, states) in producers(session, *node, t, parts)? {
                for s in states.map_err(|e| format!("{}: {e}", admin::tp(t, p)))? {
                    if s.current_txn_start_offset >= 0 && now - s.last_timestamp >= timeout_ms {
                        open.push((t.clone(), p, s));
                    }
                }
            }
        }
    }
    let mut hanging = Vec::new();
    if !open.is_empty() {
        let pids: Vec<i64> = open.iter().map(|(_, _, s)| s.producer_id.0).collect();
        let ids: BTreeMap<i64, String> = listings(session, None, None, &pids)?
            .into_iter()
            .map(|(_, id, pid, _)| (pid, id))
            .collect();
        for (t, p, s) in open {
            let still_in_txn = match ids.get(&s.producer_id.0) {
                None => false,
                Some(id) => match describe_one(session, id) {
                    Ok((_, d)) => d
                        .topics
                        .iter()
                        .any(|x| x.topic.0.as_str() == t && x.partitions.contains(&p)),
                    Err(_) => false,
                },
            };
            if !still_in_txn {
                hanging.push((t, p, s));
            }
        }
    }
    let rows: Vec<Vec<String>> = hanging
        .iter()
        .map(|(t, p, s)| {
            vec![
                t.clone(),
                p.to_string(),
                s.producer_id.0.to_string(),
                s.producer_epoch.to_string(),
                s.coordinator_epoch.to_string(),
                s.current_txn_start_offset.to_string(),
                s.last_timestamp.to_string(),
                ((now - s.last_timestamp) / MS_PER_MINUTE).to_string(),
            ]
        })
        .collect();
    Ok(admin::table(
        &[
            "Topic",
            "Partition",
            "ProducerId",
            "ProducerEpoch",
            "CoordinatorEpoch",
            "StartOffset",
            "LastTimestamp",
            "Duration(min)",
        ],
        &rows,
    ))
}
