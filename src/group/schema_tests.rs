//! Tests for the `__consumer_offsets` schemas. Expected byte strings are
//! assembled by hand from the field order and types in Kafka's schema JSON.

use super::*;

/// Big-endian helpers for hand-assembled expectations.
fn be16(v: i16) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
fn be32(v: i32) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
fn be64(v: i64) -> Vec<u8> {
    v.to_be_bytes().to_vec()
}
/// Classic (`int16` length) string.
fn s16(s: &str) -> Vec<u8> {
    let mut v = be16(s.len() as i16);
    v.extend_from_slice(s.as_bytes());
    v
}
/// Compact string whose length + 1 fits a one-byte varint.
fn cs(s: &str) -> Vec<u8> {
    assert!(s.len() < 127);
    let mut v = vec![s.len() as u8 + 1];
    v.extend_from_slice(s.as_bytes());
    v
}
fn cat(parts: &[Vec<u8>]) -> Vec<u8> {
    parts.concat()
}

fn sample_offset_value() -> OffsetCommitValue {
    OffsetCommitValue {
        offset: 100,
        leader_epoch: 7,
        metadata: "m".into(),
        commit_timestamp: 1000,
        expire_timestamp: 2000,
    }
}

/// The value as it reads back after being written at `version`: fields the
/// version lacks come back as their schema defaults.
fn offset_value_at(version: i16) -> OffsetCommitValue {
    let mut v = sample_offset_value();
    if version < 3 {
        v.leader_epoch = NO_LEADER_EPOCH;
    }
    if version != 1 {
        v.expire_timestamp = NO_TIMESTAMP;
    }
    v
}

fn sample_group_value() -> GroupMetadataValue {
    GroupMetadataValue {
        protocol_type: "consumer".into(),
        generation: 1,
        protocol: Some("range".into()),
        leader: Some("m1".into()),
        current_state_timestamp: 1234,
        members: vec![
            MemberMetadata {
                member_id: "m1".into(),
                group_instance_id: None,
                client_id: "c".into(),
                client_host: "/h".into(),
                rebalance_timeout: 300_000,
                session_timeout: 10_000,
                subscription: vec![1, 2],
                assignment: vec![],
            },
            MemberMetadata {
                member_id: "m2-ü".into(),
                group_instance_id: Some("static-2".into()),
                client_id: "client-2".into(),
                client_host: "/10.0.0.2".into(),
                rebalance_timeout: 60_000,
                session_timeout: 45_000,
                subscription: vec![0u8; 200],
                assignment: vec![9, 8, 7],
            },
        ],
    }
}

fn group_value_at(version: i16) -> GroupMetadataValue {
    let mut v = sample_group_value();
    if version < 2 {
        v.current_state_timestamp = NO_TIMESTAMP;
    }
    for m in &mut v.members {
        if version < 3 {
            m.group_instance_id = None;
        }
        if version < 1 {
            m.rebalance_timeout = 0;
        }
    }
    v
}

fn empty_group_value() -> GroupMetadataValue {
    GroupMetadataValue {
        protocol_type: String::new(),
        generation: 0,
        protocol: None,
        leader: None,
        current_state_timestamp: 5,
        members: Vec::new(),
    }
}

/// Every strict prefix of a valid encoding must fail to decode, without
/// panicking.
fn assert_every_prefix_fails<T: std::fmt::Debug>(full: &[u8], decode: impl Fn(&[u8]) -> Result<T>) {
    for len in 0..full.len() {
        let got = decode(&full[..len]);
        assert!(
            got.is_err(),
            "prefix of {len}/{} bytes decoded: {got:?}",
            full.len()
        );
    }
}

// ---------------------------------------------------------------------------
// Keys
// ---------------------------------------------------------------------------

