//! Volume extents over the wire: [`ExtentService`] serves a local
//! `ExtentNode` to the cluster and [`RemoteNode`] implements `ExtentNode`
//! by calling it. A write's data follows its request raw; a read's data
//! follows its answer raw. Every call carries what the local call would,
//! lease epochs included, so fencing works the same across nodes.

use std::sync::Arc;

use async_trait::async_trait;
use bytes::Bytes;
use cairn_base::VolumeId;
use cairn_nodeapi::{DeviceId, Epoch, ExtentKey, ExtentNode, ExtentWrite, NodeError};
use serde::{Deserialize, Serialize};

use crate::client::reply;
use crate::wire::{finish, recv_bytes, recv_msg, send_bytes, send_msg};
use crate::{Caller, RemoteNode, Service, ServiceId, Stream, TransportError};

#[derive(Debug, Serialize, Deserialize)]
enum Request {
    Fence {
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    },
    /// `len` raw bytes of data follow.
    Write {
        device: DeviceId,
        key: ExtentKey,
        extent_size: u32,
        epoch: Epoch,
        offset: u32,
        len: u32,
        fua: bool,
    },
    Read {
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    },
    Discard {
        device: DeviceId,
        key: ExtentKey,
        epoch: Epoch,
        offset: u32,
        len: u32,
        fua: bool,
    },
    Flush {
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    },
    Copy {
        device: DeviceId,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        epoch: Epoch,
    },
    Allocation {
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    },
    List {
        device: DeviceId,
        volume: VolumeId,
    },
    Remove {
        device: DeviceId,
        volume: VolumeId,
        extents: Option<Vec<(u64, u32)>>,
    },
}

/// Serves a local node's extents to the cluster.
pub struct ExtentService<N: ?Sized> {
    node: Arc<N>,
}

impl<N: ExtentNode + ?Sized> ExtentService<N> {
    pub fn new(node: Arc<N>) -> Arc<Self> {
        Arc::new(ExtentService { node })
    }

    async fn read(
        &self,
        stream: &mut Stream,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) {
        let read = self.node.read(device, key, offset, len).await;
        let head = read
            .as_ref()
            .map(|data| data.as_ref().map(|d| d.len() as u32))
            .map_err(Clone::clone);
        let sent = async {
            send_msg(&mut stream.send, &head).await?;
            if let Ok(Some(data)) = read {
                send_bytes(&mut stream.send, data).await?;
            }
            Ok::<_, TransportError>(())
        };
        if let Err(e) = sent.await {
            tracing::debug!(error = %e, "extent read not delivered");
        }
        finish(&mut stream.send);
    }
}

#[async_trait]
impl<N: ExtentNode + ?Sized> Service for ExtentService<N> {
    async fn serve(&self, _caller: Caller, mut stream: Stream) {
        let request = match recv_msg::<Request>(&mut stream.recv).await {
            Ok(r) => r,
            Err(e) => {
                let answer: Result<(), NodeError> = Err(NodeError::Io(format!("bad request: {e}")));
                return reply(&mut stream, &answer).await;
            }
        };
        let node = &self.node;
        match request {
            Request::Fence {
                device,
                volume,
                epoch,
            } => reply(&mut stream, &node.fence(device, volume, epoch).await).await,
            Request::Write {
                device,
                key,
                extent_size,
                epoch,
                offset,
                len,
                fua,
            } => {
                let answer = match recv_bytes(&mut stream.recv, len as usize).await {
                    Ok(data) => {
                        let write = ExtentWrite {
                            extent_size,
                            epoch,
                            offset,
                            data,
                            fua,
                        };
                        node.write(device, key, write).await
                    }
                    Err(e) => Err(NodeError::Io(format!("write data: {e}"))),
                };
                reply(&mut stream, &answer).await
            }
            Request::Read {
                device,
                key,
                offset,
                len,
            } => self.read(&mut stream, device, key, offset, len).await,
            Request::Discard {
                device,
                key,
                epoch,
                offset,
                len,
                fua,
            } => {
                let answer = node.discard(device, key, epoch, offset, len, fua).await;
                reply(&mut stream, &answer).await
            }
            Request::Flush {
                device,
                volume,
                epoch,
            } => reply(&mut stream, &node.flush(device, volume, epoch).await).await,
            Request::Copy {
                device,
                from,
                to,
                extent_size,
                epoch,
            } => {
                let answer = node.copy(device, from, to, extent_size, epoch).await;
                reply(&mut stream, &answer).await
            }
            Request::Allocation {
                device,
                key,
                offset,
                len,
            } => {
                let answer = node.allocation(device, key, offset, len).await;
                reply(&mut stream, &answer).await
            }
            Request::List { device, volume } => {
                reply(&mut stream, &node.list(device, volume).await).await
            }
            Request::Remove {
                device,
                volume,
                extents,
            } => {
                let answer = node.remove(device, volume, extents.as_deref()).await;
                reply(&mut stream, &answer).await
            }
        }
    }
}

