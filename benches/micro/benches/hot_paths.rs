//! Criterion microbenchmarks of the broker's hot paths (issue #6 item 3):
//! request decode, batch validation, offset assignment and append, index
//! lookups, fetch reads and fetch response assembly.
//!
//! ```sh
//! cargo bench --target x86_64-unknown-linux-gnu --bench hot_paths
//! cargo bench --target x86_64-unknown-linux-gnu --bench hot_paths -- append   # one group
//! ```
//!
//! Inputs come from the crate's own encoders (`record::build_batch`) and the
//! client side of `kafka-protocol`; logs live in temp dirs under
//! `GREGOR_BENCH_DIR` (default: the system temp dir; `/dev/shm` for tmpfs).
//! Nothing is fsynced: appends go to the page cache, as the broker's do with
//! the default flush settings. See benches/README.md, "Microbenchmarks".

use std::hint::black_box;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use criterion::{criterion_group, criterion_main, BatchSize, BenchmarkId, Criterion, Throughput};
use gregor::handler::fetch::encode::{encode_fetch_response, PartitionOut, TopicOut};
use gregor::log::{LogConfig, PartitionLog, ReadSlice};
use gregor::protocol::request::{decode_body, decode_header};
use gregor::record::{
    build_batch, validate_batches, validate_produced_records, BatchParams, BuilderRecord,
    Compression,
};
use kafka_protocol::messages::fetch_request::{FetchPartition, FetchTopic};
use kafka_protocol::messages::fetch_response::PartitionData;
use kafka_protocol::messages::produce_request::{PartitionProduceData, TopicProduceData};
use kafka_protocol::messages::{
    ApiKey, FetchRequest, ProduceRequest, RequestHeader, TopicName, TransactionalId,
};
use kafka_protocol::protocol::{Encodable, StrBytes};
use tempfile::TempDir;
use uuid::Uuid;

const KIB: usize = 1024;
const MIB: usize = 1024 * 1024;
/// Record value size of the produce workloads (as the load tool's 100 B case).
const RECORD_VALUE_BYTES: usize = 100;
/// Partitions in the fetch request and response benchmarks.
const FETCH_PARTITIONS: i32 = 8;
/// Batches (one record each) in the index benchmark's log: one offset-index
/// and one time-index entry per batch.
const INDEX_BATCHES: i64 = 100_000;
const BASE_TIMESTAMP_MS: i64 = 1_700_000_000_000;

fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn bench_dir() -> PathBuf {
    std::env::var_os("GREGOR_BENCH_DIR").map_or_else(std::env::temp_dir, PathBuf::from)
}

fn temp_log_dir() -> TempDir {
    tempfile::Builder::new()
        .prefix("gregor-bench-")
        .tempdir_in(bench_dir())
        .expect("temp dir for a bench log")
}

/// One uncompressed, CRC-valid v2 batch of `value_bytes`-byte records, as
/// close to `target_bytes` (whole batch) as whole records allow, not above.
fn batch_of(target_bytes: usize, value_bytes: usize, timestamp_ms: i64) -> Vec<u8> {
    batch_of_codec(target_bytes, value_bytes, timestamp_ms, Compression::None)
}

/// Like [`batch_of`], with the records section then compressed with `codec`
/// (`target_bytes` bounds the uncompressed batch).
fn batch_of_codec(
    target_bytes: usize,
    value_bytes: usize,
    timestamp_ms: i64,
    codec: Compression,
) -> Vec<u8> {
    let value: Vec<u8> = (0..value_bytes).map(|i| (i * 31 % 251) as u8).collect();
    let build = |count: usize, compression: Compression| {
        let records: Vec<BuilderRecord<'_>> = (0..count)
            .map(|i| BuilderRecord {
                offset_delta: i as i32,
                timestamp: timestamp_ms,
                key: None,
                value: Some(&value),
                ..BuilderRecord::default()
            })
            .collect();
        let params = BatchParams {
            compression,
            ..BatchParams::default()
        };
        build_batch(&records, params).expect("build_batch")
    };
    // Start from an upper estimate (record framing is at least 7 bytes) and
    // shrink by the measured per-record size until the batch fits.
    let mut count = (target_bytes / (value_bytes + 7)).max(1);
    loop {
        let batch = build(count, Compression::None);
        if batch.len() <= target_bytes || count == 1 {
            return if codec == Compression::None {
                batch
            } else {
                build(count, codec)
            };
        }
        let per_record = batch.len() / count;
        count -= ((batch.len() - target_bytes) / per_record).max(1);
    }
}

