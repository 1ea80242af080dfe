//! `cairn.toml`: the operator's configuration file, parsed once into a
//! validated struct.
//!
//! The file is written by `cairn up` on first start and reused afterwards;
//! operators edit it to declare tempauth users or change listen addresses.
//! Unknown keys are an error, so a typo never silently falls back to a default.

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The whole file.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FileConfig {
    pub proxy: ProxySection,
    pub storage: StorageSection,
    #[serde(default)]
    pub tempauth: TempAuthSection,
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
        Ok(())
    }
}
