//! `StorageNode`: the `ObjectNode` service over a set of local devices (to
//! which a running node can add one, `add_device`), its background
//! compaction and audit tasks, the node-local side of replication
//! (`LocalNode`), and `AnyStorageNode`, which picks io_uring or the plain
//! disk interface at run time.

use crate::auditor::{self, AuditCounters, AuditLimits, AuditorStats};
use crate::config::{DeviceConfig, NodeConfig};
use crate::device::{self, Device, Params};
use crate::extent::ExtentStore;
use crate::replicator::LocalNode;
use crate::writer::{Outcome, WriteOp};
use crate::{compact, inventory, put, read, CompactionReport, DeviceStats, EngineError};
use async_trait::async_trait;
use bytes::Bytes;
use cairn_base::Timestamp;
use cairn_diskio::{DiskIo, StdDiskIo, UringDiskIo};
use cairn_nodeapi::{
    ByteRange, DeleteOutcome, DeviceId, EntryVersion, Epoch, ExtentKey, ExtentNode, ExtentWrite,
    GetStream, NodeError, ObjectKey, ObjectMeta, ObjectNode, PartitionDigest, PostRequest, PutAck,
    PutChunk, VolumeId,
};
use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// A node's devices by id, shared with its compactor and auditor (each
/// pass takes the devices there are then).
type Devices<D> = Arc<RwLock<HashMap<DeviceId, Arc<Device<D>>>>>;

/// The object and extent engines for this node's devices.
pub struct StorageNode<D: DiskIo> {
    devices: Devices<D>,
    extents: RwLock<HashMap<DeviceId, Arc<ExtentStore<D>>>>,
    /// What a device added later is opened with.
    io: Arc<D>,
    params: Params,
    /// One device added at a time.
    adding: tokio::sync::Mutex<()>,
    audit_limits: AuditLimits,
    audit: Arc<AuditCounters>,
    /// The compactor and the auditor, stopped at shutdown.
    background: Mutex<Vec<JoinHandle<()>>>,
}

impl<D: DiskIo> StorageNode<D> {
    /// Opens (creating if needed) and recovers every configured device.
    pub async fn open(cfg: NodeConfig, io: Arc<D>) -> Result<Self, EngineError> {
        cfg.validate()?;
        tracing::info!(config = ?cfg, "opening storage node");
        let params = Params::from_config(&cfg);
        let mut devices = HashMap::new();
        let mut extents = HashMap::new();
        for d in &cfg.devices {
            let dev = device::open(d.id, &d.path, io.clone(), params).await?;
            devices.insert(d.id, dev);
            extents.insert(d.id, open_extents(d, &io).await?);
        }
        let audit_limits = AuditLimits {
            bytes_per_sec: cfg.audit_bytes_per_sec,
            files_per_sec: cfg.audit_files_per_sec,
        };
        let node = StorageNode {
            devices: Arc::new(RwLock::new(devices)),
            extents: RwLock::new(extents),
            io,
            params,
            adding: tokio::sync::Mutex::new(()),
            audit_limits,
            audit: Arc::new(AuditCounters::default()),
            background: Mutex::new(Vec::new()),
        };
        node.start_background(&cfg);
        Ok(node)
    }

