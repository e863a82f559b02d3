//! The raw engine: Produce v7 and Fetch v4 spoken directly over one TCP
//! connection, without a client library, to measure what the *broker*
//! sustains when the client costs next to nothing.
//!
//! With librdkafka, 100 B records are bound by the client: its broker thread
//! encodes every record into the request (about one core at 2.2-2.5 M
//! records/s here) and its consumer allocates an op per record. Whatever the
//! broker does, both brokers then meet the same client ceiling. The raw
//! engine takes the client's per-record work away:
//!
//! * **produce**: a ring of [`RING_BATCHES`] record batches (v2, no
//!   compression, `batch.size`-like bytes each, payload windows of the same
//!   pool as the librdkafka runs) is built once; each send patches the
//!   batch's timestamps to now and recomputes its CRC-32C, so the broker sees
//!   fresh, valid batches. Up to `in_flight` requests are pipelined on the
//!   connection; latency is per request, send to response.
//! * **consume**: Fetch requests for every partition from offset 0, one in
//!   flight (as Kafka clients do per partition); the response is read through
//!   a 64 KiB buffer and only batch headers are parsed (records counted from
//!   `records_count`, value bytes from the record size the topic was written
//!   with).
//!
//! These figures are the broker's, not what an application gets through a
//! client library; docs/performance.md reports them next to the librdkafka
//! ones, never instead of them.

use std::io::{BufReader, Read, Write};
use std::net::TcpStream;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::sync_channel;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{anyhow, bail, Context};
use hdrhistogram::Histogram;

use crate::procstat;
use crate::produce::{payload_pool, progress_thread, Latency, WorkloadResult};

/// Distinct batches cycled through by the producer.
pub const RING_BATCHES: usize = 16;
/// Bytes of records per produced batch (the librdkafka runs' batch.size).
pub const BATCH_BYTES: usize = 1_000_000;
/// Fetch size per partition and per response, bytes (the librdkafka
/// consumer's max.partition.fetch.bytes).
pub const FETCH_BYTES: i32 = 16 << 20;
/// Read buffer of the consumer, bytes (small enough to stay in cache).
const READ_BUF_BYTES: usize = 64 << 10;
/// Largest response accepted, bytes.
const MAX_RESPONSE_BYTES: usize = 256 << 20;
const CLIENT_ID: &str = "gregor-load-raw";
/// Record batch header bytes up to and including records_count.
const BATCH_HEADER_BYTES: usize = 61;

#[derive(Debug, Clone)]
pub struct RawProduce {
    pub record_size: usize,
    pub seconds: f64,
    pub partitions: i32,
    /// -1 (all) or 1.
    pub acks: i16,
    pub in_flight: usize,
}

#[derive(Debug, Clone)]
pub struct RawConsume {
    /// Value size the topic was written with, for the MB/s figure.
    pub record_size: usize,
    pub min_seconds: f64,
    pub max_passes: u32,
    /// Per-partition and per-response fetch limit, bytes.
    pub fetch_bytes: i32,
}

fn put_str(b: &mut Vec<u8>, s: &str) {
    b.extend_from_slice(&(s.len() as i16).to_be_bytes());
    b.extend_from_slice(s.as_bytes());
}

/// Zigzag varint, the record format's signed varint.
fn put_varint(b: &mut Vec<u8>, v: i64) {
    let mut u = ((v << 1) ^ (v >> 63)) as u64;
    while u >= 0x80 {
        b.push((u as u8) | 0x80);
        u >>= 7;
    }
    b.push(u as u8);
}

/// Request header v1 (api key, version, correlation id, client id) after a
/// placeholder for the size.
fn request_start(api_key: i16, version: i16, correlation: i32) -> Vec<u8> {
    let mut b = Vec::with_capacity(128);
    b.extend_from_slice(&[0; 4]);
    b.extend_from_slice(&api_key.to_be_bytes());
    b.extend_from_slice(&version.to_be_bytes());
    b.extend_from_slice(&correlation.to_be_bytes());
    put_str(&mut b, CLIENT_ID);
    b
}

fn finish_size(b: &mut [u8]) {
    let n = (b.len() - 4) as i32;
    b[..4].copy_from_slice(&n.to_be_bytes());
}

