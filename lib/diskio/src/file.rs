//! `DiskFile` (a shared open file handle) and `OpenMode`.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

/// An open file. Cloning is cheap and shares the descriptor; the descriptor
/// stays open until the last clone is dropped, and in-flight io_uring
/// operations hold a clone, so a file can never be closed under the kernel.
#[derive(Debug, Clone)]
pub struct DiskFile {
    file: Arc<File>,
    direct: bool,
}

impl DiskFile {
    /// Wraps an open `std::fs::File` (buffered I/O).
    pub fn from_std(file: File) -> Self {
        DiskFile {
            file: Arc::new(file),
            direct: false,
        }
    }

    /// The underlying `std::fs::File`.
    pub fn as_std(&self) -> &File {
        &self.file
    }

    /// Whether the descriptor bypasses the page cache (`O_DIRECT`): then its
    /// reads and writes must be aligned to [`crate::DIRECT_ALIGN`], and it
    /// leaves no dirty or cached pages behind.
    pub fn is_direct(&self) -> bool {
        self.direct
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.file.as_raw_fd()
    }

    /// Turns on `O_DIRECT` if the filesystem supports it (tmpfs and some
    /// others refuse it; the file then stays buffered, which changes speed,
    /// not correctness).
    pub(crate) fn try_direct(mut self) -> Self {
        let fd = self.raw_fd();
        // SAFETY: `fd` is open for as long as `self` lives; F_GETFL and
        // F_SETFL only read and set the descriptor's status flags.
        let flags = unsafe { libc::fcntl(fd, libc::F_GETFL) };
        // SAFETY: as above.
        self.direct =
            flags >= 0 && unsafe { libc::fcntl(fd, libc::F_SETFL, flags | libc::O_DIRECT) } == 0;
        self
    }
}

/// How to open a file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OpenMode {
    /// Read only; the file must exist.
    Read,
    /// Read and write; the file must exist.
    ReadWrite,
    /// Read and write; created if missing.
    Create,
    /// Read and write; fails with `AlreadyExists` if the file exists.
    CreateNew,
    /// As `CreateNew`, and bypassing the page cache (`O_DIRECT`) where the
    /// filesystem allows it ([`DiskFile::is_direct`] tells): for large files
    /// written once, whose bytes would only pass through the cache. Write it
    /// with `DiskIo::write_aligned_at`.
    CreateNewDirect,
}

impl OpenMode {
    pub(crate) fn std_options(self) -> std::fs::OpenOptions {
        let mut o = std::fs::OpenOptions::new();
        o.read(true);
        match self {
            OpenMode::Read => {}
            OpenMode::ReadWrite => {
                o.write(true);
            }
            OpenMode::Create => {
                o.write(true).create(true);
            }
            OpenMode::CreateNew | OpenMode::CreateNewDirect => {
                o.write(true).create_new(true);
            }
        }
        o
    }
}
