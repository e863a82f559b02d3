//! Byte layouts of the transaction coordinator's durable records, matching
//! Apache Kafka 4.x so that a `__transaction_state` log or a control batch
//! written by gregor reads the same in Kafka's tools, and the other way round.
//!
//! Self-contained on purpose (own big-endian reader/writer, varints, tagged
//! fields): these bytes are the on-disk contract, so they should not move when
//! the request codec elsewhere in the crate changes.
//!
//! # `__transaction_state` key (`TransactionLogKey.json`)
//! `int16 version` (0; Kafka 4.x calls it the coordinator record type
//! `TRANSACTION_LOG`), then `TransactionalId` as a *classic* string (`int16`
//! length + UTF-8). validVersions "0", flexibleVersions "none": no tagged
//! fields. Any other version is refused, as `TransactionLog.read` does.
//!
//! # `__transaction_state` value (`TransactionLogValue.json`)
//! validVersions "0-1", flexibleVersions "1+". Wire order after the `int16`
//! version: `ProducerId int64`, `ProducerEpoch int16`,
//! `TransactionTimeoutMs int32`, `TransactionStatus int8`,
//! `TransactionPartitions` nullable array of `{ Topic string,
//! PartitionIds []int32 }`, `TransactionLastUpdateTimestampMs int64`,
//! `TransactionStartTimestampMs int64`.
//! * v0: `int32` array lengths (-1 = null), `int16` string lengths, no tags.
//! * v1: compact arrays/strings (`uvarint(n+1)`, 0 = null), a tagged-field
//!   section closing every struct, and three tagged fields (taggedVersions
//!   "1+") on the top-level struct, written only when not the default, in
//!   tag order: tag 0 `PreviousProducerId int64` (default -1), tag 1
//!   `NextProducerId int64` (default -1), tag 2 `ClientTransactionVersion
//!   int16` (default 0). Unknown tags are skipped (Kafka trunk is adding
//!   more, e.g. a next producer epoch for KIP-939; they must not break us).
//!
//! Like Kafka's generated writer, encoding a non-default tagged field at v0 is
//! an error rather than a silent drop. Kafka writes a null partition array
//! exactly when the status is `Empty`, hence `Option<Vec<_>>` here.
//!
//! Version written: Kafka picks it from the cluster's finalized
//! `transaction.version` feature (not the client's): `TransactionVersion::
//! transactionLogValueVersion()` is `1` for feature level >= 1, else `0`.
//! gregor writes [`VALUE_WRITE_VERSION`] = 1, what a Kafka 4.x cluster at
//! `transaction.version` >= 1 (the KIP-890 default) writes; use
//! [`value_version_for_transaction_version`] to follow a lower level. Kafka
//! before KAFKA-20310 (2026) filled only tag 2; it now also writes tags 0/1.
//! Readers accept both. A tombstone (null value) deletes a transactional id;
//! that is the caller's business.
//!
//! # Transaction markers (control records in a control batch)
//! Key (`ControlRecordType`): `int16 version` (0) + `int16 type`, 0 = ABORT,
//! 1 = COMMIT (2..6 are KRaft control types). Value (`EndTxnMarker.json`,
//! validVersions "0", not flexible): `int16 version` (0) +
//! `int32 CoordinatorEpoch`. Kafka refuses negative versions and parses any
//! higher version as its highest known one; both decoders here do the same.
//!
//! Sources read (github.com/apache/kafka): `transaction-coordinator/src/main/
//! resources/common/message/TransactionLogValue.json` @054b66e3 and @53364c53,
//! `TransactionLogKey.json` @53364c53, `transaction-coordinator/.../
//! TransactionLog.java` @014bd42a, `TransactionState.java` @33431ac9,
//! `server-common/.../TransactionVersion.java` @cbf3d00a,
//! `clients/src/main/resources/common/message/EndTxnMarker.json` @76f478ce,
//! `ControlRecordType.json` @6fc65170, `clients/.../record/internal/
//! EndTransactionMarker.java` @85ed71b0, `ControlRecordType.java` @7d1c860b.

use thiserror::Error;