#[test]
fn offset_commit_key_exact_bytes() {
    let key = OffsetsRecordKey::OffsetCommit {
        group: "g1".into(),
        topic: "t".into(),
        partition: 5,
    };
    let expected = cat(&[be16(1), s16("g1"), s16("t"), be32(5)]);
    assert_eq!(encode_key(&key), expected);
    assert_eq!(
        expected,
        [0, 1, 0, 2, b'g', b'1', 0, 1, b't', 0, 0, 0, 5].to_vec()
    );
    assert_eq!(decode_key(&expected).unwrap(), key);
    assert_every_prefix_fails(&expected, decode_key);
}

#[test]
fn legacy_offset_commit_key_decodes_to_the_same_key() {
    let legacy = cat(&[be16(0), s16("grp"), s16("topic"), be32(-3)]);
    let key = decode_key(&legacy).unwrap();
    assert_eq!(
        key,
        OffsetsRecordKey::OffsetCommit {
            group: "grp".into(),
            topic: "topic".into(),
            partition: -3,
        }
    );
    // Re-encoding upgrades to record type 1, as Kafka writes.
    let reencoded = encode_key(&key);
    assert_eq!(&reencoded[..2], &[0, 1]);
    assert_eq!(&reencoded[2..], &legacy[2..]);
    assert_every_prefix_fails(&legacy, decode_key);
}

#[test]
fn group_metadata_key_exact_bytes() {
    let key = OffsetsRecordKey::GroupMetadata { group: "g1".into() };
    let expected = vec![0, 2, 0, 2, b'g', b'1'];
    assert_eq!(encode_key(&key), expected);
    assert_eq!(decode_key(&expected).unwrap(), key);
    assert_eq!(key.key_version(), 2);
    assert_eq!(key.group(), Some("g1"));
    assert_every_prefix_fails(&expected, decode_key);
}

#[test]
fn key_with_non_ascii_names_round_trips() {
    let key = OffsetsRecordKey::OffsetCommit {
        group: "消费者组".into(),
        topic: "tópico".into(),
        partition: i32::MAX,
    };
    let bytes = encode_key(&key);
    // Lengths are UTF-8 byte counts, not characters.
    assert_eq!(&bytes[2..4], &12i16.to_be_bytes());
    assert_eq!(decode_key(&bytes).unwrap(), key);
}

#[test]
fn other_record_types_are_recognised_not_decoded() {
    for version in [3i16, 8, 16, 24, 25, i16::MAX, -1, i16::MIN] {
        // The body is never looked at, so garbage after the type is fine.
        let mut key = be16(version);
        key.extend_from_slice(&[0xff, 0xff, 0xff]);
        assert_eq!(
            decode_key(&key).unwrap(),
            OffsetsRecordKey::Other { version }
        );
        assert_eq!(
            encode_key(&OffsetsRecordKey::Other { version }),
            be16(version)
        );
    }
    assert!(decode_key(&[]).is_err());
    assert!(decode_key(&[0]).is_err());
}

#[test]
fn key_string_errors() {
    // Non-nullable group encoded as null.
    let null_group = cat(&[be16(2), be16(-1)]);
    assert_eq!(
        decode_key(&null_group),
        Err(SchemaError::UnexpectedNull { field: "group" })
    );
    // Invalid UTF-8.
    let bad_utf8 = cat(&[be16(2), be16(2), vec![0xc3, 0x28]]);
    assert_eq!(
        decode_key(&bad_utf8),
        Err(SchemaError::InvalidUtf8 { field: "group" })
    );
    // Length claiming more than is there.
    let short = cat(&[be16(2), be16(10), b"abc".to_vec()]);
    assert!(matches!(
        decode_key(&short),
        Err(SchemaError::Truncated { field: "group", .. })
    ));
}

