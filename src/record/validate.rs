//! Record-level validation of produced batches, the checks of Kafka's LogValidator.
//!
//! A batch's CRC only proves the bytes arrived as the producer wrote them, not that
//! they make sense. Stored as-is, a batch whose records lie stalls consumers at its
//! offset (librdkafka), raises CorruptRecordError (kafka-python), hands out
//! duplicate offsets, or breaks every later compaction pass. So before a produced
//! batch is appended, [`validate_produced_records`] walks every record once:
//!
//! * framing: each record's size, varints, key/value/header lengths add up, and no
//!   bytes are left over (shared with `RecordIter`, see `records::read_record`);
//! * `records_count` is the number of records actually present;
//! * offset deltas are exactly 0, 1, 2, ... (with the header's
//!   `last_offset_delta == records_count - 1`, checked by `validate_batches`);
//! * on compacted topics, every record has a key;
//! * on CreateTime topics, every timestamp lies within
//!   `message.timestamp.before.max.ms` / `message.timestamp.after.max.ms` of the
//!   broker's clock and none is i64::MAX; only the broker may set LogAppendTime;
//! * the header's max_timestamp is the largest record timestamp: a batch that
//!   says otherwise is not refused, its returned header carries the right value
//!   for the caller to write (Kafka's LogValidator rewrites it too);
//! * compressed sections decompress, to exactly the records claimed, streamed
//!   through a bounded buffer (see `stream`).
//!
//! Keys and timestamps are about one record, not the batch's framing: every record
//! is checked and all the refused ones are reported together (KIP-467's
//! per-record errors, see `rejected`). The walk allocates nothing per accepted
//! record and runs outside the partition lock.

use super::header::validate_batches;
use super::records::{read_record, Cursor, RecordSource};
use super::stream::{is_xerial, lz4_frames_complete, snappy_raw_into, StreamSource, XerialReader};
use super::{
    BatchHeader, Compression, RecordDefect, RecordError, Rejections, TimestampType,
    BATCH_HEADER_BYTES,
};

/// A record without a timestamp (Kafka's `RecordBatch.NO_TIMESTAMP`): never
/// range-checked.
const NO_TIMESTAMP: i64 = -1;

/// The topic settings the record checks depend on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RecordRules {
    /// The topic's `message.timestamp.type`. Producer timestamps are only checked
    /// on CreateTime topics: LogAppendTime topics replace them.
    pub timestamp_type: TimestampType,
    /// `message.timestamp.before.max.ms`: how far behind the broker's clock a
    /// timestamp may be, in ms (i64::MAX: no limit).
    pub timestamp_before_max_ms: i64,
    /// `message.timestamp.after.max.ms`: how far ahead of the broker's clock a
    /// timestamp may be, in ms.
    pub timestamp_after_max_ms: i64,
    /// The topic is compacted: every record needs a key.
    pub require_keys: bool,
}

/// Validates the batches of a produce request's `records`: first each batch's
/// header and CRC ([`validate_batches`]), then every record of each batch as
/// described in the module docs, with `now_ms` as the broker's clock. Returns the
/// headers as they must be stored: a CreateTime batch's `max_timestamp` is its
/// largest record timestamp, which differs from the bytes when the producer got
/// it wrong (see `record::set_max_timestamp`). Errors name the failing record's index where there is one
/// ([`RecordError::record_index`]). Never panics.
pub fn validate_produced_records(
    records: &[u8],
    rules: &RecordRules,
    now_ms: i64,
) -> Result<Vec<BatchHeader>, RecordError> {
    let mut headers = validate_batches(records)?;
    let mut rest = records;
    for h in headers.iter_mut() {
        // validate_batches checked that each batch lies within `records`.
        let total = usize::try_from(h.total_bytes()).unwrap_or(usize::MAX);
        let section = rest
            .get(BATCH_HEADER_BYTES..total)
            .ok_or(RecordError::Truncated {
                needed: total,
                available: rest.len(),
            })?;
        h.max_timestamp = check_batch(h, section, rules, now_ms)?;
        rest = rest.get(total..).unwrap_or_default();
    }
    Ok(headers)
}

/// Walks one batch's records section, decoding it as its codec says.
fn check_batch(
    h: &BatchHeader,
    section: &[u8],
    rules: &RecordRules,
    now_ms: i64,
) -> Result<i64, RecordError> {
    let first = |defect| RecordError::InvalidRecordAt { index: 0, defect };
    match h.try_compression()? {
        Compression::None => walk(h, &mut Cursor::new(section), rules, now_ms),
        Compression::Gzip => {
            // Java's GZIPInputStream reads concatenated members, so this does too.
            let decoder = flate2::bufread::MultiGzDecoder::new(section);
            walk(h, &mut StreamSource::new(decoder), rules, now_ms)
        }
        Compression::Snappy if is_xerial(section) => {
            let reader = XerialReader::new(section);
            walk(h, &mut StreamSource::new(reader), rules, now_ms)
        }
        Compression::Snappy => {
            let mut body = Vec::new();
            snappy_raw_into(section, &mut body).map_err(first)?;
            walk(h, &mut Cursor::new(&body), rules, now_ms)
        }
        Compression::Lz4 => {
            lz4_frames_complete(section).map_err(first)?;
            let decoder = lz4_flex::frame::FrameDecoder::new(section);
            walk(h, &mut StreamSource::new(decoder), rules, now_ms)
        }
        Compression::Zstd => {
            let decoder = zstd::stream::read::Decoder::with_buffer(section)
                .map_err(|e| first(RecordDefect::Decompress(e.to_string())))?;
            walk(h, &mut StreamSource::new(decoder), rules, now_ms)
        }
    }
}

