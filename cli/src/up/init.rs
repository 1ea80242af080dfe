//! First start of `cairn up`: create the data directory's config, ring,
//! keys and users; on later starts, load them unchanged.
//!
//! Layout of DIR:
//! ```text
//! cairn.toml          config (listen address, tempauth users with their keys)
//! keys/token.key      secret that signs auth tokens (hex, 0600)
//! ring/object.builder the editable ring (cairn ring … works on it)
//! ring/object.ring    the built ring the servers load
//! devices/d1..d3      one directory per storage device
//! meta/               the metadata Raft group (log + state machine)
//! openrc              exports for the usual clients
//! ```

use crate::config::{
    BlockSection, FileConfig, ProxySection, ReplicationSection, S3CredentialEntry, S3Section,
    StorageSection, TempAuthSection, TempAuthUserEntry,
};
use anyhow::{Context, Result};
use cairn_ring::{DeviceSpec, Ring, RingBuilder};
use rand::Rng;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// Partition power of the default ring: 1024 partitions, as Swift's SAIO.
pub(super) const DEFAULT_PART_POWER: u8 = 10;
/// Replicas per object.
pub(super) const DEFAULT_REPLICA_COUNT: usize = 3;
/// Devices of the all-in-one store, each in its own zone.
const DEFAULT_DEVICE_COUNT: u32 = 3;
/// The all-in-one process is node 1.
const LOCAL_NODE: u32 = 1;

/// Everything `cairn up` needs, loaded or freshly created.
pub struct DataDir {
    pub root: PathBuf,
    pub config: FileConfig,
    pub token_secret: Vec<u8>,
    pub ring: Ring,
    /// Whether this start created the directory.
    pub created: bool,
}

impl DataDir {
    pub fn config_path(root: &Path) -> PathBuf {
        root.join("cairn.toml")
    }

    pub fn meta_dir(&self) -> PathBuf {
        self.root.join("meta")
    }

    pub fn devices_dir(&self) -> PathBuf {
        let d = &self.config.storage.devices_dir;
        if d.is_absolute() {
            d.clone()
        } else {
            self.root.join(d)
        }
    }
}

/// Loads DIR, creating what is missing. `listen` and `s3_listen` override
/// the configured addresses (and are written into a new config).
/// Listen addresses given on the command line; they override the file.
#[derive(Debug, Clone, Copy, Default, clap::Args)]
pub struct Listeners {
    /// Address of the Swift API (overrides the config file).
    #[arg(long = "listen")]
    pub swift: Option<SocketAddr>,
    /// Address of the S3 API (overrides the config file).
    #[arg(long = "s3-listen")]
    pub s3: Option<SocketAddr>,
    /// Address of the NBD server (overrides the config file).
    #[arg(long = "nbd-listen")]
    pub nbd: Option<SocketAddr>,
    /// Address of the iSCSI portal (overrides the config file).
    #[arg(long = "iscsi-listen")]
    pub iscsi: Option<SocketAddr>,
}

impl Listeners {
    pub fn apply(&self, cfg: &mut FileConfig) {
        if let Some(l) = self.swift {
            cfg.proxy.listen = l;
        }
        if let Some(l) = self.s3 {
            cfg.s3.listen = l;
        }
        if let Some(l) = self.nbd {
            cfg.block.nbd_listen = l;
        }
        if let Some(l) = self.iscsi {
            cfg.block.iscsi_listen = l;
        }
    }
}

pub fn open_or_create(root: &Path, listen: Listeners) -> Result<DataDir> {
    std::fs::create_dir_all(root).with_context(|| format!("creating {root:?}"))?;
    let root = root
        .canonicalize()
        .with_context(|| format!("resolving {root:?}"))?;
    let config_path = DataDir::config_path(&root);
    let created = !config_path.exists();
    let mut config = if created {
        let mut cfg = default_config(DEFAULT_LISTEN.parse()?);
        listen.apply(&mut cfg);
        cfg.save(&config_path)?;
        cfg
    } else {
        let mut cfg = FileConfig::load(&config_path)?;
        // A directory made before the S3 API existed gets the demo user's key now.
        if cfg.s3.credentials.is_empty() {
            if let Some(c) = demo_credential(&cfg.tempauth.users) {
                cfg.s3.credentials.push(c);
                cfg.save(&config_path)?;
            }
        }
        cfg
    };
    listen.apply(&mut config);
    let ring = load_or_create_ring(&root.join("ring"))?;
    finish_open(root, config, ring, created)
}

