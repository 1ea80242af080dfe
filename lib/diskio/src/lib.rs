//! `DiskIo`: the storage engine's disk interface, and its two implementations.
//!
//! The storage node never touches `std::fs` directly; it asks a [`DiskIo`] to
//! open, read, write and sync files. That keeps the engine testable (a test
//! can wrap a `DiskIo` to count fsyncs or to "crash" after N operations) and
//! lets a deterministic simulation replace the disk later.
//!
//! Implementations, one family:
//! - [`UringDiskIo`]: io_uring, one dedicated thread per ring that owns the
//!   ring, takes requests over a bounded channel and submits them in batches.
//! - [`StdDiskIo`]: `pread`/`pwrite`/`fsync` on tokio's blocking pool; the
//!   fallback when io_uring is unavailable (old kernel, seccomp).
//!
//! Invariants:
//! - buffers are *moved* into an operation and handed back on completion, so
//!   the kernel never sees a buffer that was freed or reused;
//! - `write_at` writes the whole buffer or fails; `read_at` returns fewer
//!   bytes than asked only at end of file;
//! - an fsync is never retried here: a failed fsync is reported once and the
//!   caller must treat the file's durability as unknown (poison the device).
//!
//! This is the only crate of the workspace that may use `unsafe`; every
//! block carries a `// SAFETY:` comment.

mod aligned;
mod blocking;
mod file;
mod std_io;
mod uring;

#[cfg(test)]
mod suite;

pub use aligned::{AlignedBuf, DIRECT_ALIGN};
pub use file::{DiskFile, OpenMode};
pub use std_io::StdDiskIo;
pub use uring::{UringDiskIo, URING_ENTRIES, URING_IN_FLIGHT_MAX, URING_REQUESTS_MAX};

use std::future::Future;
use std::io;
use std::path::{Path, PathBuf};

