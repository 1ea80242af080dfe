//! `cairn cluster …`: the operator's commands for a cluster made by `cairn
//! up --nodes N` or `cairn cluster init`, which reach its nodes over QUIC
//! as a member with the operator's certificate (`DIR/tls`), finding them
//! through the ring (`DIR/ring/object.ring`, which names every node and
//! its internode address).
//!
//! `init` makes a cluster's first node and a join token; `token` issues,
//! lists and revokes join tokens (`cairn node join` spends one).
//!
//! `status` asks every node for its `NodeStatus` and prints a table
//! (`render`) or, with `--json`, one JSON document; a node that does not
//! answer is reported as down, not as an error: the command fails only
//! when no node answers at all. A node `remove-node` took out is still
//! asked (it is listed in `DIR/ring/removed-nodes.json`) and shown as
//! draining until it holds no partition, then as drained. `push-ring` publishes a rebalanced ring;
//! `add-node` and `remove-node` grow and shrink the cluster while it runs.

mod render;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context, Result};
use cairn_internode::pki::{member_dns_name, node_name};
use cairn_internode::{Endpoint, Identity, Peer};
use cairn_ring::Ring;
use serde::Serialize;

use crate::join::token::{parse_ttl, TokenStore};
use crate::node_status::{self, AdminRequest, NodeStatus};

#[derive(Debug, clap::Subcommand)]
pub enum ClusterCommand {
    /// Create a new cluster in DIR: its CA, its first node (run it with
    /// `cairn node --config DIR/cairn.toml`) and a join token, with which
    /// `cairn node join` adds each further machine.
    Init(InitArgs),
    /// Join tokens of a cluster made by `cairn cluster init` (on its first
    /// node's directory).
    #[command(subcommand)]
    Token(TokenCommand),
    /// Ask every node how it is: devices, metadata leader and term,
    /// partitions out of place, replication and auditing.
    Status(StatusArgs),
    /// Publish the ring (by default DIR/ring/object.ring, as `cairn ring
    /// rebalance` wrote it) to the running cluster: every node installs it
    /// and the replicators move the partitions it reassigns.
    PushRing {
        #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
        data: PathBuf,
        #[arg(long)]
        ring: Option<PathBuf>,
    },
    /// Prepare the next node of the cluster: its directory, certificate and
    /// config, and its devices in a rebalanced ring. Start it with `cairn
    /// node --config DIR/node-<i>/cairn.toml` (it asks to join the metadata
    /// group), then `cairn cluster push-ring`.
    AddNode {
        #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
        data: PathBuf,
        /// Make the node a metadata voter, not only a learner.
        #[arg(long)]
        voter: bool,
    },
    /// Take a node out: its devices leave the ring (published at once, so
    /// its partitions move to the others) and it leaves the metadata group.
    /// Stop it once it holds no partition. Refused while a volume's ring
    /// places extents on it (volumes do not move), unless --force.
    RemoveNode {
        #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
        data: PathBuf,
        node: u32,
        /// Remove it even though volumes keep extents on it (they lose
        /// those replicas).
        #[arg(long)]
        force: bool,
    },
}

#[derive(Debug, clap::Args)]
pub struct InitArgs {
    /// The first node's directory (created).
    #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
    pub data: PathBuf,
    /// The first node's internode (QUIC, UDP) address, reachable by every
    /// node; the join token names it. Its public APIs listen on the same
    /// IP unless told otherwise.
    #[arg(long)]
    pub internode: SocketAddr,
    /// Its storage devices (it holds every replica until others join).
    #[arg(long, default_value_t = 3)]
    pub devices: u32,
    /// How long the first join token is valid (s, m, h or d).
    #[arg(long, default_value = "24h")]
    pub token_ttl: String,
    #[command(flatten)]
    pub listen: crate::up::Listeners,
}

#[derive(Debug, clap::Subcommand)]
pub enum TokenCommand {
    /// Issue a join token.
    Create {
        #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
        data: PathBuf,
        /// How long it is valid (s, m, h or d).
        #[arg(long, default_value = "24h")]
        ttl: String,
    },
    /// List the tokens issued and not revoked.
    List {
        #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
        data: PathBuf,
    },
    /// Revoke a token: it admits no one from now on.
    Revoke {
        #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
        data: PathBuf,
        id: String,
    },
}

#[derive(Debug, clap::Args)]
pub struct StatusArgs {
    /// The cluster's directory (made by `cairn up --nodes N`).
    #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
    pub data: PathBuf,
    /// Print one JSON document instead of tables.
    #[arg(long)]
    pub json: bool,
}

