//! The identity service's configuration: the public URL it is reached at,
//! token lifetime, the password hash's cost and the service catalog. Parsed
//! once (serde, unknown keys rejected) and checked into [`Settings`].

use serde::Deserialize;

/// One catalog entry: a service and its public URL. `url` may hold
/// `$(project_id)s` (Keystone's template form; `$(tenant_id)s` and
/// `%(project_id)s` work too), filled in with the token's project.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CatalogService {
    /// The catalog type clients select by: `identity`, `object-store`,
    /// `volumev3`, `block-storage`, `s3`, `ec2`.
    #[serde(rename = "type")]
    pub service_type: String,
    pub name: String,
    pub url: String,
    /// Defaults to the configuration's `region`.
    #[serde(default)]
    pub region: Option<String>,
}

/// Argon2id cost: memory in KiB, passes, lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HashCost {
    pub memory_kib: u32,
    pub iterations: u32,
    pub parallelism: u32,
}

impl Default for HashCost {
    /// OWASP's argon2id baseline: 19 MiB, 2 passes, 1 lane.
    fn default() -> Self {
        HashCost {
            memory_kib: 19 * 1024,
            iterations: 2,
            parallelism: 1,
        }
    }
}

impl HashCost {
    /// The cheapest argon2 allows: for tests only.
    pub const fn minimal() -> Self {
        HashCost {
            memory_kib: 8,
            iterations: 1,
            parallelism: 1,
        }
    }
}

/// `[identity]` as written in the config file.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdentityConfig {
    /// Where clients reach this service, e.g. `http://127.0.0.1:8080/identity`
    /// (version discovery links and `WWW-Authenticate` point here).
    pub public_url: String,
    #[serde(default = "default_token_ttl_secs")]
    pub token_ttl_secs: u64,
    #[serde(default = "default_region")]
    pub region: String,
    #[serde(default)]
    pub password_hash: HashCost,
    #[serde(default)]
    pub catalog: Vec<CatalogService>,
}

fn default_token_ttl_secs() -> u64 {
    3600
}

fn default_region() -> String {
    "RegionOne".into()
}

impl IdentityConfig {
    /// Defaults for a service at `public_url`, with an empty catalog.
    pub fn new(public_url: impl Into<String>) -> Self {
        IdentityConfig {
            public_url: public_url.into(),
            token_ttl_secs: default_token_ttl_secs(),
            region: default_region(),
            password_hash: HashCost::default(),
            catalog: Vec::new(),
        }
    }
}

/// Cairn's own catalog: identity at `<base>/identity`, Swift at
/// `<base>/v1/AUTH_<project>`, Cinder (both type names the clients use) at
/// `<base>/volume/v3/<project>`, and S3/EC2 at `s3_url`.
pub fn cairn_catalog(base_url: &str, s3_url: &str) -> Vec<CatalogService> {
    let base = base_url.trim_end_matches('/');
    let entry = |t: &str, name: &str, url: String| CatalogService {
        service_type: t.into(),
        name: name.into(),
        url,
        region: None,
    };
    vec![
        entry("identity", "keystone", format!("{base}/identity")),
        entry(
            "object-store",
            "swift",
            format!("{base}/v1/AUTH_$(project_id)s"),
        ),
        entry(
            "block-storage",
            "cinder",
            format!("{base}/volume/v3/$(project_id)s"),
        ),
        entry(
            "volumev3",
            "cinderv3",
            format!("{base}/volume/v3/$(project_id)s"),
        ),
        entry("s3", "s3", s3_url.into()),
        entry("ec2", "ec2", s3_url.into()),
    ]
}

/// A configuration that cannot run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("identity public_url must be an http(s) URL, got {0:?}")]
    PublicUrl(String),
    #[error("token_ttl_secs must be between 60 and 604800, got {0}")]
    TokenTtl(u64),
    #[error("password hash cost: {0}")]
    HashCost(String),
    #[error("catalog entry {0:?} needs a type, a name and an http(s) URL")]
    Catalog(String),
    #[error("a token key must be at least {min} bytes (one was {got})")]
    TokenKey { min: usize, got: usize },
    #[error("at least one token key is needed")]
    NoTokenKey,
}

/// The checked configuration the service runs with.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Without a trailing slash.
    pub public_url: String,
    pub token_ttl_secs: u64,
    pub region: String,
    pub password_hash: HashCost,
    pub catalog: Vec<CatalogService>,
}

const TOKEN_TTL_SECS_MIN: u64 = 60;
const TOKEN_TTL_SECS_MAX: u64 = 7 * 24 * 3600;

fn is_http_url(s: &str) -> bool {
    s.starts_with("http://") || s.starts_with("https://")
}

impl Settings {
    /// Checks `cfg`; every field is handled here (no `..`).
    pub fn from_config(cfg: IdentityConfig) -> Result<Self, ConfigError> {
        let IdentityConfig {
            public_url,
            token_ttl_secs,
            region,
            password_hash,
            catalog,
        } = cfg;
        if !is_http_url(&public_url) {
            return Err(ConfigError::PublicUrl(public_url));
        }
        if !(TOKEN_TTL_SECS_MIN..=TOKEN_TTL_SECS_MAX).contains(&token_ttl_secs) {
            return Err(ConfigError::TokenTtl(token_ttl_secs));
        }
        argon2::Params::new(
            password_hash.memory_kib,
            password_hash.iterations,
            password_hash.parallelism,
            None,
        )
        .map_err(|e| ConfigError::HashCost(e.to_string()))?;
        if let Some(bad) = catalog
            .iter()
            .find(|c| c.service_type.is_empty() || c.name.is_empty() || !is_http_url(&c.url))
        {
            return Err(ConfigError::Catalog(bad.name.clone()));
        }
        Ok(Settings {
            public_url: public_url.trim_end_matches('/').to_string(),
            token_ttl_secs,
            region,
            password_hash,
            catalog,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_what_cannot_run() {
        // Each bad field is named by its own error; the defaults pass.
        let ok = IdentityConfig::new("http://h/identity/");
        let s = Settings::from_config(ok.clone()).unwrap();
        assert_eq!(s.public_url, "http://h/identity");
        let bad_url = IdentityConfig::new("h/identity");
        assert!(matches!(
            Settings::from_config(bad_url),
            Err(ConfigError::PublicUrl(_))
        ));
        let mut ttl = ok.clone();
        ttl.token_ttl_secs = 1;
        assert_eq!(
            Settings::from_config(ttl).err(),
            Some(ConfigError::TokenTtl(1))
        );
        let mut cost = ok.clone();
        cost.password_hash.memory_kib = 1;
        assert!(matches!(
            Settings::from_config(cost),
            Err(ConfigError::HashCost(_))
        ));
        let mut cat = ok;
        cat.catalog = cairn_catalog("http://h", "ftp://s3");
        assert!(matches!(
            Settings::from_config(cat),
            Err(ConfigError::Catalog(_))
        ));
    }
}
