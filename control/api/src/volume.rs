//! Volume records: what the metadata service keeps about each block volume
//! (size, extent size, snapshots, clone parent, the attach lease), and the
//! contract for changing them.
//!
//! Generations: a volume's extents are written in its current
//! `generation`. A snapshot records that generation and moves the volume to
//! the next, so later writes copy the extent first (copy-on-write) and the
//! snapshot keeps reading the extents of generations up to its own.

use async_trait::async_trait;
use cairn_base::{Timestamp, VolumeId};
use serde::{Deserialize, Serialize};

use crate::MetaError;

/// The snapshot a clone reads through to: the parent volume and the
/// snapshot's generation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ParentRef {
    pub volume: VolumeId,
    pub generation: u32,
}

/// A snapshot of a volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SnapshotRecord {
    pub name: String,
    /// Reads see the volume's extents of this generation and older.
    pub generation: u32,
    /// The volume's size when the snapshot was taken.
    pub size: u64,
    pub created: Timestamp,
    /// Volumes cloned from this snapshot; it cannot be deleted while any remain.
    pub clones: u32,
    /// Taken by the system for a volume-to-volume clone, and deleted with
    /// that clone; hidden from listings.
    pub internal: bool,
}

/// Who may write a volume: the gateway holding the newest epoch.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Lease {
    pub holder: String,
    pub epoch: u64,
}

/// A block volume.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VolumeRecord {
    pub id: VolumeId,
    /// Unique across the cloud: the NBD export name and the iSCSI target suffix.
    pub name: String,
    /// The account (project) that owns it.
    pub account: String,
    /// Bytes, a multiple of 512.
    pub size: u64,
    /// Bytes per extent, a multiple of 4096.
    pub extent_size: u32,
    pub created: Timestamp,
    pub parent: Option<ParentRef>,
    /// The generation writes go to.
    pub generation: u32,
    pub snapshots: Vec<SnapshotRecord>,
    pub lease: Option<Lease>,
    /// The newest epoch granted (leases are numbered from 1).
    pub epoch: u64,
    /// How many copies of each extent the volume keeps: the first this
    /// many of the extent's ring primaries. `None`: every primary (also
    /// what a record written before volumes chose a count reads as).
    #[serde(default)]
    pub replica_count: Option<u8>,
    /// The version of the ring its extents are placed by: the one in force
    /// when it was made, kept for its life. `None`: the cluster's first
    /// ring (and the only one of a single process; also what a record
    /// written before volumes chose one reads as).
    #[serde(default)]
    pub placement: Option<u64>,
}

impl VolumeRecord {
    pub fn snapshot(&self, name: &str) -> Option<&SnapshotRecord> {
        self.snapshots.iter().find(|s| s.name == name)
    }
}

/// What creating a volume needs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewVolume {
    pub id: VolumeId,
    pub name: String,
    pub account: String,
    pub size: u64,
    pub extent_size: u32,
    pub created: Timestamp,
    /// Clone of this snapshot (`volume` must have a snapshot at `generation`).
    pub parent: Option<ParentRef>,
    /// As [`VolumeRecord::replica_count`]; the caller checked it against
    /// the ring.
    #[serde(default)]
    pub replica_count: Option<u8>,
    /// As [`VolumeRecord::placement`].
    #[serde(default)]
    pub placement: Option<u64>,
}

/// Volume records, kept in the metadata Raft group.
#[async_trait]
pub trait VolumeMetadata: Send + Sync + 'static {
    /// Creates a volume; `VolumeExists` if the name is taken.
    async fn create_volume(&self, new: NewVolume) -> Result<VolumeRecord, MetaError>;

    /// The volume with this name, or with this id (dashed or not).
    async fn volume(&self, name_or_id: &str) -> Result<VolumeRecord, MetaError>;

    /// Every volume, by name.
    async fn list_volumes(&self) -> Result<Vec<VolumeRecord>, MetaError>;

    /// Grows the volume; a smaller size is `VolumeBusy`.
    async fn resize_volume(&self, id: VolumeId, size: u64) -> Result<VolumeRecord, MetaError>;

    /// Forgets the volume (the caller removes its extents first). Refused
    /// with `VolumeBusy` while it has snapshots or is attached. Returns the
    /// record as it was.
    async fn delete_volume(&self, id: VolumeId) -> Result<VolumeRecord, MetaError>;

    /// Takes a snapshot of the current generation.
    async fn create_snapshot(
        &self,
        id: VolumeId,
        name: &str,
        internal: bool,
        created: Timestamp,
    ) -> Result<VolumeRecord, MetaError>;

    /// Deletes a snapshot; `VolumeBusy` while clones depend on it. Returns
    /// the volume as it is afterwards.
    async fn delete_snapshot(&self, id: VolumeId, name: &str) -> Result<VolumeRecord, MetaError>;

    /// Grants `holder` a lease with a new epoch, taking it over from any
    /// previous holder (whose writes the storage nodes then refuse).
    async fn acquire_lease(&self, id: VolumeId, holder: &str) -> Result<VolumeRecord, MetaError>;

    /// Ends the lease if `holder` still holds it at `epoch`.
    async fn release_lease(&self, id: VolumeId, holder: &str, epoch: u64) -> Result<(), MetaError>;
}
