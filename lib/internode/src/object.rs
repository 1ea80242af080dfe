//! Object storage over the wire: [`ObjectService`] serves a local
//! `ObjectNode` to the cluster, and [`RemoteNode`] implements `ObjectNode`
//! by calling it.
//!
//! A PUT is the request, then the body as `Body::Data` messages each
//! followed by its raw bytes (with the crc32c the sender computed), then
//! `Body::End` with the metadata; the answer comes when the node made it
//! durable. A body that breaks off before `End` stores nothing. A GET's
//! answer is the metadata, then the body the same way, ending with
//! `Body::Done` or `Body::Failed`.

use std::sync::Arc;

use async_trait::async_trait;
use cairn_base::Timestamp;
use cairn_nodeapi::{
    ByteRange, ChunkDigests, DeleteOutcome, DeviceId, EntryVersion, Frame, GetStream, NodeError,
    ObjectKey, ObjectMeta, ObjectNode, PartitionDigest, PostRequest, PutAck, PutChunk,
    BODY_CHANNEL_FRAMES_MAX,
};
use quinn::{RecvStream, SendStream, VarInt};
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::client::reply;
use crate::wire::{finish, recv_msg, recv_pieces, send_bytes, send_msg};
use crate::{Caller, RemoteNode, Service, ServiceId, Stream, TransportError};

/// Stream reset code: the sender gave up on a body.
const ABORTED: u32 = 1;

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Put {
        device: DeviceId,
        key: ObjectKey,
    },
    Get {
        device: DeviceId,
        key: ObjectKey,
        range: Option<ByteRange>,
    },
    Head {
        device: DeviceId,
        key: ObjectKey,
    },
    Delete {
        device: DeviceId,
        key: ObjectKey,
        name: String,
        ts: Timestamp,
    },
    Post {
        device: DeviceId,
        key: ObjectKey,
        req: PostRequest,
    },
    PartitionDigest {
        device: DeviceId,
        partition: u32,
    },
    ListBucket {
        device: DeviceId,
        partition: u32,
        bucket: u8,
    },
    DropEntries {
        device: DeviceId,
        partition: u32,
        entries: Vec<EntryVersion>,
    },
    Partitions {
        device: DeviceId,
    },
}

/// One message of a body, either way.
#[derive(Debug, Serialize, Deserialize)]
enum Body {
    /// `len` raw bytes follow; `crc32c` is the sender's checksum of them.
    Data { len: u32, crc32c: u32 },
    /// A PUT body is complete; the object's final metadata and the body's
    /// digests.
    End(ObjectMeta, ChunkDigests),
    /// A GET body is complete.
    Done,
    /// A GET body failed (the replica is corrupt, the device failed).
    Failed(NodeError),
}

/// The head of a GET's answer.
#[derive(Debug, Serialize, Deserialize)]
struct GetHead {
    meta: ObjectMeta,
    range: ByteRange,
}

/// Serves a local node's objects to the cluster.
pub struct ObjectService<N: ?Sized> {
    node: Arc<N>,
}

impl<N: ObjectNode + ?Sized> ObjectService<N> {
    pub fn new(node: Arc<N>) -> Arc<Self> {
        Arc::new(ObjectService { node })
    }

    async fn put(&self, stream: &mut Stream, device: DeviceId, key: ObjectKey) {
        let (tx, rx) = mpsc::channel(BODY_CHANNEL_FRAMES_MAX);
        // Pump the body into the node until its end, an error, or the node
        // stopping early (a conflict, a full device): then its answer counts.
        // A body that broke off drops `tx` without `End`: nothing is stored.
        let recv = &mut stream.recv;
        let pumped = async move {
            if let Err(e) = pump_put_body(recv, tx).await {
                tracing::debug!(error = %e, "PUT body broke off; nothing stored");
                let _ = recv.stop(VarInt::from_u32(ABORTED));
            }
        };
        let (answer, ()) = tokio::join!(self.node.put(device, key, rx), pumped);
        reply(stream, &answer).await;
    }

    async fn get(
        &self,
        stream: &mut Stream,
        device: DeviceId,
        key: ObjectKey,
        range: Option<ByteRange>,
    ) {
        let got = match self.node.get(device, key, range).await {
            Ok(got) => got,
            Err(e) => return reply::<GetHead>(stream, &Err(e)).await,
        };
        let head: Result<GetHead, NodeError> = Ok(GetHead {
            meta: got.meta,
            range: got.range,
        });
        if let Err(e) = send_get_body(&mut stream.send, &head, got.body).await {
            tracing::debug!(error = %e, "GET body not delivered");
        }
        finish(&mut stream.send);
    }
}

