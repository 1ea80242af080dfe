//! The per-device group-commit writer: the only task that changes a device's
//! index and appends to its segment log.
//!
//! It takes every request queued (up to `group_commit_max`) as one batch and
//! commits it in steps; nothing is acked before it is durable:
//!
//! 0. room: refuse new bodies if free space would fall under the reserve;
//! 1. decide each request against the index (and the batch's earlier
//!    requests): timestamp conflicts, tombstones, POSTs; place the new
//!    records at the tail of the segment log, encoded into one buffer per run;
//! 2. write each run with one `write_at`;
//! 3. ONE `fdatasync` per touched segment (normally one for the whole batch);
//!    a failure poisons the device (an fsync is never retried);
//! 4. ONE synced rocksdb `WriteBatch` with every index change of the batch;
//! 5. only now ack every request, then delete blob files the batch superseded.
//!
//! Each commit's partitions are announced to the cached partition digests
//! before step 4 and its changes applied after it (see `digest_cache`).
//!
//! A crash before 4 leaves record bytes the index does not reference; they are
//! cut off at the next open. Because one task owns all changes, timestamp
//! decisions cannot race.

use crate::device::{Device, SegStats};
use crate::entry::{object_key, quarantine_key, Entry, Location};
use crate::error::io_to_node;
use crate::record::{self, HEADER_BYTES, META_BYTES_MAX};
use cairn_base::Timestamp;
use cairn_diskio::{DiskIo, OpenMode};
use cairn_nodeapi::{EntryVersion, NodeError, ObjectKey, ObjectMeta, PostRequest};
use rocksdb::WriteBatch;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::{mpsc, oneshot};

/// Where an object's body is when its PUT reaches the writer.
pub(crate) enum Body {
    /// Small: appended to the segment log by the writer.
    Inline(Vec<u8>),
    /// Large: already durable in `blobs/<id>.blob` (data and directory synced).
    Blob { id: u64 },
}

pub(crate) enum WriteOp {
    Put {
        key: ObjectKey,
        meta: ObjectMeta,
        body: Body,
        digests: String,
    },
    Delete {
        key: ObjectKey,
        name: String,
        ts: Timestamp,
    },
    Post {
        key: ObjectKey,
        req: PostRequest,
    },
    /// Compaction: rewrite the record at `from` (body `body`) at the tail,
    /// if the index still points there.
    Relocate {
        key: ObjectKey,
        from: Location,
        body: Vec<u8>,
    },
    /// Move the entry to a quarantine record if it is still `expected`.
    Quarantine {
        key: ObjectKey,
        expected: Entry,
    },
    /// Remove the entry outright (no tombstone) if it is still `version`:
    /// handoff data now on every primary, or a reclaimed tombstone.
    Drop {
        key: ObjectKey,
        version: EntryVersion,
    },
    /// Finish queued work and stop; later requests get `DeviceUnavailable`.
    Stop,
}

#[derive(Debug)]
pub(crate) enum Outcome {
    Put,
    Deleted { existed: bool },
    Posted(ObjectMeta),
    Relocated(bool),
    Quarantined(bool),
    Dropped(bool),
    Stopped,
}

pub(crate) struct WriteReq {
    pub op: WriteOp,
    pub done: oneshot::Sender<Result<Outcome, NodeError>>,
}

/// The tail of the log, as far as the writer has committed it.
pub(crate) struct WriterState {
    active: Option<(u64, u64)>,
    next_segment: u64,
}

impl WriterState {
    /// `resume`: a recovered segment `(id, end)` to keep appending to.
    pub fn new(next_segment: u64, resume: Option<(u64, u64)>) -> Self {
        WriterState {
            active: resume,
            next_segment,
        }
    }
}

