//! The block gateway: attaches volumes for the protocol servers
//! ([`Exports`]) and carries out the volume operations (create, clone,
//! resize, snapshot, delete) against the metadata service and the storage.
//!
//! Attaching takes the volume's lease through Raft (a new epoch), raises
//! the fence on every device to that epoch, loads the extent map and the
//! volume's marks (degraded replicas, unfenced devices), and starts the
//! volume's repairer, which brings marked replicas back from good ones
//! every [`REPAIR_INTERVAL`] while any remain. A device that does not
//! answer the fence or the listing does not stop the attach as long as
//! every extent keeps a majority of its replicas on devices that did: it
//! is recorded as unfenced for the volume (in Raft, before the attach
//! completes), and so never read until the repairer has fenced and
//! repaired it (decision 0016). The
//! volume stays attached, shared by every connection to it, until it is
//! deleted or the gateway shuts down. Export names are volume names, and
//! `volume@snapshot` for a read-only view of a snapshot.

use crate::device::{BlockDevice, BlockError, ExportSummary, Exports, SECTOR};
use crate::volume::{
    block_error, forget_volume, Attachment, Backend, ExtentPlacement, Layer, Volume,
};
use async_trait::async_trait;
use cairn_base::{Clock, SystemClock, VolumeId};
use cairn_meta_api::{MetaError, NewVolume, ParentRef, VolumeMetadata, VolumeRecord};
use cairn_nodeapi::{DeviceId, Epoch, NodeError};
use futures::future::join_all;
use std::collections::HashMap;
use std::sync::Arc;

/// Default bytes per extent.
pub const DEFAULT_EXTENT_SIZE: u32 = 4 << 20;
/// How often an attached volume's repairer looks for degraded replicas.
pub const REPAIR_INTERVAL: std::time::Duration = std::time::Duration::from_secs(2);
/// Separates a volume from a snapshot in an export name.
const SNAPSHOT_SEP: char = '@';

/// Why a volume operation failed.
#[derive(Debug, thiserror::Error)]
pub enum VolumeError {
    #[error(transparent)]
    Meta(#[from] MetaError),
    #[error(transparent)]
    Block(#[from] BlockError),
    #[error("{0}")]
    Invalid(String),
}

/// Where a new volume's contents come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Source {
    Empty,
    /// A clone of the volume's snapshot.
    Snapshot {
        volume: String,
        snapshot: String,
    },
    /// A clone of the volume as it is now (through an internal snapshot).
    Volume(String),
}

/// What `create` needs.
#[derive(Debug, Clone)]
pub struct CreateVolume {
    pub name: String,
    pub account: String,
    /// Bytes; `None` takes the source's size.
    pub size: Option<u64>,
    pub source: Source,
    /// Copies kept of each extent, 1 to the ring's replica count; `None`
    /// keeps the source's count (a clone) or every replica (a new volume).
    pub replica_count: Option<u8>,
}

pub struct Gateway {
    meta: Arc<dyn VolumeMetadata>,
    backend: Backend,
    /// This gateway's name in leases.
    holder: String,
    attached: tokio::sync::Mutex<HashMap<VolumeId, Arc<Volume>>>,
}

fn to_block(e: MetaError) -> BlockError {
    match e {
        MetaError::VolumeNotFound | MetaError::SnapshotNotFound => {
            BlockError::NoSuchExport(e.to_string())
        }
        other => BlockError::Io(other.to_string()),
    }
}

/// The internal snapshot a volume-to-volume clone named `clone` reads.
fn clone_snapshot_name(clone: &str) -> String {
    format!(".clone-{clone}")
}

impl Gateway {
    /// A gateway named `holder` (stable across restarts). Leases this
    /// holder still has from a previous run are released: nothing of that
    /// run is attached any more.
    pub async fn start(
        meta: Arc<dyn VolumeMetadata>,
        backend: Backend,
        holder: &str,
    ) -> Result<Arc<Self>, VolumeError> {
        for v in meta.list_volumes().await? {
            if let Some(l) = v.lease.as_ref().filter(|l| l.holder == holder) {
                meta.release_lease(v.id, holder, l.epoch).await?;
            }
        }
        Ok(Arc::new(Gateway {
            meta,
            backend,
            holder: holder.to_owned(),
            attached: tokio::sync::Mutex::new(HashMap::new()),
        }))
    }