#[test]
fn encoding_over_long_strings_fails_cleanly() {
    let key = OffsetsRecordKey::GroupMetadata {
        group: "x".repeat(0x8000),
    };
    assert_eq!(
        try_encode_key(&key),
        Err(SchemaError::StringTooLong {
            field: "group",
            length: 0x8000
        })
    );
    // Exactly 32767 bytes is still encodable.
    let ok = OffsetsRecordKey::GroupMetadata {
        group: "x".repeat(0x7fff),
    };
    assert_eq!(decode_key(&encode_key(&ok)).unwrap(), ok);

    let mut value = sample_offset_value();
    value.metadata = "y".repeat(40_000);
    assert!(matches!(
        try_encode_offset_commit_value(&value),
        Err(SchemaError::StringTooLong {
            field: "metadata",
            ..
        })
    ));
    let mut group = sample_group_value();
    group.members[0].client_host = "z".repeat(40_000);
    assert!(matches!(
        try_encode_group_metadata_value(&group),
        Err(SchemaError::StringTooLong {
            field: "client_host",
            ..
        })
    ));
}

#[test]
#[should_panic(expected = "cannot encode")]
fn infallible_encoder_panics_on_over_long_string() {
    encode_key(&OffsetsRecordKey::GroupMetadata {
        group: "x".repeat(0x8000),
    });
}

// ---------------------------------------------------------------------------
// OffsetCommitValue
// ---------------------------------------------------------------------------

#[test]
fn offset_commit_value_v3_exact_bytes() {
    let mut value = sample_offset_value();
    value.expire_timestamp = NO_TIMESTAMP;
    let expected = cat(&[be16(3), be64(100), be32(7), s16("m"), be64(1000)]);
    assert_eq!(encode_offset_commit_value(&value), expected);
    assert_eq!(expected.len(), 2 + 8 + 4 + 3 + 8);
    assert_eq!(decode_offset_commit_value(&expected).unwrap(), value);
}

#[test]
fn offset_commit_value_v1_exact_bytes() {
    let value = OffsetCommitValue::new(100, Some(7), "", 1000, Some(2000));
    // Version 1 has no leader epoch: it is dropped (ignorable in Kafka).
    let expected = cat(&[be16(1), be64(100), s16(""), be64(1000), be64(2000)]);
    assert_eq!(encode_offset_commit_value(&value), expected);
    let decoded = decode_offset_commit_value(&expected).unwrap();
    assert_eq!(decoded.leader_epoch_opt(), None);
    assert_eq!(decoded.expire_timestamp_opt(), Some(2000));
}

#[test]
fn offset_commit_value_v0_and_v2_exact_bytes() {
    let value = sample_offset_value();
    let v0 = cat(&[be16(0), be64(100), s16("m"), be64(1000)]);
    assert_eq!(
        encode_offset_commit_value_with_version(&value, 0).unwrap(),
        v0
    );
    let v2 = cat(&[be16(2), be64(100), s16("m"), be64(1000)]);
    assert_eq!(
        encode_offset_commit_value_with_version(&value, 2).unwrap(),
        v2
    );
}

#[test]
fn offset_commit_value_v4_exact_bytes() {
    let mut value = sample_offset_value();
    value.expire_timestamp = NO_TIMESTAMP;
    // Flexible: compact metadata string, then an empty tagged-field section.
    let expected = cat(&[be16(4), be64(100), be32(7), cs("m"), be64(1000), vec![0]]);
    assert_eq!(
        encode_offset_commit_value_with_version(&value, 4).unwrap(),
        expected
    );
    assert_eq!(decode_offset_commit_value(&expected).unwrap(), value);

    // Unknown tagged fields (a later Kafka's) are skipped: count, then
    // (tag, size, data) each; tag 300 takes a two-byte varint (0xac 0x02).
    let tagged = cat(&[
        be16(4),
        be64(100),
        be32(7),
        cs("m"),
        be64(1000),
        vec![2, 5, 1, 0xAA, 0xac, 0x02, 0],
    ]);
    assert_eq!(decode_offset_commit_value(&tagged).unwrap(), value);
    assert_every_prefix_fails(&tagged, decode_offset_commit_value);
}

