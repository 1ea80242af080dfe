//! The GET and HEAD paths: one index lookup, then chunk-aligned reads, each
//! chunk verified against its stored blake3 before a byte of it is sent.
//!
//! The first chunk is read and verified before `get` returns, so a corrupt
//! small object fails the call itself (the proxy can go to another replica
//! before it has sent a header); later chunks stream from a task through a
//! bounded channel, with the next chunk's read in flight while the current
//! one is verified and sent. A mismatch quarantines the replica.

use crate::config::CHUNK_BYTES;
use crate::device::Device;
use crate::digest;
use crate::entry::{Entry, Location};
use crate::error::io_to_node;
use crate::writer::{Outcome, WriteOp};
use bytes::Bytes;
use cairn_diskio::{DiskFile, DiskIo, OpenMode};
use cairn_nodeapi::{
    ByteRange, Frame, GetStream, NodeError, ObjectKey, ObjectMeta, BODY_CHANNEL_FRAMES_MAX,
};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// Lookups retried when compaction moved the object between lookup and read.
const LOOKUP_RETRIES_MAX: usize = 4;

/// The live entry for `key`, or the `NotFound` the proxy expects.
fn lookup_live<D: DiskIo>(dev: &Device<D>, key: &ObjectKey) -> Result<Entry, NodeError> {
    match dev.index.get(key)? {
        None => Err(NodeError::NotFound { tombstone: None }),
        Some(e) if e.tombstone => Err(NodeError::NotFound {
            tombstone: Some(e.meta.data_ts),
        }),
        Some(e) => Ok(e),
    }
}

pub(crate) fn head<D: DiskIo>(dev: &Device<D>, key: &ObjectKey) -> Result<ObjectMeta, NodeError> {
    dev.check_usable()?;
    lookup_live(dev, key).map(|e| e.meta)
}

/// `[start, end)` to serve of an object of `len` bytes.
fn resolve_range(len: u64, range: Option<ByteRange>) -> Result<(u64, u64), NodeError> {
    match range {
        None => Ok((0, len)),
        Some(r) => {
            let end = r.end.min(len);
            if r.start >= len || r.start >= end {
                Err(NodeError::RangeNotSatisfiable)
            } else {
                Ok((r.start, end))
            }
        }
    }
}

/// An object's body on disk: `file` from byte `base`.
#[derive(Clone)]
struct Source {
    file: DiskFile,
    base: u64,
}

/// Opens the entry's body; `None` when compaction or an overwrite removed
/// the file after the lookup (the caller looks up again).
async fn open_source<D: DiskIo>(dev: &Device<D>, e: &Entry) -> Result<Option<Source>, NodeError> {
    match e.loc {
        Location::Segment {
            id, body_offset, ..
        } => Ok(dev.segment_file(id).map(|file| Source {
            file,
            base: body_offset,
        })),
        Location::Blob { id } => match dev.io.open(&dev.blob_path(id), OpenMode::Read).await {
            Ok(file) => Ok(Some(Source { file, base: 0 })),
            Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(err) => Err(io_to_node("blob open", &err)),
        },
        Location::None => Err(NodeError::Io("live entry without a body location".into())),
    }
}

pub(crate) async fn get<D: DiskIo>(
    dev: &Arc<Device<D>>,
    key: ObjectKey,
    range: Option<ByteRange>,
) -> Result<GetStream, NodeError> {
    dev.check_usable()?;
    for _ in 0..LOOKUP_RETRIES_MAX {
        let entry = lookup_live(dev, &key)?;
        let (start, end) = resolve_range(entry.meta.content_length, range)?;
        let Some(src) = open_source(dev, &entry).await? else {
            continue;
        };
        return start_stream(dev, key, entry, src, start, end).await;
    }
    Err(NodeError::Io("object kept moving during GET".into()))
}

/// What one GET serves: `[start, end)` of the entry's body.
struct Plan {
    key: ObjectKey,
    entry: Entry,
    src: Source,
    start: u64,
    end: u64,
}

impl Plan {
    fn chunk_bounds(&self, i: u64) -> (u64, u64) {
        let c0 = i * CHUNK_BYTES;
        (c0, (c0 + CHUNK_BYTES).min(self.entry.meta.content_length))
    }