/// Moves a PUT body from the stream into the node's channel. `Ok` once
/// `End` was handed over or the node stopped listening.
async fn pump_put_body(
    recv: &mut RecvStream,
    tx: mpsc::Sender<PutChunk>,
) -> Result<(), TransportError> {
    loop {
        let chunk = match recv_msg::<Body>(recv).await? {
            Body::Data { len, crc32c } => {
                let pieces = recv_pieces(recv, len as usize).await?;
                PutChunk::Data(Frame::from_pieces(pieces, crc32c))
            }
            Body::End(meta, digests) => PutChunk::End(meta, digests),
            other => return Err(TransportError::Decode(format!("{other:?} in a PUT body"))),
        };
        let end = matches!(chunk, PutChunk::End(..));
        if tx.send(chunk).await.is_err() || end {
            return Ok(());
        }
    }
}

async fn send_get_body(
    send: &mut SendStream,
    head: &Result<GetHead, NodeError>,
    mut body: mpsc::Receiver<Result<Frame, NodeError>>,
) -> Result<(), TransportError> {
    send_msg(send, head).await?;
    while let Some(item) = body.recv().await {
        match item {
            Ok(frame) => send_frame(send, frame).await?,
            Err(e) => return send_msg(send, &Body::Failed(e)).await,
        }
    }
    send_msg(send, &Body::Done).await
}

async fn send_frame(send: &mut SendStream, frame: Frame) -> Result<(), TransportError> {
    let len = frame.len() as u32;
    let (pieces, crc32c) = frame.into_parts();
    send_msg(send, &Body::Data { len, crc32c }).await?;
    for piece in pieces {
        send_bytes(send, piece).await?;
    }
    Ok(())
}

#[async_trait]
impl<N: ObjectNode + ?Sized> Service for ObjectService<N> {
    async fn serve(&self, _caller: Caller, mut stream: Stream) {
        let request = match recv_msg::<Request>(&mut stream.recv).await {
            Ok(r) => r,
            Err(e) => {
                let answer: Result<(), NodeError> = Err(NodeError::Io(format!("bad request: {e}")));
                return reply(&mut stream, &answer).await;
            }
        };
        match request {
            Request::Put { device, key } => self.put(&mut stream, device, key).await,
            Request::Get { device, key, range } => self.get(&mut stream, device, key, range).await,
            Request::Head { device, key } => {
                let answer = self.node.head(device, key).await;
                reply(&mut stream, &answer).await
            }
            Request::Delete {
                device,
                key,
                name,
                ts,
            } => {
                let answer = self.node.delete(device, key, &name, ts).await;
                reply(&mut stream, &answer).await
            }
            Request::Post { device, key, req } => {
                let answer = self.node.post(device, key, req).await;
                reply(&mut stream, &answer).await
            }
            Request::PartitionDigest { device, partition } => {
                let answer = self.node.partition_digest(device, partition).await;
                reply(&mut stream, &answer).await
            }
            Request::ListBucket {
                device,
                partition,
                bucket,
            } => {
                let answer = self.node.list_bucket(device, partition, bucket).await;
                reply(&mut stream, &answer).await
            }
            Request::DropEntries {
                device,
                partition,
                entries,
            } => {
                let answer = self.node.drop_entries(device, partition, entries).await;
                reply(&mut stream, &answer).await
            }
            Request::Partitions { device } => {
                reply(&mut stream, &self.node.partitions(device).await).await
            }
        }
    }
}

impl RemoteNode {
    /// Sends a PUT body; `Ok` after `End` went out.
    async fn send_put_body(
        &self,
        send: &mut SendStream,
        body: &mut mpsc::Receiver<PutChunk>,
    ) -> Result<(), NodeError> {
        while let Some(chunk) = body.recv().await {
            match chunk {
                PutChunk::Data(frame) => send_frame(send, frame)
                    .await
                    .map_err(|e| self.unreachable(e))?,
                PutChunk::End(meta, digests) => {
                    send_msg(send, &Body::End(meta, digests))
                        .await
                        .map_err(|e| self.unreachable(e))?;
                    finish(send);
                    return Ok(());
                }
            }
        }
        // The caller gave up: make sure the node stores nothing.
        let _ = send.reset(VarInt::from_u32(ABORTED));
        Err(NodeError::BodyIncomplete)
    }
}

