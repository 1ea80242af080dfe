//! Helpers for the engine tests: a fault-injecting `DiskIo` wrapper, object
//! keys and bodies, and PUT/GET drivers over the `ObjectNode` trait.

#![allow(dead_code, unused_macros)]

/// Runs each named `async fn(Arc<D>)` test with `StdDiskIo` and with `UringDiskIo`.
macro_rules! both {
    ($($name:ident),* $(,)?) => {$(
        mod $name {
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn std_io() {
                super::$name(std::sync::Arc::new(cairn_diskio::StdDiskIo::new())).await;
            }
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn uring_io() {
                let io = cairn_diskio::UringDiskIo::new().expect("io_uring available");
                super::$name(std::sync::Arc::new(io)).await;
            }
        }
    )*};
}

use bytes::Bytes;
use cairn_base::Timestamp;
use cairn_diskio::{AlignedBuf, DiskFile, DiskIo, OpenMode};
use cairn_nodeapi::{
    ByteRange, ChunkDigests, DeviceId, Frame, NodeError, ObjectKey, ObjectMeta, ObjectNode, PutAck,
    PutChunk, BODY_CHANNEL_FRAMES_MAX,
};
use cairn_storage_node::{DeviceConfig, NodeConfig, CHUNK_BYTES};
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

pub const DEV: DeviceId = DeviceId(1);

/// Wraps a `DiskIo` to count syncs and to fail: every operation from the
/// `fail_after`-th on (a crash: the disk stops), or only syncs, or to report
/// a chosen amount of free space. With `power_loss`, the crash also undoes
/// every write not yet covered by an fsync of its file, as a power cut
/// would drop the page cache.
pub struct Faulty<D> {
    inner: Arc<D>,
    pub power_loss: AtomicBool,
    /// Writes and preallocations fail with ENOSPC while set.
    pub enospc: AtomicBool,
    /// Set at the crash: an operation in flight then does not report success.
    crashed: AtomicBool,
    undo: Mutex<Vec<Undo>>,
    undo_seq: AtomicU64,
    pub ops: AtomicU64,
    pub syncs: AtomicU64,
    pub fail_after: AtomicU64,
    pub fail_syncs: AtomicBool,
    pub free_override: AtomicU64,
}

impl<D: DiskIo> Faulty<D> {
    pub fn new(inner: Arc<D>) -> Arc<Self> {
        Arc::new(Faulty {
            inner,
            power_loss: AtomicBool::new(false),
            enospc: AtomicBool::new(false),
            crashed: AtomicBool::new(false),
            undo: Mutex::new(Vec::new()),
            undo_seq: AtomicU64::new(0),
            ops: AtomicU64::new(0),
            syncs: AtomicU64::new(0),
            fail_after: AtomicU64::new(u64::MAX),
            fail_syncs: AtomicBool::new(false),
            free_override: AtomicU64::new(u64::MAX),
        })
    }

    fn tick(&self) -> io::Result<()> {
        let n = self.ops.fetch_add(1, Ordering::SeqCst);
        let fail_at = self.fail_after.load(Ordering::SeqCst);
        if n == fail_at {
            self.lose_unsynced();
        }
        if n >= fail_at {
            Err(io::Error::other("simulated crash"))
        } else {
            Ok(())
        }
    }

    /// The power cut: restores the pre-image of every unsynced write, newest first.
    fn lose_unsynced(&self) {
        use std::os::unix::fs::FileExt;
        let mut guard = self.undo.lock().unwrap();
        self.crashed.store(true, Ordering::SeqCst);
        let undo = std::mem::take(&mut *guard);
        for u in undo.into_iter().rev() {
            let f = buffered(&u.file);
            f.write_all_at(&u.pre, u.offset).unwrap();
            if f.metadata().unwrap().len() > u.size {
                f.set_len(u.size).unwrap();
            }
        }
    }