/// Errors from encoding or decoding these records; decoding never panics.
#[derive(Debug, Clone, PartialEq, Eq, Error)]
pub enum TxnSchemaError {
    #[error("record truncated: {need} more byte(s) needed at offset {at}")]
    Truncated { at: usize, need: usize },
    #[error("unknown transaction log key version {0}")]
    UnknownKeyVersion(i16),
    #[error("unknown transaction log value version {0}")]
    UnknownValueVersion(i16),
    #[error("unknown transaction status {0}")]
    UnknownStatus(i8),
    #[error("invalid length {len} for {field}")]
    InvalidLength { field: &'static str, len: i64 },
    #[error("non-nullable field {0} was serialized as null")]
    UnexpectedNull(&'static str),
    #[error("field {0} is not valid UTF-8")]
    InvalidUtf8(&'static str),
    #[error("unsigned varint longer than 32 bits")]
    VarintOverflow,
    #[error("tagged field {tag} has {size} byte(s), expected {expected}")]
    TaggedFieldSize {
        tag: u32,
        size: usize,
        expected: usize,
    },
    #[error("{0} is too long to be serialized")]
    TooLong(&'static str),
    #[error("non-default {0} cannot be written at version {1}")]
    NotInVersion(&'static str, i16),
    #[error("invalid control record version {0}")]
    InvalidMarkerVersion(i16),
}

type Result<T> = std::result::Result<T, TxnSchemaError>;

/// The value version gregor writes: 1 (flexible), as Kafka does once the
/// cluster's `transaction.version` is at least 1.
pub const VALUE_WRITE_VERSION: i16 = 1;

/// Kafka's `TransactionVersion.transactionLogValueVersion()`.
pub fn value_version_for_transaction_version(feature_level: i16) -> i16 {
    if feature_level >= 1 {
        1
    } else {
        0
    }
}

/// Kafka's `TransactionState`, with the byte stored in `TransactionStatus`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TxnStatus {
    Empty,
    Ongoing,
    PrepareCommit,
    PrepareAbort,
    CompleteCommit,
    CompleteAbort,
    Dead,
    PrepareEpochFence,
}

impl TxnStatus {
    /// Every state, in id order.
    pub const ALL: [TxnStatus; 8] = [
        TxnStatus::Empty,
        TxnStatus::Ongoing,
        TxnStatus::PrepareCommit,
        TxnStatus::PrepareAbort,
        TxnStatus::CompleteCommit,
        TxnStatus::CompleteAbort,
        TxnStatus::Dead,
        TxnStatus::PrepareEpochFence,
    ];

    /// The id byte (Empty = 0 ... PrepareEpochFence = 7).
    pub fn to_i8(self) -> i8 {
        self as i8
    }

    pub fn from_i8(id: i8) -> Option<TxnStatus> {
        usize::try_from(id)
            .ok()
            .and_then(|i| Self::ALL.get(i).copied())
    }

    /// The name Kafka shows in DescribeTransactions / ListTransactions.
    pub fn name(self) -> &'static str {
        match self {
            TxnStatus::Empty => "Empty",
            TxnStatus::Ongoing => "Ongoing",
            TxnStatus::PrepareCommit => "PrepareCommit",
            TxnStatus::PrepareAbort => "PrepareAbort",
            TxnStatus::CompleteCommit => "CompleteCommit",
            TxnStatus::CompleteAbort => "CompleteAbort",
            TxnStatus::Dead => "Dead",
            TxnStatus::PrepareEpochFence => "PrepareEpochFence",
        }
    }
}

/// One `PartitionsSchema` entry: a topic and the partitions of it in the txn.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TxnPartitions {
    pub topic: String,
    pub partitions: Vec<i32>,
}

/// A decoded `TransactionLogValue`; tagged fields hold their defaults at v0.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TransactionLogValue {
    pub producer_id: i64,
    /// Tag 0, default -1.
    pub previous_producer_id: i64,
    /// Tag 1, default -1.
    pub next_producer_id: i64,
    pub producer_epoch: i16,
    pub timeout_ms: i32,
    pub status: TxnStatus,
    /// `None` is the null array Kafka writes for `Empty`.
    pub partitions: Option<Vec<TxnPartitions>>,
    pub last_update_ms: i64,
    pub start_ms: i64,
    /// Tag 2, default 0: the client's transaction version (feature level).
    pub client_transaction_version: i16,
}

/// What a control record key says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MarkerKind {
    Abort,
    Commit,
    /// Any other control type (e.g. KRaft's 2..6), carried raw.
    Unknown(i16),
}

