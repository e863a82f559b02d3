//! Turning the record bytes of a Fetch response into records to print: every codec,
//! control batches dropped, and under read_committed the batches of aborted
//! transactions dropped too, as Kafka's consumer does.

use std::collections::HashSet;

use crate::record::{
    batch_records, RecordIter, TimestampType, BATCH_HEADER_BYTES, LOG_OVERHEAD_BYTES,
};

/// Control record type of an abort marker (the key is version i16, type i16).
const ABORT_MARKER_TYPE: i16 = 0;

/// One consumed record, owning its bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConsumedRecord {
    pub partition: i32,
    pub offset: i64,
    pub timestamp: i64,
    pub timestamp_type: TimestampType,
    pub key: Option<Vec<u8>>,
    pub value: Option<Vec<u8>>,
    pub headers: Vec<(Vec<u8>, Option<Vec<u8>>)>,
}

/// Decodes the whole batches in `bytes` holding offsets >= `from` (a fetch may start
/// inside a batch). A trailing partial batch, which Fetch may return when a batch
/// exceeds the size limit, is ignored. `aborted` is the response's
/// (producer id, first offset) list when reading committed data, else None.
/// Returns the records and the offset to fetch next.
pub fn decode(
    partition: i32,
    bytes: &[u8],
    from: i64,
    aborted: Option<&[(i64, i64)]>,
) -> Result<(Vec<ConsumedRecord>, i64), String> {
    let mut out = Vec::new();
    let mut next = from;
    let mut pos = 0;
    let mut pending: Vec<(i64, i64)> = aborted.map(<[_]>::to_vec).unwrap_or_default();
    pending.sort_by_key(|&(_, first)| first);
    let mut pending = pending.into_iter().peekable();
    let mut aborted_producers: HashSet<i64> = HashSet::new();
    while bytes.len() - pos >= BATCH_HEADER_BYTES {
        let rest = &bytes[pos..];
        let len = i32::from_be_bytes([rest[8], rest[9], rest[10], rest[11]]);
        let total = usize::try_from(len).map_err(|_| "negative batch length")? + LOG_OVERHEAD_BYTES;
        if rest.len() < total {
            break;
        }
        pos += total;
        let (h, body) =
            batch_records(&rest[..total]).map_err(|e| format!("partition {partition}: {e}"))?;
        next = next.max(h.last_offset() + 1);
        if aborted.is_some() && h.producer_id >= 0 {
            while let Some(&(pid, _)) = pending
                .peek()
                .filter(|(_, first)| *first <= h.last_offset())
            {
                aborted_producers.insert(pid);
                pending.next();
            }
            if h.is_control() {
                let marker = RecordIter::new(&h, &body).next();
                if let Some(Ok(r)) = marker {
                    let key = r.key.unwrap_or_default();
                    if key.len() >= 4 && i16::from_be_bytes([key[2], key[3]]) == ABORT_MARKER_TYPE {
                        aborted_producers.remove(&h.producer_id);
                    }
                }
                continue;
            }
            if h.is_transactional() && aborted_producers.contains(&h.producer_id) {
                continue;
            }
        }
        if h.is_control() {
            continue;
        }
        for r in RecordIter::new(&h, &body) {
            let r = r.map_err(|e| format!("partition {partition}: {e}"))?;
            if r.offset < from {
                continue;
            }
            let headers = r
                .header_pairs()
                .map_err(|e| format!("partition {partition}: {e}"))?
                .into_iter()
                .map(|(k, v)| (k.to_vec(), v.map(<[u8]>::to_vec)))
                .collect();
            out.push(ConsumedRecord {
                partition,
                offset: r.offset,
                timestamp: r.timestamp,
                timestamp_type: h.timestamp_type(),
                key: r.key.map(<[u8]>::to_vec),
                value: r.value.map(<[u8]>::to_vec),
                headers,
            });
        }
    }
    Ok((out, next))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{build_batch, BatchParams, BuilderRecord, Compression};

    fn batch(base: i64, values: &[&str], params: BatchParams) -> Vec<u8> {
        let recs: Vec<BuilderRecord<'_>> = values
            .iter()
            .enumerate()
            .map(|(i, v)| BuilderRecord {
                offset_delta: i as i32,
                timestamp: 1000 + i as i64,
                key: Some(b"k"),
                value: Some(v.as_bytes()),
                ..Default::default()
            })
            .collect();
        build_batch(
            &recs,
            BatchParams {
                base_offset: base,
                ..params
            },
        )
        .unwrap()
    }

    fn marker(base: i64, pid: i64, kind: i16) -> Vec<u8> {
        let key = [0u8, 0, (kind >> 8) as u8, kind as u8];
        let value = [0u8, 0, 0, 0, 0, 0];
        build_batch(
            &[BuilderRecord {
                key: Some(&key),
                value: Some(&value),
                ..Default::default()
            }],
            BatchParams {
                base_offset: base,
                producer_id: pid,
                producer_epoch: 0,
                is_transactional: true,
                is_control: true,
                ..Default::default()
            },
        )
        .unwrap()
    }

    fn values(recs: &[ConsumedRecord]) -> Vec<String> {
        recs.iter()
            .map(|r| String::from_utf8(r.value.clone().unwrap()).unwrap())
            .collect()
    }

    #[test]
    fn decodes_compressed_batches_from_an_offset_and_skips_partial_tails() {
        let mut bytes = batch(0, &["a", "b"], BatchParams::default());
        bytes.extend(batch(
            2,
            &["c", "d"],
            BatchParams {
                compression: Compression::Zstd,
                ..Default::default()
            },
        ));
        let partial = batch(4, &["e"], BatchParams::default());
        bytes.extend(&partial[..partial.len() - 3]);
        let (recs, next) = decode(3, &bytes, 1, None).unwrap();
        assert_eq!(values(&recs), ["b", "c", "d"]);
        assert_eq!(recs[0].offset, 1);
        assert_eq!(recs[0].partition, 3);
        assert_eq!(recs[0].timestamp, 1001);
        assert_eq!(next, 4);
    }

    #[test]
    fn read_committed_drops_aborted_transactions_and_markers() {
        let txn = |base| BatchParams {
            producer_id: 7,
            producer_epoch: 0,
            is_transactional: true,
            base_offset: base,
            ..Default::default()
        };
        let mut bytes = batch(0, &["aborted"], txn(0));
        bytes.extend(marker(1, 7, 0));
        bytes.extend(batch(2, &["committed"], txn(2)));
        bytes.extend(marker(3, 7, 1));
        let (recs, next) = decode(0, &bytes, 0, Some(&[(7, 0)])).unwrap();
        assert_eq!(values(&recs), ["committed"]);
        assert_eq!(next, 4);
        let (all, _) = decode(0, &bytes, 0, None).unwrap();
        assert_eq!(values(&all), ["aborted", "committed"]);
    }
}
