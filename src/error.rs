//! Mapping of internal failures to Kafka error codes.
//!
//! Library modules return `thiserror` enums; the handlers turn each
//! per-partition failure into the code a Kafka client acts on. Every mapping
//! here goes through [`refuse`], so the reason behind a code is logged at debug
//! once, where it is known, rather than only the bare code reaching the client.

use kafka_protocol::error::ResponseError;

use crate::log::producer_state::ProducerError;
use crate::log::LogError;
use crate::record::RecordError;

/// The Kafka error code for a log failure.
pub fn log_error_code(err: &LogError) -> i16 {
    let kind = match err {
        LogError::OffsetOutOfRange { .. } => ResponseError::OffsetOutOfRange,
        LogError::CorruptMessage(_) => ResponseError::CorruptMessage,
        LogError::MessageTooLarge { .. } => ResponseError::MessageTooLarge,
        LogError::RecordListTooLarge { .. } => ResponseError::RecordListTooLarge,
        LogError::InvalidRecord(_) => ResponseError::InvalidRecord,
        LogError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
        LogError::Producer(ProducerError::StaleEpoch { .. }) => ResponseError::InvalidProducerEpoch,
        LogError::Producer(ProducerError::OutOfOrder { .. }) => {
            ResponseError::OutOfOrderSequenceNumber
        }
        LogError::CorruptLog { .. } | LogError::Io(_) | LogError::Offline { .. } => {
            ResponseError::KafkaStorageError
        }
    };
    refuse(kind, format_args!("{err}"))
}

/// The Kafka error code for bytes refused as record batches, as Kafka answers:
/// framing and CRC damage is CORRUPT_MESSAGE (a retriable transport fault), an
/// old message format UNSUPPORTED_FOR_MESSAGE_FORMAT, a record timestamp the topic
/// does not accept INVALID_TIMESTAMP, and any other well-framed batch whose records
/// are wrong INVALID_RECORD (not retriable: sending it again cannot help).
pub fn record_error_code(err: &RecordError) -> i16 {
    let kind = match err {
        RecordError::UnsupportedMagic(_) => ResponseError::UnsupportedForMessageFormat,
        e if e.is_corruption() => ResponseError::CorruptMessage,
        RecordError::InvalidRecordAt { defect, .. } if defect.is_timestamp() => {
            ResponseError::InvalidTimestamp
        }
        RecordError::Rejected(r) if r.is_timestamp() => ResponseError::InvalidTimestamp,
        _ => ResponseError::InvalidRecord,
    };
    refuse(kind, format_args!("{err}"))
}

/// Shorthand for a response error's code.
pub fn code(err: ResponseError) -> i16 {
    err.code()
}

/// Refuses a request (or one partition or member of it) with `err`, logging at
/// debug why: the client sees only the code, so this line is where a user finds
/// which value was wrong and what was allowed. The request's span (API, version,
/// client id, correlation id; see `handler::handle_frame`) prefixes the line.
pub fn refuse(err: ResponseError, why: std::fmt::Arguments<'_>) -> i16 {
    tracing::debug!(code = err.code(), error = ?err, reason = %why, "refused");
    err.code()
}

/// Longest prefix of a client-supplied string that log lines quote, in bytes:
/// enough to recognise an id, not so much that a 40,000-byte one floods the log.
pub const LOGGED_PREFIX_BYTES: usize = 64;

/// The first [`LOGGED_PREFIX_BYTES`] bytes of `s`, cut at a character boundary.
pub fn prefix(s: &str) -> &str {
    let mut end = s.len().min(LOGGED_PREFIX_BYTES);
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prefix_is_bounded_and_cut_at_a_char_boundary() {
        assert_eq!(prefix("short"), "short");
        assert_eq!(prefix(&"g".repeat(40_000)).len(), LOGGED_PREFIX_BYTES);
        // 63 ASCII bytes then a 2-byte character straddling the limit.
        let s = format!("{}é tail", "a".repeat(LOGGED_PREFIX_BYTES - 1));
        assert_eq!(prefix(&s), "a".repeat(LOGGED_PREFIX_BYTES - 1));
    }

    #[test]
    fn refuse_returns_the_code() {
        assert_eq!(
            refuse(ResponseError::InvalidGroupId, format_args!("empty")),
            ResponseError::InvalidGroupId.code()
        );
    }
}