pub fn run(cmd: ClusterCommand) -> Result<()> {
    match cmd {
        ClusterCommand::Init(args) => {
            let ttl = parse_ttl(&args.token_ttl)?;
            let seeded = crate::up::init_cluster(
                &args.data,
                args.internode,
                args.devices,
                args.listen,
                ttl,
            )?;
            println!(
                "cluster created; its first node is in {}.\n\
                 run it:           cairn node --config {}\n\
                 join another:     cairn node join {} --data DIR --internode IP:PORT\n\
                 (the token is valid for {}; `cairn cluster token create --data {}` makes more)",
                args.data.display(),
                seeded.config.display(),
                seeded.token.encode(),
                args.token_ttl,
                args.data.display()
            );
            Ok(())
        }
        ClusterCommand::Token(cmd) => token(cmd),
        ClusterCommand::Status(args) => status(&args),
        ClusterCommand::PushRing { data, ring } => {
            let path = ring.unwrap_or_else(|| crate::up::ring_path(&data));
            let ring = Ring::load(&path).with_context(|| format!("loading {}", path.display()))?;
            let answer = ask_any(&data, AdminRequest::PublishRing(serde_json::to_vec(&ring)?))?;
            println!("{answer}");
            Ok(())
        }
        ClusterCommand::AddNode { data, voter } => {
            let added = crate::up::add_node(&data, voter)?;
            println!(
                "node {} prepared; its devices are in ring version {}.\n\
                 start it:     cairn node --config {}\n\
                 then publish: cairn cluster push-ring --data {}",
                added.index,
                added.ring_version,
                added.config.display(),
                data.display()
            );
            Ok(())
        }
        ClusterCommand::RemoveNode { data, node, force } => {
            match ask_any(&data, AdminRequest::CheckRemoval(node)) {
                Ok(_) => {}
                Err(e) if force => eprintln!("removing node {node} anyway (--force): {e:#}"),
                Err(e) => return Err(e.context(format!("node {node} cannot leave"))),
            }
            // The node's address, before the new ring forgets it.
            let addr = ring_nodes(&data)?.get(&u64::from(node)).copied();
            if let Some(addr) = addr {
                remember_removed(&data, u64::from(node), addr)?;
            }
            match crate::up::remove_node_devices(&data, node)? {
                Some(ring) => {
                    let ring_bytes = serde_json::to_vec(&ring)?;
                    println!("{}", ask_any(&data, AdminRequest::PublishRing(ring_bytes))?);
                    // Out of the metadata group it could no longer read the
                    // ring, and would keep its partitions as if it were
                    // still a primary.
                    if let Some(addr) = addr {
                        wait_for_ring(&data, node, addr, ring.version())?;
                    }
                }
                None => println!("the ring has no device on node {node} any more"),
            }
            let change = cairn_meta::MemberChange::Remove {
                id: u64::from(node),
            };
            println!("{}", ask_any(&data, AdminRequest::ChangeMembers(change))?);
            println!(
                "node {node} is out of the ring and the metadata group; stop it once its \
                 replicator has moved its partitions away"
            );
            Ok(())
        }
    }
}

/// `cairn cluster token …`.
fn token(cmd: TokenCommand) -> Result<()> {
    match cmd {
        TokenCommand::Create { data, ttl } => {
            let token = crate::up::new_token(&data.canonicalize()?, parse_ttl(&ttl)?)?;
            println!("{}", token.encode());
        }
        TokenCommand::List { data } => {
            let now = std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)?
                .as_secs();
            println!("{:<14} {:>12}", "id", "expires in");
            for t in TokenStore::new(&data).list()? {
                let left = match t.expires_unix.checked_sub(now) {
                    Some(s) if s > 0 => format!("{s} s"),
                    _ => "expired".into(),
                };
                println!("{:<14} {left:>12}", t.id);
            }
        }
        TokenCommand::Revoke { data, id } => {
            if !TokenStore::new(&data).revoke(&id)? {
                bail!("no token {id}");
            }
            println!("token {id} revoked");
        }
    }
    Ok(())
}

/// How long `remove-node` waits for the node to install the ring that
/// leaves it out.
const RING_INSTALL_WAIT: std::time::Duration = std::time::Duration::from_secs(60);

