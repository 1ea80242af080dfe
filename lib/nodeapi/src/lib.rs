//! The contract between the data-plane front ends (proxy, block gateway) and
//! the storage nodes: what can be asked of a device, in which units, and
//! which errors come back.
//!
//! It is a service interface, not a transport: in `cairn up` the proxy calls
//! the local storage node through [`ObjectNode`] directly; the cluster
//! transport implements the same trait over QUIC. Either way the body moves
//! in [`Frame`]s that carry a crc32c, checked by the receiver, so a byte
//! flipped between two components is caught before it is stored or served.
//!
//! Invariants:
//! - a PUT is durable on the device (data and index on stable storage) before
//!   [`ObjectNode::put`] returns `Ok`;
//! - a PUT whose body stream ends without [`PutChunk::End`] stores nothing;
//! - a PUT stores the [`ChunkDigests`] its sender computed where the body
//!   came in, so a byte changed anywhere after that is caught on read;
//! - a GET never yields a frame whose bytes failed the stored blake3 digest;
//! - an extent write, discard or flush with an epoch older than the
//!   volume's fence is refused ([`NodeError::Fenced`]);
//! - two devices holding the same versions of a partition's objects and
//!   tombstones report the same [`PartitionDigest`] (computed with
//!   [`PartitionDigestBuilder`]), and [`ObjectNode::drop_entries`] removes
//!   only the exact versions it is given.

mod digests;
mod error;
mod extent;
mod frame;
mod replication;
mod routes;
mod types;

pub use cairn_base::VolumeId;
pub use digests::{ChunkDigests, ChunkHasher, CHUNK_BYTES};
pub use error::NodeError;
pub use extent::{Epoch, ExtentKey, ExtentNode, ExtentWrite};
pub use frame::{join, Frame};
pub use replication::{bucket_of, EntryVersion, PartitionDigest, PartitionDigestBuilder};
pub use routes::{ExtentRoutes, NodeMap};
pub use types::{
    written_with_data, ByteRange, DeleteOutcome, DeviceId, GetStream, NodeId, ObjectKey,
    ObjectMeta, PostRequest, PutAck, PutChunk,
};

use async_trait::async_trait;
use cairn_base::Timestamp;
use tokio::sync::mpsc;

/// Bound on frames in flight on one PUT or GET body channel.
pub const BODY_CHANNEL_FRAMES_MAX: usize = 8;

/// What a storage node does for the proxy: object storage on its devices.
#[async_trait]
pub trait ObjectNode: Send + Sync + 'static {
    /// Stores an object: frames of data, then `PutChunk::End` with the final
    /// metadata and the sender's chunk digests, stored as sent. Returns once data and index are durable. A newer object or
    /// tombstone already on the device wins: `NodeError::Conflict`.
    async fn put(
        &self,
        device: DeviceId,
        key: ObjectKey,
        body: mpsc::Receiver<PutChunk>,
    ) -> Result<PutAck, NodeError>;

    /// Reads an object (or a byte range of it). Every frame is verified
    /// against the stored digest before it is sent; on a mismatch the stream
    /// yields `NodeError::Corrupt` and the replica is quarantined.
    async fn get(
        &self,
        device: DeviceId,
        key: ObjectKey,
        range: Option<ByteRange>,
    ) -> Result<GetStream, NodeError>;

    /// The object's metadata, or `NotFound` (with the tombstone's timestamp
    /// when the object was deleted).
    async fn head(&self, device: DeviceId, key: ObjectKey) -> Result<ObjectMeta, NodeError>;

    /// Writes a tombstone at `ts` (even when nothing is stored, so that an
    /// older write arriving late loses). Durable before it returns.
    async fn delete(
        &self,
        device: DeviceId,
        key: ObjectKey,
        name: &str,
        ts: Timestamp,
    ) -> Result<DeleteOutcome, NodeError>;

    /// Replaces the object's user metadata (Swift's POST), ordered by
    /// `req.meta_ts` against earlier POSTs. `NotFound` when no object.
    async fn post(
        &self,
        device: DeviceId,
        key: ObjectKey,
        req: PostRequest,
    ) -> Result<ObjectMeta, NodeError>;

    /// The digest of each non-empty suffix bucket of a partition on a device:
    /// bucket = `hash[0]` (256 buckets), digest = blake3 over the bucket's
    /// entries in key order (hash, data_ts, meta_ts, tombstone flag).
    async fn partition_digest(
        &self,
        device: DeviceId,
        partition: u32,
    ) -> Result<PartitionDigest, NodeError>;

    /// Every entry (live objects and tombstones) of one suffix bucket of a partition.
    async fn list_bucket(
        &self,
        device: DeviceId,
        partition: u32,
        bucket: u8,
    ) -> Result<Vec<EntryVersion>, NodeError>;

    /// Removes the partition's data from the device outright (no tombstones): a handoff
    /// whose data is now on every primary. Only entries whose versions match `entries`
    /// exactly are removed (anything written since stays).
    async fn drop_entries(
        &self,
        device: DeviceId,
        partition: u32,
        entries: Vec<EntryVersion>,
    ) -> Result<u64, NodeError>;

    /// The partitions the device holds anything of (for finding handoff data).
    async fn partitions(&self, device: DeviceId) -> Result<Vec<u32>, NodeError>;
}
