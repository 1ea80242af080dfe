//! An attached volume: the [`BlockDevice`] over thin, replicated,
//! copy-on-write extents.
//!
//! A request is cut at extent boundaries; each piece goes to the replicas
//! the volume keeps of the extent (`replicas`: the first `replica_count`
//! of the ring's; a clone reads its parent's extents where the parent keeps
//! them and writes its own where it keeps them). Reads resolve which
//! generation of which volume holds the extent (`map`, then the clone
//! parent's layers) and read zeros where none does. Writes go to the head
//! generation: an extent that exists only in an older generation is first
//! copied forward on each device, and one that exists only in the clone
//! parent is first filled from it. Every write, discard and flush carries
//! the lease's epoch.
//!
//! Writes, discards and copies succeed on a majority of the extent's
//! replicas (`replicas`); one that missed an acknowledged change is marked
//! degraded first (`degraded`: in the layer for readers, and durably in
//! the metadata group), reads skip degraded replicas, and
//! [`Volume::repair_degraded`] copies them back whole from a good one
//! (decision 0015). A flush succeeds when a majority of the replicas of
//! every extent changed since the last one flushed.
//!
//! A device the attach could not fence is marked for the whole volume
//! (`unfenced`, decision 0016): it is not read, its acknowledgements do
//! not count, and the repairer (`repair`) fences it, copies back every
//! extent it keeps a replica of, and only then clears the mark.

mod degraded;
mod map;
mod marks;
mod placement;
mod repair;
mod replicas;
mod unfenced;

pub use degraded::{Degraded, Mark, TABLE as DEGRADED_TABLE};
pub use map::{ExtentMap, Materialize};
pub use marks::forget_volume;
pub use placement::{ExtentPlacement, Fixed, Placements};
pub use unfenced::{Unfenced, TABLE as UNFENCED_TABLE};

use crate::device::{check_range, AllocRun, BlockDevice, BlockError, DeviceIdentity};
use async_trait::async_trait;
use bytes::{Bytes, BytesMut};
use cairn_base::VolumeId;
use cairn_meta_api::records::Records;
use cairn_nodeapi::{DeviceId, Epoch, ExtentKey, ExtentNode, ExtentWrite, NodeError};
use futures::future::join_all;
pub(crate) use replicas::block_error;
use replicas::{quorum_of, read_any, Fanout, Missed, ReplicaSet};
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};

/// Locks that serialize copy-on-write of one extent (by index, striped).
const COW_STRIPES: usize = 64;
/// Allocation runs after which an allocation query stops at the next
/// extent boundary.
const ALLOC_RUNS_ENOUGH: usize = 64;
/// Largest zero-filled piece written at once for WRITE ZEROES without unmap.
const ZERO_CHUNK: u32 = 1 << 20;

/// The storage a volume reads and writes through.
#[derive(Clone)]
pub struct Backend {
    pub nodes: Arc<dyn ExtentNode>,
    /// Where each volume's extents are (by the placement its record names).
    pub placements: Arc<dyn Placements>,
    /// Where degraded replicas are recorded (the metadata group's tables).
    pub records: Arc<dyn Records>,
}

impl Backend {
    /// Every extent of `volume` on the devices not in `skip`, and the
    /// devices among those that could not be listed. The map is complete
    /// as long as no extent has a majority of its replicas on devices
    /// left out (an extent exists on a majority of them).
    pub async fn load_map(
        &self,
        volume: VolumeId,
        placement: &dyn ExtentPlacement,
        skip: &[DeviceId],
    ) -> (ExtentMap, Vec<DeviceId>) {
        let devices: Vec<DeviceId> = placement
            .devices()
            .into_iter()
            .filter(|d| !skip.contains(d))
            .collect();
        let lists = join_all(devices.iter().map(|&d| self.nodes.list(d, volume))).await;
        let mut map = ExtentMap::default();
        let mut failed = Vec::new();
        for (d, l) in devices.into_iter().zip(lists) {
            match l {
                Ok(pairs) => pairs.into_iter().for_each(|(i, g)| map.insert(i, g)),
                Err(e) => {
                    tracing::warn!(volume = %volume, device = d.0, error = %e,
                        "listing a volume's extents failed");
                    failed.push(d);
                }
            }
        }
        (map, failed)
    }
}

