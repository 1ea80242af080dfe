//! Compaction: rewrites the live records of mostly-dead sealed segments at
//! the tail of the log and deletes the old segment.
//!
//! Steps for one segment:
//! 1. scan its self-describing records in large windows;
//! 2. for each record the index still points at, verify the body against its
//!    digests and ask the writer to relocate it (the writer re-checks that
//!    the index still points there, so a concurrent overwrite wins); a body
//!    that fails its digest is quarantined instead of copied;
//! 3. once every relocation is durable and the segment's live count is zero,
//!    drop it from the open-file map and unlink it. Readers that still hold
//!    the file keep reading the unlinked inode; readers that looked it up too
//!    late retry their index lookup and find the new location.
//!
//! An acked object is never lost: the old record is only deleted after its
//! new copy and index entry are durable, and a segment that still has live
//! bytes after the scan (a damaged header hid a record) is kept.

use crate::config::CHUNK_BYTES;
use crate::device::Device;
use crate::digest;
use crate::entry::Location;
use crate::error::io_to_node;
use crate::record::{self, HEADER_BYTES};
use crate::writer::{Outcome, WriteOp};
use crate::CompactionReport;
use cairn_diskio::{DiskFile, DiskIo};
use cairn_nodeapi::{NodeError, ObjectKey};
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::task::JoinSet;

/// Bytes read from a segment at a time while scanning it.
const SCAN_WINDOW_BYTES: u64 = 4 << 20;
/// Relocations in flight at once (they group-commit in the writer).
const RELOCATIONS_IN_FLIGHT_MAX: usize = 64;

/// Compacts every sealed segment of `dev` whose dead share reached the threshold.
pub(crate) async fn compact_device<D: DiskIo>(
    dev: &Arc<Device<D>>,
) -> Result<CompactionReport, NodeError> {
    dev.check_usable()?;
    let _one_at_a_time = dev.compaction.lock().await;
    let mut report = CompactionReport::default();
    for id in candidates(dev) {
        let moved = compact_segment(dev, id).await?;
        report.records_relocated += moved.records;
        report.bytes_relocated += moved.bytes;
        if remove_if_dead(dev, id).await? {
            report.segments_removed += 1;
        }
    }
    Ok(report)
}

fn candidates<D: DiskIo>(dev: &Device<D>) -> Vec<u64> {
    let active = dev.active_segment.load(Ordering::Acquire);
    let pct = u64::from(dev.params.compaction_dead_percent);
    let c = dev.counters.lock().unwrap_or_else(|p| p.into_inner());
    let mut ids: Vec<u64> = c
        .segs
        .iter()
        .filter(|(id, s)| **id != active && (s.len - s.live.min(s.len)) * 100 >= s.len * pct)
        .map(|(id, _)| *id)
        .collect();
    ids.sort_unstable();
    ids
}

fn live_bytes<D: DiskIo>(dev: &Device<D>, id: u64) -> Option<(u64, u64)> {
    let c = dev.counters.lock().unwrap_or_else(|p| p.into_inner());
    c.segs.get(&id).map(|s| (s.live, s.len))
}

#[derive(Default)]
struct Moved {
    records: u64,
    bytes: u64,
}

async fn compact_segment<D: DiskIo>(dev: &Arc<Device<D>>, id: u64) -> Result<Moved, NodeError> {
    let mut moved = Moved::default();
    let (Some(file), Some((live, len))) = (dev.segment_file(id), live_bytes(dev, id)) else {
        return Ok(moved);
    };
    if live == 0 {
        return Ok(moved);
    }
    let mut tasks = JoinSet::new();
    let mut off = 0u64;
    let mut window = Window::default();
    while off + HEADER_BYTES as u64 <= len {
        let hdr = window
            .get(dev, &file, off, HEADER_BYTES as u64, len)
            .await?;
        let h = match record::decode_header(hdr) {
            Ok(h) => h,
            Err(e) => {
                tracing::warn!(device = dev.id.0, segment = id, offset = off, error = %e,
                    "unreadable record header; stopping scan of this segment");
                break;
            }
        };
        let rec_len = h.record_len();
        if is_live_at(dev, &h.key, id, off)? {
            let body = window
                .get(dev, &file, off + h.body_offset(), h.body_len, len)
                .await?
                .to_vec();
            while tasks.len() >= RELOCATIONS_IN_FLIGHT_MAX {
                count(tasks.join_next().await, &mut moved)?;
            }
            let dev2 = dev.clone();
            let key = h.key;
            tasks.spawn(async move { relocate(&dev2, key, id, off, body).await });
        }
        off += rec_len;
    }
    while let Some(r) = tasks.join_next().await {
        count(Some(r), &mut moved)?;
    }
    Ok(moved)
}