    /// What every write goes through first: the crash and ENOSPC checks,
    /// then the pre-image a power cut would restore.
    async fn before_write(&self, file: &DiskFile, offset: u64, len: usize) -> io::Result<()> {
        self.space_tick()?;
        self.record_undo(file, offset, len).await
    }

    async fn record_undo(&self, file: &DiskFile, offset: u64, len: usize) -> io::Result<()> {
        if !self.power_loss.load(Ordering::SeqCst) {
            return Ok(());
        }
        // Through a buffered handle: a direct descriptor refuses the
        // unaligned reads a pre-image takes.
        let pre = read_up_to(&buffered(file), offset, len)?;
        let size = self.inner.size(file).await?;
        let seq = self.undo_seq.fetch_add(1, Ordering::SeqCst);
        let ino = ino(file);
        self.undo.lock().unwrap().push(Undo {
            seq,
            ino,
            file: file.clone(),
            offset,
            pre,
            size,
        });
        Ok(())
    }

    /// After an fsync of `file` that started at `seq`: its earlier writes are
    /// durable, unless the power was cut while it ran (then it never returned).
    fn synced(&self, file: &DiskFile, seq: u64) -> io::Result<()> {
        let ino = ino(file);
        let mut undo = self.undo.lock().unwrap();
        if self.crashed.load(Ordering::SeqCst) {
            return Err(io::Error::other("simulated crash during fsync"));
        }
        undo.retain(|u| !(u.ino == ino && u.seq < seq));
        Ok(())
    }

    fn space_tick(&self) -> io::Result<()> {
        self.tick()?;
        if self.enospc.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(28));
        }
        Ok(())
    }

    fn sync_tick(&self) -> io::Result<()> {
        self.syncs.fetch_add(1, Ordering::SeqCst);
        if self.fail_syncs.load(Ordering::SeqCst) {
            return Err(io::Error::from_raw_os_error(5));
        }
        self.tick()
    }
}

impl<D: DiskIo> DiskIo for Faulty<D> {
    async fn open(&self, path: &Path, mode: OpenMode) -> io::Result<DiskFile> {
        self.tick()?;
        self.inner.open(path, mode).await
    }
    async fn write_at(&self, file: &DiskFile, offset: u64, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        self.before_write(file, offset, buf.len()).await?;
        self.inner.write_at(file, offset, buf).await
    }
    async fn write_aligned_at(
        &self,
        file: &DiskFile,
        offset: u64,
        buf: AlignedBuf,
    ) -> io::Result<AlignedBuf> {
        self.before_write(file, offset, buf.len()).await?;
        self.inner.write_aligned_at(file, offset, buf).await
    }
    async fn read_at(&self, file: &DiskFile, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        self.tick()?;
        self.inner.read_at(file, offset, len).await
    }
    async fn sync_data(&self, file: &DiskFile) -> io::Result<()> {
        self.sync_tick()?;
        let seq = self.undo_seq.load(Ordering::SeqCst);
        self.inner.sync_data(file).await?;
        self.synced(file, seq)
    }
    async fn sync_all(&self, file: &DiskFile) -> io::Result<()> {
        self.sync_tick()?;
        let seq = self.undo_seq.load(Ordering::SeqCst);
        self.inner.sync_all(file).await?;
        self.synced(file, seq)
    }
    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        self.sync_tick()?;
        self.inner.sync_dir(path).await?;
        if self.crashed.load(Ordering::SeqCst) {
            return Err(io::Error::other("simulated crash during fsync"));
        }
        Ok(())
    }
    async fn allocate(&self, file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
        self.space_tick()?;
        self.inner.allocate(file, offset, len).await
    }
    async fn punch_hole(&self, file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
        self.tick()?;
        self.inner.punch_hole(file, offset, len).await
    }
    async fn set_len(&self, file: &DiskFile, len: u64) -> io::Result<()> {
        self.tick()?;
        self.inner.set_len(file, len).await
    }
    async fn size(&self, file: &DiskFile) -> io::Result<u64> {
        self.tick()?;
        self.inner.size(file).await
    }
    async fn remove_file(&self, path: &Path) -> io::Result<()> {
        self.tick()?;
        self.inner.remove_file(path).await
    }
    async fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        self.tick()?;
        self.inner.create_dir_all(path).await
    }
    async fn list_dir(&self, path: &Path) -> io::Result<Vec<PathBuf>> {
        self.tick()?;
        self.inner.list_dir(path).await
    }
    async fn free_space(&self, path: &Path) -> io::Result<u64> {
        self.tick()?;
        match self.free_override.load(Ordering::SeqCst) {
            u64::MAX => self.inner.free_space(path).await,
            v => Ok(v),
        }
    }
}

