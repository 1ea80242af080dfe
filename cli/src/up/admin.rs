//! The admin service (`ServiceId::Admin`) on every node of a cluster: it
//! answers the operator's `NodeStatus` (see [`crate::node_status`]) from
//! the node's devices, its metadata voter, its replicator and auditor, and
//! the ring in force; and it carries out the operator's changes through
//! the metadata group (publishing a ring, changing members), after the
//! checks they need (no volume placed on a node that is to leave). Members only, like every service but joining: the
//! endpoint refuses a caller without a cluster certificate before this
//! service sees a byte.

use std::net::SocketAddr;
use std::sync::{Arc, Weak};
use std::time::Instant;

use async_trait::async_trait;
use cairn_internode::wire::{finish, recv_msg, send_msg};
use cairn_internode::{Caller, Service, Stream};
use cairn_meta::MetaNode;
use cairn_nodeapi::ObjectNode;
use cairn_ring::Ring;
use cairn_storage_node::replicator::{Replicator, RingSource};

use super::Storage;
use crate::node_status::{
    AdminRequest, ChangeAnswer, DeviceStatus, NodeStatus, Placement, RaftRole, RaftStatus,
    ReplicationStatus,
};

/// What a node's status is read from, besides its metadata voter.
pub struct Sources {
    pub node_id: u64,
    pub internode_addr: SocketAddr,
    /// When the node started.
    pub started: Instant,
    pub storage: Arc<Storage>,
    pub ring: RingSource,
    pub replicator: Arc<Replicator>,
}

/// Answers `AdminRequest`s about this node.
pub struct AdminService {
    sources: Sources,
    /// Weak: the voter holds the endpoint (its network), which holds this.
    meta: Weak<MetaNode>,
}

impl AdminService {
    pub fn new(sources: Sources, meta: Weak<MetaNode>) -> Arc<AdminService> {
        Arc::new(AdminService { sources, meta })
    }

    /// The node's status now, against one view of the ring in force.
    async fn status(&self, meta: &MetaNode) -> NodeStatus {
        let s = &self.sources;
        let metadata = raft_status(&meta.raft().metrics().borrow());
        let ring = (s.ring)();
        NodeStatus {
            node_id: s.node_id,
            internode_addr: s.internode_addr,
            uptime_secs: s.started.elapsed().as_secs(),
            version: env!("CARGO_PKG_VERSION").to_owned(),
            ring_version: ring.version(),
            devices: self.devices(&ring).await,
            metadata,
            replication: ReplicationStatus::new(
                &s.replicator.stats(),
                s.replicator.last_pass().as_ref(),
                super::init::now_secs(),
            ),
            auditor: s.storage.auditor_stats().into(),
        }
    }

    async fn devices(&self, ring: &Ring) -> Vec<DeviceStatus> {
        let s = &self.sources;
        let mut out = Vec::new();
        for d in s.storage.device_stats() {
            let id = d.device.0;
            let partitions = s.storage.partitions(d.device).await;
            if let Err(e) = &partitions {
                tracing::warn!(device = id, error = %e, "status: listing partitions failed");
            }
            out.push(DeviceStatus {
                id,
                name: ring
                    .device(id)
                    .map_or_else(|| format!("#{id}"), |r| r.name.clone()),
                used_bytes: d.used_bytes,
                free_bytes: d.free_bytes,
                object_count: d.object_count,
                quarantined_count: d.quarantined_count,
                poisoned: d.poisoned,
                placement: partitions.ok().map(|p| placement(ring, id, &p)),
            });
        }
        out
    }
}

async fn change_members(meta: &MetaNode, change: cairn_meta::MemberChange) -> ChangeAnswer {
    let what = format!("{change:?}");
    meta.change_members(change)
        .await
        .map(|()| format!("done: {what}"))
        .map_err(|e| format!("{what}: {e}"))
}

async fn publish_ring(meta: &MetaNode, bytes: &[u8]) -> ChangeAnswer {
    let ring: Ring = serde_json::from_slice(bytes).map_err(|e| format!("not a ring: {e}"))?;
    let old = super::ring_sync::publish(meta, &ring)
        .await
        .map_err(|e| format!("{e:#}"))?;
    Ok(format!(
        "ring version {} published (replaces {old}); every node installs it within seconds",
        ring.version()
    ))
}

