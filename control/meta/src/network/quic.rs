//! The metadata group between processes, over the cluster's QUIC endpoint
//! (mutual TLS): Raft's messages (`ServiceId::Raft`) and client requests
//! a follower passes to the leader (`ServiceId::Meta`).
//!
//! A voter's `Node` address is its endpoint's `host:port`; its TLS name
//! follows from its id (`node-<id>.cairn`), so a voter only ever talks to
//! the member the membership names.

use std::sync::{Arc, Weak};

use async_trait::async_trait;
use cairn_internode::pki::{member_dns_name, node_name};
use cairn_internode::wire::{finish, recv_msg, send_msg};
use cairn_internode::{Caller, Endpoint, Peer, Service, ServiceId, Stream, TransportError};
use cairn_meta_api::MetaError;
use openraft::error::{
    InstallSnapshotError, NetworkError, RPCError, RaftError, RemoteError, Unreachable,
};
use openraft::network::{RPCOption, RaftNetwork, RaftNetworkFactory};
use openraft::raft::{
    AppendEntriesRequest, AppendEntriesResponse, InstallSnapshotRequest, InstallSnapshotResponse,
    VoteRequest, VoteResponse,
};
use openraft::AnyError;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

use super::LeaderLink;
use crate::membership::MemberChange;
use crate::types::{Node, NodeId, Reply, Request, TypeConfig};
use crate::MetaNode;

#[derive(Serialize, Deserialize)]
enum RaftRpc {
    Append(AppendEntriesRequest<TypeConfig>),
    Vote(VoteRequest<NodeId>),
    Snapshot(InstallSnapshotRequest<TypeConfig>),
}

#[derive(Serialize, Deserialize)]
enum MetaRpc {
    Write(Request),
    ReadIndex,
    Members(MemberChange),
}

/// Where voter `id` at `node` is reached.
fn peer(id: NodeId, node: &Node) -> Result<Peer, TransportError> {
    let addr = node.addr.parse().map_err(|e| TransportError::Connect {
        peer: node.addr.clone(),
        reason: format!("not a socket address: {e}"),
    })?;
    Ok(Peer {
        addr,
        name: member_dns_name(&node_name(id)),
    })
}

/// Sends one request on `stream` and reads its answer.
async fn exchange<Q: Serialize, A: DeserializeOwned>(
    mut stream: Stream,
    request: &Q,
) -> Result<A, TransportError> {
    send_msg(&mut stream.send, request).await?;
    finish(&mut stream.send);
    recv_msg(&mut stream.recv).await
}

/// Raft's network and the leader link over a QUIC endpoint.
#[derive(Clone)]
pub struct QuicNetwork {
    endpoint: Arc<Endpoint>,
}

impl QuicNetwork {
    pub fn new(endpoint: Arc<Endpoint>) -> QuicNetwork {
        QuicNetwork { endpoint }
    }

    async fn meta_call<A: DeserializeOwned>(
        &self,
        leader: NodeId,
        node: &Node,
        rpc: MetaRpc,
    ) -> Result<A, MetaError> {
        let why = |e: TransportError| format!("metadata leader {leader} at {}: {e}", node.addr);
        let peer = peer(leader, node).map_err(|e| MetaError::NotLeader(why(e)))?;
        // Not reaching the leader sent nothing: safe to try again. A stream
        // that broke after the request went out may have committed it.
        let stream = self
            .endpoint
            .open(&peer, ServiceId::Meta)
            .await
            .map_err(|e| MetaError::NotLeader(why(e)))?;
        exchange::<_, Result<A, MetaError>>(stream, &rpc)
            .await
            .map_err(|e| MetaError::Unavailable(why(e)))?
    }
}

#[async_trait]
impl LeaderLink for QuicNetwork {
    async fn write(&self, leader: NodeId, node: &Node, req: Request) -> Result<Reply, MetaError> {
        self.meta_call(leader, node, MetaRpc::Write(req)).await
    }

    async fn read_index(&self, leader: NodeId, node: &Node) -> Result<Option<u64>, MetaError> {
        self.meta_call(leader, node, MetaRpc::ReadIndex).await
    }

    async fn members(
        &self,
        leader: NodeId,
        node: &Node,
        change: MemberChange,
    ) -> Result<(), MetaError> {
        self.meta_call(leader, node, MetaRpc::Members(change)).await
    }
}

impl RaftNetworkFactory<TypeConfig> for QuicNetwork {
    type Network = QuicPeer;

    async fn new_client(&mut self, target: NodeId, node: &Node) -> QuicPeer {
        QuicPeer {
            endpoint: self.endpoint.clone(),
            target,
            peer: peer(target, node),
        }
    }
}

