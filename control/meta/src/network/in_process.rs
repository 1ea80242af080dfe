//! An in-process network: several voters in one process call each other's
//! `Raft` handles directly. A node can be cut off (both directions) to test
//! failover without sockets.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use openraft::error::{InstallSnapshotError, RPCError, RaftError, RemoteError, Unreachable};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::AnyError;

use crate::types::{MetaRaft, Node, NodeId, TypeConfig};

#[derive(Default)]
struct Routes {
    nodes: BTreeMap<NodeId, MetaRaft>,
    cut: BTreeSet<NodeId>,
}

/// The registry of in-process voters.
#[derive(Clone, Default)]
pub struct InProcessRouter {
    routes: Arc<Mutex<Routes>>,
}

impl InProcessRouter {
    /// An empty router.
    pub fn new() -> Self {
        Self::default()
    }

    /// Makes `raft` reachable as `id`.
    pub fn register(&self, id: NodeId, raft: MetaRaft) {
        self.with(|r| {
            r.nodes.insert(id, raft);
        })
    }

    /// Cuts `id` off from every other node (`false` heals it).
    pub fn set_cut(&self, id: NodeId, cut: bool) {
        self.with(|r| {
            if cut {
                r.cut.insert(id);
            } else {
                r.cut.remove(&id);
            }
        })
    }

    /// The network factory for node `from`.
    pub fn network(&self, from: NodeId) -> InProcessNetwork {
        InProcessNetwork {
            router: self.clone(),
            from,
        }
    }

    fn with<R>(&self, f: impl FnOnce(&mut Routes) -> R) -> R {
        // A poisoned lock only means a test thread panicked; the map is intact.
        let mut guard = self.routes.lock().unwrap_or_else(|p| p.into_inner());
        f(&mut guard)
    }

    /// The target's handle, unless either end is cut off or unknown.
    fn route(&self, from: NodeId, to: NodeId) -> Option<MetaRaft> {
        self.with(|r| {
            if r.cut.contains(&from) || r.cut.contains(&to) {
                return None;
            }
            r.nodes.get(&to).cloned()
        })
    }
}

fn unreachable<E: std::error::Error>(from: NodeId, to: NodeId) -> RPCError<NodeId, Node, E> {
    let why = AnyError::error(format!("node {to} unreachable from {from}"));
    RPCError::Unreachable(Unreachable::new(&why))
}

/// Network factory of one in-process voter.
#[derive(Clone)]
pub struct InProcessNetwork {
    router: InProcessRouter,
    from: NodeId,
}

/// A client from one in-process voter to another.
pub struct InProcessPeer {
    router: InProcessRouter,
    from: NodeId,
    to: NodeId,
}

impl RaftNetworkFactory<TypeConfig> for InProcessNetwork {
    type Network = InProcessPeer;

    async fn new_client(&mut self, target: NodeId, _node: &Node) -> InProcessPeer {
        InProcessPeer {
            router: self.router.clone(),
            from: self.from,
            to: target,
        }
    }
}

impl RaftNetwork<TypeConfig> for InProcessPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        let raft = self
            .router
            .route(self.from, self.to)
            .ok_or_else(|| unreachable(self.from, self.to))?;
        raft.append_entries(rpc)
            .await
            .map_err(|e| RemoteError::new(self.to, e).into())
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        _option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        let raft = self
            .router
            .route(self.from, self.to)
            .ok_or_else(|| unreachable(self.from, self.to))?;
        raft.install_snapshot(rpc)
            .await
            .map_err(|e| RemoteError::new(self.to, e).into())
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        _option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        let raft = self
            .router
            .route(self.from, self.to)
            .ok_or_else(|| unreachable(self.from, self.to))?;
        raft.vote(rpc)
            .await
            .map_err(|e| RemoteError::new(self.to, e).into())
    }
}
