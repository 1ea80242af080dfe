//! The Raft type configuration and the commands the log carries.

use std::io::Cursor;

use cairn_base::Timestamp;
use cairn_base::VolumeId;
use cairn_meta_api::{
    AccountInfo, ContainerInfo, ContainerPut, MetaError, MetaMap, NewVolume, ObjectEntry,
    VolumeRecord,
};
use serde::{Deserialize, Serialize};

/// Identifies a voter of the metadata group.
pub type NodeId = u64;

/// Where a voter can be reached; the transport interprets the address.
pub type Node = openraft::BasicNode;

openraft::declare_raft_types!(
    /// Types of Cairn's metadata Raft group.
    pub TypeConfig:
        D = Request,
        R = Reply,
        NodeId = NodeId,
        Node = Node,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

/// The metadata group's Raft handle.
pub type MetaRaft = openraft::Raft<TypeConfig>;
/// A log entry of the metadata group.
pub type LogEntry = openraft::Entry<TypeConfig>;
/// A log id of the metadata group.
pub type LogId = openraft::LogId<NodeId>;
/// Openraft's storage error for our type config.
pub type StorageError = openraft::StorageError<NodeId>;

/// A state-machine command: one mutation of the `Metadata` trait.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Request {
    EnsureAccount {
        account: String,
        ts: Timestamp,
    },
    UpdateAccountMeta {
        account: String,
        meta: MetaMap,
        ts: Timestamp,
    },
    PutContainer {
        account: String,
        container: String,
        meta: MetaMap,
        ts: Timestamp,
        /// Refuse to create a container beyond this many in the account
        /// (`None`: no limit). In the command so all replicas agree.
        containers_max: Option<u64>,
    },
    UpdateContainerMeta {
        account: String,
        container: String,
        meta: MetaMap,
        ts: Timestamp,
    },
    DeleteContainer {
        account: String,
        container: String,
        ts: Timestamp,
    },
    PutObject {
        account: String,
        container: String,
        entry: ObjectEntry,
    },
    DeleteObject {
        account: String,
        container: String,
        name: String,
        ts: Timestamp,
    },
    /// Forgets the deletion timestamps under `keys` (tombstone keys) that
    /// are older than `older_than`, Swift's reclaim age. The leader picks
    /// the keys; applying re-checks each, so the result is the same on every
    /// replica.
    ReclaimTombstones {
        older_than: Timestamp,
        keys: Vec<Vec<u8>>,
    },
    CreateVolume(NewVolume),
    ResizeVolume {
        id: VolumeId,
        size: u64,
    },
    DeleteVolume {
        id: VolumeId,
    },
    CreateSnapshot {
        id: VolumeId,
        name: String,
        internal: bool,
        created: Timestamp,
    },
    DeleteSnapshot {
        id: VolumeId,
        name: String,
    },
    AcquireLease {
        id: VolumeId,
        holder: String,
    },
    ReleaseLease {
        id: VolumeId,
        holder: String,
        epoch: u64,
    },
    /// A transaction on the control plane's record tables.
    Records(cairn_meta_api::records::Txn),
    /// Several commands in one entry, applied in order, each with its own
    /// reply: how concurrent writers share one log append and one fsync.
    Batch(Vec<Request>),
}

/// The outcome of applying one log entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum Reply {
    /// Applied (or a no-op: a blank or membership entry, an older write).
    Done,
    Account(AccountInfo),
    Container(ContainerInfo),
    ContainerPut(ContainerPut),
    Volume(Box<VolumeRecord>),
    /// The command was valid Raft input but refused by the semantics.
    Rejected(Rejection),
    /// How many tombstones a `ReclaimTombstones` removed.
    Reclaimed(u64),
    /// The replies of a `Request::Batch`, in order.
    Batch(Vec<Reply>),
    /// What a `Request::Records` transaction did.
    Txn(cairn_meta_api::records::TxnOutcome),
}

/// Why the state machine refused a command (the same on every replica).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Rejection {
    AccountNotFound,
    ContainerNotFound,
    ContainerNotEmpty,
    TooManyContainers,
    VolumeNotFound,
    VolumeExists,
    SnapshotNotFound,
    SnapshotExists,
    VolumeAttached,
    VolumeHasSnapshots,
    SnapshotHasClones,
    VolumeWouldShrink,
}

impl From<Rejection> for MetaError {
    fn from(r: Rejection) -> Self {
        match r {
            Rejection::AccountNotFound => MetaError::AccountNotFound,
            Rejection::ContainerNotFound => MetaError::ContainerNotFound,
            Rejection::ContainerNotEmpty => MetaError::ContainerNotEmpty,
            Rejection::TooManyContainers => MetaError::TooManyContainers,
            Rejection::VolumeNotFound => MetaError::VolumeNotFound,
            Rejection::VolumeExists => MetaError::VolumeExists,
            Rejection::SnapshotNotFound => MetaError::SnapshotNotFound,
            Rejection::SnapshotExists => MetaError::SnapshotExists,
            Rejection::VolumeAttached => {
                MetaError::VolumeBusy("the volume is attached (in use)".into())
            }
            Rejection::VolumeHasSnapshots => {
                MetaError::VolumeBusy("the volume has snapshots; delete them first".into())
            }
            Rejection::SnapshotHasClones => MetaError::VolumeBusy(
                "volumes were cloned from this snapshot; delete them first".into(),
            ),
            Rejection::VolumeWouldShrink => MetaError::VolumeBusy("a volume can only grow".into()),
        }
    }
}

/// An object entry as stored under its key (the key holds the name).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredObject {
    pub ts: Timestamp,
    pub size: u64,
    pub etag: String,
    pub content_type: String,
}

impl StoredObject {
    /// The stored form of an entry.
    pub fn from_entry(e: &ObjectEntry) -> Self {
        StoredObject {
            ts: e.ts,
            size: e.size,
            etag: e.etag.clone(),
            content_type: e.content_type.clone(),
        }
    }

    /// The listing entry for `name`.
    pub fn into_entry(self, name: String) -> ObjectEntry {
        ObjectEntry {
            name,
            ts: self.ts,
            size: self.size,
            etag: self.etag,
            content_type: self.content_type,
        }
    }
}