    /// Opens the device `cfg` (creating it if needed) and serves it from
    /// now on, as if it had been configured: how a ring that gives this
    /// node a new device takes effect without a restart. False when the
    /// node has that device already.
    pub async fn add_device(&self, cfg: &DeviceConfig) -> Result<bool, EngineError> {
        let _one_at_a_time = self.adding.lock().await;
        if self.device(cfg.id).is_ok() {
            return Ok(false);
        }
        let dev = device::open(cfg.id, &cfg.path, self.io.clone(), self.params).await?;
        let store = open_extents(cfg, &self.io).await?;
        self.extents
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cfg.id, store);
        self.devices
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(cfg.id, dev);
        tracing::info!(device = cfg.id.0, path = %cfg.path.display(), "device added");
        Ok(true)
    }

    /// Starts the compactor and the auditor, as configured.
    fn start_background(&self, cfg: &NodeConfig) {
        let mut tasks = self.background.lock().unwrap_or_else(|p| p.into_inner());
        if cfg.compaction_interval_ms > 0 {
            let run = compact_forever(self.devices.clone(), cfg.compaction_interval_ms);
            tasks.push(tokio::spawn(run));
        }
        if cfg.audit_interval_ms > 0 {
            let pause = Duration::from_millis(cfg.audit_interval_ms);
            let run = audit_forever(
                self.devices.clone(),
                self.audit_limits,
                self.audit.clone(),
                pause,
            );
            tasks.push(tokio::spawn(run));
        }
    }

    /// Finishes queued writes and stops every device; later requests get
    /// `DeviceUnavailable`. In-progress GET streams run to completion.
    pub async fn shutdown(&self) {
        let tasks = std::mem::take(&mut *self.background.lock().unwrap_or_else(|p| p.into_inner()));
        for t in tasks {
            // Both only read, or write through the writer: stopping them at
            // any await loses nothing.
            t.abort();
            let _ = t.await;
        }
        for dev in self.sorted_devices() {
            let _ = dev.submit_unchecked(WriteOp::Stop).await;
            let task = dev
                .writer_task
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .take();
            if let Some(t) = task {
                let _ = t.await;
            }
            dev.index.close();
        }
    }

    /// Space, object and quarantine counts per device.
    pub fn device_stats(&self) -> Vec<DeviceStats> {
        self.sorted_devices().iter().map(|d| d.stats()).collect()
    }

    /// Runs one compaction pass on every device now.
    pub async fn compact(&self) -> Result<CompactionReport, NodeError> {
        let mut total = CompactionReport::default();
        for dev in self.sorted_devices() {
            let r = compact::compact_device(&dev).await?;
            total.segments_removed += r.segments_removed;
            total.records_relocated += r.records_relocated;
            total.bytes_relocated += r.bytes_relocated;
        }
        Ok(total)
    }

    /// Runs one audit pass over every device now, at the configured rates;
    /// returns the auditor's totals after it.
    pub async fn audit(&self) -> AuditorStats {
        auditor::audit_pass(&self.sorted_devices(), self.audit_limits, &self.audit).await;
        self.audit.snapshot()
    }

    /// What the auditor (background passes and `audit`) has done so far.
    pub fn auditor_stats(&self) -> AuditorStats {
        self.audit.snapshot()
    }

    fn sorted_devices(&self) -> Vec<Arc<Device<D>>> {
        sorted(&self.devices)
    }

    fn device(&self, id: DeviceId) -> Result<Arc<Device<D>>, NodeError> {
        let devices = self.devices.read().unwrap_or_else(|p| p.into_inner());
        devices.get(&id).cloned().ok_or_else(|| no_device(id))
    }

    fn extents(&self, id: DeviceId) -> Result<Arc<ExtentStore<D>>, NodeError> {
        let extents = self.extents.read().unwrap_or_else(|p| p.into_inner());
        extents.get(&id).cloned().ok_or_else(|| no_device(id))
    }
}

/// The extents of device `d`, once everything its filesystem holds in the
/// page cache is durable. A flush covers the extent files written since
/// this process started; writes an earlier process acknowledged and never
/// flushed (it was killed between write and flush) would otherwise stay
/// in the page cache past a later flush's acknowledgement, and be lost to
/// a power cut.
async fn open_extents<D: DiskIo>(
    d: &DeviceConfig,
    io: &Arc<D>,
) -> Result<Arc<ExtentStore<D>>, EngineError> {
    io.sync_filesystem(&d.path)
        .await
        .map_err(|e| EngineError::io(&d.path, e))?;
    Ok(Arc::new(ExtentStore::new(d.id, &d.path, io.clone())))
}

fn no_device(id: DeviceId) -> NodeError {
    NodeError::DeviceUnavailable(format!("no device {} here", id.0))
}

