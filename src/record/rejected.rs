//! The records of a produced batch that Kafka's LogValidator refuses one by one
//! (KIP-467).
//!
//! Some checks are about one record, not the batch's framing: a keyless record
//! on a compacted topic, a timestamp outside `message.timestamp.before.max.ms` /
//! `after.max.ms`, a LogAppendTime batch from a producer. Kafka still refuses the
//! whole batch, but it walks every record, and ProduceResponse v8+ names each
//! refused one (`record_errors`: its index in the batch and why). librdkafka then
//! fails exactly those records with the partition's error and the others with
//! `_INVALID_DIFFERENT_RECORD`, so an application learns which message was bad
//! instead of losing all of them to one error. [`Rejections`] is that list,
//! gathered by `validate::walk`; framing damage stays a plain
//! [`RecordError`](super::RecordError) with no list, as in Kafka, because once a
//! record cannot be read nothing after it can be trusted.

use std::fmt;

use super::RecordDefect;

/// Most refused records one batch's answer names, in records. Kafka names them
/// all, but a compressed batch may inflate to millions of tiny records and each
/// named one costs its message in memory and in the response (about 130 bytes);
/// librdkafka's default `batch.num.messages` is 10,000, so its batches are
/// always named in full. Refused records past the limit are still counted in
/// the partition's error message; a client reports them as failed because of a
/// different record, and they are refused by name if it sends them again.
pub const MAX_NAMED_RECORDS: usize = 10_000;

/// Records named in the partition-level `error_message`, as Kafka does ("only
/// showing the first three errors at most").
const SUMMARY_RECORDS: usize = 3;

/// One refused record of a batch.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RejectedRecord {
    /// 0-based position in the batch: KIP-467's `batch_index`.
    pub index: i32,
    /// The offset the producer gave it (batch base offset plus the record's
    /// offset delta), which Kafka's timestamp message quotes.
    pub offset: i64,
    pub defect: RecordDefect,
}

/// The refused records of one batch, in index order (librdkafka matches them
/// against its messages in one forward pass, so the order matters).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Rejections {
    named: Vec<RejectedRecord>,
    /// Refused records, named or not.
    total: u64,
    /// Some refusal is about a timestamp: Kafka answers INVALID_TIMESTAMP for
    /// the batch then, INVALID_RECORD otherwise.
    timestamp: bool,
}

impl Rejections {
    /// Records a refusal; call in index order.
    pub(crate) fn push(&mut self, index: i32, offset: i64, defect: RecordDefect) {
        self.total = self.total.saturating_add(1);
        self.timestamp |= defect.is_timestamp();
        if self.named.len() < MAX_NAMED_RECORDS {
            self.named.push(RejectedRecord {
                index,
                offset,
                defect,
            });
        }
    }

    pub fn is_empty(&self) -> bool {
        self.total == 0
    }

    /// The named refusals (at most [`MAX_NAMED_RECORDS`]), in index order.
    pub fn records(&self) -> &[RejectedRecord] {
        &self.named
    }

    /// Every refused record of the batch, named or not.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Whether the batch is refused as INVALID_TIMESTAMP (else INVALID_RECORD).
    pub fn is_timestamp(&self) -> bool {
        self.timestamp
    }

    /// Why `r` is refused, in the words Kafka's LogValidator uses, so tools that
    /// match them keep working; `partition` ("topic-0") where Kafka names it.
    pub fn record_message(r: &RejectedRecord, partition: Option<&str>) -> String {
        let suffix = partition
            .map(|tp| format!(" in topic partition {tp}"))
            .unwrap_or_default();
        match &r.defect {
            RecordDefect::NoKey => format!("{}{suffix}", r.defect),
            RecordDefect::TimestampOutOfRange {
                timestamp,
                min,
                max,
            } => format!(
                "Timestamp {timestamp} of message with offset {} is out of range. \
                 The timestamp should be within [{min}, {max}]",
                r.offset
            ),
            RecordDefect::LogAppendTimeFromProducer => format!(
                "Invalid timestamp type in message with offset {}. {}.",
                r.offset, r.defect
            ),
            RecordDefect::InvalidTimestamp(ts) => format!(
                "Timestamp {ts} of message with offset {} is not a valid timestamp",
                r.offset
            ),
            other => format!("record {} of the batch: {other}{suffix}", r.index),
        }
    }

    /// The partition's `error_message`, shaped as Kafka's: a fixed sentence for
    /// timestamps, else the count and the first three refusals.
    pub fn summary(&self, partition: Option<&str>) -> String {
        if self.timestamp {
            return "One or more records have been rejected due to invalid timestamp".into();
        }
        let first: Vec<String> = self
            .named
            .iter()
            .take(SUMMARY_RECORDS)
            .map(|r| {
                format!(
                    "RecordError(batchIndex={}, message='{}')",
                    r.index,
                    Self::record_message(r, partition)
                )
            })
            .collect();
        format!(
            "One or more records have been rejected due to {} record errors in total, \
             and only showing the first three errors at most: [{}]",
            self.total,
            first.join(", ")
        )
    }
}

impl fmt::Display for Rejections {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.summary(None))
    }
}
