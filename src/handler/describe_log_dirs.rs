//! DescribeLogDirs (key 35), v1-v4 (flexible from v2; v0 is gone in Kafka 4):
//! the one data directory with each hosted partition's size in bytes, and from
//! v4 the file system's total and usable bytes.

use std::collections::{BTreeMap, HashMap, HashSet};

use kafka_protocol::error::ResponseError;
use kafka_protocol::messages::describe_log_dirs_response::{
    DescribeLogDirsPartition, DescribeLogDirsResult, DescribeLogDirsTopic,
};
use kafka_protocol::messages::{
    ApiKey, DescribeLogDirsRequest, DescribeLogDirsResponse, TopicName,
};
use kafka_protocol::protocol::StrBytes;

use super::{ApiSpec, Outcome, RequestContext};

pub const SPEC: ApiSpec = ApiSpec::new(ApiKey::DescribeLogDirs, 1, 4);

pub async fn handle(ctx: &RequestContext<'_>, request: DescribeLogDirsRequest) -> Outcome {
    // None = every partition; otherwise topic -> the partitions asked for.
    let wanted: Option<HashMap<String, HashSet<i32>>> = request.topics.map(|topics| {
        let mut m: HashMap<String, HashSet<i32>> = HashMap::new();
        for t in topics {
            m.entry(t.topic.0.as_str().to_string())
                .or_default()
                .extend(t.partitions);
        }
        m
    });
    let mut by_topic: BTreeMap<String, Vec<DescribeLogDirsPartition>> = BTreeMap::new();
    for p in ctx.broker.replicas.all_partitions() {
        if let Some(w) = &wanted {
            if !w
                .get(&*p.topic)
                .is_some_and(|parts| parts.contains(&p.index))
            {
                continue;
            }
        }
        let size = p.with_log(|log| log.size_bytes());
        by_topic.entry(p.topic.to_string()).or_default().push(
            DescribeLogDirsPartition::default()
                .with_partition_index(p.index)
                .with_partition_size(i64::try_from(size).unwrap_or(i64::MAX))
                // One replica, no future (being moved) copies: nothing lags.
                .with_offset_lag(0)
                .with_is_future_key(false),
        );
    }
    let topics = by_topic
        .into_iter()
        .map(|(name, mut partitions)| {
            partitions.sort_by_key(|p| p.partition_index);
            DescribeLogDirsTopic::default()
                .with_name(TopicName(StrBytes::from_string(name)))
                .with_partitions(partitions)
        })
        .collect();
    let dir = &ctx.broker.config.data_dir;
    let path = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.clone());
    let mut result = DescribeLogDirsResult::default()
        .with_log_dir(StrBytes::from_string(path.display().to_string()))
        .with_topics(topics)
        .with_total_bytes(-1)
        .with_usable_bytes(-1);
    match nix::sys::statvfs::statvfs(&path) {
        Ok(s) => {
            let frag = u64::from(s.fragment_size());
            let bytes =
                |blocks: u64| i64::try_from(blocks.saturating_mul(frag)).unwrap_or(i64::MAX);
            result.total_bytes = bytes(u64::from(s.blocks()));
            result.usable_bytes = bytes(u64::from(s.blocks_available()));
        }
        Err(e) => {
            tracing::warn!(dir = %path.display(), error = %e, "statvfs of the data dir failed");
            result.error_code = ResponseError::KafkaStorageError.code();
        }
    }
    ctx.respond(&DescribeLogDirsResponse::default().with_results(vec![result]))
}