    /// Every volume, by name.
    pub async fn list(&self) -> Result<Vec<VolumeRecord>, VolumeError> {
        Ok(self.meta.list_volumes().await?)
    }

    /// The volume by name or id.
    pub async fn show(&self, name: &str) -> Result<VolumeRecord, VolumeError> {
        Ok(self.meta.volume(name).await?)
    }

    /// The most copies a volume can keep: the ring's replica count.
    pub fn replica_count_max(&self) -> usize {
        self.backend.placements.replica_count()
    }

    /// Where volume `rec`'s extents are.
    async fn placement_of(
        &self,
        rec: &VolumeRecord,
    ) -> Result<Arc<dyn ExtentPlacement>, BlockError> {
        self.backend.placements.placement(rec.placement).await
    }

    /// The layers a reader of volume `rec` at `limit` reads: its own
    /// extents, then its parent snapshot's, and so on. Devices in `down`
    /// are not listed; those that fail their listing join them. Refused
    /// when some extent may have fewer than a majority of its replicas up:
    /// it could not be written (nor, with a majority down, be trusted to
    /// be listed).
    async fn layer(
        &self,
        rec: &VolumeRecord,
        limit: u32,
        down: &mut Vec<DeviceId>,
    ) -> Result<Arc<Layer>, BlockError> {
        let placement = self.placement_of(rec).await?;
        let (map, failed) = self.backend.load_map(rec.id, &*placement, down).await;
        down.extend(failed);
        if let Some(lost) = placement.majority_lost(down, rec.replica_count) {
            let ids = |ds: &[DeviceId]| ds.iter().map(|d| d.0).collect::<Vec<_>>();
            return Err(BlockError::Io(format!(
                "volume {}: devices {:?} do not answer, which leaves fewer than a majority of \
                 the replicas on {:?}; a volume is served only while every extent keeps one",
                rec.name,
                ids(down),
                ids(&lost)
            )));
        }
        let parent_layer = match rec.parent {
            None => None,
            Some(p) => {
                let parent = self
                    .meta
                    .volume(&p.volume.to_string())
                    .await
                    .map_err(to_block)?;
                Some(Box::pin(self.layer(&parent, p.generation, down)).await?)
            }
        };
        let layer = Layer::new(
            rec.id,
            placement,
            rec.replica_count,
            limit,
            map,
            parent_layer,
        );
        let records = &*self.backend.records;
        layer.degraded.load(records, rec.id).await?;
        layer.unfenced.load(records, rec.id).await?;
        Ok(Arc::new(layer))
    }

    /// Raises volume `id`'s fence to `epoch` on every device; returns the
    /// devices that did not answer, with why. A device holding a newer
    /// fence fails the attach: a newer lease exists.
    async fn fence_all(
        &self,
        rec: &VolumeRecord,
        epoch: Epoch,
    ) -> Result<Vec<(DeviceId, NodeError)>, BlockError> {
        let id = rec.id;
        let devices = self.placement_of(rec).await?.devices();
        let fences = join_all(
            devices
                .iter()
                .map(|&d| self.backend.nodes.fence(d, id, epoch)),
        )
        .await;
        let mut down = Vec::new();
        for (d, f) in devices.into_iter().zip(fences) {
            match f {
                Ok(()) => {}
                Err(e @ NodeError::Fenced { .. }) => return Err(block_error(e)),
                Err(e) => {
                    tracing::warn!(volume = %id, device = d.0, error = %e,
                        "raising a volume's fence failed");
                    down.push((d, e));
                }
            }
        }
        Ok(down)
    }

