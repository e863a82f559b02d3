//! Counters of start-up log recovery, for the progress lines the broker
//! prints while it scans (a kill -9 can leave gigabytes after the last flush
//! point, and until they are scanned the listeners are not bound: without
//! these lines clients and health checks see "connection refused" and the
//! log says nothing).
//!
//! Process-wide atomics rather than state passed through every `open`: they
//! are only ever read by the one reporter that runs while the broker starts,
//! and they cost one relaxed add per scanned batch.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

static SCANNED_BYTES: AtomicU64 = AtomicU64::new(0);
static OPENED_PARTITIONS: AtomicU64 = AtomicU64::new(0);

/// How often a progress line is printed while recovery runs, in ms.
const REPORT_EVERY_MS: u64 = 1_000;

pub(crate) fn add_scanned_bytes(n: u64) {
    SCANNED_BYTES.fetch_add(n, Ordering::Relaxed);
}

pub(crate) fn add_opened_partition() {
    OPENED_PARTITIONS.fetch_add(1, Ordering::Relaxed);
}

/// Prints a line every second while logs are being opened, from a thread of
/// its own (the opening blocks the thread that started it); stops and, if it
/// printed anything, prints a summary when dropped.
#[derive(Debug)]
pub struct RecoveryReporter {
    stop: Option<mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl RecoveryReporter {
    /// Starts reporting on the opening of `partitions` partitions.
    pub fn start(partitions: usize) -> RecoveryReporter {
        let (stop, stopped) = mpsc::channel::<()>();
        let bytes0 = SCANNED_BYTES.load(Ordering::Relaxed);
        let opened0 = OPENED_PARTITIONS.load(Ordering::Relaxed);
        let thread = std::thread::Builder::new()
            .name("recovery-progress".into())
            .spawn(move || {
                let began = Instant::now();
                let mut printed = false;
                loop {
                    let done = stopped.recv_timeout(Duration::from_millis(REPORT_EVERY_MS));
                    let bytes = SCANNED_BYTES.load(Ordering::Relaxed) - bytes0;
                    let opened = OPENED_PARTITIONS.load(Ordering::Relaxed) - opened0;
                    let secs = began.elapsed().as_secs_f64();
                    let mb = bytes as f64 / 1e6;
                    if matches!(done, Err(mpsc::RecvTimeoutError::Timeout)) {
                        tracing::info!(
                            "recovering logs: {opened} of {partitions} partitions open, {mb:.0} MB of unflushed data scanned ({:.0} MB/s); listeners start when this is done",
                            mb / secs.max(0.001)
                        );
                        printed = true;
                        continue;
                    }
                    if printed {
                        tracing::info!(
                            "log recovery done: {opened} partitions open, {mb:.0} MB scanned in {secs:.1} s"
                        );
                    }
                    return;
                }
            })
            .ok();
        RecoveryReporter {
            stop: Some(stop),
            thread,
        }
    }
}

impl Drop for RecoveryReporter {
    fn drop(&mut self) {
        drop(self.stop.take());
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
