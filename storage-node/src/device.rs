//! `Device`: one local disk's engine state (index, segment files, counters,
//! poison flag, partition digests, the writer's queue), and its recovery on open.
//!
//! Recovery: the index is the truth. Segment bytes past the last record it
//! references were never acked and are cut off; segments it does not
//! reference at all are deleted, as are blob files it does not reference.

use crate::config::NodeConfig;
use crate::digest_cache::DigestCache;
use crate::entry::{Entry, Location};
use crate::index::{Index, ScanItem};
use crate::writer::{self, WriteOp, WriteReq, WriterState};
use crate::{DeviceStats, EngineError};
use cairn_diskio::{DiskFile, DiskIo, OpenMode};
use cairn_nodeapi::{DeviceId, NodeError};
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use tokio::sync::{mpsc, oneshot};

/// Requests queued to one device's writer before senders wait.
pub(crate) const WRITE_QUEUE_MAX: usize = 4096;
/// `active_segment` when the writer has none open.
pub(crate) const NO_SEGMENT: u64 = u64::MAX;

/// Engine tunables a device needs, copied from the node config.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Params {
    pub group_commit_max: usize,
    pub inline_max_bytes: u64,
    pub segment_size_bytes: u64,
    pub reserve_bytes: u64,
    pub compaction_dead_percent: u8,
}

impl Params {
    pub fn from_config(c: &NodeConfig) -> Self {
        Params {
            group_commit_max: c.group_commit_max,
            inline_max_bytes: c.inline_object_max_bytes,
            segment_size_bytes: c.segment_size_bytes,
            reserve_bytes: c.fallocate_reserve_bytes,
            compaction_dead_percent: c.compaction_dead_percent,
        }
    }
}

/// Bytes in one segment, and how many of them belong to live records.
#[derive(Debug, Clone, Copy, Default)]
pub(crate) struct SegStats {
    pub len: u64,
    pub live: u64,
}

/// Counters kept by the writer (the only mutator) and read by stats/compaction.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub segs: HashMap<u64, SegStats>,
    pub objects: u64,
    pub quarantined: u64,
    pub blob_bytes: u64,
}

pub(crate) struct Device<D: DiskIo> {
    pub id: DeviceId,
    pub root: PathBuf,
    pub io: Arc<D>,
    pub index: Index,
    pub params: Params,
    poison: OnceLock<String>,
    /// Open segment files by id, for readers (the writer adds, compaction removes).
    pub segments: RwLock<HashMap<u64, DiskFile>>,
    pub counters: Mutex<Counters>,
    pub next_blob_id: AtomicU64,
    pub active_segment: AtomicU64,
    pub free_bytes: AtomicU64,
    /// Held by a compaction pass: one at a time per device.
    pub compaction: tokio::sync::Mutex<()>,
    /// Partition digests for replication, kept up to date by the writer.
    pub digests: DigestCache,
    /// The writer task, awaited at shutdown so the index is closed after it.
    pub writer_task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    writer_tx: mpsc::Sender<WriteReq>,
}

impl<D: DiskIo> Device<D> {
    pub fn segments_dir(&self) -> PathBuf {
        self.root.join("segments")
    }

    pub fn blobs_dir(&self) -> PathBuf {
        self.root.join("blobs")
    }

    pub fn segment_path(&self, id: u64) -> PathBuf {
        segment_path(&self.root, id)
    }

    pub fn blob_path(&self, id: u64) -> PathBuf {
        self.blobs_dir().join(format!("{id:016x}.blob"))
    }

    /// `Err(DeviceUnavailable)` once the device is poisoned or shut down.
    pub fn check_usable(&self) -> Result<(), NodeError> {
        match self.poison.get() {
            Some(reason) => Err(NodeError::DeviceUnavailable(reason.clone())),
            None => Ok(()),
        }
    }

    /// Stops the device for good: an fsync failed (never retried: the page
    /// cache may have dropped the dirty pages) or the index could not be
    /// written. Repair comes from the other replicas.
    pub fn poison(&self, reason: String) {
        if self.poison.set(reason.clone()).is_ok() {
            tracing::error!(device = self.id.0, %reason, "device poisoned");
        }
    }

    /// Marks the device shut down (not an error: nothing is logged).
    pub fn stop(&self) {
        let _ = self.poison.set("device shut down".into());
    }

    /// Sends `op` to the writer and waits for its outcome.
    pub async fn submit(&self, op: WriteOp) -> Result<writer::Outcome, NodeError> {
        self.check_usable()?;
        self.submit_unchecked(op).await
    }

