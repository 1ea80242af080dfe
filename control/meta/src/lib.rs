//! The metadata service: one openraft group whose log and state machine
//! live in rocksdb, holding accounts, containers and object listings, and
//! block volumes' records, implementing `cairn_meta_api::Metadata` and
//! `cairn_meta_api::VolumeMetadata`.
//!
//! It is not a client: the data plane talks to it through the `Metadata`
//! trait (in process today, over QUIC later), and peers through openraft's
//! `RaftNetworkFactory` (see `network`).
//!
//! Invariants:
//! - Nothing is acknowledged before it is committed: a write returns after
//!   its entry is durable (WAL fsync, group commit) on a quorum and applied.
//! - One log batch applies as one rocksdb `WriteBatch`, together with the
//!   last applied log id: the state machine is never half-applied.
//! - Container and account totals change in the same batch as the listing
//!   entries, so they are exact.
//! - An object name's newest timestamp wins, whether PUT or DELETE
//!   (tombstones remember deletions).
//! - Bytes from disk are decoded, never trusted: bad bytes are an error, not a
//!   panic.
//!
//! Write path: `Metadata` call -> `batcher` (concurrent requests become one
//! `Request::Batch` entry, because openraft 0.9's core waits for each append
//! to be flushed before taking the next write) -> `client_write` ->
//! `LogStore::append` (unsynced write, callback to the `flusher` thread,
//! which fsyncs the WAL once for everything queued) -> commit ->
//! `StateMachine::apply` (one `WriteBatch`). Read path: `ensure_linearizable`,
//! then `reads` straight from rocksdb.
//!
//! Known limits: snapshots are a full in-memory dump; tombstones stay until
//! `MetaNode::reclaim_tombstones` (the caller runs it with Swift's reclaim
//! age) or until their container is deleted; account and
//! container metadata updates apply in commit order (their timestamps only
//! advance `put_ts`).

mod apply;
mod batcher;
mod db;
mod error;
mod flusher;
mod keys;
mod listing;
mod log_store;
mod membership;
mod metadata;
pub mod network;
mod node;
mod overlay;
mod reads;
mod records;
mod snapshot;
mod state_machine;
mod types;
mod volume_api;
mod volumes;

pub use error::{MetaOpenError, MetaShutdownError, StoreError};
pub use log_store::{LogReader, LogStore};
pub use membership::{MemberChange, Members};
pub use node::{MetaNode, MetaOptions, RECLAIM_BATCH_MAX, SHUTDOWN_WAIT_MS};
pub use state_machine::{SnapshotBuilder, StateMachine};
pub use types::{LogEntry, MetaRaft, Node, NodeId, Rejection, Reply, Request, TypeConfig};

/// Opens a log store and state machine over a fresh or existing directory,
/// without starting Raft: for openraft's storage test suite and tools.
pub fn open_store(dir: &std::path::Path) -> Result<(LogStore, StateMachine), StoreError> {
    let db = db::open(&dir.join("db"))?;
    Ok((
        LogStore::new(db.clone())?,
        StateMachine::new(db, &dir.join("snapshots")),
    ))
}

#[cfg(test)]
mod tests;
