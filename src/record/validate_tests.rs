//! Produce validation: every poison batch is refused with the failing record's
//! index and the code Kafka gives it, and valid batches of every codec pass. Every
//! crafted batch carries a correct CRC, so only the record-level checks can catch it.

use std::io::Write;

use super::test_util::build_batch;
use super::test_util::*;
use super::*;
use crate::error::record_error_code;

/// The broker's clock in these tests, in ms.
const NOW: i64 = 1_700_000_000_000;
const HOUR_MS: i64 = 3_600_000;
const INVALID_RECORD: i16 = 87;
const CORRUPT_MESSAGE: i16 = 2;
const INVALID_TIMESTAMP: i16 = 32;

const CODECS: [Compression; 5] = Compression::ALL;

/// Kafka 4.1's defaults on a CreateTime, delete-policy topic.
fn rules() -> RecordRules {
    RecordRules {
        timestamp_type: TimestampType::CreateTime,
        timestamp_before_max_ms: i64::MAX,
        timestamp_after_max_ms: HOUR_MS,
        require_keys: false,
    }
}

fn check(batch: &[u8]) -> Result<Vec<BatchHeader>, RecordError> {
    validate_produced_records(batch, &rules(), NOW)
}

fn recs(n: usize) -> Vec<TestRecord> {
    (0..n)
        .map(|i| {
            let key = format!("k{i}");
            let value = format!("value-{i}");
            TestRecord::new(Some(key.as_bytes()), Some(value.as_bytes()), NOW + i as i64)
        })
        .collect()
}

/// The uncompressed records section of `recs` with the given offset deltas.
fn body_with_deltas(recs: &[TestRecord], deltas: &[i64]) -> Vec<u8> {
    let base = recs[0].timestamp;
    recs.iter()
        .zip(deltas)
        .flat_map(|(r, d)| encode_record(*d, r.timestamp - base, r))
        .collect()
}

fn body(recs: &[TestRecord]) -> Vec<u8> {
    let deltas: Vec<i64> = (0..recs.len() as i64).collect();
    body_with_deltas(recs, &deltas)
}

/// Honest header fields for `n` records starting at `NOW`, ts `NOW + i`.
fn fields(n: i32) -> BatchFields {
    BatchFields {
        records_count: n,
        last_offset_delta: n - 1,
        base_timestamp: NOW,
        max_timestamp: NOW + i64::from(n) - 1,
        extra_attributes: 0,
    }
}

/// Asserts `r` is a refusal of record `index` for which `defect` holds, with `code`.
fn assert_record_error(
    r: Result<Vec<BatchHeader>, RecordError>,
    index: i32,
    code: i16,
    defect: impl Fn(&RecordDefect) -> bool,
    what: &str,
) {
    let err = r.expect_err(what);
    assert_eq!(err.record_index(), Some(index), "{what}: {err}");
    assert_eq!(record_error_code(&err), code, "{what}: {err}");
    match &err {
        RecordError::InvalidRecordAt { defect: d, .. } => assert!(defect(d), "{what}: {err}"),
        RecordError::Rejected(r) => assert!(defect(&r.records()[0].defect), "{what}: {err}"),
        other => panic!("{what}: {other}"),
    }
}

#[test]
fn valid_batches_of_every_codec_pass() {
    let mut records = recs(50);
    records[3].headers = vec![(b"h".to_vec(), None), (b"h2".to_vec(), Some(b"x".to_vec()))];
    records[7].value = None;
    records[9].key = Some(Vec::new());
    for codec in CODECS {
        let b = build_batch(codec, &records);
        let headers = check(&b).unwrap_or_else(|e| panic!("{codec:?}: {e}"));
        assert_eq!(headers.len(), 1);
        assert_eq!(headers[0].records_count, 50);
        // Keys are all present, so a compacted topic takes it too.
        let compacted = RecordRules {
            require_keys: true,
            ..rules()
        };
        validate_produced_records(&b, &compacted, NOW).unwrap();
    }
    // Raw snappy, as librdkafka sends it, as well as xerial.
    let raw = snap::raw::Encoder::new()
        .compress_vec(&body(&records))
        .unwrap();
    check(&assemble_raw(Compression::Snappy, &raw, fields(50))).unwrap();
    // Records without timestamps are never range-checked.
    let mut untimed = recs(2);
    for r in &mut untimed {
        r.timestamp = -1;
    }
    check(&build_batch(Compression::None, &untimed)).unwrap();
}

