//! `cairn.toml`: the operator's configuration file, parsed once into a
//! validated struct.
//!
//! The file is written by `cairn up` on first start and reused afterwards;
//! operators edit it to declare tempauth users or change listen addresses.
//! Unknown keys are an error, so a typo never silently falls back to a default.

use anyhow::{bail, Context, Result};
use cairn_block::nbd::pki::TlsDirs;
use serde::{Deserialize, Serialize};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub proxy: ProxySection,
    pub storage: StorageSection,
    #[serde(default)]
    pub tempauth: TempAuthSection,
    #[serde(default)]
    pub s3: S3Section,
    #[serde(default)]
    pub block: BlockSection,
    #[serde(default)]
    pub replication: ReplicationSection,
    /// Present on a node of a multi-node cluster; absent in the all-in-one
    /// process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cluster: Option<ClusterSection>,
}

/// A node's membership in a cluster.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClusterSection {
    /// This node's id: its metadata voter id, its node number in the ring
    /// (`storage.node`), and its member name `node-<id>`.
    pub node_id: u64,
    /// The internode (QUIC) address; the ring names it as the `addr` of
    /// this node's devices.
    pub listen: SocketAddr,
    /// The voters the metadata group starts with: listed only on the node
    /// that bootstraps the cluster, which initialises the group once.
    #[serde(default)]
    pub bootstrap: Vec<VoterEntry>,
    /// Whether this node runs the object expirer (one node per cluster).
    #[serde(default)]
    pub expirer: bool,
    /// Members to ask for admission on a first start, when this node
    /// joins a running cluster (it is added to the metadata group as a
    /// learner).
    #[serde(default)]
    pub join: Vec<VoterEntry>,
    /// With `join`: become a metadata voter once admitted.
    #[serde(default)]
    pub voter: bool,
}

/// A metadata member: its id and internode address.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VoterEntry {
    pub id: u64,
    pub addr: SocketAddr,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProxySection {
    /// Where the Swift API listens.
    pub listen: SocketAddr,
    /// Lifetime of a tempauth token.
    #[serde(default = "default_token_ttl_secs")]
    pub token_ttl_secs: u64,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StorageSection {
    /// This process's node id in the ring.
    pub node: u32,
    /// Directory holding one subdirectory per device, named as in the ring.
    pub devices_dir: PathBuf,
    /// Writes fail with 507 once a device's free space would drop below this.
    #[serde(default = "default_reserve_bytes")]
    pub fallocate_reserve_bytes: u64,
    /// Use the portable disk engine instead of io_uring.
    #[serde(default)]
    pub disable_io_uring: bool,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TempAuthSection {
    #[serde(default)]
    pub users: Vec<TempAuthUserEntry>,
}

/// One tempauth user: `account:user` with its key and groups
/// (`admin` owns the account, `reseller_admin` may act on every account).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TempAuthUserEntry {
    pub account: String,
    pub user: String,
    pub key: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// The S3 API: its region, optional virtual-host domain, and access keys.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3Section {
    /// Where the S3 API listens (it also answers on the Swift address).
    #[serde(default = "default_s3_listen")]
    pub listen: SocketAddr,
    #[serde(default = "default_region")]
    pub region: String,
    /// `Host: <bucket>.<domain>` addresses a bucket when set.
    #[serde(default)]
    pub domain: Option<String>,
    #[serde(default)]
    pub credentials: Vec<S3CredentialEntry>,
}

impl Default for S3Section {
    fn default() -> Self {
        S3Section {
            listen: default_s3_listen(),
            region: default_region(),
            domain: None,
            credentials: Vec::new(),
        }
    }
}

/// Block storage: where volumes are exported.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BlockSection {
    /// The NBD server (export name = volume name).
    #[serde(default = "default_nbd_listen")]
    pub nbd_listen: SocketAddr,
    /// The iSCSI target's portal.
    #[serde(default = "default_iscsi_listen")]
    pub iscsi_listen: SocketAddr,
    /// One-way CHAP that iSCSI initiators must pass, when set.
    #[serde(default)]
    pub iscsi_chap: Option<ChapEntry>,
    /// NBD over TLS with client certificates (decision 0018).
    #[serde(default)]
    pub nbd_tls: NbdTls,
}

impl Default for BlockSection {
    fn default() -> Self {
        BlockSection {
            nbd_listen: default_nbd_listen(),
            iscsi_listen: default_iscsi_listen(),
            iscsi_chap: None,
            nbd_tls: NbdTls::Off,
        }
    }
}

/// `[block] nbd_tls`: whether NBD clients must use TLS.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NbdTls {
    /// Plain NBD: whoever reaches `nbd_listen` reaches every volume.
    #[default]
    Off,
    /// TLS 1.3 and a client certificate from the data directory's NBD CA
    /// (`nbd-tls-client/`) before any export is named.
    Require,
}

impl BlockSection {
    /// The NBD server's TLS for the data directory `root`, `None` when
    /// off. With `require`, the certificate directories are completed
    /// first (the CA and client certificate made once, the server
    /// certificate re-issued for `nbd_listen` at each start).
    pub fn nbd_server_tls(&self, root: &Path) -> Result<Option<cairn_block::nbd::ServerTls>> {
        if self.nbd_tls == NbdTls::Off {
            return Ok(None);
        }
        let dirs = TlsDirs::under(root);
        for dir in [&dirs.server, &dirs.client] {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {dir:?}"))?;
        }
        for (path, pem) in dirs.files_to_write(&certificate_addrs(self.nbd_listen))? {
            crate::files::write_private(&path, pem.as_bytes())?;
        }
        Ok(Some(cairn_block::nbd::ServerTls::load(&dirs.server)?))
    }

