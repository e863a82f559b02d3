//! KIP-467 per-record refusals: every keyless or out-of-range record of a batch
//! is named, in index order, with Kafka's code and words; framing damage still
//! stops the walk with no list.

use super::test_util::build_batch;
use super::test_util::*;
use super::*;
use crate::error::record_error_code;

/// The broker's clock in these tests, in ms.
const NOW: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;
const INVALID_RECORD: i16 = 87;
const INVALID_TIMESTAMP: i16 = 32;

fn rules(require_keys: bool) -> RecordRules {
    RecordRules {
        timestamp_type: TimestampType::CreateTime,
        timestamp_before_max_ms: HOUR_MS,
        timestamp_after_max_ms: HOUR_MS,
        require_keys,
    }
}

/// `n` keyed records at NOW, with the keys of `keyless` removed.
fn recs(n: usize, keyless: &[usize]) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let key = format!("k{i}");
            let key = (!keyless.contains(&i)).then_some(key.as_bytes());
            TestRecord::new(key, Some(b"v"), NOW)
        })
        .collect()
}

fn rejections(err: RecordError) -> Rejections {
    match err {
        RecordError::Rejected(r) => r,
        other => panic!("expected per-record refusals, got {other}"),
    }
}

fn indexes(r: &Rejections) -> Vec<i32> {
    r.records().iter().map(|r| r.index).collect()
}

#[test]
fn every_keyless_record_is_named_in_order() {
    let keyless = [0, 7, 8, 42, 99];
    for codec in Compression::ALL {
        let b = build_batch(codec, &recs(100, &keyless));
        let err = validate_produced_records(&b, &rules(true), NOW).unwrap_err();
        assert_eq!(record_error_code(&err), INVALID_RECORD, "{codec:?}");
        assert_eq!(err.record_index(), Some(0));
        let r = rejections(err);
        assert_eq!(indexes(&r), vec![0, 7, 8, 42, 99], "{codec:?}");
        assert_eq!(r.total(), 5);
        assert!(!r.is_timestamp());
        let msg = Rejections::record_message(&r.records()[1], Some("t-0"));
        assert_eq!(
            msg,
            "Compacted topic cannot accept message without key in topic partition t-0"
        );
        let summary = r.summary(Some("t-0"));
        assert!(
            summary.starts_with(
                "One or more records have been rejected due to 5 record errors in total, \
                 and only showing the first three errors at most: [RecordError(batchIndex=0, \
                 message='Compacted topic cannot accept message without key in topic partition t-0'), "
            ),
            "{summary}"
        );
        assert_eq!(summary.matches("RecordError(").count(), 3, "{summary}");
    }
}

#[test]
fn timestamps_out_of_range_are_named_and_make_the_batch_invalid_timestamp() {
    let mut records = recs(10, &[4]);
    records[2].timestamp = NOW - 2 * HOUR_MS;
    records[6].timestamp = NOW + 2 * HOUR_MS;
    // Record 4 has no key and an old timestamp: the key is reported, once.
    records[4].timestamp = NOW - 3 * HOUR_MS;
    let b = build_batch_with(Compression::Zstd, &records, 0, 0);
    let err = validate_produced_records(&b, &rules(true), NOW).unwrap_err();
    assert_eq!(record_error_code(&err), INVALID_TIMESTAMP);
    let r = rejections(err);
    assert_eq!(indexes(&r), vec![2, 4, 6]);
    assert_eq!(r.records()[1].defect, RecordDefect::NoKey);
    assert_eq!(
        Rejections::record_message(&r.records()[0], Some("t-0")),
        format!(
            "Timestamp {} of message with offset 2 is out of range. \
             The timestamp should be within [{}, {}]",
            NOW - 2 * HOUR_MS,
            NOW - HOUR_MS,
            NOW + HOUR_MS
        )
    );
    assert_eq!(
        r.summary(Some("t-0")),
        "One or more records have been rejected due to invalid timestamp"
    );
}

#[test]
fn a_log_append_time_batch_names_every_record() {
    let b = build_batch_with(Compression::None, &recs(4, &[]), 0, 0x08);
    let lat = RecordRules {
        timestamp_type: TimestampType::LogAppendTime,
        ..rules(false)
    };
    let r = rejections(validate_produced_records(&b, &lat, NOW).unwrap_err());
    assert_eq!(indexes(&r), vec![0, 1, 2, 3]);
    assert!(r
        .records()
        .iter()
        .all(|r| r.defect == RecordDefect::LogAppendTimeFromProducer));
    assert!(Rejections::record_message(&r.records()[3], None)
        .ends_with("Producer should not set timestamp type to LogAppendTime."));
}

#[test]
fn framing_damage_after_a_keyless_record_wins_with_no_list() {
    let records = recs(3, &[0]);
    // Offset deltas 0, 1, 5: record 2 cannot be placed, whatever came before.
    let body: Vec<u8> = records
        .iter()
        .zip([0, 1, 5])
        .flat_map(|(r, d)| encode_record(d, 0, r))
        .collect();
    let f = BatchFields {
        records_count: 3,
        last_offset_delta: 2,
        base_timestamp: NOW,
        max_timestamp: NOW,
        extra_attributes: 0,
    };
    let b = assemble_batch(Compression::None, &body, f);
    let err = validate_produced_records(&b, &rules(true), NOW).unwrap_err();
    assert!(
        matches!(
            err,
            RecordError::InvalidRecordAt {
                index: 2,
                defect: RecordDefect::OffsetDelta { .. }
            }
        ),
        "{err}"
    );
}

#[test]
fn names_stop_at_the_limit_but_the_count_does_not() {
    let n = MAX_NAMED_RECORDS + 25;
    let all: Vec<usize> = (0..n).collect();
    let b = build_batch(Compression::Lz4, &recs(n, &all));
    let r = rejections(validate_produced_records(&b, &rules(true), NOW).unwrap_err());
    assert_eq!(r.records().len(), MAX_NAMED_RECORDS);
    assert_eq!(r.total(), n as u64);
    assert_eq!(
        r.records().last().map(|r| r.index),
        Some(MAX_NAMED_RECORDS as i32 - 1)
    );
    assert!(r
        .summary(None)
        .contains(&format!("due to {n} record errors")));
}
