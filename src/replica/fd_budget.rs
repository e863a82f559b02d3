//! File descriptors as a budget partitions are created against.
//!
//! Every open segment keeps three files open (log, offset index, time index),
//! and Kafka's answer to "too many partitions" is the operator's `ulimit -n`.
//! Without a check, a CreateTopics of 10,000 partitions under a 20,000-fd
//! limit got as far as partition 6,608, answered success, and left a topic
//! that could neither serve nor restart. So creation asks this budget first
//! and is refused, with the numbers, when it would not fit.

use std::io;

use nix::sys::resource::{getrlimit, setrlimit, Resource};

/// Files one new partition opens: its first segment's log, offset index and
/// time index, plus one for the transaction index and producer snapshots
/// opened while it runs.
pub(crate) const FDS_PER_NEW_PARTITION: u64 = 4;
/// Descriptors kept free for client connections, the metadata log and
/// short-lived files (checkpoints, snapshots): a broker that spent its last
/// descriptor on partitions could not accept the connection to delete them.
pub(crate) const FD_HEADROOM: u64 = 1024;

/// Why new partitions do not fit.
#[derive(Debug, thiserror::Error)]
#[error(
    "creating {partitions} partition(s) needs about {needed} file descriptors, but only \
     {available} of the process limit of {limit} are free after keeping {FD_HEADROOM} for \
     connections ({open} open now); raise the limit (ulimit -n / LimitNOFILE / docker --ulimit nofile)"
)]
pub struct FdBudgetError {
    pub partitions: u64,
    pub needed: u64,
    pub available: u64,
    pub limit: u64,
    pub open: u64,
}

/// The soft RLIMIT_NOFILE, or `None` where it cannot be read.
pub(crate) fn fd_limit() -> Option<u64> {
    getrlimit(Resource::RLIMIT_NOFILE)
        .ok()
        .map(|(soft, _)| soft)
}

/// Descriptors this process has open now.
fn open_fds() -> io::Result<u64> {
    Ok(std::fs::read_dir("/proc/self/fd")?.count() as u64)
}

/// Whether `partitions` more partitions fit in the descriptor budget.
pub fn check(partitions: u64) -> Result<(), FdBudgetError> {
    let (Some(limit), Ok(open)) = (fd_limit(), open_fds()) else {
        return Ok(()); // No /proc or no limit to read: nothing to check against.
    };
    let needed = partitions.saturating_mul(FDS_PER_NEW_PARTITION);
    let available = limit.saturating_sub(open).saturating_sub(FD_HEADROOM);
    if needed > available {
        return Err(FdBudgetError {
            partitions,
            needed,
            available,
            limit,
            open,
        });
    }
    Ok(())
}

/// Raises the soft descriptor limit to the hard one, as the JVM does for
/// Kafka at start (`-XX:+MaxFDLimit`, on by default): a shell's soft default
/// of 1024 would otherwise cap a broker at a few hundred partitions.
/// Returns the (old, new) soft limits.
pub fn raise_fd_limit() -> io::Result<(u64, u64)> {
    let (soft, hard) = getrlimit(Resource::RLIMIT_NOFILE).map_err(io::Error::from)?;
    if soft < hard {
        setrlimit(Resource::RLIMIT_NOFILE, hard, hard).map_err(io::Error::from)?;
    }
    Ok((soft, hard.max(soft)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_request_fits_and_an_absurd_one_does_not() {
        check(1).expect("one partition fits any sane limit");
        let err = check(u64::MAX / 8).unwrap_err();
        assert!(err.needed > err.available);
        assert!(err.to_string().contains("ulimit -n"), "{err}");
    }
}