// ---------------------------------------------------------------- reader

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8]> {
        if n > self.remaining() {
            return Err(TxnSchemaError::Truncated {
                at: self.pos,
                need: n - self.remaining(),
            });
        }
        let out = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(out)
    }

    fn array<const N: usize>(&mut self) -> Result<[u8; N]> {
        let mut out = [0u8; N];
        out.copy_from_slice(self.take(N)?);
        Ok(out)
    }

    fn i8(&mut self) -> Result<i8> {
        Ok(i8::from_be_bytes(self.array()?))
    }

    fn i16(&mut self) -> Result<i16> {
        Ok(i16::from_be_bytes(self.array()?))
    }

    fn i32(&mut self) -> Result<i32> {
        Ok(i32::from_be_bytes(self.array()?))
    }

    fn i64(&mut self) -> Result<i64> {
        Ok(i64::from_be_bytes(self.array()?))
    }

    /// Kafka's unsigned varint: at most 5 bytes, 7 bits each, low first.
    fn uvarint(&mut self) -> Result<u32> {
        let mut value: u64 = 0;
        for i in 0..5 {
            let b = self.i8()? as u8;
            value |= u64::from(b & 0x7f) << (7 * i);
            if b & 0x80 == 0 {
                return u32::try_from(value).map_err(|_| TxnSchemaError::VarintOverflow);
            }
        }
        Err(TxnSchemaError::VarintOverflow)
    }

    /// An array length: `int32` (classic) or `uvarint(n+1)` (compact).
    /// `None` means null. Refuses counts the remaining bytes cannot hold, so
    /// a hostile length never drives a large allocation.
    fn array_len(
        &mut self,
        flexible: bool,
        min_elem: usize,
        field: &'static str,
    ) -> Result<Option<usize>> {
        let n = if flexible {
            i64::from(self.uvarint()?) - 1
        } else {
            i64::from(self.i32()?)
        };
        if n < 0 {
            return Ok(None);
        }
        let len = n as usize;
        if len.saturating_mul(min_elem) > self.remaining() {
            return Err(TxnSchemaError::InvalidLength { field, len: n });
        }
        Ok(Some(len))
    }

    /// A non-nullable string, classic or compact; at most 0x7fff bytes.
    fn string(&mut self, flexible: bool, field: &'static str) -> Result<String> {
        let n = if flexible {
            i64::from(self.uvarint()?) - 1
        } else {
            i64::from(self.i16()?)
        };
        if n < 0 {
            return Err(TxnSchemaError::UnexpectedNull(field));
        }
        if n > 0x7fff {
            return Err(TxnSchemaError::InvalidLength { field, len: n });
        }
        let bytes = self.take(n as usize)?;
        String::from_utf8(bytes.to_vec()).map_err(|_| TxnSchemaError::InvalidUtf8(field))
    }

    /// Walks a tagged-field section, handing each field's bytes to `known`,
    /// which ignores the tags it does not know.
    fn tagged_fields(&mut self, mut known: impl FnMut(u32, &[u8]) -> Result<()>) -> Result<()> {
        let count = self.uvarint()?;
        for _ in 0..count {
            let tag = self.uvarint()?;
            let size = self.uvarint()? as usize;
            let data = self.take(size)?;
            known(tag, data)?;
        }
        Ok(())
    }
}

fn fixed<const N: usize>(tag: u32, data: &[u8]) -> Result<[u8; N]> {
    data.try_into()
        .map_err(|_| TxnSchemaError::TaggedFieldSize {
            tag,
            size: data.len(),
            expected: N,
        })
}

// ---------------------------------------------------------------- writer