/// One v2 record batch of records of `size` bytes taken from `pool` at
/// `off`, as many as fit in [`BATCH_BYTES`]. Timestamps and CRC are set
/// per send by [`stamp`].
fn build_batch(pool: &[u8], size: usize, mut off: usize) -> Vec<u8> {
    let span = pool.len() - size;
    let mut records = Vec::with_capacity(BATCH_BYTES + 64);
    let mut n: i64 = 0;
    let mut rec = Vec::with_capacity(size + 16);
    while records.len() + size + 16 <= BATCH_BYTES || n == 0 {
        rec.clear();
        rec.push(0); // attributes
        put_varint(&mut rec, 0); // timestamp delta
        put_varint(&mut rec, n); // offset delta
        put_varint(&mut rec, -1); // no key
        put_varint(&mut rec, size as i64);
        rec.extend_from_slice(&pool[off..off + size]);
        put_varint(&mut rec, 0); // no headers
        put_varint(&mut records, rec.len() as i64);
        records.extend_from_slice(&rec);
        n += 1;
        off = (off + 4099) % span.max(1);
    }
    let mut b = Vec::with_capacity(BATCH_HEADER_BYTES + records.len());
    b.extend_from_slice(&0i64.to_be_bytes()); // base offset
    b.extend_from_slice(&((BATCH_HEADER_BYTES - 12 + records.len()) as i32).to_be_bytes());
    b.extend_from_slice(&(-1i32).to_be_bytes()); // partition leader epoch
    b.push(2); // magic
    b.extend_from_slice(&0u32.to_be_bytes()); // crc, set by stamp
    b.extend_from_slice(&0i16.to_be_bytes()); // attributes
    b.extend_from_slice(&((n - 1) as i32).to_be_bytes()); // last offset delta
    b.extend_from_slice(&0i64.to_be_bytes()); // base timestamp
    b.extend_from_slice(&0i64.to_be_bytes()); // max timestamp
    b.extend_from_slice(&(-1i64).to_be_bytes()); // producer id
    b.extend_from_slice(&(-1i16).to_be_bytes()); // producer epoch
    b.extend_from_slice(&(-1i32).to_be_bytes()); // base sequence
    b.extend_from_slice(&(n as i32).to_be_bytes()); // records count
    b.extend_from_slice(&records);
    b
}

fn batch_records(b: &[u8]) -> u64 {
    i32::from_be_bytes(b[57..61].try_into().unwrap()) as u64
}

/// Sets both timestamps to `now_ms` and recomputes the CRC-32C (which covers
/// everything from the attributes on).
fn stamp(b: &mut [u8], now_ms: i64) {
    b[27..35].copy_from_slice(&now_ms.to_be_bytes());
    b[35..43].copy_from_slice(&now_ms.to_be_bytes());
    let crc = crc32c::crc32c(&b[21..]);
    b[17..21].copy_from_slice(&crc.to_be_bytes());
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

fn read_response(r: &mut impl Read, buf: &mut Vec<u8>) -> anyhow::Result<()> {
    let mut len = [0u8; 4];
    r.read_exact(&mut len)?;
    let n = i32::from_be_bytes(len);
    if n < 4 || n as usize > MAX_RESPONSE_BYTES {
        bail!("bad response size {n}");
    }
    buf.resize(n as usize, 0);
    r.read_exact(buf)?;
    Ok(())
}

/// Error codes of a Produce v7 response (one topic).
fn produce_errors(resp: &[u8]) -> anyhow::Result<Vec<i16>> {
    let mut p = Parser { b: resp, at: 4 }; // after the correlation id
    let topics = p.i32()?;
    let mut errs = Vec::new();
    for _ in 0..topics {
        p.string()?;
        for _ in 0..p.i32()? {
            p.i32()?; // partition
            errs.push(p.i16()?);
            p.skip(24)?; // base offset, log append time, log start offset
        }
    }
    Ok(errs)
}

struct Parser<'a> {
    b: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn take(&mut self, n: usize) -> anyhow::Result<&[u8]> {
        let s = self
            .b
            .get(self.at..self.at + n)
            .ok_or_else(|| anyhow!("response truncated"))?;
        self.at += n;
        Ok(s)
    }
    fn skip(&mut self, n: usize) -> anyhow::Result<()> {
        self.take(n).map(|_| ())
    }
    fn i16(&mut self) -> anyhow::Result<i16> {
        Ok(i16::from_be_bytes(self.take(2)?.try_into()?))
    }
    fn i32(&mut self) -> anyhow::Result<i32> {
        Ok(i32::from_be_bytes(self.take(4)?.try_into()?))
    }
    fn string(&mut self) -> anyhow::Result<()> {
        let n = self.i16()?;
        self.skip(n.max(0) as usize)
    }
}