/// One volume's extents as seen up to a generation, over the layers it
/// reads through to (a clone's parent snapshot, and so on).
pub struct Layer {
    pub volume: VolumeId,
    /// Where this volume's extents are.
    pub placement: Arc<dyn ExtentPlacement>,
    /// The copies this volume keeps of each extent (`None`: all).
    replica_count: Option<u8>,
    /// Readers see generations up to this one (the head, for a volume's
    /// own layer; a snapshot's generation otherwise).
    limit: AtomicU32,
    map: RwLock<ExtentMap>,
    /// This volume's extent replicas that missed acknowledged changes.
    pub degraded: Degraded,
    /// The devices an attach of this volume could not fence.
    pub unfenced: Unfenced,
    pub parent: Option<Arc<Layer>>,
}

/// Where a reader finds an extent: its key, and the layer of the volume
/// that wrote it (with its replica count and marks).
#[derive(Clone, Copy)]
struct Found<'a> {
    key: ExtentKey,
    layer: &'a Layer,
}

impl Layer {
    pub fn new(
        volume: VolumeId,
        placement: Arc<dyn ExtentPlacement>,
        replica_count: Option<u8>,
        limit: u32,
        map: ExtentMap,
        parent: Option<Arc<Layer>>,
    ) -> Self {
        Layer {
            volume,
            placement,
            replica_count,
            limit: AtomicU32::new(limit),
            map: RwLock::new(map),
            degraded: Degraded::default(),
            unfenced: Unfenced::default(),
            parent,
        }
    }

    fn map(&self) -> std::sync::RwLockReadGuard<'_, ExtentMap> {
        self.map.read().unwrap_or_else(|p| p.into_inner())
    }

    fn map_mut(&self) -> std::sync::RwLockWriteGuard<'_, ExtentMap> {
        self.map.write().unwrap_or_else(|p| p.into_inner())
    }

    /// The extent holding `index` for a reader of this layer, searching
    /// the parents; `None`: nothing was ever written there.
    fn resolve(&self, index: u64) -> Option<Found<'_>> {
        let limit = self.limit.load(Ordering::Acquire);
        match self.map().visible(index, limit) {
            Some(generation) => Some(Found {
                key: ExtentKey {
                    volume: self.volume,
                    index,
                    generation,
                },
                layer: self,
            }),
            None => self.parent.as_ref()?.resolve(index),
        }
    }

    /// Drops extents from the map (they were removed from the devices).
    pub fn forget(&self, extents: &[(u64, u32)]) {
        let mut m = self.map_mut();
        for &(i, g) in extents {
            m.remove(i, g);
        }
    }

    /// A copy of this layer's map.
    pub fn snapshot_map(&self) -> ExtentMap {
        self.map().clone()
    }

    /// Whether any replica of this volume waits for a repair.
    pub fn needs_repair(&self) -> bool {
        !self.degraded.is_empty() || !self.unfenced.is_empty()
    }
}

/// How a volume is opened.
pub struct Attachment {
    pub name: String,
    pub size: u64,
    pub extent_size: u32,
    /// The lease epoch writes carry; `None` opens the volume read-only.
    pub epoch: Option<Epoch>,
    pub layer: Arc<Layer>,
}

/// An attached volume (or a read-only view of a snapshot).
pub struct Volume {
    name: String,
    size: AtomicU64,
    extent_size: u32,
    epoch: Option<Epoch>,
    layer: Arc<Layer>,
    backend: Backend,
    /// Held shared by every write for its duration, exclusively while a
    /// snapshot moves the head generation.
    head: tokio::sync::RwLock<()>,
    cow: Vec<tokio::sync::Mutex<()>>,
    /// Held shared by every change of an extent (by index, striped),
    /// exclusively while a degraded replica of it is repaired, so no change
    /// lands between the repair's read of the good copy and its write.
    repairing: Vec<tokio::sync::RwLock<()>>,
    /// Extents (index, generation) changed since the last flush: a flush
    /// must reach a majority of each one's replicas.
    dirty: Mutex<HashSet<(u64, u32)>>,
}

/// One extent's part of a request.
#[derive(Debug, Clone, Copy)]
struct Piece {
    index: u64,
    offset: u32,
    len: u32,
    /// Where the piece starts in the request.
    at: u64,
}

