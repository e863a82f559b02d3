//! Valid examples of every target's input, for the seed corpora under
//! `fuzz/corpus/` (written by `cargo run --example fuzz_seeds`).
//!
//! Each seed is made by the broker's own writers (a real partition log, a
//! real metadata quorum, the record builder, the protocol codecs) and then
//! packed into the target's input format, so mutations start from what the
//! broker really writes and reads.

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use kafka_protocol::messages::*;
use kafka_protocol::protocol::{Encodable, StrBytes};

use crate::cluster::log_store::{COMMITTED_FILE, LOG_FILE, VOTE_FILE};
use crate::cluster::state_machine::SNAPSHOT_FILE;
use crate::cluster::{MetadataCommand, MetadataStore};
use crate::handler::SUPPORTED_APIS;
use crate::log::{LogConfig, PartitionLog};
use crate::record::{build_batch, BatchParams, BuilderRecord, Compression, RecordHeaders};

use super::input::{pack_files, FileEntry};
use super::log_files::{kind_of, FIX_CRCS, KIND_CONFIG, KIND_LOG};
use super::scratch::Scratch;

const NOW_MS: i64 = 1_700_000_000_000;
const CODECS: [Compression; 5] = Compression::ALL;

/// Seeds of one target: (file name, bytes).
pub type Seeds = Vec<(String, Vec<u8>)>;

/// Writes every target's seeds under `root/<target>/`.
pub fn write_all(root: &Path) -> std::io::Result<()> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let handlers = request_handlers();
    // The older targets take one frame without its size prefix, and one
    // produce request's records.
    let decode = handlers
        .iter()
        .filter(|(n, _)| n != "conversation")
        .map(|(n, b)| (n.clone(), b[4..].to_vec()))
        .collect();
    let sets: Vec<(&str, Seeds)> = vec![
        ("request_decode", decode),
        ("batch_validate", recompress()),
        ("recompress", recompress()),
        ("cleaner", cleaner()),
        ("partition_marker", partition_marker()),
        ("log_recovery", log_recovery()),
        ("raft_log", rt.block_on(raft_log())),
        ("request_handlers", handlers),
    ];
    for (target, seeds) in sets {
        let dir = root.join(target);
        std::fs::create_dir_all(&dir)?;
        for (name, bytes) in seeds {
            std::fs::write(dir.join(format!("seed-{name}")), bytes)?;
        }
    }
    Ok(())
}

fn batch(codec: Compression, keys: &[&[u8]], params: BatchParams) -> Vec<u8> {
    let records: Vec<BuilderRecord<'_>> = keys
        .iter()
        .enumerate()
        .map(|(i, k)| BuilderRecord {
            offset_delta: i as i32,
            timestamp: NOW_MS + i as i64,
            key: Some(k),
            value: (i % 3 != 2).then_some(b"value".as_slice()),
            headers: if i == 0 {
                RecordHeaders::List(vec![(b"h".as_slice(), Some(b"x".as_slice()))])
            } else {
                RecordHeaders::default()
            },
        })
        .collect();
    build_batch(
        &records,
        BatchParams {
            compression: codec,
            ..params
        },
    )
    .expect("seed batch builds")
}

pub(crate) fn recompress() -> Seeds {
    let mut out = Vec::new();
    for codec in CODECS {
        out.push((
            format!("{codec:?}"),
            batch(codec, &[b"a", b"b", b"c"], BatchParams::default()),
        ));
    }
    let txn = BatchParams {
        producer_id: 7,
        producer_epoch: 1,
        base_sequence: 0,
        is_transactional: true,
        ..Default::default()
    };
    out.push(("txn-lz4".into(), batch(Compression::Lz4, &[b"a"], txn)));
    let control = BatchParams {
        is_control: true,
        ..txn
    };
    out.push((
        "control".into(),
        batch(Compression::None, &[b"\0\0\0\x01"], control),
    ));
    out
}

