//! The volume-extent service of a storage node: fixed-size pieces of a
//! block volume, overwritten in place, with write fencing by lease epoch.
//!
//! An extent is named by its volume, its index in the volume and the
//! generation it was written in (a snapshot freezes the generations before
//! it; a write after it goes to a new generation, copy-on-write). Every
//! write, discard and flush carries the epoch of the gateway's lease on the
//! volume; a device refuses any epoch older than the newest it has seen for
//! that volume, so a gateway that lost its lease can never write again.

use crate::{DeviceId, NodeError};
use async_trait::async_trait;
use bytes::Bytes;
use cairn_base::VolumeId;
use serde::{Deserialize, Serialize};

/// One extent of one generation of a volume.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ExtentKey {
    pub volume: VolumeId,
    pub index: u64,
    pub generation: u32,
}

/// A lease epoch: granted through Raft, one more on every attach.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Epoch(pub u64);

/// One write to an extent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExtentWrite {
    /// The volume's extent size, for creating the extent.
    pub extent_size: u32,
    pub epoch: Epoch,
    /// Byte offset inside the extent.
    pub offset: u32,
    pub data: Bytes,
    /// Durable on return.
    pub fua: bool,
}

/// Extent storage on a node's devices. Offsets are bytes inside the extent;
/// an extent is at most `extent_size` bytes, fixed per volume.
#[async_trait]
pub trait ExtentNode: Send + Sync + 'static {
    /// Raises the volume's fence to `epoch` on the device (durably): writes
    /// with an older epoch are refused from now on. `Fenced` if a newer
    /// epoch is already recorded.
    async fn fence(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError>;

    /// Writes into the extent, creating it (sparse, of `extent_size`
    /// bytes) when missing. With `fua` the write is durable when this
    /// returns; otherwise after the next [`flush`](Self::flush).
    async fn write(
        &self,
        device: DeviceId,
        key: ExtentKey,
        write: ExtentWrite,
    ) -> Result<(), NodeError>;

    /// Reads `len` bytes at `offset`, verified against their checksums.
    /// `None` when the device holds no such extent.
    async fn read(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Bytes>, NodeError>;

    /// Zeros `[offset, offset + len)` of an existing extent, releasing
    /// whole blocks. A missing extent is left missing.
    async fn discard(
        &self,
        device: DeviceId,
        key: ExtentKey,
        epoch: Epoch,
        offset: u32,
        len: u32,
        fua: bool,
    ) -> Result<(), NodeError>;

    /// Makes every write to the volume's extents on this device durable.
    async fn flush(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError>;

    /// Creates `to` as a copy of `from` on the same device (copy-on-write
    /// of an extent into a newer generation). Nothing happens if `to`
    /// already exists.
    async fn copy(
        &self,
        device: DeviceId,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        epoch: Epoch,
    ) -> Result<(), NodeError>;

    /// The byte runs of `[offset, offset + len)` of the extent that hold
    /// data, as `(start, end)`; `None` when the device holds no such extent.
    async fn allocation(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError>;

    /// Every extent of the volume the device holds, as `(index, generation)`.
    async fn list(&self, device: DeviceId, volume: VolumeId) -> Result<Vec<(u64, u32)>, NodeError>;

    /// Removes extents of the volume: all of them (`None`), or the listed
    /// `(index, generation)` ones.
    async fn remove(
        &self,
        device: DeviceId,
        volume: VolumeId,
        extents: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError>;
}