/// A write not yet covered by an fsync, and what it overwrote.
struct Undo {
    seq: u64,
    ino: u64,
    file: DiskFile,
    offset: u64,
    pre: Vec<u8>,
    size: u64,
}

/// A buffered handle on `file`'s file: a direct descriptor takes only
/// aligned buffers, so pre-images are read and restored through one of these.
fn buffered(file: &DiskFile) -> std::fs::File {
    use std::os::fd::AsRawFd;
    std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(format!("/proc/self/fd/{}", file.as_std().as_raw_fd()))
        .expect("reopen through /proc/self/fd")
}

/// Up to `len` bytes at `offset`; fewer at end of file.
fn read_up_to(f: &std::fs::File, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    use std::os::unix::fs::FileExt;
    let mut buf = vec![0; len];
    let mut filled = 0;
    while filled < len {
        match f.read_at(&mut buf[filled..], offset + filled as u64)? {
            0 => break,
            n => filled += n,
        }
    }
    buf.truncate(filled);
    Ok(buf)
}

fn ino(file: &DiskFile) -> u64 {
    use std::os::unix::fs::MetadataExt;
    file.as_std().metadata().map(|m| m.ino()).unwrap_or(0)
}

/// A small-segment, no-reserve, no-background-work config for one device.
pub fn cfg(dir: &Path) -> NodeConfig {
    cfg_devices(dir, &[DEV])
}

/// As [`cfg`], for devices `ids`, each at `dir/dev<id>`; audit passes (run
/// by hand) are not rate-limited.
pub fn cfg_devices(dir: &Path, ids: &[DeviceId]) -> NodeConfig {
    let devices = ids
        .iter()
        .map(|&id| DeviceConfig {
            id,
            path: dir.join(format!("dev{}", id.0)),
        })
        .collect();
    let mut c = NodeConfig::new(devices);
    c.fallocate_reserve_bytes = 0;
    c.compaction_interval_ms = 0;
    c.segment_size_bytes = 4 << 20;
    c.audit_interval_ms = 0;
    c.audit_bytes_per_sec = u64::MAX;
    c.audit_files_per_sec = u64::MAX;
    c
}

pub fn key(name: &str) -> ObjectKey {
    let h = blake3::hash(name.as_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&h.as_bytes()[..16]);
    ObjectKey {
        partition: u32::from(h.as_bytes()[16]),
        hash,
    }
}

pub fn ts(t: u64) -> Timestamp {
    Timestamp::from_ticks(Timestamp::from_secs(1_700_000_000).ticks() + t)
}

pub fn meta(name: &str, t: u64, len: u64) -> ObjectMeta {
    ObjectMeta {
        name: name.to_owned(),
        data_ts: ts(t),
        meta_ts: ts(t),
        content_length: len,
        etag: "etag".into(),
        content_type: "application/octet-stream".into(),
        headers: vec![("x-object-meta-color".into(), "blue".into())],
    }
}