pub(crate) async fn run<D: DiskIo>(
    dev: Arc<Device<D>>,
    mut rx: mpsc::Receiver<WriteReq>,
    mut st: WriterState,
) {
    let max = dev.params.group_commit_max;
    let mut batch = Vec::with_capacity(max);
    while let Some(first) = rx.recv().await {
        batch.push(first);
        while batch.len() < max {
            match rx.try_recv() {
                Ok(r) => batch.push(r),
                Err(_) => break,
            }
        }
        let stop = batch.iter().position(|r| matches!(r.op, WriteOp::Stop));
        let rest = stop.map(|i| batch.split_off(i));
        commit(&dev, &mut st, std::mem::take(&mut batch)).await;
        if let Some(rest) = rest {
            dev.stop();
            rx.close();
            let mut rest = rest;
            while let Ok(r) = rx.try_recv() {
                rest.push(r);
            }
            for r in rest {
                let out = match r.op {
                    WriteOp::Stop => Ok(Outcome::Stopped),
                    _ => Err(NodeError::DeviceUnavailable("device shut down".into())),
                };
                let _ = r.done.send(out);
            }
            return;
        }
    }
}

/// One request's decided effect on the index.
struct Plan {
    key: ObjectKey,
    old: Option<Entry>,
    new: Option<Entry>,
    quarantine: bool,
    noop: bool,
    outcome: Outcome,
}

async fn commit<D: DiskIo>(dev: &Device<D>, st: &mut WriterState, batch: Vec<WriteReq>) {
    if let Err(e) = dev.check_usable() {
        for r in batch {
            let _ = r.done.send(Err(e.clone()));
        }
        return;
    }
    // 0. Room for the new bodies above the reserve?
    let room = has_room(dev, &batch).await;
    // 1. Decide and place.
    let mut placer = Placer::new(st, dev.params.segment_size_bytes);
    let mut overlay = HashMap::new();
    let mut plans = Vec::with_capacity(batch.len());
    for WriteReq { op, done } in batch {
        if !room
            && matches!(
                op,
                WriteOp::Put {
                    body: Body::Inline(_),
                    ..
                }
            )
        {
            let _ = done.send(Err(NodeError::DeviceFull));
            continue;
        }
        match decide(dev, &mut overlay, &mut placer, op) {
            Ok(p) => plans.push((p, done)),
            Err(e) => {
                let _ = done.send(Err(e));
            }
        }
    }
    // Segment ids handed out stay used even if the batch fails below.
    st.next_segment = placer.next_id;
    if plans.iter().all(|(p, _)| p.noop) {
        ack(plans);
        return;
    }
    // 2 + 3. Append the records and make them durable.
    if let Err(e) = write_runs(dev, &mut placer).await {
        fail(plans, e);
        return;
    }
    // 4. One synced index write for the whole batch.
    let mut wb = WriteBatch::default();
    for (p, _) in &plans {
        add_to_batch(p, &mut wb);
    }
    let changes = || plans.iter().map(|(p, _)| p).filter(|p| !p.noop);
    let digests = dev.digests.changing(changes().map(|p| p.key.partition));
    if let Err(e) = dev.index.write_synced(wb).await {
        dev.poison(format!("index write failed: {e}"));
        drop(digests);
        fail(plans, NodeError::DeviceUnavailable(e));
        return;
    }
    st.active = placer.active;
    if let Some((id, _)) = st.active {
        dev.active_segment.store(id, Ordering::Release);
    }
    for p in changes() {
        digests.changed(&p.key, p.old.as_ref(), p.new.as_ref());
    }
    drop(digests);
    // 5. Durable: account, ack, and drop superseded blobs.
    let doomed = account(dev, &plans);
    ack(plans);
    for id in doomed {
        let path = dev.blob_path(id);
        if let Err(e) = dev.io.remove_file(&path).await {
            tracing::warn!(path = %path.display(), error = %e, "could not remove superseded blob");
        }
    }
}

fn ack(plans: Vec<(Plan, oneshot::Sender<Result<Outcome, NodeError>>)>) {
    for (p, done) in plans {
        let _ = done.send(Ok(p.outcome));
    }
}

fn fail(plans: Vec<(Plan, oneshot::Sender<Result<Outcome, NodeError>>)>, e: NodeError) {
    for (_, done) in plans {
        let _ = done.send(Err(e.clone()));
    }
}

