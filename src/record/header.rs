//! The fixed v2 batch header: parsing, validation of a produce payload, in-place patches.
//!
//! Layout (all big-endian), offsets in bytes from the batch start:
//! ```text
//!  0 base_offset i64          8 batch_length i32       12 partition_leader_epoch i32
//! 16 magic i8                17 crc u32               21 attributes i16
//! 23 last_offset_delta i32   27 base_timestamp i64    35 max_timestamp i64
//! 43 producer_id i64         51 producer_epoch i16    53 base_sequence i32
//! 57 records_count i32       61 records...
//! ```
//! The CRC (Castagnoli) covers bytes `21..end`, which is why the broker may rewrite
//! base_offset and partition_leader_epoch without touching it.

use super::{Compression, RecordError};

/// Size in bytes of the fixed v2 batch header, up to and including records_count.
pub const BATCH_HEADER_BYTES: usize = 61;
/// Bytes before (and excluded from) batch_length: base_offset (8) + batch_length (4).
pub const LOG_OVERHEAD_BYTES: usize = 12;
/// Smallest legal batch_length in bytes: a header with zero records (61 - 12).
pub const MIN_BATCH_LENGTH: i32 = (BATCH_HEADER_BYTES - LOG_OVERHEAD_BYTES) as i32;
/// The only record format this broker speaks.
pub const RECORD_BATCH_MAGIC: i8 = 2;

/// Byte offset of batch_length within a batch.
pub const BATCH_LENGTH_OFFSET: usize = 8;
const PARTITION_LEADER_EPOCH_OFFSET: usize = 12;
/// Byte offset of magic within a batch.
pub const MAGIC_OFFSET: usize = 16;
/// Byte offset of the CRC within a batch.
pub const CRC_OFFSET: usize = 17;
/// Byte offset of attributes within a batch; the CRC covers from here to the end.
pub const ATTRIBUTES_OFFSET: usize = 21;
const LAST_OFFSET_DELTA_OFFSET: usize = 23;
const BASE_TIMESTAMP_OFFSET: usize = 27;
const MAX_TIMESTAMP_OFFSET: usize = 35;
const PRODUCER_ID_OFFSET: usize = 43;
const PRODUCER_EPOCH_OFFSET: usize = 51;
const BASE_SEQUENCE_OFFSET: usize = 53;
const RECORDS_COUNT_OFFSET: usize = 57;

pub(crate) const COMPRESSION_MASK: i16 = 0x07;
const TIMESTAMP_TYPE_BIT: i16 = 0x08;
const TRANSACTIONAL_BIT: i16 = 0x10;
const CONTROL_BIT: i16 = 0x20;

/// Which clock a batch's timestamps come from (attributes bit 3).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TimestampType {
    /// Producer-supplied timestamps are kept.
    #[default]
    CreateTime,
    /// The broker stamps the append time into max_timestamp; record deltas are ignored.
    LogAppendTime,
}

/// All fields of a v2 batch header, decoded.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchHeader {
    pub base_offset: i64,
    pub batch_length: i32,
    pub partition_leader_epoch: i32,
    pub magic: i8,
    pub crc: u32,
    pub attributes: i16,
    pub last_offset_delta: i32,
    pub base_timestamp: i64,
    pub max_timestamp: i64,
    pub producer_id: i64,
    pub producer_epoch: i16,
    pub base_sequence: i32,
    pub records_count: i32,
}

impl BatchHeader {
    /// Codec from attributes bits 0-2. Ids 5-7 are not valid codecs; `validate_batches`
    /// rejects them, so for validated batches this is exact. Unknown ids map to `None`
    /// here; use [`BatchHeader::try_compression`] where the distinction matters.
    pub fn compression(&self) -> Compression {
        self.try_compression().unwrap_or(Compression::None)
    }

    /// Codec from attributes bits 0-2, rejecting unknown ids.
    pub fn try_compression(&self) -> Result<Compression, RecordError> {
        Compression::from_id((self.attributes & COMPRESSION_MASK) as u8)
    }

    pub fn timestamp_type(&self) -> TimestampType {
        if self.attributes & TIMESTAMP_TYPE_BIT != 0 {
            TimestampType::LogAppendTime
        } else {
            TimestampType::CreateTime
        }
    }

    pub fn is_transactional(&self) -> bool {
        self.attributes & TRANSACTIONAL_BIT != 0
    }

    pub fn is_control(&self) -> bool {
        self.attributes & CONTROL_BIT != 0
    }

    /// Offset of the last record the batch covers (even if compaction removed it).
    pub fn last_offset(&self) -> i64 {
        self.base_offset
            .saturating_add(i64::from(self.last_offset_delta))
    }

