//! Idempotent-producer state of one partition: per producer id, its epoch and the
//! sequence ranges of its last few batches, so that a retried batch is recognised and
//! answered with its original offsets, a gap is refused, and a zombie with an old epoch
//! is fenced.
//!
//! # Rules (Kafka's `ProducerAppendInfo`)
//! * Only batches with a producer id (>= 0) are checked.
//! * A batch whose epoch and first/last sequence equal one of the producer's last
//!   [`BATCHES_TO_RETAIN`] batches is a duplicate: nothing is appended and the original
//!   offsets are returned.
//! * An epoch below the producer's current one is INVALID_PRODUCER_EPOCH.
//! * A new (higher) epoch must start at sequence 0, unless the producer is unknown.
//! * Within an epoch the first sequence must follow the last one (`last + 1`, wrapping
//!   from `i32::MAX` to 0), else OUT_OF_ORDER_SEQUENCE_NUMBER. A producer this log knows
//!   nothing about (new, expired, or its data deleted) may start anywhere.
//!
//! # Durability
//! The state is derived from the log: every batch header carries the producer id, epoch
//! and sequence range. Rebuilding it means reading batch headers (61 bytes each) from
//! some offset to the end. To keep that short, a snapshot of the whole state is written
//! as `<20-digit offset>.snapshot` when a segment rolls and when the log closes; opening
//! loads the newest valid snapshot at or below the log end and replays headers after it.
//! Snapshots are checked with CRC32C and never trusted beyond the log end, so a missing
//! or torn one only costs a longer replay: they need no fsync of their own.
//!
//! # Transactions
//! A transactional batch opens the producer's transaction at its first offset unless
//! one is open; the coordinator's COMMIT or ABORT marker (a control batch) closes it.
//! The smallest first offset of the open transactions is the partition's first
//! unstable offset: read_committed consumers never read at or past it (the last
//! stable offset, LSO). Closing an aborted transaction yields the range the
//! log records in its aborted-transaction index.
//!
//! # Expiry
//! A producer not heard from for `producer.id.expiration.ms` (measured on the broker's
//! clock at append, not the client's timestamps) is forgotten; its next batch is taken
//! as from a new producer. A producer with an open transaction is never forgotten: the
//! transaction coordinator aborts it first (`transaction.timeout.ms`).

use std::collections::{BTreeSet, HashMap, VecDeque};
use std::io;
use std::path::{Path, PathBuf};

use crate::record::BatchHeader;

/// Batches remembered per producer for duplicate detection (Kafka's
/// `NUM_BATCHES_TO_RETAIN`; the Java producer keeps at most 5 in flight).
pub const BATCHES_TO_RETAIN: usize = 5;
/// Snapshot files kept per partition (the newest ones).
const SNAPSHOTS_TO_KEEP: usize = 2;
pub(crate) const SNAPSHOT_SUFFIX: &str = ".snapshot";
const SNAPSHOT_MAGIC: &[u8; 4] = b"GPS2";
/// Fixed bytes of a snapshot before its entries: magic, crc32c, offset, entry count.
const SNAPSHOT_HEADER_BYTES: usize = 4 + 4 + 8 + 4;
/// Bytes of one entry before its batches: id, epoch, last append, open transaction's
/// first offset (-1: none), batch count.
const ENTRY_FIXED_BYTES: usize = 8 + 2 + 8 + 8 + 1;
/// Bytes of one remembered batch: first/last sequence, first/last offset, timestamp.
const BATCH_META_BYTES: usize = 4 + 4 + 8 + 8 + 8;

/// Why a producer's batch was refused. The log maps these to Kafka error codes.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProducerError {
    /// Kafka: INVALID_PRODUCER_EPOCH.
    #[error("producer {producer_id} epoch {epoch} is older than its current epoch {current}")]
    StaleEpoch {
        producer_id: i64,
        epoch: i16,
        current: i16,
    },
    /// Kafka: OUT_OF_ORDER_SEQUENCE_NUMBER.
    #[error(
        "producer {producer_id} (epoch {epoch}): sequence {first_seq} does not follow {last_seq}"
    )]
    OutOfOrder {
        producer_id: i64,
        epoch: i16,
        first_seq: i32,
        last_seq: i32,
    },
}

