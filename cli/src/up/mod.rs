//! `cairn up`: the all-in-one cloud in one process — a 3-replica object
//! store over 3 local devices (with its auditor and replicator), the
//! single-voter metadata Raft group, the Swift and S3 API proxy, the
//! block gateway with its control socket, and on the Swift listener
//! Keystone (`/identity`) and Cinder (`/volume`).
//!
//! Start order: data directory (created on first start) → storage node →
//! metadata Raft → proxy → replicator (→ on a cluster node, the admin
//! service that answers `cairn cluster status`). Shutdown (Ctrl-C or SIGTERM) runs the
//! other way: stop accepting requests and drain them, stop the replicator,
//! then close the metadata group and the storage devices (which stops the
//! auditor), so a restart finds every acknowledged object.

mod admin;
mod cluster;
mod control;
mod identity;
mod init;
mod join;
mod nodes;
mod placements;
mod ring_sync;
mod seed;

pub use init::{Listeners, RING_FILE};
pub use nodes::{
    add_node, at_address, device_names, operator_tls_dir, remove_node_devices, ring_path,
};
pub use seed::{init as init_cluster, new_node_dir, new_token};

use crate::config::FileConfig;
use anyhow::{Context, Result};
use cairn_block::volume::{Fixed, Placements};
use cairn_nodeapi::{DeviceId, ExtentNode, NodeId, NodeMap};
use cairn_storage_node::replicator::{Replicator, ReplicatorConfig, RingSource};
use init::DataDir;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

/// Options of `cairn up`.
#[derive(Debug, clap::Args)]
pub struct UpArgs {
    /// Data directory (created on first start, reused afterwards).
    #[arg(long, default_value = ".cairn", env = "CAIRN_DATA")]
    pub data: PathBuf,
    #[command(flatten)]
    pub listen: Listeners,
    /// Create the data directory and its config, then exit without serving.
    #[arg(long)]
    pub init_only: bool,
    /// Run a cluster of this many node processes on this machine instead
    /// of the all-in-one process (node i on 127.0.0.(i+1)).
    #[arg(long)]
    pub nodes: Option<u32>,
    /// The nodes' internode (QUIC, UDP) port, with `--nodes`.
    #[arg(long, default_value_t = 6200)]
    pub internode_port: u16,
    /// With `--nodes` on first start: the address of each node instead of
    /// 127.0.0.(i+1), comma-separated (for nodes in network namespaces).
    #[arg(long, value_delimiter = ',')]
    pub node_ips: Vec<std::net::IpAddr>,
}

/// `cairn node --config FILE`: one node of a cluster.
pub fn run_node(config: &Path) -> Result<()> {
    let dir = init::open_node(config)?;
    crate::files::write_private(
        &dir.root.join("node.pid"),
        std::process::id().to_string().as_bytes(),
    )?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(dir))
}

pub fn run(args: UpArgs) -> Result<()> {
    let listeners = args.listen;
    if let Some(count) = args.nodes {
        return nodes::run(
            &args.data,
            nodes::Layout {
                count,
                internode_port: args.internode_port,
                ips: args.node_ips,
            },
            listeners,
            args.init_only,
        );
    }
    let dir = init::open_or_create(&args.data, listeners)?;
    if args.init_only {
        println!("cairn: initialised {}", dir.root.display());
        return Ok(());
    }
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(serve(dir))
}

