//! How voters reach each other. openraft's `RaftNetworkFactory` carries
//! Raft's own messages; [`LeaderLink`] carries client requests from a
//! follower to the leader. Here: the single-voter network, which reaches
//! nobody; an in-process network that joins several `MetaNode`s in one
//! process (tests); and QUIC with mutual TLS between processes (`quic`).

mod in_process;
pub mod quic;
mod unreachable;

pub use in_process::{InProcessNetwork, InProcessRouter};
pub use unreachable::{SoloNetwork, UnreachablePeer};

use async_trait::async_trait;
use cairn_meta_api::MetaError;

use crate::membership::MemberChange;
use crate::types::{Node, NodeId, Reply, Request};

/// How a voter that is not the leader reaches the leader with a client's
/// request (see `MetaNode::write` and `MetaNode::read`).
#[async_trait]
pub trait LeaderLink: Send + Sync + 'static {
    /// Has the leader commit `req` (`MetaNode::write_here` there).
    async fn write(&self, leader: NodeId, node: &Node, req: Request) -> Result<Reply, MetaError>;

    /// Asks the leader for the log index a linearizable read must see
    /// (`MetaNode::read_index_here` there).
    async fn read_index(&self, leader: NodeId, node: &Node) -> Result<Option<u64>, MetaError>;

    /// Has the member `leader` apply a change of the group's members
    /// (`MetaNode::change_members` there, which passes it on to the leader
    /// if that member does not lead: a joining node asks any member it knows).
    async fn members(
        &self,
        leader: NodeId,
        node: &Node,
        change: MemberChange,
    ) -> Result<(), MetaError>;
}