    async fn attach(&self, name: &str) -> Result<Arc<Volume>, BlockError> {
        let rec = self.meta.volume(name).await.map_err(to_block)?;
        let mut attached = self.attached.lock().await;
        if let Some(v) = attached.get(&rec.id) {
            return Ok(v.clone());
        }
        let rec = self
            .meta
            .acquire_lease(rec.id, &self.holder)
            .await
            .map_err(to_block)?;
        let epoch = Epoch(rec.epoch);
        let unfenced = self.fence_all(&rec, epoch).await?;
        let mut down: Vec<DeviceId> = unfenced.iter().map(|(d, _)| *d).collect();
        let layer = match self.layer(&rec, rec.generation, &mut down).await {
            Ok(layer) => layer,
            // A refusal says why the fences failed.
            Err(BlockError::Io(why)) if !unfenced.is_empty() => {
                let failures: Vec<String> = unfenced
                    .iter()
                    .map(|(d, e)| format!("device {}: {e}", d.0))
                    .collect();
                return Err(BlockError::Io(format!(
                    "{why} (fences failed: {})",
                    failures.join("; ")
                )));
            }
            Err(e) => return Err(e),
        };
        if !down.is_empty() {
            // Before anything is served: these devices may hold anything
            // older than this lease and take an older gateway's writes.
            let records = &*self.backend.records;
            layer.unfenced.record(records, rec.id, &down, epoch).await?;
        }
        tracing::info!(volume = %rec.name, id = %rec.id, epoch = epoch.0, "volume attached");
        let v = Arc::new(Volume::new(
            Attachment {
                name: rec.name.clone(),
                size: rec.size,
                extent_size: rec.extent_size,
                epoch: Some(epoch),
                layer,
            },
            self.backend.clone(),
        ));
        attached.insert(rec.id, v.clone());
        spawn_repairer(&v);
        Ok(v)
    }

    async fn open_snapshot(&self, volume: &str, snap: &str) -> Result<Arc<Volume>, BlockError> {
        let rec = self.meta.volume(volume).await.map_err(to_block)?;
        let s = rec
            .snapshot(snap)
            .ok_or_else(|| BlockError::NoSuchExport(format!("{volume}{SNAPSHOT_SEP}{snap}")))?;
        let layer = self.layer(&rec, s.generation, &mut Vec::new()).await?;
        Ok(Arc::new(Volume::new(
            Attachment {
                name: format!("{}{SNAPSHOT_SEP}{}", rec.name, s.name),
                size: s.size,
                extent_size: rec.extent_size,
                epoch: None,
                layer,
            },
            self.backend.clone(),
        )))
    }

    /// Creates a volume, empty or as an instant clone.
    pub async fn create(&self, req: CreateVolume) -> Result<VolumeRecord, VolumeError> {
        if !valid_name(&req.name) {
            return Err(VolumeError::Invalid(format!(
                "invalid volume name {:?}: {NAME_RULE}",
                req.name
            )));
        }
        self.check_replica_count(req.replica_count)?;
        // The source's shape: its snapshot, size, extent size and count.
        let (parent, source_size, extent_size, source_count) = match &req.source {
            Source::Empty => (None, None, DEFAULT_EXTENT_SIZE, None),
            Source::Snapshot { volume, snapshot } => {
                let rec = self.meta.volume(volume).await?;
                let s = rec.snapshot(snapshot).ok_or(MetaError::SnapshotNotFound)?;
                let p = ParentRef {
                    volume: rec.id,
                    generation: s.generation,
                };
                (Some(p), Some(s.size), rec.extent_size, rec.replica_count)
            }
            Source::Volume(volume) => {
                let rec = self
                    .snapshot(volume, &clone_snapshot_name(&req.name), true)
                    .await?;
                let s = rec
                    .snapshot(&clone_snapshot_name(&req.name))
                    .ok_or(MetaError::SnapshotNotFound)?;
                let p = ParentRef {
                    volume: rec.id,
                    generation: s.generation,
                };
                (Some(p), Some(s.size), rec.extent_size, rec.replica_count)
            }
        };
        let size = match (req.size, source_size) {
            (Some(s), Some(src)) if s < src => {
                return Err(VolumeError::Invalid(format!(
                    "a clone cannot be smaller than its source ({src} bytes)"
                )))
            }
            (Some(s), _) => s,
            (None, Some(src)) => src,
            (None, None) => return Err(VolumeError::Invalid("a new volume needs a size".into())),
        };
        check_size(size)?;
        let placement = self.backend.placements.newest().await?;
        let created = self
            .meta
            .create_volume(NewVolume {
                id: VolumeId(rand_id()),
                name: req.name.clone(),
                account: req.account,
                size,
                extent_size,
                created: SystemClock.now(),
                parent,
                replica_count: req.replica_count.or(source_count),
                placement,
            })
            .await;
        if created.is_err() {
            if let Source::Volume(v) = &req.source {
                let _ = self
                    .delete_snapshot(v, &clone_snapshot_name(&req.name))
                    .await;
            }
        }
        Ok(created?)
    }