async fn serve(dir: DataDir) -> Result<()> {
    let started = std::time::Instant::now();
    let cfg = &dir.config;
    tracing::info!(config = ?redacted(cfg), "effective configuration");

    let storage = open_storage(&dir).await?;
    let cluster = match &cfg.cluster {
        Some(section) => Some(Arc::new(
            cluster::Cluster::join(&dir, section, storage.clone()).await?,
        )),
        None => None,
    };
    let ring = Arc::new(cairn_ring::LiveRing::new(dir.ring.clone()));
    let (meta, nodes, extents, placements): (_, _, Arc<dyn ExtentNode>, Arc<dyn Placements>) =
        match &cluster {
            Some(c) => {
                if cfg
                    .cluster
                    .as_ref()
                    .is_some_and(|s| !s.bootstrap.is_empty())
                {
                    ring_sync::publish_initial(&c.meta, &dir.ring).await?;
                }
                let ring_file = dir.root.join(init::RING_FILE);
                let local = local_devices(&dir, &storage);
                ring_sync::follow_once(&c.meta, &ring, &ring_file, &local, c.learner().as_ref(), 0)
                    .await?;
                // Each volume's extents stay where the ring it was made
                // under put them; the oldest volumes', where the first did.
                let first = ring_sync::extent_ring(&c.meta)
                    .await?
                    .unwrap_or_else(|| dir.ring.clone());
                let placements =
                    placements::RingPlacements::new(c.meta.clone(), first, c.learner());
                (
                    c.meta.clone(),
                    c.nodes.clone(),
                    c.extents.clone(),
                    Arc::new(placements),
                )
            }
            None => {
                let meta = cairn_meta::MetaNode::open_single(&dir.meta_dir(), 1)
                    .await
                    .context("opening the metadata Raft group")?;
                let nodes = NodeMap::new();
                nodes.insert(NodeId(cfg.storage.node), storage.clone());
                let placements = Fixed(Arc::new(dir.ring.clone()));
                (meta, Arc::new(nodes), storage.clone(), Arc::new(placements))
            }
        };
    let bootstraps = cfg.cluster.as_ref().is_none_or(|s| !s.bootstrap.is_empty());
    tracing::info!("starting identity");
    let identity = identity::start(&dir, meta.clone(), bootstraps).await?;
    let mut proxy_cfg = proxy_config(&dir);
    proxy_cfg.keystone = Some(cairn_proxy::Keystone::new(Arc::new(identity::ProxyAuth(
        identity.clone(),
    ))));
    let proxy = cairn_proxy::Proxy::new(proxy_cfg, ring.clone(), nodes.clone(), meta.clone());
    let ring_source: RingSource = {
        let ring = ring.clone();
        Arc::new(move || ring.current())
    };
    let replicator = Replicator::new(ReplicatorConfig {
        ring: ring_source.clone(),
        local: storage.clone(),
        nodes,
        clock: Arc::new(cairn_base::SystemClock),
        reclaim_age_secs: cfg.replication.reclaim_age_secs,
    });
    if let (Some(c), Some(section)) = (&cluster, &cfg.cluster) {
        c.serve_admin(admin::Sources {
            node_id: section.node_id,
            internode_addr: section.listen,
            started,
            storage: storage.clone(),
            ring: ring_source,
            replicator: replicator.clone(),
        });
    }
    tracing::info!("starting the block gateway");
    let gateway = cairn_block::gateway::Gateway::start(
        meta.clone(),
        cairn_block::volume::Backend {
            nodes: extents,
            placements,
            records: meta.clone(),
        },
        &format!("gateway@node{}", cfg.storage.node),
    )
    .await
    .context("starting the block gateway")?;
    tracing::info!("binding the listeners");
    let nbd_listener = bind(cfg.block.nbd_listen).await?;
    let iscsi_listener = bind(cfg.block.iscsi_listen).await?;
    let listener = bind(cfg.proxy.listen).await?;
    let s3_listener = bind(cfg.s3.listen).await?;
    let openrc = init::write_openrc(&dir)?;
    print_banner(&dir, &openrc);

    // One expirer per cluster: the all-in-one process, or the node named for it.
    let expirer = cfg
        .cluster
        .as_ref()
        .is_none_or(|c| c.expirer)
        .then(|| proxy.spawn_expirer(EXPIRER_INTERVAL));
    let app = proxy
        .clone()
        .router()
        .merge(crate::metrics::router(
            storage.clone(),
            proxy.clone(),
            replicator.clone(),
            meta.clone(),
        ))
        .nest_service(identity::PATH, cairn_identity::router(identity.clone()))
        .nest_service(
            "/volume",
            cairn_cinder::router(Arc::new(cairn_cinder::Cinder::new(
                identity,
                gateway.clone(),
                meta.clone(),
                format!("http://{}/volume", cfg.proxy.listen),
                cairn_cinder::Exports {
                    nbd: cfg.block.nbd_listen.to_string(),
                    nbd_tls: cfg.block.nbd_tls == crate::config::NbdTls::Require,
                    iscsi: iscsi_config(&dir),
                },
            ))),
        );
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stop_tx.send(true);
    });
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let ring_watch = cluster.as_ref().map(|c| {
        ring_sync::spawn_watch(
            c.meta.clone(),
            ring.clone(),
            dir.root.join(init::RING_FILE),
            local_devices(&dir, &storage),
            c.learner(),
            stopped(stop_rx.clone()),
        )
    });
    let replication = replicator.spawn(
        std::time::Duration::from_secs(cfg.replication.interval_secs),
        stopped(stop_rx.clone()),
    );
    // Swift's clients expect Title-Case header names; S3's do not (user
    // metadata names come back as sent, lowercase).
    let nbd =
        cairn_block::NbdServer::new(gateway.clone()).with_tls(cfg.block.nbd_server_tls(&dir.root)?);
    let iscsi = cairn_block::iscsi::serve(
        iscsi_listener,
        gateway.clone(),
        iscsi_config(&dir),
        stopped(stop_rx.clone()),
    );
    let (served, iscsi_served, ..) = tokio::join!(
        control::serve(&dir.root, gateway.clone(), stopped(stop_rx.clone())),
        iscsi,
        nbd.serve(nbd_listener, stopped(stop_rx.clone())),
        cairn_http1::serve(
            listener,
            app,
            cairn_http1::Config::new(cairn_http1::HeaderCase::Title),
            stopped(stop_rx.clone())
        ),
        cairn_http1::serve(
            s3_listener,
            proxy.s3_router(),
            cairn_http1::Config::new(cairn_http1::HeaderCase::Lower),
            stopped(stop_rx)
        ),
    );
    served?;
    iscsi_served.context("serving iSCSI")?;
    if let Some(expirer) = expirer {
        expirer.abort();
    }
    // It watches the same stop signal; a pass in progress is abandoned.
    replication.await.context("stopping the replicator")?;
    if let Some(watch) = ring_watch {
        watch.await.context("stopping the ring watch")?;
    }

    tracing::info!("shutting down: detaching volumes, closing metadata and devices");
    gateway.detach_all().await;
    meta.shutdown()
        .await
        .context("closing the metadata group")?;
    if let Some(c) = &cluster {
        c.endpoint.close().await;
    }
    storage.shutdown().await;
    println!("cairn: stopped cleanly");
    Ok(())
}