/// The devices there are now, by id.
fn sorted<D: DiskIo>(devices: &Devices<D>) -> Vec<Arc<Device<D>>> {
    let devices = devices.read().unwrap_or_else(|p| p.into_inner());
    let mut v: Vec<_> = devices.values().cloned().collect();
    v.sort_by_key(|d| d.id);
    v
}

async fn compact_forever<D: DiskIo>(devices: Devices<D>, interval_ms: u64) {
    let mut tick = tokio::time::interval(Duration::from_millis(interval_ms));
    tick.tick().await;
    loop {
        tick.tick().await;
        for dev in &sorted(&devices) {
            match compact::compact_device(dev).await {
                Ok(r) if r.segments_removed > 0 => {
                    tracing::info!(device = dev.id.0, ?r, "compaction pass")
                }
                Ok(_) | Err(NodeError::DeviceUnavailable(_)) => {}
                Err(e) => tracing::warn!(device = dev.id.0, error = %e, "compaction failed"),
            }
        }
    }
}

async fn audit_forever<D: DiskIo>(
    devices: Devices<D>,
    limits: AuditLimits,
    counters: Arc<AuditCounters>,
    pause: Duration,
) {
    loop {
        tokio::time::sleep(pause).await;
        auditor::audit_pass(&sorted(&devices), limits, &counters).await;
    }
}

#[async_trait]
impl<D: DiskIo> ObjectNode for StorageNode<D> {
    async fn put(
        &self,
        device: DeviceId,
        key: ObjectKey,
        body: mpsc::Receiver<PutChunk>,
    ) -> Result<PutAck, NodeError> {
        put::put(&*self.device(device)?, key, body).await
    }

    async fn get(
        &self,
        device: DeviceId,
        key: ObjectKey,
        range: Option<ByteRange>,
    ) -> Result<GetStream, NodeError> {
        read::get(&self.device(device)?, key, range).await
    }

    async fn head(&self, device: DeviceId, key: ObjectKey) -> Result<ObjectMeta, NodeError> {
        read::head(&*self.device(device)?, &key)
    }

    async fn delete(
        &self,
        device: DeviceId,
        key: ObjectKey,
        name: &str,
        ts: Timestamp,
    ) -> Result<DeleteOutcome, NodeError> {
        let op = WriteOp::Delete {
            key,
            name: name.to_owned(),
            ts,
        };
        match self.device(device)?.submit(op).await? {
            Outcome::Deleted { existed } => Ok(DeleteOutcome { existed }),
            other => Err(NodeError::Io(format!("unexpected outcome {other:?}"))),
        }
    }

    async fn post(
        &self,
        device: DeviceId,
        key: ObjectKey,
        req: PostRequest,
    ) -> Result<ObjectMeta, NodeError> {
        match self
            .device(device)?
            .submit(WriteOp::Post { key, req })
            .await?
        {
            Outcome::Posted(meta) => Ok(meta),
            other => Err(NodeError::Io(format!("unexpected outcome {other:?}"))),
        }
    }

    async fn partition_digest(
        &self,
        device: DeviceId,
        partition: u32,
    ) -> Result<PartitionDigest, NodeError> {
        inventory::partition_digest(&*self.device(device)?, partition).await
    }

    async fn list_bucket(
        &self,
        device: DeviceId,
        partition: u32,
        bucket: u8,
    ) -> Result<Vec<EntryVersion>, NodeError> {
        inventory::list_bucket(&*self.device(device)?, partition, bucket).await
    }

    async fn drop_entries(
        &self,
        device: DeviceId,
        partition: u32,
        entries: Vec<EntryVersion>,
    ) -> Result<u64, NodeError> {
        inventory::drop_entries(&*self.device(device)?, partition, entries).await
    }

    async fn partitions(&self, device: DeviceId) -> Result<Vec<u32>, NodeError> {
        inventory::partitions(&*self.device(device)?).await
    }
}

