//! Log compaction (`PartitionLog::clean`) over a log the fuzzer writes.
//!
//! Input: a program of up to [`MAX_OPS`] operations read with
//! [`super::input::Input`]: append a batch of plain records, append a
//! transactional batch, commit or abort a transaction, run the cleaner with
//! small limits, move the clock past `segment.ms`. Keys come from a small
//! set so they repeat; values may be null (tombstones); batches use every
//! codec. All batches are built with `record::build_batch`, so they carry
//! valid CRCs and reach the cleaner.
//!
//! What must hold after every clean (Kafka's compaction guarantees): every
//! key's latest committed value survives at its offset unless it is a
//! tombstone; nothing is invented (each surviving record is one that was
//! written, at its offset, with its key and value); records of aborted
//! transactions do not shadow committed ones; offsets stay in order; and
//! the compacted log opens again at the same offsets.

use std::collections::{BTreeMap, HashMap};
use std::os::unix::fs::FileExt;

use crate::log::{CleanerLimits, LogConfig, PartitionLog};
use crate::record::{
    batch_records, build_batch, validate_stored_batches, BatchParams, BuilderRecord, Compression,
    RecordIter,
};

use super::input::Input;
use super::scratch::Scratch;

const MAX_OPS: usize = 48;
const KEYS: u8 = 6;
const PRODUCERS: u8 = 2;
const FIRST_PRODUCER_ID: i64 = 1000;
const START_MS: i64 = 1_700_000_000_000;
const CODECS: [Compression; 5] = Compression::ALL;

type Key = Option<Vec<u8>>;
type Value = Option<Vec<u8>>;

/// What happened to a record's transaction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Fate {
    Plain,
    Open(usize),
    Committed,
    Aborted,
}

#[derive(Debug, Clone)]
struct Written {
    key: Key,
    value: Value,
    fate: Fate,
}

#[derive(Default)]
struct Producer {
    sequence: i32,
    /// Id of the open transaction, if any (an index into `Model::txns`).
    open: Option<usize>,
}

#[derive(Default)]
struct Model {
    /// Offset → record, for every record appended.
    written: BTreeMap<i64, Written>,
    /// Transaction id → whether it committed (None while open).
    txns: Vec<Option<bool>>,
    producers: [Producer; PRODUCERS as usize],
}

impl Model {
    fn fate(&self, w: &Written) -> Fate {
        match w.fate {
            Fate::Open(t) => match self.txns[t] {
                None => Fate::Open(t),
                Some(true) => Fate::Committed,
                Some(false) => Fate::Aborted,
            },
            f => f,
        }
    }

    /// Key → (offset, value) of its latest plain or committed record.
    fn latest(&self) -> HashMap<Vec<u8>, (i64, Value)> {
        let mut out = HashMap::new();
        for (&offset, w) in &self.written {
            if let (Some(k), Fate::Plain | Fate::Committed) = (&w.key, self.fate(w)) {
                out.insert(k.clone(), (offset, w.value.clone()));
            }
        }
        out
    }
}

fn records_of(input: &mut Input<'_>, now: i64, values: &mut Vec<(Key, Value)>) {
    values.clear();
    for _ in 0..1 + input.below(6) {
        let k = input.below(KEYS + 1);
        let key = (k < KEYS).then(|| vec![b'k', b'0' + k]);
        let v = input.u8();
        let value = (v % 5 != 0).then(|| {
            let mut value = format!("{now}-").into_bytes();
            value.extend_from_slice(input.bytes(usize::from(v % 24)));
            value
        });
        values.push((key, value));
    }
}

fn build(values: &[(Key, Value)], now: i64, params: BatchParams) -> Vec<u8> {
    let records: Vec<BuilderRecord<'_>> = values
        .iter()
        .enumerate()
        .map(|(i, (k, v))| BuilderRecord {
            offset_delta: i as i32,
            timestamp: now,
            key: k.as_deref(),
            value: v.as_deref(),
            headers: Default::default(),
        })
        .collect();
    build_batch(&records, params).expect("a small batch builds")
}

/// Every data record in the log as (offset, key, value), checking order.
fn read_all(log: &PartitionLog) -> Vec<(i64, Key, Value)> {
    let slice = log
        .read(log.log_start_offset(), u64::MAX, true)
        .expect("the whole log reads");
    let mut bytes = Vec::new();
    for r in &slice.ranges {
        let mut b = vec![0u8; r.len as usize];
        r.file
            .read_exact_at(&mut b, r.position)
            .expect("a range reads");
        bytes.extend_from_slice(&b);
    }
    let mut out: Vec<(i64, Key, Value)> = Vec::new();
    if bytes.is_empty() {
        return out;
    }
    let mut rest = &bytes[..];
    for h in validate_stored_batches(&bytes).expect("the cleaner writes valid batches") {
        let len = h.total_bytes() as usize;
        let (batch, tail) = rest.split_at(len);
        rest = tail;
        if h.is_control() {
            continue;
        }
        let (header, body) = batch_records(batch).expect("a stored batch decodes");
        for r in RecordIter::new(&header, &body) {
            let r = r.expect("a stored record decodes");
            if let Some((last, _, _)) = out.last() {
                assert!(
                    r.offset > *last,
                    "offsets out of order: {} after {last}",
                    r.offset
                );
            }
            out.push((
                r.offset,
                r.key.map(<[u8]>::to_vec),
                r.value.map(<[u8]>::to_vec),
            ));
        }
    }
    out
}