    /// Whole batch size in bytes including the 12-byte log overhead. Zero for a negative
    /// (invalid) batch_length so callers never see a huge wrapped size.
    pub fn total_bytes(&self) -> u64 {
        u64::try_from(self.batch_length).map_or(0, |l| l + LOG_OVERHEAD_BYTES as u64)
    }
}

fn be_i64(b: &[u8], at: usize) -> i64 {
    let mut a = [0u8; 8];
    a.copy_from_slice(&b[at..at + 8]);
    i64::from_be_bytes(a)
}
fn be_i32(b: &[u8], at: usize) -> i32 {
    let mut a = [0u8; 4];
    a.copy_from_slice(&b[at..at + 4]);
    i32::from_be_bytes(a)
}
fn be_i16(b: &[u8], at: usize) -> i16 {
    i16::from_be_bytes([b[at], b[at + 1]])
}

/// Decodes the 61-byte header at the start of `buf`. Only checks that enough bytes are
/// present; magic, lengths and CRC are the caller's business (see [`validate_batches`]).
pub fn parse_header(buf: &[u8]) -> Result<BatchHeader, RecordError> {
    if buf.len() < BATCH_HEADER_BYTES {
        return Err(RecordError::Truncated {
            needed: BATCH_HEADER_BYTES,
            available: buf.len(),
        });
    }
    Ok(BatchHeader {
        base_offset: be_i64(buf, 0),
        batch_length: be_i32(buf, BATCH_LENGTH_OFFSET),
        partition_leader_epoch: be_i32(buf, PARTITION_LEADER_EPOCH_OFFSET),
        magic: buf[MAGIC_OFFSET] as i8,
        crc: be_i32(buf, CRC_OFFSET) as u32,
        attributes: be_i16(buf, ATTRIBUTES_OFFSET),
        last_offset_delta: be_i32(buf, LAST_OFFSET_DELTA_OFFSET),
        base_timestamp: be_i64(buf, BASE_TIMESTAMP_OFFSET),
        max_timestamp: be_i64(buf, MAX_TIMESTAMP_OFFSET),
        producer_id: be_i64(buf, PRODUCER_ID_OFFSET),
        producer_epoch: be_i16(buf, PRODUCER_EPOCH_OFFSET),
        base_sequence: be_i32(buf, BASE_SEQUENCE_OFFSET),
        records_count: be_i32(buf, RECORDS_COUNT_OFFSET),
    })
}

/// Checks batch_length against the bytes actually present and returns the whole batch
/// size in bytes. Shared by produce validation and log recovery.
pub(crate) fn checked_total_bytes(h: &BatchHeader, available: usize) -> Result<usize, RecordError> {
    if h.batch_length < MIN_BATCH_LENGTH {
        return Err(RecordError::InvalidBatchLength(h.batch_length));
    }
    // batch_length is a positive i32, so this cannot overflow usize on 32/64-bit targets.
    let total = h.batch_length as usize + LOG_OVERHEAD_BYTES;
    if total > available {
        return Err(RecordError::Truncated {
            needed: total,
            available,
        });
    }
    Ok(total)
}

/// CRC32C over `batch[21..]`, i.e. what the header's crc field must hold.
pub(crate) fn compute_crc(batch: &[u8]) -> u32 {
    batch.get(ATTRIBUTES_OFFSET..).map_or(0, crc32c::crc32c)
}

/// Kafka's count/offset-range consistency rule: a batch with records must cover exactly
/// `records_count` offsets. An empty batch (left behind by compaction) keeps its range.
pub(crate) fn check_counts(h: &BatchHeader) -> Result<(), RecordError> {
    if h.records_count < 0 {
        return Err(RecordError::InvalidRecordCount(h.records_count));
    }
    let consistent = if h.records_count == 0 {
        h.last_offset_delta >= 0
    } else {
        i64::from(h.last_offset_delta) == i64::from(h.records_count) - 1
    };
    if !consistent {
        return Err(RecordError::InconsistentOffsets {
            last_offset_delta: h.last_offset_delta,
            records_count: h.records_count,
        });
    }
    Ok(())
}

/// Splits a produce request's `records` bytes into batches and validates each one:
/// complete framing, sane batch_length, magic 2, known codec, CRC32C, and consistent
/// record count / offset range. Trailing bytes that do not form a whole batch are an
/// error (Kafka rejects them rather than silently dropping data). Never panics.
pub fn validate_batches(records: &[u8]) -> Result<Vec<BatchHeader>, RecordError> {
    validate(records, check_counts)
}

