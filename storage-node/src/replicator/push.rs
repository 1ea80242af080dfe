//! Sending one entry to one peer: an object's bytes (streamed from the local
//! GET to the peer's PUT through bounded channels, never whole in memory),
//! its metadata (POST) or its tombstone (DELETE), each at the local
//! version's own timestamps so the peer stores the identical version.
//!
//! A peer that answers `Conflict` already has something newer: nothing to
//! do. A local entry gone since it was listed (deleted, quarantined) is not
//! sent.

use super::plan::Push;
use super::stats::add;
use super::Replicator;
use cairn_nodeapi::{
    ChunkHasher, DeviceId, EntryVersion, GetStream, NodeError, ObjectNode, PartitionDigest,
    PostRequest, PutChunk, BODY_CHANNEL_FRAMES_MAX,
};
use std::sync::Arc;
use tokio::sync::mpsc;

/// A device this pass pushes to, with its node and its digest of the partition.
pub(super) struct Peer {
    pub device: DeviceId,
    pub node: Arc<dyn ObjectNode>,
    pub digest: PartitionDigest,
}

/// What a push achieved.
enum Sent {
    /// The peer now holds the version; for an object, its body bytes.
    Stored(u64),
    /// Nothing to send after all (peer newer, or the local entry went away).
    Nothing,
}

/// `Ok(Nothing)` for a `Conflict`: the peer already holds something newer.
fn unless_newer<T>(r: Result<T, NodeError>, sent: Sent) -> Result<Sent, NodeError> {
    match r {
        Ok(_) => Ok(sent),
        Err(NodeError::Conflict { .. }) => Ok(Sent::Nothing),
        Err(e) => Err(e),
    }
}

impl Replicator {
    /// Sends `push` from local `from` to `to`, counting what was stored.
    pub(super) async fn push(
        &self,
        from: DeviceId,
        to: &Peer,
        push: Push,
    ) -> Result<(), NodeError> {
        let c = &self.counters;
        match push {
            Push::Object(v) => {
                if let Sent::Stored(bytes) = self.push_object(from, to, &v).await? {
                    add(&c.objects_pushed, 1);
                    add(&c.bytes_pushed, bytes);
                }
            }
            Push::Metadata(v) => {
                if let Sent::Stored(_) = self.push_metadata(from, to, &v).await? {
                    add(&c.metadata_pushed, 1);
                }
            }
            Push::Tombstone(v) => {
                let r = to.node.delete(to.device, v.key, &v.name, v.data_ts).await;
                if let Sent::Stored(_) = unless_newer(r, Sent::Stored(0))? {
                    add(&c.tombstones_pushed, 1);
                }
            }
        }
        Ok(())
    }

    async fn push_object(
        &self,
        from: DeviceId,
        to: &Peer,
        v: &EntryVersion,
    ) -> Result<Sent, NodeError> {
        let stream = match self.local.get(from, v.key, None).await {
            Ok(s) => s,
            Err(NodeError::NotFound { .. }) => return Ok(Sent::Nothing),
            Err(e) => return Err(e),
        };
        let GetStream { meta, mut body, .. } = stream;
        let len = meta.content_length;
        let (tx, rx) = mpsc::channel(BODY_CHANNEL_FRAMES_MAX);
        // Frames pass through as read (blake3-verified by the local GET,
        // crc32c-checked by the peer), hashed again for the peer to store
        // (the bytes it checks on read are the ones verified here). A read
        // error drops `tx` without `End`, so the peer stores nothing.
        let forward = async move {
            let mut digests = ChunkHasher::new();
            while let Some(frame) = body.recv().await {
                let frame = frame?;
                frame
                    .unverified_pieces()
                    .iter()
                    .for_each(|p| digests.update(p));
                if tx.send(PutChunk::Data(frame)).await.is_err() {
                    return Ok(());
                }
            }
            let _ = tx.send(PutChunk::End(meta, digests.finish())).await;
            Ok::<(), NodeError>(())
        };
        let (read, stored) = tokio::join!(forward, to.node.put(to.device, v.key, rx));
        read?;
        unless_newer(stored, Sent::Stored(len))
    }

    async fn push_metadata(
        &self,
        from: DeviceId,
        to: &Peer,
        v: &EntryVersion,
    ) -> Result<Sent, NodeError> {
        let meta = match self.local.head(from, v.key).await {
            Ok(m) => m,
            Err(NodeError::NotFound { .. }) => return Ok(Sent::Nothing),
            Err(e) => return Err(e),
        };
        if meta.data_ts != v.data_ts {
            // Overwritten since the listing: the next pass sends the new object.
            return Ok(Sent::Nothing);
        }
        let req = PostRequest {
            meta_ts: meta.meta_ts,
            headers: meta.headers,
            content_type: Some(meta.content_type),
        };
        let r = to.node.post(to.device, v.key, req).await;
        unless_newer(r, Sent::Stored(0))
    }
}
