//! Cairn's internode protocol: every byte between nodes (object and extent
//! I/O, replication, Raft, joining, the operator's status questions)
//! travels over QUIC (quinn) with mutual TLS from the cluster's own CA.
//!
//! - `pki`: the cluster CA and the member certificates it issues.
//! - `tls`: rustls configurations for members and for joining nodes.
//! - `udp`: the socket under an endpoint, and its datagram sizes (whole
//!   64 KiB datagrams on loopback, GSO batches of 6,500 bytes elsewhere).
//! - `endpoint`: one QUIC endpoint per process, serving and connecting;
//!   a connection is cached per peer; each request is one bidirectional
//!   stream that begins with a [`ServiceId`].
//! - `wire`: length-prefixed postcard messages, and raw bytes after them.
//! - `object`, `extent`: the storage node's [`ObjectNode`] and
//!   [`ExtentNode`] over that: a server that hands each stream to a local
//!   node, and a client that implements the same trait, so the proxy and
//!   the block gateway cannot tell a remote node from a local one.
//!
//! Invariants:
//! - a caller without a certificate from the cluster CA reaches only the
//!   services open to anonymous callers (joining); everything else is
//!   refused before a byte of its request is read;
//! - body bytes keep their crc32c across the wire ([`Frame`]s are sent
//!   with the checksum the sender computed and checked where they are
//!   used), so a flipped bit in transit is caught, not stored;
//! - a PUT whose stream breaks before its end marker stores nothing (the
//!   server drops the body channel without `End`).
//!
//! [`ObjectNode`]: cairn_nodeapi::ObjectNode
//! [`ExtentNode`]: cairn_nodeapi::ExtentNode
//! [`Frame`]: cairn_nodeapi::Frame

mod client;
mod endpoint;
mod error;
pub mod extent;
pub mod object;
pub mod pki;
mod tls;
mod udp;
pub mod wire;

pub use client::RemoteNode;
pub use endpoint::{Caller, Endpoint, Peer, Service, ServiceId, Stream};
pub use error::TransportError;
pub use pki::{ClusterCa, Identity};
pub use tls::IDLE_TIMEOUT;