/// A request frame as the connection hands it to `decode_header` (the bytes
/// after the 4-byte size prefix).
fn request_frame(api_key: ApiKey, version: i16, body: &impl Encodable) -> Bytes {
    let header = RequestHeader::default()
        .with_request_api_key(api_key as i16)
        .with_request_api_version(version)
        .with_correlation_id(7)
        .with_client_id(Some(StrBytes::from_static_str("gregor-bench")));
    let mut buf = BytesMut::new();
    header
        .encode(&mut buf, api_key.request_header_version(version))
        .expect("encode request header");
    body.encode(&mut buf, version).expect("encode request body");
    buf.freeze()
}

fn topic_name(name: &'static str) -> TopicName {
    TopicName(StrBytes::from_static_str(name))
}

fn produce_frame(version: i16, batch: &[u8]) -> Bytes {
    let body = ProduceRequest::default()
        .with_transactional_id(None::<TransactionalId>)
        .with_acks(1)
        .with_timeout_ms(30_000)
        .with_topic_data(vec![TopicProduceData::default()
            .with_name(topic_name("bench"))
            .with_partition_data(vec![PartitionProduceData::default()
                .with_index(0)
                .with_records(Some(Bytes::copy_from_slice(batch)))])]);
    request_frame(ApiKey::Produce, version, &body)
}

fn fetch_frame(version: i16) -> Bytes {
    let partitions = (0..FETCH_PARTITIONS)
        .map(|p| {
            FetchPartition::default()
                .with_partition(p)
                .with_current_leader_epoch(0)
                .with_fetch_offset(1_000_000 + i64::from(p))
                .with_last_fetched_epoch(0)
                .with_log_start_offset(-1)
                .with_partition_max_bytes(MIB as i32)
        })
        .collect();
    let body = FetchRequest::default()
        .with_replica_id((-1).into())
        .with_max_wait_ms(500)
        .with_min_bytes(1)
        .with_max_bytes(50 * MIB as i32)
        .with_isolation_level(0)
        .with_session_id(0)
        .with_session_epoch(-1)
        .with_topics(vec![FetchTopic::default()
            .with_topic(topic_name("bench"))
            .with_partitions(partitions)]);
    request_frame(ApiKey::Fetch, version, &body)
}

fn request_decode(c: &mut Criterion) {
    let mut g = c.benchmark_group("request_decode");
    let batch = batch_of(MIB, RECORD_VALUE_BYTES, BASE_TIMESTAMP_MS);
    for version in [9i16, 12] {
        let frame = produce_frame(version, &batch);
        g.throughput(Throughput::Bytes(frame.len() as u64));
        g.bench_with_input(
            BenchmarkId::new("produce_1mib_batch", format!("v{version}")),
            &frame,
            |b, frame| {
                b.iter(|| {
                    let peeked = decode_header(black_box(frame.clone())).expect("header");
                    decode_body(peeked).expect("body")
                })
            },
        );
    }
    let frame = fetch_frame(12);
    g.throughput(Throughput::Elements(FETCH_PARTITIONS as u64));
    g.bench_with_input(
        BenchmarkId::new("fetch_8_partitions", "v12"),
        &frame,
        |b, frame| {
            b.iter(|| {
                let peeked = decode_header(black_box(frame.clone())).expect("header");
                decode_body(peeked).expect("body")
            })
        },
    );
    g.finish();
}

