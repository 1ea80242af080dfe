//! Errors of the store underneath the state machine and log, and their
//! conversions into openraft's and the `Metadata` trait's errors.

use cairn_meta_api::MetaError;
use openraft::{AnyError, StorageIOError};

use crate::types::StorageError;

/// A failure of the rocksdb store or of bytes read from it.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("rocksdb: {0}")]
    Rocks(#[from] rocksdb::Error),
    /// Persisted bytes that do not decode: never trusted, never panicked on.
    #[error("corrupt {what}: {detail}")]
    Corrupt { what: &'static str, detail: String },
    #[error("encode {what}: {detail}")]
    Encode { what: &'static str, detail: String },
    #[error("snapshot file: {0}")]
    Io(#[from] std::io::Error),
    /// A state-machine invariant does not hold (counts would underflow, …).
    #[error("invariant broken: {0}")]
    Invariant(String),
}

impl StoreError {
    /// Corrupt bytes of kind `what`.
    pub fn corrupt(what: &'static str, detail: impl ToString) -> Self {
        StoreError::Corrupt {
            what,
            detail: detail.to_string(),
        }
    }

    /// As openraft's error for a failed read.
    pub fn read(self) -> StorageError {
        StorageIOError::read(AnyError::new(&self)).into()
    }

    /// As openraft's error for a failed write.
    pub fn write(self) -> StorageError {
        StorageIOError::write(AnyError::new(&self)).into()
    }

    /// As openraft's error for a failed state-machine read.
    pub fn read_sm(self) -> StorageError {
        StorageIOError::read_state_machine(AnyError::new(&self)).into()
    }

    /// As openraft's error for a failed state-machine write.
    pub fn write_sm(self) -> StorageError {
        StorageIOError::write_state_machine(AnyError::new(&self)).into()
    }
}

impl From<StoreError> for MetaError {
    fn from(e: StoreError) -> Self {
        MetaError::Storage(e.to_string())
    }
}

/// Why `MetaNode` could not start.
#[derive(Debug, thiserror::Error)]
pub enum MetaOpenError {
    #[error("opening the metadata store: {0}")]
    Store(#[from] StoreError),
    #[error("invalid raft config: {0}")]
    Config(String),
    #[error("starting raft: {0}")]
    Raft(String),
    #[error("no leader elected within {0} ms")]
    NoLeader(u64),
}

/// Why `MetaNode::shutdown` failed.
#[derive(Debug, thiserror::Error)]
#[error("metadata raft did not stop cleanly: {0}")]
pub struct MetaShutdownError(pub String);
