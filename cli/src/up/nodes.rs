//! `cairn up --nodes N`: a real cluster on one machine, the way Ceph's
//! vstart and Swift's SAIO give developers one — N `cairn node` processes,
//! node `i` on its own loopback address `127.0.0.(i+1)`, each with its own
//! data directory, devices, certificate and metadata voter, talking QUIC
//! with mutual TLS.
//!
//! Layout of DIR (made on first start, reused afterwards):
//! ```text
//! cluster.toml        how many nodes, which internode port
//! ca/ca.pem, ca.key   the cluster CA (the key never leaves this directory)
//! tls/                the operator's certificate (`operator`), with which
//!                     `cairn cluster status` reaches every node as a member
//! keys/token.key      the token-signing key every proxy shares
//! ring/object.*       the ring: 2 devices per node, each node its own zone
//! node-<i>/           one node: cairn.toml with [cluster], tls/, ring/,
//!                     keys/, devices/, meta/, node.log, node.pid
//! openrc              node 1's endpoints and the demo user's credentials
//! ```
//! Node 1 serves the public APIs on the configured addresses; node `i`
//! serves them on the same ports at its own address. Node 1 bootstraps
//! the metadata group (every node is a voter) and runs the expirer.
//! This process only supervises: Ctrl-C stops every node cleanly. A node
//! that dies is reported, not restarted: `cairn node --config
//! DIR/node-<i>/cairn.toml` brings it back.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use cairn_internode::pki::{node_name, write_file};
use cairn_internode::{ClusterCa, Identity};
use cairn_ring::{DeviceSpec, RingBuilder};
use serde::{Deserialize, Serialize};
use tokio::process::{Child, Command};

use super::init::{self, Listeners};
use crate::config::{ClusterSection, FileConfig, VoterEntry};

/// Voters in the metadata group, at most (more nodes need learners, which
/// `cairn node join` will add).
pub const NODES_MAX: u32 = 5;
/// Devices per node: with 3 replicas on 3 nodes, the second device of each
/// node is where a handoff can go when a primary device fails.
const DEVICES_PER_NODE: u32 = 2;
/// How long a node may take to answer on its Swift address.
const START_TIMEOUT: Duration = Duration::from_secs(120);
/// How long a node may take to stop after SIGTERM.
const STOP_TIMEOUT: Duration = Duration::from_secs(30);

/// `DIR/cluster.toml`: what the cluster was made with.
#[derive(Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct ClusterFile {
    nodes: u32,
    internode_port: u16,
    /// Node `i`'s address is `ips[i-1]`; empty: `127.0.0.(i+1)`.
    #[serde(default)]
    ips: Vec<IpAddr>,
}

/// How many nodes, and where.
pub struct Layout {
    pub count: u32,
    pub internode_port: u16,
    /// Node `i`'s address is `ips[i-1]`; empty: `127.0.0.(i+1)`.
    pub ips: Vec<IpAddr>,
}

impl Layout {
    fn ip(&self, i: u32) -> IpAddr {
        node_ip(&self.ips, i)
    }
}

/// The member name of the operator's certificate.
const OPERATOR_NAME: &str = "operator";

/// Where the operator's certificate is: `DIR/tls`.
pub fn operator_tls_dir(root: &Path) -> PathBuf {
    root.join("tls")
}

/// The cluster's ring: `DIR/ring/object.ring` (each node has a copy).
pub fn ring_path(root: &Path) -> PathBuf {
    root.join("ring/object.ring")
}

/// Node `i`'s address: `ips[i-1]`, or its loopback address `127.0.0.(i+1)`.
fn node_ip(ips: &[IpAddr], i: u32) -> IpAddr {
    match ips.get(i as usize - 1) {
        Some(ip) => *ip,
        None => IpAddr::V4(Ipv4Addr::new(127, 0, 0, i as u8 + 1)),
    }
}

fn node_dir(root: &Path, i: u32) -> PathBuf {
    root.join(node_name(u64::from(i)))
}

