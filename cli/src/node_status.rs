//! The admin service's messages (`ServiceId::Admin`): the operator's
//! `NodeStatus` question and a node's answer, and the client call that
//! asks it. A node answers in `up::admin`; `cairn cluster status` asks
//! every node and prints the answers (as they are, with `--json`).
//!
//! The answer is a status view in the operator's units (bytes, seconds,
//! Unix time), not the nodes' internal structs, so scripts reading the
//! JSON do not depend on those.

use std::net::SocketAddr;
use std::time::Duration;

use cairn_internode::wire::{finish, recv_msg, send_msg};
use cairn_internode::{Endpoint, Peer, ServiceId, TransportError};
use cairn_storage_node::replicator::ReplicatorStats;
use cairn_storage_node::AuditorStats;
use serde::{Deserialize, Serialize};

/// How long a node may take to answer (it lists each device's partitions).
pub const STATUS_TIMEOUT: Duration = Duration::from_secs(10);

/// What the operator asks a node.
#[derive(Debug, Serialize, Deserialize)]
pub enum AdminRequest {
    /// Everything `cairn cluster status` shows of one node.
    NodeStatus,
    /// Publish this ring (JSON, as `cairn ring rebalance` writes it) as
    /// the cluster's object ring. Answered with a [`ChangeAnswer`].
    PublishRing(Vec<u8>),
    /// Change the metadata group's members. Answered with a [`ChangeAnswer`].
    ChangeMembers(cairn_meta::MemberChange),
    /// Whether node `n` can leave without taking volume replicas with it:
    /// an error naming the volumes whose ring places extents on its
    /// devices. Answered with a [`ChangeAnswer`].
    CheckRemoval(u32),
}

/// What a change asked of a node did, in words, or why it failed.
pub type ChangeAnswer = Result<String, String>;

/// One node as it sees itself.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeStatus {
    pub node_id: u64,
    pub internode_addr: SocketAddr,
    pub uptime_secs: u64,
    /// The `cairn` binary's version.
    pub version: String,
    /// The version of the ring the node serves by.
    pub ring_version: u64,
    pub devices: Vec<DeviceStatus>,
    pub metadata: RaftStatus,
    pub replication: ReplicationStatus,
    pub auditor: AuditorStatus,
}

/// One local device.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeviceStatus {
    pub id: u32,
    /// Its name in the ring (`d1`).
    pub name: String,
    pub used_bytes: u64,
    pub free_bytes: u64,
    pub object_count: u64,
    pub quarantined_count: u64,
    /// An fsync failed: the device takes no more writes.
    pub poisoned: bool,
    /// `None` when the device could not list its partitions (poisoned).
    pub placement: Option<Placement>,
}

/// Where a device's data is, against the ring in force.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Placement {
    /// Partitions the device holds data of.
    pub partitions_held: u32,
    /// Of those, the ones the ring does not make it a primary of: handoff
    /// data the replicator has yet to move home.
    pub out_of_place: u32,
}

/// A metadata voter's role, as openraft names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RaftRole {
    Leader,
    Follower,
    Candidate,
    Learner,
    Shutdown,
}

/// This node's view of the metadata group.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RaftStatus {
    pub role: RaftRole,
    pub term: u64,
    /// The leader this node knows of.
    pub leader: Option<u64>,
    pub last_log_index: Option<u64>,
    pub last_applied_index: Option<u64>,
    /// The voters of the membership in force here.
    pub voters: Vec<u64>,
}

/// The replicator's work: totals since the node started, and the last pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReplicationStatus {
    pub passes_completed: u64,
    pub objects_pushed: u64,
    pub errors: u64,
    /// `None` before the first pass ends.
    pub last_pass: Option<PassStatus>,
}

/// One replication pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PassStatus {
    pub ended_unix_secs: u64,
    /// Seconds between the pass's end and the answer, by the node's clock
    /// (so a skewed operator clock does not mislead).
    pub ended_secs_ago: u64,
    pub duration_ms: u64,
    pub partitions_checked: u64,
    pub buckets_differing: u64,
    pub objects_pushed: u64,
    pub errors: u64,
}

/// The auditor's work since the node started.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditorStatus {
    pub passes_completed: u64,
    pub objects_audited: u64,
    pub bytes_audited: u64,
    pub corrupt_found: u64,
}

impl ReplicationStatus {
    /// From the replicator's totals and its last pass, at `now_secs`.
    pub fn new(total: &ReplicatorStats, last: Option<&ReplicatorStats>, now_secs: u64) -> Self {
        ReplicationStatus {
            passes_completed: total.passes_completed,
            objects_pushed: total.objects_pushed,
            errors: total.errors,
            last_pass: last.and_then(|p| {
                let ended = p.last_pass_end?.secs();
                Some(PassStatus {
                    ended_unix_secs: ended,
                    ended_secs_ago: now_secs.saturating_sub(ended),
                    duration_ms: p.last_pass_duration_ms,
                    partitions_checked: p.partitions_checked,
                    buckets_differing: p.buckets_differing,
                    objects_pushed: p.objects_pushed,
                    errors: p.errors,
                })
            }),
        }
    }
}

impl From<AuditorStats> for AuditorStatus {
    fn from(s: AuditorStats) -> Self {
        AuditorStatus {
            passes_completed: s.passes_completed,
            objects_audited: s.objects_audited,
            bytes_audited: s.bytes_audited,
            corrupt_found: s.corrupt_found,
        }
    }
}

/// Asks the node at `peer` for its status, within [`STATUS_TIMEOUT`].
pub async fn ask(endpoint: &Endpoint, peer: &Peer) -> Result<NodeStatus, TransportError> {
    call(endpoint, peer, &AdminRequest::NodeStatus, STATUS_TIMEOUT).await
}

/// How long a change may take (a membership change waits for its commit).
pub const CHANGE_TIMEOUT: Duration = Duration::from_secs(30);

/// Asks the node at `peer` for a change, within [`CHANGE_TIMEOUT`].
pub async fn change(
    endpoint: &Endpoint,
    peer: &Peer,
    request: &AdminRequest,
) -> Result<ChangeAnswer, TransportError> {
    call(endpoint, peer, request, CHANGE_TIMEOUT).await
}

async fn call<A: serde::de::DeserializeOwned>(
    endpoint: &Endpoint,
    peer: &Peer,
    request: &AdminRequest,
    limit: Duration,
) -> Result<A, TransportError> {
    let exchange = async {
        let mut stream = endpoint.open(peer, ServiceId::Admin).await?;
        send_msg(&mut stream.send, request).await?;
        finish(&mut stream.send);
        recv_msg(&mut stream.recv).await
    };
    tokio::time::timeout(limit, exchange)
        .await
        .map_err(|_| TransportError::Timeout(limit))?
}