#[test]
fn garbage_body_with_valid_crc_is_refused() {
    let good = build_batch(Compression::None, &recs(3));
    let mut b = good.clone();
    for (i, x) in b[BATCH_HEADER_BYTES..].iter_mut().enumerate() {
        *x = (i as u8).wrapping_mul(37) ^ 0x5a;
    }
    recompute_crc(&mut b);
    validate_batches(&b).expect("the header and CRC are fine");
    let err = check(&b).unwrap_err();
    assert_eq!(err.record_index(), Some(0), "{err}");
    assert_eq!(record_error_code(&err), INVALID_RECORD, "{err}");
}

#[test]
fn a_record_count_of_i32_max_is_refused_at_the_first_missing_record() {
    let f = BatchFields {
        records_count: i32::MAX,
        last_offset_delta: i32::MAX - 1,
        ..fields(3)
    };
    for codec in CODECS {
        let b = assemble_batch(codec, &body(&recs(3)), f);
        assert_record_error(
            check(&b),
            3,
            INVALID_RECORD,
            |d| *d == RecordDefect::Missing { claimed: i32::MAX },
            &format!("{codec:?}"),
        );
    }
}

#[test]
fn fewer_records_than_claimed_are_refused() {
    for codec in CODECS {
        let b = assemble_batch(codec, &body(&recs(2)), fields(3));
        assert_record_error(
            check(&b),
            2,
            INVALID_RECORD,
            |d| matches!(d, RecordDefect::Missing { claimed: 3 }),
            &format!("{codec:?}"),
        );
    }
}

#[test]
fn more_records_than_claimed_are_refused() {
    for codec in CODECS {
        let mut f = fields(2);
        f.max_timestamp = NOW + 1;
        let b = assemble_batch(codec, &body(&recs(3)), f);
        let err = check(&b).unwrap_err();
        assert_eq!(
            err,
            RecordError::BytesAfterRecords { records_count: 2 },
            "{codec:?}"
        );
        assert_eq!(record_error_code(&err), INVALID_RECORD);
    }
}

#[test]
fn offset_deltas_must_count_from_zero() {
    let r = recs(3);
    for (deltas, index, found) in [
        (&[0, 0, 0][..], 1, 0),
        (&[0, 2, 3][..], 1, 2),
        (&[0, 1, 1][..], 2, 1),
        (&[1, 2, 3][..], 0, 1),
        (&[0, -1, 2][..], 1, -1),
    ] {
        for codec in CODECS {
            let b = assemble_batch(codec, &body_with_deltas(&r, deltas), fields(3));
            assert_record_error(
                check(&b),
                index,
                INVALID_RECORD,
                |d| {
                    *d == RecordDefect::OffsetDelta {
                        found,
                        expected: index,
                    }
                },
                &format!("{codec:?} {deltas:?}"),
            );
        }
    }
}

#[test]
fn last_offset_delta_must_match_the_count() {
    let mut f = fields(3);
    f.last_offset_delta = 5;
    let b = assemble_batch(Compression::None, &body(&recs(3)), f);
    let err = check(&b).unwrap_err();
    assert!(
        matches!(err, RecordError::InconsistentOffsets { .. }),
        "{err}"
    );
    assert_eq!(record_error_code(&err), INVALID_RECORD);
}

/// A record section with record 1 replaced by `bad` (bytes from its length on).
fn with_second_record(bad: &[u8]) -> Vec<u8> {
    let r = recs(3);
    let mut out = encode_record(0, 0, &r[0]);
    out.extend_from_slice(bad);
    out.extend_from_slice(&encode_record(2, 2, &r[2]));
    out
}

