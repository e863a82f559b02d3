//! Encoding v2 record batches (magic 2) from individual records.
//!
//! Used by log compaction (rewriting the records it retains) and by internal writers such
//! as the group coordinator (`__consumer_offsets`). The output is byte-compatible with
//! Kafka's Java `MemoryRecordsBuilder`: zigzag varints/varlongs as in protobuf, record
//! attributes 0, CRC32C over `attributes..end`.
//!
//! A batch built with dense offset deltas `0, 1, .., n-1` (the normal case for new
//! data) passes [`validate_batches`](super::validate_batches) and can be handed to
//! `PartitionLog::append`. A batch with offset gaps (compaction output, or
//! [`BatchParams::last_offset_delta`] beyond the last record) is what Kafka's cleaner
//! writes: consumers (Java, librdkafka) read it fine, but produce validation rejects it
//! because its record count no longer matches its offset range; check such batches with
//! [`validate_stored_batches`](super::validate_stored_batches) instead.

use super::header::{compute_crc, CRC_OFFSET, LOG_OVERHEAD_BYTES};
use super::{
    compress, Compression, RecordError, TimestampType, BATCH_HEADER_BYTES, RECORD_BATCH_MAGIC,
};

/// Attribute bit 3: the batch carries LogAppendTime.
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
/// Attribute bit 4: the batch belongs to a transaction.
const TRANSACTIONAL_BIT: i16 = 0x10;
/// Attribute bit 5: the batch holds control records (transaction markers).
const CONTROL_BIT: i16 = 0x20;

/// A record's headers, either as a list of (key, value) pairs or already encoded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RecordHeaders<'a> {
    /// Header key/value pairs; a `None` value is encoded as null (length -1).
    List(Vec<(&'a [u8], Option<&'a [u8]>)>),
    /// `count` headers already in wire form (each: key length varint, key, value length
    /// varint, value), i.e. exactly the bytes [`Record::headers`](super::Record) returns.
    /// Copied verbatim; the caller guarantees they are well formed.
    Encoded { count: i32, bytes: &'a [u8] },
}

impl Default for RecordHeaders<'_> {
    fn default() -> Self {
        RecordHeaders::List(Vec::new())
    }
}

/// One record to encode.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct BuilderRecord<'a> {
    /// Offset relative to [`BatchParams::base_offset`]. Must be >= 0 and strictly
    /// increasing within a batch (gaps are allowed, see the module docs).
    pub offset_delta: i32,
    /// Absolute timestamp in ms (stored as a delta from the first record's timestamp).
    pub timestamp: i64,
    /// `None` is a null key.
    pub key: Option<&'a [u8]>,
    /// `None` is a null value (a tombstone on compacted topics).
    pub value: Option<&'a [u8]>,
    pub headers: RecordHeaders<'a>,
}

/// Batch-level fields. `Default` gives a plain non-idempotent, uncompressed CreateTime
/// batch at offset 0 with no leader epoch (-1), like a Java producer without
/// idempotence would send.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchParams {
    /// Offset of delta 0. `PartitionLog::append` overwrites it with the assigned offset.
    pub base_offset: i64,
    /// `PartitionLog::append` overwrites it with the leader epoch it is given.
    pub partition_leader_epoch: i32,
    pub compression: Compression,
    pub timestamp_type: TimestampType,
    /// For LogAppendTime batches, the append time stored as max_timestamp (Kafka ignores
    /// the record timestamps of such batches). Ignored for CreateTime.
    pub log_append_time_ms: i64,
    /// -1 when not idempotent.
    pub producer_id: i64,
    /// -1 when not idempotent.
    pub producer_epoch: i16,
    /// Sequence number of the record at delta 0; -1 when not idempotent.
    pub base_sequence: i32,
    pub is_transactional: bool,
    pub is_control: bool,
    /// Overrides last_offset_delta (which otherwise is the last record's delta). Kafka's
    /// cleaner keeps a batch's original last offset so the producer's last sequence
    /// number survives compaction; an empty batch needs it to say which offsets it
    /// covers. Must be >= the last record's delta.
    pub last_offset_delta: Option<i32>,
}