/// A finished relocation task: whether the record moved, and its body size.
type Relocation = Result<Result<(bool, u64), NodeError>, tokio::task::JoinError>;

fn count(r: Option<Relocation>, moved: &mut Moved) -> Result<(), NodeError> {
    match r {
        None => Ok(()),
        Some(Ok(Ok((true, bytes)))) => {
            moved.records += 1;
            moved.bytes += bytes;
            Ok(())
        }
        Some(Ok(Ok((false, _)))) => Ok(()),
        Some(Ok(Err(e))) => Err(e),
        Some(Err(e)) => Err(NodeError::Io(format!("relocation task failed: {e}"))),
    }
}

fn is_live_at<D: DiskIo>(
    dev: &Device<D>,
    key: &ObjectKey,
    id: u64,
    off: u64,
) -> Result<bool, NodeError> {
    Ok(dev.index.get(key)?.is_some_and(|e| {
        e.is_live()
            && matches!(e.loc, Location::Segment { id: s, offset, .. } if s == id && offset == off)
    }))
}

/// Verifies and relocates one record; returns whether it moved and its size.
async fn relocate<D: DiskIo>(
    dev: &Device<D>,
    key: ObjectKey,
    id: u64,
    off: u64,
    body: Vec<u8>,
) -> Result<(bool, u64), NodeError> {
    let Some(entry) = dev.index.get(&key)? else {
        return Ok((false, 0));
    };
    let from = entry.loc;
    if !matches!(from, Location::Segment { id: s, offset, .. } if s == id && offset == off) {
        return Ok((false, 0));
    }
    let intact = body
        .chunks(CHUNK_BYTES as usize)
        .enumerate()
        .all(|(i, c)| entry.digest(i).is_some_and(|d| digest::matches(c, &d)));
    if !intact || body.len() as u64 != entry.meta.content_length {
        tracing::error!(device = dev.id.0, object = %entry.meta.name,
            "compaction found a record failing its digest; quarantining replica");
        dev.submit(WriteOp::Quarantine {
            key,
            expected: entry,
        })
        .await?;
        return Ok((false, 0));
    }
    let bytes = body.len() as u64;
    match dev.submit(WriteOp::Relocate { key, from, body }).await? {
        Outcome::Relocated(moved) => Ok((moved, bytes)),
        other => Err(NodeError::Io(format!(
            "unexpected relocation outcome {other:?}"
        ))),
    }
}

/// Unlinks segment `id` if nothing live remains in it.
async fn remove_if_dead<D: DiskIo>(dev: &Device<D>, id: u64) -> Result<bool, NodeError> {
    match live_bytes(dev, id) {
        Some((0, _)) => {}
        Some((live, _)) => {
            tracing::warn!(
                device = dev.id.0,
                segment = id,
                live,
                "segment still has live records; kept"
            );
            return Ok(false);
        }
        None => return Ok(false),
    }
    {
        let mut map = dev.segments.write().unwrap_or_else(|p| p.into_inner());
        map.remove(&id);
        let mut c = dev.counters.lock().unwrap_or_else(|p| p.into_inner());
        c.segs.remove(&id);
    }
    let path = dev.segment_path(id);
    dev.io
        .remove_file(&path)
        .await
        .map_err(|e| io_to_node("segment unlink", &e))?;
    dev.io
        .sync_dir(&dev.segments_dir())
        .await
        .map_err(|e| io_to_node("segments directory fsync", &e))?;
    tracing::info!(device = dev.id.0, segment = id, "compacted segment removed");
    Ok(true)
}

/// A read-ahead window over a segment file.
#[derive(Default)]
struct Window {
    start: u64,
    buf: Vec<u8>,
}

impl Window {
    /// Bytes `[off, off + len)`, refilling the window when they are not in it.
    async fn get<D: DiskIo>(
        &mut self,
        dev: &Device<D>,
        file: &DiskFile,
        off: u64,
        len: u64,
        file_len: u64,
    ) -> Result<&[u8], NodeError> {
        let have = off >= self.start && off + len <= self.start + self.buf.len() as u64;
        if !have {
            let want = len
                .max(SCAN_WINDOW_BYTES)
                .min(file_len.saturating_sub(off).max(len));
            self.buf = dev
                .io
                .read_at(file, off, want as usize)
                .await
                .map_err(|e| io_to_node("segment scan read", &e))?;
            self.start = off;
            if (self.buf.len() as u64) < len {
                return Err(NodeError::Io("segment shorter than its records".into()));
            }
        }
        let a = (off - self.start) as usize;
        Ok(&self.buf[a..a + len as usize])
    }
}