    /// Queues every op before waiting for any, so they share group commits;
    /// the outcomes come back in the order of `ops`.
    pub async fn submit_all(&self, ops: Vec<WriteOp>) -> Vec<Result<writer::Outcome, NodeError>> {
        let gone = || NodeError::DeviceUnavailable("device writer stopped".into());
        let mut waiting = Vec::with_capacity(ops.len());
        for op in ops {
            if let Err(e) = self.check_usable() {
                waiting.push(Err(e));
                continue;
            }
            let (done, rx) = oneshot::channel();
            match self.writer_tx.send(WriteReq { op, done }).await {
                Ok(()) => waiting.push(Ok(rx)),
                Err(_) => waiting.push(Err(gone())),
            }
        }
        let mut out = Vec::with_capacity(waiting.len());
        for w in waiting {
            out.push(match w {
                Ok(rx) => rx.await.unwrap_or_else(|_| Err(gone())),
                Err(e) => Err(e),
            });
        }
        out
    }

    /// Like `submit`, even to a poisoned device (for `Stop`).
    pub async fn submit_unchecked(&self, op: WriteOp) -> Result<writer::Outcome, NodeError> {
        let (done, rx) = oneshot::channel();
        let gone = || NodeError::DeviceUnavailable("device writer stopped".into());
        self.writer_tx
            .send(WriteReq { op, done })
            .await
            .map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// The segment file `id`, if it still exists.
    pub fn segment_file(&self, id: u64) -> Option<DiskFile> {
        let map = self.segments.read().unwrap_or_else(|p| p.into_inner());
        map.get(&id).cloned()
    }

    pub fn stats(&self) -> DeviceStats {
        let c = self.counters.lock().unwrap_or_else(|p| p.into_inner());
        let seg_bytes: u64 = c.segs.values().map(|s| s.len).sum();
        let live: u64 = c.segs.values().map(|s| s.live).sum();
        DeviceStats {
            device: self.id,
            used_bytes: seg_bytes + c.blob_bytes,
            free_bytes: self.free_bytes.load(Ordering::Relaxed),
            object_count: c.objects,
            quarantined_count: c.quarantined,
            segment_count: c.segs.len() as u64,
            dead_bytes: seg_bytes - live.min(seg_bytes),
            poisoned: self.poison.get().is_some(),
        }
    }
}

pub(crate) fn segment_path(root: &Path, id: u64) -> PathBuf {
    root.join("segments").join(format!("{id:016x}.seg"))
}

/// What recovery learns from the index.
#[derive(Default)]
struct Found {
    counters: Counters,
    /// Per segment: end of the last indexed record.
    seg_ends: HashMap<u64, u64>,
    blobs: HashSet<u64>,
}

impl Found {
    fn add(&mut self, entry: &Entry, live: bool) {
        match entry.loc {
            Location::Segment {
                id,
                offset,
                record_len,
                ..
            } => {
                let end = self.seg_ends.entry(id).or_default();
                *end = (*end).max(offset + record_len);
                if live {
                    self.counters.segs.entry(id).or_default().live += record_len;
                }
            }
            Location::Blob { id } => {
                self.blobs.insert(id);
                if live {
                    self.counters.blob_bytes += entry.meta.content_length;
                }
            }
            Location::None => {}
        }
    }
}

/// Opens (creating if needed) the device at `root`, recovers it, and starts
/// its writer.
pub(crate) async fn open<D: DiskIo>(
    id: DeviceId,
    root: &Path,
    io: Arc<D>,
    params: Params,
) -> Result<Arc<Device<D>>, EngineError> {
    for d in [root.join("segments"), root.join("blobs")] {
        io.create_dir_all(&d)
            .await
            .map_err(|e| EngineError::io(&d, e))?;
    }
    let index_path = root.join("index");
    let index = tokio::task::spawn_blocking(move || Index::open(&index_path))
        .await
        .map_err(|e| EngineError::Index(e.to_string()))??;
    let mut found = Found::default();
    let idx = index.clone();
    let scan = tokio::task::spawn_blocking(move || {
        idx.scan(|item| match item {
            ScanItem::Object(e) => {
                if e.is_live() {
                    found.counters.objects += 1;
                }
                found.add(&e, e.is_live());
            }
            ScanItem::Quarantined(e) => {
                found.counters.quarantined += 1;
                found.add(&e, false);
            }
        })
        .map(|()| found)
    });
    let mut found = scan
        .await
        .map_err(|e| EngineError::Index(e.to_string()))??;
    let (segments, next_segment) = recover_segments(&*io, root, &mut found).await?;
    let next_blob = recover_blobs(&*io, root, &found.blobs).await?;
    let free = io.free_space(root).await.unwrap_or(0);
    let (writer_tx, rx) = mpsc::channel(WRITE_QUEUE_MAX);
    let dev = Arc::new(Device {
        id,
        root: root.to_owned(),
        io,
        index,
        params,
        poison: OnceLock::new(),
        segments: RwLock::new(segments),
        counters: Mutex::new(found.counters),
        next_blob_id: AtomicU64::new(next_blob),
        active_segment: AtomicU64::new(NO_SEGMENT),
        free_bytes: AtomicU64::new(free),
        compaction: tokio::sync::Mutex::new(()),
        digests: DigestCache::default(),
        writer_task: Mutex::new(None),
        writer_tx,
    });
    // Keep appending to the newest segment if it has room, so restarts do
    // not leave a trail of small segments.
    let resume = {
        let c = dev.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.segs
            .iter()
            .max_by_key(|(id, _)| **id)
            .filter(|(id, s)| **id + 1 == next_segment && s.len < params.segment_size_bytes)
            .map(|(id, s)| (*id, s.len))
    };
    if let Some((id, _)) = resume {
        dev.active_segment.store(id, Ordering::Release);
    }
    let state = WriterState::new(next_segment, resume);
    let task = tokio::spawn(writer::run(dev.clone(), rx, state));
    *dev.writer_task.lock().unwrap_or_else(|p| p.into_inner()) = Some(task);
    tracing::info!(device = id.0, root = %root.display(), "device open");
    Ok(dev)
}

/// Opens every indexed segment, cutting off bytes past its last indexed
/// record; deletes unindexed segments. Returns the open files and the next
/// free segment id.
async fn recover_segments<D: DiskIo>(
    io: &D,
    root: &Path,
    found: &mut Found,
) -> Result<(HashMap<u64, DiskFile>, u64), EngineError> {
    let dir = root.join("segments");
    let mut files = HashMap::new();
    let mut next = 0;
    for path in io
        .list_dir(&dir)
        .await
        .map_err(|e| EngineError::io(&dir, e))?
    {
        let Some(id) = file_id(&path, "seg") else {
            continue;
        };
        next = next.max(id + 1);
        let Some(&end) = found.seg_ends.get(&id) else {
            tracing::info!(path = %path.display(), "removing unreferenced segment");
            io.remove_file(&path)
                .await
                .map_err(|e| EngineError::io(&path, e))?;
            continue;
        };
        let f = io
            .open(&path, OpenMode::ReadWrite)
            .await
            .map_err(|e| EngineError::io(&path, e))?;
        let size = io.size(&f).await.map_err(|e| EngineError::io(&path, e))?;
        if size > end {
            // Never acked (or preallocated): cut it off so it cannot be mistaken
            // for data, and return the space.
            io.set_len(&f, end)
                .await
                .map_err(|e| EngineError::io(&path, e))?;
            io.sync_all(&f)
                .await
                .map_err(|e| EngineError::io(&path, e))?;
        }
        found.counters.segs.entry(id).or_default().len = end.min(size);
        files.insert(id, f);
    }
    // An indexed segment whose file is missing keeps counters for nothing.
    found.counters.segs.retain(|id, _| files.contains_key(id));
    io.sync_dir(&dir)
        .await
        .map_err(|e| EngineError::io(&dir, e))?;
    Ok((files, next))
}

/// Deletes blob files the index does not reference (puts that never
/// committed); returns the next free blob id.
async fn recover_blobs<D: DiskIo>(
    io: &D,
    root: &Path,
    referenced: &HashSet<u64>,
) -> Result<u64, EngineError> {
    let dir = root.join("blobs");
    let mut next = referenced.iter().map(|i| i + 1).max().unwrap_or(0);
    for path in io
        .list_dir(&dir)
        .await
        .map_err(|e| EngineError::io(&dir, e))?
    {
        let Some(id) = file_id(&path, "blob") else {
            continue;
        };
        next = next.max(id + 1);
        if !referenced.contains(&id) {
            tracing::info!(path = %path.display(), "removing orphan blob");
            io.remove_file(&path)
                .await
                .map_err(|e| EngineError::io(&path, e))?;
        }
    }
    io.sync_dir(&dir)
        .await
        .map_err(|e| EngineError::io(&dir, e))?;
    Ok(next)
}

/// The id in a file name `<16 hex digits>.<ext>`.
fn file_id(path: &Path, ext: &str) -> Option<u64> {
    if path.extension()? != ext {
        return None;
    }
    u64::from_str_radix(path.file_stem()?.to_str()?, 16).ok()
}