/// How often expired objects are swept.
const EXPIRER_INTERVAL: std::time::Duration = std::time::Duration::from_secs(30);

async fn bind(addr: SocketAddr) -> Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))
}

type Storage = cairn_storage_node::AnyStorageNode;

/// This node's storage, for the ring watch to give new devices to.
fn local_devices(dir: &DataDir, storage: &Arc<Storage>) -> ring_sync::LocalDevices {
    ring_sync::LocalDevices {
        storage: storage.clone(),
        node: dir.config.storage.node,
        dir: dir.devices_dir(),
    }
}

async fn open_storage(dir: &DataDir) -> Result<Arc<Storage>> {
    let cfg = &dir.config.storage;
    let devices = dir
        .ring
        .devices()
        .iter()
        .filter(|d| d.node == cfg.node)
        .map(|d| cairn_storage_node::DeviceConfig {
            id: DeviceId(d.id),
            path: dir.devices_dir().join(&d.name),
        })
        .collect();
    let mut node_cfg = cairn_storage_node::NodeConfig::new(devices);
    node_cfg.fallocate_reserve_bytes = cfg.fallocate_reserve_bytes;
    let repl = &dir.config.replication;
    node_cfg.audit_bytes_per_sec = repl.auditor_bytes_per_sec;
    node_cfg.audit_files_per_sec = repl.auditor_files_per_sec;
    let node = if cfg.disable_io_uring {
        let io = Arc::new(cairn_diskio::StdDiskIo::new());
        cairn_storage_node::StorageNode::open(node_cfg, io)
            .await
            .map(Storage::Std)
    } else {
        Storage::open(node_cfg).await
    }
    .context("opening the storage devices")?;
    tracing::info!(io_uring = node.is_uring(), "storage devices open");
    Ok(Arc::new(node))
}