#[async_trait]
impl ObjectNode for RemoteNode {
    async fn put(
        &self,
        device: DeviceId,
        key: ObjectKey,
        mut body: mpsc::Receiver<PutChunk>,
    ) -> Result<PutAck, NodeError> {
        let Stream { mut send, mut recv } = self
            .start(ServiceId::Object, &Request::Put { device, key })
            .await?;
        let sending = self.send_put_body(&mut send, &mut body);
        let answer = recv_msg::<Result<PutAck, NodeError>>(&mut recv);
        tokio::pin!(sending, answer);
        let mut sent = false;
        loop {
            tokio::select! {
                // The node may answer before the body is over (a conflict).
                a = &mut answer => return a.map_err(|e| self.unreachable(e))?,
                s = &mut sending, if !sent => {
                    s?;
                    sent = true;
                }
            }
        }
    }

    async fn get(
        &self,
        device: DeviceId,
        key: ObjectKey,
        range: Option<ByteRange>,
    ) -> Result<GetStream, NodeError> {
        let Stream { mut send, mut recv } = self
            .start(ServiceId::Object, &Request::Get { device, key, range })
            .await?;
        finish(&mut send);
        let GetHead { meta, range } = self
            .within(async {
                recv_msg::<Result<GetHead, NodeError>>(&mut recv)
                    .await
                    .map_err(|e| self.unreachable(e))?
            })
            .await?;
        let (tx, rx) = mpsc::channel(BODY_CHANNEL_FRAMES_MAX);
        let me = self.clone();
        tokio::spawn(async move { me.pump_get_body(recv, tx).await });
        Ok(GetStream {
            meta,
            range,
            body: rx,
        })
    }

    async fn head(&self, device: DeviceId, key: ObjectKey) -> Result<ObjectMeta, NodeError> {
        self.call(ServiceId::Object, &Request::Head { device, key })
            .await
    }

    async fn delete(
        &self,
        device: DeviceId,
        key: ObjectKey,
        name: &str,
        ts: Timestamp,
    ) -> Result<DeleteOutcome, NodeError> {
        let name = name.to_owned();
        self.call(
            ServiceId::Object,
            &Request::Delete {
                device,
                key,
                name,
                ts,
            },
        )
        .await
    }

    async fn post(
        &self,
        device: DeviceId,
        key: ObjectKey,
        req: PostRequest,
    ) -> Result<ObjectMeta, NodeError> {
        self.call(ServiceId::Object, &Request::Post { device, key, req })
            .await
    }

    async fn partition_digest(
        &self,
        device: DeviceId,
        partition: u32,
    ) -> Result<PartitionDigest, NodeError> {
        let request = Request::PartitionDigest { device, partition };
        self.call(ServiceId::Object, &request).await
    }

    async fn list_bucket(
        &self,
        device: DeviceId,
        partition: u32,
        bucket: u8,
    ) -> Result<Vec<EntryVersion>, NodeError> {
        let request = Request::ListBucket {
            device,
            partition,
            bucket,
        };
        self.call(ServiceId::Object, &request).await
    }

    async fn drop_entries(
        &self,
        device: DeviceId,
        partition: u32,
        entries: Vec<EntryVersion>,
    ) -> Result<u64, NodeError> {
        let request = Request::DropEntries {
            device,
            partition,
            entries,
        };
        self.call(ServiceId::Object, &request).await
    }

    async fn partitions(&self, device: DeviceId) -> Result<Vec<u32>, NodeError> {
        self.call(ServiceId::Object, &Request::Partitions { device })
            .await
    }
}

impl RemoteNode {
    /// Moves a GET body from the stream to the caller's channel; a stream
    /// that breaks off ends it with an error, never silently short.
    async fn pump_get_body(
        &self,
        mut recv: RecvStream,
        tx: mpsc::Sender<Result<Frame, NodeError>>,
    ) {
        loop {
            let item =
                match recv_msg::<Body>(&mut recv).await {
                    Ok(Body::Data { len, crc32c }) => recv_pieces(&mut recv, len as usize)
                        .await
                        .map(|pieces| Frame::from_pieces(pieces, crc32c))
                        .map_err(|e| self.unreachable(e)),
                    Ok(Body::Done) => return,
                    Ok(Body::Failed(e)) => Err(e),
                    Ok(other) => Err(self
                        .unreachable(TransportError::Decode(format!("{other:?} in a GET body")))),
                    Err(e) => Err(self.unreachable(e)),
                };
            let last = item.is_err();
            if tx.send(item).await.is_err() {
                // The reader went away: tell the node to stop sending.
                let _ = recv.stop(VarInt::from_u32(ABORTED));
                return;
            }
            if last {
                return;
            }
        }
    }
}