impl Volume {
    pub fn new(a: Attachment, backend: Backend) -> Self {
        Volume {
            name: a.name,
            size: AtomicU64::new(a.size),
            extent_size: a.extent_size,
            epoch: a.epoch,
            layer: a.layer,
            backend,
            head: tokio::sync::RwLock::new(()),
            cow: (0..COW_STRIPES)
                .map(|_| tokio::sync::Mutex::new(()))
                .collect(),
            repairing: (0..COW_STRIPES)
                .map(|_| tokio::sync::RwLock::new(()))
                .collect(),
            dirty: Mutex::new(HashSet::new()),
        }
    }

    pub fn id(&self) -> VolumeId {
        self.layer.volume
    }

    pub fn epoch(&self) -> Option<Epoch> {
        self.epoch
    }

    pub fn layer(&self) -> &Arc<Layer> {
        &self.layer
    }

    /// Grows the device (the record was grown first).
    pub fn grow(&self, size: u64) {
        self.size.fetch_max(size, Ordering::SeqCst);
    }

    /// Moves writes to `generation` (a snapshot was just taken): waits for
    /// writes in flight, flushes them, then runs `take` (which records the
    /// snapshot) before any new write starts.
    pub async fn advance_generation<F, T>(&self, take: F) -> Result<T, BlockError>
    where
        F: std::future::Future<Output = Result<(T, u32), BlockError>>,
    {
        let _quiet = self.head.write().await;
        self.flush_all().await?;
        let (out, generation) = take.await?;
        self.layer.limit.store(generation, Ordering::Release);
        Ok(out)
    }

    fn epoch_or_read_only(&self) -> Result<Epoch, BlockError> {
        self.epoch.ok_or(BlockError::ReadOnly)
    }

    fn pieces(&self, offset: u64, len: u64) -> Vec<Piece> {
        let es = u64::from(self.extent_size);
        let mut out = Vec::new();
        let mut done = 0;
        while done < len {
            let pos = offset + done;
            let in_extent = pos % es;
            let n = (es - in_extent).min(len - done);
            out.push(Piece {
                index: pos / es,
                offset: in_extent as u32,
                len: n as u32,
                at: done,
            });
            done += n;
        }
        out
    }

    /// The replicas of extent `index` at `generation` of `layer`'s volume,
    /// with the marks on them.
    fn replica_set(&self, layer: &Layer, index: u64, generation: u32) -> ReplicaSet {
        let devices = layer
            .placement
            .kept_replicas(layer.volume, index, layer.replica_count);
        ReplicaSet {
            stale: layer.degraded.stale(index, generation, &devices),
            unfenced: layer.unfenced.among(&devices),
            devices,
        }
    }

    /// The devices of this volume's own copies of extent `index`.
    fn own_replicas(&self, index: u64) -> Vec<DeviceId> {
        self.layer
            .placement
            .kept_replicas(self.layer.volume, index, self.layer.replica_count)
    }

    fn head_key(&self, index: u64) -> ExtentKey {
        ExtentKey {
            volume: self.layer.volume,
            index,
            generation: self.layer.limit.load(Ordering::Acquire),
        }
    }

    /// The replicas a reader of `f` may read: neither degraded nor
    /// unfenced.
    fn readable(&self, f: &Found<'_>) -> Vec<DeviceId> {
        self.replica_set(f.layer, f.key.index, f.key.generation)
            .good()
    }

    async fn read_piece(&self, p: Piece) -> Result<Bytes, BlockError> {
        let Some(found) = self.layer.resolve(p.index) else {
            return Ok(zeros(p.len));
        };
        let key = found.key;
        let devices = self.readable(&found);
        let repair = self
            .epoch
            .filter(|_| key.volume == self.layer.volume)
            .map(|e| (e, self.extent_size));
        let start = (p.index as usize) % devices.len().max(1);
        read_any(
            &self.backend.nodes,
            &devices,
            start,
            key,
            (p.offset, p.len),
            repair,
        )
        .await
    }

    /// This volume's own replicas of extent `index` at `generation`.
    fn own_fanout(&self, index: u64, generation: u32) -> ReplicaSet {
        self.replica_set(&self.layer, index, generation)
    }

