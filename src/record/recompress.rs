//! Re-compression of a producer's batch for topics whose `compression.type`
//! names a codec other than the producer's.
//!
//! Only the records section changes: the records inside keep their bytes
//! (offset and timestamp deltas, keys, values, headers), so the batch header
//! is copied and just its codec bits, length and CRC are rewritten. This is
//! the one place on the produce path where a batch is decompressed, and it
//! only runs when the topic asks for it.

use super::header::{checked_total_bytes, compute_crc, COMPRESSION_MASK};
use super::{
    batch_records, compress, parse_header, validate_batches, Compression, RecordError,
    ATTRIBUTES_OFFSET, BATCH_HEADER_BYTES, BATCH_LENGTH_OFFSET, CRC_OFFSET, LOG_OVERHEAD_BYTES,
};

/// Returns `batch` re-encoded with `target`, or `None` when nothing needs to
/// change: the producer already used `target`, or it is a control batch
/// (markers are written by the broker and never compressed).
pub fn recompress_batch(batch: &[u8], target: Compression) -> Result<Option<Vec<u8>>, RecordError> {
    let header = parse_header(batch)?;
    if header.is_control() || header.try_compression()? == target {
        return Ok(None);
    }
    // Check the producer's CRC first: a damaged batch must be refused, never
    // given a fresh CRC over its damage.
    validate_batches(batch)?;
    checked_total_bytes(&header, batch.len())?;
    let (_, body) = batch_records(batch)?;
    let section = match target {
        Compression::None => body.into_owned(),
        codec => compress(codec, &body)?,
    };
    let total = BATCH_HEADER_BYTES + section.len();
    let batch_length = i32::try_from(total - LOG_OVERHEAD_BYTES).map_err(|_| {
        RecordError::Compress(format!("re-compressed batch of {total} bytes is too large"))
    })?;
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(&batch[..BATCH_HEADER_BYTES]);
    out.extend_from_slice(&section);
    out[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&batch_length.to_be_bytes());
    let attributes = (header.attributes & !COMPRESSION_MASK) | i16::from(target.id());
    out[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    let crc = compute_crc(&out);
    out[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(Some(out))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::RecordIter;

    fn sample(codec: Compression) -> Vec<u8> {
        use crate::record::test_util::{build_batch, TestRecord};
        build_batch(
            codec,
            &[
                TestRecord::new(Some(b"k1"), Some(b"v1"), 1_000),
                TestRecord::new(None, Some(b"v2"), 1_005),
            ],
        )
    }

    fn values(batch: &[u8]) -> Vec<(Option<Vec<u8>>, Option<Vec<u8>>)> {
        let (h, body) = batch_records(batch).unwrap();
        RecordIter::new(&h, &body)
            .map(|r| {
                let r = r.unwrap();
                (r.key.map(|k| k.to_vec()), r.value.map(|v| v.to_vec()))
            })
            .collect()
    }

    #[test]
    fn every_codec_pair_keeps_the_records_and_a_valid_crc() {
        let codecs = [
            Compression::None,
            Compression::Gzip,
            Compression::Snappy,
            Compression::Lz4,
            Compression::Zstd,
        ];
        for from in codecs {
            let original = sample(from);
            for to in codecs {
                let out = recompress_batch(&original, to).unwrap();
                if from == to {
                    assert!(out.is_none(), "{from:?} -> {to:?} must be left alone");
                    continue;
                }
                let out = out.unwrap();
                let headers = validate_batches(&out).unwrap();
                assert_eq!(headers.len(), 1);
                assert_eq!(headers[0].compression(), to);
                assert_eq!(headers[0].records_count, 2);
                assert_eq!(values(&out), values(&original), "{from:?} -> {to:?}");
            }
        }
    }

    #[test]
    fn a_damaged_batch_is_refused_not_re_checksummed() {
        let mut batch = sample(Compression::None);
        let last = batch.len() - 1;
        batch[last] ^= 0xff;
        let err = recompress_batch(&batch, Compression::Zstd).unwrap_err();
        assert!(err.is_corruption(), "{err}");
    }
}
