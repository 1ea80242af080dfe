//! The proxy's runtime configuration: tempauth users, token signing, Swift's
//! constraints and the timeouts towards storage nodes.

use std::time::Duration;

/// One tempauth user (`user_<account>_<user> = <key> [.admin] [.reseller_admin]`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TempAuthUser {
    /// The tempauth account (`test`); its Swift account is `AUTH_test`.
    pub account: String,
    pub user: String,
    pub key: String,
    /// `.admin`: owns its account.
    pub admin: bool,
    /// `.reseller_admin`: owns every account.
    pub reseller_admin: bool,
    /// In the `service` group: its token, sent as `X-Service-Token`, opens
    /// a project's `SERVICE_` account to that project's owner.
    pub service: bool,
}

impl TempAuthUser {
    /// The identity this user's credentials stand for, valid until `expires_secs`.
    pub fn identity(&self, expires_secs: u64) -> crate::auth::Identity {
        crate::auth::Identity {
            account: self.account.clone(),
            user: self.user.clone(),
            admin: self.admin,
            reseller_admin: self.reseller_admin,
            service: self.service,
            with_service_token: false,
            reader: false,
            expires_secs,
        }
    }
}

/// An S3 access key bound to a tempauth account and user (what the identity
/// service later manages as EC2 credentials).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct S3Credential {
    pub access_key: String,
    pub secret: String,
    /// The tempauth account (`demo`): its Swift account is `AUTH_demo`.
    pub account: String,
    pub user: String,
    /// Owns the account (as tempauth's `.admin`).
    pub admin: bool,
}

/// Swift's constraints (swift/common/constraints.py), advertised in `/info`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Constraints {
    pub max_file_size: u64,
    pub max_meta_name_length: usize,
    pub max_meta_value_length: usize,
    pub max_meta_count: usize,
    pub max_meta_overall_size: usize,
    pub max_header_size: usize,
    pub max_object_name_length: usize,
    pub container_listing_limit: usize,
    pub account_listing_limit: usize,
    pub max_account_name_length: usize,
    pub max_container_name_length: usize,
}

impl Default for Constraints {
    fn default() -> Self {
        Constraints {
            max_file_size: 5_368_709_122,
            max_meta_name_length: 128,
            max_meta_value_length: 256,
            max_meta_count: 90,
            max_meta_overall_size: 4096,
            max_header_size: 8192,
            max_object_name_length: 1024,
            container_listing_limit: 10_000,
            account_listing_limit: 10_000,
            max_account_name_length: 256,
            max_container_name_length: 256,
        }
    }
}

/// Everything the proxy needs besides the ring, the nodes and the metadata service.
#[derive(Debug, Clone)]
pub struct ProxyConfig {
    pub tempauth_users: Vec<TempAuthUser>,
    /// HMAC key of the stateless tokens; every proxy of a cluster shares it.
    pub token_secret: Vec<u8>,
    pub token_ttl_secs: u64,
    /// `http://host:port` in front of `/v1/AUTH_x`; derived from `Host` when `None`.
    pub storage_url_base: Option<String>,
    pub constraints: Constraints,
    /// How long one storage-node call (connect, head, delete, post, one frame) may take.
    pub node_timeout: Duration,
    /// How long a client may take to send the next piece of a PUT body.
    pub client_timeout: Duration,
    /// How long a container's existence and ACLs are cached.
    pub container_cache_ttl: Duration,
    /// S3 access keys besides the tempauth users (whose `account:user` and
    /// key also work as an access key and secret, as with Swift's s3api).
    pub s3_credentials: Vec<S3Credential>,
    /// The region S3 reports (`GetBucketLocation`) and accepts in
    /// `CreateBucketConfiguration`.
    pub s3_region: String,
    /// With a domain, `Host: <bucket>.<domain>` addresses a bucket
    /// (virtual-host style); path style always works.
    pub s3_domain: Option<String>,
    /// How long an unfinished multipart upload is kept.
    pub s3_upload_ttl: Duration,
    /// Reads try this node's replicas first (Swift's `read_affinity`): on
    /// a cluster node, the local copy costs no network hop. The others are
    /// still read when it fails, and the auditor verifies every replica.
    pub read_affinity: Option<cairn_nodeapi::NodeId>,
    /// Keystone tokens and EC2 keys, when an identity service is wired in.
    pub keystone: Option<crate::auth::Keystone>,
}

impl Default for ProxyConfig {
    fn default() -> Self {
        ProxyConfig {
            tempauth_users: Vec::new(),
            token_secret: Vec::new(),
            token_ttl_secs: 86_400,
            storage_url_base: None,
            constraints: Constraints::default(),
            node_timeout: Duration::from_secs(10),
            client_timeout: Duration::from_secs(60),
            container_cache_ttl: Duration::from_secs(1),
            s3_credentials: Vec::new(),
            s3_region: "us-east-1".into(),
            s3_domain: None,
            s3_upload_ttl: Duration::from_secs(7 * 86_400),
            read_affinity: None,
            keystone: None,
        }
    }
}
