//! `StdDiskIo`: `pread`/`pwrite`/`fsync` on tokio's blocking pool.

use crate::{blocking, AlignedBuf, DiskFile, DiskIo, OpenMode};
use std::io;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The plain implementation of [`DiskIo`]: each operation is a blocking
/// syscall run on tokio's blocking thread pool.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdDiskIo;

impl StdDiskIo {
    pub fn new() -> Self {
        StdDiskIo
    }
}

impl DiskIo for StdDiskIo {
    async fn open(&self, path: &Path, mode: OpenMode) -> io::Result<DiskFile> {
        let path = path.to_owned();
        blocking::run(move || blocking::open(&path, mode)).await
    }

    async fn write_at(&self, file: &DiskFile, offset: u64, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        write_all_at(file, offset, buf).await
    }

    async fn write_aligned_at(
        &self,
        file: &DiskFile,
        offset: u64,
        buf: AlignedBuf,
    ) -> io::Result<AlignedBuf> {
        write_all_at(file, offset, buf).await
    }

    async fn read_at(&self, file: &DiskFile, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        let file = file.clone();
        blocking::run(move || read_full(&file, offset, len)).await
    }

    async fn sync_data(&self, file: &DiskFile) -> io::Result<()> {
        let file = file.clone();
        blocking::run(move || file.as_std().sync_data()).await
    }

    async fn sync_all(&self, file: &DiskFile) -> io::Result<()> {
        let file = file.clone();
        blocking::run(move || file.as_std().sync_all()).await
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let path = path.to_owned();
        blocking::run(move || blocking::open_dir(&path)?.as_std().sync_all()).await
    }

    async fn allocate(&self, file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
        let file = file.clone();
        blocking::run(move || blocking::allocate(&file, offset, len)).await
    }

    async fn punch_hole(&self, file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
        let file = file.clone();
        blocking::run(move || blocking::punch_hole(&file, offset, len)).await
    }
}

/// `pwrite` of all of `buf` on the blocking pool; the buffer comes back.
async fn write_all_at<B>(file: &DiskFile, offset: u64, buf: B) -> io::Result<B>
where
    B: AsRef<[u8]> + Send + 'static,
{
    let file = file.clone();
    blocking::run(move || {
        file.as_std().write_all_at(buf.as_ref(), offset)?;
        Ok(buf)
    })
    .await
}

/// `pread` until `len` bytes or end of file, retrying on `EINTR`.
fn read_full(file: &DiskFile, offset: u64, len: usize) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; len];
    let mut filled = 0;
    while filled < len {
        match file
            .as_std()
            .read_at(&mut buf[filled..], offset + filled as u64)
        {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
    }
    buf.truncate(filled);
    Ok(buf)
}
