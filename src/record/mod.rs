//! Zero-copy view of Kafka v2 record batches (magic 2).
//!
//! The broker stores batches byte-for-byte as producers send them, so this module only
//! *looks* at batches: it parses the fixed 61-byte header, validates framing and CRC, and
//! patches the few header fields the broker owns (base offset, leader epoch and, for
//! LogAppendTime topics, the max timestamp). Every produced batch is walked once, record
//! by record, before it is stored (`validate`, Kafka's LogValidator checks); record
//! contents are only materialised on the side paths that need individual records
//! (ListOffsets by timestamp, compaction).

mod builder;
mod compression;
mod header;
mod recompress;
mod records;
mod rejected;
#[cfg(test)]
mod rejected_tests;
mod stream;
#[cfg(test)]
pub(crate) mod test_util;
#[cfg(test)]
mod tests;
mod validate;
#[cfg(test)]
mod validate_tests;

pub use builder::{build_batch, BatchParams, BuilderRecord, RecordHeaders};
pub use compression::{compress, decompress, Compression, MAX_DECOMPRESSED_BYTES};
pub use header::{
    parse_header, set_base_offset, set_create_time_max_timestamp,
    set_max_timestamp_and_recompute_crc, set_partition_leader_epoch, validate_batches,
    validate_stored_batches, BatchHeader, TimestampType, ATTRIBUTES_OFFSET, BATCH_HEADER_BYTES,
    BATCH_LENGTH_OFFSET, CRC_OFFSET, LOG_OVERHEAD_BYTES, MAGIC_OFFSET, MIN_BATCH_LENGTH,
    RECORD_BATCH_MAGIC,
};
pub use recompress::recompress_batch;
pub use records::{batch_records, Record, RecordIter};
pub use rejected::{RejectedRecord, Rejections, MAX_NAMED_RECORDS};
pub use validate::{validate_produced_records, RecordRules};

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
    /// Record `index` (0-based, in batch order) of a produced batch is refused. The
    /// index is what KIP-467's `record_errors.batch_index` reports.
    #[error("record {index} of the batch: {defect}")]
    InvalidRecordAt { index: i32, defect: RecordDefect },
    /// Records of a well-framed batch that Kafka's per-record checks refuse (no
    /// key on a compacted topic, a timestamp out of range): the batch is refused
    /// and ProduceResponse v8+ names each of them (KIP-467, see `rejected`).
    #[error("{0}")]
    Rejected(Rejections),
    /// More records section than the header's `records_count` records.
    #[error("bytes left after the last of the batch's {records_count} records")]
    BytesAfterRecords { records_count: i32 },
}

/// What is wrong with one record of a produced batch (see
/// [`RecordError::InvalidRecordAt`]).
#[derive(Debug, Clone, thiserror::Error, PartialEq, Eq)]
pub enum RecordDefect {
    /// Broken framing: a varint, a length or the record size does not add up.
    #[error("{0}")]
    Malformed(&'static str),
    /// The records section ended before this record; the header claimed more.
    #[error("the batch claims {claimed} records but ends before this one")]
    Missing { claimed: i32 },
    /// Offset deltas must be 0, 1, 2, ... in record order (Kafka: "Inner record ...
    /// does not have incremental offsets").
    #[error("offset delta {found}, expected {expected}")]
    OffsetDelta { found: i32, expected: i32 },
    /// Compacted topics keep the latest record per key, so every record needs one.
    #[error("Compacted topic cannot accept message without key")]
    NoKey,
    /// A CreateTime timestamp outside the topic's
    /// `message.timestamp.{before,after}.max.ms` window around the broker's clock.
    #[error("timestamp {timestamp} ms is out of range [{min}, {max}] ms")]
    TimestampOutOfRange { timestamp: i64, min: i64, max: i64 },
    /// A timestamp no clock can produce: i64::MAX (Kafka's sentinel in its time
    /// index), or a base timestamp plus delta that overflows.
    #[error("invalid timestamp {0}")]
    InvalidTimestamp(i64),
    /// The producer set the LogAppendTime attribute, which only the broker may set.
    #[error("Producer should not set timestamp type to LogAppendTime")]
    LogAppendTimeFromProducer,
    /// The compressed records section does not decompress.
    #[error("records do not decompress: {0}")]
    Decompress(String),
    /// The records section decompresses to more than the broker accepts.
    #[error("records decompress to more than {limit_bytes} bytes")]
    TooLarge { limit_bytes: usize },
}

impl RecordDefect {
    /// Whether Kafka reports this defect as INVALID_TIMESTAMP rather than
    /// INVALID_RECORD.
    pub fn is_timestamp(&self) -> bool {
        matches!(
            self,
            RecordDefect::TimestampOutOfRange { .. }
                | RecordDefect::InvalidTimestamp(_)
                | RecordDefect::LogAppendTimeFromProducer
        )
    }

    /// Whether Kafka checks this per record and names the record in its answer
    /// (KIP-467) rather than failing the batch on the first one: the record
    /// could be read, it is just not acceptable here.
    pub fn is_per_record(&self) -> bool {
        *self == RecordDefect::NoKey || self.is_timestamp()
    }
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

    /// The index within its batch of the record this error is about, if it is about
    /// one record (KIP-467 `record_errors`).
    pub fn record_index(&self) -> Option<i32> {
        match self {
            RecordError::InvalidRecordAt { index, .. } => Some(*index),
            RecordError::Rejected(r) => r.records().first().map(|r| r.index),
            _ => None,
        }
    }
}
