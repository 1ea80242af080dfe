//! `NodeError`: what a storage node answers when a request cannot be served.

use cairn_base::Timestamp;

/// Why a storage-node request failed. The proxy maps these to quorum
/// decisions and, finally, to HTTP statuses.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error, serde::Serialize, serde::Deserialize)]
pub enum NodeError {
    /// No object; `tombstone` is the delete's timestamp when one is recorded.
    #[error("object not found")]
    NotFound { tombstone: Option<Timestamp> },
    /// A newer object or tombstone is already stored; this write lost.
    #[error("a newer version ({existing}) is already stored")]
    Conflict { existing: Timestamp },
    /// The device has no room for the object.
    #[error("device full")]
    DeviceFull,
    /// The device is poisoned (an fsync failed) or not mounted.
    #[error("device unavailable: {0}")]
    DeviceUnavailable(String),
    /// The stored bytes failed their blake3 digest; the replica is quarantined.
    #[error("stored object failed its checksum; replica quarantined")]
    Corrupt,
    /// A frame failed its crc32c in transit.
    #[error("frame failed its crc32c")]
    FrameChecksum,
    /// The body ended early, or sent more bytes than announced.
    #[error("body stream ended without its end marker or with the wrong length")]
    BodyIncomplete,
    /// The requested range starts beyond the object's end.
    #[error("range not satisfiable")]
    RangeNotSatisfiable,
    /// An I/O error on the device, with context.
    #[error("i/o error: {0}")]
    Io(String),
    /// A volume write carried an older lease epoch than the device's fence.
    #[error("fenced: the volume's lease is at epoch {current}")]
    Fenced { current: u64 },
    /// The node could not be reached or did not answer in time.
    #[error("node unreachable: {0}")]
    Unreachable(String),
}