fn put_uvarint(out: &mut Vec<u8>, mut v: u32) {
    while v >= 0x80 {
        out.push((v as u8 & 0x7f) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

fn put_len(
    out: &mut Vec<u8>,
    flexible: bool,
    len: Option<usize>,
    field: &'static str,
) -> Result<()> {
    let Some(len) = len else {
        if flexible {
            out.push(0);
        } else {
            out.extend_from_slice(&(-1i32).to_be_bytes());
        }
        return Ok(());
    };
    let n = i32::try_from(len).map_err(|_| TxnSchemaError::TooLong(field))?;
    if flexible {
        put_uvarint(out, n as u32 + 1);
    } else {
        out.extend_from_slice(&n.to_be_bytes());
    }
    Ok(())
}

fn put_string(out: &mut Vec<u8>, flexible: bool, s: &str, field: &'static str) -> Result<()> {
    if s.len() > 0x7fff {
        return Err(TxnSchemaError::TooLong(field));
    }
    if flexible {
        put_uvarint(out, s.len() as u32 + 1);
    } else {
        out.extend_from_slice(&(s.len() as i16).to_be_bytes());
    }
    out.extend_from_slice(s.as_bytes());
    Ok(())
}

fn put_tag(out: &mut Vec<u8>, tag: u32, data: &[u8]) {
    put_uvarint(out, tag);
    put_uvarint(out, data.len() as u32);
    out.extend_from_slice(data);
}

// ---------------------------------------------------------------- key

/// `TransactionLogKey` bytes: version 0 + classic string.
pub fn encode_key(transactional_id: &str) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(4 + transactional_id.len());
    out.extend_from_slice(&0i16.to_be_bytes());
    put_string(&mut out, false, transactional_id, "TransactionalId")?;
    Ok(out)
}

/// The transactional id of a `TransactionLogKey`. Trailing bytes are
/// ignored, as Kafka's generated reader ignores them.
pub fn decode_key(buf: &[u8]) -> Result<String> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    if version != 0 {
        return Err(TxnSchemaError::UnknownKeyVersion(version));
    }
    r.string(false, "TransactionalId")
}

// ---------------------------------------------------------------- value

/// `TransactionLogValue` bytes at `version` (0 or 1), version prefix included.
pub fn encode_value(v: &TransactionLogValue, version: i16) -> Result<Vec<u8>> {
    if !(0..=1).contains(&version) {
        return Err(TxnSchemaError::UnknownValueVersion(version));
    }
    let flexible = version >= 1;
    if !flexible {
        let non_default = [
            (v.previous_producer_id != -1, "PreviousProducerId"),
            (v.next_producer_id != -1, "NextProducerId"),
            (
                v.client_transaction_version != 0,
                "ClientTransactionVersion",
            ),
        ];
        if let Some((_, name)) = non_default.iter().find(|(set, _)| *set) {
            return Err(TxnSchemaError::NotInVersion(name, version));
        }
    }
    let mut out = Vec::with_capacity(64);
    out.extend_from_slice(&version.to_be_bytes());
    out.extend_from_slice(&v.producer_id.to_be_bytes());
    out.extend_from_slice(&v.producer_epoch.to_be_bytes());
    out.extend_from_slice(&v.timeout_ms.to_be_bytes());
    out.push(v.status.to_i8() as u8);
    put_len(
        &mut out,
        flexible,
        v.partitions.as_ref().map(Vec::len),
        "TransactionPartitions",
    )?;
    for entry in v.partitions.iter().flatten() {
        put_string(&mut out, flexible, &entry.topic, "Topic")?;
        put_len(
            &mut out,
            flexible,
            Some(entry.partitions.len()),
            "PartitionIds",
        )?;
        for p in &entry.partitions {
            out.extend_from_slice(&p.to_be_bytes());
        }
        if flexible {
            out.push(0); // no tagged fields in PartitionsSchema
        }
    }
    out.extend_from_slice(&v.last_update_ms.to_be_bytes());
    out.extend_from_slice(&v.start_ms.to_be_bytes());
    if flexible {
        let mut tags = Vec::new();
        let mut count = 0;
        if v.previous_producer_id != -1 {
            put_tag(&mut tags, 0, &v.previous_producer_id.to_be_bytes());
            count += 1;
        }
        if v.next_producer_id != -1 {
            put_tag(&mut tags, 1, &v.next_producer_id.to_be_bytes());
            count += 1;
        }
        if v.client_transaction_version != 0 {
            put_tag(&mut tags, 2, &v.client_transaction_version.to_be_bytes());
            count += 1;
        }
        put_uvarint(&mut out, count);
        out.extend_from_slice(&tags);
    }
    Ok(out)
}

/// Decodes a version-prefixed `TransactionLogValue` (v0 or v1). Trailing
/// bytes are ignored, as in Kafka.
pub fn decode_value(buf: &[u8]) -> Result<TransactionLogValue> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    if !(0..=1).contains(&version) {
        return Err(TxnSchemaError::UnknownValueVersion(version));
    }
    let flexible = version >= 1;
    let producer_id = r.i64()?;
    let producer_epoch = r.i16()?;
    let timeout_ms = r.i32()?;
    let raw_status = r.i8()?;
    let status = TxnStatus::from_i8(raw_status).ok_or(TxnSchemaError::UnknownStatus(raw_status))?;
    // Smallest entry: empty topic + empty id array (+ empty tag section).
    let min_entry = if flexible { 3 } else { 6 };
    let partitions = match r.array_len(flexible, min_entry, "TransactionPartitions")? {
        None => None,
        Some(n) => {
            let mut list = Vec::with_capacity(n);
            for _ in 0..n {
                let topic = r.string(flexible, "Topic")?;
                let count = r
                    .array_len(flexible, 4, "PartitionIds")?
                    .ok_or(TxnSchemaError::UnexpectedNull("PartitionIds"))?;
                let mut ids = Vec::with_capacity(count);
                for _ in 0..count {
                    ids.push(r.i32()?);
                }
                if flexible {
                    r.tagged_fields(|_, _| Ok(()))?;
                }
                list.push(TxnPartitions {
                    topic,
                    partitions: ids,
                });
            }
            Some(list)
        }
    };
    let mut value = TransactionLogValue {
        producer_id,
        previous_producer_id: -1,
        next_producer_id: -1,
        producer_epoch,
        timeout_ms,
        status,
        partitions,
        last_update_ms: r.i64()?,
        start_ms: r.i64()?,
        client_transaction_version: 0,
    };
    if flexible {
        r.tagged_fields(|tag, data| {
            match tag {
                0 => value.previous_producer_id = i64::from_be_bytes(fixed(tag, data)?),
                1 => value.next_producer_id = i64::from_be_bytes(fixed(tag, data)?),
                2 => value.client_transaction_version = i16::from_be_bytes(fixed(tag, data)?),
                _ => {}
            }
            Ok(())
        })?;
    }
    Ok(value)
}