    /// After a change of extent `index` at `generation` reached its quorum:
    /// marks the replicas that missed it degraded (durably, before the
    /// change is acknowledged) and remembers the extent for the next flush.
    async fn settle(&self, index: u64, generation: u32, missed: Missed) -> Result<(), BlockError> {
        let marks: Vec<Mark> = missed
            .into_iter()
            .map(|device| Mark {
                index,
                generation,
                device,
            })
            .collect();
        self.record_marks(marks).await?;
        self.dirty_set().insert((index, generation));
        Ok(())
    }

    /// Records the marks among `marks` not already recorded (a write that
    /// misses a replica marked before costs no commit).
    async fn record_marks(&self, mut marks: Vec<Mark>) -> Result<(), BlockError> {
        marks.retain(|m| !self.layer.degraded.recorded(m));
        if marks.is_empty() {
            return Ok(());
        }
        self.layer
            .degraded
            .record(&*self.backend.records, self.layer.volume, &marks)
            .await
    }

    fn dirty_set(&self) -> std::sync::MutexGuard<'_, HashSet<(u64, u32)>> {
        self.dirty.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn repair_lock(&self, index: u64) -> &tokio::sync::RwLock<()> {
        &self.repairing[(index as usize) % COW_STRIPES]
    }

    /// Makes the extent exist at the head generation before a write that
    /// does not cover all of it.
    async fn materialize(&self, index: u64, epoch: Epoch) -> Result<(), BlockError> {
        let head = self.layer.limit.load(Ordering::Acquire);
        if self.layer.map().materialize(index, head) == Materialize::Ready {
            return Ok(());
        }
        let _one = self.cow[(index as usize) % COW_STRIPES].lock().await;
        let to = self.head_key(index);
        let plan = self.layer.map().materialize(index, head);
        match plan {
            Materialize::Ready => return Ok(()),
            Materialize::CopyFrom(generation) => {
                let from = ExtentKey { generation, ..to };
                // A replica degraded at the old generation, or on a device
                // not fenced, copies stale bytes forward: the new one is
                // degraded too (marked per extent: a repair of the unfenced
                // device may have passed this extent already).
                let set = self.own_fanout(index, generation);
                let fanout = Fanout {
                    nodes: &self.backend.nodes,
                    set: &set,
                };
                let mut missed = fanout.copy((from, to), self.extent_size, epoch).await?;
                let copied_stale: Vec<DeviceId> = set
                    .stale
                    .iter()
                    .chain(&set.unfenced)
                    .copied()
                    .filter(|d| !missed.contains(d))
                    .collect();
                missed.extend(copied_stale);
                self.settle(index, head, missed).await?;
            }
            Materialize::Absent => {
                let Some(parent) = self.layer.parent.as_ref() else {
                    return Ok(()); // the write creates it
                };
                if parent.resolve(index).is_none() {
                    return Ok(());
                }
                let whole = Piece {
                    index,
                    offset: 0,
                    len: self.extent_size,
                    at: 0,
                };
                let data = self.read_piece(whole).await?;
                let w = ExtentWrite {
                    extent_size: self.extent_size,
                    epoch,
                    offset: 0,
                    data,
                    fua: false,
                };
                let set = self.own_fanout(index, head);
                let fanout = Fanout {
                    nodes: &self.backend.nodes,
                    set: &set,
                };
                let missed = fanout.write(to, w).await?;
                self.settle(index, head, missed).await?;
            }
        }
        self.layer.map_mut().insert(index, head);
        Ok(())
    }

    async fn write_piece(&self, p: Piece, data: Bytes, fua: bool) -> Result<(), BlockError> {
        let _changing = self.repair_lock(p.index).read().await;
        self.write_piece_locked(p, data, fua).await
    }

    /// [`Self::write_piece`] under the extent's repair lock.
    async fn write_piece_locked(&self, p: Piece, data: Bytes, fua: bool) -> Result<(), BlockError> {
        let epoch = self.epoch_or_read_only()?;
        if p.len < self.extent_size {
            self.materialize(p.index, epoch).await?;
        }
        let key = self.head_key(p.index);
        let set = self.own_fanout(p.index, key.generation);
        let w = ExtentWrite {
            extent_size: self.extent_size,
            epoch,
            offset: p.offset,
            data,
            fua,
        };
        let fanout = Fanout {
            nodes: &self.backend.nodes,
            set: &set,
        };
        let missed = fanout.write(key, w).await?;
        self.settle(p.index, key.generation, missed).await?;
        self.layer.map_mut().insert(p.index, key.generation);
        Ok(())
    }