fn batch_validation(c: &mut Criterion) {
    let mut g = c.benchmark_group("validate_batches");
    for (label, size) in [("16kib", 16 * KIB), ("1mib", MIB)] {
        let batch = batch_of(size, RECORD_VALUE_BYTES, BASE_TIMESTAMP_MS);
        g.throughput(Throughput::Bytes(batch.len() as u64));
        g.bench_with_input(BenchmarkId::from_parameter(label), &batch, |b, batch| {
            b.iter(|| validate_batches(black_box(batch)).expect("valid batch"))
        });
    }
    g.finish();
}

/// Produce validation's per-record pass (framing, offsets, timestamps) over a
/// 1 MiB batch of 100 B records, uncompressed and lz4 (streamed decompression);
/// compare with `validate_batches` (header + CRC only) on the same batch.
fn record_validation(c: &mut Criterion) {
    let mut g = c.benchmark_group("validate_produced_records");
    let now = now_ms();
    let rules = LogConfig::default().record_rules();
    // Throughput per uncompressed batch byte, so the two codecs compare.
    let plain_bytes = batch_of(MIB, RECORD_VALUE_BYTES, now).len() as u64;
    for (label, codec) in [
        ("1mib_none", Compression::None),
        ("1mib_lz4", Compression::Lz4),
    ] {
        let batch = batch_of_codec(MIB, RECORD_VALUE_BYTES, now, codec);
        g.throughput(Throughput::Bytes(plain_bytes));
        g.bench_with_input(BenchmarkId::from_parameter(label), &batch, |b, batch| {
            b.iter(|| {
                validate_produced_records(black_box(batch), &rules, now).expect("valid batch")
            })
        });
    }
    g.finish();
}

/// Appends per fresh log: 128 MiB of 1 MiB batches, then the log is dropped
/// (untimed) so a long run neither fills the disk nor rolls segments.
const APPENDS_PER_LOG: u64 = 128;

fn append(c: &mut Criterion) {
    let mut g = c.benchmark_group("append");
    // Each sample writes hundreds of MiB to the page cache; fewer, shorter
    // samples keep the run (and the write-back it causes) reasonable.
    g.sample_size(30);
    g.measurement_time(Duration::from_secs(4));
    let now = now_ms();
    let batch = batch_of(MIB, RECORD_VALUE_BYTES, now);
    g.throughput(Throughput::Bytes(batch.len() as u64));
    g.bench_function("1mib_batch", |b| {
        b.iter_custom(|iters| {
            let mut timed = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(APPENDS_PER_LOG);
                let dir = temp_log_dir();
                let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
                let start = Instant::now();
                for _ in 0..n {
                    black_box(log.append(black_box(&batch), 0, now).expect("append"));
                }
                timed += start.elapsed();
                drop(log);
                drop(dir);
                left -= n;
            }
            timed
        })
    });
    g.finish();
}

/// A log of `INDEX_BATCHES` one-record batches with `index.interval.bytes`
/// 0, so every batch after the first gets an offset-index entry, and
/// timestamps that grow by 1 ms a batch, so each also gets a time-index entry.
fn index_log() -> (TempDir, PartitionLog) {
    let dir = temp_log_dir();
    let config = LogConfig {
        index_interval_bytes: 0,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(dir.path(), config).expect("open");
    let per_append = 1000;
    for chunk in 0..INDEX_BATCHES / per_append {
        let mut records = Vec::new();
        for i in 0..per_append {
            let ts = BASE_TIMESTAMP_MS + chunk * per_append + i;
            records.extend_from_slice(&batch_of(1, 16, ts));
        }
        log.append(&records, 0, now_ms()).expect("append");
    }
    (dir, log)
}

/// Deterministic spread of lookup targets in `[0, n)` (a 64-bit LCG), so
/// successive lookups take different paths through the binary search.
fn targets(n: i64, count: usize) -> Vec<i64> {
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    (0..count)
        .map(|_| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            ((x >> 33) % n as u64) as i64
        })
        .collect()
}