    /// The scheme of an NBD URL for this server: `nbds` (libnbd's, with
    /// TLS) when TLS is required, else `nbd`.
    pub fn nbd_scheme(&self) -> &'static str {
        match self.nbd_tls {
            NbdTls::Require => "nbds",
            NbdTls::Off => "nbd",
        }
    }

    /// The directory of what an NBD client presents (qemu's
    /// `tls-creds-x509` client layout), when TLS is required.
    pub fn nbd_client_tls_dir(&self, root: &Path) -> Option<PathBuf> {
        (self.nbd_tls == NbdTls::Require).then(|| TlsDirs::under(root).client)
    }
}

/// The addresses the NBD server certificate names: the listen address,
/// or both loopbacks for a wildcard one (clients that reach it by another
/// address must then skip the name check).
fn certificate_addrs(listen: SocketAddr) -> Vec<IpAddr> {
    if listen.ip().is_unspecified() {
        vec![Ipv4Addr::LOCALHOST.into(), Ipv6Addr::LOCALHOST.into()]
    } else {
        vec![listen.ip()]
    }
}

/// Background repair: the replicator's pace and tombstone reclaim, and the
/// auditor's read rates.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReplicationSection {
    /// Pause between replication passes.
    #[serde(default = "default_replication_interval_secs")]
    pub interval_secs: u64,
    /// Tombstones older than this are removed (Swift's `reclaim_age`).
    #[serde(default = "default_reclaim_age_secs")]
    pub reclaim_age_secs: u64,
    /// Most bytes per second the auditor reads.
    #[serde(default = "default_auditor_bytes_per_sec")]
    pub auditor_bytes_per_sec: u64,
    /// Most objects per second the auditor reads.
    #[serde(default = "default_auditor_files_per_sec")]
    pub auditor_files_per_sec: u64,
}

impl Default for ReplicationSection {
    fn default() -> Self {
        ReplicationSection {
            interval_secs: default_replication_interval_secs(),
            reclaim_age_secs: default_reclaim_age_secs(),
            auditor_bytes_per_sec: default_auditor_bytes_per_sec(),
            auditor_files_per_sec: default_auditor_files_per_sec(),
        }
    }
}

fn default_replication_interval_secs() -> u64 {
    30
}

fn default_reclaim_age_secs() -> u64 {
    cairn_storage_node::replicator::RECLAIM_AGE_SECS_DEFAULT
}

fn default_auditor_bytes_per_sec() -> u64 {
    10 << 20
}

fn default_auditor_files_per_sec() -> u64 {
    20
}

/// A CHAP user name and secret.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ChapEntry {
    pub user: String,
    pub secret: String,
}

fn default_nbd_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 10809))
}

fn default_iscsi_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 3260))
}

/// An access key and secret acting as a tempauth user (with its rights).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct S3CredentialEntry {
    pub access_key: String,
    pub secret: String,
    pub account: String,
    pub user: String,
}

/// Clear of the Swift API (8090) and the Swift reference's ports.
fn default_s3_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8091))
}

fn default_region() -> String {
    "us-east-1".into()
}

fn default_token_ttl_secs() -> u64 {
    86_400
}

fn default_reserve_bytes() -> u64 {
    256 << 20
}

impl FileConfig {
    /// Reads and validates `path`.
    pub fn load(path: &Path) -> Result<Self> {
        let text = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
        let cfg: FileConfig = toml::from_str(&text).with_context(|| format!("parsing {path:?}"))?;
        cfg.validate()?;
        Ok(cfg)
    }

    /// Writes the file (mode 0600: it holds keys).
    pub fn save(&self, path: &Path) -> Result<()> {
        let text = toml::to_string_pretty(self).context("serialising config")?;
        crate::files::write_private(path, text.as_bytes())
    }

    fn validate(&self) -> Result<()> {
        if let Some(c) = &self.cluster {
            if c.node_id != u64::from(self.storage.node) {
                bail!(
                    "cluster.node_id {} and storage.node {} must be the same node",
                    c.node_id,
                    self.storage.node
                );
            }
        }
        let r = &self.replication;
        if r.interval_secs == 0 || r.auditor_bytes_per_sec == 0 || r.auditor_files_per_sec == 0 {
            bail!("[replication] interval_secs, auditor_bytes_per_sec and auditor_files_per_sec must be at least 1");
        }
        for u in &self.tempauth.users {
            if u.account.is_empty() || u.user.is_empty() || u.key.is_empty() {
                bail!(
                    "tempauth user {}:{} needs an account, a user and a key",
                    u.account,
                    u.user
                );
            }
            if u.account.contains(':') || u.user.contains(':') {
                bail!("tempauth account and user names may not contain ':'");
            }
        }
        let mut seen = std::collections::HashSet::new();
        for u in &self.tempauth.users {
            if !seen.insert((&u.account, &u.user)) {
                bail!("tempauth user {}:{} is declared twice", u.account, u.user);
            }
        }
        let mut keys = std::collections::HashSet::new();
        for c in &self.s3.credentials {
            if c.access_key.is_empty() || c.secret.is_empty() {
                bail!("every S3 credential needs an access_key and a secret");
            }
            if !keys.insert(&c.access_key) {
                bail!("S3 access key {} is declared twice", c.access_key);
            }
            if !seen.contains(&(&c.account, &c.user)) {
                bail!(
                    "S3 access key {} names {}:{}, which is not a tempauth user",
                    c.access_key,
                    c.account,
                    c.user
                );
            }
        }
        Ok(())
    }
}
