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
        let mut rec = vec![0u8]; // attributes
        put_varlong(&mut rec, r.timestamp - base_ts);
        put_varlong(&mut rec, i as i64);
        put_nullable(&mut rec, &r.key);
        put_nullable(&mut rec, &r.value);
        put_varlong(&mut rec, r.headers.len() as i64);
        for (k, v) in &r.headers {
            put_nullable(&mut rec, &Some(k.clone()));
            put_nullable(&mut rec, v);
        }
        put_varlong(&mut body, rec.len() as i64);
        body.extend_from_slice(&rec);
    }
    let body = compress(codec, &body).expect("test compression");
    let mut b = Vec::with_capacity(BATCH_HEADER_BYTES + body.len());
    b.extend_from_slice(&base_offset.to_be_bytes());
    b.extend_from_slice(&((BATCH_HEADER_BYTES - 12 + body.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc placeholder
    b.extend_from_slice(&(i16::from(codec.id()) | extra_attributes).to_be_bytes());
    b.extend_from_slice(&(records.len() as i32 - 1).to_be_bytes());
    b.extend_from_slice(&base_ts.to_be_bytes());
    b.extend_from_slice(&max_ts.to_be_bytes());
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&(records.len() as i32).to_be_bytes());
    b.extend_from_slice(&body);
    let crc = crc32c::crc32c(&b[21..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    b
}

/// `n` small uncompressed records with values "v{i}" and timestamps `ts0 + i`.
pub(crate) fn simple_batch(n: usize, ts0: i64) -> Vec<u8> {
    let recs: Vec<TestRecord> = (0..n)
        .map(|i| TestRecord::new(None, Some(format!("v{i}").as_bytes()), ts0 + i as i64))
        .collect();
    build_batch(Compression::None, &recs)
}
