//! Every target's entry on its own seeds, in `cargo test`: the harness and
//! the seed writers stay in step with the code they drive even where
//! nobody runs the fuzzer.

use super::seeds;

#[test]
fn file_and_record_targets_accept_their_seeds() {
    for (_, s) in seeds::recompress() {
        super::recompress(&s);
    }
    for (_, s) in seeds::cleaner() {
        super::cleaner(&s);
    }
    for (_, s) in seeds::partition_marker() {
        super::partition_marker(&s);
    }
    for (_, s) in seeds::log_recovery() {
        super::log_recovery(&s);
    }
    // Empty and one-byte inputs are where harness bugs hide.
    for s in [&[][..], &[0u8][..], &[0xff][..]] {
        super::recompress(s);
        super::cleaner(s);
        super::partition_marker(s);
        super::log_recovery(s);
        super::raft_log(s);
    }
}

#[test]
fn raft_seeds_come_from_a_real_quorum_and_open() {
    // raft_log drives its own runtime, so the quorum's is gone first.
    let seeds = tokio::runtime::Runtime::new()
        .unwrap()
        .block_on(seeds::raft_log());
    assert!(!seeds.is_empty());
    for (_, s) in seeds {
        super::raft_log(&s);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 1)]
async fn handler_seeds_are_answered() {
    let mut fixture = super::HandlerFixture::open().await;
    for (_, s) in seeds::request_handlers() {
        fixture.run(&s).await;
    }
    fixture.close().await;
}

/// Every input a fuzz target ever crashed on (`fuzz/corpus/<target>/crash-*`)
/// is replayed here too, so a regression fails `cargo test` and not only a
/// fuzz run.
#[test]
fn past_crashes_stay_fixed() {
    let corpus = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("fuzz/corpus");
    let mut replayed = 0;
    for (target, run) in [
        ("log_recovery", super::log_recovery as fn(&[u8])),
        ("raft_log", super::raft_log),
        ("recompress", super::recompress),
        ("cleaner", super::cleaner),
        ("partition_marker", super::partition_marker),
    ] {
        let Ok(entries) = std::fs::read_dir(corpus.join(target)) else {
            continue;
        };
        for entry in entries.flatten() {
            if entry.file_name().to_string_lossy().starts_with("crash-") {
                run(&std::fs::read(entry.path()).unwrap());
                replayed += 1;
            }
        }
    }
    assert!(
        replayed >= 3,
        "the committed crash inputs were found: {replayed}"
    );
}
