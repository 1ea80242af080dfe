//! Authentication and authorization: tempauth v1.0 users, stateless signed
//! tokens, and Swift's container ACLs.

mod acl;
mod tempauth;
mod token;

pub use acl::{authorize, AccessRequest, Acl, Decision};
pub use tempauth::{TempAuth, TempAuthGrant};
pub use token::{Identity, TokenError, TokenSigner};