#[test]
fn offset_commit_value_round_trips_every_version() {
    for version in 0..=OFFSET_COMMIT_VALUE_MAX_VERSION {
        let value = offset_value_at(version);
        let bytes = encode_offset_commit_value_with_version(&value, version).unwrap();
        assert_eq!(value_version(&bytes).unwrap(), version);
        assert_eq!(
            decode_offset_commit_value(&bytes).unwrap(),
            value,
            "version {version}"
        );
        // Writing the full sample at this version drops exactly what the
        // version lacks.
        let lossy =
            encode_offset_commit_value_with_version(&sample_offset_value(), version).unwrap();
        assert_eq!(decode_offset_commit_value(&lossy).unwrap(), value);
    }
}

#[test]
fn offset_commit_value_truncated_at_every_length() {
    for version in 0..=OFFSET_COMMIT_VALUE_MAX_VERSION {
        let bytes =
            encode_offset_commit_value_with_version(&offset_value_at(version), version).unwrap();
        assert_every_prefix_fails(&bytes, decode_offset_commit_value);
    }
}

#[test]
fn offset_commit_value_version_choice_matches_kafka() {
    let mut value = sample_offset_value();
    // Expire timestamp present: version 1, the only one that can carry it.
    assert_eq!(offset_commit_value_version(&value), 1);
    assert_eq!(&encode_offset_commit_value(&value)[..2], &[0, 1]);
    // Otherwise version 3, the highest non-flexible version.
    value.expire_timestamp = NO_TIMESTAMP;
    assert_eq!(offset_commit_value_version(&value), 3);
    assert_eq!(&encode_offset_commit_value(&value)[..2], &[0, 3]);
}

#[test]
fn offset_commit_value_unknown_versions_rejected() {
    for version in [5i16, 6, i16::MAX, -1, i16::MIN] {
        let mut bytes = encode_offset_commit_value_with_version(&offset_value_at(3), 3).unwrap();
        bytes[..2].copy_from_slice(&version.to_be_bytes());
        assert_eq!(
            decode_offset_commit_value(&bytes),
            Err(SchemaError::UnsupportedVersion {
                schema: "OffsetCommitValue",
                version
            })
        );
        assert!(encode_offset_commit_value_with_version(&offset_value_at(3), version).is_err());
    }
}

#[test]
fn offset_commit_value_trailing_bytes_are_ignored_like_kafka() {
    let value = offset_value_at(3);
    let mut bytes = encode_offset_commit_value_with_version(&value, 3).unwrap();
    bytes.extend_from_slice(&[1, 2, 3]);
    assert_eq!(decode_offset_commit_value(&bytes).unwrap(), value);
}

#[test]
fn offset_commit_value_null_metadata_rejected() {
    let classic = cat(&[be16(3), be64(1), be32(0), be16(-1), be64(0)]);
    assert_eq!(
        decode_offset_commit_value(&classic),
        Err(SchemaError::UnexpectedNull { field: "metadata" })
    );
    let compact = cat(&[be16(4), be64(1), be32(0), vec![0], be64(0), vec![0]]);
    assert_eq!(
        decode_offset_commit_value(&compact),
        Err(SchemaError::UnexpectedNull { field: "metadata" })
    );
}

// ---------------------------------------------------------------------------
// GroupMetadataValue
// ---------------------------------------------------------------------------

fn first_member_only() -> GroupMetadataValue {
    let mut v = sample_group_value();
    v.members.truncate(1);
    v
}

#[test]
fn group_metadata_value_v3_exact_bytes() {
    let value = first_member_only();
    let expected = cat(&[
        be16(3),
        s16("consumer"),
        be32(1),
        s16("range"),
        s16("m1"),
        be64(1234),
        be32(1), // one member
        s16("m1"),
        be16(-1), // group_instance_id: null
        s16("c"),
        s16("/h"),
        be32(300_000),
        be32(10_000),
        be32(2),
        vec![1, 2], // subscription
        be32(0),    // assignment: empty
    ]);
    assert_eq!(encode_group_metadata_value(&value), expected);
    assert_eq!(decode_group_metadata_value(&expected).unwrap(), value);
}