fn proxy_config(dir: &DataDir) -> cairn_proxy::ProxyConfig {
    let users = dir
        .config
        .tempauth
        .users
        .iter()
        .map(|u| cairn_proxy::TempAuthUser {
            account: u.account.clone(),
            user: u.user.clone(),
            key: u.key.clone(),
            admin: u.groups.iter().any(|g| g == "admin"),
            reseller_admin: u.groups.iter().any(|g| g == "reseller_admin"),
            service: u.groups.iter().any(|g| g == "service"),
        })
        .collect();
    let s3 = &dir.config.s3;
    let s3_credentials = s3
        .credentials
        .iter()
        .map(|c| cairn_proxy::S3Credential {
            access_key: c.access_key.clone(),
            secret: c.secret.clone(),
            account: c.account.clone(),
            user: c.user.clone(),
            admin: dir.config.tempauth.users.iter().any(|u| {
                u.account == c.account && u.user == c.user && u.groups.iter().any(|g| g == "admin")
            }),
        })
        .collect();
    cairn_proxy::ProxyConfig {
        tempauth_users: users,
        s3_credentials,
        s3_region: s3.region.clone(),
        s3_domain: s3.domain.clone(),
        token_secret: dir.token_secret.clone(),
        token_ttl_secs: dir.config.proxy.token_ttl_secs,
        read_affinity: dir
            .config
            .cluster
            .as_ref()
            .map(|_| NodeId(dir.config.storage.node)),
        ..cairn_proxy::ProxyConfig::default()
    }
}

fn iscsi_config(dir: &DataDir) -> cairn_block::iscsi::TargetConfig {
    let block = &dir.config.block;
    let mut c = cairn_block::iscsi::TargetConfig::new(block.iscsi_listen.to_string());
    c.chap = block
        .iscsi_chap
        .as_ref()
        .map(|ch| cairn_block::iscsi::Credentials {
            user: ch.user.clone(),
            secret: ch.secret.clone(),
        });
    c
}

/// The config as logged: keys replaced by their length.
fn redacted(cfg: &FileConfig) -> FileConfig {
    let mut c = cfg.clone();
    for u in &mut c.tempauth.users {
        u.key = format!("<{} chars>", u.key.len());
    }
    for k in &mut c.s3.credentials {
        k.secret = format!("<{} chars>", k.secret.len());
    }
    if let Some(ch) = &mut c.block.iscsi_chap {
        ch.secret = format!("<{} chars>", ch.secret.len());
    }
    c
}

fn print_banner(dir: &DataDir, openrc: &std::path::Path) {
    let listen = dir.config.proxy.listen;
    let how = if dir.created { "created" } else { "reused" };
    println!("cairn is up (data in {}, {how})", dir.root.display());
    println!("  Swift API   http://{listen}/v1/AUTH_<account>");
    println!("  auth v1.0   http://{listen}/auth/v1.0");
    println!(
        "  S3 API      http://{}  (region {}; also on the Swift address)",
        dir.config.s3.listen, dir.config.s3.region
    );
    println!(
        "  NBD         {}://{}/<volume>  (cairn volume create NAME --size 10G)",
        dir.config.block.nbd_scheme(),
        dir.config.block.nbd_listen
    );
    println!(
        "  iSCSI       {}  target {}:<volume>, LUN 0",
        dir.config.block.iscsi_listen,
        cairn_block::iscsi::DEFAULT_IQN_PREFIX
    );
    println!("  devices     {}", dir.ring.devices().len());
    for u in &dir.config.tempauth.users {
        println!("  user        {}:{}  key {}", u.account, u.user, u.key);
    }
    for c in &dir.config.s3.credentials {
        println!(
            "  S3 key      {}  secret {}  ({}:{})",
            c.access_key, c.secret, c.account, c.user
        );
    }
    println!("  openrc      source {}", openrc.display());
    println!("Ctrl-C stops it; a restart keeps every object.");
}

/// Resolves on Ctrl-C or SIGTERM.
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {},
        () = term => {},
    }
    tracing::info!("shutdown requested");
}
