//! The network of a one-voter group: there are no peers, so every RPC to
//! one fails as `Unreachable` (and openraft backs off).

use openraft::error::{InstallSnapshotError, RPCError, RaftError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::AnyError;

use crate::types::{Node, NodeId, TypeConfig};

/// Network factory of a single-voter group.
#[derive(Debug, Clone, Copy, Default)]
pub struct SoloNetwork;

/// A client for a peer that cannot be reached.
#[derive(Debug, Clone, Copy)]
pub struct UnreachablePeer {
    pub target: NodeId,
}

impl UnreachablePeer {
    fn err<E: std::error::Error>(&self) -> RPCError<NodeId, Node, E> {
        let why = AnyError::error(format!(
            "node {} is unreachable: single-voter network",
            self.target
        ));
        RPCError::Unreachable(Unreachable::new(&why))
    }
}

impl RaftNetworkFactory<TypeConfig> for SoloNetwork {
    type Network = UnreachablePeer;

    async fn new_client(&mut self, target: NodeId, _node: &Node) -> UnreachablePeer {
        UnreachablePeer { target }
    }
}

impl RaftNetwork<TypeConfig> for UnreachablePeer {
    async fn append_entries(
        &mut self,
        _rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        Err(self.err())
    }

    async fn install_snapshot(
        &mut self,
        _rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        Err(self.err())
    }

    async fn vote(
        &mut self,
        _rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        Err(self.err())
    }
}