#[test]
fn bad_varints_and_lengths_are_refused() {
    let honest = encode_record(1, 1, &recs(2)[1]);
    let mut key_too_long = honest.clone();
    key_too_long[4] = 0x7e; // key length 63 in a record of a dozen bytes
    let mut size_too_long = honest.clone();
    size_too_long[0] += 2;
    let mut size_too_short = honest.clone();
    size_too_short[0] -= 2;
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("size varint of 11 bytes", [0xffu8; 11].to_vec()),
        (
            "size varint over 32 bits",
            vec![0xff, 0xff, 0xff, 0xff, 0x7f],
        ),
        ("negative size", vec![0x01, 0, 0, 2, 1, 1, 0]),
        (
            "timestamp varlong too long",
            [&[20u8, 0][..], &[0xff; 11][..]].concat(),
        ),
        (
            "offset varint too long",
            [&[20u8, 0, 2][..], &[0xff; 6][..]].concat(),
        ),
        ("key length beyond the record", key_too_long),
        ("size beyond the fields", size_too_long),
        ("size short of the fields", size_too_short),
        ("negative key length", vec![12, 0, 2, 2, 0x03, 0, 0]),
        ("negative header count", vec![12, 0, 2, 2, 1, 1, 0x03]),
        ("null header key", vec![16, 0, 2, 2, 1, 1, 2, 1, 1]),
        (
            "section ends inside a record",
            honest[..honest.len() - 3].to_vec(),
        ),
    ];
    for (what, bad) in cases {
        for codec in CODECS {
            let section = with_second_record(&bad);
            let b = assemble_batch(codec, &section, fields(3));
            assert_record_error(
                check(&b),
                1,
                INVALID_RECORD,
                |d| matches!(d, RecordDefect::Malformed(_)),
                &format!("{codec:?}: {what}"),
            );
        }
    }
}

#[test]
fn trailing_bytes_after_the_last_record_are_refused() {
    for codec in CODECS {
        let mut section = body(&recs(3));
        section.extend_from_slice(&[0, 0]);
        let b = assemble_batch(codec, &section, fields(3));
        assert_eq!(
            check(&b).unwrap_err(),
            RecordError::BytesAfterRecords { records_count: 3 },
            "{codec:?}"
        );
    }
}

#[test]
fn sections_that_do_not_decompress_are_refused() {
    let plain = body(&recs(3));
    let junk: Vec<u8> = (0..200u32).map(|i| (i * 89 % 253) as u8).collect();
    for codec in CODECS.into_iter().skip(1) {
        let valid = compress(codec, &plain).unwrap();
        // (A flipped byte may decode to other valid records: lz4, zstd and snappy
        // carry no checksum as Kafka's clients write them.)
        let truncated = valid[..valid.len() - 4].to_vec();
        for (what, section) in [("junk", &junk), ("truncated", &truncated)] {
            let b = assemble_raw(codec, section, fields(3));
            let err = check(&b).expect_err(&format!("{codec:?} {what}"));
            // Whatever the damage decodes to, it is refused as INVALID_RECORD.
            assert_eq!(
                record_error_code(&err),
                INVALID_RECORD,
                "{codec:?} {what}: {err}"
            );
        }
        let b = assemble_raw(codec, &junk, fields(3));
        assert_record_error(
            check(&b),
            0,
            INVALID_RECORD,
            |d| matches!(d, RecordDefect::Decompress(_)),
            &format!("{codec:?} junk"),
        );
    }
    // Garbage after a complete compressed stream.
    for codec in [Compression::Gzip, Compression::Lz4, Compression::Zstd] {
        let mut section = compress(codec, &plain).unwrap();
        section.extend_from_slice(b"trailing junk!");
        let err = check(&assemble_raw(codec, &section, fields(3))).unwrap_err();
        // Found after the records by the decoder, or up front by the lz4 frame walk.
        let decompress = matches!(
            &err,
            RecordError::Decompress(_)
                | RecordError::InvalidRecordAt {
                    defect: RecordDefect::Decompress(_),
                    ..
                }
        );
        assert!(decompress, "{codec:?}: {err}");
        assert_eq!(record_error_code(&err), INVALID_RECORD);
    }
}

#[test]
fn a_raw_snappy_block_claiming_more_than_snappy_encodes_is_refused() {
    // Length preamble 256 MiB, then a few bytes: refused before any allocation.
    let mut section = Vec::new();
    put_varlong(&mut section, 128 * 1024 * 1024); // zigzag doubles it: 256 MiB unsigned
    section.extend_from_slice(&[0u8; 8]);
    let err = check(&assemble_raw(Compression::Snappy, &section, fields(1))).unwrap_err();
    assert_eq!(err.record_index(), Some(0), "{err}");
}

