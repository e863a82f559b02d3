//! Producer ids and (later) the transaction coordinator.
//!
//! Producer ids come from blocks allocated through the Raft metadata state
//! machine (`MetadataCommand::AllocateProducerIds`), so an id is never handed
//! out twice: not after a restart, and not by two brokers of a cluster. Each
//! broker takes a block and serves ids from it until it runs out; ids of a
//! block left unused at shutdown are simply skipped.

pub mod coordinator;
pub mod producer_ids;
pub mod schema;
