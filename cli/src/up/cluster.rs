//! A node's place in a multi-node cluster: its QUIC endpoint (mutual TLS
//! with the certificate in `DIR/tls`), the metadata member that talks
//! through it (a voter from the start, or a learner admitted by a running
//! cluster, and promoted when asked), the storage and admin services it
//! offers the other nodes and the operator, and the clients it uses to
//! reach theirs — one per node any ring in force has named.

use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::{bail, Context, Result};
use cairn_internode::extent::ExtentService;
use cairn_internode::object::ObjectService;
use cairn_internode::pki::{member_dns_name, node_name};
use cairn_internode::{Endpoint, Identity, Peer, RemoteNode, ServiceId};
use cairn_meta::network::quic::{self, QuicNetwork};
use cairn_meta::network::LeaderLink;
use cairn_meta::{MemberChange, MetaNode, MetaOptions};
use cairn_nodeapi::{DeviceId, ExtentNode, ExtentRoutes, NodeId, NodeMap, ObjectNode};
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
    /// Every node's objects: this one, and a client for each other.
    pub nodes: Arc<NodeMap>,
    /// Every device's extents, routed to the node that holds it: this
    /// node's devices, and for the others a client of their node.
    pub extents: Arc<ExtentRoutes>,
    storage: Arc<Storage>,
    /// This node's ring number.
    local: u32,
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
        endpoint.register(ServiceId::Extent, ExtentService::new(storage.clone()));

        let meta = MetaNode::open(
            &dir.meta_dir(),
            section.node_id,
            MetaOptions::default(),
            QuicNetwork::new(endpoint.clone()),
        )
        .await
        .context("opening the metadata voter")?;
        quic::serve(&endpoint, &meta);
        let admits = super::join::JoinService::for_node(
            dir.root.clone(),
            &dir.config,
            &dir.token_secret,
            Arc::downgrade(&meta),
        )?;
        if let Some(service) = admits {
            endpoint.register(ServiceId::Join, service);
            tracing::info!("this node admits new nodes (it holds the cluster CA)");
        }
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
        if !initialized && !section.join.is_empty() {
            ask_admission(&endpoint, section).await?;
        }
        tracing::info!(node = section.node_id, listen = %section.listen, "waiting for a metadata leader");
        meta.raft()
            .wait(Some(LEADER_WAIT))
            // A new learner hears of the leader before it has the log that
            // says where the leader is; forwarding (a promotion) needs both.
            .metrics(
                |m| {
                    m.current_leader
                        .is_some_and(|l| m.membership_config.membership().get_node(&l).is_some())
                },
                "a metadata leader",
            )
            .await
            .context("no metadata leader; are the other voters running?")?;
        if section.voter && !meta.members().voters.contains(&section.node_id) {
            meta.change_members(MemberChange::Promote {
                id: section.node_id,
            })
            .await
            .context("becoming a metadata voter")?;
            tracing::info!("promoted to metadata voter");
        }

        let local = u32::try_from(section.node_id).context("node id beyond the ring's range")?;
        let nodes: Arc<NodeMap> = Arc::new(NodeMap::new());
        nodes.insert(NodeId(local), storage.clone() as Arc<dyn ObjectNode>);
        let cluster = Cluster {
            endpoint,
            meta,
            nodes,
            extents: Arc::new(ExtentRoutes::new()),
            storage,
            local,
        };
        cluster.learn(&dir.ring)?;
        Ok(cluster)
    }

    /// Gives every node `ring` names that has no client yet one, at the
    /// address its devices name, and every device a route for its extents.
    pub fn learn(&self, ring: &Ring) -> Result<()> {
        for d in ring.devices() {
            let id = NodeId(d.node);
            if !self.nodes.contains(&id) {
                let remote = remote(&self.endpoint, d)?;
                tracing::info!(node = d.node, addr = %d.addr, "new node in the ring");
                self.nodes.insert(id, Arc::new(remote));
            }
            let device = DeviceId(d.id);
            if !self.extents.contains(device) {
                let node: Arc<dyn ExtentNode> = if d.node == self.local {
                    self.storage.clone()
                } else {
                    Arc::new(remote(&self.endpoint, d)?)
                };
                self.extents.insert(device, node);
            }
        }
        Ok(())
    }

    /// `learn` as a callback that holds the cluster weakly (the ring watch
    /// outlives nothing it should keep alive).
    pub fn learner(self: &Arc<Self>) -> Box<dyn Fn(&Ring) + Send + Sync> {
        let me: Weak<Cluster> = Arc::downgrade(self);
        Box::new(move |ring| {
            if let Some(c) = me.upgrade() {
                if let Err(e) = c.learn(ring) {
                    tracing::warn!(error = %format!("{e:#}"), "a node of the new ring is unreachable");
                }
            }
        })
    }

    /// Answers the operator's questions about this node (`ServiceId::Admin`).
    /// Registered once the replicator exists; until then such a question
    /// finds no service, and `cairn cluster status` shows the node as down.
    pub fn serve_admin(&self, sources: admin::Sources) {
        let service = admin::AdminService::new(sources, Arc::downgrade(&self.meta));
        self.endpoint.register(ServiceId::Admin, service);
    }
}

/// Asks the members in `section.join`, in turn, to admit this node into
/// the metadata group as a learner.
async fn ask_admission(endpoint: &Arc<Endpoint>, section: &ClusterSection) -> Result<()> {
    let link = QuicNetwork::new(endpoint.clone());
    let change = MemberChange::AddLearner {
        id: section.node_id,
        addr: section.listen.to_string(),
    };
    let mut failures = Vec::new();
    for seed in &section.join {
        let node = cairn_meta::Node::new(seed.addr.to_string());
        match link.members(seed.id, &node, change.clone()).await {
            Ok(()) => {
                tracing::info!(
                    seed = seed.id,
                    "admitted to the metadata group as a learner"
                );
                return Ok(());
            }
            Err(e) => failures.push(format!("node {} at {}: {e}", seed.id, seed.addr)),
        }
    }
    bail!("no member admitted this node: {}", failures.join("; "))
}

/// A client for the node that holds device `d`, at the address it names.
fn remote(endpoint: &Arc<Endpoint>, d: &cairn_ring::Device) -> Result<RemoteNode> {
    let addr = d
        .addr
        .parse()
        .with_context(|| format!("device {} of node {}: addr {:?}", d.name, d.node, d.addr))?;
    let peer = Peer {
        addr,
        name: member_dns_name(&node_name(u64::from(d.node))),
    };
    Ok(RemoteNode::new(endpoint.clone(), peer))
}
