//! The broker's current block of producer ids.

use kafka_protocol::error::ResponseError;

use crate::cluster::{CommandResult, MetadataCommand};

/// Ids taken from the metadata log at a time (Kafka's `PRODUCER_ID_BLOCK_SIZE`).
pub const PRODUCER_ID_BLOCK_SIZE: i64 = 1000;

#[derive(Debug, Default)]
struct Block {
    next: i64,
    end: i64,
}

/// Hands out producer ids from blocks owned by this broker.
#[derive(Debug, Default)]
pub struct ProducerIdManager {
    block: tokio::sync::Mutex<Block>,
}

impl ProducerIdManager {
    /// The next unused producer id, allocating a new block when this one is spent.
    /// Errors are Kafka codes: a failed allocation is COORDINATOR_NOT_AVAILABLE
    /// (clients retry InitProducerId on it).
    pub async fn next_id(&self, broker: &crate::broker::Broker) -> Result<i64, i16> {
        let mut block = self.block.lock().await;
        if block.next >= block.end {
            let command = MetadataCommand::AllocateProducerIds {
                node_id: broker.config.node_id,
                block_size: PRODUCER_ID_BLOCK_SIZE,
            };
            match broker.propose(command).await {
                Ok(CommandResult::ProducerIdBlock { first, size }) => {
                    tracing::info!(first, size, "allocated a producer id block");
                    *block = Block {
                        next: first,
                        end: first + size,
                    };
                }
                Ok(other) => {
                    tracing::error!(?other, "producer id block refused");
                    return Err(ResponseError::CoordinatorNotAvailable.code());
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot allocate a producer id block");
                    return Err(ResponseError::CoordinatorNotAvailable.code());
                }
            }
        }
        let id = block.next;
        block.next += 1;
        Ok(id)
    }
}