/// Whether the batch's inline bodies fit above the reserve; refreshes the
/// device's free-space figure.
async fn has_room<D: DiskIo>(dev: &Device<D>, batch: &[WriteReq]) -> bool {
    let needed: u64 = batch
        .iter()
        .map(|r| match &r.op {
            WriteOp::Put {
                body: Body::Inline(b),
                ..
            } => b.len() as u64 + HEADER_BYTES as u64 + 512,
            _ => 0,
        })
        .sum();
    if needed == 0 {
        return true;
    }
    match dev.io.free_space(&dev.root).await {
        Ok(free) => {
            dev.free_bytes.store(free, Ordering::Relaxed);
            free >= dev.params.reserve_bytes.saturating_add(needed)
        }
        Err(e) => {
            tracing::warn!(device = dev.id.0, error = %e, "statvfs failed; refusing writes");
            false
        }
    }
}

fn decide<D: DiskIo>(
    dev: &Device<D>,
    overlay: &mut HashMap<ObjectKey, Option<Entry>>,
    placer: &mut Placer,
    op: WriteOp,
) -> Result<Plan, NodeError> {
    let key = match &op {
        WriteOp::Put { key, .. }
        | WriteOp::Delete { key, .. }
        | WriteOp::Post { key, .. }
        | WriteOp::Relocate { key, .. }
        | WriteOp::Quarantine { key, .. }
        | WriteOp::Drop { key, .. } => *key,
        WriteOp::Stop => unreachable!("Stop is split off before commit"),
    };
    let old = match overlay.get(&key) {
        Some(e) => e.clone(),
        None => dev.index.get(&key)?,
    };
    let plan = match op {
        WriteOp::Put {
            meta,
            body,
            digests,
            ..
        } => decide_put(key, old, meta, body, digests, placer)?,
        WriteOp::Delete { name, ts, .. } => decide_delete(key, old, &name, ts)?,
        WriteOp::Post { req, .. } => decide_post(key, old, req)?,
        WriteOp::Relocate { from, body, .. } => decide_relocate(key, old, from, &body, placer)?,
        WriteOp::Quarantine { expected, .. } => decide_quarantine(key, old, &expected),
        WriteOp::Drop { version, .. } => decide_drop(key, old, &version),
        WriteOp::Stop => unreachable!("Stop is split off before commit"),
    };
    if !plan.noop {
        overlay.insert(key, plan.new.clone());
    }
    Ok(plan)
}

fn plan(key: ObjectKey, old: Option<Entry>, new: Option<Entry>, outcome: Outcome) -> Plan {
    Plan {
        key,
        old,
        new,
        quarantine: false,
        noop: false,
        outcome,
    }
}

fn decide_put(
    key: ObjectKey,
    old: Option<Entry>,
    mut meta: ObjectMeta,
    body: Body,
    digests: String,
    placer: &mut Placer,
) -> Result<Plan, NodeError> {
    if let Some(o) = &old {
        if o.meta.data_ts >= meta.data_ts {
            return Err(NodeError::Conflict {
                existing: o.meta.data_ts,
            });
        }
    }
    meta.meta_ts = meta.meta_ts.max(meta.data_ts);
    let loc = match body {
        Body::Blob { id } => Location::Blob { id },
        Body::Inline(b) => {
            let mj = meta_json(&meta)?;
            placer.append(&key, &meta, &mj, &b)
        }
    };
    let new = Entry {
        meta,
        tombstone: false,
        loc,
        digests,
    };
    Ok(plan(key, old, Some(new), Outcome::Put))
}

fn decide_delete(
    key: ObjectKey,
    old: Option<Entry>,
    name: &str,
    ts: Timestamp,
) -> Result<Plan, NodeError> {
    if let Some(o) = &old {
        if o.meta.data_ts >= ts {
            return Err(NodeError::Conflict {
                existing: o.meta.data_ts,
            });
        }
    }
    let existed = old.as_ref().is_some_and(Entry::is_live);
    let new = Entry::tombstone(name, ts);
    Ok(plan(key, old, Some(new), Outcome::Deleted { existed }))
}