/// Deterministic bytes (xorshift) standing in for random programs.
fn noise(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.max(1);
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

pub(crate) fn cleaner() -> Seeds {
    let mut out: Seeds = (1..=6)
        .map(|s| (format!("noise-{s}"), noise(s, 64 * s as usize)))
        .collect();
    // Appends of repeating keys, a roll, a transaction aborted, a clean.
    let program: Vec<u8> = [
        vec![0x00, 0x01, 0, 0],
        vec![1, 0, 3, 0, 1, 4, 1, 1, 4, 2, 0, 0],
        vec![1, 1, 2, 1, 7, 2, 5, 0],
        vec![1, 4, 0, 2, 3, 1, 0, 0],
        vec![1, 5, 0, 0],
        vec![1, 7],
        vec![1, 2, 1, 0, 0, 0],
        vec![1, 7],
        vec![1, 6, 0, 1, 0, 1],
    ]
    .concat();
    out.push(("program".into(), program));
    out
}

pub(crate) fn partition_marker() -> Seeds {
    let good = format!("version: 0\ntopic_id: {}\n", uuid::Uuid::from_u128(42));
    let mut out = Vec::new();
    for flags in 0..16u8 {
        let mut b = vec![flags];
        b.extend_from_slice(good.as_bytes());
        out.push((format!("good-{flags}"), b));
    }
    out.push(("empty-with-data".into(), vec![1]));
    out.push((
        "garbage".into(),
        b"\x03version: 1\ntopic_id: nope\n".to_vec(),
    ));
    out
}

/// Packs the files of a partition directory into a `log_recovery` input.
fn pack_dir(dir: &Path, extra: &[FileEntry<'_>], fix: bool) -> Vec<u8> {
    let mut names: Vec<String> = std::fs::read_dir(dir)
        .expect("seed dir lists")
        .flatten()
        .filter_map(|e| e.file_name().to_str().map(str::to_owned))
        .collect();
    names.sort();
    let contents: Vec<(u8, u8, Vec<u8>)> = names
        .iter()
        .filter_map(|n| {
            let (kind, base) = kind_of(n)?;
            let kind = if fix && kind == KIND_LOG {
                kind | FIX_CRCS
            } else {
                kind
            };
            Some((kind, base, std::fs::read(dir.join(n)).ok()?))
        })
        .collect();
    let mut entries: Vec<FileEntry<'_>> = extra.to_vec();
    entries.extend(contents.iter().map(|(kind, param, bytes)| FileEntry {
        kind: *kind,
        param: *param,
        bytes,
    }));
    pack_files(&entries)
}

pub(crate) fn log_recovery() -> Seeds {
    let mut out = Vec::new();
    for (name, compact, close) in [
        ("closed", false, true),
        ("crashed", false, false),
        ("compacted", true, true),
    ] {
        let scratch = Scratch::new("seed-log");
        let dir = scratch.path().join("t-0");
        let config = LogConfig {
            segment_bytes: 600,
            index_interval_bytes: 128,
            cleanup_policy_compact: compact,
            delete_retention_ms: 0,
            min_cleanable_dirty_ratio: 0.0,
            ..LogConfig::default()
        };
        let mut log = PartitionLog::open(&dir, config).expect("seed log opens");
        let txn = BatchParams {
            producer_id: 9,
            producer_epoch: 0,
            base_sequence: 0,
            is_transactional: true,
            ..Default::default()
        };
        for i in 0..8u8 {
            let codec = CODECS[usize::from(i) % CODECS.len()];
            let keys: [&[u8]; 3] = [b"a", b"b", &[b'k', i]];
            log.append(
                &batch(codec, &keys, BatchParams::default()),
                i32::from(i / 3),
                NOW_MS,
            )
            .expect("seed append");
        }
        log.append(&batch(Compression::None, &[b"t"], txn), 3, NOW_MS)
            .expect("seed txn");
        log.append_marker(9, 0, false, 0, 3, NOW_MS)
            .expect("seed abort");
        log.delete_records_before(2).expect("seed delete records");
        if compact {
            for _ in 0..8 {
                if !log.clean(NOW_MS + 1).is_ok_and(|s| s.more_work) {
                    break;
                }
            }
        }
        if close {
            log.close().expect("seed close");
        } else {
            drop(log);
        }
        let flags = [u8::from(compact)];
        let config = [FileEntry {
            kind: KIND_CONFIG,
            param: 0,
            bytes: &flags,
        }];
        out.push((name.to_string(), pack_dir(&dir, &config, false)));
        out.push((format!("{name}-fixcrc"), pack_dir(&dir, &config, true)));
    }
    out
}

pub(crate) async fn raft_log() -> Seeds {
    let scratch = Scratch::new("seed-raft");
    let dir = scratch.path();
    let store = MetadataStore::open(dir, 1, Some("seed-cluster".into()))
        .await
        .expect("seed quorum opens");
    let commands = [
        MetadataCommand::RegisterBroker {
            node_id: 1,
            host: "localhost".into(),
            port: 9092,
            rack: None,
        },
        MetadataCommand::CreateTopic {
            name: "t".into(),
            topic_id: uuid::Uuid::from_u128(1),
            partitions: 2,
            replication_factor: 1,
            configs: BTreeMap::from([("cleanup.policy".to_string(), "compact".to_string())]),
        },
        MetadataCommand::CreateTopic {
            name: "u".into(),
            topic_id: uuid::Uuid::from_u128(2),
            partitions: 1,
            replication_factor: 1,
            configs: BTreeMap::new(),
        },
        MetadataCommand::DeleteTopic {
            topic_id: uuid::Uuid::from_u128(2),
        },
    ];
    let mut out = Vec::new();
    let mut snapshot_taken = false;
    for (i, command) in commands.into_iter().enumerate() {
        store.propose(command).await.expect("seed proposal");
        if i == 1 && !snapshot_taken {
            store
                .snapshot_now(Duration::from_secs(10))
                .await
                .expect("seed snapshot");
            snapshot_taken = true;
        }
    }
    store.shutdown().await.expect("seed quorum stops");
    let names = [LOG_FILE, VOTE_FILE, COMMITTED_FILE, SNAPSHOT_FILE];
    let contents: Vec<(u8, Vec<u8>)> = names
        .iter()
        .enumerate()
        .filter_map(|(kind, n)| Some((kind as u8, std::fs::read(dir.join(n)).ok()?)))
        .collect();
    for fix in [0u8, 1] {
        let entries: Vec<FileEntry<'_>> = contents
            .iter()
            .map(|(kind, bytes)| FileEntry {
                kind: *kind,
                param: fix,
                bytes,
            })
            .collect();
        out.push((format!("quorum-fix{fix}"), pack_files(&entries)));
        // The log alone (no snapshot): replay from the start.
        let log_only: Vec<FileEntry<'_>> =
            entries.iter().copied().filter(|e| e.kind == 0).collect();
        out.push((format!("log-only-fix{fix}"), pack_files(&log_only)));
    }
    out
}

fn name(s: &'static str) -> StrBytes {
    StrBytes::from_static_str(s)
}

/// A request of the default (empty) shape for each API the broker handles.
fn empty_request(key: ApiKey) -> Option<RequestKind> {
    macro_rules! kinds {
        ($($k:ident),*) => {
            match key {
                $(ApiKey::$k => Some(RequestKind::$k(Default::default())),)*
                _ => None,
            }
        };
    }
    kinds!(
        ApiVersions,
        Metadata,
        Produce,
        Fetch,
        ListOffsets,
        CreateTopics,
        DeleteTopics,
        DescribeCluster,
        DescribeConfigs,
        AlterConfigs,
        IncrementalAlterConfigs,
        CreatePartitions,
        DeleteRecords,
        DescribeLogDirs,
        OffsetForLeaderEpoch,
        ElectLeaders,
        DescribeTopicPartitions,
        FindCoordinator,
        OffsetCommit,
        OffsetFetch,
        JoinGroup,
        Heartbeat,
        LeaveGroup,
        SyncGroup,
        DescribeGroups,
        ListGroups,
        DeleteGroups,
        OffsetDelete,
        InitProducerId,
        AddPartitionsToTxn,
        AddOffsetsToTxn,
        EndTxn,
        TxnOffsetCommit,
        DescribeProducers,
        DescribeTransactions,
        ListTransactions,
        ConsumerGroupHeartbeat,
        ConsumerGroupDescribe
    )
}

/// Requests with content: a produce to `t`, a fetch and lookups of it.
fn content_request(key: ApiKey) -> Option<RequestKind> {
    let t = || TopicName(name("t"));
    Some(match key {
        ApiKey::Metadata => {
            RequestKind::Metadata(MetadataRequest::default().with_topics(Some(vec![
                metadata_request::MetadataRequestTopic::default().with_name(Some(t())),
            ])))
        }
        ApiKey::Produce => {
            let records = Bytes::from(batch(
                Compression::None,
                &[b"a", b"b"],
                BatchParams::default(),
            ));
            let partition = produce_request::PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(records));
            let topic = produce_request::TopicProduceData::default()
                .with_name(t())
                .with_partition_data(vec![partition]);
            RequestKind::Produce(
                ProduceRequest::default()
                    .with_acks(-1)
                    .with_timeout_ms(1000)
                    .with_topic_data(vec![topic]),
            )
        }
        ApiKey::Fetch => {
            let partition = fetch_request::FetchPartition::default()
                .with_partition(0)
                .with_partition_max_bytes(1 << 20);
            let topic = fetch_request::FetchTopic::default()
                .with_topic(t())
                .with_partitions(vec![partition]);
            RequestKind::Fetch(
                FetchRequest::default()
                    .with_max_wait_ms(10)
                    .with_max_bytes(1 << 20)
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![topic]),
            )
        }
        ApiKey::ListOffsets => {
            let partition = list_offsets_request::ListOffsetsPartition::default()
                .with_partition_index(0)
                .with_timestamp(-1);
            let topic = list_offsets_request::ListOffsetsTopic::default()
                .with_name(t())
                .with_partitions(vec![partition]);
            RequestKind::ListOffsets(
                ListOffsetsRequest::default()
                    .with_replica_id(BrokerId(-1))
                    .with_topics(vec![topic]),
            )
        }
        ApiKey::CreateTopics => {
            let topic = create_topics_request::CreatableTopic::default()
                .with_name(TopicName(name("n")))
                .with_num_partitions(1)
                .with_replication_factor(1);
            RequestKind::CreateTopics(
                CreateTopicsRequest::default()
                    .with_topics(vec![topic])
                    .with_timeout_ms(1000),
            )
        }
        ApiKey::FindCoordinator => RequestKind::FindCoordinator(
            FindCoordinatorRequest::default()
                .with_key(name("g"))
                .with_coordinator_keys(vec![name("g")]),
        ),
        ApiKey::JoinGroup => RequestKind::JoinGroup(
            JoinGroupRequest::default()
                .with_group_id(GroupId(name("g")))
                .with_session_timeout_ms(10_000)
                .with_rebalance_timeout_ms(100)
                .with_protocol_type(name("consumer"))
                .with_protocols(vec![join_group_request::JoinGroupRequestProtocol::default(
                )
                .with_name(name("range"))]),
        ),
        ApiKey::InitProducerId => RequestKind::InitProducerId(
            InitProducerIdRequest::default()
                .with_transaction_timeout_ms(60_000)
                .with_producer_id(ProducerId(-1)),
        ),
        _ => return None,
    })
}