/// A body whose bytes depend on `seed`, so a misplaced byte is caught.
pub fn body(seed: u64, len: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

/// PUTs `data` as `name` at tick `t`, in 64 KiB frames.
pub async fn put<N: ObjectNode + ?Sized>(
    node: &N,
    name: &str,
    t: u64,
    data: &[u8],
) -> Result<PutAck, NodeError> {
    let m = meta(name, t, data.len() as u64);
    put_to(node, DEV, key(name), m, data).await
}

/// PUTs `data` with metadata `m` as `k` on device `dev`, in 64 KiB frames.
pub async fn put_to<N: ObjectNode + ?Sized>(
    node: &N,
    dev: DeviceId,
    k: ObjectKey,
    m: ObjectMeta,
    data: &[u8],
) -> Result<PutAck, NodeError> {
    put_with_digests(node, dev, k, m, data, ChunkDigests::of(data)).await
}

/// PUTs `data` as [`put_to`] does, its `End` carrying `digests` (the
/// sender's, which the node stores as they are).
pub async fn put_with_digests<N: ObjectNode + ?Sized>(
    node: &N,
    dev: DeviceId,
    k: ObjectKey,
    m: ObjectMeta,
    data: &[u8],
    digests: ChunkDigests,
) -> Result<PutAck, NodeError> {
    let (tx, rx) = mpsc::channel(BODY_CHANNEL_FRAMES_MAX);
    let owned = data.to_vec();
    let sender = tokio::spawn(async move {
        for c in owned.chunks(64 << 10) {
            let f = Frame::new(Bytes::copy_from_slice(c));
            if tx.send(PutChunk::Data(f)).await.is_err() {
                return;
            }
        }
        let _ = tx.send(PutChunk::End(m, digests)).await;
    });
    let r = node.put(dev, k, rx).await;
    let _ = sender.await;
    r
}

/// GETs `name` (or a range of it) and gathers the verified body.
pub async fn get<N: ObjectNode + ?Sized>(
    node: &N,
    name: &str,
    range: Option<ByteRange>,
) -> Result<Vec<u8>, NodeError> {
    get_from(node, DEV, key(name), range).await
}

/// GETs `k` (or a range of it) from device `dev` and gathers the verified body.
pub async fn get_from<N: ObjectNode + ?Sized>(
    node: &N,
    dev: DeviceId,
    k: ObjectKey,
    range: Option<ByteRange>,
) -> Result<Vec<u8>, NodeError> {
    let mut s = node.get(dev, k, range).await?;
    let mut out = Vec::new();
    while let Some(f) = s.body.recv().await {
        let f = f?;
        assert!(f.len() as u64 <= CHUNK_BYTES, "frame over 1 MiB");
        out.extend_from_slice(&f.verify()?);
    }
    assert_eq!(out.len() as u64, s.range.end - s.range.start);
    Ok(out)
}

/// The seed for a randomized test: `SEED=` or the clock; printed.
pub fn seed() -> u64 {
    let s = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(1)
        });
    println!("SEED={s}");
    s
}

/// Files in `dir` (names only), sorted.
pub fn files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .map(|r| r.filter_map(|e| e.ok().map(|e| e.path())).collect())
        .unwrap_or_default();
    v.sort();
    v
}

/// Flips one byte of `path` at `offset`.
pub fn flip(path: &Path, offset: u64) {
    use std::os::unix::fs::FileExt;
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(path)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_at(&mut b, offset).unwrap();
    b[0] ^= 0x40;
    f.write_at(&b, offset).unwrap();
}

/// Offset of the first occurrence of `needle` in the file at `path`.
pub fn find(path: &Path, needle: &[u8]) -> Option<u64> {
    let hay = std::fs::read(path).ok()?;
    hay.windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p as u64)
}

/// Checks every name against its expected body (`None`: deleted).
pub async fn verify_all<N: ObjectNode>(node: &N, expect: &HashMap<String, Option<Vec<u8>>>) {
    for (name, want) in expect {
        let got = get(node, name, None).await;
        match want {
            Some(d) => assert_eq!(got.as_ref().ok(), Some(d), "{name}"),
            None => assert!(
                matches!(got, Err(NodeError::NotFound { tombstone: Some(_) })),
                "{name}"
            ),
        }
    }
}
