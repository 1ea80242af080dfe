//! `cairn node join TOKEN`: one command that makes this machine a node of
//! a running cluster. It makes the node's key here, asks the admitting
//! node named in the token for admission over QUIC — trusting it only if
//! its certificate chains to the CA whose fingerprint the token carries,
//! and proving itself with the token's secret — and writes what it is
//! granted into a node directory (config, certificate, ring, shared keys).
//! Then it runs the node, which asks the metadata group to admit it.
//! Later starts are `cairn node --config DIR/cairn.toml`.

pub mod messages;
pub mod token;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use anyhow::{anyhow, ensure, Context, Result};
use cairn_internode::pki::{MemberKey, MEMBER_NAME};
use cairn_internode::wire::{finish, recv_msg, send_msg};
use cairn_internode::{Endpoint, Peer, ServiceId};
use cairn_ring::Ring;

use crate::config::{ClusterSection, FileConfig, VoterEntry};
use crate::up::Listeners;
use messages::{JoinAnswer, JoinGrant, JoinRequest, JOIN_TIMEOUT};
use token::JoinToken;

/// Options of `cairn node join`.
#[derive(Debug, clap::Args)]
pub struct JoinArgs {
    /// The join token (`cairn cluster init` and `cairn cluster token create`
    /// print one).
    pub token: String,
    /// The node's data directory (created; must not hold a node yet).
    #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
    pub data: PathBuf,
    /// This node's internode (QUIC, UDP) address, reachable by every other
    /// node. Its public APIs listen on the same IP, on the cluster's ports.
    #[arg(long)]
    pub internode: SocketAddr,
    /// How many storage devices (directories `devices/d1`, …) it brings.
    #[arg(long, default_value_t = 2)]
    pub devices: u32,
    /// Stay a metadata learner instead of becoming a voter.
    #[arg(long)]
    pub learner: bool,
    #[command(flatten)]
    pub listen: Listeners,
    /// Join and write the node's directory, then exit instead of running it.
    #[arg(long)]
    pub init_only: bool,
}

/// `cairn node join`.
pub fn run(args: JoinArgs) -> Result<()> {
    let token = JoinToken::decode(&args.token)?;
    let root = crate::up::new_node_dir(&args.data)?;
    let config = root.join("cairn.toml");
    ensure!(
        !args.internode.ip().is_unspecified() && args.internode.port() != 0,
        "--internode {}: the ring names this address to every node, so give one they can reach",
        args.internode
    );
    ensure!((1..=16).contains(&args.devices), "--devices takes 1 to 16");
    let key = MemberKey::generate()?;
    let request = JoinRequest {
        token_id: token.id.clone(),
        secret: token.secret.to_vec(),
        internode: args.internode,
        public_key: key.public_raw(),
        devices: crate::up::device_names(args.devices),
        voter: !args.learner,
    };
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    let grant = runtime.block_on(ask(&token, &request))?;
    drop(runtime);
    write_node(&root, &args, &request, key, &token, grant)?;
    println!(
        "cairn: joined the cluster; this node's directory is {}",
        root.display()
    );
    if args.init_only {
        println!("start it: cairn node --config {}", config.display());
        return Ok(());
    }
    crate::up::run_node(&config)
}

/// Asks the admitting node in `token` to admit this node.
async fn ask(token: &JoinToken, request: &JoinRequest) -> Result<JoinGrant> {
    let endpoint = Endpoint::joiner(token.ca_fingerprint)?;
    let peer = Peer {
        addr: token.addr,
        name: MEMBER_NAME.to_owned(),
    };
    let exchange = async {
        let mut stream = endpoint
            .open(&peer, ServiceId::Join)
            .await
            .with_context(|| format!("reaching the cluster at {}", token.addr))?;
        send_msg(&mut stream.send, request).await?;
        finish(&mut stream.send);
        let answer: JoinAnswer = recv_msg(&mut stream.recv).await?;
        anyhow::Ok(answer)
    };
    let answer = tokio::time::timeout(JOIN_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            anyhow!(
                "the cluster at {} did not answer in {JOIN_TIMEOUT:?}",
                token.addr
            )
        })?;
    endpoint.close().await;
    answer?.map_err(|refusal| anyhow!("the cluster did not admit this node: {refusal}"))
}

/// Writes the node's directory from `grant`; `cairn.toml` last, so a
/// directory with one is a complete node.
fn write_node(
    root: &Path,
    args: &JoinArgs,
    request: &JoinRequest,
    key: MemberKey,
    token: &JoinToken,
    grant: JoinGrant,
) -> Result<()> {
    let fingerprint = cairn_internode::pki::ca_fingerprint(&grant.ca_pem)?;
    ensure!(
        fingerprint == hex::encode(token.ca_fingerprint),
        "the cluster granted a certificate from another CA than the token's"
    );
    let ring: Ring =
        serde_json::from_slice(&grant.ring_json).context("decoding the granted ring")?;
    let node = u32::try_from(grant.node_id).context("node id beyond the ring's range")?;
    let mine = ring.devices().iter().filter(|d| d.node == node).count();
    ensure!(
        mine == request.devices.len(),
        "the granted ring holds {mine} of this node's {} devices",
        request.devices.len()
    );
    let mut cfg: FileConfig =
        toml::from_str(&grant.config_toml).context("reading the cluster's shared settings")?;
    cfg.storage.node = node;
    cfg.storage.devices_dir = PathBuf::from("devices");
    crate::up::at_address(&mut cfg, args.internode.ip());
    args.listen.apply(&mut cfg);
    cfg.cluster = Some(ClusterSection {
        node_id: grant.node_id,
        listen: args.internode,
        bootstrap: Vec::new(),
        expirer: false,
        join: grant
            .members
            .iter()
            .map(|&(id, addr)| VoterEntry { id, addr })
            .collect(),
        voter: grant.voter,
    });
    key.into_identity(grant.ca_pem, grant.cert_pem)
        .save(&root.join("tls"))?;
    std::fs::create_dir_all(root.join("ring"))?;
    ring.save(&root.join(crate::up::RING_FILE))?;
    std::fs::create_dir_all(root.join("keys"))?;
    crate::files::write_private(&root.join("keys/token.key"), grant.token_key_hex.as_bytes())?;
    cfg.save(&root.join("cairn.toml"))
}
