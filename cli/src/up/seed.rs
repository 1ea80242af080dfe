//! `cairn cluster init`: the first node of a cluster that grows one
//! machine at a time with join tokens (`cairn node join`), the way
//! kubeadm or `ceph orch host add` grow theirs.
//!
//! It writes one node's directory, DIR:
//! ```text
//! cairn.toml          [cluster]: node 1, the metadata group's bootstrap voter
//! ca/ca.pem, ca.key   the cluster CA (the key stays here: this node admits)
//! tls/                node 1's certificate (also the operator's, for
//!                     `cairn cluster status --data DIR`)
//! keys/token.key      the token-signing key every proxy shares
//! ring/object.*       the ring: node 1's devices, to which joins add theirs
//! join/tokens.json    issued join tokens (hashed secrets, expiry)
//! ```
//! and prints the first join token. `cairn node --config DIR/cairn.toml`
//! runs the node; its join service (`up::join`) admits the others.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{bail, ensure, Context, Result};
use cairn_internode::pki::{node_name, write_file};
use cairn_internode::ClusterCa;
use cairn_ring::RingBuilder;

use super::init::{self, Listeners};
use super::nodes;
use crate::config::{ClusterSection, FileConfig, VoterEntry};
use crate::join::token::{JoinToken, TokenStore};

/// What `init` made.
pub struct Seeded {
    pub config: PathBuf,
    pub token: JoinToken,
}

/// Creates the first node of a new cluster in `root` (which must not hold
/// one): node 1 with `devices` devices, its internode endpoint on
/// `internode`, its public APIs on the same address (unless `listen` says
/// otherwise), and a join token valid for `token_ttl_secs`.
pub fn init(
    root: &Path,
    internode: SocketAddr,
    devices: u32,
    listen: Listeners,
    token_ttl_secs: u64,
) -> Result<Seeded> {
    ensure!(
        !internode.ip().is_unspecified() && internode.port() != 0,
        "--internode {internode}: the ring names this address to every node, so give one they can reach"
    );
    let replicas = init::DEFAULT_REPLICA_COUNT as u32;
    ensure!(
        (replicas..=16).contains(&devices),
        "the first node holds all {replicas} replicas until others join: give it {replicas} to 16 devices"
    );
    let root = new_node_dir(root)?;
    let config = root.join("cairn.toml");
    let ca = ClusterCa::generate()?;
    std::fs::create_dir_all(root.join("ca"))?;
    write_file(&root.join("ca/ca.pem"), &ca.cert_pem(), 0o644)?;
    write_file(&root.join("ca/ca.key"), &ca.key_pem(), 0o600)?;
    init::load_or_create_key(&root.join("keys/token.key"))?;
    let identity = ca.issue(&node_name(1))?;
    identity.save(&root.join("tls"))?;

    let mut builder = RingBuilder::new(init::DEFAULT_PART_POWER, init::DEFAULT_REPLICA_COUNT, 1)?;
    nodes::add_devices(&mut builder, 1, internode, &nodes::device_names(devices))?;
    builder.rebalance(init::now_secs())?;
    std::fs::create_dir_all(root.join("ring"))?;
    builder.save(&root.join("ring/object.builder"))?;
    builder.ring()?.save(&root.join(init::RING_FILE))?;

    let mut cfg: FileConfig = init::default_config(init::DEFAULT_LISTEN.parse()?);
    nodes::at_address(&mut cfg, internode.ip());
    listen.apply(&mut cfg);
    cfg.cluster = Some(ClusterSection {
        node_id: 1,
        listen: internode,
        bootstrap: vec![VoterEntry {
            id: 1,
            addr: internode,
        }],
        expirer: true,
        join: Vec::new(),
        voter: false,
    });
    cfg.save(&config)?;

    let fingerprint = hex::decode(identity.ca_fingerprint()?)?
        .try_into()
        .expect("SHA-256 is 32 bytes");
    let now = init::now_secs();
    let token = TokenStore::new(&root).create(internode, fingerprint, token_ttl_secs, now)?;
    Ok(Seeded { config, token })
}

/// `root`, created if missing and resolved, for a node about to be made
/// there: refused when it holds one already.
pub fn new_node_dir(root: &Path) -> Result<PathBuf> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {root:?}"))?;
    let root = root.canonicalize()?;
    let config = root.join("cairn.toml");
    if config.exists() {
        bail!(
            "{} already holds a node; `cairn node --config {}` runs it",
            root.display(),
            config.display()
        );
    }
    Ok(root)
}

/// A new join token for the cluster whose admitting node's directory is
/// `root`, valid for `ttl_secs`.
pub fn new_token(root: &Path, ttl_secs: u64) -> Result<JoinToken> {
    let cfg = FileConfig::load(&root.join("cairn.toml"))?;
    let cluster = cfg
        .cluster
        .context("this directory's node is not a cluster node")?;
    ensure!(
        root.join("ca/ca.key").exists(),
        "{} does not hold the cluster CA's key: tokens are made on the node `cairn cluster init` made",
        root.display()
    );
    let ca_pem = std::fs::read_to_string(root.join("ca/ca.pem")).context("reading ca/ca.pem")?;
    let fingerprint = hex::decode(cairn_internode::pki::ca_fingerprint(&ca_pem)?)?
        .try_into()
        .expect("SHA-256 is 32 bytes");
    TokenStore::new(root).create(cluster.listen, fingerprint, ttl_secs, init::now_secs())
}
