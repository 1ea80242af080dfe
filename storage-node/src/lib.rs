//! The storage node's object engine: `cairn_nodeapi::ObjectNode` over local
//! devices, with disk I/O through `cairn_diskio::DiskIo` (io_uring or plain).
//!
//! Per device (Haystack/Bitcask/WiscKey): append-only segment logs of
//! self-describing records for small objects, a blob file each for large
//! ones, and a rocksdb index (`DEVICE/index`) mapping each key to its
//! location, per-chunk blake3 digests, metadata, or tombstone.
//!
//! Invariants:
//! - nothing is acked before it is durable: small writes are group-committed
//!   (one fdatasync + one synced index write per batch, see `writer`);
//! - the index is the truth: bytes it does not reference were never acked and
//!   are cut off or deleted when the device opens;
//! - every byte a GET serves was verified against its blake3 digest; a replica
//!   that fails is quarantined and reads as `NotFound` afterwards;
//! - a failed fsync poisons the device (`DeviceUnavailable`); it is never retried;
//! - the newest timestamp wins; an older or equal PUT/DELETE is a `Conflict`.
//!
//! Volume extents (`extent`) live beside the objects on the same devices,
//! in files of their own that are overwritten in place: a checksum per
//! 4 KiB block, write fencing by lease epoch, flush by fdatasync.
//!
//! Background work (decision 0009): the `auditor` re-reads every object at
//! a bounded rate through the verifying GET path; the `replicator` compares
//! partition digests with the other primaries and pushes what they lack,
//! moves handoff data home and reclaims old tombstones. The replicator
//! reaches devices, local ones included, only through `ObjectNode`.
//!
//! Not here: the network.

mod auditor;
mod compact;
mod config;
mod device;
mod digest;
mod digest_cache;
mod entry;
mod error;
mod extent;
mod index;
mod inventory;
mod node;
mod put;
mod read;
mod record;
pub mod replicator;
mod writer;

pub use auditor::AuditorStats;
pub use config::{DeviceConfig, NodeConfig, CHUNK_BYTES};
pub use error::EngineError;
pub use node::{AnyStorageNode, StorageNode};

use cairn_nodeapi::DeviceId;

/// One device's space and content counters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceStats {
    pub device: DeviceId,
    /// Bytes in segment files and blob files.
    pub used_bytes: u64,
    /// Free bytes on the device's filesystem (as of the last write).
    pub free_bytes: u64,
    pub object_count: u64,
    pub quarantined_count: u64,
    pub segment_count: u64,
    /// Segment bytes no live object references (reclaimable by compaction).
    pub dead_bytes: u64,
    pub poisoned: bool,
}

/// What a compaction pass did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CompactionReport {
    pub segments_removed: u64,
    pub records_relocated: u64,
    pub bytes_relocated: u64,
}