    async fn discard_piece(&self, p: Piece, fua: bool) -> Result<(), BlockError> {
        let epoch = self.epoch_or_read_only()?;
        if self.layer.resolve(p.index).is_none() {
            return Ok(()); // already reads as zeros
        }
        let _changing = self.repair_lock(p.index).read().await;
        let head = self.layer.limit.load(Ordering::Acquire);
        let at_head = self.layer.map().materialize(p.index, head) == Materialize::Ready;
        if !at_head && p.len == self.extent_size {
            // An empty extent at the head hides every older one.
            return self.write_piece_locked(p, Bytes::new(), fua).await;
        }
        self.materialize(p.index, epoch).await?;
        let key = self.head_key(p.index);
        let set = self.own_fanout(p.index, key.generation);
        let fanout = Fanout {
            nodes: &self.backend.nodes,
            set: &set,
        };
        let missed = fanout.discard(key, epoch, (p.offset, p.len), fua).await?;
        self.settle(p.index, key.generation, missed).await
    }

    /// Flushes every device, then checks that each extent changed since
    /// the last flush is durable on a majority of its replicas (unfenced
    /// devices do not count), at least one of them not degraded; a replica
    /// whose flush failed is marked degraded. On failure the extents stay owed to the next flush.
    async fn flush_all(&self) -> Result<(), BlockError> {
        let epoch = self.epoch_or_read_only()?;
        let volume = self.layer.volume;
        let dirty = std::mem::take(&mut *self.dirty_set());
        let devices = self.layer.placement.devices();
        let results = join_all(
            devices
                .iter()
                .map(|&d| self.backend.nodes.flush(d, volume, epoch)),
        )
        .await;
        let failed: HashMap<DeviceId, NodeError> = devices
            .into_iter()
            .zip(results)
            .filter_map(|(d, r)| r.err().map(|e| (d, e)))
            .collect();
        let outcome = self.settle_flush(&dirty, &failed).await;
        if outcome.is_err() {
            self.dirty_set().extend(dirty);
        }
        outcome
    }

    /// The verdict of a flush that failed on `failed`, for the extents in
    /// `dirty`; marks what it must.
    async fn settle_flush(
        &self,
        dirty: &HashSet<(u64, u32)>,
        failed: &HashMap<DeviceId, NodeError>,
    ) -> Result<(), BlockError> {
        if let Some(current) = failed.values().find_map(|e| match e {
            NodeError::Fenced { current } => Some(*current),
            _ => None,
        }) {
            return Err(BlockError::Fenced(current));
        }
        if failed.is_empty() {
            return Ok(());
        }
        let mut marks = Vec::new();
        for &(index, generation) in dirty {
            let set = self.own_fanout(index, generation);
            let devices = &set.devices;
            let flushed = devices
                .iter()
                .filter(|d| !failed.contains_key(d) && !set.unfenced.contains(d));
            let current = flushed.clone().filter(|d| !set.stale.contains(d)).count();
            if flushed.count() < quorum_of(devices.len()) || current == 0 {
                let why: Vec<String> = failed.values().map(ToString::to_string).collect();
                return Err(BlockError::Io(format!(
                    "flush reached too few replicas of extent {index}: {}",
                    why.join("; ")
                )));
            }
            marks.extend(
                devices
                    .iter()
                    .filter(|d| failed.contains_key(d))
                    .map(|&device| Mark {
                        index,
                        generation,
                        device,
                    }),
            );
        }
        self.record_marks(marks).await
    }

    async fn allocation_of(&self, p: Piece) -> Result<Vec<AllocRun>, BlockError> {
        let hole = vec![AllocRun {
            len: u64::from(p.len),
            allocated: false,
        }];
        let Some(found) = self.layer.resolve(p.index) else {
            return Ok(hole);
        };
        let key = found.key;
        let mut last = None;
        for d in self.readable(&found) {
            match self.backend.nodes.allocation(d, key, p.offset, p.len).await {
                Ok(Some(runs)) => return Ok(clip_runs(&runs, p.offset, p.len)),
                Ok(None) => {}
                Err(e) => last = Some(e),
            }
        }
        match last {
            Some(e) => Err(block_error(e)),
            None => Ok(hole),
        }
    }
}