/// Makes (first start) or checks the cluster in `root`, then runs and
/// supervises its nodes until Ctrl-C.
pub fn run(root: &Path, layout: Layout, listen: Listeners, init_only: bool) -> Result<()> {
    let count = layout.count;
    if !(1..=NODES_MAX).contains(&count) {
        bail!("--nodes takes 1 to {NODES_MAX} (every node is a metadata voter)");
    }
    if !layout.ips.is_empty() && layout.ips.len() != count as usize {
        bail!(
            "--node-ips names {} addresses for {count} nodes",
            layout.ips.len()
        );
    }
    std::fs::create_dir_all(root).with_context(|| format!("creating {root:?}"))?;
    let root = root.canonicalize()?;
    let marker = root.join("cluster.toml");
    if marker.exists() {
        let text = std::fs::read_to_string(&marker)?;
        let made: ClusterFile = toml::from_str(&text).with_context(|| format!("{marker:?}"))?;
        if made.nodes != count {
            bail!(
                "{} holds a cluster of {} nodes, not {count}",
                root.display(),
                made.nodes
            );
        }
        // A directory made before operators had a certificate gets one now
        // (as does one whose certificate is missing or unreadable).
        if Identity::load(&operator_tls_dir(&root)).is_err() {
            let key = std::fs::read_to_string(root.join("ca/ca.key"))
                .context("reading the cluster CA's key")?;
            issue_operator(&ClusterCa::from_key_pem(&key)?, &root)?;
        }
    } else {
        create(&root, &layout, listen)?;
        let made = ClusterFile {
            nodes: count,
            internode_port: layout.internode_port,
            ips: layout.ips,
        };
        write_file(&marker, &toml::to_string(&made)?, 0o644)?;
    }
    if init_only {
        println!(
            "cairn: initialised a cluster of {count} nodes in {}",
            root.display()
        );
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(supervise(&root, count))
}

/// Writes the CA, the shared keys and users, the ring, and one directory
/// per node with its config and certificate.
fn create(root: &Path, layout: &Layout, listen: Listeners) -> Result<()> {
    let count = layout.count;
    let ca = ClusterCa::generate()?;
    std::fs::create_dir_all(root.join("ca"))?;
    write_file(&root.join("ca/ca.pem"), &ca.cert_pem(), 0o644)?;
    write_file(&root.join("ca/ca.key"), &ca.key_pem(), 0o600)?;
    let token_key = root.join("keys/token.key");
    init::load_or_create_key(&token_key)?;

    let internode = |i: u32| SocketAddr::new(layout.ip(i), layout.internode_port);
    let mut builder = RingBuilder::new(init::DEFAULT_PART_POWER, init::DEFAULT_REPLICA_COUNT, 1)?;
    for i in 1..=count {
        add_devices(
            &mut builder,
            i,
            internode(i),
            &device_names(DEVICES_PER_NODE),
        )?;
    }
    builder.rebalance(init::now_secs())?;
    std::fs::create_dir_all(root.join("ring"))?;
    builder.save(&root.join("ring/object.builder"))?;
    let ring = builder.ring()?;
    ring.save(&ring_path(root))?;

    let mut base = init::default_config(init::DEFAULT_LISTEN.parse()?);
    listen.apply(&mut base);
    let voters: Vec<VoterEntry> = (1..=count)
        .map(|i| VoterEntry {
            id: u64::from(i),
            addr: internode(i),
        })
        .collect();
    for i in 1..=count {
        let dir = node_dir(root, i);
        let mut cfg = base.clone();
        cfg.storage.node = i;
        if i > 1 {
            at_address(&mut cfg, layout.ip(i));
        }
        cfg.cluster = Some(ClusterSection {
            node_id: u64::from(i),
            listen: internode(i),
            bootstrap: if i == 1 { voters.clone() } else { Vec::new() },
            expirer: i == 1,
            join: Vec::new(),
            voter: false,
        });
        std::fs::create_dir_all(dir.join("ring"))?;
        cfg.save(&dir.join("cairn.toml"))?;
        ring.save(&dir.join("ring/object.ring"))?;
        std::fs::create_dir_all(dir.join("keys"))?;
        std::fs::copy(&token_key, dir.join("keys/token.key"))?;
        ca.issue(&node_name(u64::from(i)))?.save(&dir.join("tls"))?;
    }
    issue_operator(&ca, root)
}

/// Issues the operator's certificate into `DIR/tls`.
fn issue_operator(ca: &ClusterCa, root: &Path) -> Result<()> {
    ca.issue(OPERATOR_NAME)?.save(&operator_tls_dir(root))?;
    Ok(())
}

/// Moves every public listener to `ip`, keeping its port.
pub fn at_address(cfg: &mut FileConfig, ip: IpAddr) {
    for addr in [
        &mut cfg.proxy.listen,
        &mut cfg.s3.listen,
        &mut cfg.block.nbd_listen,
        &mut cfg.block.iscsi_listen,
    ] {
        addr.set_ip(ip);
    }
}

/// One running node.
struct Running {
    index: u32,
    child: Child,
    swift: SocketAddr,
    internode: SocketAddr,
}

async fn supervise(root: &Path, count: u32) -> Result<()> {
    let exe = std::env::current_exe().context("finding the cairn binary")?;
    let mut nodes = Vec::new();
    for i in 1..=count {
        let dir = node_dir(root, i);
        let cfg = FileConfig::load(&dir.join("cairn.toml"))?;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(dir.join("node.log"))?;
        let child = Command::new(&exe)
            .arg("node")
            .arg("--config")
            .arg(dir.join("cairn.toml"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting node {i}"))?;
        let internode = cfg
            .cluster
            .as_ref()
            .context("node without [cluster]")?
            .listen;
        nodes.push(Running {
            index: i,
            child,
            swift: cfg.proxy.listen,
            internode,
        });
    }
    for n in &mut nodes {
        wait_listening(root, n).await?;
    }
    let node1 = init::open_node(&node_dir(root, 1).join("cairn.toml"))?;
    let openrc = init::write_openrc(&node1)?;
    std::fs::copy(&openrc, root.join("openrc"))?;
    print_banner(root, &node1, &nodes);

    let mut shutdown = std::pin::pin!(super::shutdown_signal());
    let mut ticker = tokio::time::interval(Duration::from_secs(1));
    loop {
        tokio::select! {
            () = &mut shutdown => break,
            _ = ticker.tick() => {
                nodes.retain_mut(|n| match n.child.try_wait() {
                    Ok(Some(status)) => {
                        tracing::warn!(node = n.index, %status, "node exited; `cairn node --config {}` restarts it",
                            node_dir(root, n.index).join("cairn.toml").display());
                        false
                    }
                    _ => true,
                });
            }
        }
    }
    stop_all(&mut nodes).await;
    println!("cairn: cluster stopped");
    Ok(())
}

async fn wait_listening(root: &Path, n: &mut Running) -> Result<()> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        if let Some(status) = n.child.try_wait()? {
            bail!(
                "node {} exited with {status}; see {}",
                n.index,
                node_dir(root, n.index).join("node.log").display()
            );
        }
        if tokio::net::TcpStream::connect(n.swift).await.is_ok() {
            return Ok(());
        }
        if Instant::now() > deadline {
            bail!("node {} did not start within {START_TIMEOUT:?}", n.index);
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// SIGTERM to every node, then waits; SIGKILL for any that hangs.
async fn stop_all(nodes: &mut [Running]) {
    for n in nodes.iter() {
        if let Some(pid) = n.child.id() {
            let pid = nix::unistd::Pid::from_raw(pid as i32);
            let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        }
    }
    for n in nodes.iter_mut() {
        if tokio::time::timeout(STOP_TIMEOUT, n.child.wait())
            .await
            .is_err()
        {
            tracing::warn!(node = n.index, "node did not stop; killing it");
            let _ = n.child.kill().await;
        }
    }
}

fn print_banner(root: &Path, node1: &init::DataDir, nodes: &[Running]) {
    let cfg = &node1.config;
    println!(
        "cairn cluster is up: {} nodes (data in {})",
        nodes.len(),
        root.display()
    );
    for n in nodes {
        println!(
            "  node-{}      pid {:<8} internode {}  Swift http://{}",
            n.index,
            n.child.id().unwrap_or(0),
            n.internode,
            n.swift
        );
    }
    println!(
        "  Swift API   http://{}/v1/AUTH_<account>",
        cfg.proxy.listen
    );
    println!("  S3 API      http://{}", cfg.s3.listen);
    println!(
        "  NBD         {}://{}/<volume>",
        cfg.block.nbd_scheme(),
        cfg.block.nbd_listen
    );
    println!("  iSCSI       {}", cfg.block.iscsi_listen);
    for u in &cfg.tempauth.users {
        println!("  user        {}:{}  key {}", u.account, u.user, u.key);
    }
    println!("  openrc      source {}", root.join("openrc").display());
    println!(
        "  status      cairn cluster status --data {}",
        root.display()
    );
    println!("Ctrl-C stops every node; a restart keeps every object.");
}

/// A node `add_node` prepared.
pub struct AddedNode {
    pub index: u32,
    pub config: PathBuf,
    pub ring_version: u64,
}

/// Prepares node `i` (the next free number) of the cluster in `root` to
/// join it while it runs: its directory (config that asks the running
/// nodes for admission, certificate from the cluster CA, shared keys), and
/// its devices added to the builder and rebalanced (at most one replica of
/// any partition moves) into a new ring, which the node starts with. The
/// other nodes get the ring when it is published (`cairn cluster push-ring`).
pub fn add_node(root: &Path, voter: bool) -> Result<AddedNode> {
    let root = root.canonicalize().with_context(|| format!("{root:?}"))?;
    let made: ClusterFile = toml::from_str(
        &std::fs::read_to_string(root.join("cluster.toml"))
            .context("reading cluster.toml: is this a cluster made by `cairn up --nodes N`?")?,
    )?;
    let members = existing_members(&root)?;
    let index = members.iter().map(|m| m.id as u32).max().unwrap_or(0) + 1;
    if index > 250 || !made.ips.is_empty() {
        bail!("add-node gives node {index} a loopback address; this cluster's nodes have addresses of their own");
    }
    let ip = node_ip(&[], index);
    let internode = SocketAddr::new(ip, made.internode_port);

    let builder_path = root.join("ring/object.builder");
    let mut builder = RingBuilder::load(&builder_path).context("loading the ring builder")?;
    add_devices(
        &mut builder,
        index,
        internode,
        &device_names(DEVICES_PER_NODE),
    )?;
    let ring = rebalance_saved(&root, builder)?;

    let dir = node_dir(&root, index);
    let mut cfg = FileConfig::load(&node_dir(&root, 1).join("cairn.toml"))
        .context("reading node 1's config (the template of a new node's)")?;
    cfg.storage.node = index;
    at_address(&mut cfg, ip);
    cfg.cluster = Some(ClusterSection {
        node_id: u64::from(index),
        listen: internode,
        bootstrap: Vec::new(),
        expirer: false,
        join: members,
        voter,
    });
    std::fs::create_dir_all(dir.join("ring"))?;
    std::fs::create_dir_all(dir.join("keys"))?;
    let config = dir.join("cairn.toml");
    cfg.save(&config)?;
    ring.save(&dir.join(init::RING_FILE))?;
    std::fs::copy(root.join("keys/token.key"), dir.join("keys/token.key"))?;
    let key = std::fs::read_to_string(root.join("ca/ca.key")).context("reading the CA's key")?;
    ClusterCa::from_key_pem(&key)?
        .issue(&node_name(u64::from(index)))?
        .save(&dir.join("tls"))?;
    Ok(AddedNode {
        index,
        config,
        ring_version: ring.version(),
    })
}

/// Takes node `index`'s devices out of the builder of the cluster in
/// `root` and rebalances: the new ring, once published, has the other
/// nodes' replicators move its partitions away (one replica of each per
/// rebalance, so two stay where they were). `None` when the builder has no
/// device on that node (already removed).
pub fn remove_node_devices(root: &Path, index: u32) -> Result<Option<cairn_ring::Ring>> {
    let builder_path = root.join("ring/object.builder");
    let mut builder = RingBuilder::load(&builder_path).context("loading the ring builder")?;
    let ids: Vec<u32> = builder
        .devices()
        .iter()
        .filter(|d| d.node == index)
        .map(|d| d.id)
        .collect();
    if ids.is_empty() {
        return Ok(None);
    }
    for id in ids {
        builder.remove_device(id)?;
    }
    rebalance_saved(root, builder).map(Some)
}

/// Rebalances `builder` as if its last moves were replicated, saves it and
/// its ring in `root/ring`, and returns the ring.
fn rebalance_saved(root: &Path, mut builder: RingBuilder) -> Result<cairn_ring::Ring> {
    let ring = rebalance(&mut builder)?;
    builder.save(&root.join("ring/object.builder"))?;
    ring.save(&ring_path(root))?;
    Ok(ring)
}

/// Rebalances `builder` as if its last moves were replicated (at most one
/// replica of any partition moves) and returns the new ring.
pub(super) fn rebalance(builder: &mut RingBuilder) -> Result<cairn_ring::Ring> {
    builder.pretend_min_part_hours_passed();
    builder.rebalance(init::now_secs())?;
    Ok(builder.ring()?)
}

/// `d1` … `d<n>`.
pub fn device_names(n: u32) -> Vec<String> {
    (1..=n).map(|d| format!("d{d}")).collect()
}

/// Adds node `node`'s devices `names` to `builder`, at its internode
/// address, equally weighted, the node its own zone.
pub(super) fn add_devices(
    builder: &mut RingBuilder,
    node: u32,
    internode: SocketAddr,
    names: &[String],
) -> Result<()> {
    for name in names {
        builder.add_device(DeviceSpec {
            region: 1,
            zone: node,
            node,
            addr: internode.to_string(),
            name: name.clone(),
            weight: 100.0,
        })?;
    }
    Ok(())
}

/// The nodes of the cluster in `root` (their directories), as members to
/// ask for admission.
fn existing_members(root: &Path) -> Result<Vec<VoterEntry>> {
    let mut members = Vec::new();
    for entry in std::fs::read_dir(root)? {
        let path = entry?.path().join("cairn.toml");
        if !path.exists() {
            continue;
        }
        if let Some(c) = FileConfig::load(&path)?.cluster {
            members.push(VoterEntry {
                id: c.node_id,
                addr: c.listen,
            });
        }
    }
    members.sort_by_key(|m| m.id);
    Ok(members)
}