#[test]
fn empty_group_metadata_value_exact_bytes() {
    // What Kafka writes for a group that became empty.
    let expected = cat(&[
        be16(3),
        s16(""),
        be32(0),
        be16(-1),
        be16(-1),
        be64(5),
        be32(0),
    ]);
    assert_eq!(encode_group_metadata_value(&empty_group_value()), expected);
    assert_eq!(
        decode_group_metadata_value(&expected).unwrap(),
        empty_group_value()
    );
}

#[test]
fn group_metadata_value_v0_exact_bytes() {
    let value = first_member_only();
    let expected = cat(&[
        be16(0),
        s16("consumer"),
        be32(1),
        s16("range"),
        s16("m1"),
        be32(1),
        s16("m1"),
        s16("c"),
        s16("/h"),
        be32(10_000),
        be32(2),
        vec![1, 2],
        be32(0),
    ]);
    assert_eq!(
        encode_group_metadata_value_with_version(&value, 0).unwrap(),
        expected
    );
    let decoded = decode_group_metadata_value(&expected).unwrap();
    assert_eq!(decoded.current_state_timestamp, NO_TIMESTAMP);
    assert_eq!(decoded.members[0].rebalance_timeout, 0);
}

#[test]
fn group_metadata_value_v4_exact_bytes() {
    let value = first_member_only();
    let expected = cat(&[
        be16(4),
        cs("consumer"),
        be32(1),
        cs("range"),
        cs("m1"),
        be64(1234),
        vec![2], // compact array: one member
        cs("m1"),
        vec![0], // group_instance_id: null
        cs("c"),
        cs("/h"),
        be32(300_000),
        be32(10_000),
        vec![3, 1, 2], // compact bytes
        vec![1],       // empty compact bytes
        vec![0],       // member tagged fields
        vec![0],       // value tagged fields
    ]);
    assert_eq!(
        encode_group_metadata_value_with_version(&value, 4).unwrap(),
        expected
    );
    assert_eq!(decode_group_metadata_value(&expected).unwrap(), value);

    // The same value with unknown tagged fields in the member and in the
    // value (the latter with a two-byte size varint): skipped.
    let mut tagged = expected.clone();
    let top = tagged.len() - 1;
    tagged.truncate(top);
    tagged.extend_from_slice(&[1, 2, 0x82, 0x01]);
    tagged.extend_from_slice(&[0u8; 130]);
    let member = top - 1;
    tagged.splice(member..member + 1, [1u8, 1, 2, b'x', b'y']);
    assert_eq!(decode_group_metadata_value(&tagged).unwrap(), value);
    assert_every_prefix_fails(&tagged, decode_group_metadata_value);
}

#[test]
fn group_metadata_value_round_trips_every_version() {
    for version in 0..=GROUP_METADATA_VALUE_MAX_VERSION {
        let value = group_value_at(version);
        let bytes = encode_group_metadata_value_with_version(&value, version).unwrap();
        assert_eq!(value_version(&bytes).unwrap(), version);
        assert_eq!(
            decode_group_metadata_value(&bytes).unwrap(),
            value,
            "version {version}"
        );
        // Also with no members and null protocol/leader.
        let mut empty = empty_group_value();
        if version < 2 {
            empty.current_state_timestamp = NO_TIMESTAMP;
        }
        let bytes = encode_group_metadata_value_with_version(&empty, version).unwrap();
        assert_eq!(decode_group_metadata_value(&bytes).unwrap(), empty);
    }
}

#[test]
fn group_metadata_value_lower_versions_drop_ignorable_fields() {
    let full = sample_group_value();
    for version in 0..=3 {
        let bytes = encode_group_metadata_value_with_version(&full, version).unwrap();
        assert_eq!(
            decode_group_metadata_value(&bytes).unwrap(),
            group_value_at(version)
        );
    }
}