/// The disk operations the storage engine needs. All methods are async and
/// cancellation-safe with respect to memory: dropping a returned future never
/// frees a buffer the kernel is still using.
pub trait DiskIo: Send + Sync + 'static {
    /// Opens (and, per `mode`, creates) the file at `path`.
    fn open(
        &self,
        path: &Path,
        mode: OpenMode,
    ) -> impl Future<Output = io::Result<DiskFile>> + Send;

    /// Writes all of `buf` at `offset` and hands the buffer back for reuse.
    fn write_at(
        &self,
        file: &DiskFile,
        offset: u64,
        buf: Vec<u8>,
    ) -> impl Future<Output = io::Result<Vec<u8>>> + Send;

    /// Writes all of `buf` at `offset`, as `write_at`, from a buffer that a
    /// direct file accepts: on a file opened with `OpenMode::CreateNewDirect`,
    /// `offset` must be a multiple of [`DIRECT_ALIGN`], and so must the
    /// buffer's length unless the file turned out buffered
    /// ([`DiskFile::is_direct`]).
    fn write_aligned_at(
        &self,
        file: &DiskFile,
        offset: u64,
        buf: AlignedBuf,
    ) -> impl Future<Output = io::Result<AlignedBuf>> + Send;

    /// Reads up to `len` bytes at `offset`; fewer only at end of file.
    fn read_at(
        &self,
        file: &DiskFile,
        offset: u64,
        len: usize,
    ) -> impl Future<Output = io::Result<Vec<u8>>> + Send;

    /// `fdatasync`: the file's data (and the metadata needed to read it back).
    fn sync_data(&self, file: &DiskFile) -> impl Future<Output = io::Result<()>> + Send;

    /// `fsync`: data and all metadata.
    fn sync_all(&self, file: &DiskFile) -> impl Future<Output = io::Result<()>> + Send;

    /// `fsync` of a directory, making creations, renames and unlinks in it durable.
    fn sync_dir(&self, path: &Path) -> impl Future<Output = io::Result<()>> + Send;

    /// `fallocate(mode 0)`: reserves `[offset, offset + len)` on disk, growing the
    /// file if needed. Fails with `ENOSPC` when the device cannot hold it.
    fn allocate(
        &self,
        file: &DiskFile,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<()>> + Send;

    /// `fallocate(PUNCH_HOLE | KEEP_SIZE)`: frees `[offset, offset + len)`,
    /// which then reads as zeros; the file's length is unchanged.
    fn punch_hole(
        &self,
        file: &DiskFile,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<()>> + Send;

    // The metadata operations below have no io_uring form worth having here
    // (or none in the kernels we target): every implementation runs them on
    // the blocking pool, so they are provided once, as defaults.

    /// `ftruncate`: sets the file's length (shrinking frees its tail).
    fn set_len(&self, file: &DiskFile, len: u64) -> impl Future<Output = io::Result<()>> + Send {
        let file = file.clone();
        blocking::run(move || file.as_std().set_len(len))
    }

    /// The file's length in bytes.
    fn size(&self, file: &DiskFile) -> impl Future<Output = io::Result<u64>> + Send {
        let file = file.clone();
        blocking::run(move || Ok(file.as_std().metadata()?.len()))
    }

    /// Unlinks the file at `path` (the caller syncs the directory if it must).
    fn remove_file(&self, path: &Path) -> impl Future<Output = io::Result<()>> + Send {
        let path = path.to_owned();
        blocking::run(move || std::fs::remove_file(&path))
    }

    /// Creates a directory and its parents.
    fn create_dir_all(&self, path: &Path) -> impl Future<Output = io::Result<()>> + Send {
        let path = path.to_owned();
        blocking::run(move || std::fs::create_dir_all(&path))
    }

    /// The entries of a directory (full paths), in no particular order.
    fn list_dir(&self, path: &Path) -> impl Future<Output = io::Result<Vec<PathBuf>>> + Send {
        let path = path.to_owned();
        blocking::run(move || blocking::list_dir(&path))
    }

    /// Releases the file's cached pages once its data is durable
    /// (`posix_fadvise(DONTNEED)`), as Swift does after writing an object:
    /// large bodies that are written once would otherwise fill the page cache
    /// with pages that every new write must first allocate.
    fn drop_cache(&self, file: &DiskFile) -> impl Future<Output = io::Result<()>> + Send {
        let file = file.clone();
        blocking::run(move || blocking::drop_cache(&file))
    }

    /// Starts writing back `[offset, offset + len)` of `file` without waiting
    /// (`sync_file_range(SYNC_FILE_RANGE_WRITE)`): a large file written in
    /// pieces then reaches its final fdatasync with most bytes already on
    /// their way, instead of the whole file queued at once. Durability still
    /// comes only from `sync_data`.
    fn start_writeback(
        &self,
        file: &DiskFile,
        offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<()>> + Send {
        let file = file.clone();
        blocking::run(move || blocking::start_writeback(&file, offset, len))
    }

    /// Copies `len` bytes from `src` at `src_offset` into `dst` at
    /// `dst_offset` inside the kernel (`copy_file_range`): no bytes pass
    /// through user space, and filesystems that can share extents do.
    fn copy_range(
        &self,
        src: &DiskFile,
        src_offset: u64,
        dst: &DiskFile,
        dst_offset: u64,
        len: u64,
    ) -> impl Future<Output = io::Result<()>> + Send {
        let (src, dst) = (src.clone(), dst.clone());
        blocking::run(move || blocking::copy_range(&src, src_offset, &dst, dst_offset, len))
    }

    /// Bytes available to unprivileged writers on the filesystem holding `path`.
    fn free_space(&self, path: &Path) -> impl Future<Output = io::Result<u64>> + Send {
        let path = path.to_owned();
        blocking::run(move || blocking::free_space(&path))
    }

    /// Writes back every dirty page of the filesystem holding `path`
    /// (`syncfs`), whoever wrote it: what an earlier process left in the
    /// page cache is durable once this returns.
    fn sync_filesystem(&self, path: &Path) -> impl Future<Output = io::Result<()>> + Send {
        let path = path.to_owned();
        blocking::run(move || blocking::sync_filesystem(&path))
    }
}