impl Default for BatchParams {
    fn default() -> Self {
        BatchParams {
            base_offset: 0,
            partition_leader_epoch: -1,
            compression: Compression::None,
            timestamp_type: TimestampType::CreateTime,
            log_append_time_ms: -1,
            producer_id: -1,
            producer_epoch: -1,
            base_sequence: -1,
            is_transactional: false,
            is_control: false,
            last_offset_delta: None,
        }
    }
}

/// Appends the zigzag, base-128 encoding of a 64-bit value (Kafka's varlong).
pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    put_unsigned(out, ((v << 1) ^ (v >> 63)) as u64);
}

/// Appends the zigzag, base-128 encoding of a 32-bit value (Kafka's varint).
pub(crate) fn put_varint(out: &mut Vec<u8>, v: i32) {
    put_unsigned(out, u64::from(((v << 1) ^ (v >> 31)) as u32));
}

fn put_unsigned(out: &mut Vec<u8>, mut z: u64) {
    while z >= 0x80 {
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
    out.push(z as u8);
}

fn len_i32(len: usize) -> Result<i32, RecordError> {
    i32::try_from(len).map_err(|_| RecordError::MalformedRecord("field longer than i32::MAX"))
}

fn put_nullable(out: &mut Vec<u8>, b: Option<&[u8]>) -> Result<(), RecordError> {
    match b {
        None => put_varint(out, -1),
        Some(b) => {
            put_varint(out, len_i32(b.len())?);
            out.extend_from_slice(b);
        }
    }
    Ok(())
}

/// Appends one record (length-prefixed) to an uncompressed records section.
fn put_record(out: &mut Vec<u8>, r: &BuilderRecord<'_>, base_ts: i64) -> Result<(), RecordError> {
    let mut rec =
        Vec::with_capacity(16 + r.key.map_or(0, <[u8]>::len) + r.value.map_or(0, <[u8]>::len));
    rec.push(0); // record attributes: unused in v2
    put_varlong(&mut rec, r.timestamp.wrapping_sub(base_ts));
    put_varint(&mut rec, r.offset_delta);
    put_nullable(&mut rec, r.key)?;
    put_nullable(&mut rec, r.value)?;
    match &r.headers {
        RecordHeaders::List(list) => {
            put_varint(&mut rec, len_i32(list.len())?);
            for (k, v) in list {
                put_nullable(&mut rec, Some(k))?;
                put_nullable(&mut rec, *v)?;
            }
        }
        RecordHeaders::Encoded { count, bytes } => {
            if *count < 0 {
                return Err(RecordError::MalformedRecord("negative header count"));
            }
            put_varint(&mut rec, *count);
            rec.extend_from_slice(bytes);
        }
    }
    put_varint(out, len_i32(rec.len())?);
    out.extend_from_slice(&rec);
    Ok(())
}

/// Encodes `records` as one complete, CRC-valid v2 batch.
///
/// Header fields: base_timestamp is the first record's timestamp; max_timestamp is the
/// largest record timestamp (CreateTime) or `log_append_time_ms` (LogAppendTime), -1
/// when there are no records; records_count is `records.len()`; last_offset_delta is
/// the override if given, else the last record's delta. The records section is
/// compressed with `params.compression` (Kafka's framing: xerial snappy, lz4 frames).
///
/// Errors: offset deltas negative or not strictly increasing, an override smaller than
/// the last delta, an empty batch without an override, or sizes beyond i32.
pub fn build_batch(
    records: &[BuilderRecord<'_>],
    params: BatchParams,
) -> Result<Vec<u8>, RecordError> {
    let mut prev: Option<i32> = None;
    for r in records {
        if r.offset_delta < 0 || prev.is_some_and(|p| r.offset_delta <= p) {
            return Err(RecordError::MalformedRecord(
                "offset deltas must be >= 0 and strictly increasing",
            ));
        }
        prev = Some(r.offset_delta);
    }
    let last_offset_delta = match (params.last_offset_delta, prev) {
        (Some(o), Some(p)) if o < p => {
            return Err(RecordError::MalformedRecord(
                "last_offset_delta below the last record's delta",
            ))
        }
        (Some(o), _) if o < 0 => {
            return Err(RecordError::MalformedRecord("negative last_offset_delta"))
        }
        (Some(o), _) => o,
        (None, Some(p)) => p,
        (None, None) => {
            return Err(RecordError::MalformedRecord(
                "an empty batch needs an explicit last_offset_delta",
            ))
        }
    };
    let log_append_time = params.timestamp_type == TimestampType::LogAppendTime;
    let base_ts = records.first().map_or(-1, |r| r.timestamp);
    let max_ts = if log_append_time {
        params.log_append_time_ms
    } else {
        records.iter().map(|r| r.timestamp).max().unwrap_or(-1)
    };

    let mut section = Vec::new();
    for r in records {
        put_record(&mut section, r, base_ts)?;
    }
    let section = compress(params.compression, &section)?;

    let mut attributes = i16::from(params.compression.id());
    if log_append_time {
        attributes |= TIMESTAMP_TYPE_BIT;
    }
    if params.is_transactional {
        attributes |= TRANSACTIONAL_BIT;
    }
    if params.is_control {
        attributes |= CONTROL_BIT;
    }
    let batch_length = len_i32(BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES + section.len())?;
    let mut b = Vec::with_capacity(BATCH_HEADER_BYTES + section.len());
    b.extend_from_slice(&params.base_offset.to_be_bytes());
    b.extend_from_slice(&batch_length.to_be_bytes());
    b.extend_from_slice(&params.partition_leader_epoch.to_be_bytes());
    b.push(RECORD_BATCH_MAGIC as u8);
    b.extend_from_slice(&0u32.to_be_bytes()); // CRC, filled in below
    b.extend_from_slice(&attributes.to_be_bytes());
    b.extend_from_slice(&last_offset_delta.to_be_bytes());
    b.extend_from_slice(&base_ts.to_be_bytes());
    b.extend_from_slice(&max_ts.to_be_bytes());
    b.extend_from_slice(&params.producer_id.to_be_bytes());
    b.extend_from_slice(&params.producer_epoch.to_be_bytes());
    b.extend_from_slice(&params.base_sequence.to_be_bytes());
    b.extend_from_slice(&len_i32(records.len())?.to_be_bytes());
    debug_assert_eq!(b.len(), BATCH_HEADER_BYTES);
    b.extend_from_slice(&section);
    let crc = compute_crc(&b);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(b)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::test_util::{build_batch_with, TestRecord};
    use crate::record::{batch_records, validate_batches, validate_stored_batches, RecordIter};

    const CODECS: [Compression; 5] = [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ];

    #[test]
    fn varints_match_kafka() {
        let enc = |v: i32| {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            b
        };
        assert_eq!(enc(0), [0x00]);
        assert_eq!(enc(-1), [0x01]);
        assert_eq!(enc(1), [0x02]);
        assert_eq!(enc(300), [0xd8, 0x04]);
        assert_eq!(enc(i32::MIN), [0xff, 0xff, 0xff, 0xff, 0x0f]);
        let mut b = Vec::new();
        put_varlong(&mut b, i64::MIN);
        assert_eq!(b.len(), 10);
    }

    #[test]
    fn dense_batch_matches_reference_encoder_and_decodes() {
        for codec in CODECS {
            let headers = vec![(&b"h1"[..], Some(&b"x"[..])), (&b"h2"[..], None)];
            let recs = [
                BuilderRecord {
                    offset_delta: 0,
                    timestamp: 1000,
                    key: Some(b"k0"),
                    value: Some(b"v0"),
                    headers: RecordHeaders::List(headers.clone()),
                },
                BuilderRecord {
                    offset_delta: 1,
                    timestamp: 990,
                    key: None,
                    value: None,
                    ..BuilderRecord::default()
                },
            ];
            let b = build_batch(
                &recs,
                BatchParams {
                    compression: codec,
                    ..BatchParams::default()
                },
            )
            .unwrap();
            let mut t0 = TestRecord::new(Some(b"k0"), Some(b"v0"), 1000);
            t0.headers = vec![
                (b"h1".to_vec(), Some(b"x".to_vec())),
                (b"h2".to_vec(), None),
            ];
            let reference = build_batch_with(codec, &[t0, TestRecord::new(None, None, 990)], 0, 0);
            assert_eq!(b, reference, "{codec:?}");
            let hs = validate_batches(&b).unwrap();
            assert_eq!(hs[0].max_timestamp, 1000);
            assert_eq!(hs[0].compression(), codec);
            let (h, body) = batch_records(&b).unwrap();
            let got: Vec<_> = RecordIter::new(&h, &body).map(Result::unwrap).collect();
            assert_eq!(got.len(), 2);
            assert_eq!((got[0].offset, got[0].timestamp), (0, 1000));
            assert_eq!(
                (got[0].key, got[0].value),
                (Some(&b"k0"[..]), Some(&b"v0"[..]))
            );
            assert_eq!(got[0].headers_count, 2);
            assert_eq!((got[1].offset, got[1].timestamp), (1, 990));
            assert_eq!((got[1].key, got[1].value), (None, None));

            // Re-encoding decoded records with their raw headers is lossless.
            let again: Vec<BuilderRecord<'_>> = got
                .iter()
                .map(|r| BuilderRecord {
                    offset_delta: r.offset as i32,
                    timestamp: r.timestamp,
                    key: r.key,
                    value: r.value,
                    headers: RecordHeaders::Encoded {
                        count: r.headers_count,
                        bytes: r.headers,
                    },
                })
                .collect();
            let params = BatchParams {
                compression: codec,
                ..BatchParams::default()
            };
            assert_eq!(build_batch(&again, params).unwrap(), b, "{codec:?}");
        }
    }

    #[test]
    fn header_fields_and_flags() {
        let recs = [BuilderRecord {
            offset_delta: 0,
            timestamp: 5,
            key: Some(b"k"),
            value: Some(b"v"),
            ..BuilderRecord::default()
        }];
        let b = build_batch(
            &recs,
            BatchParams {
                base_offset: 77,
                partition_leader_epoch: 3,
                timestamp_type: TimestampType::LogAppendTime,
                log_append_time_ms: 999,
                producer_id: 12,
                producer_epoch: 2,
                base_sequence: 40,
                is_transactional: true,
                ..BatchParams::default()
            },
        )
        .unwrap();
        let h = validate_batches(&b).unwrap()[0];
        assert_eq!(h.base_offset, 77);
        assert_eq!(h.partition_leader_epoch, 3);
        assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
        assert_eq!((h.base_timestamp, h.max_timestamp), (5, 999));
        assert_eq!(
            (h.producer_id, h.producer_epoch, h.base_sequence),
            (12, 2, 40)
        );
        assert!(h.is_transactional() && !h.is_control());
        let (h, body) = batch_records(&b).unwrap();
        let r = RecordIter::new(&h, &body).next().unwrap().unwrap();
        assert_eq!((r.offset, r.timestamp), (77, 999));
    }

    #[test]
    fn gaps_and_empty_batches() {
        let recs = [
            BuilderRecord {
                offset_delta: 1,
                timestamp: 1,
                key: Some(b"a"),
                value: Some(b"1"),
                ..BuilderRecord::default()
            },
            BuilderRecord {
                offset_delta: 4,
                timestamp: 2,
                key: Some(b"b"),
                value: None,
                ..BuilderRecord::default()
            },
        ];
        let params = BatchParams {
            base_offset: 10,
            last_offset_delta: Some(6),
            ..BatchParams::default()
        };
        let b = build_batch(&recs, params).unwrap();
        assert!(
            validate_batches(&b).is_err(),
            "produce validation wants dense batches"
        );
        let h = validate_stored_batches(&b).unwrap()[0];
        assert_eq!((h.last_offset(), h.records_count), (16, 2));
        let (h, body) = batch_records(&b).unwrap();
        let offsets: Vec<i64> = RecordIter::new(&h, &body)
            .map(|r| r.unwrap().offset)
            .collect();
        assert_eq!(offsets, [11, 14]);

        let empty = build_batch(&[], params).unwrap();
        let h = validate_stored_batches(&empty).unwrap()[0];
        assert_eq!(
            (h.records_count, h.last_offset(), h.max_timestamp),
            (0, 16, -1)
        );

        assert!(build_batch(&[], BatchParams::default()).is_err());
        let bad_order = [recs[1].clone(), recs[0].clone()];
        assert!(build_batch(&bad_order, BatchParams::default()).is_err());
        let short = BatchParams {
            last_offset_delta: Some(3),
            ..BatchParams::default()
        };
        assert!(build_batch(&recs, short).is_err());
    }
}
