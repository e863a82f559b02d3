//! Entry points for the fuzz targets in `fuzz/` (a separate cargo-fuzz
//! package that can only see `pub` items), one per target.
//!
//! Each entry takes the fuzzer's bytes, turns them into the files or calls
//! the real code expects, runs that code and checks invariants that must
//! hold for *any* input; a violated invariant panics, which the fuzzer
//! records as a crash. Nothing here re-implements broker logic: it only
//! builds inputs and reads results back through the same functions the
//! broker uses. Not part of the broker's API, hence `#[doc(hidden)]`.
//!
//! The input formats (how bytes become files or operations) are described
//! in each module and in `fuzz/README.md`; `seeds` writes valid examples of
//! them for the seed corpora.

mod cleaner;
mod handlers;
mod input;
mod log_files;
mod marker;
mod raft;
mod recompress;
mod scratch;
pub mod seeds;
#[cfg(test)]
mod tests;

pub use cleaner::cleaner;
pub use handlers::HandlerFixture;
pub use log_files::log_recovery;
pub use marker::partition_marker;
pub use raft::raft_log;
pub use recompress::recompress;