#[test]
fn group_metadata_value_truncated_at_every_length() {
    for version in 0..=GROUP_METADATA_VALUE_MAX_VERSION {
        let bytes =
            encode_group_metadata_value_with_version(&group_value_at(version), version).unwrap();
        assert_every_prefix_fails(&bytes, decode_group_metadata_value);
    }
}

#[test]
fn group_metadata_value_unknown_versions_rejected() {
    for version in [5i16, 100, -1, i16::MIN] {
        let mut bytes = encode_group_metadata_value(&sample_group_value());
        bytes[..2].copy_from_slice(&version.to_be_bytes());
        assert_eq!(
            decode_group_metadata_value(&bytes),
            Err(SchemaError::UnsupportedVersion {
                schema: "GroupMetadataValue",
                version
            })
        );
        assert!(encode_group_metadata_value_with_version(&sample_group_value(), version).is_err());
    }
}

#[test]
fn group_metadata_value_version_choice_matches_kafka() {
    // Kafka 4 always writes version 3, whatever the content.
    assert_eq!(
        &encode_group_metadata_value(&sample_group_value())[..2],
        &[0, 3]
    );
    assert_eq!(
        &encode_group_metadata_value(&empty_group_value())[..2],
        &[0, 3]
    );
}

#[test]
fn group_metadata_value_corrupt_lengths() {
    // Member count larger than the bytes left: rejected before allocating.
    let huge_count = cat(&[
        be16(3),
        s16("consumer"),
        be32(1),
        be16(-1),
        be16(-1),
        be64(0),
        be32(i32::MAX),
    ]);
    assert!(matches!(
        decode_group_metadata_value(&huge_count),
        Err(SchemaError::Truncated {
            field: "members",
            ..
        })
    ));
    // Null members array.
    let null_members = cat(&[
        be16(3),
        s16("consumer"),
        be32(1),
        be16(-1),
        be16(-1),
        be64(0),
        be32(-1),
    ]);
    assert_eq!(
        decode_group_metadata_value(&null_members),
        Err(SchemaError::UnexpectedNull { field: "members" })
    );
    // Null protocol_type (not nullable).
    let null_type = cat(&[be16(3), be16(-1)]);
    assert_eq!(
        decode_group_metadata_value(&null_type),
        Err(SchemaError::UnexpectedNull {
            field: "protocol_type"
        })
    );
    // Compact string longer than 32767.
    let mut long_compact = cat(&[be16(4)]);
    long_compact.extend_from_slice(&[0x81, 0x80, 0x02]); // varint 32769 => length 32768
    long_compact.extend(std::iter::repeat_n(b'a', 0x8000));
    assert_eq!(
        decode_group_metadata_value(&long_compact),
        Err(SchemaError::InvalidLength {
            field: "protocol_type",
            length: 0x8000
        })
    );
    // Over-long varint (six bytes).
    let bad_varint = cat(&[be16(4), vec![0x80, 0x80, 0x80, 0x80, 0x80, 0x01]]);
    assert_eq!(
        decode_group_metadata_value(&bad_varint),
        Err(SchemaError::InvalidVarint {
            field: "protocol_type"
        })
    );
    // Null subscription bytes.
    let null_subscription = cat(&[
        be16(0),
        s16(""),
        be32(0),
        be16(-1),
        be16(-1),
        be32(1),
        s16("m"),
        s16("c"),
        s16("h"),
        be32(1),
        be32(-1),
    ]);
    assert_eq!(
        decode_group_metadata_value(&null_subscription),
        Err(SchemaError::UnexpectedNull {
            field: "subscription"
        })
    );
    // Tagged field count larger than the bytes left.
    let mut tags = encode_group_metadata_value_with_version(&empty_group_value(), 4).unwrap();
    let last = tags.len() - 1;
    tags[last] = 0x7f;
    assert!(matches!(
        decode_group_metadata_value(&tags),
        Err(SchemaError::Truncated {
            field: "tagged field tag",
            ..
        })
    ));
    // A tagged field whose size runs past the end.
    let last = tags.len() - 1;
    tags.truncate(last);
    tags.extend_from_slice(&[1, 0, 5, 1, 2]);
    assert!(matches!(
        decode_group_metadata_value(&tags),
        Err(SchemaError::Truncated {
            field: "tagged field data",
            ..
        })
    ));
}