#[test]
fn decompression_bombs_stop_at_the_cap() {
    // One record whose value is MAX_DECOMPRESSED_BYTES of zeros: a tiny zstd
    // stream that would inflate past the cap. Streamed in, never materialised.
    let value_len = MAX_DECOMPRESSED_BYTES;
    let mut head = vec![0u8, 0, 0, 1]; // attributes, ts delta, offset delta, null key
    put_varlong(&mut head, value_len as i64);
    let size = head.len() + value_len + 1;
    let mut prefix = Vec::new();
    put_varlong(&mut prefix, size as i64);
    prefix.extend_from_slice(&head);
    let mut enc = zstd::stream::write::Encoder::new(Vec::new(), 3).unwrap();
    enc.write_all(&prefix).unwrap();
    let zeros = vec![0u8; 1 << 20];
    for _ in 0..value_len >> 20 {
        enc.write_all(&zeros).unwrap();
    }
    enc.write_all(&[0]).unwrap(); // header count
    let section = enc.finish().unwrap();
    assert!(section.len() < 1 << 20, "{} bytes", section.len());
    let mut f = fields(1);
    f.max_timestamp = NOW;
    let b = assemble_raw(Compression::Zstd, &section, f);
    assert_record_error(
        check(&b),
        0,
        INVALID_RECORD,
        |d| matches!(d, RecordDefect::TooLarge { .. }),
        "zstd bomb",
    );
}

/// One record at `ts`, CreateTime, header max_timestamp honest.
fn at(ts: i64) -> Vec<u8> {
    build_batch(
        Compression::None,
        &[TestRecord::new(Some(b"k"), Some(b"v"), ts)],
    )
}

#[test]
fn timestamps_outside_the_window_are_refused() {
    check(&at(NOW + HOUR_MS)).unwrap();
    check(&at(NOW + 30 * 60 * 1000)).unwrap();
    check(&at(1000)).expect("before.max.ms is unlimited by default");
    assert_record_error(
        check(&at(NOW + 2 * HOUR_MS)),
        0,
        INVALID_TIMESTAMP,
        |d| {
            *d == RecordDefect::TimestampOutOfRange {
                timestamp: NOW + 2 * HOUR_MS,
                min: NOW - i64::MAX,
                max: NOW + HOUR_MS,
            }
        },
        "two hours ahead",
    );
    let strict = RecordRules {
        timestamp_before_max_ms: HOUR_MS,
        ..rules()
    };
    let r = validate_produced_records(&at(NOW - 2 * HOUR_MS), &strict, NOW);
    assert_record_error(
        r,
        0,
        INVALID_TIMESTAMP,
        |d| matches!(d, RecordDefect::TimestampOutOfRange { .. }),
        "two hours behind",
    );
    // The failing record's index, not the first one's.
    let mut records = recs(4);
    records[2].timestamp = NOW + 3 * HOUR_MS;
    assert_record_error(
        check(&build_batch(Compression::Lz4, &records)),
        2,
        INVALID_TIMESTAMP,
        |d| matches!(d, RecordDefect::TimestampOutOfRange { .. }),
        "third record ahead",
    );
    // LogAppendTime topics replace producer timestamps: nothing to check.
    let lat = RecordRules {
        timestamp_type: TimestampType::LogAppendTime,
        ..rules()
    };
    validate_produced_records(&at(NOW + 5 * HOUR_MS), &lat, NOW).unwrap();
}

#[test]
fn an_i64_max_timestamp_is_refused_even_without_limits() {
    let open = RecordRules {
        timestamp_after_max_ms: i64::MAX,
        ..rules()
    };
    validate_produced_records(&at(i64::MAX - 1), &open, NOW).unwrap();
    assert_record_error(
        validate_produced_records(&at(i64::MAX), &open, NOW),
        0,
        INVALID_TIMESTAMP,
        |d| *d == RecordDefect::InvalidTimestamp(i64::MAX),
        "i64::MAX",
    );
    // A base timestamp plus delta that overflows.
    let mut f = fields(1);
    f.base_timestamp = i64::MAX - 1;
    f.max_timestamp = i64::MAX;
    let r = recs(1);
    let section = encode_record(0, 5, &r[0]);
    let b = assemble_batch(Compression::None, &section, f);
    let err = validate_produced_records(&b, &open, NOW).unwrap_err();
    assert_eq!(record_error_code(&err), INVALID_TIMESTAMP, "{err}");
}