/// Raft's client for one peer voter.
pub struct QuicPeer {
    endpoint: Arc<Endpoint>,
    target: NodeId,
    peer: Result<Peer, TransportError>,
}

impl QuicPeer {
    async fn rpc<A: DeserializeOwned, E: std::error::Error + DeserializeOwned>(
        &self,
        rpc: RaftRpc,
        option: &RPCOption,
    ) -> Result<A, RPCError<NodeId, Node, RaftError<NodeId, E>>> {
        let peer = self
            .peer
            .as_ref()
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&AnyError::error(e))))?;
        // Connecting has its own short timeout, and a peer that failed it
        // is refused at once for a while: Raft learns it is unreachable and
        // backs off, instead of timing out every heartbeat.
        let stream = self
            .endpoint
            .open(peer, ServiceId::Raft)
            .await
            .map_err(|e| RPCError::Unreachable(Unreachable::new(&AnyError::error(e))))?;
        let call = exchange::<_, Result<A, RaftError<NodeId, E>>>(stream, &rpc);
        match tokio::time::timeout(option.hard_ttl(), call).await {
            Err(_) => Err(RPCError::Network(NetworkError::new(&AnyError::error(
                format!(
                    "no answer from node {} within {:?}",
                    self.target,
                    option.hard_ttl()
                ),
            )))),
            Ok(Err(e)) => Err(RPCError::Network(NetworkError::new(&AnyError::error(e)))),
            Ok(Ok(answer)) => answer.map_err(|e| RemoteError::new(self.target, e).into()),
        }
    }
}

impl RaftNetwork<TypeConfig> for QuicPeer {
    async fn append_entries(
        &mut self,
        rpc: AppendEntriesRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<AppendEntriesResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.rpc(RaftRpc::Append(rpc), &option).await
    }

    async fn install_snapshot(
        &mut self,
        rpc: InstallSnapshotRequest<TypeConfig>,
        option: RPCOption,
    ) -> Result<
        InstallSnapshotResponse<NodeId>,
        RPCError<NodeId, Node, RaftError<NodeId, InstallSnapshotError>>,
    > {
        self.rpc(RaftRpc::Snapshot(rpc), &option).await
    }

    async fn vote(
        &mut self,
        rpc: VoteRequest<NodeId>,
        option: RPCOption,
    ) -> Result<VoteResponse<NodeId>, RPCError<NodeId, Node, RaftError<NodeId>>> {
        self.rpc(RaftRpc::Vote(rpc), &option).await
    }
}

/// Serves `node`'s Raft messages and the requests followers forward to it
/// on `endpoint`, and lets `node` forward its own through `endpoint`.
pub fn serve(endpoint: &Arc<Endpoint>, node: &Arc<MetaNode>) {
    let weak = Arc::downgrade(node);
    endpoint.register(ServiceId::Raft, Arc::new(RaftService(weak.clone())));
    endpoint.register(ServiceId::Meta, Arc::new(MetaService(weak)));
    node.set_leader_link(Arc::new(QuicNetwork::new(endpoint.clone())));
}

struct RaftService(Weak<MetaNode>);

struct MetaService(Weak<MetaNode>);

async fn answer<A: Serialize>(stream: &mut Stream, answer: &A) {
    if let Err(e) = send_msg(&mut stream.send, answer).await {
        tracing::debug!(error = %e, "metadata answer not delivered");
    }
    finish(&mut stream.send);
}

#[async_trait]
impl Service for RaftService {
    async fn serve(&self, _caller: Caller, mut stream: Stream) {
        let (Ok(rpc), Some(node)) = (
            recv_msg::<RaftRpc>(&mut stream.recv).await,
            self.0.upgrade(),
        ) else {
            return;
        };
        let raft = node.raft();
        match rpc {
            RaftRpc::Append(rpc) => answer(&mut stream, &raft.append_entries(rpc).await).await,
            RaftRpc::Vote(rpc) => answer(&mut stream, &raft.vote(rpc).await).await,
            RaftRpc::Snapshot(rpc) => answer(&mut stream, &raft.install_snapshot(rpc).await).await,
        }
    }
}

#[async_trait]
impl Service for MetaService {
    async fn serve(&self, _caller: Caller, mut stream: Stream) {
        let (Ok(rpc), Some(node)) = (
            recv_msg::<MetaRpc>(&mut stream.recv).await,
            self.0.upgrade(),
        ) else {
            return;
        };
        match rpc {
            MetaRpc::Write(req) => answer(&mut stream, &node.write_here(req).await).await,
            MetaRpc::ReadIndex => answer(&mut stream, &node.read_index_here().await).await,
            // A node asking for admission may not know the leader: a
            // follower passes the change on.
            MetaRpc::Members(change) => {
                answer(&mut stream, &node.change_members(change).await).await
            }
        }
    }
}
