//! gregor: a Kafka-wire-compatible message broker.
//!
//! Request path: `server` (framing) → `protocol` (decode) → `handler` (one
//! file per API) → `replica`/`log` (partition data) and `cluster` (metadata
//! on Raft). See docs/architecture.md.

pub mod alloc;
pub mod broker;
pub mod cluster;
pub mod config;
pub mod config_describe;
pub mod config_env;
pub(crate) mod config_support;
pub mod ephemeral;
pub mod error;
/// Entry points of the fuzz targets in `fuzz/`; not the broker's API.
#[doc(hidden)]
pub mod fuzzing;
pub mod group;
pub mod handler;
pub mod internal_topic;
pub mod log;
pub mod protocol;
pub mod record;
pub mod replica;
pub mod server;
pub mod start;
pub(crate) mod storage;
pub mod tools;
pub mod topic_config;
pub mod txn;

/// Unit tests run under the broker's allocator too, so decoding tests see
/// the same behaviour as the binary.
#[cfg(test)]
#[global_allocator]
static TEST_ALLOCATOR: alloc::GuardedAlloc = alloc::GuardedAlloc;
