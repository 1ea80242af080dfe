//! Volume extents on one device: files under `DEVICE/extents/<volume>/`,
//! named `<index>.<generation>` (fixed-width hex), each `extent_size` bytes
//! of sparse data and a checksum table (`file`, `sums`), plus the volume's
//! fence (`fence`: the newest lease epoch seen, 8 bytes).
//!
//! Invariants:
//! - a write, discard, copy or flush with an epoch below the fence is
//!   refused; raising the fence waits for the writes in flight under the old
//!   one, so nothing from a fenced gateway lands after the fence is raised;
//! - a flush makes every write acknowledged before it durable: the files
//!   written since the last flush are fdatasynced, and the directories of
//!   new files fsynced; a failed fsync poisons the store;
//! - every byte read was verified against the extent's checksum table.

mod file;
mod sums;
#[cfg(test)]
mod tests;

use crate::error::io_to_node;
use bytes::Bytes;
use cairn_diskio::{DiskIo, OpenMode};
use cairn_nodeapi::{DeviceId, Epoch, ExtentKey, ExtentWrite, NodeError, VolumeId};
use file::ExtentFile;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};

const FENCE_FILE: &str = "fence";
const TMP_SUFFIX: &str = ".tmp";

/// Per-volume state on the device.
struct VolumeState {
    /// The fence: held shared by every write for its duration, exclusively
    /// to raise it.
    fence: tokio::sync::RwLock<u64>,
    /// Extents written since the last flush, and whether files were created.
    dirty: Mutex<Dirty>,
    /// Serializes creating extent files in the volume.
    create: tokio::sync::Mutex<()>,
}

#[derive(Default)]
struct Dirty {
    files: HashSet<ExtentKey>,
    created: bool,
}

/// The extents of one device.
pub(crate) struct ExtentStore<D: DiskIo> {
    device: DeviceId,
    root: PathBuf,
    io: Arc<D>,
    open: Mutex<HashMap<ExtentKey, Arc<ExtentFile>>>,
    volumes: Mutex<HashMap<VolumeId, Arc<VolumeState>>>,
    poison: OnceLock<String>,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

impl<D: DiskIo> ExtentStore<D> {
    pub fn new(device: DeviceId, device_root: &Path, io: Arc<D>) -> Self {
        ExtentStore {
            device,
            root: device_root.join("extents"),
            io,
            open: Mutex::new(HashMap::new()),
            volumes: Mutex::new(HashMap::new()),
            poison: OnceLock::new(),
        }
    }

    fn volume_dir(&self, v: VolumeId) -> PathBuf {
        self.root.join(v.hex())
    }

    fn extent_path(&self, k: &ExtentKey) -> PathBuf {
        self.volume_dir(k.volume)
            .join(format!("{:016x}.{:08x}", k.index, k.generation))
    }

    fn healthy(&self) -> Result<(), NodeError> {
        match self.poison.get() {
            Some(why) => Err(NodeError::DeviceUnavailable(why.clone())),
            None => Ok(()),
        }
    }

    fn poisoned(&self, what: &str, e: &std::io::Error) -> NodeError {
        let why = format!("device {}: {what} failed: {e}", self.device.0);
        tracing::error!("{why}; extents on this device refuse requests from now on");
        let _ = self.poison.set(why.clone());
        NodeError::DeviceUnavailable(why)
    }

