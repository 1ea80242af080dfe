//! Keystone v3 identity for Cairn, served at `/identity`.
//!
//! What it is: domains, projects (with tags), users, groups, roles and
//! role assignments (on projects, domains and the system), application
//! and EC2 credentials, the catalog's regions, services and endpoints,
//! kept in the metadata group's record tables ([`store`]); password authentication (argon2id);
//! Fernet-like tokens ([`token`]: sealed, nothing stored per token, voided
//! by disabling or deleting the user, a password change, or disabling or
//! deleting the project); the HTTP API the OpenStack clients use
//! ([`router`]); and the [`Caller`]/[`Action`] policy other APIs reuse.
//!
//! What it is not: a full Keystone. No federation, trusts, OAuth1,
//! domain-specific roles, nested projects, custom implied roles, MFA,
//! domain configs, generic `/v3/credentials`. System scope is one role
//! table: a system admin is an admin, a system reader a reader.
//!
//! Invariants: names are unique within their scope (a name index written
//! in the same transaction as the record); a password, a secret or a
//! token's contents never appear in a response or a log after creation;
//! a token validates only while every record it names still allows it;
//! no request body, header or path panics the service.

pub mod catalog;
pub mod config;
mod error;
mod http;
mod ids;
pub mod password;
pub mod policy;
mod service;
pub mod store;
mod time;
pub mod token;

pub use config::{cairn_catalog, CatalogService, ConfigError, HashCost, IdentityConfig};
pub use error::IdentityError;
pub use http::router;
pub use policy::{Action, Caller};
pub use service::{
    AppCredMethod, Auth, AuthBody, AuthIdentity, BootstrapIds, BootstrapSpec, Ec2Grant, Identity,
    Issued, NameOrId, NewAppCredential, NewUser, PasswordMethod, ProjectRef, ScopeObject,
    ScopeRequest, TokenInfo, TokenMethod, UserRef,
};
pub use store::model::DEFAULT_DOMAIN_ID;
pub use time::iso8601;