#[test]
fn a_wrong_max_timestamp_is_corrected_not_refused() {
    for lie in [NOW - 1, NOW + 5, -1] {
        let mut f = fields(3);
        f.max_timestamp = lie;
        let b = assemble_batch(Compression::Gzip, &body(&recs(3)), f);
        let headers = check(&b).expect("Kafka rewrites max_timestamp rather than refusing");
        assert_eq!(headers[0].max_timestamp, NOW + 2);
        let mut fixed = b.clone();
        crate::record::set_create_time_max_timestamp(&mut fixed, NOW + 2).unwrap();
        let again = check(&fixed).unwrap();
        assert_eq!(again[0].max_timestamp, NOW + 2);
        assert_eq!(
            crate::record::parse_header(&fixed).unwrap().max_timestamp,
            NOW + 2
        );
        assert_eq!(
            crate::record::parse_header(&fixed).unwrap().attributes,
            crate::record::parse_header(&b).unwrap().attributes
        );
    }
}

#[test]
fn only_the_broker_sets_log_append_time() {
    let lat_bit = 0x08;
    let mut f = fields(2);
    f.extra_attributes = lat_bit;
    let b = assemble_batch(Compression::None, &body(&recs(2)), f);
    let lat_topic = RecordRules {
        timestamp_type: TimestampType::LogAppendTime,
        ..rules()
    };
    assert_record_error(
        validate_produced_records(&b, &lat_topic, NOW),
        0,
        INVALID_TIMESTAMP,
        |d| *d == RecordDefect::LogAppendTimeFromProducer,
        "LogAppendTime topic",
    );
    // On a CreateTime topic Kafka range-checks the batch's max_timestamp instead.
    check(&b).unwrap();
    f.max_timestamp = NOW + 2 * HOUR_MS;
    let b = assemble_batch(Compression::None, &body(&recs(2)), f);
    assert_eq!(
        record_error_code(&check(&b).unwrap_err()),
        INVALID_TIMESTAMP
    );
}

#[test]
fn compacted_topics_refuse_keyless_records_in_the_same_pass() {
    let compacted = RecordRules {
        require_keys: true,
        ..rules()
    };
    let mut records = recs(5);
    records[3].key = None;
    for codec in CODECS {
        let b = build_batch(codec, &records);
        check(&b).expect("keys are only required on compacted topics");
        assert_record_error(
            validate_produced_records(&b, &compacted, NOW),
            3,
            INVALID_RECORD,
            |d| *d == RecordDefect::NoKey,
            &format!("{codec:?}"),
        );
    }
    // Control records (transaction markers) carry their own keys; not checked.
    let marker = build_batch_with(Compression::None, &records, 0, 0x20 | 0x10);
    validate_produced_records(&marker, &compacted, NOW).unwrap();
}

#[test]
fn crc_and_framing_damage_stay_corrupt_message() {
    let mut b = build_batch(Compression::None, &recs(2));
    let last = b.len() - 1;
    b[last] ^= 1;
    assert_eq!(record_error_code(&check(&b).unwrap_err()), CORRUPT_MESSAGE);
    let whole = build_batch(Compression::None, &recs(2));
    let err = check(&whole[..whole.len() - 1]).unwrap_err();
    assert_eq!(record_error_code(&err), CORRUPT_MESSAGE, "{err}");
    assert_eq!(record_error_code(&check(&[]).unwrap_err()), CORRUPT_MESSAGE);
}

#[test]
fn mutated_batches_of_every_codec_never_panic() {
    let mut s: u64 = 0x2545f4914f6cdd1d;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let mut records = recs(6);
    records[1].headers = vec![(b"h".to_vec(), Some(b"v".to_vec()))];
    for codec in CODECS {
        let valid = build_batch(codec, &records);
        for _ in 0..3000 {
            let mut m = valid.clone();
            for _ in 0..1 + next() % 3 {
                let i = BATCH_HEADER_BYTES + (next() as usize) % (m.len() - BATCH_HEADER_BYTES);
                m[i] = next() as u8;
            }
            if next() % 4 == 0 {
                let cut = BATCH_HEADER_BYTES + (next() as usize) % (m.len() - BATCH_HEADER_BYTES);
                m.truncate(cut);
                let len = (m.len() - 12) as i32;
                m[8..12].copy_from_slice(&len.to_be_bytes());
            }
            recompute_crc(&mut m);
            let _ = check(&m);
        }
    }
}
