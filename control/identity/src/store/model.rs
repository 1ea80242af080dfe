//! The identity records as stored (serde_json in the record tables):
//! domains, projects, users, groups, roles, role assignments, application
//! and EC2 credentials, token revocations.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The domain every deployment has, with this id.
pub const DEFAULT_DOMAIN_ID: &str = "default";

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Domain {
    pub id: String,
    pub name: String,
    pub description: String,
    pub enabled: bool,
}

/// A project; its parent is always its domain (no nesting).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Project {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
    pub enabled: bool,
    #[serde(default)]
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub enabled: bool,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub email: Option<String>,
    /// Argon2id PHC string; `None`: the user cannot log in with a password.
    pub password_hash: Option<String>,
    /// One more on every password change; tokens carry the one they were
    /// issued under and are void once it moves on.
    pub password_revision: u64,
    pub default_project_id: Option<String>,
    /// Attributes Keystone does not define (`project_id` from older
    /// clients, say), kept and shown as given, as Keystone keeps "extra".
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub extra: BTreeMap<String, serde_json::Value>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    pub id: String,
    pub name: String,
    pub domain_id: String,
    pub description: String,
}

/// A global role (Keystone's domain-specific roles are not supported).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Role {
    pub id: String,
    pub name: String,
    pub description: String,
}

/// Who holds a role.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Actor {
    User(String),
    Group(String),
}

/// Where a role is held.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub enum Target {
    Project(String),
    Domain(String),
    /// The whole deployment (Keystone's system scope, `{"system": {"all": true}}`).
    System,
}

/// `actor` holds role `role_id` on `target`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Assignment {
    pub actor: Actor,
    pub target: Target,
    pub role_id: String,
}

/// An application credential: a user's delegated secret, bound to one
/// project and a subset of the user's roles there.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppCredential {
    pub id: String,
    pub name: String,
    pub user_id: String,
    pub project_id: String,
    pub description: String,
    pub secret_hash: String,
    pub role_ids: Vec<String>,
    /// Microseconds since the epoch; `None`: never expires.
    pub expires_at_micros: Option<u64>,
    /// May create further application credentials.
    pub unrestricted: bool,
}

/// An EC2/S3 key pair of a user in a project. The secret is kept as is:
/// SigV4 needs it to compute the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ec2Credential {
    pub access: String,
    pub secret: String,
    pub user_id: String,
    pub project_id: String,
}

/// An operator's inference rule: holding `prior_id` also gives `implied_id`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ImpliedRole {
    pub prior_id: String,
    pub implied_id: String,
}

/// A region of the catalog (created by an operator, beside the configured one).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Region {
    pub id: String,
    pub description: String,
    pub parent_region_id: Option<String>,
}

/// A service of the catalog (created by an operator, beside the configured ones).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Service {
    pub id: String,
    pub name: String,
    pub service_type: String,
    pub description: String,
    pub enabled: bool,
}

/// An endpoint of a created service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Endpoint {
    pub id: String,
    pub service_id: String,
    pub region_id: Option<String>,
    pub interface: String,
    pub url: String,
    pub enabled: bool,
}

/// A revoked token's audit id, kept until the token would have expired.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    pub expires_at_micros: u64,
}