/// Zeros, without allocating for the common sizes.
fn zeros(len: u32) -> Bytes {
    static ZEROS: [u8; 1 << 20] = [0; 1 << 20];
    match ZEROS.get(..len as usize) {
        Some(z) => Bytes::from_static(z),
        None => Bytes::from(vec![0u8; len as usize]),
    }
}

/// The allocation runs of `[offset, offset + len)` given an extent's data
/// runs `(start, end)`.
fn clip_runs(data: &[(u32, u32)], offset: u32, len: u32) -> Vec<AllocRun> {
    let end = offset + len;
    let mut out: Vec<AllocRun> = Vec::new();
    let mut push = |len: u32, allocated: bool| {
        if len == 0 {
            return;
        }
        match out.last_mut() {
            Some(r) if r.allocated == allocated => r.len += u64::from(len),
            _ => out.push(AllocRun {
                len: u64::from(len),
                allocated,
            }),
        }
    };
    let mut at = offset;
    for &(s, e) in data {
        let (s, e) = (s.max(offset), e.min(end));
        if s >= e {
            continue;
        }
        push(s - at, false);
        push(e - s, true);
        at = e;
    }
    push(end - at, false);
    out
}

#[async_trait]
impl BlockDevice for Volume {
    fn size(&self) -> u64 {
        self.size.load(Ordering::SeqCst)
    }

    fn identity(&self) -> DeviceIdentity {
        DeviceIdentity {
            name: self.name.clone(),
            uuid: self.layer.volume.0,
        }
    }

    fn read_only(&self) -> bool {
        self.epoch.is_none()
    }

    async fn read(&self, offset: u64, len: u32) -> Result<Bytes, BlockError> {
        check_range(offset, len.into(), self.size())?;
        let pieces = self.pieces(offset, len.into());
        if let [one] = pieces[..] {
            return self.read_piece(one).await;
        }
        let parts = join_all(pieces.iter().map(|&p| self.read_piece(p))).await;
        let mut out = BytesMut::with_capacity(len as usize);
        for part in parts {
            out.extend_from_slice(&part?);
        }
        Ok(out.freeze())
    }

    async fn write(&self, offset: u64, data: Bytes, fua: bool) -> Result<(), BlockError> {
        self.epoch_or_read_only()?;
        check_range(offset, data.len() as u64, self.size())?;
        let _head = self.head.read().await;
        let pieces = self.pieces(offset, data.len() as u64);
        let results = join_all(pieces.iter().map(|&p| {
            let part = data.slice(p.at as usize..(p.at + u64::from(p.len)) as usize);
            self.write_piece(p, part, fua)
        }))
        .await;
        results.into_iter().collect()
    }

    async fn flush(&self) -> Result<(), BlockError> {
        self.flush_all().await
    }

    async fn write_zeroes(
        &self,
        offset: u64,
        len: u64,
        may_unmap: bool,
        fua: bool,
    ) -> Result<(), BlockError> {
        self.epoch_or_read_only()?;
        check_range(offset, len, self.size())?;
        let _head = self.head.read().await;
        for p in self.pieces(offset, len) {
            if may_unmap {
                self.discard_piece(p, fua).await?;
                continue;
            }
            let mut done = 0;
            while done < p.len {
                let n = (p.len - done).min(ZERO_CHUNK);
                let part = Piece {
                    offset: p.offset + done,
                    len: n,
                    ..p
                };
                self.write_piece(part, zeros(n), fua).await?;
                done += n;
            }
        }
        Ok(())
    }

    async fn allocation(&self, offset: u64, len: u64) -> Result<Vec<AllocRun>, BlockError> {
        check_range(offset, len, self.size())?;
        let mut out: Vec<AllocRun> = Vec::new();
        for p in self.pieces(offset, len) {
            for r in self.allocation_of(p).await? {
                match out.last_mut() {
                    Some(last) if last.allocated == r.allocated => last.len += r.len,
                    _ => out.push(r),
                }
            }
            // Enough for one answer: a client asks again from where it ends
            // (qemu asks for one run at a time over the whole device).
            if out.len() > ALLOC_RUNS_ENOUGH {
                break;
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
pub(crate) mod testing;
#[cfg(test)]
mod tests;
