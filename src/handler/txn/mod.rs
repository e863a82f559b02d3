//! Transaction APIs: the producer side (AddPartitionsToTxn, AddOffsetsToTxn,
//! EndTxn) goes to the transaction coordinator; TxnOffsetCommit to the group
//! coordinator, which holds the offsets until the transaction ends.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod end_txn;
pub mod txn_offset_commit;