// ---------------------------------------------------------------- markers

/// Control record key of a transaction marker: version 0, type 1 or 0.
pub fn encode_marker_key(commit: bool) -> [u8; 4] {
    [0, 0, 0, u8::from(commit)]
}

/// Control record value of a transaction marker: version 0 + coordinator epoch.
pub fn encode_marker_value(coordinator_epoch: i32) -> Vec<u8> {
    let mut out = vec![0, 0];
    out.extend_from_slice(&coordinator_epoch.to_be_bytes());
    out
}

/// Reads the type of any control record key (versions above 0 parse as 0).
pub fn decode_marker_key(buf: &[u8]) -> Result<MarkerKind> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    if version < 0 {
        return Err(TxnSchemaError::InvalidMarkerVersion(version));
    }
    Ok(match r.i16()? {
        0 => MarkerKind::Abort,
        1 => MarkerKind::Commit,
        other => MarkerKind::Unknown(other),
    })
}

/// The coordinator epoch of a marker value (versions above 0 parse as 0).
pub fn decode_marker_value(buf: &[u8]) -> Result<i32> {
    let mut r = Reader::new(buf);
    let version = r.i16()?;
    if version < 0 {
        return Err(TxnSchemaError::InvalidMarkerVersion(version));
    }
    r.i32()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(status: TxnStatus) -> TransactionLogValue {
        TransactionLogValue {
            producer_id: 1000,
            previous_producer_id: -1,
            next_producer_id: -1,
            producer_epoch: 5,
            timeout_ms: 60_000,
            status,
            partitions: Some(vec![TxnPartitions {
                topic: "t".into(),
                partitions: vec![0, 2],
            }]),
            last_update_ms: 1_700_000_000_000,
            start_ms: 1_699_999_999_000,
            client_transaction_version: 0,
        }
    }

    fn full() -> TransactionLogValue {
        TransactionLogValue {
            previous_producer_id: 999,
            next_producer_id: 1001,
            client_transaction_version: 2,
            partitions: Some(vec![
                TxnPartitions {
                    topic: "orders".into(),
                    partitions: vec![3, 1, 7],
                },
                TxnPartitions {
                    topic: String::new(),
                    partitions: vec![],
                },
            ]),
            ..sample(TxnStatus::PrepareCommit)
        }
    }

    /// Fixed-width head shared by both versions, in JSON field order.
    fn head(version: i16, status: u8) -> Vec<u8> {
        let mut b = version.to_be_bytes().to_vec();
        b.extend_from_slice(&[0, 0, 0, 0, 0, 0, 0x03, 0xE8]); // ProducerId 1000
        b.extend_from_slice(&[0x00, 0x05]); // ProducerEpoch 5
        b.extend_from_slice(&[0x00, 0x00, 0xEA, 0x60]); // TransactionTimeoutMs 60000
        b.push(status); // TransactionStatus
        b
    }

    fn tail(b: &mut Vec<u8>) {
        b.extend_from_slice(&1_700_000_000_000i64.to_be_bytes());
        b.extend_from_slice(&1_699_999_999_000i64.to_be_bytes());
    }

    #[test]
    fn key_layout() {
        let expected = [0, 0, 0, 6, b'm', b'y', b'-', b't', b'x', b'n'];
        assert_eq!(encode_key("my-txn").unwrap(), expected);
        assert_eq!(decode_key(&expected).unwrap(), "my-txn");
        assert_eq!(decode_key(&encode_key("").unwrap()).unwrap(), "");
        assert_eq!(
            decode_key(&[0, 1, 0, 0]),
            Err(TxnSchemaError::UnknownKeyVersion(1))
        );
        assert_eq!(
            decode_key(&[0, 0, 0xff, 0xff]),
            Err(TxnSchemaError::UnexpectedNull("TransactionalId"))
        );
        assert_eq!(
            decode_key(&[0, 0, 0, 1, 0xff]),
            Err(TxnSchemaError::InvalidUtf8("TransactionalId"))
        );
        assert_eq!(
            encode_key(&"x".repeat(0x8000)),
            Err(TxnSchemaError::TooLong("TransactionalId"))
        );
        assert!(encode_key(&"x".repeat(0x7fff)).is_ok());
    }

    #[test]
    fn value_v0_layout() {
        let mut b = head(0, 1);
        b.extend_from_slice(&[0, 0, 0, 1]); // one PartitionsSchema
        b.extend_from_slice(&[0, 1, b't']); // Topic "t"
        b.extend_from_slice(&[0, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 2]); // PartitionIds [0, 2]
        tail(&mut b);
        let v = sample(TxnStatus::Ongoing);
        assert_eq!(encode_value(&v, 0).unwrap(), b);
        assert_eq!(decode_value(&b).unwrap(), v);
    }

    #[test]
    fn value_v1_layout() {
        let mut b = head(1, 1);
        b.push(2); // compact array, 1 entry
        b.extend_from_slice(&[2, b't']); // compact string "t"
        b.extend_from_slice(&[3, 0, 0, 0, 0, 0, 0, 0, 2]); // compact [0, 2]
        b.push(0); // PartitionsSchema tagged fields: none
        tail(&mut b);
        b.extend_from_slice(&[1, 2, 2, 0, 2]); // 1 tag: tag 2, size 2, ClientTransactionVersion 2
        let v = TransactionLogValue {
            client_transaction_version: 2,
            ..sample(TxnStatus::Ongoing)
        };
        assert_eq!(encode_value(&v, 1).unwrap(), b);
        assert_eq!(decode_value(&b).unwrap(), v);
    }

    #[test]
    fn value_v1_all_tags_in_order() {
        let mut b = head(1, 4);
        b.push(1); // empty, non-null array
        tail(&mut b);
        b.push(3);
        b.extend_from_slice(&[0, 8]);
        b.extend_from_slice(&999i64.to_be_bytes());
        b.extend_from_slice(&[1, 8]);
        b.extend_from_slice(&1001i64.to_be_bytes());
        b.extend_from_slice(&[2, 2, 0, 2]);
        let v = TransactionLogValue {
            partitions: Some(vec![]),
            ..full()
        };
        let v = TransactionLogValue {
            status: TxnStatus::CompleteCommit,
            ..v
        };
        assert_eq!(encode_value(&v, 1).unwrap(), b);
        assert_eq!(decode_value(&b).unwrap(), v);
    }

    #[test]
    fn null_partitions() {
        let v = TransactionLogValue {
            partitions: None,
            ..sample(TxnStatus::Empty)
        };
        let mut b0 = head(0, 0);
        b0.extend_from_slice(&[0xff, 0xff, 0xff, 0xff]);
        tail(&mut b0);
        assert_eq!(encode_value(&v, 0).unwrap(), b0);
        let mut b1 = head(1, 0);
        b1.push(0);
        tail(&mut b1);
        b1.push(0);
        assert_eq!(encode_value(&v, 1).unwrap(), b1);
        assert_eq!(decode_value(&b0).unwrap(), v);
        assert_eq!(decode_value(&b1).unwrap(), v);
    }

    #[test]
    fn unknown_tags_are_skipped() {
        let mut b = head(1, 1);
        b.push(2);
        b.extend_from_slice(&[2, b't', 3, 0, 0, 0, 0, 0, 0, 0, 2]);
        b.extend_from_slice(&[2, 100, 3, b'f', b'o', b'o', 101, 0]); // two unknown tags
        tail(&mut b);
        b.extend_from_slice(&[3, 9, 1, 0x7f, 1, 8]); // unknown tag 9, then tag 1
        b.extend_from_slice(&1001i64.to_be_bytes());
        b.extend_from_slice(&[0x80, 0x01, 0]); // unknown tag 128, zero bytes
        let v = decode_value(&b).unwrap();
        assert_eq!(
            v,
            TransactionLogValue {
                next_producer_id: 1001,
                ..sample(TxnStatus::Ongoing)
            }
        );
        // A known tag with the wrong width is an error, not a misread.
        let mut bad = head(1, 0);
        bad.push(0);
        tail(&mut bad);
        bad.extend_from_slice(&[1, 2, 1, 7]);
        assert_eq!(
            decode_value(&bad),
            Err(TxnSchemaError::TaggedFieldSize {
                tag: 2,
                size: 1,
                expected: 2
            })
        );
    }

    #[test]
    fn round_trips_every_version_and_status() {
        for status in TxnStatus::ALL {
            assert_eq!(TxnStatus::from_i8(status.to_i8()), Some(status));
            let plain = sample(status);
            for version in [0, 1] {
                assert_eq!(
                    decode_value(&encode_value(&plain, version).unwrap()).unwrap(),
                    plain
                );
            }
            let tagged = TransactionLogValue { status, ..full() };
            assert_eq!(
                decode_value(&encode_value(&tagged, 1).unwrap()).unwrap(),
                tagged
            );
        }
        assert_eq!(TxnStatus::PrepareEpochFence.to_i8(), 7);
        assert_eq!(TxnStatus::from_i8(8), None);
        assert_eq!(TxnStatus::from_i8(-1), None);
        assert_eq!(value_version_for_transaction_version(0), 0);
        assert_eq!(
            value_version_for_transaction_version(2),
            VALUE_WRITE_VERSION
        );
    }

    #[test]
    fn encoder_refuses_what_kafka_refuses() {
        assert_eq!(
            encode_value(&full(), 0),
            Err(TxnSchemaError::NotInVersion("PreviousProducerId", 0))
        );
        assert_eq!(
            encode_value(&full(), 2),
            Err(TxnSchemaError::UnknownValueVersion(2))
        );
        let long = TransactionLogValue {
            partitions: Some(vec![TxnPartitions {
                topic: "x".repeat(0x8000),
                partitions: vec![],
            }]),
            ..sample(TxnStatus::Ongoing)
        };
        assert_eq!(
            encode_value(&long, 1),
            Err(TxnSchemaError::TooLong("Topic"))
        );
    }

    #[test]
    fn decoder_rejects_bad_fields() {
        assert_eq!(
            decode_value(&[0, 2]),
            Err(TxnSchemaError::UnknownValueVersion(2))
        );
        assert_eq!(
            decode_value(&head(0, 8)),
            Err(TxnSchemaError::UnknownStatus(8))
        );
        // Huge array counts fail on length, without allocating.
        let mut b = head(0, 1);
        b.extend_from_slice(&0x7fff_ffffi32.to_be_bytes());
        assert!(matches!(
            decode_value(&b),
            Err(TxnSchemaError::InvalidLength { .. })
        ));
        let mut b = head(1, 1);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0x0f]);
        assert!(matches!(
            decode_value(&b),
            Err(TxnSchemaError::InvalidLength { .. })
        ));
        let mut b = head(1, 1);
        b.extend_from_slice(&[0xff, 0xff, 0xff, 0xff, 0xff, 0x01]);
        assert_eq!(decode_value(&b), Err(TxnSchemaError::VarintOverflow));
        // Null PartitionIds is not allowed.
        let mut b = head(1, 1);
        b.extend_from_slice(&[2, 2, b't', 0, 0]);
        tail(&mut b);
        b.push(0);
        assert_eq!(
            decode_value(&b),
            Err(TxnSchemaError::UnexpectedNull("PartitionIds"))
        );
    }

    #[test]
    fn marker_layout() {
        assert_eq!(encode_marker_key(true), [0, 0, 0, 1]);
        assert_eq!(encode_marker_key(false), [0, 0, 0, 0]);
        assert_eq!(encode_marker_value(5), [0, 0, 0, 0, 0, 5]);
        assert_eq!(encode_marker_value(-1), [0, 0, 0xff, 0xff, 0xff, 0xff]);
        assert_eq!(decode_marker_key(&[0, 0, 0, 1]), Ok(MarkerKind::Commit));
        assert_eq!(decode_marker_key(&[0, 0, 0, 0]), Ok(MarkerKind::Abort));
        assert_eq!(decode_marker_key(&[0, 0, 0, 2]), Ok(MarkerKind::Unknown(2)));
        assert_eq!(decode_marker_key(&[0, 3, 0, 1, 9]), Ok(MarkerKind::Commit)); // newer version
        assert_eq!(
            decode_marker_key(&[0xff, 0xff, 0, 1]),
            Err(TxnSchemaError::InvalidMarkerVersion(-1))
        );
        assert_eq!(decode_marker_value(&[0, 0, 0, 0, 1, 0]), Ok(256));
        assert_eq!(decode_marker_value(&[0, 1, 0, 0, 0, 7, 0xaa]), Ok(7));
        assert_eq!(
            decode_marker_value(&[0x80, 0, 0, 0, 0, 7]),
            Err(TxnSchemaError::InvalidMarkerVersion(i16::MIN))
        );
        for e in [0, 1, -1, i32::MAX, i32::MIN] {
            assert_eq!(decode_marker_value(&encode_marker_value(e)), Ok(e));
        }
    }

    fn valid_records() -> Vec<Vec<u8>> {
        vec![
            encode_value(&sample(TxnStatus::Ongoing), 0).unwrap(),
            encode_value(&sample(TxnStatus::Ongoing), 1).unwrap(),
            encode_value(&full(), 1).unwrap(),
            encode_value(
                &TransactionLogValue {
                    partitions: None,
                    ..sample(TxnStatus::Empty)
                },
                0,
            )
            .unwrap(),
        ]
    }

    #[test]
    fn every_truncation_fails() {
        for rec in valid_records() {
            for n in 0..rec.len() {
                assert!(decode_value(&rec[..n]).is_err(), "prefix {n} of {rec:?}");
            }
        }
        let key = encode_key("some-transactional-id").unwrap();
        for n in 0..key.len() {
            assert!(decode_key(&key[..n]).is_err());
        }
        for n in 0..4 {
            assert!(decode_marker_key(&encode_marker_key(true)[..n]).is_err());
        }
        for n in 0..6 {
            assert!(decode_marker_value(&encode_marker_value(3)[..n]).is_err());
        }
    }

    #[test]
    fn random_and_mutated_inputs_do_not_panic() {
        let mut seed: u64 = 0x9e37_79b9_7f4a_7c15;
        let mut next = move || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let bases = valid_records();
        let mut decoded = 0;
        for i in 0..6000 {
            let input: Vec<u8> = if i % 3 == 0 {
                (0..next() % 80).map(|_| next() as u8).collect()
            } else {
                let mut m = bases[(next() % bases.len() as u64) as usize].clone();
                for _ in 0..1 + next() % 4 {
                    let at = (next() % m.len() as u64) as usize;
                    match next() % 3 {
                        0 => m[at] = next() as u8,
                        1 => m.insert(at, next() as u8),
                        _ => {
                            m.remove(at);
                        }
                    }
                }
                m
            };
            let _ = decode_key(&input);
            let _ = decode_marker_key(&input);
            let _ = decode_marker_value(&input);
            if let Ok(v) = decode_value(&input) {
                // Whatever decodes must survive a v1 round trip unchanged.
                let bytes = encode_value(&v, 1).unwrap();
                assert_eq!(decode_value(&bytes).unwrap(), v);
                decoded += 1;
            }
        }
        assert!(decoded > 100, "only {decoded} decoded");
    }
}
