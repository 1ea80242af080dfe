//! The metadata service as the data plane sees it: accounts, containers and
//! their object listings, held in the Raft group of `cairn-meta`.
//!
//! Also the block volumes' records ([`VolumeMetadata`]) and the control
//! plane's own tables ([`records::Records`]).
//!
//! Every mutation here is a Raft commit: when a method returns `Ok` the change
//! is durable on a quorum of voters and visible to every later read.
//! Reads are linearizable. Changes to one object name are ordered by their
//! timestamps (newest wins), so replays and late arrivals are harmless.

pub mod records;
mod types;
mod volume;

pub use types::{
    AccountInfo, ContainerInfo, ContainerListItem, ContainerPut, ListQuery, MetaMap, ObjectEntry,
    ObjectListItem,
};
pub use volume::{Lease, NewVolume, ParentRef, SnapshotRecord, VolumeMetadata, VolumeRecord};

use async_trait::async_trait;
use cairn_base::Timestamp;

/// Why a metadata request failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum MetaError {
    #[error("account not found")]
    AccountNotFound,
    #[error("container not found")]
    ContainerNotFound,
    #[error("container not empty")]
    ContainerNotEmpty,
    /// The account holds its maximum number of containers.
    #[error("too many containers in account")]
    TooManyContainers,
    #[error("volume not found")]
    VolumeNotFound,
    #[error("a volume with that name exists")]
    VolumeExists,
    #[error("snapshot not found")]
    SnapshotNotFound,
    #[error("a snapshot with that name exists")]
    SnapshotExists,
    /// The change is refused in the volume's state (attached, has
    /// snapshots or clones, would shrink), with the reason.
    #[error("{0}")]
    VolumeBusy(String),
    /// The request reached a voter that is not the leader, or none at all:
    /// nothing was committed, so it is safe to send it again.
    #[error("not the metadata leader: {0}")]
    NotLeader(String),
    /// No leader, lost quorum, or the request timed out; safe to retry.
    #[error("metadata service unavailable: {0}")]
    Unavailable(String),
    /// A record table or key the store cannot hold (empty table, NUL).
    #[error("invalid record key: {0}")]
    InvalidRecordKey(String),
    /// The store failed underneath (rocksdb, serialisation), with context.
    #[error("metadata storage error: {0}")]
    Storage(String),
}

/// Accounts, containers and object listings.
#[async_trait]
pub trait Metadata: Send + Sync + 'static {
    /// The account, or `AccountNotFound`.
    async fn account(&self, account: &str) -> Result<AccountInfo, MetaError>;

    /// Creates the account if missing (Swift's account autocreate); returns it.
    async fn ensure_account(&self, account: &str, ts: Timestamp) -> Result<AccountInfo, MetaError>;

    /// Merges metadata into the account: an empty value removes the key.
    async fn update_account_meta(
        &self,
        account: &str,
        meta: MetaMap,
        ts: Timestamp,
    ) -> Result<AccountInfo, MetaError>;

    /// The account's containers in name order, filtered by `query`.
    async fn list_containers(
        &self,
        account: &str,
        query: &ListQuery,
    ) -> Result<Vec<ContainerListItem>, MetaError>;

    /// Creates a container (creating the account if needed) or, when it
    /// exists, merges the metadata. Says which happened.
    async fn put_container(
        &self,
        account: &str,
        container: &str,
        meta: MetaMap,
        ts: Timestamp,
    ) -> Result<ContainerPut, MetaError>;

    /// The container, or `ContainerNotFound`.
    async fn container(&self, account: &str, container: &str) -> Result<ContainerInfo, MetaError>;

    /// Merges metadata into the container: an empty value removes the key.
    async fn update_container_meta(
        &self,
        account: &str,
        container: &str,
        meta: MetaMap,
        ts: Timestamp,
    ) -> Result<ContainerInfo, MetaError>;

    /// Deletes an empty container; `ContainerNotEmpty` otherwise.
    async fn delete_container(
        &self,
        account: &str,
        container: &str,
        ts: Timestamp,
    ) -> Result<(), MetaError>;

    /// The container's objects in name order, filtered by `query`.
    async fn list_objects(
        &self,
        account: &str,
        container: &str,
        query: &ListQuery,
    ) -> Result<Vec<ObjectListItem>, MetaError>;

    /// Records an object in its container's listing unless a newer entry or
    /// deletion of that name is recorded. Updates the container's and the
    /// account's object and byte counts.
    async fn put_object_entry(
        &self,
        account: &str,
        container: &str,
        entry: ObjectEntry,
    ) -> Result<(), MetaError>;

    /// Removes an object from the listing unless a newer entry is recorded;
    /// remembers the deletion's timestamp so that an older PUT cannot revive it.
    async fn delete_object_entry(
        &self,
        account: &str,
        container: &str,
        name: &str,
        ts: Timestamp,
    ) -> Result<(), MetaError>;
}
