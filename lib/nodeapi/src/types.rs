//! The values exchanged with a storage node: keys, metadata, PUT chunks,
//! GET streams.

use crate::{ChunkDigests, Frame, NodeError};
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

    /// Applies a POST: its metadata time and headers, and its content type
    /// when given. The headers written with the data stay (see
    /// [`written_with_data`]), as on Swift's object server.
    pub fn apply_post(&mut self, req: PostRequest) {
        self.meta_ts = req.meta_ts;
        self.headers.retain(|(k, _)| written_with_data(k));
        self.headers.extend(
            req.headers
                .into_iter()
                .filter(|(k, _)| !written_with_data(k)),
        );
        if let Some(ct) = req.content_type {
            self.content_type = ct;
        }
    }
}

/// Whether a persisted header belongs to the data rather than to the
/// metadata a POST replaces: system metadata (`x-object-sysmeta-*`) and
/// `x-static-large-object`, which describe how the body is to be read.
pub fn written_with_data(name: &str) -> bool {
    name.starts_with("x-object-sysmeta-") || name == "x-static-large-object"
}

/// One message of a PUT body stream.
#[derive(Debug)]
pub enum PutChunk {
    /// Bytes of the body, in order.
    Data(Frame),
    /// The body is complete; the object's final metadata (length, ETag)
    /// and the body's digests, which the node stores as they are. Nothing
    /// is stored unless this arrives.
    End(ObjectMeta, ChunkDigests),
}

/// A PUT that reached stable storage on one device.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PutAck {
    pub device: DeviceId,
    pub data_ts: Timestamp,
}

/// The answer to a DELETE on one device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeleteOutcome {
    /// Whether a live object was there before the tombstone.
    pub existed: bool,
}

/// Swift's POST: new user metadata for an existing object.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PostRequest {
    pub meta_ts: Timestamp,
    /// Replaces every persisted header but those [`written_with_data`] and
    /// content-type, which is set only when `content_type` is given.
    pub headers: Vec<(String, String)>,
    pub content_type: Option<String>,
}

/// A byte range `[start, end)` of an object; `end` is clamped to its length.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn post_replaces_metadata_but_keeps_what_was_written_with_the_data() {
        // Sysmeta and X-Static-Large-Object survive a POST; user metadata is
        // replaced; a POST cannot smuggle in headers of the data.
        let mut meta = ObjectMeta {
            name: "/a/c/o".into(),
            data_ts: Timestamp::from_secs(1),
            meta_ts: Timestamp::from_secs(1),
            content_length: 3,
            etag: "e".into(),
            content_type: "text/plain".into(),
            headers: vec![
                ("x-object-meta-old".into(), "1".into()),
                ("x-static-large-object".into(), "True".into()),
                ("x-object-sysmeta-slo-etag".into(), "s".into()),
            ],
        };
        meta.apply_post(PostRequest {
            meta_ts: Timestamp::from_secs(2),
            headers: vec![
                ("x-object-meta-new".into(), "2".into()),
                ("x-object-sysmeta-slo-etag".into(), "forged".into()),
            ],
            content_type: None,
        });
        assert_eq!(meta.meta_ts, Timestamp::from_secs(2));
        assert_eq!(meta.content_type, "text/plain");
        assert_eq!(
            meta.headers,
            vec![
                ("x-static-large-object".to_owned(), "True".to_owned()),
                ("x-object-sysmeta-slo-etag".to_owned(), "s".to_owned()),
                ("x-object-meta-new".to_owned(), "2".to_owned()),
            ]
        );
    }
}
