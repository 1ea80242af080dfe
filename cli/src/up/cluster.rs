//! A node's place in a multi-node cluster: its QUIC endpoint (mutual TLS
//! with the certificate in `DIR/tls`), the metadata voter that talks
//! through it, the storage and admin services it offers the other nodes
//! and the operator, and the clients it uses to reach theirs.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use cairn_internode::extent::ExtentService;
use cairn_internode::object::ObjectService;
use cairn_internode::pki::{member_dns_name, node_name};
use cairn_internode::{Endpoint, Identity, Peer, RemoteNode, ServiceId};
use cairn_meta::network::quic::{self, QuicNetwork};
use cairn_meta::{MetaNode, MetaOptions};
use cairn_nodeapi::{DeviceId, ExtentNode, ExtentRoutes, NodeId, ObjectNode};
use cairn_ring::Ring;

use super::init::DataDir;
use super::{admin, Storage};
use crate::config::ClusterSection;

/// How long a starting node waits for the metadata group to have a leader
/// (the other voters may still be starting).
const LEADER_WAIT: Duration = Duration::from_secs(120);

/// A node joined to its cluster.
pub struct Cluster {
    pub endpoint: Arc<Endpoint>,
    pub meta: Arc<MetaNode>,
    /// Clients for the other nodes, by ring node number.
    remotes: BTreeMap<u32, RemoteNode>,
}

impl Cluster {
    /// Binds the internode endpoint, serves the local devices on it, and
    /// starts the metadata voter over it (initialising the group on the
    /// bootstrap node's first start); returns once a leader is known.
    pub async fn join(
        dir: &DataDir,
        section: &ClusterSection,
        storage: Arc<Storage>,
    ) -> Result<Cluster> {
        let tls = dir.root.join("tls");
        let identity = Identity::load(&tls).context("loading the node's certificate")?;
        let endpoint = Endpoint::member(section.listen, &identity)
            .with_context(|| format!("binding the internode endpoint {}", section.listen))?;
        endpoint.register(ServiceId::Object, ObjectService::new(storage.clone()));
        endpoint.register(ServiceId::Extent, ExtentService::new(storage));

        let meta = MetaNode::open(
            &dir.meta_dir(),
            section.node_id,
            MetaOptions::default(),
            QuicNetwork::new(endpoint.clone()),
        )
        .await
        .context("opening the metadata voter")?;
        quic::serve(&endpoint, &meta);
        endpoint.start();
        let initialized = meta
            .raft()
            .is_initialized()
            .await
            .context("reading the metadata group's state")?;
        if !initialized && !section.bootstrap.is_empty() {
            let members = section
                .bootstrap
                .iter()
                .map(|v| (v.id, cairn_meta::Node::new(v.addr.to_string())))
                .collect();
            meta.initialize(members)
                .await
                .context("initialising the metadata group")?;
            tracing::info!(
                voters = section.bootstrap.len(),
                "metadata group initialised"
            );
        }
        tracing::info!(node = section.node_id, listen = %section.listen, "waiting for a metadata leader");
        meta.raft()
            .wait(Some(LEADER_WAIT))
            .metrics(|m| m.current_leader.is_some(), "a metadata leader")
            .await
            .context("no metadata leader; are the other voters running?")?;

        let remotes = remote_nodes(&dir.ring, section.node_id, &endpoint)?;
        Ok(Cluster {
            endpoint,
            meta,
            remotes,
        })
    }

    /// Answers the operator's questions about this node (`ServiceId::Admin`).
    /// Registered once the replicator exists; until then such a question
    /// finds no service, and `cairn cluster status` shows the node as down.
    pub fn serve_admin(&self, sources: admin::Sources) {
        let service = admin::AdminService::new(sources, Arc::downgrade(&self.meta));
        self.endpoint.register(ServiceId::Admin, service);
    }

    /// Every node's objects: the local node, and a client for each other.
    pub fn object_nodes(
        &self,
        local: u32,
        storage: Arc<Storage>,
    ) -> HashMap<NodeId, Arc<dyn ObjectNode>> {
        let mut nodes: HashMap<NodeId, Arc<dyn ObjectNode>> = self
            .remotes
            .iter()
            .map(|(n, r)| (NodeId(*n), Arc::new(r.clone()) as Arc<dyn ObjectNode>))
            .collect();
        nodes.insert(NodeId(local), storage);
        nodes
    }

    /// Every device's extents, routed to the node that holds it.
    pub fn extent_routes(&self, ring: &Ring, storage: Arc<Storage>) -> ExtentRoutes {
        let mut routes = ExtentRoutes::new();
        for d in ring.devices() {
            // `remotes` holds every node but this one.
            let node: Arc<dyn ExtentNode> = match self.remotes.get(&d.node) {
                Some(remote) => Arc::new(remote.clone()),
                None => storage.clone(),
            };
            routes.insert(DeviceId(d.id), node);
        }
        routes
    }
}

/// A client per other node in the ring, at the address its devices name.
fn remote_nodes(
    ring: &Ring,
    local: u64,
    endpoint: &Arc<Endpoint>,
) -> Result<BTreeMap<u32, RemoteNode>> {
    let mut remotes = BTreeMap::new();
    for d in ring.devices() {
        if u64::from(d.node) == local || remotes.contains_key(&d.node) {
            continue;
        }
        let addr = d
            .addr
            .parse()
            .with_context(|| format!("device {} of node {}: addr {:?}", d.name, d.node, d.addr))?;
        let peer = Peer {
            addr,
            name: member_dns_name(&node_name(u64::from(d.node))),
        };
        remotes.insert(d.node, RemoteNode::new(endpoint.clone(), peer));
    }
    Ok(remotes)
}
