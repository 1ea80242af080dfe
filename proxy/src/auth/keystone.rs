//! Keystone for the object APIs, the way Swift's `keystoneauth` middleware
//! does it: a token that is not one of tempauth's is validated by the
//! identity service, and its project's account is `AUTH_<project_id>`; an
//! S3 access key the configuration does not know may be an EC2 credential.
//!
//! The proxy asks through [`ExternalAuth`] (implemented over the identity
//! service by the binary) and keeps each answer for [`CACHE_SECS`], so a
//! burst of requests costs one validation; a revoked token or a disabled
//! user is refused once its cached answer expires.
//!
//! Roles: `admin` and `member` own the project's account (Swift's
//! `operator_roles`); `ResellerAdmin` owns every account; `service` marks a
//! service user (for `X-Service-Token`); `reader` reads the project's
//! account (its listing, containers and objects) and writes nothing, as
//! keystoneauth's `project_reader_roles`. Beyond that, a caller gets what
//! the container ACLs grant `<project_id>:<user_id>`.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use async_trait::async_trait;

use super::Identity;

/// How long a validation's answer is reused.
pub const CACHE_SECS: u64 = 5;
/// Answers kept at most; the cache is emptied when it fills.
const CACHE_ENTRIES_MAX: usize = 10_000;
/// Roles that own their project's account.
const OPERATOR_ROLES: [&str; 2] = ["admin", "member"];
const RESELLER_ROLE: &str = "ResellerAdmin";
const SERVICE_ROLE: &str = "service";
/// The role that reads its project's account without owning it.
const READER_ROLE: &str = "reader";

/// Who a valid token or credential speaks for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProjectCaller {
    pub project_id: String,
    pub user_id: String,
    /// Role names, implied roles included.
    pub roles: Vec<String>,
    /// Unix seconds.
    pub expires_secs: u64,
}

impl ProjectCaller {
    /// The proxy's identity for this caller.
    fn identity(&self) -> Identity {
        let has = |r: &str| self.roles.iter().any(|x| x.eq_ignore_ascii_case(r));
        Identity {
            account: self.project_id.clone(),
            user: self.user_id.clone(),
            admin: OPERATOR_ROLES.iter().any(|r| has(r)),
            reseller_admin: has(RESELLER_ROLE),
            service: has(SERVICE_ROLE),
            expires_secs: self.expires_secs,
            with_service_token: false,
            reader: has(READER_ROLE),
        }
    }
}

/// The identity service, as the proxy needs it.
#[async_trait]
pub trait ExternalAuth: Send + Sync + 'static {
    /// The caller behind a token, `None` if it does not validate (or the
    /// service could not tell: the request is then unauthenticated).
    async fn token(&self, token: &str) -> Option<ProjectCaller>;

    /// The secret of EC2 access key `access` and its caller, if it exists.
    async fn ec2_credential(&self, access: &str) -> Option<(String, ProjectCaller)>;
}

/// A cached answer: the identity (or `None`: refused) and when it was asked.
type Cached<T> = HashMap<String, (Instant, Option<T>)>;

/// Keystone in front of the proxy: [`ExternalAuth`] with a short cache.
#[derive(Clone)]
pub struct Keystone {
    auth: Arc<dyn ExternalAuth>,
    tokens: Arc<Mutex<Cached<Identity>>>,
    keys: Arc<Mutex<Cached<(String, Identity)>>>,
}

impl std::fmt::Debug for Keystone {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keystone(..)")
    }
}

fn cached<T: Clone>(cache: &Mutex<Cached<T>>, key: &str) -> Option<Option<T>> {
    let cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    let (at, answer) = cache.get(key)?;
    (at.elapsed() < Duration::from_secs(CACHE_SECS)).then(|| answer.clone())
}

fn remember<T>(cache: &Mutex<Cached<T>>, key: &str, answer: Option<T>) {
    let mut cache = cache.lock().unwrap_or_else(|p| p.into_inner());
    if cache.len() >= CACHE_ENTRIES_MAX {
        cache.clear();
    }
    cache.insert(key.to_owned(), (Instant::now(), answer));
}

impl Keystone {
    pub fn new(auth: Arc<dyn ExternalAuth>) -> Self {
        Keystone {
            auth,
            tokens: Arc::default(),
            keys: Arc::default(),
        }
    }

    /// The identity behind a Keystone token, if it validates and has not
    /// expired at `now_secs`.
    pub async fn identity(&self, token: &str, now_secs: u64) -> Option<Identity> {
        let answer = match cached(&self.tokens, token) {
            Some(answer) => answer,
            None => {
                let answer = self.auth.token(token).await.map(|c| c.identity());
                remember(&self.tokens, token, answer.clone());
                answer
            }
        };
        answer.filter(|id| id.expires_secs > now_secs)
    }

    /// The secret and identity of an EC2 access key, if it exists.
    pub async fn ec2_key(&self, access: &str) -> Option<(String, Identity)> {
        if let Some(answer) = cached(&self.keys, access) {
            return answer;
        }
        let answer = self
            .auth
            .ec2_credential(access)
            .await
            .map(|(secret, c)| (secret, c.identity()));
        remember(&self.keys, access, answer.clone());
        answer
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    struct Counting {
        asked: AtomicUsize,
        roles: Vec<String>,
    }

    #[async_trait]
    impl ExternalAuth for Counting {
        async fn token(&self, token: &str) -> Option<ProjectCaller> {
            self.asked.fetch_add(1, Ordering::SeqCst);
            (token == "good").then(|| ProjectCaller {
                project_id: "p1".into(),
                user_id: "u1".into(),
                roles: self.roles.clone(),
                expires_secs: 100,
            })
        }

        async fn ec2_credential(&self, access: &str) -> Option<(String, ProjectCaller)> {
            let caller = self.token("good").await?;
            (access == "AK").then(|| ("secret".into(), caller))
        }
    }

    fn keystone(roles: &[&str]) -> (Keystone, Arc<Counting>) {
        let auth = Arc::new(Counting {
            asked: AtomicUsize::new(0),
            roles: roles.iter().map(|r| (*r).to_owned()).collect(),
        });
        (Keystone::new(auth.clone()), auth)
    }

    #[tokio::test]
    async fn operators_own_their_project_and_answers_are_cached() {
        let (k, auth) = keystone(&["member", "reader"]);
        let id = k.identity("good", 10).await.unwrap();
        assert_eq!((id.account.as_str(), id.user.as_str()), ("p1", "u1"));
        assert!(id.admin && !id.reseller_admin && !id.service);
        // Cached: asked once for both calls; a refusal is cached too.
        k.identity("good", 10).await.unwrap();
        assert!(k.identity("bad", 10).await.is_none());
        assert!(k.identity("bad", 10).await.is_none());
        assert_eq!(auth.asked.load(Ordering::SeqCst), 2);
        // Past its expiry the token is refused even from the cache.
        assert!(k.identity("good", 100).await.is_none());
        let (secret, id) = k.ec2_key("AK").await.unwrap();
        assert_eq!((secret.as_str(), id.account.as_str()), ("secret", "p1"));
        assert!(k.ec2_key("other").await.is_none());
    }

    #[tokio::test]
    async fn readers_own_nothing_and_reseller_admins_everything() {
        let (k, _) = keystone(&["reader"]);
        let id = k.identity("good", 10).await.unwrap();
        assert!(!id.admin && !id.reseller_admin);
        let (k, _) = keystone(&["ResellerAdmin", "service"]);
        let id = k.identity("good", 10).await.unwrap();
        assert!(id.reseller_admin && id.service);
    }
}
