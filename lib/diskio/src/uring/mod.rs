//! `UringDiskIo`: the io_uring implementation of `DiskIo`.
//!
//! One dedicated thread owns the ring (see `driver`). Callers build an
//! [`op::Op`] that owns its buffer and a clone of the file, send it over a
//! bounded channel with a oneshot for the answer, and wake the thread through
//! an eventfd if it is asleep. Metadata operations (open, unlink, truncate,
//! statvfs) run on tokio's blocking pool, as in `StdDiskIo`.

mod driver;
mod op;

use crate::{blocking, AlignedBuf, DiskFile, DiskIo, OpenMode};
use op::{Done, Op, Request, WriteBuf};
use std::io;
use std::path::Path;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Submission queue entries per ring.
pub const URING_ENTRIES: u32 = 256;
/// Operations in flight in the kernel at once (below `URING_ENTRIES`, so a
/// resubmission always finds room and the completion queue cannot overflow).
pub const URING_IN_FLIGHT_MAX: usize = 128;
/// Requests waiting in the channel to the ring thread before senders wait.
pub const URING_REQUESTS_MAX: usize = 1024;

/// [`DiskIo`] over io_uring, with one ring and one thread that owns it.
pub struct UringDiskIo {
    tx: Option<mpsc::Sender<Request>>,
    wake: Arc<driver::Wake>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl UringDiskIo {
    /// Sets up a ring and its thread. Fails when io_uring is unavailable
    /// (old kernel, seccomp, memlock limits): the caller may fall back to
    /// [`crate::StdDiskIo`].
    pub fn new() -> io::Result<Self> {
        let (tx, rx) = mpsc::channel(URING_REQUESTS_MAX);
        let (wake, thread) = driver::spawn(rx)?;
        Ok(UringDiskIo {
            tx: Some(tx),
            wake,
            thread: Some(thread),
        })
    }

    async fn submit(&self, op: Op) -> io::Result<Done> {
        let (done_tx, done_rx) = oneshot::channel();
        let tx = self.tx.as_ref().ok_or_else(stopped)?;
        tx.send(Request { op, done: done_tx })
            .await
            .map_err(|_| stopped())?;
        self.wake.wake();
        done_rx.await.map_err(|_| stopped())?
    }
}

fn stopped() -> io::Error {
    io::Error::other("io_uring thread stopped")
}

fn unexpected() -> io::Error {
    io::Error::other("io_uring: unexpected completion kind")
}

impl Drop for UringDiskIo {
    fn drop(&mut self) {
        // Closing the channel and waking the thread lets it finish what is in
        // flight and exit; we wait so no operation outlives its ring.
        self.tx.take();
        self.wake.wake();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl DiskIo for UringDiskIo {
    async fn open(&self, path: &Path, mode: OpenMode) -> io::Result<DiskFile> {
        let path = path.to_owned();
        blocking::run(move || blocking::open(&path, mode)).await
    }

    async fn write_at(&self, file: &DiskFile, offset: u64, buf: Vec<u8>) -> io::Result<Vec<u8>> {
        match self
            .submit(Op::write(file.clone(), offset, WriteBuf::Heap(buf)))
            .await?
        {
            Done::Written(WriteBuf::Heap(b)) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    async fn write_aligned_at(
        &self,
        file: &DiskFile,
        offset: u64,
        buf: AlignedBuf,
    ) -> io::Result<AlignedBuf> {
        match self
            .submit(Op::write(file.clone(), offset, WriteBuf::Aligned(buf)))
            .await?
        {
            Done::Written(WriteBuf::Aligned(b)) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    async fn read_at(&self, file: &DiskFile, offset: u64, len: usize) -> io::Result<Vec<u8>> {
        match self.submit(Op::read(file.clone(), offset, len)).await? {
            Done::Read(b) => Ok(b),
            _ => Err(unexpected()),
        }
    }

    async fn sync_data(&self, file: &DiskFile) -> io::Result<()> {
        self.submit(Op::Fsync {
            file: file.clone(),
            datasync: true,
        })
        .await
        .map(|_| ())
    }

    async fn sync_all(&self, file: &DiskFile) -> io::Result<()> {
        self.submit(Op::Fsync {
            file: file.clone(),
            datasync: false,
        })
        .await
        .map(|_| ())
    }

    async fn sync_dir(&self, path: &Path) -> io::Result<()> {
        let path = path.to_owned();
        let dir = blocking::run(move || blocking::open_dir(&path)).await?;
        self.sync_all(&dir).await
    }

    async fn allocate(&self, file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
        self.submit(Op::Fallocate {
            file: file.clone(),
            offset,
            len,
            mode: 0,
        })
        .await
        .map(|_| ())
    }

    async fn punch_hole(&self, file: &DiskFile, offset: u64, len: u64) -> io::Result<()> {
        self.submit(Op::Fallocate {
            file: file.clone(),
            offset,
            len,
            mode: libc::FALLOC_FL_PUNCH_HOLE | libc::FALLOC_FL_KEEP_SIZE,
        })
        .await
        .map(|_| ())
    }
}