fn decide_post(key: ObjectKey, old: Option<Entry>, req: PostRequest) -> Result<Plan, NodeError> {
    let o = match &old {
        Some(o) if o.is_live() => o,
        Some(o) => {
            return Err(NodeError::NotFound {
                tombstone: Some(o.meta.data_ts),
            })
        }
        None => return Err(NodeError::NotFound { tombstone: None }),
    };
    if req.meta_ts <= o.meta.meta_ts {
        return Err(NodeError::Conflict {
            existing: o.meta.meta_ts,
        });
    }
    let mut new = o.clone();
    new.meta.apply_post(req);
    meta_json(&new.meta)?;
    let meta = new.meta.clone();
    Ok(plan(key, old, Some(new), Outcome::Posted(meta)))
}

fn decide_relocate(
    key: ObjectKey,
    old: Option<Entry>,
    from: Location,
    body: &[u8],
    placer: &mut Placer,
) -> Result<Plan, NodeError> {
    let Some(o) = old.as_ref().filter(|o| o.is_live() && o.loc == from) else {
        let mut p = plan(key, old, None, Outcome::Relocated(false));
        p.noop = true;
        return Ok(p);
    };
    let mut new = o.clone();
    let mj = meta_json(&new.meta)?;
    new.loc = placer.append(&key, &new.meta, &mj, body);
    Ok(plan(key, old, Some(new), Outcome::Relocated(true)))
}

fn decide_quarantine(key: ObjectKey, old: Option<Entry>, expected: &Entry) -> Plan {
    let same = old
        .as_ref()
        .is_some_and(|o| o.meta.data_ts == expected.meta.data_ts && o.loc == expected.loc);
    let mut p = plan(key, old, None, Outcome::Quarantined(same));
    p.quarantine = same;
    p.noop = !same;
    p
}

fn decide_drop(key: ObjectKey, old: Option<Entry>, version: &EntryVersion) -> Plan {
    let same = old.as_ref().is_some_and(|o| o.version(key) == *version);
    let mut p = plan(key, old, None, Outcome::Dropped(same));
    p.noop = !same;
    p
}

fn meta_json(meta: &ObjectMeta) -> Result<Vec<u8>, NodeError> {
    let mj = serde_json::to_vec(meta).map_err(|e| NodeError::Io(format!("metadata: {e}")))?;
    if mj.len() > META_BYTES_MAX {
        return Err(NodeError::Io(format!(
            "object metadata is {} bytes, over the {META_BYTES_MAX} limit",
            mj.len()
        )));
    }
    Ok(mj)
}

fn add_to_batch(p: &Plan, wb: &mut WriteBatch) {
    if p.noop {
        return;
    }
    if p.quarantine {
        if let Some(o) = &p.old {
            wb.put(quarantine_key(&p.key, o.meta.data_ts), o.encode());
        }
        wb.delete(object_key(&p.key));
        return;
    }
    match &p.new {
        Some(n) => wb.put(object_key(&p.key), n.encode()),
        // A drop: the key goes, with no tombstone.
        None => wb.delete(object_key(&p.key)),
    }
}

/// Updates the device counters for committed plans; returns blob files no
/// entry references anymore.
fn account<D: DiskIo>(
    dev: &Device<D>,
    plans: &[(Plan, oneshot::Sender<Result<Outcome, NodeError>>)],
) -> Vec<u64> {
    let mut c = dev.counters.lock().unwrap_or_else(|p| p.into_inner());
    let mut doomed = Vec::new();
    for (p, _) in plans.iter().filter(|(p, _)| !p.noop) {
        if let Some(o) = &p.old {
            if o.is_live() {
                c.objects = c.objects.saturating_sub(1);
            }
            match o.loc {
                Location::Segment { id, record_len, .. } => {
                    let s = c.segs.entry(id).or_default();
                    s.live = s.live.saturating_sub(record_len);
                }
                Location::Blob { id } => {
                    c.blob_bytes = c.blob_bytes.saturating_sub(o.meta.content_length);
                    let kept = p.new.as_ref().is_some_and(|n| n.loc == o.loc);
                    if !kept && !p.quarantine {
                        doomed.push(id);
                    }
                }
                Location::None => {}
            }
        }
        if p.quarantine {
            c.quarantined += 1;
        }
        if let Some(n) = &p.new {
            if n.is_live() {
                c.objects += 1;
            }
            match n.loc {
                Location::Segment {
                    id,
                    offset,
                    record_len,
                    ..
                } => {
                    let s: &mut SegStats = c.segs.entry(id).or_default();
                    s.live += record_len;
                    s.len = s.len.max(offset + record_len);
                }
                Location::Blob { .. } => c.blob_bytes += n.meta.content_length,
                Location::None => {}
            }
        }
    }
    doomed
}

