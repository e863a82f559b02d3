//! Transaction APIs: the producer side (AddPartitionsToTxn, AddOffsetsToTxn,
//! EndTxn) goes to the transaction coordinator; TxnOffsetCommit to the group
//! coordinator, which holds the offsets until the transaction ends. The admin
//! side (DescribeProducers, DescribeTransactions, ListTransactions) reads them.

pub mod add_offsets_to_txn;
pub mod add_partitions_to_txn;
pub mod describe_producers;
pub mod describe_transactions;
pub mod end_txn;
pub mod list_transactions;
pub mod txn_offset_commit;