pub fn produce(
    bootstrap: &str,
    topic: &str,
    s: &RawProduce,
    label: &str,
) -> anyhow::Result<WorkloadResult> {
    let pool = payload_pool(s.record_size);
    let mut ring: Vec<Vec<u8>> = (0..RING_BATCHES)
        .map(|i| build_batch(&pool, s.record_size, (i * 7919 * 13) % pool.len().max(1)))
        .collect();
    let per_batch = batch_records(&ring[0]);
    let sock =
        TcpStream::connect(bootstrap).with_context(|| format!("connecting to {bootstrap}"))?;
    sock.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(READ_BUF_BYTES, sock.try_clone()?);
    let mut writer = sock;

    let acked = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let a2 = acked.clone();
    let progress = progress_thread(
        label.to_string(),
        stop.clone(),
        vec![Arc::new(move || (a2.load(Ordering::Relaxed), 0))],
        s.record_size as u64,
    );

    // The writer hands (send time, records) to the reader; the channel's
    // bound is the number of requests in flight.
    let (tx, rx) = sync_channel::<(Instant, u64)>(s.in_flight.max(1) - 1);
    let acked_r = acked.clone();
    let reader_thread = std::thread::spawn(move || -> anyhow::Result<(Histogram<u64>, u64)> {
        let mut hist = Histogram::<u64>::new_with_bounds(1, 120_000_000, 3).unwrap();
        let mut buf = Vec::new();
        let mut errors = 0u64;
        while let Ok((sent, records)) = rx.recv() {
            read_response(&mut reader, &mut buf)?;
            hist.saturating_record((sent.elapsed().as_micros() as u64).max(1));
            if produce_errors(&buf)?.iter().all(|&e| e == 0) {
                acked_r.fetch_add(records, Ordering::Relaxed);
            } else {
                errors += records;
            }
        }
        Ok((hist, errors))
    });

    let cpu0 = procstat::self_cpu_seconds();
    let t0 = Instant::now();
    let deadline = t0 + Duration::from_secs_f64(s.seconds);
    let mut i = 0usize;
    let mut sent_records = 0u64;
    let mut send_err = None;
    while Instant::now() < deadline {
        let batch = &mut ring[i % RING_BATCHES];
        stamp(batch, now_ms());
        let partition = (i as i32) % s.partitions.max(1);
        let mut req = request_start(0, 7, i as i32);
        req.extend_from_slice(&(-1i16).to_be_bytes()); // transactional id: null
        req.extend_from_slice(&s.acks.to_be_bytes());
        req.extend_from_slice(&30_000i32.to_be_bytes());
        req.extend_from_slice(&1i32.to_be_bytes());
        put_str(&mut req, topic);
        req.extend_from_slice(&1i32.to_be_bytes());
        req.extend_from_slice(&partition.to_be_bytes());
        req.extend_from_slice(&(batch.len() as i32).to_be_bytes());
        let total = req.len() - 4 + batch.len();
        req[..4].copy_from_slice(&(total as i32).to_be_bytes());
        let start = Instant::now();
        if tx.send((start, per_batch)).is_err() {
            break; // the reader failed; its error is reported below
        }
        if let Err(e) = writer
            .write_all(&req)
            .and_then(|()| writer.write_all(batch))
        {
            send_err = Some(e);
            break;
        }
        sent_records += per_batch;
        i += 1;
    }
    drop(tx);
    let (hist, errors) = reader_thread
        .join()
        .map_err(|_| anyhow!("reader panicked"))??;
    let elapsed = t0.elapsed().as_secs_f64();
    let client_cpu = procstat::self_cpu_seconds() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let _ = progress.join();
    if let Some(e) = send_err {
        return Err(e).context("sending");
    }
    let records = acked.load(Ordering::Relaxed);
    let bytes = records * s.record_size as u64;
    let ms = |q: f64| hist.value_at_quantile(q) as f64 / 1000.0;
    Ok(WorkloadResult {
        name: label.to_string(),
        kind: "produce".into(),
        topic: topic.to_string(),
        settings: serde_json::json!({
            "engine": "raw Produce v7, batches built once and re-stamped (timestamps, CRC) per send",
            "record_size": s.record_size, "partitions": s.partitions, "acks": s.acks,
            "in_flight": s.in_flight, "records_per_batch": per_batch, "sent_records": sent_records,
            "latency": "per request, send to response",
        }),
        records,
        bytes,
        errors,
        elapsed_s: elapsed,
        records_per_s: records as f64 / elapsed,
        mb_per_s: bytes as f64 / elapsed / 1e6,
        latency: Some(Latency {
            p50_ms: ms(0.5),
            p99_ms: ms(0.99),
            p999_ms: ms(0.999),
            max_ms: hist.max() as f64 / 1000.0,
            mean_ms: hist.mean() / 1000.0,
        }),
        broker_cpu_s: None,
        broker_cpu_s_per_gb: None,
        client_cpu_s: client_cpu,
        other_cpu_s: None,
    })
}