/// Bytes for one segment, written with one `write_at` at `start`.
struct Run {
    seg: u64,
    start: u64,
    buf: Vec<u8>,
}

/// Hands out tail positions for a batch's records (rolling to new segments
/// when one is full) and encodes the records into per-segment runs.
struct Placer {
    segment_size: u64,
    active: Option<(u64, u64)>,
    next_id: u64,
    new_ids: Vec<u64>,
    runs: Vec<Run>,
}

impl Placer {
    fn new(st: &WriterState, segment_size: u64) -> Self {
        Placer {
            segment_size,
            active: st.active,
            next_id: st.next_segment,
            new_ids: Vec::new(),
            runs: Vec::new(),
        }
    }

    fn append(&mut self, key: &ObjectKey, meta: &ObjectMeta, mj: &[u8], body: &[u8]) -> Location {
        let len = (HEADER_BYTES + mj.len() + body.len()) as u64;
        let (seg, offset) = match self.active {
            Some((id, pos)) if pos + len <= self.segment_size => (id, pos),
            _ => {
                let id = self.next_id;
                self.next_id += 1;
                self.new_ids.push(id);
                (id, 0)
            }
        };
        self.active = Some((seg, offset + len));
        let fresh = !matches!(self.runs.last(), Some(r) if r.seg == seg);
        if fresh {
            self.runs.push(Run {
                seg,
                start: offset,
                buf: Vec::new(),
            });
        }
        let run = self.runs.last_mut().expect("run just ensured");
        let body_rel = record::encode(&mut run.buf, key, meta, mj, body);
        Location::Segment {
            id: seg,
            offset,
            record_len: len,
            body_offset: offset + body_rel,
        }
    }
}

/// Steps 2 and 3: create new segments, write the runs, fdatasync each
/// touched segment once.
async fn write_runs<D: DiskIo>(dev: &Device<D>, placer: &mut Placer) -> Result<(), NodeError> {
    for &id in &placer.new_ids {
        create_segment(dev, id).await?;
    }
    if !placer.new_ids.is_empty() {
        if let Err(e) = dev.io.sync_dir(&dev.segments_dir()).await {
            dev.poison(format!("fsync of segments directory failed: {e}"));
            return Err(NodeError::DeviceUnavailable(e.to_string()));
        }
    }
    let mut touched = Vec::new();
    for run in placer.runs.drain(..) {
        let file = dev
            .segment_file(run.seg)
            .ok_or_else(|| NodeError::Io(format!("segment {} vanished", run.seg)))?;
        dev.io
            .write_at(&file, run.start, run.buf)
            .await
            .map_err(|e| io_to_node("segment write", &e))?;
        if !touched.iter().any(|(s, _)| *s == run.seg) {
            touched.push((run.seg, file));
        }
    }
    for (seg, file) in touched {
        if let Err(e) = dev.io.sync_data(&file).await {
            dev.poison(format!("fdatasync of segment {seg} failed: {e}"));
            return Err(NodeError::DeviceUnavailable(e.to_string()));
        }
    }
    Ok(())
}

/// Creates segment `id`, preallocated to the segment size so that running
/// out of space shows up here (as `DeviceFull`) and not mid-batch.
async fn create_segment<D: DiskIo>(dev: &Device<D>, id: u64) -> Result<(), NodeError> {
    let path = dev.segment_path(id);
    let file = dev
        .io
        .open(&path, OpenMode::CreateNew)
        .await
        .map_err(|e| io_to_node("segment create", &e))?;
    if let Err(e) = dev
        .io
        .allocate(&file, 0, dev.params.segment_size_bytes)
        .await
    {
        let _ = dev.io.remove_file(&path).await;
        return Err(io_to_node("segment preallocate", &e));
    }
    let mut map = dev.segments.write().unwrap_or_else(|p| p.into_inner());
    map.insert(id, file);
    Ok(())
}
