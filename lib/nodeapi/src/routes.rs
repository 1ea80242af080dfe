//! How calls find their node. [`NodeMap`]: the object nodes of a cluster by
//! node number, shared by the proxy and the replicator and grown when a new
//! ring names a new node. [`ExtentRoutes`]: an [`ExtentNode`] over many
//! nodes, sending each call to the node that holds its device (a local node
//! or a remote client), so the block layer addresses devices and never nodes.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use async_trait::async_trait;
use bytes::Bytes;
use cairn_base::VolumeId;

use crate::{DeviceId, Epoch, ExtentKey, ExtentNode, ExtentWrite, NodeError, NodeId, ObjectNode};

/// Object nodes by node number. Lookups take a short read lock; a node,
/// once known, stays (a ring that drops it may be replaced by one that
/// names it again, and its handoff data must still be reachable).
#[derive(Default)]
pub struct NodeMap {
    nodes: RwLock<HashMap<NodeId, Arc<dyn ObjectNode>>>,
}

impl NodeMap {
    pub fn new() -> NodeMap {
        NodeMap::default()
    }

    /// The node numbered `id`, if known.
    pub fn get(&self, id: &NodeId) -> Option<Arc<dyn ObjectNode>> {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        nodes.get(id).cloned()
    }

    /// Whether node `id` is known.
    pub fn contains(&self, id: &NodeId) -> bool {
        let nodes = self.nodes.read().unwrap_or_else(|p| p.into_inner());
        nodes.contains_key(id)
    }

    /// Adds (or replaces) node `id`.
    pub fn insert(&self, id: NodeId, node: Arc<dyn ObjectNode>) {
        let mut nodes = self.nodes.write().unwrap_or_else(|p| p.into_inner());
        nodes.insert(id, node);
    }
}

impl FromIterator<(NodeId, Arc<dyn ObjectNode>)> for NodeMap {
    fn from_iter<I: IntoIterator<Item = (NodeId, Arc<dyn ObjectNode>)>>(iter: I) -> NodeMap {
        NodeMap {
            nodes: RwLock::new(iter.into_iter().collect()),
        }
    }
}

/// Devices and the nodes that serve them; grown, like [`NodeMap`], when a
/// ring names a new device.
#[derive(Default)]
pub struct ExtentRoutes {
    routes: RwLock<HashMap<DeviceId, Arc<dyn ExtentNode>>>,
}

impl ExtentRoutes {
    /// No routes yet.
    pub fn new() -> ExtentRoutes {
        ExtentRoutes::default()
    }

    /// Sends calls for `device` to `node`.
    pub fn insert(&self, device: DeviceId, node: Arc<dyn ExtentNode>) {
        let mut routes = self.routes.write().unwrap_or_else(|p| p.into_inner());
        routes.insert(device, node);
    }

    /// Whether calls for `device` have somewhere to go.
    pub fn contains(&self, device: DeviceId) -> bool {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        routes.contains_key(&device)
    }

    fn node(&self, device: DeviceId) -> Result<Arc<dyn ExtentNode>, NodeError> {
        let routes = self.routes.read().unwrap_or_else(|p| p.into_inner());
        routes
            .get(&device)
            .cloned()
            .ok_or_else(|| NodeError::Unreachable(format!("no node serves device {}", device.0)))
    }
}

#[async_trait]
impl ExtentNode for ExtentRoutes {
    async fn fence(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        self.node(device)?.fence(device, volume, epoch).await
    }

    async fn write(
        &self,
        device: DeviceId,
        key: ExtentKey,
        write: ExtentWrite,
    ) -> Result<(), NodeError> {
        self.node(device)?.write(device, key, write).await
    }

    async fn read(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Bytes>, NodeError> {
        self.node(device)?.read(device, key, offset, len).await
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
        self.node(device)?
            .discard(device, key, epoch, offset, len, fua)
            .await
    }

    async fn flush(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        self.node(device)?.flush(device, volume, epoch).await
    }

    async fn copy(
        &self,
        device: DeviceId,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        self.node(device)?
            .copy(device, from, to, extent_size, epoch)
            .await
    }

    async fn allocation(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError> {
        self.node(device)?
            .allocation(device, key, offset, len)
            .await
    }

    async fn list(&self, device: DeviceId, volume: VolumeId) -> Result<Vec<(u64, u32)>, NodeError> {
        self.node(device)?.list(device, volume).await
    }

    async fn remove(
        &self,
        device: DeviceId,
        volume: VolumeId,
        extents: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError> {
        self.node(device)?.remove(device, volume, extents).await
    }
}
