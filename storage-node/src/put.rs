//! The PUT path: receive frames (crc32c-checked), buffer a small body for
//! the group-commit writer or spill a large one to a blob file of its own
//! as it arrives, then commit through the writer with the per-chunk
//! digests the sender computed where the body came in (decision 0026): a
//! byte changed after that, here included, fails its digest on read.
//!
//! A large body never sits whole in memory: at most the inline threshold
//! plus one blob write buffer. Steps for a blob:
//! 1. write the body to `blobs/<id>.blob` as frames arrive;
//! 2. fdatasync the blob;  3. fsync the `blobs` directory;
//! 4. the writer commits the index entry (synced);  5. only then ack.
//!
//! If anything fails before 4 the blob is removed (or, if the outcome is
//! unknown because the device was poisoned, left for recovery to delete).

use crate::device::Device;
use crate::entry::digests_hex;
use crate::error::io_to_node;
use crate::writer::{Body, WriteOp};
use cairn_diskio::{AlignedBuf, DiskFile, DiskIo, OpenMode};
use cairn_nodeapi::{ChunkDigests, NodeError, ObjectKey, ObjectMeta, PutAck, PutChunk};
use std::path::PathBuf;
use std::sync::atomic::Ordering;
use tokio::sync::mpsc;

/// Bytes gathered before one write to a blob file (a multiple of
/// `cairn_diskio::DIRECT_ALIGN`).
pub(crate) const BLOB_WRITE_BYTES_MAX: usize = 1 << 20;

pub(crate) async fn put<D: DiskIo>(
    dev: &Device<D>,
    key: ObjectKey,
    mut body: mpsc::Receiver<PutChunk>,
) -> Result<PutAck, NodeError> {
    dev.check_usable()?;
    let mut rx = Receiving {
        buf: Vec::new(),
        blob: None,
        received: 0,
    };
    let (meta, digests) = match receive(dev, &mut rx, &mut body).await {
        Ok(m) => m,
        Err(e) => {
            rx.abandon(dev).await;
            return Err(e);
        }
    };
    // A newer version is already here (a racing replica write, a retry):
    // refuse before paying for fsyncs. The writer checks again at commit.
    if let Some(e) = dev.index.get(&key)? {
        if e.meta.data_ts >= meta.data_ts {
            rx.abandon(dev).await;
            return Err(NodeError::Conflict {
                existing: e.meta.data_ts,
            });
        }
    }
    let data_ts = meta.data_ts;
    let (body, blob) = match rx.blob.take() {
        None => (Body::Inline(std::mem::take(&mut rx.buf)), None),
        Some(mut w) => {
            if let Err(e) = w.finish(dev).await {
                w.remove(dev).await;
                return Err(e);
            }
            (Body::Blob { id: w.id }, Some(w))
        }
    };
    let op = WriteOp::Put {
        key,
        meta,
        body,
        digests: digests_hex(digests.as_slice()),
    };
    match dev.submit(op).await {
        Ok(_) => Ok(PutAck {
            device: dev.id,
            data_ts,
        }),
        Err(e) => {
            // The index surely does not reference the blob unless the device
            // was poisoned mid-commit; then recovery decides.
            if let (Some(w), false) = (blob, matches!(e, NodeError::DeviceUnavailable(_))) {
                w.remove(dev).await;
            }
            Err(e)
        }
    }
}

struct Receiving {
    buf: Vec<u8>,
    blob: Option<BlobWriter>,
    received: u64,
}

impl Receiving {
    async fn abandon<D: DiskIo>(&mut self, dev: &Device<D>) {
        if let Some(w) = self.blob.take() {
            w.remove(dev).await;
        }
    }
}

/// Reads the body stream to its `End`, spilling to a blob past the inline
/// threshold. Returns the final metadata and the sender's digests.
async fn receive<D: DiskIo>(
    dev: &Device<D>,
    rx: &mut Receiving,
    body: &mut mpsc::Receiver<PutChunk>,
) -> Result<(ObjectMeta, ChunkDigests), NodeError> {
    loop {
        match body.recv().await {
            None => return Err(NodeError::BodyIncomplete),
            Some(PutChunk::End(meta, digests)) => {
                if meta.content_length != rx.received || !digests.fit(rx.received) {
                    return Err(NodeError::BodyIncomplete);
                }
                return Ok((meta, digests));
            }
            Some(PutChunk::Data(frame)) => {
                for piece in frame.verify_pieces()? {
                    rx.received += piece.len() as u64;
                    match &mut rx.blob {
                        Some(w) => w.write(dev, &piece).await?,
                        None => rx.buf.extend_from_slice(&piece),
                    }
                }
                if rx.blob.is_none() && rx.buf.len() as u64 > dev.params.inline_max_bytes {
                    let mut w = BlobWriter::create(dev).await?;
                    let spilled = std::mem::take(&mut rx.buf);
                    let r = w.write(dev, &spilled).await;
                    rx.blob = Some(w);
                    r?;
                }
            }
        }
    }
}