/// Waits until node `id` at `addr` serves by ring `version` or newer; a
/// node that does not answer is not waited for (it cannot hold on to
/// partitions it does not serve).
fn wait_for_ring(root: &Path, id: u32, addr: SocketAddr, version: u64) -> Result<()> {
    as_operator(root, |endpoint| async move {
        let peer = peer(u64::from(id), addr);
        let deadline = tokio::time::Instant::now() + RING_INSTALL_WAIT;
        loop {
            match node_status::ask(&endpoint, &peer).await {
                Ok(s) if s.ring_version >= version => return Ok(()),
                Ok(_) if tokio::time::Instant::now() < deadline => {
                    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                }
                Ok(s) => bail!(
                    "node {id} still serves by ring version {} after {RING_INSTALL_WAIT:?}; \
                     it stays in the metadata group (run remove-node again later)",
                    s.ring_version
                ),
                Err(e) => {
                    tracing::warn!(node = id, error = %e, "node does not answer; not waiting for it");
                    return Ok(());
                }
            }
        }
    })
}

/// Asks the nodes of the ring in turn for a change until one answers.
fn ask_any(root: &Path, request: AdminRequest) -> Result<String> {
    let nodes = ring_nodes(root)?;
    as_operator(root, |endpoint| async move {
        let mut failures = Vec::new();
        for (&id, &addr) in &nodes {
            match node_status::change(&endpoint, &peer(id, addr), &request).await {
                Ok(answer) => return answer.map_err(|e| anyhow::anyhow!("node {id}: {e}")),
                Err(e) => failures.push(format!("node {id}: {e}")),
            }
        }
        bail!("no node answered: {}", failures.join("; "))
    })
}

/// Runs `work` with an endpoint that holds the operator's certificate
/// (`DIR/tls`), on a runtime of its own, and closes the endpoint after it.
fn as_operator<T, F>(root: &Path, work: impl FnOnce(Arc<Endpoint>) -> F) -> Result<T>
where
    F: std::future::Future<Output = Result<T>>,
{
    let identity = operator_identity(root)?;
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async {
        let endpoint =
            Endpoint::member_client(&identity).context("making the operator's endpoint")?;
        let outcome = work(endpoint.clone()).await;
        endpoint.close().await;
        outcome
    })
}

/// Node `id` at `addr`, as a member asks for it.
fn peer(id: u64, addr: SocketAddr) -> Peer {
    Peer {
        addr,
        name: member_dns_name(&node_name(id)),
    }
}

fn operator_identity(root: &Path) -> Result<Identity> {
    let tls = crate::up::operator_tls_dir(root);
    Identity::load(&tls).with_context(|| {
        format!(
            "no operator certificate in {}: is {} a cluster made by `cairn up --nodes N`? \
             (one made before operators had a certificate gets it at its next start)",
            tls.display(),
            root.display()
        )
    })
}

/// Every node's answer, and what the answers agree on.
#[derive(Debug, Serialize)]
struct ClusterStatus {
    summary: Summary,
    nodes: Vec<NodeReport>,
}

/// One node of the ring: its status, or why there is none.
#[derive(Debug, Serialize)]
struct NodeReport {
    node_id: u64,
    internode_addr: SocketAddr,
    up: bool,
    /// Taken out by `remove-node`: its partitions are moving away.
    removed: bool,
    /// Why the node did not answer.
    error: Option<String>,
    status: Option<NodeStatus>,
}

/// The cluster at a glance.
#[derive(Debug, PartialEq, Eq, Serialize)]
struct Summary {
    /// The ring's nodes (removed ones not counted).
    nodes_total: usize,
    nodes_up: usize,
    /// Removed nodes that still hold partitions, or did not answer.
    draining: usize,
    /// Devices on the nodes that answered.
    devices: usize,
    /// The metadata leader, when every node that answered names the same
    /// one in the same term.
    leader: Option<u64>,
    term: Option<u64>,
    leader_agreed: bool,
    /// Partitions held by a device the ring does not make a primary of,
    /// summed over the devices that could list theirs.
    out_of_place: u64,
}

fn status(args: &StatusArgs) -> Result<()> {
    let root = args.data.as_path();
    let nodes = ring_nodes(root)?;
    let mut removed = removed_nodes(root)?;
    removed.retain(|id, _| !nodes.contains_key(id));
    let status = as_operator(root, |endpoint| async move {
        ask_all(&endpoint, &nodes, &removed).await
    })?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&status)?);
    } else {
        print!("{}", render::render(root, &status));
    }
    if status.summary.nodes_up == 0 {
        bail!("no node of {} answered", root.display());
    }
    Ok(())
}

/// Every node the ring names, with its internode address.
fn ring_nodes(root: &Path) -> Result<BTreeMap<u64, SocketAddr>> {
    let path = crate::up::ring_path(root);
    let ring = Ring::load(&path).with_context(|| format!("loading the ring {}", path.display()))?;
    let mut nodes = BTreeMap::new();
    for d in ring.devices() {
        let addr = d
            .addr
            .parse()
            .with_context(|| format!("device {} of node {}: addr {:?}", d.name, d.node, d.addr))?;
        nodes.insert(u64::from(d.node), addr);
    }
    Ok(nodes)
}

