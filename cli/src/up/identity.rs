//! The Keystone v3 identity service of `cairn up` (crate `cairn-identity`):
//! its records in the metadata group, its token key derived from the data
//! directory's token key, its catalog naming this process's endpoints, and
//! the first users — `admin` (admin of project `admin`) and `demo` (member
//! of project `demo`), with the same passwords as their tempauth keys; and
//! the service as the proxy's Keystone ([`ProxyAuth`]: Swift requests with
//! Keystone tokens, S3 requests signed with EC2 credentials).

use std::sync::Arc;

use anyhow::{Context, Result};
use cairn_identity::{BootstrapSpec, Identity, IdentityConfig};
use cairn_meta::MetaNode;
use cairn_proxy::{ExternalAuth, ProjectCaller};

use super::init::DataDir;

/// The identity service's public URL path on the Swift listener.
pub const PATH: &str = "/identity";

/// Domain separation for the token key: the tempauth tokens' HMAC key is
/// not also the identity tokens' sealing key.
const TOKEN_KEY_CONTEXT: &str = "cairn 2026-11 identity token sealing key";

/// The identity service over `meta`; with `bootstrap`, also creates the
/// default domain, roles, projects and users that are missing (one node of
/// a cluster does it, so concurrent first starts do not collide) — when
/// the config has the tempauth users whose keys become their passwords.
pub async fn start(dir: &DataDir, meta: Arc<MetaNode>, bootstrap: bool) -> Result<Arc<Identity>> {
    let base = format!("http://{}", dir.config.proxy.listen);
    let mut cfg = IdentityConfig::new(format!("{base}{PATH}"));
    cfg.catalog = cairn_identity::cairn_catalog(&base, &format!("http://{}", dir.config.s3.listen));
    let key = blake3::derive_key(TOKEN_KEY_CONTEXT, &dir.token_secret);
    let identity = Identity::new(
        meta,
        cfg,
        &[key.to_vec()],
        Arc::new(cairn_base::SystemClock),
    )
    .context("configuring the identity service")?;
    let password = |account: &str| {
        dir.config
            .tempauth
            .users
            .iter()
            .find(|u| u.account == account)
            .map(|u| u.key.clone())
    };
    match (bootstrap, password("admin"), password("demo")) {
        (true, Some(admin_password), Some(demo_password)) => {
            let spec = BootstrapSpec {
                admin_password,
                demo_password,
            };
            identity
                .bootstrap(&spec)
                .await
                .context("creating the identity service's first users")?;
        }
        (true, ..) => tracing::info!(
            "no tempauth users in accounts admin and demo: the identity service starts without users"
        ),
        (false, ..) => {}
    }
    Ok(Arc::new(identity))
}

/// The identity service as the proxy's Keystone: project-scoped tokens and
/// EC2 credentials become project callers.
pub struct ProxyAuth(pub Arc<Identity>);

fn project_caller(c: cairn_identity::Caller) -> Option<ProjectCaller> {
    Some(ProjectCaller {
        project_id: c.project_id?,
        user_id: c.user_id,
        roles: c.roles,
        expires_secs: c.expires_at.map_or(u64::MAX, |t| t.secs()),
    })
}

#[async_trait::async_trait]
impl ExternalAuth for ProxyAuth {
    async fn token(&self, token: &str) -> Option<ProjectCaller> {
        match self.0.validate(token).await {
            Ok(caller) => project_caller(caller),
            Err(e) => {
                tracing::debug!(error = %e, "a Keystone token was refused");
                None
            }
        }
    }

    async fn ec2_credential(&self, access: &str) -> Option<(String, ProjectCaller)> {
        match self.0.ec2_credential(access).await {
            Ok(grant) => {
                let grant = grant?;
                Some((grant.secret, project_caller(grant.caller)?))
            }
            Err(e) => {
                tracing::warn!(error = %e, "looking up an EC2 credential");
                None
            }
        }
    }
}
