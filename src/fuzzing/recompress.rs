//! `record::recompress_batch` (compression.type on produce) with every codec.
//!
//! Input: one record batch. Its length field, magic and CRC are set by the
//! harness from the bytes given, so mutations reach the codecs and the
//! records section instead of dying at the CRC check; everything else
//! (attributes, counts, the compressed body) is the fuzzer's.

use crate::record::{
    batch_records, parse_header, recompress_batch, validate_batches, Compression,
    ATTRIBUTES_OFFSET, BATCH_HEADER_BYTES, BATCH_LENGTH_OFFSET, CRC_OFFSET, LOG_OVERHEAD_BYTES,
    MAGIC_OFFSET, RECORD_BATCH_MAGIC,
};

const CODECS: [Compression; 5] = Compression::ALL;

/// Makes `batch` pass the framing and CRC checks (length = the bytes given,
/// magic 2, CRC over them), leaving every other byte as it is.
pub(crate) fn frame_batch(batch: &mut [u8]) {
    if batch.len() < BATCH_HEADER_BYTES {
        return;
    }
    let length = i32::try_from(batch.len() - LOG_OVERHEAD_BYTES).unwrap_or(i32::MAX);
    batch[BATCH_LENGTH_OFFSET..BATCH_LENGTH_OFFSET + 4].copy_from_slice(&length.to_be_bytes());
    batch[MAGIC_OFFSET] = RECORD_BATCH_MAGIC as u8;
    let crc = crc32c::crc32c(&batch[ATTRIBUTES_OFFSET..]);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

/// The header bytes recompression must leave alone: all but the length,
/// the CRC and the attributes (whose codec bits change).
fn fixed_header_fields(batch: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(BATCH_HEADER_BYTES);
    out.extend_from_slice(&batch[..BATCH_LENGTH_OFFSET]);
    out.extend_from_slice(&batch[BATCH_LENGTH_OFFSET + 4..CRC_OFFSET]);
    out.extend_from_slice(&batch[ATTRIBUTES_OFFSET + 2..BATCH_HEADER_BYTES]);
    out
}

pub fn recompress(data: &[u8]) {
    let mut batch = data.to_vec();
    frame_batch(&mut batch);
    // The records section as the producer's codec decodes it: what every
    // re-encoding must give back.
    let original_body = batch_records(&batch).ok().map(|(_, b)| b.into_owned());
    let original_header = parse_header(&batch).ok();
    for target in CODECS {
        let out = match recompress_batch(&batch, target) {
            Ok(Some(out)) => out,
            Ok(None) => {
                let h = original_header.expect("a batch left alone has a header");
                assert!(
                    h.is_control() || h.try_compression() == Ok(target),
                    "{target:?}: a batch that needs re-encoding was left alone"
                );
                continue;
            }
            Err(_) => continue,
        };
        let headers = validate_batches(&out).expect("a re-encoded batch passes produce validation");
        assert_eq!(headers.len(), 1, "{target:?}: one batch in, one out");
        assert_eq!(headers[0].compression(), target);
        let h = original_header.expect("a re-encoded batch had a header");
        assert_eq!(headers[0].records_count, h.records_count);
        assert_eq!(
            headers[0].attributes & !0x07,
            h.attributes & !0x07,
            "non-codec attributes kept"
        );
        assert_eq!(
            fixed_header_fields(&out),
            fixed_header_fields(&batch),
            "{target:?}: header changed"
        );
        let body = batch_records(&out).expect("a re-encoded batch decodes").1;
        let original = original_body
            .as_deref()
            .expect("a re-encoded batch was decodable");
        assert!(
            body.as_ref() == original,
            "{target:?}: records section changed"
        );
        // And back to the producer's codec gives the same records again.
        if let Ok(back_codec) = h.try_compression() {
            if let Ok(Some(back)) = recompress_batch(&out, back_codec) {
                let again = batch_records(&back).expect("decodes").1;
                assert!(
                    again.as_ref() == original,
                    "{target:?} -> {back_codec:?}: round trip changed records"
                );
            }
        }
    }
}
