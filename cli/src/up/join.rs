//! The join service (`ServiceId::Join`), on the node that holds the
//! cluster CA's key (the one `cairn cluster init` made): the one service
//! open to callers without a cluster certificate. A node that presents a
//! valid join token (see [`crate::join::token`]) is given a node id, a
//! certificate over the public key it sent (its private key never leaves
//! it), the cluster's shared settings and keys, and a ring with its
//! devices in it — which this service publishes through Raft before it
//! answers, so every node starts routing to the newcomer. The newcomer
//! then asks the metadata group to admit it as a learner (and promotes
//! itself to voter if it was granted that).
//!
//! Admissions are serialised (one ring change at a time); every node id
//! ever issued is remembered in `DIR/join/issued.json`, so an id, and the
//! certificate name `node-<id>` that goes with it, is never issued twice.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Weak};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use async_trait::async_trait;
use cairn_internode::pki::node_name;
use cairn_internode::wire::{finish, recv_msg_within, send_msg};
use cairn_internode::{Caller, ClusterCa, Service, Stream};
use cairn_meta::MetaNode;
use cairn_ring::RingBuilder;
use serde::{Deserialize, Serialize};

use super::{init, nodes, ring_sync};
use crate::config::FileConfig;
use crate::join::messages::{JoinAnswer, JoinGrant, JoinRequest};
use crate::join::token::TokenStore;

/// How long a caller may take to send its request.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
/// The largest join request read: a token, an address, a public key and
/// a few device names fit many times over.
const REQUEST_BYTES_MAX: usize = 16 << 10;
/// Devices a joining node may bring.
const DEVICES_MAX: usize = 16;

/// Admits nodes into the cluster.
pub struct JoinService {
    root: PathBuf,
    ca: ClusterCa,
    /// The CA certificate as made (`ca/ca.pem`): the one the join tokens'
    /// fingerprint is of. (`ca` re-makes it from the key, with a fresh
    /// signature, so its PEM differs though it verifies the same.)
    ca_pem: String,
    /// Weak: the voter holds the endpoint, which holds this.
    meta: Weak<MetaNode>,
    /// The shared settings a new node gets: this node's config without
    /// its `[cluster]` section.
    config_toml: String,
    token_key_hex: String,
    /// One admission at a time.
    admitting: tokio::sync::Mutex<()>,
}

/// `DIR/join/issued.json`: one entry per node id ever issued.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct Issued {
    node_id: u64,
    internode: SocketAddr,
    token_id: String,
    at_unix: u64,
}

impl JoinService {
    /// The service for the node in `root`, if it holds the CA's key
    /// (`root/ca/ca.key`); `None` on every other node.
    pub fn for_node(
        root: PathBuf,
        config: &FileConfig,
        token_secret: &[u8],
        meta: Weak<MetaNode>,
    ) -> Result<Option<Arc<JoinService>>> {
        let key_path = root.join("ca/ca.key");
        if !key_path.exists() {
            return Ok(None);
        }
        let key = std::fs::read_to_string(&key_path)
            .with_context(|| format!("reading {}", key_path.display()))?;
        let ca_pem =
            std::fs::read_to_string(root.join("ca/ca.pem")).context("reading ca/ca.pem")?;
        let mut shared = config.clone();
        shared.cluster = None;
        Ok(Some(Arc::new(JoinService {
            ca: ClusterCa::from_key_pem(&key)?,
            ca_pem,
            root,
            meta,
            config_toml: toml::to_string(&shared)?,
            token_key_hex: hex::encode(token_secret),
            admitting: tokio::sync::Mutex::new(()),
        })))
    }

    fn issued_path(&self) -> PathBuf {
        self.root.join("join/issued.json")
    }

    fn issued(&self) -> Result<Vec<Issued>> {
        match std::fs::read(self.issued_path()) {
            Ok(bytes) => serde_json::from_slice(&bytes).context("reading join/issued.json"),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
            Err(e) => Err(e).context("reading join/issued.json"),
        }
    }

