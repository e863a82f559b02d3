//! Raft transport between metadata voters.
//!
//! Single-node mode has no peers, so every RPC fails with `Unreachable`
//! (openraft then backs off; with one voter it never needs a peer anyway).
//! This file is the seam for multi-node: replace [`NetworkFactory`] with one
//! that dials `BasicNode::addr` over TCP/gRPC and forwards the three RPCs to
//! the remote `Raft::{append_entries, vote, install_snapshot}`. Nothing else
//! in the module depends on what the transport is.

use std::io;

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::BasicNode;

use super::types::{RaftNodeId, TypeConfig};

/// Creates per-peer clients. Stateless for now.
#[derive(Clone, Debug, Default)]
pub struct NetworkFactory;

/// A client for one peer; always unreachable in single-node mode.
#[derive(Clone, Debug)]
pub struct UnreachablePeer {
    target: RaftNodeId,
}

impl UnreachablePeer {
    fn unreachable<E: std::error::Error>(&self) -> RPCError<RaftNodeId, BasicNode, E> {
        let err = io::Error::new(
            io::ErrorKind::NotConnected,
            format!(
                "no metadata network: node {} is not reachable in single-node mode",
                self.target
            ),
        );
        RPCError::Unreachable(Unreachable::new(&err))
    }
}

impl RaftNetworkFactory<TypeConfig> for NetworkFactory {
    type Network = UnreachablePeer;

    async fn new_client(&mut self, target: RaftNodeId, _node: &BasicNode) -> Self::Network {
        UnreachablePeer { target }
    }
}

impl RaftNetwork<TypeConfig> for UnreachablePeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        AppendEntriesResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>,
    > {
        Err(self.unreachable())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<RaftNodeId>,
        RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId, InstallSnapshotError>>,
    > {
        Err(self.unreachable())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<RaftNodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<RaftNodeId>, RPCError<RaftNodeId, BasicNode, RaftError<RaftNodeId>>>
    {
        Err(self.unreachable())
    }
}
