//! The values exchanged with a storage node: keys, metadata, PUT chunks,
//! GET streams.

use crate::{Frame, NodeError};
use cairn_base::Timestamp;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

/// A storage node in the cluster layout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct NodeId(pub u32);

/// A device (one disk) in the ring; unique across the cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct DeviceId(pub u32);

/// Where an object lives: its ring partition and the hash of its full name.
/// Keys sort by partition first, so a device can walk one partition.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct ObjectKey {
    pub partition: u32,
    pub hash: [u8; 16],
}

/// An object's metadata as stored beside its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectMeta {
    /// The full name, `/account/container/object`.
    pub name: String,
    /// When the data was written (orders PUTs and DELETEs).
    pub data_ts: Timestamp,
    /// When the metadata was last replaced (a POST); `>= data_ts`.
    pub meta_ts: Timestamp,
    /// Body length in bytes.
    pub content_length: u64,
    /// MD5 of the body, lowercase hex (Swift's ETag).
    pub etag: String,
    pub content_type: String,
    /// Persisted headers, lowercase names: `x-object-meta-*`,
    /// `content-disposition`, `content-encoding`, `x-delete-at`, …
    pub headers: Vec<(String, String)>,
}

impl ObjectMeta {
    /// The value of a persisted header (`name` lowercase).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k == name)
            .map(|(_, v)| v.as_str())
    }
}

/// One message of a PUT body stream.
#[derive(Debug)]
pub enum PutChunk {
    /// Bytes of the body, in order.
    Data(Frame),
    /// The body is complete; the object's final metadata (length, ETag).
    /// Nothing is stored unless this arrives.
    End(ObjectMeta),
}

/// A PUT that reached stable storage on one device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PutAck {
    pub device: DeviceId,
    pub data_ts: Timestamp,
}

/// The answer to a DELETE on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DeleteOutcome {
    /// Whether a live object was there before the tombstone.
    pub existed: bool,
}

/// Swift's POST: new user metadata for an existing object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PostRequest {
    pub meta_ts: Timestamp,
    /// Replaces every persisted header but content-type, which is set only
    /// when `content_type` is given.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
}

/// A byte range `[start, end)` of an object; `end` is clamped to its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteRange {
    pub start: u64,
    pub end: u64,
}

/// A GET's answer: the metadata, then the body in verified frames.
#[derive(Debug)]
pub struct GetStream {
    pub meta: ObjectMeta,
    /// The range actually served (`[0, len)` for a whole object).
    pub range: ByteRange,
    pub body: mpsc::Receiver<Result<Frame, NodeError>>,
}