#[async_trait]
impl ExtentNode for RemoteNode {
    async fn fence(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        let request = Request::Fence {
            device,
            volume,
            epoch,
        };
        self.call(ServiceId::Extent, &request).await
    }

    async fn write(
        &self,
        device: DeviceId,
        key: ExtentKey,
        write: ExtentWrite,
    ) -> Result<(), NodeError> {
        self.within(async {
            let request = Request::Write {
                device,
                key,
                extent_size: write.extent_size,
                epoch: write.epoch,
                offset: write.offset,
                len: write.data.len() as u32,
                fua: write.fua,
            };
            let mut stream = self.start(ServiceId::Extent, &request).await?;
            send_bytes(&mut stream.send, write.data)
                .await
                .map_err(|e| self.unreachable(e))?;
            finish(&mut stream.send);
            self.answer(&mut stream).await
        })
        .await
    }

    async fn read(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Bytes>, NodeError> {
        self.within(async {
            let request = Request::Read {
                device,
                key,
                offset,
                len,
            };
            let mut stream = self.start(ServiceId::Extent, &request).await?;
            finish(&mut stream.send);
            match self.answer::<Option<u32>>(&mut stream).await? {
                None => Ok(None),
                Some(n) if n == len => recv_bytes(&mut stream.recv, n as usize)
                    .await
                    .map(Some)
                    .map_err(|e| self.unreachable(e)),
                Some(n) => Err(NodeError::Io(format!(
                    "asked for {len} bytes, the node announced {n}"
                ))),
            }
        })
        .await
    }

    async fn discard(
        &self,
        device: DeviceId,
        key: ExtentKey,
        epoch: Epoch,
        offset: u32,
        len: u32,
        fua: bool,
    ) -> Result<(), NodeError> {
        let request = Request::Discard {
            device,
            key,
            epoch,
            offset,
            len,
            fua,
        };
        self.call(ServiceId::Extent, &request).await
    }

    async fn flush(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        let request = Request::Flush {
            device,
            volume,
            epoch,
        };
        self.call(ServiceId::Extent, &request).await
    }

    async fn copy(
        &self,
        device: DeviceId,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        let request = Request::Copy {
            device,
            from,
            to,
            extent_size,
            epoch,
        };
        self.call(ServiceId::Extent, &request).await
    }

    async fn allocation(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError> {
        let request = Request::Allocation {
            device,
            key,
            offset,
            len,
        };
        self.call(ServiceId::Extent, &request).await
    }

    async fn list(&self, device: DeviceId, volume: VolumeId) -> Result<Vec<(u64, u32)>, NodeError> {
        self.call(ServiceId::Extent, &Request::List { device, volume })
            .await
    }

    async fn remove(
        &self,
        device: DeviceId,
        volume: VolumeId,
        extents: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError> {
        let request = Request::Remove {
            device,
            volume,
            extents: extents.map(<[_]>::to_vec),
        };
        self.call(ServiceId::Extent, &request).await
    }
}