    async fn admit(&self, req: JoinRequest) -> Result<JoinGrant> {
        let now = init::now_secs();
        // The caller is not yet known: it learns why it was refused, not
        // what went wrong inside.
        let checked = TokenStore::new(&self.root)
            .check(&req.token_id, &req.secret, now)
            .map_err(|e| {
                tracing::error!(error = %format!("{e:#}"), "reading the join tokens");
                anyhow::anyhow!("the admitting node could not check the token")
            })?;
        if let Err(refused) = checked {
            bail!(refused);
        }
        check_request(&req)?;
        let meta = self.meta.upgrade().context("the node is shutting down")?;
        let _one_at_a_time = self.admitting.lock().await;

        let builder_path = self.root.join("ring/object.builder");
        let mut builder = RingBuilder::load(&builder_path).context("loading the ring builder")?;
        let membership = meta.raft().metrics().borrow().membership_config.clone();
        let members: Vec<(u64, SocketAddr)> = membership
            .membership()
            .nodes()
            .filter_map(|(id, node)| Some((*id, node.addr.parse().ok()?)))
            .collect();
        let voters = membership.membership().voter_ids().count();
        let mut issued = self.issued()?;
        let node_id = builder
            .devices()
            .iter()
            .map(|d| u64::from(d.node))
            .chain(members.iter().map(|m| m.0))
            .chain(issued.iter().map(|i| i.node_id))
            .max()
            .unwrap_or(0)
            + 1;
        let ring_node = u32::try_from(node_id).context("node ids are exhausted")?;
        let cert_pem = self.ca.certify(&node_name(node_id), &req.public_key)?;

        nodes::add_devices(&mut builder, ring_node, req.internode, &req.devices)?;
        let ring = nodes::rebalance(&mut builder)?;
        // Recorded before the ring names it, so the id is never reissued.
        issued.push(Issued {
            node_id,
            internode: req.internode,
            token_id: req.token_id.clone(),
            at_unix: now,
        });
        std::fs::create_dir_all(self.root.join("join"))?;
        crate::files::write_private(&self.issued_path(), &serde_json::to_vec_pretty(&issued)?)?;
        ring_sync::publish(&meta, &ring)
            .await
            .context("publishing the ring with the new node")?;
        builder.save(&builder_path)?;
        ring.save(&self.root.join(init::RING_FILE))?;
        tracing::info!(node = node_id, internode = %req.internode, devices = req.devices.len(),
            ring = ring.version(), "node admitted");
        Ok(JoinGrant {
            node_id,
            ca_pem: self.ca_pem.clone(),
            cert_pem,
            config_toml: self.config_toml.clone(),
            token_key_hex: self.token_key_hex.clone(),
            ring_json: serde_json::to_vec(&ring)?,
            members,
            voter: req.voter && voters < nodes::NODES_MAX as usize,
        })
    }
}

/// A request's own fields make sense: a reachable address and a few
/// well-named devices.
fn check_request(req: &JoinRequest) -> Result<()> {
    ensure!(
        !req.internode.ip().is_unspecified() && req.internode.port() != 0,
        "the internode address {} is not one other nodes can reach",
        req.internode
    );
    ensure!(
        (1..=DEVICES_MAX).contains(&req.devices.len()),
        "a node brings 1 to {DEVICES_MAX} devices"
    );
    for (i, name) in req.devices.iter().enumerate() {
        ensure!(
            !name.is_empty()
                && name.len() <= 32
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "device name {name:?}: 1 to 32 letters, digits, '-' or '_'"
        );
        ensure!(
            !req.devices[..i].contains(name),
            "device {name} named twice"
        );
    }
    Ok(())
}

#[async_trait]
impl Service for JoinService {
    fn open_to_anonymous(&self) -> bool {
        true
    }

    async fn serve(&self, caller: Caller, mut stream: Stream) {
        let request = tokio::time::timeout(
            REQUEST_TIMEOUT,
            recv_msg_within::<JoinRequest>(&mut stream.recv, REQUEST_BYTES_MAX),
        );
        let answer: JoinAnswer = match request.await {
            Ok(Ok(req)) => {
                let (id, internode) = (req.token_id.clone(), req.internode);
                self.admit(req).await.map_err(|e| {
                    tracing::warn!(?caller, token = %id, %internode, error = %format!("{e:#}"), "join refused");
                    format!("{e:#}")
                })
            }
            Ok(Err(e)) => Err(format!("unreadable join request: {e}")),
            Err(_) => Err("no join request within 10 s".into()),
        };
        if send_msg(&mut stream.send, &answer).await.is_ok() {
            finish(&mut stream.send);
        }
    }
}