/// Where `remove-node` lists the nodes it took out, with their addresses.
fn removed_path(root: &Path) -> PathBuf {
    root.join("ring/removed-nodes.json")
}

/// The nodes taken out of the cluster, which may still hold partitions.
fn removed_nodes(root: &Path) -> Result<BTreeMap<u64, SocketAddr>> {
    let path = removed_path(root);
    match std::fs::read(&path) {
        Ok(bytes) => {
            serde_json::from_slice(&bytes).with_context(|| format!("reading {}", path.display()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(BTreeMap::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Adds node `id` at `addr` to the removed nodes.
fn remember_removed(root: &Path, id: u64, addr: SocketAddr) -> Result<()> {
    let mut removed = removed_nodes(root)?;
    removed.insert(id, addr);
    let path = removed_path(root);
    std::fs::write(&path, serde_json::to_vec_pretty(&removed)?)
        .with_context(|| format!("writing {}", path.display()))
}

/// Asks every node at once, the ring's and the removed ones; a node's
/// failure is its report's, not ours.
async fn ask_all(
    endpoint: &Arc<Endpoint>,
    nodes: &BTreeMap<u64, SocketAddr>,
    removed: &BTreeMap<u64, SocketAddr>,
) -> Result<ClusterStatus> {
    let mut asks = tokio::task::JoinSet::new();
    for (&node_id, &addr) in nodes.iter().chain(removed) {
        let endpoint = endpoint.clone();
        let peer = peer(node_id, addr);
        asks.spawn(async move {
            let answer = node_status::ask(&endpoint, &peer).await;
            (node_id, addr, answer)
        });
    }
    let mut reports = Vec::new();
    while let Some(joined) = asks.join_next().await {
        let (node_id, internode_addr, answer) = joined.context("asking a node")?;
        let (status, error) = match answer {
            Ok(s) => (Some(s), None),
            Err(e) => (None, Some(e.to_string())),
        };
        reports.push(NodeReport {
            node_id,
            internode_addr,
            up: status.is_some(),
            removed: removed.contains_key(&node_id),
            error,
            status,
        });
    }
    reports.sort_by_key(|r| r.node_id);
    Ok(ClusterStatus {
        summary: summarize(&reports),
        nodes: reports,
    })
}

fn summarize(reports: &[NodeReport]) -> Summary {
    let draining = reports.iter().filter(|r| r.removed && !r.drained()).count();
    let (removed, reports): (Vec<&NodeReport>, Vec<&NodeReport>) =
        reports.iter().partition(|r| r.removed);
    let up: Vec<&NodeStatus> = reports.iter().filter_map(|r| r.status.as_ref()).collect();
    let views: Vec<(Option<u64>, u64)> = up
        .iter()
        .map(|s| (s.metadata.leader, s.metadata.term))
        .collect();
    let agreed = match views.first() {
        Some(&(Some(leader), term)) => views.iter().all(|v| *v == (Some(leader), term)),
        _ => false,
    };
    let first = views.first().filter(|_| agreed);
    // Every partition a removed node holds is out of place.
    let held_by_removed: u64 = removed
        .iter()
        .filter_map(|r| r.status.as_ref())
        .flat_map(|s| &s.devices)
        .filter_map(|d| d.placement)
        .map(|p| u64::from(p.partitions_held))
        .sum();
    Summary {
        nodes_total: reports.len(),
        nodes_up: up.len(),
        draining,
        devices: up.iter().map(|s| s.devices.len()).sum(),
        leader: first.and_then(|v| v.0),
        term: first.map(|v| v.1),
        leader_agreed: agreed,
        out_of_place: up
            .iter()
            .flat_map(|s| &s.devices)
            .filter_map(|d| d.placement)
            .map(|p| u64::from(p.out_of_place))
            .sum::<u64>()
            + held_by_removed,
    }
}

impl NodeReport {
    /// A removed node that answered and holds no partition on any device:
    /// safe to stop.
    fn drained(&self) -> bool {
        self.status.as_ref().is_some_and(|s| {
            s.devices
                .iter()
                .all(|d| d.placement.is_some_and(|p| p.partitions_held == 0))
        })
    }

    /// The STATE column: up, down, draining, drained or stopped.
    fn state(&self) -> &'static str {
        match (self.removed, self.up) {
            (false, true) => "up",
            (false, false) => "down",
            (true, false) => "stopped",
            (true, true) if self.drained() => "drained",
            (true, true) => "draining",
        }
    }
}

#[cfg(test)]
mod tests;