#[async_trait]
impl<D: DiskIo> LocalNode for StorageNode<D> {
    fn local_devices(&self) -> Vec<DeviceId> {
        self.sorted_devices().iter().map(|d| d.id).collect()
    }

    async fn reclaim_tombstones(
        &self,
        device: DeviceId,
        before: Timestamp,
    ) -> Result<u64, NodeError> {
        inventory::reclaim_tombstones(&*self.device(device)?, before).await
    }
}

#[async_trait]
impl<D: DiskIo> ExtentNode for StorageNode<D> {
    async fn fence(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        self.extents(device)?.fence(volume, epoch).await
    }

    async fn write(
        &self,
        device: DeviceId,
        key: ExtentKey,
        w: ExtentWrite,
    ) -> Result<(), NodeError> {
        self.extents(device)?.write(key, w).await
    }

    async fn read(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Bytes>, NodeError> {
        self.extents(device)?.read(key, offset, len).await
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
        self.extents(device)?
            .discard(key, epoch, offset, len, fua)
            .await
    }

    async fn flush(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        self.extents(device)?.flush(volume, epoch).await
    }

    async fn copy(
        &self,
        device: DeviceId,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        self.extents(device)?
            .copy(from, to, extent_size, epoch)
            .await
    }

    async fn allocation(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError> {
        self.extents(device)?.allocation(key, offset, len).await
    }

    async fn list(&self, device: DeviceId, volume: VolumeId) -> Result<Vec<(u64, u32)>, NodeError> {
        self.extents(device)?.list(volume).await
    }

    async fn remove(
        &self,
        device: DeviceId,
        volume: VolumeId,
        extents: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError> {
        self.extents(device)?.remove(volume, extents).await
    }
}

/// A storage node on io_uring when the kernel allows it, else on the plain
/// blocking-pool disk interface; usable as `Arc<dyn ObjectNode>`.
pub enum AnyStorageNode {
    Uring(StorageNode<UringDiskIo>),
    Std(StorageNode<StdDiskIo>),
}

macro_rules! each {
    ($self:ident, $n:ident => $e:expr) => {
        match $self {
            AnyStorageNode::Uring($n) => $e,
            AnyStorageNode::Std($n) => $e,
        }
    };
}

impl AnyStorageNode {
    /// Opens the node on io_uring, falling back to `StdDiskIo` (with a
    /// warning) when a ring cannot be set up.
    pub async fn open(cfg: NodeConfig) -> Result<Self, EngineError> {
        match UringDiskIo::new() {
            Ok(io) => Ok(AnyStorageNode::Uring(
                StorageNode::open(cfg, Arc::new(io)).await?,
            )),
            Err(e) => {
                tracing::warn!(error = %e, "io_uring unavailable; using blocking disk I/O");
                Ok(AnyStorageNode::Std(
                    StorageNode::open(cfg, Arc::new(StdDiskIo::new())).await?,
                ))
            }
        }
    }

    /// Whether the node runs on io_uring.
    pub fn is_uring(&self) -> bool {
        matches!(self, AnyStorageNode::Uring(_))
    }

    pub async fn shutdown(&self) {
        each!(self, n => n.shutdown().await)
    }

    /// See [`StorageNode::add_device`].
    pub async fn add_device(&self, cfg: &DeviceConfig) -> Result<bool, EngineError> {
        each!(self, n => n.add_device(cfg).await)
    }

    pub fn device_stats(&self) -> Vec<DeviceStats> {
        each!(self, n => n.device_stats())
    }

    pub async fn compact(&self) -> Result<CompactionReport, NodeError> {
        each!(self, n => n.compact().await)
    }

    pub async fn audit(&self) -> AuditorStats {
        each!(self, n => n.audit().await)
    }

    pub fn auditor_stats(&self) -> AuditorStats {
        each!(self, n => n.auditor_stats())
    }
}

#[async_trait]
impl ObjectNode for AnyStorageNode {
    async fn put(
        &self,
        device: DeviceId,
        key: ObjectKey,
        body: mpsc::Receiver<PutChunk>,
    ) -> Result<PutAck, NodeError> {
        each!(self, n => n.put(device, key, body).await)
    }

    async fn get(
        &self,
        device: DeviceId,
        key: ObjectKey,
        range: Option<ByteRange>,
    ) -> Result<GetStream, NodeError> {
        each!(self, n => n.get(device, key, range).await)
    }

    async fn head(&self, device: DeviceId, key: ObjectKey) -> Result<ObjectMeta, NodeError> {
        each!(self, n => n.head(device, key).await)
    }

    async fn delete(
        &self,
        device: DeviceId,
        key: ObjectKey,
        name: &str,
        ts: Timestamp,
    ) -> Result<DeleteOutcome, NodeError> {
        each!(self, n => n.delete(device, key, name, ts).await)
    }

    async fn post(
        &self,
        device: DeviceId,
        key: ObjectKey,
        req: PostRequest,
    ) -> Result<ObjectMeta, NodeError> {
        each!(self, n => n.post(device, key, req).await)
    }

    async fn partition_digest(
        &self,
        device: DeviceId,
        partition: u32,
    ) -> Result<PartitionDigest, NodeError> {
        each!(self, n => n.partition_digest(device, partition).await)
    }

    async fn list_bucket(
        &self,
        device: DeviceId,
        partition: u32,
        bucket: u8,
    ) -> Result<Vec<EntryVersion>, NodeError> {
        each!(self, n => n.list_bucket(device, partition, bucket).await)
    }

    async fn drop_entries(
        &self,
        device: DeviceId,
        partition: u32,
        entries: Vec<EntryVersion>,
    ) -> Result<u64, NodeError> {
        each!(self, n => n.drop_entries(device, partition, entries).await)
    }

    async fn partitions(&self, device: DeviceId) -> Result<Vec<u32>, NodeError> {
        each!(self, n => n.partitions(device).await)
    }
}

#[async_trait]
impl LocalNode for AnyStorageNode {
    fn local_devices(&self) -> Vec<DeviceId> {
        each!(self, n => n.local_devices())
    }

    async fn reclaim_tombstones(
        &self,
        device: DeviceId,
        before: Timestamp,
    ) -> Result<u64, NodeError> {
        each!(self, n => n.reclaim_tombstones(device, before).await)
    }
}

#[async_trait]
impl ExtentNode for AnyStorageNode {
    async fn fence(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        each!(self, n => ExtentNode::fence(n, device, volume, epoch).await)
    }

    async fn write(
        &self,
        device: DeviceId,
        key: ExtentKey,
        w: ExtentWrite,
    ) -> Result<(), NodeError> {
        each!(self, n => ExtentNode::write(n, device, key, w).await)
    }

    async fn read(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Bytes>, NodeError> {
        each!(self, n => ExtentNode::read(n, device, key, offset, len).await)
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
        each!(self, n => ExtentNode::discard(n, device, key, epoch, offset, len, fua).await)
    }

    async fn flush(
        &self,
        device: DeviceId,
        volume: VolumeId,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        each!(self, n => ExtentNode::flush(n, device, volume, epoch).await)
    }

    async fn copy(
        &self,
        device: DeviceId,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        each!(self, n => ExtentNode::copy(n, device, from, to, extent_size, epoch).await)
    }

    async fn allocation(
        &self,
        device: DeviceId,
        key: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError> {
        each!(self, n => ExtentNode::allocation(n, device, key, offset, len).await)
    }

    async fn list(&self, device: DeviceId, volume: VolumeId) -> Result<Vec<(u64, u32)>, NodeError> {
        each!(self, n => ExtentNode::list(n, device, volume).await)
    }

    async fn remove(
        &self,
        device: DeviceId,
        volume: VolumeId,
        extents: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError> {
        each!(self, n => ExtentNode::remove(n, device, volume, extents).await)
    }
}
