use super::test_util::build_batch;
use super::test_util::*;
use super::*;

fn all_codecs() -> [Compression; 5] {
    [
        Compression::None,
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ]
}

#[test]
fn parses_valid_batch_header() {
    let b = simple_batch(3, 1000);
    let hs = validate_batches(&b).unwrap();
    assert_eq!(hs.len(), 1);
    let h = hs[0];
    assert_eq!(h.magic, 2);
    assert_eq!(h.records_count, 3);
    assert_eq!(h.last_offset_delta, 2);
    assert_eq!(h.base_timestamp, 1000);
    assert_eq!(h.max_timestamp, 1002);
    assert_eq!(h.total_bytes() as usize, b.len());
    assert_eq!(h.compression(), Compression::None);
    assert_eq!(h.timestamp_type(), TimestampType::CreateTime);
    assert!(!h.is_transactional() && !h.is_control());
    assert_eq!(h.last_offset(), 2);
}

#[test]
fn attribute_bits() {
    let b = build_batch_with(
        Compression::Zstd,
        &[TestRecord::new(None, Some(b"x"), 5)],
        0,
        0x08 | 0x10 | 0x20,
    );
    let h = validate_batches(&b).unwrap()[0];
    assert_eq!(h.compression(), Compression::Zstd);
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    assert!(h.is_transactional() && h.is_control());
}

#[test]
fn empty_input_rejected() {
    assert_eq!(validate_batches(&[]), Err(RecordError::Empty));
}

#[test]
fn crc_failure_detected_for_every_covered_byte() {
    let b = simple_batch(2, 1);
    for i in ATTRIBUTES_OFFSET..b.len() {
        let mut c = b.clone();
        c[i] ^= 0x40;
        let r = validate_batches(&c);
        assert!(
            matches!(r, Err(RecordError::CorruptMessage { .. })),
            "byte {i}: {r:?}"
        );
    }
}

#[test]
fn magic_checked() {
    let mut b = simple_batch(1, 1);
    b[MAGIC_OFFSET] = 1;
    assert_eq!(validate_batches(&b), Err(RecordError::UnsupportedMagic(1)));
}

#[test]
fn truncation_detected_at_every_length() {
    let b = simple_batch(3, 1);
    for len in 1..b.len() {
        let r = validate_batches(&b[..len]);
        assert!(
            matches!(r, Err(RecordError::Truncated { .. })),
            "len {len}: {r:?}"
        );
    }
}

#[test]
fn bad_batch_length_rejected() {
    let mut b = simple_batch(1, 1);
    b[8..12].copy_from_slice(&10i32.to_be_bytes());
    assert_eq!(
        validate_batches(&b),
        Err(RecordError::InvalidBatchLength(10))
    );
    b[8..12].copy_from_slice(&(-5i32).to_be_bytes());
    assert_eq!(
        validate_batches(&b),
        Err(RecordError::InvalidBatchLength(-5))
    );
}

#[test]
fn multiple_batches_and_trailing_garbage() {
    let mut b = simple_batch(2, 1);
    b.extend_from_slice(&simple_batch(5, 10));
    let hs = validate_batches(&b).unwrap();
    assert_eq!(
        hs.iter().map(|h| h.records_count).collect::<Vec<_>>(),
        vec![2, 5]
    );
    b.extend_from_slice(&[0, 0, 0]);
    assert!(matches!(
        validate_batches(&b),
        Err(RecordError::Truncated { .. })
    ));
}

fn recrc(b: &mut [u8]) {
    let crc = crc32c::crc32c(&b[21..]);
    b[CRC_OFFSET..CRC_OFFSET + 4].copy_from_slice(&crc.to_be_bytes());
}

#[test]
fn inconsistent_counts_rejected() {
    let mut b = simple_batch(3, 1);
    b[23..27].copy_from_slice(&5i32.to_be_bytes());
    recrc(&mut b);
    assert!(matches!(
        validate_batches(&b),
        Err(RecordError::InconsistentOffsets { .. })
    ));
    let mut b = simple_batch(3, 1);
    b[57..61].copy_from_slice(&(-1i32).to_be_bytes());
    recrc(&mut b);
    assert_eq!(
        validate_batches(&b),
        Err(RecordError::InvalidRecordCount(-1))
    );
}

#[test]
fn unknown_codec_rejected() {
    let mut b = simple_batch(1, 1);
    b[22] |= 0x07;
    recrc(&mut b);
    assert_eq!(
        validate_batches(&b),
        Err(RecordError::UnsupportedCompression(7))
    );
}

#[test]
fn patch_helpers_keep_crc_valid() {
    let mut b = simple_batch(4, 100);
    set_base_offset(&mut b, 12345).unwrap();
    set_partition_leader_epoch(&mut b, 7).unwrap();
    let h = validate_batches(&b).unwrap()[0];
    assert_eq!((h.base_offset, h.partition_leader_epoch), (12345, 7));
    set_max_timestamp_and_recompute_crc(&mut b, 999_999).unwrap();
    let h = validate_batches(&b).unwrap()[0];
    assert_eq!(h.max_timestamp, 999_999);
    assert_eq!(h.timestamp_type(), TimestampType::LogAppendTime);
    // Records of a LogAppendTime batch report the append time.
    let (h, body) = batch_records(&b).unwrap();
    for r in RecordIter::new(&h, &body) {
        assert_eq!(r.unwrap().timestamp, 999_999);
    }
    let mut short = [0u8; 10];
    assert!(set_base_offset(&mut short, 1).is_err());
    assert!(set_max_timestamp_and_recompute_crc(&mut short, 1).is_err());
}

