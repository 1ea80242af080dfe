//! Authentication and authorization: tempauth v1.0 users, stateless signed
//! tokens, Keystone tokens and EC2 keys (through the identity service), and
//! Swift's container ACLs.

mod acl;
mod keystone;
mod tempauth;
mod token;

pub use acl::{authorize, AccessRequest, Acl, Decision};
pub use keystone::{ExternalAuth, Keystone, ProjectCaller};
pub use tempauth::{TempAuth, TempAuthGrant};
pub use token::{Identity, TokenError, TokenSigner, TOKEN_PREFIX};