    /// A count a volume can keep: 1 to the ring's replica count.
    fn check_replica_count(&self, replica_count: Option<u8>) -> Result<(), VolumeError> {
        let max = self.replica_count_max();
        match replica_count {
            Some(n) if n == 0 || usize::from(n) > max => Err(VolumeError::Invalid(format!(
                "a volume keeps 1 to {max} replicas, not {n}"
            ))),
            _ => Ok(()),
        }
    }

    /// Grows a volume, attached or not.
    pub async fn resize(&self, name: &str, size: u64) -> Result<VolumeRecord, VolumeError> {
        check_size(size)?;
        let rec = self.meta.volume(name).await?;
        let rec = self.meta.resize_volume(rec.id, size).await?;
        if let Some(v) = self.attached.lock().await.get(&rec.id) {
            v.grow(rec.size);
        }
        Ok(rec)
    }

    /// Takes a snapshot; an attached volume is quiesced and flushed first,
    /// so the snapshot holds every write acknowledged before it.
    pub async fn snapshot(
        &self,
        name: &str,
        snap: &str,
        internal: bool,
    ) -> Result<VolumeRecord, VolumeError> {
        if snap.is_empty() || snap.contains(SNAPSHOT_SEP) || (!internal && snap.starts_with('.')) {
            return Err(VolumeError::Invalid(format!(
                "invalid snapshot name {snap:?}"
            )));
        }
        let rec = self.meta.volume(name).await?;
        let attached = self.attached.lock().await.get(&rec.id).cloned();
        let take = async {
            let r = self
                .meta
                .create_snapshot(rec.id, snap, internal, SystemClock.now())
                .await
                .map_err(to_block)?;
            let generation = r.generation;
            Ok((r, generation))
        };
        match attached {
            Some(v) => Ok(v.advance_generation(take).await?),
            None => Ok(take.await?.0),
        }
    }

    /// Deletes a snapshot and the extents nothing reads any more.
    pub async fn delete_snapshot(
        &self,
        name: &str,
        snap: &str,
    ) -> Result<VolumeRecord, VolumeError> {
        let rec = self.meta.volume(name).await?;
        let rec = self.meta.delete_snapshot(rec.id, snap).await?;
        let attached = self.attached.lock().await.get(&rec.id).cloned();
        // A map missing a device's extents finds less garbage, never more:
        // a generation left out only lets an older one be seen longer.
        let map = match &attached {
            Some(v) => v.layer().snapshot_map(),
            None => {
                let placement = self.placement_of(&rec).await?;
                self.backend.load_map(rec.id, &*placement, &[]).await.0
            }
        };
        let mut readers: Vec<u32> = rec.snapshots.iter().map(|s| s.generation).collect();
        readers.push(rec.generation);
        let garbage = map.unreachable(&readers);
        if !garbage.is_empty() {
            self.remove_extents(&rec, Some(&garbage)).await?;
            if let Some(v) = attached {
                v.layer().forget(&garbage);
            }
        }
        Ok(rec)
    }

    async fn remove_extents(
        &self,
        rec: &VolumeRecord,
        which: Option<&[(u64, u32)]>,
    ) -> Result<(), VolumeError> {
        let results = join_all(
            self.placement_of(rec)
                .await?
                .devices()
                .into_iter()
                .map(|d| self.backend.nodes.remove(d, rec.id, which)),
        )
        .await;
        for r in results {
            r.map_err(block_error)?;
        }
        Ok(())
    }

    /// Deletes a volume and its extents. Refused while it has snapshots or
    /// while a connection uses it.
    pub async fn delete(&self, name: &str) -> Result<(), VolumeError> {
        let rec = self.meta.volume(name).await?;
        if rec.snapshots.iter().any(|s| !s.internal) || rec.snapshots.iter().any(|s| s.clones > 0) {
            return Err(MetaError::VolumeBusy(
                "the volume has snapshots; delete them first".into(),
            )
            .into());
        }
        {
            let mut attached = self.attached.lock().await;
            if let Some(v) = attached.get(&rec.id) {
                if Arc::strong_count(v) > 1 {
                    return Err(MetaError::VolumeBusy("the volume is in use".into()).into());
                }
                let epoch = v.epoch().map_or(0, |e| e.0);
                attached.remove(&rec.id);
                self.meta.release_lease(rec.id, &self.holder, epoch).await?;
            }
        }
        let rec = self.meta.volume(name).await?;
        if let Some(l) = &rec.lease {
            return Err(
                MetaError::VolumeBusy(format!("the volume is attached by {}", l.holder)).into(),
            );
        }
        self.remove_extents(&rec, None).await?;
        forget_volume(&*self.backend.records, rec.id).await?;
        let gone = self.meta.delete_volume(rec.id).await?;
        if let Some(p) = gone.parent {
            let parent = self.meta.volume(&p.volume.to_string()).await?;
            let internal = parent
                .snapshots
                .iter()
                .find(|s| s.generation == p.generation && s.internal && s.clones == 0);
            if let Some(s) = internal {
                self.delete_snapshot(&parent.name, &s.name.clone()).await?;
            }
        }
        Ok(())
    }