/// The one pass over a batch's records. Returns the max_timestamp the batch
/// must carry. A record that can be read but is not acceptable (see
/// [`RecordDefect::is_per_record`]) does not stop the walk: like Kafka, every
/// such record is gathered and the batch refused with all of them
/// ([`RecordError::Rejected`]); a record that cannot be read stops it at once.
fn walk<S: RecordSource>(
    h: &BatchHeader,
    src: &mut S,
    rules: &RecordRules,
    now_ms: i64,
) -> Result<i64, RecordError> {
    let window = Window::new(rules, now_ms);
    let create_time_batch = h.timestamp_type() == TimestampType::CreateTime;
    let check_timestamps = rules.timestamp_type == TimestampType::CreateTime;
    // Kafka reads the batch's max_timestamp as the timestamp of every record of a
    // LogAppendTime batch: on a CreateTime topic that one is range-checked, on a
    // LogAppendTime topic the producer had no business setting the type. Either
    // way the verdict is the same for every record.
    let batch_defect = match (create_time_batch, h.records_count > 0) {
        (false, true) if check_timestamps && h.max_timestamp != NO_TIMESTAMP => {
            window.check(h.max_timestamp).err()
        }
        (false, true) => Some(RecordDefect::LogAppendTimeFromProducer),
        _ => None,
    };
    let require_key = rules.require_keys && !h.is_control();
    let mut rejected = Rejections::default();
    let mut max_timestamp = i64::MIN;
    for index in 0..h.records_count {
        let at = |defect| RecordError::InvalidRecordAt { index, defect };
        if src.at_end().map_err(at)? {
            return Err(at(RecordDefect::Missing {
                claimed: h.records_count,
            }));
        }
        let r = read_record(src).map_err(at)?;
        if r.offset_delta != index {
            return Err(at(RecordDefect::OffsetDelta {
                found: r.offset_delta,
                expected: index,
            }));
        }
        let offset = h.base_offset.saturating_add(i64::from(index));
        // One refusal per record, the key first, as Kafka checks them.
        let mut defect = (require_key && r.key.is_none()).then_some(RecordDefect::NoKey);
        if create_time_batch {
            match h.base_timestamp.checked_add(r.timestamp_delta) {
                Some(ts) => {
                    max_timestamp = max_timestamp.max(ts);
                    if check_timestamps && defect.is_none() {
                        defect = window.check(ts).err();
                    }
                }
                None => {
                    let wrapped = h.base_timestamp.wrapping_add(r.timestamp_delta);
                    defect = defect.or(Some(RecordDefect::InvalidTimestamp(wrapped)));
                }
            }
        } else if defect.is_none() {
            defect = batch_defect.clone();
        }
        if let Some(defect) = defect {
            rejected.push(index, offset, defect);
        }
    }
    match src.at_end() {
        Ok(true) => {}
        Ok(false) => {
            return Err(RecordError::BytesAfterRecords {
                records_count: h.records_count,
            })
        }
        // The records all arrived, but the compressed stream is broken after them.
        Err(d) => return Err(RecordError::Decompress(d.to_string())),
    }
    if !rejected.is_empty() {
        return Err(RecordError::Rejected(rejected));
    }
    if create_time_batch && h.records_count > 0 {
        return Ok(max_timestamp);
    }
    Ok(h.max_timestamp)
}

/// The timestamps a CreateTime topic accepts, in ms, around the broker's clock.
struct Window {
    min: i64,
    max: i64,
}

impl Window {
    fn new(rules: &RecordRules, now_ms: i64) -> Window {
        Window {
            min: now_ms.saturating_sub(rules.timestamp_before_max_ms.max(0)),
            max: now_ms.saturating_add(rules.timestamp_after_max_ms.max(0)),
        }
    }

    fn check(&self, timestamp: i64) -> Result<(), RecordDefect> {
        if timestamp == i64::MAX {
            return Err(RecordDefect::InvalidTimestamp(timestamp));
        }
        if timestamp == NO_TIMESTAMP || (self.min..=self.max).contains(&timestamp) {
            return Ok(());
        }
        Err(RecordDefect::TimestampOutOfRange {
            timestamp,
            min: self.min,
            max: self.max,
        })
    }
}