/// One remembered batch of a producer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct BatchMeta {
    pub first_seq: i32,
    pub last_seq: i32,
    pub first_offset: i64,
    pub last_offset: i64,
    /// The batch's max timestamp, returned again for a duplicate.
    pub timestamp: i64,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProducerEntry {
    pub epoch: i16,
    /// Oldest first, at most [`BATCHES_TO_RETAIN`].
    pub batches: VecDeque<BatchMeta>,
    /// Broker wall-clock ms of the producer's last append (drives expiry).
    pub last_append_ms: i64,
    /// First offset of the producer's open transaction in this partition.
    pub txn_first_offset: Option<i64>,
}

/// What a marker did to an open transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CompletedTxn {
    pub producer_id: i64,
    pub first_offset: i64,
    /// Offset of the marker.
    pub last_offset: i64,
    pub aborted: bool,
}

impl ProducerEntry {
    fn last_seq(&self) -> Option<i32> {
        self.batches.back().map(|b| b.last_seq)
    }
}

/// What a checked batch is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Checked {
    /// Not seen before: append it.
    New,
    /// A retry of a batch already in the log.
    Duplicate(BatchMeta),
}

/// Last sequence number of a batch: sequences wrap from `i32::MAX` to 0.
fn last_seq_of(h: &BatchHeader) -> i32 {
    (i64::from(h.base_sequence) + i64::from(h.last_offset_delta)).rem_euclid(1 << 31) as i32
}

fn in_sequence(last: i32, next: i32) -> bool {
    i64::from(next) == i64::from(last) + 1 || (next == 0 && last == i32::MAX)
}

#[derive(Debug, Default)]
pub struct ProducerStates {
    producers: HashMap<i64, ProducerEntry>,
    /// (first offset, producer id) of every open transaction: the first one is the
    /// partition's first unstable offset.
    open_txns: BTreeSet<(i64, i64)>,
}

impl ProducerStates {
    pub fn get(&self, producer_id: i64) -> Option<&ProducerEntry> {
        self.producers.get(&producer_id)
    }

    pub fn len(&self) -> usize {
        self.producers.len()
    }

    pub fn is_empty(&self) -> bool {
        self.producers.is_empty()
    }

    pub(crate) fn insert(&mut self, producer_id: i64, entry: ProducerEntry) {
        if let Some(first) = entry.txn_first_offset {
            self.open_txns.insert((first, producer_id));
        }
        self.producers.insert(producer_id, entry);
    }

    /// First offset of the oldest open transaction (the LSO bound), if any.
    pub fn first_unstable_offset(&self) -> Option<i64> {
        self.open_txns.first().map(|(o, _)| *o)
    }