// ---------------------------------------------------------------------------
// Whole records
// ---------------------------------------------------------------------------

#[test]
fn decode_record_dispatches_on_record_type() {
    let key = encode_key(&OffsetsRecordKey::OffsetCommit {
        group: "g".into(),
        topic: "t".into(),
        partition: 0,
    });
    let value = encode_offset_commit_value(&offset_value_at(3));
    assert_eq!(
        decode_record(&key, Some(&value)).unwrap(),
        OffsetsRecord::OffsetCommit {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            value: Some(offset_value_at(3)),
        }
    );
    assert_eq!(
        decode_record(&key, None).unwrap(),
        OffsetsRecord::OffsetCommit {
            group: "g".into(),
            topic: "t".into(),
            partition: 0,
            value: None,
        }
    );

    let key = encode_key(&OffsetsRecordKey::GroupMetadata { group: "g".into() });
    let value = encode_group_metadata_value(&sample_group_value());
    assert_eq!(
        decode_record(&key, Some(&value)).unwrap(),
        OffsetsRecord::GroupMetadata {
            group: "g".into(),
            value: Some(sample_group_value()),
        }
    );
    // A bad value of a known type is an error, like in Kafka's loader.
    assert!(decode_record(&key, Some(&[0, 9])).is_err());
    assert!(decode_record(&key, Some(&[])).is_err());
}

#[test]
fn kip_848_records_are_skipped_as_unknown() {
    // ConsumerGroupMemberMetadataKey: type 5, GroupId, MemberId; its value
    // (flexible v0) is never looked at.
    let key = cat(&[be16(5), s16("grp"), s16("member-1")]);
    let value = [0u8, 0, 0xde, 0xad];
    assert_eq!(
        decode_record(&key, Some(&value)).unwrap(),
        OffsetsRecord::Unknown(UnknownRecord {
            key_version: 5,
            group_id: Some("grp".into()),
            tombstone: false,
        })
    );
    // Every KIP-848/932/1071 type, record and tombstone.
    for t in 3i16..=24 {
        let key = cat(&[be16(t), s16("group-x")]);
        for value in [None, Some(&[0u8, 0][..])] {
            match decode_record(&key, value).unwrap() {
                OffsetsRecord::Unknown(u) => {
                    assert_eq!(u.key_version, t);
                    assert_eq!(u.group_id.as_deref(), Some("group-x"));
                    assert_eq!(u.tombstone, value.is_none());
                    assert!(u.name().is_some());
                }
                other => panic!("type {t} decoded as {other:?}"),
            }
        }
    }
    assert_eq!(
        record_type::name(8),
        Some("ConsumerGroupCurrentMemberAssignmentKey")
    );
    // Unknown future types and malformed bodies still skip cleanly.
    for key in [
        cat(&[be16(99), s16("g")]),
        be16(3),
        cat(&[be16(7), vec![0, 9]]),
    ] {
        match decode_record(&key, Some(&[1, 2, 3])).unwrap() {
            OffsetsRecord::Unknown(u) => assert_eq!(u.group_id, None),
            other => panic!("decoded as {other:?}"),
        }
    }
}

// ---------------------------------------------------------------------------
// Robustness
// ---------------------------------------------------------------------------

