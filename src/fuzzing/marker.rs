//! `replica::dirs`: what the broker does with a partition directory whose
//! `partition.metadata` marker holds arbitrary bytes.
//!
//! Input: one flags byte, then the marker's contents. Flags: bit 0, the
//! directory holds segment data; bit 1, the startup sweep knows the topic
//! id the marker names; bit 2, the partition is then prepared for that id
//! (else for another one); bit 3, a `-delete` directory left by an
//! interrupted deletion sits beside it.
//!
//! The rule checked is the module's promise: segment data is never deleted
//! on the strength of a marker (it stays or moves aside as a `-stray`), and
//! a prepared directory names the topic it was prepared for.

use std::fs;
use std::path::Path;

use uuid::Uuid;

use crate::replica::dirs::{
    has_partition_dirs, prepare_dir, read_marker, sweep, Marker, DELETE_SUFFIX,
    PARTITION_METADATA_FILE,
};

use super::scratch::Scratch;

const SEGMENT: &str = "00000000000000000000.log";
const DATA: &[u8] = b"acknowledged segment bytes";
/// The id a partition is prepared for when the marker's is not used.
const OTHER_ID: Uuid = Uuid::from_u128(0x0123_4567_89ab_cdef_0123_4567_89ab_cdef);

/// Directories under `data_dir` (one level, as the broker lays them out)
/// holding the test segment, deletions in progress excluded.
fn segment_copies(data_dir: &Path) -> usize {
    let Ok(entries) = fs::read_dir(data_dir) else {
        return 0;
    };
    entries
        .flatten()
        .filter(|e| !e.file_name().to_string_lossy().ends_with(DELETE_SUFFIX))
        .filter(|e| fs::read(e.path().join(SEGMENT)).is_ok_and(|b| b == DATA))
        .count()
}

pub fn partition_marker(data: &[u8]) {
    let Some((&flags, contents)) = data.split_first() else {
        return;
    };
    let (with_data, known, same_id, with_deleted) = (
        flags & 1 != 0,
        flags & 2 != 0,
        flags & 4 != 0,
        flags & 8 != 0,
    );
    let scratch = Scratch::new("marker");
    let data_dir = scratch.path();
    let dir = data_dir.join("t-0");
    fs::create_dir_all(&dir).expect("scratch dir is writable");
    fs::write(dir.join(PARTITION_METADATA_FILE), contents).expect("scratch dir is writable");
    if with_data {
        fs::write(dir.join(SEGMENT), DATA).expect("scratch dir is writable");
    }
    let deleted = data_dir.join(format!("u-0.{}{DELETE_SUFFIX}", OTHER_ID.simple()));
    if with_deleted {
        fs::create_dir_all(&deleted).expect("scratch dir is writable");
        fs::write(deleted.join(SEGMENT), DATA).expect("scratch dir is writable");
    }

    let marker = read_marker(&dir);
    let named = match &marker {
        Marker::Topic(id) => Some(*id),
        Marker::Missing => panic!("a marker file that exists read as missing"),
        Marker::Unreadable(_) => None,
    };
    assert_eq!(has_partition_dirs(data_dir), true, "t-0 has a marker file");

    let copies = usize::from(with_data);
    let swept = sweep(data_dir, |id| known && Some(*id) == named);
    assert!(
        !deleted.exists(),
        "the sweep finishes deletions in progress"
    );
    assert_eq!(
        segment_copies(data_dir),
        copies,
        "the sweep deleted or copied segment data"
    );
    if swept.is_ok() {
        let moved = named.is_some() && !known;
        assert_eq!(
            dir.exists(),
            !moved,
            "sweep: only an unknown topic's directory moves aside"
        );
    }

    let topic = match named {
        Some(id) if same_id => id,
        _ => OTHER_ID,
    };
    match prepare_dir(data_dir, &dir, topic) {
        Ok(()) => assert_eq!(
            read_marker(&dir),
            Marker::Topic(topic),
            "prepared for {topic}"
        ),
        Err(_) => assert!(dir.exists(), "a refused directory stays where it is"),
    }
    assert_eq!(
        segment_copies(data_dir),
        copies,
        "prepare deleted or copied segment data"
    );
}