fn check(log: &PartitionLog, model: &Model) {
    let survivors = read_all(log);
    let mut present: HashMap<i64, &(i64, Key, Value)> = HashMap::new();
    for s in &survivors {
        let w = model
            .written
            .get(&s.0)
            .unwrap_or_else(|| panic!("record at {} was never written", s.0));
        assert!(w.key == s.1 && w.value == s.2, "record at {} changed", s.0);
        present.insert(s.0, s);
    }
    for (key, (offset, value)) in model.latest() {
        if value.is_some() {
            assert!(
                present.contains_key(&offset),
                "latest value of {key:?} at {offset} was removed"
            );
        }
    }
}

pub fn cleaner(data: &[u8]) {
    let mut input = Input::new(data);
    let scratch = Scratch::new("cleaner");
    let dir = scratch.path().join("t-0");
    let config = LogConfig {
        cleanup_policy_compact: true,
        cleanup_policy_delete: false,
        segment_bytes: 256 + u64::from(input.u16() % 4096),
        segment_ms: 60_000,
        index_interval_bytes: 64,
        delete_retention_ms: i64::from(input.below(3)) * 30_000,
        min_cleanable_dirty_ratio: f64::from(input.below(3)) / 4.0,
        ..LogConfig::default()
    };
    let mut log = PartitionLog::open(&dir, config.clone()).expect("an empty log opens");
    let mut model = Model::default();
    let mut now = START_MS;
    let mut values = Vec::new();
    for _ in 0..MAX_OPS {
        if input.is_empty() {
            break;
        }
        now += i64::from(input.u8()) * 100;
        match input.below(8) {
            0..=3 => {
                records_of(&mut input, now, &mut values);
                let params = BatchParams {
                    compression: CODECS[usize::from(input.below(5))],
                    ..Default::default()
                };
                let batch = build(&values, now, params);
                if let Ok(info) = log.append(&batch, 0, now) {
                    for (i, (key, value)) in values.drain(..).enumerate() {
                        let w = Written {
                            key,
                            value,
                            fate: Fate::Plain,
                        };
                        model.written.insert(info.base_offset + i as i64, w);
                    }
                }
            }
            4 => {
                let p = usize::from(input.below(PRODUCERS));
                records_of(&mut input, now, &mut values);
                let params = BatchParams {
                    compression: CODECS[usize::from(input.below(5))],
                    producer_id: FIRST_PRODUCER_ID + p as i64,
                    producer_epoch: 0,
                    base_sequence: model.producers[p].sequence,
                    is_transactional: true,
                    ..Default::default()
                };
                let batch = build(&values, now, params);
                if let Ok(info) = log.append(&batch, 0, now) {
                    model.producers[p].sequence += values.len() as i32;
                    let txn = *model.producers[p].open.get_or_insert_with(|| {
                        model.txns.push(None);
                        model.txns.len() - 1
                    });
                    for (i, (key, value)) in values.drain(..).enumerate() {
                        let w = Written {
                            key,
                            value,
                            fate: Fate::Open(txn),
                        };
                        model.written.insert(info.base_offset + i as i64, w);
                    }
                }
            }
            5 => {
                let p = usize::from(input.below(PRODUCERS));
                let commit = input.u8() & 1 == 1;
                if let Some(txn) = model.producers[p].open {
                    let pid = FIRST_PRODUCER_ID + p as i64;
                    if log.append_marker(pid, 0, commit, 0, 0, now).is_ok() {
                        model.txns[txn] = Some(commit);
                        model.producers[p].open = None;
                    }
                }
            }
            6 => {
                log.set_cleaner_limits(CleanerLimits {
                    max_map_bytes: 64 + u64::from(input.u16()),
                    max_bytes_per_call: 128 + u64::from(input.u16()),
                });
                for _ in 0..64 {
                    match log.clean(now) {
                        Ok(stats) if stats.more_work => continue,
                        Ok(_) => break,
                        Err(e) => panic!("clean failed on a valid log: {e}"),
                    }
                }
                check(&log, &model);
            }
            _ => {
                now += 120_000;
                log.maybe_roll(now).expect("a roll");
            }
        }
    }
    log.set_cleaner_limits(CleanerLimits::default());
    log.clean(now).expect("clean on a valid log");
    check(&log, &model);
    let end = log.log_end_offset();
    log.close().expect("close");
    let log = PartitionLog::open(&dir, config).expect("a compacted log opens again");
    assert_eq!(log.log_end_offset(), end, "reopening moved the log end");
    check(&log, &model);
}