    /// Open transactions as (producer id, first offset), oldest first.
    pub fn open_transactions(&self) -> impl Iterator<Item = (i64, i64)> + '_ {
        self.open_txns.iter().map(|(o, p)| (*p, *o))
    }

    /// Every producer, for DescribeProducers.
    pub fn iter(&self) -> impl Iterator<Item = (&i64, &ProducerEntry)> {
        self.producers.iter()
    }

    /// Checks a batch about to be appended (see the module docs). Does not change state.
    pub fn check(&self, h: &BatchHeader) -> Result<Checked, ProducerError> {
        // Transaction markers are written by the coordinator and carry no sequence.
        if h.producer_id < 0 || h.is_control() {
            return Ok(Checked::New);
        }
        let Some(entry) = self.producers.get(&h.producer_id) else {
            return Ok(Checked::New);
        };
        if h.producer_epoch == entry.epoch {
            let last = last_seq_of(h);
            if let Some(dup) = entry
                .batches
                .iter()
                .find(|b| b.first_seq == h.base_sequence && b.last_seq == last)
            {
                return Ok(Checked::Duplicate(*dup));
            }
        }
        if h.producer_epoch < entry.epoch {
            return Err(ProducerError::StaleEpoch {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                current: entry.epoch,
            });
        }
        // Batches without a sequence (transactional offset commits the group
        // coordinator writes for a producer) are fenced by epoch only.
        if h.base_sequence < 0 {
            return Ok(Checked::New);
        }
        let ok = if h.producer_epoch != entry.epoch {
            h.base_sequence == 0
        } else {
            entry
                .last_seq()
                .is_none_or(|last| in_sequence(last, h.base_sequence))
        };
        if ok {
            Ok(Checked::New)
        } else {
            Err(ProducerError::OutOfOrder {
                producer_id: h.producer_id,
                epoch: h.producer_epoch,
                first_seq: h.base_sequence,
                last_seq: entry.last_seq().unwrap_or(-1),
            })
        }
    }

    /// Records an appended batch (its header as stored, with offsets assigned).
    /// `marker` is the control record's kind for a control batch: `Some(true)` for
    /// ABORT, `Some(false)` for COMMIT. Markers carry no sequence; they close the
    /// producer's open transaction, which is returned.
    pub fn record(
        &mut self,
        h: &BatchHeader,
        now_ms: i64,
        marker: Option<bool>,
    ) -> Option<CompletedTxn> {
        if h.producer_id < 0 {
            return None;
        }
        let entry = self
            .producers
            .entry(h.producer_id)
            .or_insert_with(|| ProducerEntry {
                epoch: h.producer_epoch,
                batches: VecDeque::new(),
                last_append_ms: now_ms,
                txn_first_offset: None,
            });
        if h.producer_epoch > entry.epoch {
            entry.epoch = h.producer_epoch;
            entry.batches.clear();
        }
        entry.last_append_ms = entry.last_append_ms.max(now_ms);
        if h.is_control() {
            let first = entry.txn_first_offset.take()?;
            self.open_txns.remove(&(first, h.producer_id));
            return Some(CompletedTxn {
                producer_id: h.producer_id,
                first_offset: first,
                last_offset: h.last_offset(),
                aborted: marker.unwrap_or(false),
            });
        }
        if h.is_transactional() && entry.txn_first_offset.is_none() {
            entry.txn_first_offset = Some(h.base_offset);
            self.open_txns.insert((h.base_offset, h.producer_id));
        }
        if h.base_sequence < 0 {
            return None;
        }
        if entry.batches.len() == BATCHES_TO_RETAIN {
            entry.batches.pop_front();
        }
        entry.batches.push_back(BatchMeta {
            first_seq: h.base_sequence,
            last_seq: last_seq_of(h),
            first_offset: h.base_offset,
            last_offset: h.last_offset(),
            timestamp: h.max_timestamp,
        });
        None
    }

    /// Forgets producers idle for longer than `expiration_ms`. Returns how many.
    pub fn expire(&mut self, now_ms: i64, expiration_ms: i64) -> usize {
        let before = self.producers.len();
        self.producers.retain(|_, e| {
            e.txn_first_offset.is_some() || now_ms.saturating_sub(e.last_append_ms) <= expiration_ms
        });
        before - self.producers.len()
    }

    /// Serializes the state as of `offset` (see the module docs for the layout).
    fn encode(&self, offset: i64) -> Vec<u8> {
        let mut body = Vec::new();
        let mut ids: Vec<&i64> = self.producers.keys().collect();
        ids.sort();
        for id in ids {
            let e = &self.producers[id];
            body.extend_from_slice(&id.to_be_bytes());
            body.extend_from_slice(&e.epoch.to_be_bytes());
            body.extend_from_slice(&e.last_append_ms.to_be_bytes());
            body.extend_from_slice(&e.txn_first_offset.unwrap_or(-1).to_be_bytes());
            body.push(e.batches.len() as u8);
            for b in &e.batches {
                body.extend_from_slice(&b.first_seq.to_be_bytes());
                body.extend_from_slice(&b.last_seq.to_be_bytes());
                body.extend_from_slice(&b.first_offset.to_be_bytes());
                body.extend_from_slice(&b.last_offset.to_be_bytes());
                body.extend_from_slice(&b.timestamp.to_be_bytes());
            }
        }
        let mut covered = Vec::with_capacity(12 + body.len());
        covered.extend_from_slice(&offset.to_be_bytes());
        covered.extend_from_slice(&(self.producers.len() as u32).to_be_bytes());
        covered.extend_from_slice(&body);
        let mut out = Vec::with_capacity(SNAPSHOT_HEADER_BYTES + body.len());
        out.extend_from_slice(SNAPSHOT_MAGIC);
        out.extend_from_slice(&crc32c::crc32c(&covered).to_be_bytes());
        out.extend_from_slice(&covered);
        out
    }

    /// Parses a snapshot; `None` if it is damaged in any way.
    fn decode(buf: &[u8]) -> Option<(i64, ProducerStates)> {
        if buf.len() < SNAPSHOT_HEADER_BYTES || &buf[..4] != SNAPSHOT_MAGIC {
            return None;
        }
        let crc = u32::from_be_bytes(buf[4..8].try_into().ok()?);
        let covered = &buf[8..];
        if crc32c::crc32c(covered) != crc {
            return None;
        }
        let mut r = Cursor(covered);
        let offset = r.i64()?;
        let count = r.u32()? as usize;
        if count > r.0.len() / ENTRY_FIXED_BYTES {
            return None;
        }
        let mut states = ProducerStates::default();
        for _ in 0..count {
            let id = r.i64()?;
            let epoch = r.i16()?;
            let last_append_ms = r.i64()?;
            let txn_first_offset = Some(r.i64()?).filter(|o| *o >= 0);
            let n = r.u8()? as usize;
            if n > BATCHES_TO_RETAIN || r.0.len() < n * BATCH_META_BYTES {
                return None;
            }
            let mut batches = VecDeque::with_capacity(n);
            for _ in 0..n {
                batches.push_back(BatchMeta {
                    first_seq: r.i32()?,
                    last_seq: r.i32()?,
                    first_offset: r.i64()?,
                    last_offset: r.i64()?,
                    timestamp: r.i64()?,
                });
            }
            states.insert(
                id,
                ProducerEntry {
                    epoch,
                    batches,
                    last_append_ms,
                    txn_first_offset,
                },
            );
        }
        r.0.is_empty().then_some((offset, states))
    }
}