fn index_lookup(c: &mut Criterion) {
    let (_dir, log) = index_log();
    assert_eq!(log.log_end_offset(), INDEX_BATCHES);
    let offsets = targets(INDEX_BATCHES, 4096);
    let mut g = c.benchmark_group("index_lookup");
    g.throughput(Throughput::Elements(1));
    g.bench_function("offset_index_100k_entries", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % offsets.len();
            log.offset_index_lookup(black_box(offsets[i]))
                .expect("lookup")
        })
    });
    g.bench_function("time_index_100k_entries", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % offsets.len();
            log.time_index_lookup(black_box(BASE_TIMESTAMP_MS + offsets[i]))
                .expect("lookup")
        })
    });
    // The whole fetch read of a partition: index lookup, header reads up to
    // the fetch offset, then index jumps over the 1 MiB that follows.
    g.bench_function("read_1mib_from_random_offset", |b| {
        let mut i = 0;
        b.iter(|| {
            i = (i + 1) % offsets.len();
            log.read(black_box(offsets[i]), MIB as u64, true)
                .expect("read")
        })
    });
    g.finish();
}

/// Eight partition logs holding 4 MiB each (1 MiB batches of 100 B records).
fn fetch_logs() -> Vec<(TempDir, PartitionLog)> {
    let now = now_ms();
    let batch = batch_of(MIB, RECORD_VALUE_BYTES, now);
    (0..FETCH_PARTITIONS)
        .map(|_| {
            let dir = temp_log_dir();
            let mut log = PartitionLog::open(dir.path(), LogConfig::default()).expect("open");
            for _ in 0..4 {
                log.append(&batch, 0, now).expect("append");
            }
            (dir, log)
        })
        .collect()
}

fn partition_out(index: i32, log: &PartitionLog, records: ReadSlice) -> PartitionOut {
    let end = log.log_end_offset();
    PartitionOut {
        data: PartitionData::default()
            .with_partition_index(index)
            .with_high_watermark(end)
            .with_last_stable_offset(end)
            .with_log_start_offset(log.log_start_offset())
            .with_aborted_transactions(None),
        records: Some(records),
    }
}

fn fetch_topics(logs: &[(TempDir, PartitionLog)], slices: Vec<ReadSlice>) -> Vec<TopicOut> {
    let partitions = slices
        .into_iter()
        .zip(logs)
        .enumerate()
        .map(|(i, (slice, (_, log)))| partition_out(i as i32, log, slice))
        .collect();
    vec![TopicOut {
        name: "bench".to_string(),
        topic_id: Uuid::from_u128(0x6772_6567_6f72),
        partitions,
    }]
}

fn fetch_response(c: &mut Criterion) {
    const VERSION: i16 = 12;
    let logs = fetch_logs();
    let read_all = || -> Vec<ReadSlice> {
        logs.iter()
            .map(|(_, log)| log.read(0, MIB as u64, true).expect("read"))
            .collect()
    };
    let slices = read_all();
    let mut g = c.benchmark_group("fetch_response");
    g.throughput(Throughput::Elements(FETCH_PARTITIONS as u64));
    // Encoding alone: the handler's per-partition results are built untimed.
    g.bench_function("encode_8_partitions", |b| {
        b.iter_batched(
            || fetch_topics(&logs, slices.clone()),
            |topics| encode_fetch_response(7, VERSION, 0, 0, topics).expect("encode"),
            BatchSize::SmallInput,
        )
    });
    // The log reads too: eight `PartitionLog::read`s of 1 MiB, then encoding.
    g.bench_function("read_and_encode_8_partitions", |b| {
        b.iter(|| {
            let topics = fetch_topics(&logs, read_all());
            encode_fetch_response(7, VERSION, 0, 0, topics).expect("encode")
        })
    });
    g.finish();
}

criterion_group!(
    hot_paths,
    request_decode,
    batch_validation,
    record_validation,
    append,
    index_lookup,
    fetch_response
);
criterion_main!(hot_paths);