/// A blob file being written, bypassing the page cache where the filesystem
/// allows (decision 0021): its bytes are gathered into whole aligned blocks,
/// and the padding of the last block is cut off at `finish`.
struct BlobWriter {
    id: u64,
    path: PathBuf,
    file: DiskFile,
    /// Bytes of the body on the file (always a whole number of blocks).
    pos: u64,
    pending: AlignedBuf,
}

impl BlobWriter {
    async fn create<D: DiskIo>(dev: &Device<D>) -> Result<Self, NodeError> {
        let id = dev.next_blob_id.fetch_add(1, Ordering::Relaxed);
        let path = dev.blob_path(id);
        let file = dev
            .io
            .open(&path, OpenMode::CreateNewDirect)
            .await
            .map_err(|e| io_to_node("blob create", &e))?;
        Ok(BlobWriter {
            id,
            path,
            file,
            pos: 0,
            pending: AlignedBuf::with_capacity(BLOB_WRITE_BYTES_MAX),
        })
    }

    /// Appends `data`, writing each full buffer.
    async fn write<D: DiskIo>(
        &mut self,
        dev: &Device<D>,
        mut data: &[u8],
    ) -> Result<(), NodeError> {
        while !data.is_empty() {
            let n = self.pending.fill_from(data);
            data = &data[n..];
            if self.pending.is_full() {
                self.flush(dev).await?;
            }
        }
        Ok(())
    }

    async fn flush<D: DiskIo>(&mut self, dev: &Device<D>) -> Result<(), NodeError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let file = &self.file;
        let len = self.pending.len() as u64;
        let free = dev
            .io
            .free_space(&dev.root)
            .await
            .map_err(|e| io_to_node("statvfs", &e))?;
        dev.free_bytes.store(free, Ordering::Relaxed);
        if free < dev.params.reserve_bytes.saturating_add(len) {
            return Err(NodeError::DeviceFull);
        }
        let buf = std::mem::take(&mut self.pending);
        let mut buf = dev
            .io
            .write_aligned_at(file, self.pos, buf)
            .await
            .map_err(|e| io_to_node("blob write", &e))?;
        // A buffered file (no O_DIRECT here): overlap the disk's work with
        // the rest of the upload. Advice only.
        if !file.is_direct() {
            if let Err(e) = dev.io.start_writeback(file, self.pos, len).await {
                tracing::debug!(error = %e, "sync_file_range of a blob failed");
            }
        }
        self.pos += len;
        buf.clear();
        self.pending = buf;
        Ok(())
    }

    /// Steps 2 and 3: the blob's bytes and its directory entry are durable.
    async fn finish<D: DiskIo>(&mut self, dev: &Device<D>) -> Result<(), NodeError> {
        let body_len = self.pos + self.pending.len() as u64;
        let padded = self.pending.pad_to_block() > 0;
        self.flush(dev).await?;
        if padded {
            dev.io
                .set_len(&self.file, body_len)
                .await
                .map_err(|e| io_to_node("blob trim", &e))?;
        }
        let file = &self.file;
        if let Err(e) = dev.io.sync_data(file).await {
            dev.poison(format!(
                "fdatasync of blob {} failed: {e}",
                self.path.display()
            ));
            return Err(NodeError::DeviceUnavailable(e.to_string()));
        }
        if let Err(e) = dev.io.sync_dir(&dev.blobs_dir()).await {
            dev.poison(format!("fsync of blobs directory failed: {e}"));
            return Err(NodeError::DeviceUnavailable(e.to_string()));
        }
        // A buffered file's bytes are durable; their clean pages can go.
        // Advice only: a failure costs memory, not data.
        if !file.is_direct() {
            if let Err(e) = dev.io.drop_cache(file).await {
                tracing::debug!(error = %e, "posix_fadvise(DONTNEED) of a blob failed");
            }
        }
        Ok(())
    }

    async fn remove<D: DiskIo>(self, dev: &Device<D>) {
        if let Err(e) = dev.io.remove_file(&self.path).await {
            if e.kind() != std::io::ErrorKind::NotFound {
                tracing::warn!(path = %self.path.display(), error = %e, "could not remove blob");
            }
        }
    }
}