    /// The volume's state, loading its fence on first use. Two first uses
    /// may both read the fence file; the first state stored is the one
    /// every caller gets.
    fn volume(&self, v: VolumeId) -> Result<Arc<VolumeState>, NodeError> {
        if let Some(s) = lock(&self.volumes).get(&v) {
            return Ok(s.clone());
        }
        let path = self.volume_dir(v).join(FENCE_FILE);
        let fence = match std::fs::read(&path) {
            Ok(b) if b.len() == 8 => u64::from_le_bytes(b.try_into().unwrap_or([0; 8])),
            Ok(_) => return Err(NodeError::Io(format!("{} is damaged", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io_to_node("reading a volume fence", &e)),
        };
        let s = Arc::new(VolumeState {
            fence: tokio::sync::RwLock::new(fence),
            dirty: Mutex::new(Dirty::default()),
            create: tokio::sync::Mutex::new(()),
        });
        Ok(lock(&self.volumes).entry(v).or_insert(s).clone())
    }

    /// Raises the fence to `epoch` (durably) if it is newer.
    pub async fn fence(&self, v: VolumeId, epoch: Epoch) -> Result<(), NodeError> {
        self.healthy()?;
        let vs = self.volume(v)?;
        self.raise(v, &vs, epoch).await
    }

    async fn raise(&self, v: VolumeId, vs: &VolumeState, epoch: Epoch) -> Result<(), NodeError> {
        let mut fence = vs.fence.write().await;
        if epoch.0 < *fence {
            return Err(NodeError::Fenced { current: *fence });
        }
        if epoch.0 == *fence {
            return Ok(());
        }
        let dir = self.volume_dir(v);
        let io = &*self.io;
        io.create_dir_all(&dir)
            .await
            .map_err(|e| io_to_node("creating a volume directory", &e))?;
        let tmp = dir.join(format!("{FENCE_FILE}{TMP_SUFFIX}"));
        let f = io
            .open(&tmp, OpenMode::Create)
            .await
            .map_err(|e| io_to_node("writing a volume fence", &e))?;
        io.write_at(&f, 0, epoch.0.to_le_bytes().to_vec())
            .await
            .map_err(|e| io_to_node("writing a volume fence", &e))?;
        io.sync_data(&f)
            .await
            .map_err(|e| self.poisoned("fsync of a fence", &e))?;
        std::fs::rename(&tmp, dir.join(FENCE_FILE))
            .map_err(|e| io_to_node("installing a volume fence", &e))?;
        io.sync_dir(&dir)
            .await
            .map_err(|e| self.poisoned("fsync of a volume directory", &e))?;
        io.sync_dir(&self.root)
            .await
            .map_err(|e| self.poisoned("fsync of the extents directory", &e))?;
        *fence = epoch.0;
        Ok(())
    }

    /// Runs `f` under the volume's fence at `epoch` (raising the fence
    /// first if `epoch` is newer).
    async fn fenced<T, F>(
        &self,
        v: VolumeId,
        vs: &VolumeState,
        epoch: Epoch,
        f: F,
    ) -> Result<T, NodeError>
    where
        F: std::future::Future<Output = Result<T, NodeError>>,
    {
        self.healthy()?;
        let held = loop {
            let fence = vs.fence.read().await;
            if epoch.0 < *fence {
                return Err(NodeError::Fenced { current: *fence });
            }
            if epoch.0 == *fence {
                break fence;
            }
            drop(fence);
            self.raise(v, vs, epoch).await?;
        };
        let out = f.await;
        drop(held);
        out
    }

    /// The open extent, from the cache or the disk; `None` if absent.
    async fn find(&self, k: &ExtentKey) -> Result<Option<Arc<ExtentFile>>, NodeError> {
        if let Some(f) = lock(&self.open).get(k) {
            return Ok(Some(f.clone()));
        }
        let path = self.extent_path(k);
        let file = match self.io.open(&path, OpenMode::ReadWrite).await {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_to_node("opening an extent", &e)),
        };
        let len = self
            .io
            .size(&file)
            .await
            .map_err(|e| io_to_node("opening an extent", &e))?;
        let size = ExtentFile::extent_size_of(len)
            .ok_or_else(|| NodeError::Io(format!("{} has a bad length {len}", path.display())))?;
        let ext = Arc::new(ExtentFile::load(&*self.io, file, size).await?);
        Ok(Some(lock(&self.open).entry(*k).or_insert(ext).clone()))
    }

    /// The extent, created empty (or as a copy of `from`) if missing.
    async fn find_or_create(
        &self,
        vs: &VolumeState,
        k: &ExtentKey,
        extent_size: u32,
        from: Option<&ExtentKey>,
    ) -> Result<Arc<ExtentFile>, NodeError> {
        if let Some(f) = self.find(k).await? {
            return Ok(f);
        }
        let _creating = vs.create.lock().await;
        if let Some(f) = self.find(k).await? {
            return Ok(f);
        }
        if extent_size == 0 || !extent_size.is_multiple_of(sums::BLOCK) {
            return Err(NodeError::Io(format!("bad extent size {extent_size}")));
        }
        let io = &*self.io;
        let dir = self.volume_dir(k.volume);
        io.create_dir_all(&dir)
            .await
            .map_err(|e| io_to_node("creating a volume directory", &e))?;
        let path = self.extent_path(k);
        let tmp = path.with_extension(format!("{:08x}{TMP_SUFFIX}", k.generation));
        let file = io
            .open(&tmp, OpenMode::Create)
            .await
            .map_err(|e| io_to_node("creating an extent", &e))?;
        io.set_len(&file, 0)
            .await
            .map_err(|e| io_to_node("creating an extent", &e))?;
        let source = match from {
            Some(f) => self.find(f).await?,
            None => None,
        };
        let ext = match source {
            Some(src) if src.extent_size == extent_size => src.copy_into(io, file).await?,
            _ => {
                io.set_len(&file, ExtentFile::file_len(extent_size))
                    .await
                    .map_err(|e| io_to_node("creating an extent", &e))?;
                ExtentFile::load(io, file, extent_size).await?
            }
        };
        // Cached before the name exists: a reader that finds the file by
        // name would otherwise load a second `ExtentFile` for it, whose
        // checksum lock would not serialize against this one's writers.
        let ext = Arc::new(ext);
        lock(&self.open).insert(*k, ext.clone());
        if let Err(e) = std::fs::rename(&tmp, &path) {
            lock(&self.open).remove(k);
            return Err(io_to_node("creating an extent", &e));
        }
        lock(&vs.dirty).created = true;
        Ok(ext)
    }

    /// Makes `ext`'s writes durable now (FUA), with its directory entry.
    async fn sync_one(
        &self,
        vs: &VolumeState,
        k: &ExtentKey,
        ext: &ExtentFile,
    ) -> Result<(), NodeError> {
        self.io
            .sync_data(&ext.file)
            .await
            .map_err(|e| self.poisoned("fdatasync of an extent", &e))?;
        let created = std::mem::take(&mut lock(&vs.dirty).created);
        if created {
            self.sync_dirs(k.volume).await?;
        }
        Ok(())
    }

    async fn sync_dirs(&self, v: VolumeId) -> Result<(), NodeError> {
        self.io
            .sync_dir(&self.volume_dir(v))
            .await
            .map_err(|e| self.poisoned("fsync of a volume directory", &e))?;
        self.io
            .sync_dir(&self.root)
            .await
            .map_err(|e| self.poisoned("fsync of the extents directory", &e))
    }

    pub async fn write(&self, k: ExtentKey, w: ExtentWrite) -> Result<(), NodeError> {
        let vs = self.volume(k.volume)?;
        self.fenced(k.volume, &vs, w.epoch, async {
            let ext = self.find_or_create(&vs, &k, w.extent_size, None).await?;
            ext.write(&*self.io, w.offset, w.data).await?;
            if w.fua {
                self.sync_one(&vs, &k, &ext).await
            } else {
                lock(&vs.dirty).files.insert(k);
                Ok(())
            }
        })
        .await
    }

    pub async fn read(
        &self,
        k: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Bytes>, NodeError> {
        self.healthy()?;
        match self.find(&k).await? {
            Some(ext) => ext.read(&*self.io, offset, len).await.map(Some),
            None => Ok(None),
        }
    }

    pub async fn discard(
        &self,
        k: ExtentKey,
        epoch: Epoch,
        offset: u32,
        len: u32,
        fua: bool,
    ) -> Result<(), NodeError> {
        let vs = self.volume(k.volume)?;
        self.fenced(k.volume, &vs, epoch, async {
            let Some(ext) = self.find(&k).await? else {
                return Ok(());
            };
            ext.discard(&*self.io, offset, len).await?;
            if fua {
                self.sync_one(&vs, &k, &ext).await
            } else {
                lock(&vs.dirty).files.insert(k);
                Ok(())
            }
        })
        .await
    }

    pub async fn copy(
        &self,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        epoch: Epoch,
    ) -> Result<(), NodeError> {
        let vs = self.volume(to.volume)?;
        self.fenced(to.volume, &vs, epoch, async {
            self.find_or_create(&vs, &to, extent_size, Some(&from))
                .await?;
            lock(&vs.dirty).files.insert(to);
            Ok(())
        })
        .await
    }

    pub async fn flush(&self, v: VolumeId, epoch: Epoch) -> Result<(), NodeError> {
        let vs = self.volume(v)?;
        self.fenced(v, &vs, epoch, async {
            let dirty = std::mem::take(&mut *lock(&vs.dirty));
            for k in &dirty.files {
                let file = lock(&self.open).get(k).map(|e| e.file.clone());
                if let Some(f) = file {
                    self.io
                        .sync_data(&f)
                        .await
                        .map_err(|e| self.poisoned("fdatasync of an extent", &e))?;
                }
            }
            if dirty.created {
                self.sync_dirs(v).await?;
            }
            Ok(())
        })
        .await
    }

    pub async fn allocation(
        &self,
        k: ExtentKey,
        offset: u32,
        len: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError> {
        self.healthy()?;
        match self.find(&k).await? {
            Some(ext) => ext.allocation(offset, len).await.map(Some),
            None => Ok(None),
        }
    }

    pub async fn list(&self, v: VolumeId) -> Result<Vec<(u64, u32)>, NodeError> {
        self.healthy()?;
        let paths = match self.io.list_dir(&self.volume_dir(v)).await {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(io_to_node("listing a volume's extents", &e)),
        };
        let mut out: Vec<(u64, u32)> = paths
            .iter()
            .filter_map(|p| parse_extent_name(p.file_name()?.to_str()?))
            .collect();
        out.sort_unstable();
        Ok(out)
    }

    pub async fn remove(
        &self,
        v: VolumeId,
        extents: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError> {
        self.healthy()?;
        let dir = self.volume_dir(v);
        let paths = match self.io.list_dir(&dir).await {
            Ok(p) => p,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => return Err(io_to_node("listing a volume's extents", &e)),
        };
        for p in paths {
            let name = p.file_name().and_then(|n| n.to_str()).unwrap_or_default();
            let doomed = match (parse_extent_name(name), extents) {
                (Some((index, generation)), which) => {
                    if which.is_none_or(|w| w.contains(&(index, generation))) {
                        lock(&self.open).remove(&ExtentKey {
                            volume: v,
                            index,
                            generation,
                        });
                        true
                    } else {
                        false
                    }
                }
                (None, None) => true,
                (None, Some(_)) => name.ends_with(TMP_SUFFIX),
            };
            if doomed {
                self.io
                    .remove_file(&p)
                    .await
                    .map_err(|e| io_to_node("removing an extent", &e))?;
            }
        }
        if extents.is_none() {
            lock(&self.volumes).remove(&v);
            std::fs::remove_dir(&dir).map_err(|e| io_to_node("removing a volume directory", &e))?;
        }
        self.sync_dirs_best_effort(&dir).await;
        Ok(())
    }

    async fn sync_dirs_best_effort(&self, dir: &Path) {
        let target = if dir.exists() { dir } else { &self.root };
        if let Err(e) = self.io.sync_dir(target).await {
            tracing::warn!(error = %e, "fsync after removing extents failed");
        }
    }
}

/// `<index>.<generation>` in fixed-width hex, or `None` for other files.
fn parse_extent_name(name: &str) -> Option<(u64, u32)> {
    let (i, g) = name.split_once('.')?;
    if i.len() != 16 || g.len() != 8 {
        return None;
    }
    Some((
        u64::from_str_radix(i, 16).ok()?,
        u32::from_str_radix(g, 16).ok()?,
    ))
}