    /// The verified slice of chunk `i` (read as `data`) that the range wants.
    fn frame(&self, i: u64, data: std::io::Result<Vec<u8>>) -> Result<Frame, NodeError> {
        let data = data.map_err(|e| io_to_node("read", &e))?;
        let (c0, c1) = self.chunk_bounds(i);
        let ok = data.len() as u64 == c1 - c0
            && self
                .entry
                .digest(i as usize)
                .is_some_and(|d| digest::matches(&data, &d));
        if !ok {
            return Err(NodeError::Corrupt);
        }
        let a = (self.start.max(c0) - c0) as usize;
        let b = (self.end.min(c1) - c0) as usize;
        Ok(Frame::new(Bytes::from(data).slice(a..b)))
    }

    fn read<D: DiskIo>(
        &self,
        dev: &Arc<Device<D>>,
        i: u64,
    ) -> JoinHandle<std::io::Result<Vec<u8>>> {
        let (c0, c1) = self.chunk_bounds(i);
        let (dev, src) = (dev.clone(), self.src.clone());
        tokio::spawn(async move {
            dev.io
                .read_at(&src.file, src.base + c0, (c1 - c0) as usize)
                .await
        })
    }
}

async fn start_stream<D: DiskIo>(
    dev: &Arc<Device<D>>,
    key: ObjectKey,
    entry: Entry,
    src: Source,
    start: u64,
    end: u64,
) -> Result<GetStream, NodeError> {
    let (tx, rx) = mpsc::channel(BODY_CHANNEL_FRAMES_MAX);
    let meta = entry.meta.clone();
    let range = cairn_nodeapi::ByteRange { start, end };
    let plan = Plan {
        key,
        entry,
        src,
        start,
        end,
    };
    if start < end {
        let first = start / CHUNK_BYTES;
        let last = (end - 1) / CHUNK_BYTES;
        let (c0, c1) = plan.chunk_bounds(first);
        let data = dev
            .io
            .read_at(&plan.src.file, plan.src.base + c0, (c1 - c0) as usize)
            .await;
        match plan.frame(first, data) {
            Ok(f) => {
                let _ = tx.try_send(Ok(f));
            }
            Err(e) => {
                if e == NodeError::Corrupt {
                    quarantine(dev, &plan).await;
                }
                return Err(e);
            }
        }
        if last > first {
            tokio::spawn(stream_rest(dev.clone(), plan, first + 1, last, tx));
        }
    }
    Ok(GetStream {
        meta,
        range,
        body: rx,
    })
}

/// Streams chunks `from..=last`, one read ahead of the one being sent.
async fn stream_rest<D: DiskIo>(
    dev: Arc<Device<D>>,
    plan: Plan,
    from: u64,
    last: u64,
    tx: mpsc::Sender<Result<Frame, NodeError>>,
) {
    let mut next = Some(plan.read(&dev, from));
    for i in from..=last {
        let Some(pending) = next.take() else { return };
        let data = match pending.await {
            Ok(d) => d,
            Err(e) => Err(std::io::Error::other(e.to_string())),
        };
        if i < last {
            next = Some(plan.read(&dev, i + 1));
        }
        let frame = plan.frame(i, data);
        let failed = frame.as_ref().err().cloned();
        if tx.send(frame).await.is_err() {
            return; // the reader went away
        }
        if let Some(e) = failed {
            if e == NodeError::Corrupt {
                quarantine(&dev, &plan).await;
            }
            return;
        }
    }
}

/// Moves a replica that failed its digest into quarantine, so it reads as
/// `NotFound` here and the replicator restores it from the others.
async fn quarantine<D: DiskIo>(dev: &Device<D>, plan: &Plan) {
    tracing::error!(
        device = dev.id.0,
        partition = plan.key.partition,
        object = %plan.entry.meta.name,
        data_ts = %plan.entry.meta.data_ts,
        "stored object failed its blake3 digest; quarantining replica"
    );
    let op = WriteOp::Quarantine {
        key: plan.key,
        expected: plan.entry.clone(),
    };
    match dev.submit(op).await {
        Ok(Outcome::Quarantined(true)) => {}
        Ok(_) => tracing::info!(
            device = dev.id.0,
            "object changed before quarantine; left alone"
        ),
        Err(e) => tracing::error!(device = dev.id.0, error = %e, "quarantine failed"),
    }
}