/// Reads the v4 fetch response for `parts` partitions from `r`, streaming
/// the records; returns (records, next offset per partition, error codes).
fn read_fetch(
    r: &mut BufReader<TcpStream>,
    next: &mut [i64],
    high: &mut [i64],
    scratch: &mut [u8],
) -> anyhow::Result<u64> {
    let mut fixed = [0u8; 16];
    r.read_exact(&mut fixed[..4])?; // size (the stream is parsed as it comes)
    r.read_exact(&mut fixed[..4])?; // correlation id
    r.read_exact(&mut fixed[..4])?; // throttle
    let read_i16 = |r: &mut BufReader<TcpStream>| -> anyhow::Result<i16> {
        let mut b = [0u8; 2];
        r.read_exact(&mut b)?;
        Ok(i16::from_be_bytes(b))
    };
    let read_i32 = |r: &mut BufReader<TcpStream>| -> anyhow::Result<i32> {
        let mut b = [0u8; 4];
        r.read_exact(&mut b)?;
        Ok(i32::from_be_bytes(b))
    };
    let read_i64 = |r: &mut BufReader<TcpStream>| -> anyhow::Result<i64> {
        let mut b = [0u8; 8];
        r.read_exact(&mut b)?;
        Ok(i64::from_be_bytes(b))
    };
    let mut records = 0u64;
    for _ in 0..read_i32(r)? {
        let name_len = read_i16(r)?;
        skip(r, name_len.max(0) as u64, scratch)?;
        for _ in 0..read_i32(r)? {
            let p = read_i32(r)? as usize;
            let err = read_i16(r)?;
            let hw = read_i64(r)?;
            read_i64(r)?; // last stable offset
            let aborted = read_i32(r)?;
            skip(r, 16 * aborted.max(0) as u64, scratch)?;
            let mut left = read_i32(r)?.max(0) as u64;
            if err != 0 {
                skip(r, left, scratch)?;
                bail!("fetch error code {err} on partition {p}");
            }
            if let Some(h) = high.get_mut(p) {
                *h = hw;
            }
            let mut header = [0u8; BATCH_HEADER_BYTES];
            while left >= BATCH_HEADER_BYTES as u64 {
                r.read_exact(&mut header)?;
                left -= BATCH_HEADER_BYTES as u64;
                let base = i64::from_be_bytes(header[0..8].try_into()?);
                let total = i32::from_be_bytes(header[8..12].try_into()?) as u64 + 12;
                let body = total.saturating_sub(BATCH_HEADER_BYTES as u64);
                if body > left {
                    // A partial batch at the end of the response: read again next time.
                    skip(r, left, scratch)?;
                    left = 0;
                    break;
                }
                skip(r, body, scratch)?;
                left -= body;
                let last_delta = i32::from_be_bytes(header[23..27].try_into()?) as i64;
                let count = i32::from_be_bytes(header[57..61].try_into()?).max(0) as u64;
                if let Some(n) = next.get_mut(p) {
                    if base + last_delta >= *n {
                        records += count;
                        *n = base + last_delta + 1;
                    }
                }
            }
            skip(r, left, scratch)?;
        }
    }
    Ok(records)
}

fn skip(r: &mut impl Read, mut n: u64, scratch: &mut [u8]) -> anyhow::Result<()> {
    while n > 0 {
        let k = (n as usize).min(scratch.len());
        r.read_exact(&mut scratch[..k])?;
        n -= k as u64;
    }
    Ok(())
}