/// Small deterministic PRNG (xorshift64*) so the test needs no dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[test]
fn random_and_mutated_input_never_panics() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut seeds: Vec<Vec<u8>> = Vec::new();
    for v in 0..=4 {
        seeds.push(encode_offset_commit_value_with_version(&offset_value_at(v), v).unwrap());
        seeds.push(encode_group_metadata_value_with_version(&group_value_at(v), v).unwrap());
    }
    seeds.push(encode_key(&OffsetsRecordKey::OffsetCommit {
        group: "g".into(),
        topic: "t".into(),
        partition: 1,
    }));
    for i in 0..20_000 {
        let input: Vec<u8> = if i % 2 == 0 {
            let len = (rng.next() % 64) as usize;
            (0..len).map(|_| rng.next() as u8).collect()
        } else {
            let mut s = seeds[(rng.next() as usize) % seeds.len()].clone();
            for _ in 0..1 + rng.next() % 4 {
                let pos = (rng.next() as usize) % s.len();
                s[pos] ^= 1 << (rng.next() % 8);
            }
            s
        };
        let _ = decode_key(&input);
        let _ = decode_offset_commit_value(&input);
        let _ = decode_group_metadata_value(&input);
        let _ = decode_record(&input, Some(&input));
    }
}

// ---------------------------------------------------------------------------
// Partitioning
// ---------------------------------------------------------------------------

#[test]
fn java_string_hash_by_hand() {
    assert_eq!(java_string_hash(""), 0);
    assert_eq!(java_string_hash("a"), 97);
    // 97 * 31 + 98
    assert_eq!(java_string_hash("ab"), 3105);
    // 'é' is one UTF-16 unit (0xe9): "é" = 233, "aé" = 97 * 31 + 233.
    assert_eq!(java_string_hash("é"), 233);
    assert_eq!(java_string_hash("aé"), 3240);
    // U+1F600 is the surrogate pair d83d de00:
    // 103 * 31^2 + 0xd83d * 31 + 0xde00 = 98983 + 1716067 + 56832.
    assert_eq!(java_string_hash("g\u{1F600}"), 1_871_882);
}

#[test]
fn java_string_hash_matches_jvm() {
    // Values printed by `String.hashCode()` on a JVM.
    let cases: [(&str, i32); 9] = [
        ("my-group", -1_906_497_762),
        ("console-consumer-12345", 158_455_506),
        ("groupé", -1_237_460_406),
        ("группа", 1_749_938_458),
        ("消费者组", 871_131_088),
        ("polygenelubricants", i32::MIN),
        ("test-group", 627_841_412),
        ("zzzzzzzzzz", -1_580_979_136),
        ("g\u{1F600}", 1_871_882),
    ];
    for (s, hash) in cases {
        assert_eq!(java_string_hash(s), hash, "{s}");
    }
}

#[test]
fn partition_for_group_matches_kafka() {
    // Utils.abs(groupId.hashCode()) % n, values computed on a JVM.
    let cases: [(&str, i32, i32); 12] = [
        ("", 50, 0),
        ("a", 50, 47),
        ("my-group", 50, 12),
        ("console-consumer-12345", 50, 6),
        ("groupé", 50, 6),
        ("группа", 50, 8),
        ("消费者组", 50, 38),
        ("g\u{1F600}", 50, 32),
        ("polygenelubricants", 50, 0), // hashCode == i32::MIN
        ("zzzzzzzzzz", 50, 36),
        ("my-group", 7, 1),
        ("groupé", 7, 0),
    ];
    for (group, n, expected) in cases {
        assert_eq!(partition_for_group(group, n), expected, "{group} % {n}");
    }
    // Utils.abs is not a sign-bit mask: masking would put these elsewhere.
    assert_eq!(
        (java_string_hash("my-group") & 0x7fff_ffff) % 50,
        36,
        "mask differs from Utils.abs"
    );
    assert_eq!(kafka_abs(-1), 1);
    assert_eq!(kafka_abs(i32::MIN), 0);
    assert_eq!(kafka_abs(i32::MAX), i32::MAX);
    // One partition, and nonsense counts, never panic.
    assert_eq!(partition_for_group("anything", 1), 0);
    assert_eq!(partition_for_group("anything", 0), 0);
    assert_eq!(partition_for_group("anything", -5), 0);
}