/// Refuses when some volume's ring (the one it was made under) names a
/// device of node `node`: its extents there would go with the node.
async fn check_removal(meta: &MetaNode, node: u32) -> ChangeAnswer {
    use cairn_meta_api::VolumeMetadata;
    let volumes = meta
        .list_volumes()
        .await
        .map_err(|e| format!("listing volumes: {e}"))?;
    let mut places: std::collections::HashMap<Option<u64>, bool> = Default::default();
    let mut held = Vec::new();
    for v in volumes {
        let on_node = match places.get(&v.placement) {
            Some(&on) => on,
            None => {
                let ring = match v.placement {
                    None => super::ring_sync::extent_ring(meta).await,
                    Some(version) => super::ring_sync::ring_version(meta, version).await,
                }
                .map_err(|e| format!("{e:#}"))?;
                let on = ring.is_some_and(|r| r.devices().iter().any(|d| d.node == node));
                places.insert(v.placement, on);
                on
            }
        };
        if on_node {
            held.push(v.name);
        }
    }
    if held.is_empty() {
        return Ok(format!("no volume keeps extents on node {node}"));
    }
    Err(format!(
        "volumes {} keep extents on node {node}'s devices (a volume stays on the ring it was \
         made under); delete them, or copy them into new volumes, before the node leaves",
        held.join(", ")
    ))
}

async fn reply<A: serde::Serialize>(stream: &mut Stream, answer: &A) {
    if let Err(e) = send_msg(&mut stream.send, answer).await {
        tracing::debug!(error = %e, "admin answer not delivered");
    }
    finish(&mut stream.send);
}

#[async_trait]
impl Service for AdminService {
    async fn serve(&self, _caller: Caller, mut stream: Stream) {
        let request = match recv_msg::<AdminRequest>(&mut stream.recv).await {
            Ok(r) => r,
            Err(e) => {
                tracing::debug!(error = %e, "admin request unreadable");
                return;
            }
        };
        // Every answer needs the metadata member: none once it is gone
        // (the node is shutting down).
        let Some(meta) = self.meta.upgrade() else {
            return;
        };
        match request {
            AdminRequest::NodeStatus => reply(&mut stream, &self.status(&meta).await).await,
            AdminRequest::PublishRing(bytes) => {
                reply(&mut stream, &publish_ring(&meta, &bytes).await).await;
            }
            AdminRequest::ChangeMembers(change) => {
                reply(&mut stream, &change_members(&meta, change).await).await;
            }
            AdminRequest::CheckRemoval(node) => {
                reply(&mut stream, &check_removal(&meta, node).await).await;
            }
        }
    }
}

/// How many of `partitions` (held by `device`) are where the ring wants
/// them; a partition the ring does not have (a smaller part power) is out
/// of place too.
fn placement(ring: &Ring, device: u32, partitions: &[u32]) -> Placement {
    let primary =
        |p: u32| p < ring.partition_count() && ring.primaries(p).iter().any(|d| d.id == device);
    Placement {
        partitions_held: partitions.len() as u32,
        out_of_place: partitions.iter().filter(|&&p| !primary(p)).count() as u32,
    }
}

fn raft_status(m: &openraft::RaftMetrics<cairn_meta::NodeId, cairn_meta::Node>) -> RaftStatus {
    use openraft::ServerState;
    RaftStatus {
        role: match m.state {
            ServerState::Leader => RaftRole::Leader,
            ServerState::Follower => RaftRole::Follower,
            ServerState::Candidate => RaftRole::Candidate,
            ServerState::Learner => RaftRole::Learner,
            ServerState::Shutdown => RaftRole::Shutdown,
        },
        term: m.current_term,
        leader: m.current_leader,
        last_log_index: m.last_log_index,
        last_applied_index: m.last_applied.map(|l| l.index),
        voters: m.membership_config.voter_ids().collect(),
    }
}

#[cfg(test)]
mod tests;