/// Loads the directory of one node of a cluster (made by `cairn up
/// --nodes`, or by hand): `config_path` names its `cairn.toml`, which must
/// have a `[cluster]` section; its ring is `ring/object.ring` beside it.
pub fn open_node(config_path: &Path) -> Result<DataDir> {
    let config_path = config_path
        .canonicalize()
        .with_context(|| format!("resolving {config_path:?}"))?;
    let root = config_path
        .parent()
        .context("the config file has a directory")?
        .to_path_buf();
    let config = FileConfig::load(&config_path)?;
    anyhow::ensure!(
        config.cluster.is_some(),
        "{config_path:?} has no [cluster] section: run `cairn up` for the all-in-one process"
    );
    let ring_path = root.join(RING_FILE);
    let ring = Ring::load(&ring_path).with_context(|| format!("loading {ring_path:?}"))?;
    finish_open(root, config, ring, false)
}

/// The token key, and a directory for each local device.
fn finish_open(root: PathBuf, config: FileConfig, ring: Ring, created: bool) -> Result<DataDir> {
    let token_secret = load_or_create_key(&root.join("keys/token.key"))?;
    for dev in ring
        .devices()
        .iter()
        .filter(|d| d.node == config.storage.node)
    {
        let dir = root.join(&config.storage.devices_dir).join(&dev.name);
        std::fs::create_dir_all(&dir).with_context(|| format!("creating {dir:?}"))?;
    }
    Ok(DataDir {
        root,
        config,
        token_secret,
        ring,
        created,
    })
}

/// Default proxy address: clear of the Swift reference's 8080.
pub(super) const DEFAULT_LISTEN: &str = "127.0.0.1:8090";

pub(super) fn default_config(listen: SocketAddr) -> FileConfig {
    let users = vec![
        TempAuthUserEntry {
            account: "admin".into(),
            user: "admin".into(),
            key: random_password(),
            groups: vec!["admin".into(), "reseller_admin".into()],
        },
        TempAuthUserEntry {
            account: "demo".into(),
            user: "demo".into(),
            key: random_password(),
            groups: vec!["admin".into()],
        },
    ];
    FileConfig {
        proxy: ProxySection {
            listen,
            token_ttl_secs: 86_400,
        },
        storage: StorageSection {
            node: LOCAL_NODE,
            devices_dir: PathBuf::from("devices"),
            fallocate_reserve_bytes: 256 << 20,
            disable_io_uring: false,
        },
        s3: S3Section {
            credentials: demo_credential(&users).into_iter().collect(),
            // `*.localhost` is loopback (RFC 6761): `bucket.localhost:port`
            // reaches a bucket virtual-host style with no DNS set-up.
            domain: Some("localhost".into()),
            ..S3Section::default()
        },
        tempauth: TempAuthSection { users },
        block: BlockSection::default(),
        cluster: None,
        replication: ReplicationSection::default(),
    }
}

/// A fresh S3 access key for the demo user, if there is one.
fn demo_credential(users: &[TempAuthUserEntry]) -> Option<S3CredentialEntry> {
    let demo = users.iter().find(|u| u.account == "demo")?;
    Some(S3CredentialEntry {
        access_key: format!("CAIRN{}", random_chars(15).to_ascii_uppercase()),
        secret: random_chars(40),
        account: demo.account.clone(),
        user: demo.user.clone(),
    })
}

/// 20 random alphanumeric characters (~119 bits).
fn random_password() -> String {
    random_chars(20)
}

/// `n` random alphanumeric characters.
fn random_chars(n: usize) -> String {
    rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(n)
        .map(char::from)
        .collect()
}

pub(super) fn load_or_create_key(path: &Path) -> Result<Vec<u8>> {
    if path.exists() {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
        return hex::decode(text.trim()).with_context(|| format!("{path:?} is not hex"));
    }
    std::fs::create_dir_all(path.parent().context("key path has a parent")?)?;
    let key: [u8; 32] = rand::thread_rng().gen();
    crate::files::write_private(path, hex::encode(key).as_bytes())?;
    Ok(key.to_vec())
}

/// Where a data directory keeps the ring it serves by.
pub const RING_FILE: &str = "ring/object.ring";

/// The default ring: part power 10, 3 replicas, 3 devices on this node, each
/// device its own zone, so the 3 replicas of every partition land on 3
/// different devices.
fn load_or_create_ring(dir: &Path) -> Result<Ring> {
    let ring_path = dir.join("object.ring");
    if ring_path.exists() {
        return Ring::load(&ring_path).with_context(|| format!("loading {ring_path:?}"));
    }
    std::fs::create_dir_all(dir)?;
    let mut builder = RingBuilder::new(DEFAULT_PART_POWER, DEFAULT_REPLICA_COUNT, 1)?;
    for i in 1..=DEFAULT_DEVICE_COUNT {
        builder.add_device(DeviceSpec {
            region: 1,
            zone: i,
            node: LOCAL_NODE,
            addr: "local".into(),
            name: format!("d{i}"),
            weight: 100.0,
        })?;
    }
    builder.rebalance(now_secs())?;
    builder.save(&dir.join("object.builder"))?;
    let ring = builder.ring()?;
    ring.save(&ring_path)?;
    Ok(ring)
}