pub fn consume(
    bootstrap: &str,
    topic: &str,
    parts: i32,
    s: &RawConsume,
    label: &str,
) -> anyhow::Result<WorkloadResult> {
    let sock =
        TcpStream::connect(bootstrap).with_context(|| format!("connecting to {bootstrap}"))?;
    sock.set_nodelay(true)?;
    let mut reader = BufReader::with_capacity(READ_BUF_BYTES, sock.try_clone()?);
    let mut writer = sock;
    let mut scratch = vec![0u8; READ_BUF_BYTES];
    let done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let d2 = done.clone();
    let progress = progress_thread(
        label.to_string(),
        stop.clone(),
        vec![Arc::new(move || (d2.load(Ordering::Relaxed), 0))],
        s.record_size as u64,
    );
    let cpu0 = procstat::self_cpu_seconds();
    let t0 = Instant::now();
    let (mut records, mut passes, mut correlation) = (0u64, 0u32, 0i32);
    let mut high = vec![i64::MAX; parts as usize];
    let result = (|| -> anyhow::Result<()> {
        while passes < s.max_passes.max(1) {
            passes += 1;
            let mut next = vec![0i64; parts as usize];
            loop {
                let open: Vec<usize> = (0..parts as usize).filter(|&p| next[p] < high[p]).collect();
                if open.is_empty() {
                    break;
                }
                correlation += 1;
                let mut req = request_start(1, 4, correlation);
                req.extend_from_slice(&(-1i32).to_be_bytes()); // replica id
                req.extend_from_slice(&500i32.to_be_bytes()); // max wait ms
                req.extend_from_slice(&1i32.to_be_bytes()); // min bytes
                req.extend_from_slice(&s.fetch_bytes.to_be_bytes()); // max bytes
                req.push(0); // read_uncommitted
                req.extend_from_slice(&1i32.to_be_bytes());
                put_str(&mut req, topic);
                req.extend_from_slice(&(open.len() as i32).to_be_bytes());
                for &p in &open {
                    req.extend_from_slice(&(p as i32).to_be_bytes());
                    req.extend_from_slice(&next[p].to_be_bytes());
                    req.extend_from_slice(&s.fetch_bytes.to_be_bytes());
                }
                finish_size(&mut req);
                writer.write_all(&req)?;
                records += read_fetch(&mut reader, &mut next, &mut high, &mut scratch)?;
                done.store(records, Ordering::Relaxed);
            }
            if t0.elapsed().as_secs_f64() >= s.min_seconds {
                break;
            }
        }
        Ok(())
    })();
    let elapsed = t0.elapsed().as_secs_f64();
    let client_cpu = procstat::self_cpu_seconds() - cpu0;
    stop.store(true, Ordering::Relaxed);
    let _ = progress.join();
    result?;
    let bytes = records * s.record_size as u64;
    Ok(WorkloadResult {
        name: label.to_string(),
        kind: "consume".into(),
        topic: topic.to_string(),
        settings: serde_json::json!({
            "engine": "raw Fetch v4, one request in flight, 64 KiB reads, batch headers parsed only",
            "partitions": parts, "passes": passes, "fetch_bytes": s.fetch_bytes,
            "record_size": s.record_size,
        }),
        records,
        bytes,
        errors: 0,
        elapsed_s: elapsed,
        records_per_s: records as f64 / elapsed,
        mb_per_s: bytes as f64 / elapsed / 1e6,
        latency: None,
        broker_cpu_s: None,
        broker_cpu_s_per_gb: None,
        client_cpu_s: client_cpu,
        other_cpu_s: None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zigzag_varints() {
        let enc = |v| {
            let mut b = Vec::new();
            put_varint(&mut b, v);
            b
        };
        assert_eq!(enc(0), [0]);
        assert_eq!(enc(-1), [1]);
        assert_eq!(enc(1), [2]);
        assert_eq!(enc(100), [200, 1]);
    }

    #[test]
    fn batches_are_well_formed() {
        let pool = payload_pool(100);
        let mut b = build_batch(&pool, 100, 5);
        stamp(&mut b, 1_700_000_000_000);
        let n = batch_records(&b);
        assert!(
            n > 9000 && b.len() <= BATCH_BYTES + BATCH_HEADER_BYTES,
            "{n} records, {} bytes",
            b.len()
        );
        assert_eq!(
            i32::from_be_bytes(b[8..12].try_into().unwrap()) as usize,
            b.len() - 12
        );
        assert_eq!(
            u32::from_be_bytes(b[17..21].try_into().unwrap()),
            crc32c::crc32c(&b[21..])
        );
        assert_eq!(
            i32::from_be_bytes(b[23..27].try_into().unwrap()) as u64,
            n - 1
        );
    }
}
