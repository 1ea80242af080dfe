//! Synchronous implementations of the metadata operations (open, unlink,
//! truncate, stat, statvfs) that both `DiskIo` implementations run on tokio's
//! blocking pool: they are rare next to reads, writes and syncs.

use crate::{DiskFile, OpenMode};
use std::ffi::CString;
use std::io;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

/// Runs `f` on tokio's blocking pool.
pub(crate) async fn run<T, F>(f: F) -> io::Result<T>
where
    T: Send + 'static,
    F: FnOnce() -> io::Result<T> + Send + 'static,
{
    match tokio::task::spawn_blocking(f).await {
        Ok(r) => r,
        Err(e) => Err(io::Error::other(format!("blocking task failed: {e}"))),
    }
}

pub(crate) fn open(path: &Path, mode: OpenMode) -> io::Result<DiskFile> {
    let file = DiskFile::from_std(mode.std_options().open(path)?);
    Ok(match mode {
        OpenMode::CreateNewDirect => file.try_direct(),
        _ => file,
    })
}

pub(crate) fn open_dir(path: &Path) -> io::Result<DiskFile> {
    std::fs::File::open(path).map(DiskFile::from_std)
}

pub(crate) fn list_dir(path: &Path) -> io::Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(path)? {
        out.push(entry?.path());
    }
    Ok(out)
}

pub(crate) fn allocate(file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
    let (off, len) = (to_off(offset)?, to_off(len)?);
    // SAFETY: fallocate takes a valid open descriptor (kept alive by `file`)
    // and plain integers; it touches no memory of ours.
    let rc = unsafe { libc::fallocate(file.raw_fd(), 0, off, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

pub(crate) fn punch_hole(file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
    let (off, len) = (to_off(offset)?, to_off(len)?);
    let mode = libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE;
    // SAFETY: as in `allocate`: a valid descriptor and plain integers.
    let rc = unsafe { libc::fallocate(file.raw_fd(), mode, off, len) };
    if rc == 0 {
        Ok(())
    } else {
        Err(io::Error::last_os_error())
    }
}

/// `copy_file_range` of `len` bytes from `src` at `src_offset` to `dst` at
/// `dst_offset`; holes in the source may become zeros or holes in the copy.
pub(crate) fn copy_range(
    src: &DiskFile,
    src_offset: u64,
    dst: &DiskFile,
    dst_offset: u64,
    len: u64,
) -> io::Result<()> {
    let (mut off_in, mut off_out) = (to_off(src_offset)?, to_off(dst_offset)?);
    let mut left = len;
    while left > 0 {
        let chunk = usize::try_from(left.min(1 << 30)).unwrap_or(1 << 30);
        // SAFETY: valid descriptors; the offsets are our own locals, which the
        // kernel updates in place; no buffer of ours is touched.
        let n = unsafe {
            libc::copy_file_range(
                src.raw_fd(),
                &mut off_in,
                dst.raw_fd(),
                &mut off_out,
                chunk,
                0,
            )
        };
        if n < 0 {
            let e = io::Error::last_os_error();
            if e.kind() == io::ErrorKind::Interrupted {
                continue;
            }
            return Err(e);
        }
        if n == 0 {
            break; // end of the source: the rest reads as zeros anyway
        }
        left -= n as u64;
    }
    Ok(())
}

pub(crate) fn free_space(path: &Path) -> io::Result<u64> {
    let c = CString::new(path.as_os_str().as_bytes())
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "path contains NUL"))?;
    // SAFETY: statvfs is plain old data; all-zero bytes are a valid value.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: `c` is a NUL-terminated string alive for the call and `st` is a
    // valid, exclusively borrowed statvfs for the kernel to fill.
    let rc = unsafe { libc::statvfs(c.as_ptr(), &mut st) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(st.f_bavail.saturating_mul(st.f_frsize))
}

pub(crate) fn sync_filesystem(path: &Path) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let dir = std::fs::File::open(path)?;
    // SAFETY: `dir` is an open descriptor for the whole call; syncfs only
    // starts and waits for writeback of that descriptor's filesystem.
    let rc = unsafe { libc::syncfs(dir.as_raw_fd()) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

fn to_off(v: u64) -> io::Result<libc::off_t> {
    libc::off_t::try_from(v)
        .map_err(|_| io::Error::new(io::ErrorKind::InvalidInput, "offset out of range"))
}

/// `sync_file_range(SYNC_FILE_RANGE_WRITE)`: starts writeback of the dirty
/// pages in `[offset, offset + len)` without waiting for it.
pub(crate) fn start_writeback(file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_std().as_raw_fd();
    let (offset, len) = (to_off(offset)?, to_off(len)?);
    // SAFETY: `fd` is open for as long as `file` lives (we hold a clone);
    // sync_file_range only queues I/O on the kernel's pages of that file.
    let rc = unsafe { libc::sync_file_range(fd, offset, len, libc::SYNC_FILE_RANGE_WRITE) };
    if rc != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `posix_fadvise(DONTNEED)` over the whole file: its clean cached pages are
/// released.
pub(crate) fn drop_cache(file: &DiskFile) -> io::Result<()> {
    use std::os::fd::AsRawFd;
    let fd = file.as_std().as_raw_fd();
    // SAFETY: `fd` is open for as long as `file` lives (we hold a clone);
    // posix_fadvise only advises the kernel and touches no memory of ours.
    let rc = unsafe { libc::posix_fadvise(fd, 0, 0, libc::POSIX_FADV_DONTNEED) };
    if rc != 0 {
        return Err(io::Error::from_raw_os_error(rc));
    }
    Ok(())
}