    /// Flushes and releases every attached volume (shutdown).
    pub async fn detach_all(&self) {
        let attached: Vec<_> = self.attached.lock().await.drain().collect();
        for (id, v) in attached {
            if let Err(e) = v.flush().await {
                tracing::warn!(volume = %id, error = %e, "flush at detach failed");
            }
            if let Some(epoch) = v.epoch() {
                if let Err(e) = self.meta.release_lease(id, &self.holder, epoch.0).await {
                    tracing::warn!(volume = %id, error = %e, "releasing a lease failed");
                }
            }
        }
    }
}

const NAME_RULE: &str =
    "1 to 128 letters, digits, '.', '_' or '-', starting with a letter or digit";

/// Names that are valid as NBD export names, in URLs, and in iSCSI
/// target names.
fn valid_name(name: &str) -> bool {
    let mut chars = name.chars();
    name.len() <= 128
        && chars.next().is_some_and(|c| c.is_ascii_alphanumeric())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
}

fn check_size(size: u64) -> Result<(), VolumeError> {
    if size == 0 || !size.is_multiple_of(u64::from(SECTOR)) {
        return Err(VolumeError::Invalid(format!(
            "a volume's size must be a positive multiple of {SECTOR} bytes, not {size}"
        )));
    }
    Ok(())
}

/// A random (version 4) UUID.
fn rand_id() -> [u8; 16] {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    b
}

#[async_trait]
impl Exports for Gateway {
    async fn list(&self) -> Result<Vec<String>, BlockError> {
        let mut names = Vec::new();
        for v in self.meta.list_volumes().await.map_err(to_block)? {
            for s in v.snapshots.iter().filter(|s| !s.internal) {
                names.push(format!("{}{SNAPSHOT_SEP}{}", v.name, s.name));
            }
            names.push(v.name);
        }
        names.sort();
        Ok(names)
    }

    async fn describe(&self, name: &str) -> Result<ExportSummary, BlockError> {
        let (volume, snap) = match name.split_once(SNAPSHOT_SEP) {
            Some((v, s)) => (v, Some(s)),
            None => (name, None),
        };
        let rec = self.meta.volume(volume).await.map_err(to_block)?;
        match snap {
            Some(s) => rec
                .snapshot(s)
                .map(|s| ExportSummary {
                    size: s.size,
                    read_only: true,
                })
                .ok_or_else(|| BlockError::NoSuchExport(name.to_owned())),
            None => Ok(ExportSummary {
                size: rec.size,
                read_only: false,
            }),
        }
    }

    async fn open(&self, name: &str) -> Result<Arc<dyn BlockDevice>, BlockError> {
        let device: Arc<dyn BlockDevice> = match name.split_once(SNAPSHOT_SEP) {
            Some((volume, snap)) => self.open_snapshot(volume, snap).await?,
            None => self.attach(name).await?,
        };
        Ok(device)
    }
}

/// Repairs `v`'s marked replicas now and then every [`REPAIR_INTERVAL`]
/// while the volume is attached anywhere in this process.
fn spawn_repairer(v: &Arc<Volume>) {
    let weak = Arc::downgrade(v);
    tokio::spawn(async move {
        loop {
            let Some(v) = weak.upgrade() else { return };
            if v.layer().needs_repair() {
                let left = v.repair_degraded().await;
                tracing::debug!(volume = %v.id(), left, "degraded replicas left");
            }
            drop(v);
            tokio::time::sleep(REPAIR_INTERVAL).await;
        }
    });
}

#[cfg(test)]
mod tests;