/// Like [`validate_batches`] but with the looser count rule batches in a compacted log
/// obey: compaction removes records without changing a batch's offset range, so a batch
/// may hold fewer records than offsets (`0 <= records_count <= last_offset_delta + 1`).
/// For checking stored or compacted data, never a produce request.
pub fn validate_stored_batches(records: &[u8]) -> Result<Vec<BatchHeader>, RecordError> {
    validate(records, check_stored_counts)
}

fn check_stored_counts(h: &BatchHeader) -> Result<(), RecordError> {
    if h.records_count < 0 {
        return Err(RecordError::InvalidRecordCount(h.records_count));
    }
    if h.last_offset_delta < 0 || i64::from(h.records_count) > i64::from(h.last_offset_delta) + 1 {
        return Err(RecordError::InconsistentOffsets {
            last_offset_delta: h.last_offset_delta,
            records_count: h.records_count,
        });
    }
    Ok(())
}

fn validate(
    records: &[u8],
    counts: fn(&BatchHeader) -> Result<(), RecordError>,
) -> Result<Vec<BatchHeader>, RecordError> {
    if records.is_empty() {
        return Err(RecordError::Empty);
    }
    let mut headers = Vec::new();
    let mut rest = records;
    while !rest.is_empty() {
        let h = parse_header(rest)?;
        // Magic is checked before the length so old-format payloads (whose header layout
        // differs) report the actionable error instead of a confusing size error.
        if h.magic != RECORD_BATCH_MAGIC {
            return Err(RecordError::UnsupportedMagic(h.magic));
        }
        let total = checked_total_bytes(&h, rest.len())?;
        let batch = &rest[..total];
        let computed = compute_crc(batch);
        if computed != h.crc {
            return Err(RecordError::CorruptMessage {
                stored: h.crc,
                computed,
            });
        }
        h.try_compression()?;
        counts(&h)?;
        headers.push(h);
        rest = &rest[total..];
    }
    Ok(headers)
}

fn ensure_header(buf: &[u8]) -> Result<(), RecordError> {
    if buf.len() < BATCH_HEADER_BYTES {
        return Err(RecordError::Truncated {
            needed: BATCH_HEADER_BYTES,
            available: buf.len(),
        });
    }
    Ok(())
}

/// Overwrites base_offset of the batch starting at `batch[0]`. Not covered by the CRC.
pub fn set_base_offset(batch: &mut [u8], base_offset: i64) -> Result<(), RecordError> {
    ensure_header(batch)?;
    batch[0..8].copy_from_slice(&base_offset.to_be_bytes());
    Ok(())
}

/// Overwrites partition_leader_epoch of the batch starting at `batch[0]`. Not covered by
/// the CRC.
pub fn set_partition_leader_epoch(batch: &mut [u8], epoch: i32) -> Result<(), RecordError> {
    ensure_header(batch)?;
    batch[PARTITION_LEADER_EPOCH_OFFSET..PARTITION_LEADER_EPOCH_OFFSET + 4]
        .copy_from_slice(&epoch.to_be_bytes());
    Ok(())
}

/// For LogAppendTime topics, as Kafka does: sets the timestamp-type attribute bit,
/// stores the append time in max_timestamp, and recomputes the CRC (both fields are
/// CRC-covered). `batch` must be exactly one whole batch, since the CRC spans to its end.
pub fn set_max_timestamp_and_recompute_crc(
    batch: &mut [u8],
    max_timestamp_ms: i64,
) -> Result<(), RecordError> {
    let h = parse_header(batch)?;
    rewrite_max_timestamp(
        batch,
        h,
        h.attributes | TIMESTAMP_TYPE_BIT,
        max_timestamp_ms,
    )
}

/// For a CreateTime batch whose producer wrote a max_timestamp other than its
/// largest record timestamp: stores the right one and recomputes the CRC, as
/// Kafka's LogValidator does (the time index and ListOffsets by time trust it).
pub fn set_create_time_max_timestamp(
    batch: &mut [u8],
    max_timestamp_ms: i64,
) -> Result<(), RecordError> {
    let h = parse_header(batch)?;
    rewrite_max_timestamp(batch, h, h.attributes, max_timestamp_ms)
}

fn rewrite_max_timestamp(
    batch: &mut [u8],
    h: BatchHeader,
    attributes: i16,
    max_timestamp_ms: i64,
) -> Result<(), RecordError> {
    let total = checked_total_bytes(&h, batch.len())?;
    let batch = &mut batch[..total];
    batch[ATTRIBUTES_OFFSET..ATTRIBUTES_OFFSET + 2].copy_from_slice(&attributes.to_be_bytes());
    batch[MAX_TIMESTAMP_OFFSET..MAX_TIMESTAMP_OFFSET + 8]
        .copy_from_slice(&max_timestamp_ms.to_be_bytes());
    let crc = compute_crc(batch);
    batch[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
    Ok(())
}
