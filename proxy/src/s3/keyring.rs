//! S3 access keys and the identities they act as: the configured S3
//! credentials plus every tempauth user (access key `account:user`, secret
//! its key, as with Swift's s3api in front of tempauth), and the identity
//! service's EC2 credentials. Authenticating a request checks its signature
//! (SigV4 or SigV2) with the key's secret.

use super::auth::{self, Verified};
use super::error::{S3Error, S3ErrorCode};
use crate::auth::{Identity, Keystone};
use crate::config::{S3Credential, TempAuthUser};
use http::{HeaderMap, Method, Uri};
use std::collections::HashMap;

/// A secret and the identity (minus expiry) it authenticates.
struct Key {
    secret: String,
    identity: Identity,
}

/// Every access key the proxy accepts.
pub(crate) struct Keyring {
    keys: HashMap<String, Key>,
}

impl Keyring {
    pub fn new(credentials: &[S3Credential], tempauth: &[TempAuthUser]) -> Self {
        let mut keys = HashMap::new();
        for u in tempauth {
            let identity = u.identity(u64::MAX);
            let secret = u.key.clone();
            keys.insert(
                format!("{}:{}", u.account, u.user),
                Key { secret, identity },
            );
        }
        for c in credentials {
            let identity = Identity {
                account: c.account.clone(),
                user: c.user.clone(),
                admin: c.admin,
                reseller_admin: false,
                service: false,
                with_service_token: false,
                reader: false,
                expires_secs: u64::MAX,
            };
            let secret = c.secret.clone();
            keys.insert(c.access_key.clone(), Key { secret, identity });
        }
        Keyring { keys }
    }

    /// The requester: `None` for an anonymous request, else the identity
    /// whose signature verified, with what its streaming body needs.
    /// A key the configuration does not name may be an EC2 credential of
    /// the identity service (`keystone`).
    pub async fn authenticate(
        &self,
        keystone: Option<&Keystone>,
        method: &Method,
        uri: &Uri,
        headers: &HeaderMap,
        virtual_bucket: Option<&str>,
        now_secs: u64,
    ) -> Result<(Option<Identity>, Option<Verified>), S3Error> {
        let Some(req) = auth::parse(uri, headers, virtual_bucket)? else {
            return Ok((None, None));
        };
        let access = req.access_key();
        let (verified, mut identity) = match self.keys.get(access) {
            Some(key) => (
                req.verify(&key.secret, method, uri, headers, now_secs)?,
                key.identity.clone(),
            ),
            None => {
                let (secret, identity) = match keystone {
                    Some(k) => k.ec2_key(access).await,
                    None => None,
                }
                .ok_or_else(|| {
                    S3Error::new(S3ErrorCode::InvalidAccessKeyId).with("AWSAccessKeyId", access)
                })?;
                (
                    req.verify(&secret, method, uri, headers, now_secs)?,
                    identity,
                )
            }
        };
        identity.expires_secs = now_secs.saturating_add(1);
        Ok((Some(identity), Some(verified)))
    }
}
