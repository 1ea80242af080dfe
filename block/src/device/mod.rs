//! The block device seam: what the NBD server and the iSCSI target ask of
//! an attached volume, and the errors they translate into their protocols'
//! codes.
//!
//! Offsets and lengths are in bytes and need no alignment: a protocol that
//! works in logical blocks converts, and the device does any
//! read-modify-write its own layout needs.

#[cfg(test)]
pub(crate) mod mem;

use async_trait::async_trait;
use bytes::Bytes;
use std::sync::Arc;

/// Sector size every export advertises as its logical block size.
pub const SECTOR: u32 = 512;

/// Why a block request failed. Each protocol maps these to its own codes:
/// NBD errno values, SCSI sense keys.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
pub enum BlockError {
    /// The request reaches past the end of the device.
    #[error("[{offset}, +{len}) is beyond the end of the device ({size} bytes)")]
    OutOfRange { offset: u64, len: u64, size: u64 },
    /// The export name names no volume.
    #[error("no export named {0:?}")]
    NoSuchExport(String),
    /// The device is read-only (a snapshot).
    #[error("the device is read-only")]
    ReadOnly,
    /// Another gateway attached the volume with a newer lease: this one may
    /// no longer write.
    #[error("the volume's lease was taken over (fenced at epoch {0})")]
    Fenced(u64),
    /// The storage has no room for the write.
    #[error("no space left for the write")]
    NoSpace,
    /// The data could not be read or written (replicas unavailable, every
    /// copy failing its checksum).
    #[error("I/O error: {0}")]
    Io(String),
}

/// One run of an allocation map: `len` bytes that are all allocated or all
/// unallocated (and then read as zeros).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AllocRun {
    pub len: u64,
    pub allocated: bool,
}

/// What identifies a device to an initiator: SCSI's unit serial number
/// (VPD 80h) and designators (VPD 83h) are derived from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceIdentity {
    /// The export name (the volume's name).
    pub name: String,
    /// Unique and stable for the life of the volume.
    pub uuid: [u8; 16],
}

/// An attached volume.
#[async_trait]
pub trait BlockDevice: Send + Sync + 'static {
    /// Size in bytes, a multiple of [`SECTOR`]. It can grow while attached
    /// (online resize); it never shrinks.
    fn size(&self) -> u64;

    /// Who the device is.
    fn identity(&self) -> DeviceIdentity;

    /// Whether writes are refused ([`BlockError::ReadOnly`]).
    fn read_only(&self) -> bool;

    /// Reads `len` bytes at `offset`; unwritten ranges read as zeros.
    async fn read(&self, offset: u64, len: u32) -> Result<Bytes, BlockError>;

    /// Writes `data` at `offset`. With `fua` the data is durable when this
    /// returns; without, it is durable after the next [`flush`](Self::flush).
    async fn write(&self, offset: u64, data: Bytes, fua: bool) -> Result<(), BlockError>;

    /// Makes every write acknowledged so far durable.
    async fn flush(&self) -> Result<(), BlockError>;

    /// Discards `[offset, offset + len)`: it reads as zeros afterwards and
    /// its space may be released (NBD TRIM, SCSI UNMAP).
    async fn discard(&self, offset: u64, len: u64) -> Result<(), BlockError> {
        self.write_zeroes(offset, len, true, false).await
    }

    /// Writes zeros over `[offset, offset + len)`. With `may_unmap` the
    /// range may be deallocated instead of written.
    async fn write_zeroes(
        &self,
        offset: u64,
        len: u64,
        may_unmap: bool,
        fua: bool,
    ) -> Result<(), BlockError>;

    /// The allocation map of `[offset, offset + len)`: runs in order that
    /// cover at least the first byte of the range and at most the range.
    async fn allocation(&self, offset: u64, len: u64) -> Result<Vec<AllocRun>, BlockError>;
}

/// The volumes a server exports.
#[async_trait]
pub trait Exports: Send + Sync + 'static {
    /// The export names, sorted.
    async fn list(&self) -> Result<Vec<String>, BlockError>;

    /// Attaches the named volume. Every connection to one name shares one
    /// device (multi-conn): a write acknowledged on one connection is read
    /// by the others, and a flush on any covers writes made on all.
    async fn open(&self, name: &str) -> Result<Arc<dyn BlockDevice>, BlockError>;

    /// The export's size and writability, for a client that asks before
    /// attaching (NBD_OPT_INFO). The default attaches to find out; a
    /// volume service answers from its records instead.
    async fn describe(&self, name: &str) -> Result<ExportSummary, BlockError> {
        let device = self.open(name).await?;
        Ok(ExportSummary {
            size: device.size(),
            read_only: device.read_only(),
        })
    }
}

/// What a client learns of an export before attaching it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportSummary {
    pub size: u64,
    pub read_only: bool,
}

/// Checks that `[offset, offset + len)` lies inside a device of `size` bytes.
pub fn check_range(offset: u64, len: u64, size: u64) -> Result<(), BlockError> {
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(BlockError::OutOfRange { offset, len, size }),
    }
}
