//! Test-only batch builder: encodes records with zigzag varints and computes the CRC, so
//! tests control every byte without depending on a Kafka client.

use super::{compress, Compression, BATCH_HEADER_BYTES, CRC_OFFSET};

/// One record to encode.
#[derive(Clone, Debug)]
pub(crate) struct TestRecord {
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub timestamp: i64,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

impl TestRecord {
    pub(crate) fn new(key: Option<&[u8]>, value: Option<&[u8]>, timestamp: i64) -> TestRecord {
        TestRecord {
            key: key.map(<[u8]>::to_vec),
            value: value.map(<[u8]>::to_vec),
            timestamp,
            headers: Vec::new(),
        }
    }
}

pub(crate) fn put_varlong(out: &mut Vec<u8>, v: i64) {
    let mut z = ((v << 1) ^ (v >> 63)) as u64;
    loop {
        if z < 0x80 {
            out.push(z as u8);
            return;
        }
        out.push((z as u8 & 0x7f) | 0x80);
        z >>= 7;
    }
}

fn put_nullable(out: &mut Vec<u8>, b: &Option<Vec<u8>>) {
    match b {
        None => put_varlong(out, -1),
        Some(b) => {
            put_varlong(out, b.len() as i64);
            out.extend_from_slice(b);
        }
    }
}

/// Encodes a complete, CRC-valid v2 batch with base offset 0.
pub(crate) fn build_batch(codec: Compression, records: &[TestRecord]) -> Vec<u8> {
    build_batch_with(codec, records, 0, 0)
}

/// Like [`build_batch`] with extra attribute bits and a chosen base offset.
pub(crate) fn build_batch_with(
    codec: Compression,
    records: &[TestRecord],
    base_offset: i64,
    extra_attributes: i16,
) -> Vec<u8> {
    let base_ts = records.first().map_or(-1, |r| r.timestamp);
    let max_ts = records.iter().map(|r| r.timestamp).max().unwrap_or(-1);
    let mut body = Vec::new();
    for (i, r) in records.iter().enumerate() {
        body.extend_from_slice(&encode_record(i as i64, r.timestamp - base_ts, r));
    }
    let mut b = assemble_batch(
        codec,
        &body,
        BatchFields {
            records_count: records.len() as i32,
            last_offset_delta: records.len() as i32 - 1,
            base_timestamp: base_ts,
            max_timestamp: max_ts,
            extra_attributes,
        },
    );
    b[..8].copy_from_slice(&base_offset.to_be_bytes());
    b
}

/// One length-prefixed record with the given deltas.
pub(crate) fn encode_record(offset_delta: i64, timestamp_delta: i64, r: &TestRecord) -> Vec<u8> {
    let mut rec = vec![0u8]; // attributes
    put_varlong(&mut rec, timestamp_delta);
    put_varlong(&mut rec, offset_delta);
    put_nullable(&mut rec, &r.key);
    put_nullable(&mut rec, &r.value);
    put_varlong(&mut rec, r.headers.len() as i64);
    for (k, v) in &r.headers {
        put_nullable(&mut rec, &Some(k.clone()));
        put_nullable(&mut rec, v);
    }
    let mut out = Vec::with_capacity(rec.len() + 5);
    put_varlong(&mut out, rec.len() as i64);
    out.extend_from_slice(&rec);
    out
}

/// The header fields [`assemble_batch`] takes from the caller, lies included.
#[derive(Clone, Copy, Debug)]
pub(crate) struct BatchFields {
    pub records_count: i32,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub extra_attributes: i16,
}

/// A batch at base offset 0 around an uncompressed records section `body` (any
/// bytes), compressed with `codec`, with a valid CRC whatever the fields say.
pub(crate) fn assemble_batch(codec: Compression, body: &[u8], f: BatchFields) -> Vec<u8> {
    let body = compress(codec, body).expect("test compression");
    assemble_raw(codec, &body, f)
}

/// Like [`assemble_batch`] with `section` used as the records section verbatim.
pub(crate) fn assemble_raw(codec: Compression, section: &[u8], f: BatchFields) -> Vec<u8> {
    let mut b = Vec::with_capacity(BATCH_HEADER_BYTES + section.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((BATCH_HEADER_BYTES - 12 + section.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
    b.extend_from_slice(&(i16::from(codec.id()) | f.extra_attributes).to_be_bytes());
    b.extend_from_slice(&f.last_offset_delta.to_be_bytes());
    b.extend_from_slice(&f.base_timestamp.to_be_bytes());
    b.extend_from_slice(&f.max_timestamp.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&f.records_count.to_be_bytes());
    b.extend_from_slice(section);
    recompute_crc(&mut b);
    b
}

/// Rewrites the CRC of the whole batch `b` after a test changed its bytes, so only
/// checks beyond the CRC can catch the change.
pub(crate) fn recompute_crc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// `n` small uncompressed records with values "v{i}" and timestamps `ts0 + i`.
pub(crate) fn simple_batch(n: usize, ts0: i64) -> Vec<u8> {
    let recs: Vec<TestRecord> = (0..n)
        .map(|i| TestRecord::new(None, Some(format!("v{i}").as_bytes()), ts0 + i as i64))
        .collect();
    build_batch(Compression::None, &recs)
}
