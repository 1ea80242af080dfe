//! cairn-proxy: the OpenStack Swift API v1 and the S3 API in front of
//! Cairn's storage nodes.
//!
//! It authenticates (tempauth v1.0 with stateless HMAC tokens, container
//! ACLs), checks Swift's constraints, places objects with the ring, streams
//! PUT bodies to every replica at once and acks on a quorum, reads with
//! failover between replicas, and keeps listings in the metadata service.
//!
//! It is not a storage engine, a metadata store or a ring builder: those are
//! reached through `cairn_nodeapi::ObjectNode`, `cairn_meta_api::Metadata`
//! and the [`Placement`] trait.
//!
//! Invariants:
//! - an object PUT answers 201 only after a quorum of replicas acked and the
//!   listing entry was committed;
//! - a PUT body is never buffered whole: at most the replay window
//!   ([`server::REPLAY_BYTES_MAX`]) is held;
//! - a client never receives a byte that failed a checksum: a failing replica
//!   mid-stream is replaced at the byte offset reached, or the response is cut.

pub mod auth;
pub mod cache;
pub mod conditional;
pub mod config;
pub mod constraints;
pub mod errors;
pub mod expirer;
pub mod listing;
pub mod mime;
pub mod path;
pub mod placement;
pub mod quorum;
pub mod range;
pub mod s3;
pub mod server;
pub mod stats;
pub mod transid;

pub use auth::{ExternalAuth, Keystone, ProjectCaller};
pub use config::{Constraints, ProxyConfig, S3Credential, TempAuthUser};
pub use errors::SwiftError;
pub use path::{parse_path, parse_query, Route};
pub use placement::{Locations, Placement, Target};
pub use server::Proxy;