pub(super) fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Writes `DIR/openrc` for the first admin-group user that is not the
/// reseller admin (the demo user on a fresh directory).
pub fn write_openrc(dir: &DataDir) -> Result<PathBuf> {
    let listen = dir.config.proxy.listen;
    let user = dir
        .config
        .tempauth
        .users
        .iter()
        .find(|u| u.account == "demo")
        .or_else(|| dir.config.tempauth.users.first())
        .context("no tempauth user configured")?;
    let mut text = format!(
        "# Written by `cairn up`: source it, then `swift stat` and `aws s3 ls` work.\n\
         export ST_AUTH=http://{listen}/auth/v1.0\n\
         export ST_USER={}:{}\n\
         export ST_KEY={}\n",
        user.account, user.user, user.key
    );
    let s3 = &dir.config.s3;
    if let Some(c) = s3
        .credentials
        .iter()
        .find(|c| c.account == user.account && c.user == user.user)
    {
        text.push_str(&format!(
            "export AWS_ACCESS_KEY_ID={}\n\
             export AWS_SECRET_ACCESS_KEY={}\n\
             export AWS_ENDPOINT_URL=http://{}\n\
             export AWS_DEFAULT_REGION={}\n\
             export AWS_REGION={}\n",
            c.access_key, c.secret, s3.listen, s3.region, s3.region
        ));
    }
    let block = &dir.config.block;
    // With TLS, libnbd's scheme (nbds://) and the client certificates.
    if let Some(tls_dir) = block.nbd_client_tls_dir(&dir.root) {
        text.push_str(&format!("export CAIRN_NBD_TLS_DIR={}\n", tls_dir.display()));
    }
    text.push_str(&format!(
        "export CAIRN_NBD_URL={}://{}\n\
         export CAIRN_ISCSI_PORTAL={}\n",
        block.nbd_scheme(),
        block.nbd_listen,
        block.iscsi_listen
    ));
    // Keystone v3 for `openstack`, as the same demo user in project demo.
    // (No OS_IDENTITY_API_VERSION: `swift` would take it as a request for
    // Keystone auth instead of ST_AUTH.)
    let clouds = write_clouds_yaml(dir)?;
    text.push_str(&format!(
        "export OS_AUTH_URL=http://{listen}/identity\n\
         export OS_USERNAME={}\n\
         export OS_PASSWORD={}\n\
         export OS_PROJECT_NAME=demo\n\
         export OS_USER_DOMAIN_NAME=Default\n\
         export OS_PROJECT_DOMAIN_NAME=Default\n\
         export OS_REGION_NAME=RegionOne\n\
         export OS_INTERFACE=public\n\
         export OS_CLIENT_CONFIG_FILE={}\n",
        user.user,
        user.key,
        clouds.display()
    ));
    let path = dir.root.join("openrc");
    crate::files::write_private(&path, text.as_bytes())?;
    Ok(path)
}

/// `DIR/clouds.yaml`: clouds `cairn` (the demo user in project demo) and
/// `cairn-admin` (the admin user in project admin), for `openstack
/// --os-cloud …` (with `OS_CLIENT_CONFIG_FILE` from `openrc`, or copied to
/// `~/.config/openstack/`).
fn write_clouds_yaml(dir: &DataDir) -> Result<PathBuf> {
    let listen = dir.config.proxy.listen;
    let mut text = String::from("# Written by `cairn up`.\nclouds:\n");
    for (cloud, account) in [("cairn", "demo"), ("cairn-admin", "admin")] {
        let Some(u) = dir
            .config
            .tempauth
            .users
            .iter()
            .find(|u| u.account == account)
        else {
            continue;
        };
        text.push_str(&format!(
            "  {cloud}:\n    auth:\n      auth_url: http://{listen}/identity\n      \
             username: {}\n      password: \"{}\"\n      project_name: {account}\n      \
             user_domain_name: Default\n      project_domain_name: Default\n    \
             region_name: RegionOne\n    interface: public\n    identity_api_version: 3\n",
            u.user, u.key
        ));
    }
    let path = dir.root.join("clouds.yaml");
    crate::files::write_private(&path, text.as_bytes())?;
    Ok(path)
}