/// One frame: size, header, body; `None` if the body has no form at `version`.
fn frame(body: &RequestKind, key: ApiKey, version: i16, correlation: i32) -> Option<Vec<u8>> {
    let header = RequestHeader::default()
        .with_request_api_key(key as i16)
        .with_request_api_version(version)
        .with_correlation_id(correlation)
        .with_client_id(Some(name("fuzz-seed")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, key.request_header_version(version))
        .ok()?;
    body.encode(&mut buf, version).ok()?;
    let mut out = BytesMut::with_capacity(buf.len() + 4);
    out.put_i32(i32::try_from(buf.len()).ok()?);
    out.extend_from_slice(&buf);
    Some(out.to_vec())
}

pub(crate) fn request_handlers() -> Seeds {
    let mut out = Vec::new();
    for spec in SUPPORTED_APIS {
        let versions = [spec.min_version, spec.max_version];
        for (i, version) in versions.into_iter().enumerate() {
            if i == 1 && spec.min_version == spec.max_version {
                continue;
            }
            for (what, body) in [
                ("empty", empty_request(spec.key)),
                ("content", content_request(spec.key)),
            ] {
                if let Some(bytes) = body.and_then(|b| frame(&b, spec.key, version, 7)) {
                    out.push((format!("{:?}-v{version}-{what}", spec.key), bytes));
                }
            }
        }
    }
    // A conversation: create a topic, produce to it, fetch it back.
    let conversation: Vec<u8> = [
        ApiKey::CreateTopics,
        ApiKey::Produce,
        ApiKey::Fetch,
        ApiKey::ListOffsets,
    ]
    .iter()
    .filter_map(|&k| {
        let spec = crate::handler::spec_for(k)?;
        frame(&content_request(k)?, k, spec.max_version.min(12), 1)
    })
    .collect::<Vec<_>>()
    .concat();
    out.push(("conversation".into(), conversation));
    out
}