struct Cursor<'a>(&'a [u8]);

impl Cursor<'_> {
    fn take<const N: usize>(&mut self) -> Option<[u8; N]> {
        let (head, rest) = self.0.split_first_chunk::<N>()?;
        self.0 = rest;
        Some(*head)
    }
    fn u8(&mut self) -> Option<u8> {
        self.take::<1>().map(|b| b[0])
    }
    fn i16(&mut self) -> Option<i16> {
        self.take().map(i16::from_be_bytes)
    }
    fn i32(&mut self) -> Option<i32> {
        self.take().map(i32::from_be_bytes)
    }
    fn u32(&mut self) -> Option<u32> {
        self.take().map(u32::from_be_bytes)
    }
    fn i64(&mut self) -> Option<i64> {
        self.take().map(i64::from_be_bytes)
    }
}

fn snapshot_path(dir: &Path, offset: i64) -> PathBuf {
    dir.join(super::segment::file_name(offset, SNAPSHOT_SUFFIX))
}

/// Snapshot offsets found in `dir`, ascending.
fn snapshot_offsets(dir: &Path) -> io::Result<Vec<i64>> {
    let mut out = Vec::new();
    for entry in crate::storage::read_dir(dir)? {
        let name = entry?.file_name();
        if let Some(o) = name
            .to_str()
            .and_then(|n| super::segment::parse_file_name(n, SNAPSHOT_SUFFIX))
        {
            out.push(o);
        }
    }
    out.sort_unstable();
    Ok(out)
}

