//! Mapping of internal failures to Kafka error codes.
//!
//! Library modules return `thiserror` enums; the handlers turn each
//! per-partition failure into the code a Kafka client acts on.

use kafka_protocol::error::ResponseError;

use crate::log::producer_state::ProducerError;
use crate::log::LogError;

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
    kind.code()
}

/// Shorthand for a response error's code.
pub fn code(err: ResponseError) -> i16 {
    err.code()
}
