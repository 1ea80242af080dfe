//! The join service's messages (`ServiceId::Join`): what a joining node
//! asks the admitting node, and what it is granted. The one request on a
//! stream is answered with one [`JoinAnswer`].

use std::net::SocketAddr;

use serde::{Deserialize, Serialize};

/// How long the admitting node may take to answer (it rebalances the
/// ring and commits it through Raft).
pub const JOIN_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// A node asking to be let in.
#[derive(Debug, Serialize, Deserialize)]
pub struct JoinRequest {
    /// The join token's id and secret.
    pub token_id: String,
    pub secret: Vec<u8>,
    /// Where the node's internode endpoint will listen (the ring names it
    /// as its devices' address).
    pub internode: SocketAddr,
    /// The public half of the key the node made for itself (P-256, SEC1
    /// uncompressed): its certificate is issued over it.
    pub public_key: Vec<u8>,
    /// Its storage devices' names (`d1`, `d2`, …), each of equal weight.
    pub devices: Vec<String>,
    /// Whether it asks to become a metadata voter.
    pub voter: bool,
}

/// What an admitted node is given.
#[derive(Serialize, Deserialize)]
pub struct JoinGrant {
    /// Its node id (its ring node number and member name `node-<id>`).
    pub node_id: u64,
    /// The cluster CA's certificate, and the node's, PEM.
    pub ca_pem: String,
    pub cert_pem: String,
    /// The cluster's shared settings (users, S3 keys, block options): the
    /// admitting node's `cairn.toml` without its `[cluster]` section.
    pub config_toml: String,
    /// The key every proxy signs and checks tokens with, hex.
    pub token_key_hex: String,
    /// The ring with the node's devices in it, JSON.
    pub ring_json: Vec<u8>,
    /// The metadata group's members to ask for admission: id and address.
    pub members: Vec<(u64, SocketAddr)>,
    /// Whether it becomes a voter (it asked to, and the group has room).
    pub voter: bool,
}

impl std::fmt::Debug for JoinGrant {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("JoinGrant")
            .field("node_id", &self.node_id)
            .field("members", &self.members)
            .field("voter", &self.voter)
            .finish_non_exhaustive()
    }
}

/// The grant, or why the node was not let in.
pub type JoinAnswer = Result<JoinGrant, String>;
