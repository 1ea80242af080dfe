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
use serde::{Deserialize, Serialize};
use std::fmt;

/// A volume's identity (a UUID), stable for the volume's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VolumeId(pub [u8; 16]);

impl VolumeId {
    /// The 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 32 hex digits (dashes allowed, as in a UUID).
    pub fn parse(s: &str) -> Option<VolumeId> {
        let digits: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
        if digits.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in digits.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(hex, 16).ok()?;
        }
        Some(VolumeId(out))
    }
}

impl fmt::Display for VolumeId {
    /// The UUID form, `8-4-4-4-12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hex();
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

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

    /// The byte runs of the extent that hold data, as `(start, end)`;
    /// `None` when the device holds no such extent.
    async fn allocation(
        &self,
        device: DeviceId,
        key: ExtentKey,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError>;

    /// Every extent of the volume the device holds, as `(index, generation)`.
    async fn list(&self, device: DeviceId, volume: VolumeId) -> Result<Vec<(u64, u32)>, NodeError>;

    /// Removes extents of the volume: all of them (`None`), or those of the
    /// given generations.
    async fn remove(
        &self,
        device: DeviceId,
        volume: VolumeId,
        generations: Option<&[u32]>,
    ) -> Result<(), NodeError>;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids_print_as_uuids_and_parse_back() {
        let id = VolumeId([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8,
        ]);
        let s = id.to_string();
        assert_eq!(s, "12345678-9abc-def0-0102-030405060708");
        assert_eq!(VolumeId::parse(&s), Some(id));
        assert_eq!(VolumeId::parse(&id.hex()), Some(id));
        assert_eq!(VolumeId::parse("nope"), None);
        assert_eq!(VolumeId::parse(&"g".repeat(32)), None);
    }
}