#[test]
fn codec_round_trips() {
    let data: Vec<u8> = (0..200_000u32).map(|i| (i % 251) as u8).collect();
    for codec in all_codecs() {
        let c = compress(codec, &data).unwrap();
        assert_eq!(decompress(codec, &c).unwrap(), data, "{codec:?}");
        let c = compress(codec, &[]).unwrap();
        assert_eq!(
            decompress(codec, &c).unwrap(),
            Vec::<u8>::new(),
            "{codec:?} empty"
        );
    }
}

#[test]
fn snappy_plain_raw_and_xerial() {
    let data = b"hello hello hello hello snappy".repeat(100);
    let raw = snap::raw::Encoder::new().compress_vec(&data).unwrap();
    assert_eq!(decompress(Compression::Snappy, &raw).unwrap(), data);
    let x = compress(Compression::Snappy, &data).unwrap();
    assert_eq!(&x[..8], b"\x82SNAPPY\0");
    assert_eq!(decompress(Compression::Snappy, &x).unwrap(), data);
    // Truncated xerial stream is an error, not a panic.
    assert!(decompress(Compression::Snappy, &x[..x.len() - 3]).is_err());
}

#[test]
fn garbage_decompress_errors() {
    for codec in [
        Compression::Gzip,
        Compression::Snappy,
        Compression::Lz4,
        Compression::Zstd,
    ] {
        assert!(
            decompress(codec, b"definitely not compressed").is_err(),
            "{codec:?}"
        );
    }
}

#[test]
fn compressed_batches_iterate() {
    let mut recs = vec![
        TestRecord::new(Some(b"k0"), Some(b"v0"), 50),
        TestRecord::new(None, None, 40),
        TestRecord::new(Some(b""), Some(b"value-two"), 70),
    ];
    recs[2].headers = vec![(b"h".to_vec(), None), (b"h2".to_vec(), Some(b"x".to_vec()))];
    for codec in all_codecs() {
        let mut b = build_batch(codec, &recs);
        set_base_offset(&mut b, 100).unwrap();
        validate_batches(&b).unwrap();
        let (h, body) = batch_records(&b).unwrap();
        let got: Vec<Record<'_>> = RecordIter::new(&h, &body).map(Result::unwrap).collect();
        assert_eq!(got.len(), 3, "{codec:?}");
        assert_eq!(got[0].offset, 100);
        assert_eq!(got[0].key, Some(&b"k0"[..]));
        assert_eq!(got[0].timestamp, 50);
        assert_eq!(got[1].key, None);
        assert_eq!(got[1].value, None);
        assert_eq!(got[1].timestamp, 40);
        assert_eq!(got[2].offset, 102);
        assert_eq!(got[2].key, Some(&b""[..]));
        assert_eq!(got[2].value, Some(&b"value-two"[..]));
        assert_eq!(got[2].headers_count, 2);
        assert_eq!(
            got[2].header_pairs().unwrap(),
            vec![(&b"h"[..], None), (&b"h2"[..], Some(&b"x"[..]))]
        );
        assert_eq!(got[0].header_pairs().unwrap(), vec![]);
    }
}

#[test]
fn corrupted_record_bodies_never_panic() {
    let b = simple_batch(5, 1);
    let h = parse_header(&b).unwrap();
    let body = &b[BATCH_HEADER_BYTES..];
    for i in 0..body.len() {
        for x in [0x01u8, 0x80, 0xff] {
            let mut c = body.to_vec();
            c[i] ^= x;
            for r in RecordIter::new(&h, &c) {
                let _ = r;
            }
        }
        let _ = RecordIter::new(&h, &body[..i]).count();
    }
    // Claiming more records than present ends with an error.
    let mut h2 = h;
    h2.records_count = 6;
    assert!(RecordIter::new(&h2, body).any(|r| r.is_err()));
    h2.records_count = 4;
    assert!(RecordIter::new(&h2, body).any(|r| r.is_err()));
}

#[test]
fn validate_never_panics_on_noise() {
    // Deterministic xorshift noise, plus mutations of a valid batch.
    let mut s: u64 = 0x9e3779b97f4a7c15;
    let mut next = || {
        s ^= s << 13;
        s ^= s >> 7;
        s ^= s << 17;
        s
    };
    let valid = simple_batch(3, 1);
    for _ in 0..5000 {
        let len = (next() % 200) as usize;
        let noise: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        let _ = validate_batches(&noise);
        let _ = batch_records(&noise).map(|(h, body)| RecordIter::new(&h, &body).count());
        let mut m = valid.clone();
        let i = (next() as usize) % m.len();
        m[i] = next() as u8;
        let _ = validate_batches(&m);
    }
}