/// Writes the state as of `offset` durably (temp file, fsync, rename, fsync of the
/// directory: a reader or a restart sees old or new) and prunes older snapshots.
pub(crate) fn write_snapshot(dir: &Path, offset: i64, states: &ProducerStates) -> io::Result<()> {
    let path = snapshot_path(dir, offset);
    let name = path
        .file_name()
        .and_then(|n| n.to_str())
        .ok_or_else(|| io::Error::other("snapshot path without a name"))?
        .to_string();
    crate::storage::write_file_atomic(dir, &name, &states.encode(offset))?;
    let offsets = snapshot_offsets(dir)?;
    if offsets.len() > SNAPSHOTS_TO_KEEP {
        for &o in &offsets[..offsets.len() - SNAPSHOTS_TO_KEEP] {
            let _ = crate::storage::remove_file(&snapshot_path(dir, o));
        }
    }
    Ok(())
}

/// The newest valid snapshot at or below `log_end`, as (offset, state). Snapshots above
/// the log end (the log was truncated by recovery) and damaged ones are deleted.
pub(crate) fn load_snapshot(dir: &Path, log_end: i64) -> io::Result<Option<(i64, ProducerStates)>> {
    let offsets = snapshot_offsets(dir)?;
    for &o in offsets.iter().rev() {
        let path = snapshot_path(dir, o);
        if o > log_end {
            tracing::info!(path = %path.display(), log_end, "removing producer snapshot past the log end");
            let _ = crate::storage::remove_file(&path);
            continue;
        }
        match crate::storage::read(&path)
            .ok()
            .and_then(|b| ProducerStates::decode(&b))
        {
            Some((offset, states)) if offset == o => return Ok(Some((offset, states))),
            _ => {
                tracing::warn!(path = %path.display(), "removing unreadable producer snapshot (rebuilt from the log)");
                let _ = crate::storage::remove_file(&path);
            }
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn header(pid: i64, epoch: i16, seq: i32, count: i32, base: i64) -> BatchHeader {
        let mut b = crate::record::build_batch(
            &(0..count)
                .map(|i| crate::record::BuilderRecord {
                    offset_delta: i,
                    timestamp: 1000,
                    value: Some(b"v"),
                    ..Default::default()
                })
                .collect::<Vec<_>>(),
            crate::record::BatchParams {
                producer_id: pid,
                producer_epoch: epoch,
                base_sequence: seq,
                ..Default::default()
            },
        )
        .unwrap();
        crate::record::set_base_offset(&mut b, base).unwrap();
        crate::record::parse_header(&b).unwrap()
    }

    #[test]
    fn sequence_rules() {
        let mut s = ProducerStates::default();
        // Unknown producer: any first sequence.
        let h = header(7, 0, 10, 3, 0);
        assert_eq!(s.check(&h), Ok(Checked::New));
        s.record(&h, 1, None);
        // Next in sequence.
        let h2 = header(7, 0, 13, 2, 3);
        assert_eq!(s.check(&h2), Ok(Checked::New));
        s.record(&h2, 2, None);
        // Retry of either remembered batch: duplicate with original offsets.
        match s.check(&header(7, 0, 10, 3, 99)) {
            Ok(Checked::Duplicate(m)) => assert_eq!((m.first_offset, m.last_offset), (0, 2)),
            other => panic!("{other:?}"),
        }
        // Gap and overlap-without-match are out of order.
        assert!(matches!(
            s.check(&header(7, 0, 16, 1, 5)),
            Err(ProducerError::OutOfOrder { .. })
        ));
        assert!(matches!(
            s.check(&header(7, 0, 12, 2, 5)),
            Err(ProducerError::OutOfOrder { .. })
        ));
        // Stale epoch.
        let mut s2 = ProducerStates::default();
        s2.record(&header(7, 3, 0, 1, 0), 1, None);
        assert!(matches!(
            s2.check(&header(7, 2, 1, 1, 1)),
            Err(ProducerError::StaleEpoch { .. })
        ));
        // New epoch must restart at 0.
        assert!(matches!(
            s2.check(&header(7, 4, 5, 1, 1)),
            Err(ProducerError::OutOfOrder { .. })
        ));
        assert_eq!(s2.check(&header(7, 4, 0, 1, 1)), Ok(Checked::New));
        s2.record(&header(7, 4, 0, 1, 1), 2, None);
        assert_eq!(s2.get(7).unwrap().epoch, 4);
        assert_eq!(
            s2.get(7).unwrap().batches.len(),
            1,
            "old epoch's batches forgotten"
        );
    }

    #[test]
    fn only_the_last_five_batches_are_remembered_and_sequences_wrap() {
        let mut s = ProducerStates::default();
        let mut seq = i32::MAX - 3;
        for i in 0..7 {
            let h = header(1, 0, seq, 2, i * 2);
            assert_eq!(s.check(&h), Ok(Checked::New), "batch {i} seq {seq}");
            s.record(&h, i, None);
            seq = ((i64::from(seq) + 2) % (1 << 31)) as i32;
        }
        assert_eq!(s.get(1).unwrap().batches.len(), BATCHES_TO_RETAIN);
        // The first two batches are forgotten: their retry is now out of order.
        assert!(s.check(&header(1, 0, i32::MAX - 3, 2, 0)).is_err());
        assert!(s.check(&header(1, 0, i32::MAX - 1, 2, 0)).is_err());
        // The batch that crossed i32::MAX would have been MAX-1..=MAX; its successor is 0.
        // Wrapped: batch 2 started at MAX-3+4 = wraps to 0.
        assert!(matches!(
            s.check(&header(1, 0, 0, 2, 0)),
            Ok(Checked::Duplicate(_))
        ));
    }

    #[test]
    fn expiry_and_snapshot_round_trip() {
        let dir = tempfile::tempdir().unwrap();
        let mut s = ProducerStates::default();
        for pid in 0..50 {
            for k in 0..7 {
                s.record(
                    &header(pid, 1, k * 2, 2, pid * 100 + i64::from(k) * 2),
                    1000 + pid,
                    None,
                );
            }
        }
        write_snapshot(dir.path(), 500, &s).unwrap();
        write_snapshot(dir.path(), 600, &s).unwrap();
        write_snapshot(dir.path(), 700, &s).unwrap();
        assert_eq!(snapshot_offsets(dir.path()).unwrap(), vec![600, 700]);
        let (o, loaded) = load_snapshot(dir.path(), 10_000).unwrap().unwrap();
        assert_eq!(o, 700);
        assert_eq!(loaded.producers, s.producers);
        // Past the log end: dropped, the older one is used.
        let (o, _) = load_snapshot(dir.path(), 650).unwrap().unwrap();
        assert_eq!(o, 600);
        assert_eq!(snapshot_offsets(dir.path()).unwrap(), vec![600]);
        // Damaged: dropped.
        let p = snapshot_path(dir.path(), 600);
        let mut b = std::fs::read(&p).unwrap();
        let n = b.len();
        b[n - 3] ^= 1;
        std::fs::write(&p, &b).unwrap();
        assert!(load_snapshot(dir.path(), 10_000).unwrap().is_none());
        // Every truncation of a valid snapshot is rejected, never a panic.
        let good = s.encode(5);
        for cut in 0..good.len() {
            assert!(ProducerStates::decode(&good[..cut]).is_none());
        }
        assert_eq!(
            s.expire(1000 + 24, 10),
            14,
            "producers 0..14 idle for more than 10 ms"
        );
        assert_eq!(s.len(), 36);
    }
}
