//! `DiskFile` (a shared open file handle) and `OpenMode`.

use std::fs::File;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;

/// An open file. Cloning is cheap and shares the descriptor; the descriptor
/// stays open until the last clone is dropped, and in-flight io_uring
/// operations hold a clone, so a file can never be closed under the kernel.
#[derive(Debug, Clone)]
pub struct DiskFile(Arc<File>);

impl DiskFile {
    /// Wraps an open `std::fs::File`.
    pub fn from_std(file: File) -> Self {
        DiskFile(Arc::new(file))
    }

    /// The underlying `std::fs::File`.
    pub fn as_std(&self) -> &File {
        &self.0
    }

    pub(crate) fn raw_fd(&self) -> RawFd {
        self.0.as_raw_fd()
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
            OpenMode::CreateNew => {
                o.write(true).create_new(true);
            }
        }
        o
    }
}
