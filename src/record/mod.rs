//! Zero-copy view of Kafka v2 record batches (magic 2).
//!
//! The broker stores batches byte-for-byte as producers send them, so this module only
//! *looks* at batches: it parses the fixed 61-byte header, validates framing and CRC, and
//! patches the few header fields the broker owns (base offset, leader epoch and, for
//! LogAppendTime topics, the max timestamp). Record bodies are only decoded on the
//! side paths that need individual records (ListOffsets by timestamp, compaction).

mod builder;
mod compression;
mod header;
mod recompress;
mod records;
#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;

pub use builder::{build_batch, BatchParams, BuilderRecord, RecordHeaders};
pub use compression::{compress, decompress, Compression, MAX_DECOMPRESSED_BYTES};
pub use header::{
    parse_header, set_base_offset, set_max_timestamp_and_recompute_crc, set_partition_leader_epoch,
    validate_batches, validate_stored_batches, BatchHeader, TimestampType, ATTRIBUTES_OFFSET,
    BATCH_HEADER_BYTES, BATCH_LENGTH_OFFSET, CRC_OFFSET, LOG_OVERHEAD_BYTES, MAGIC_OFFSET,
    MIN_BATCH_LENGTH, RECORD_BATCH_MAGIC,
};
pub use recompress::recompress_batch;
pub use records::{batch_records, Record, RecordIter};

/// Everything that can be wrong with bytes claiming to be record batches.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum RecordError {
    #[error("empty records")]
    Empty,
    #[error("truncated batch: need {needed} bytes, have {available}")]
    Truncated { needed: usize, available: usize },
    #[error("invalid batch length {0} bytes")]
    InvalidBatchLength(i32),
    #[error("unsupported record batch magic {0} (only magic 2 is supported)")]
    UnsupportedMagic(i8),
    #[error("batch CRC mismatch: stored {stored:#010x}, computed {computed:#010x}")]
    CorruptMessage { stored: u32, computed: u32 },
    #[error("invalid record count {0}")]
    InvalidRecordCount(i32),
    #[error(
        "inconsistent batch: last_offset_delta {last_offset_delta} with {records_count} records"
    )]
    InconsistentOffsets {
        last_offset_delta: i32,
        records_count: i32,
    },
    #[error("unsupported compression codec id {0}")]
    UnsupportedCompression(u8),
    #[error("decompression failed: {0}")]
    Decompress(String),
    #[error("compression failed: {0}")]
    Compress(String),
    #[error("malformed record: {0}")]
    MalformedRecord(&'static str),
}

impl RecordError {
    /// Whether Kafka would report this as CORRUPT_MESSAGE (framing/CRC damage) rather than
    /// INVALID_RECORD (well-framed but semantically wrong) or an unsupported format.
    pub fn is_corruption(&self) -> bool {
        matches!(
            self,
            RecordError::Empty
                | RecordError::Truncated { .. }
                | RecordError::InvalidBatchLength(_)
                | RecordError::CorruptMessage { .. }
        )
    }
}
