//! The metadata log's files: `raft.log`, `vote.json`, `committed.json` and
//! `snapshot.json` as the broker finds them after a crash or damage.
//!
//! Input: the container of [`super::input::files`]; kind % 4 picks the file
//! (0 `raft.log`, 1 `vote.json`, 2 `committed.json`, 3 `snapshot.json`), a
//! later entry of the same kind replaces an earlier one. For `raft.log`,
//! param bit 0 asks the harness to recompute the CRC of every whole record,
//! so mutations of the JSON inside reach the parser and the state machine
//! instead of ending as a torn tail.
//!
//! What must hold: opening returns a store or an error, never panics; what
//! opens holds ascending entries after the purge marker; replaying them into
//! the state machine (as openraft does at start) never panics; a snapshot
//! the state machine writes opens again; and a log opened once (its torn
//! tail cut) opens again with the same entries.

use std::sync::OnceLock;

use openraft::storage::{RaftLogStorage, RaftStateMachine};
use openraft::{RaftLogReader, RaftSnapshotBuilder};

use crate::cluster::log_store::{LogStore, COMMITTED_FILE, LOG_FILE, VOTE_FILE};
use crate::cluster::state_machine::{StateMachineStore, SNAPSHOT_FILE};
use crate::cluster::types::LogEntry;

use super::input::files;
use super::scratch::Scratch;

const NAMES: [&str; 4] = [LOG_FILE, VOTE_FILE, COMMITTED_FILE, SNAPSHOT_FILE];
/// Bytes of a `raft.log` record header: length, then CRC32C of the payload.
const RECORD_HEADER: usize = 8;

/// The stores' async functions do no real waiting on a healthy disk; one
/// runtime for the whole process keeps them cheap to drive.
fn runtime() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a tokio runtime")
    })
}

/// Gives every whole `[len][crc][payload]` record a matching CRC.
fn fix_record_crcs(log: &mut [u8]) {
    let mut pos = 0;
    while pos + RECORD_HEADER <= log.len() {
        let len = u32::from_le_bytes([log[pos], log[pos + 1], log[pos + 2], log[pos + 3]]) as usize;
        let Some(end) = (pos + RECORD_HEADER)
            .checked_add(len)
            .filter(|&e| e <= log.len())
        else {
            return;
        };
        let crc = crc32c::crc32c(&log[pos + RECORD_HEADER..end]);
        log[pos + 4..pos + 8].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

/// Every entry of an opened log, with its invariants checked.
async fn read_back(store: &mut LogStore) -> Vec<LogEntry> {
    let state = store
        .get_log_state()
        .await
        .expect("log state of an open log");
    let entries = store
        .try_get_log_entries(..)
        .await
        .expect("entries of an open log");
    let purged = state.last_purged_log_id.map(|l| l.index);
    for pair in entries.windows(2) {
        assert!(
            pair[0].log_id.index < pair[1].log_id.index,
            "entries out of order"
        );
    }
    if let (Some(first), Some(p)) = (entries.first(), purged) {
        assert!(
            first.log_id.index > p,
            "an entry at or below the purge marker survived"
        );
    }
    let last = entries
        .last()
        .map(|e| e.log_id)
        .or(state.last_purged_log_id);
    assert_eq!(
        state.last_log_id, last,
        "last log id disagrees with the entries"
    );
    let _ = store.read_vote().await.expect("vote of an open log");
    if let Some(c) = store
        .read_committed()
        .await
        .expect("committed of an open log")
    {
        assert!(
            last.is_some_and(|l| c.index <= l.index),
            "committed index past the log"
        );
    }
    entries
}

pub fn raft_log(data: &[u8]) {
    let scratch = Scratch::new("raft");
    let dir = scratch.path();
    for f in files(data) {
        let kind = usize::from(f.kind) % NAMES.len();
        let mut bytes = f.bytes.to_vec();
        if kind == 0 && f.param & 1 != 0 {
            fix_record_crcs(&mut bytes);
        }
        std::fs::write(dir.join(NAMES[kind]), bytes).expect("scratch dir is writable");
    }
    runtime().block_on(async {
        let Ok(mut store) = LogStore::open(dir) else {
            return;
        };
        let entries = read_back(&mut store).await;
        drop(store);
        let mut again = LogStore::open(dir).expect("a log that opened once opens again");
        let reread = read_back(&mut again).await;
        assert!(entries == reread, "reopening changed the log");

        let Ok(mut sm) = StateMachineStore::open(dir) else {
            return;
        };
        let (applied, _) = sm.applied_state().await.expect("applied state");
        let from = applied.map_or(0, |a| a.index + 1);
        let replay: Vec<LogEntry> = entries
            .into_iter()
            .filter(|e| e.log_id.index >= from)
            .collect();
        let count = replay.len();
        let results = sm.apply(replay).await.expect("apply never fails");
        assert_eq!(results.len(), count, "one result per applied entry");
        let mut builder = sm.get_snapshot_builder().await;
        if builder.build_snapshot().await.is_ok() {
            StateMachineStore::open(dir).expect("a snapshot the state machine wrote opens again");
        }
    });
}
