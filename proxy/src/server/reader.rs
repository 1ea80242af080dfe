//! Reading an object from its replicas: pick a replica (the first good one,
//! or the newest of all with X-Newest), and stream byte ranges to the client
//! with failover — a replica that fails mid-stream is replaced by the next
//! at the byte offset reached, and bytes are only forwarded after their
//! frame's crc32c verified. When no replica is left the response is cut,
//! so a client never receives a wrong byte.

use super::Shared;
use crate::errors::SwiftError;
use crate::placement::{Locations, Target};
use axum::body::Body;
use bytes::Bytes;
use cairn_base::Timestamp;
use cairn_nodeapi::{ByteRange, GetStream, NodeError, ObjectKey, ObjectMeta, ObjectNode};
use futures::StreamExt;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::time::timeout;

/// Chunks queued towards one client before the reader waits.
pub const CLIENT_CHUNKS_MAX: usize = 8;

/// The replicas to read from, in order, with their clients.
#[derive(Clone)]
pub struct Replicas {
    key: ObjectKey,
    list: Vec<(Target, Arc<dyn ObjectNode>)>,
    node_timeout: Duration,
}

impl Replicas {
    /// The replicas in [`Locations::read_order`], this node's first.
    pub fn new(sh: &Shared, loc: &Locations) -> Self {
        let list: Vec<_> = loc
            .read_order(sh.cfg.read_affinity)
            .into_iter()
            .filter_map(|t| sh.nodes.get(&t.node).map(|n| (t, n)))
            .collect();
        Replicas {
            key: loc.key,
            list,
            node_timeout: sh.cfg.node_timeout,
        }
    }

    /// Puts the replicas holding `version` first (after an X-Newest HEAD).
    fn prefer(&mut self, holders: &[Target]) {
        self.list.sort_by_key(|(t, _)| !holders.contains(t));
    }
}

/// Which copy of the object a response serves; resumes must match it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub data_ts: Timestamp,
    pub etag: String,
}

impl Version {
    pub fn of(m: &ObjectMeta) -> Self {
        Version {
            data_ts: m.data_ts,
            etag: m.etag.clone(),
        }
    }
}

/// Tally of replicas that had nothing, for the final status.
#[derive(Default)]
struct Misses {
    not_found: usize,
    newest_tombstone: Option<Timestamp>,
    errors: usize,
}

impl Misses {
    fn record(&mut self, e: &NodeError) {
        match e {
            NodeError::NotFound { tombstone } => {
                self.not_found += 1;
                self.newest_tombstone = self.newest_tombstone.max(*tombstone);
            }
            _ => self.errors += 1,
        }
    }

    /// Whether a copy written at `ts` was deleted after it by a tombstone seen.
    fn shadows(&self, ts: Timestamp) -> bool {
        self.newest_tombstone.is_some_and(|t| t >= ts)
    }

    fn into_error(self) -> SwiftError {
        if self.not_found > 0 || self.errors == 0 {
            SwiftError::NotFound
        } else {
            SwiftError::Unavailable(format!("{} replicas failed", self.errors))
        }
    }
}

/// The object's metadata: the first good replica's, or with `newest` the
/// newest of all replicas (a newer tombstone makes it a 404).
pub async fn head(reps: &mut Replicas, newest: bool) -> Result<ObjectMeta, SwiftError> {
    let mut misses = Misses::default();
    if newest {
        let calls = reps.list.iter().map(|(t, n)| {
            let (t, n, key, to) = (*t, n.clone(), reps.key, reps.node_timeout);
            async move { (t, with_timeout(to, n.head(t.device, key)).await) }
        });
        let results = futures::future::join_all(calls).await;
        let mut best: Option<ObjectMeta> = None;
        let mut holders = Vec::new();
        for (t, r) in results {
            match r {
                Ok(m) => {
                    let newer = best
                        .as_ref()
                        .is_none_or(|b| (m.data_ts, m.meta_ts) > (b.data_ts, b.meta_ts));
                    if newer {
                        holders.clear();
                        best = Some(m);
                    }
                    holders.push(t);
                }
                Err(e) => misses.record(&e),
            }
        }
        return match best {
            Some(m) if !misses.shadows(m.data_ts) => {
                reps.prefer(&holders);
                Ok(m)
            }
            _ => Err(misses.into_error()),
        };
    }
    for (t, n) in &reps.list {
        match with_timeout(reps.node_timeout, n.head(t.device, reps.key)).await {
            Ok(m) if !misses.shadows(m.data_ts) => return Ok(m),
            Ok(_) => misses.not_found += 1,
            Err(e) => misses.record(&e),
        }
    }
    Err(misses.into_error())
}

/// Opens the whole object on the first good replica (of `version`, when given).
pub async fn open(
    reps: &Replicas,
    version: Option<&Version>,
) -> Result<(GetStream, usize), SwiftError> {
    open_at(reps, version, None).await
}

/// Opens `range` of the object (all of it when `None`) on the first good
/// replica (of `version`, when given).
pub async fn open_at(
    reps: &Replicas,
    version: Option<&Version>,
    range: Option<ByteRange>,
) -> Result<(GetStream, usize), SwiftError> {
    let mut misses = Misses::default();
    for (i, (t, n)) in reps.list.iter().enumerate() {
        match with_timeout(reps.node_timeout, n.get(t.device, reps.key, range)).await {
            Ok(s) if version.is_some_and(|v| *v != Version::of(&s.meta)) => misses.errors += 1,
            Ok(s) if misses.shadows(s.meta.data_ts) => misses.not_found += 1,
            Ok(s) => return Ok((s, i)),
            Err(e) => misses.record(&e),
        }
    }
    Err(misses.into_error())
}

async fn with_timeout<T>(
    d: Duration,
    f: impl std::future::Future<Output = Result<T, NodeError>>,
) -> Result<T, NodeError> {
    timeout(d, f)
        .await
        .unwrap_or_else(|_| Err(NodeError::Unreachable("timed out".into())))
}

/// One piece of a response body: literal bytes or a byte range of the object.
pub enum Piece {
    Literal(Bytes),
    Range(u64, u64),
}

/// Streams `pieces` to the client from a background task; `first` (an
/// already open stream from replica `first_idx`) serves the first range
/// when it covers it.
pub fn spawn_body(
    reps: Replicas,
    version: Version,
    first: Option<(GetStream, usize)>,
    pieces: Vec<Piece>,
) -> Body {
    let (tx, body) = body_channel();
    tokio::spawn(stream_pieces(reps, version, first, pieces, tx));
    body
}

/// Reads a whole small object (a manifest) from its open stream, with
/// failover; `Err` when it is longer than `max_bytes` or cannot be read.
pub async fn read_all(
    reps: Replicas,
    opened: (GetStream, usize),
    max_bytes: usize,
) -> Result<Bytes, SwiftError> {
    let meta = opened.0.meta.clone();
    if meta.content_length > max_bytes as u64 {
        return Err(SwiftError::Internal(format!(
            "{} is {} bytes, more than the {max_bytes} read whole",
            meta.name, meta.content_length
        )));
    }
    let pieces = vec![Piece::Range(0, meta.content_length)];
    let (tx, body) = body_channel();
    let (_, read) = tokio::join!(
        stream_pieces(reps, Version::of(&meta), Some(opened), pieces, tx),
        axum::body::to_bytes(body, max_bytes)
    );
    read.map_err(|e| SwiftError::Unavailable(format!("reading {}: {e}", meta.name)))
}

/// A response body fed through a bounded channel: the sender end for the
/// task that produces it, the body for the client.
pub fn body_channel() -> (ChunkSender, Body) {
    let (tx, rx) = mpsc::channel(CLIENT_CHUNKS_MAX);
    (tx, body_of(None, rx))
}

/// A response body that starts only once its producer sent a first chunk
/// (or finished): `spawn` starts the producer with the sending end. Like
/// Swift's WSGI server, which sends the status with the first byte, a
/// client sees the answer of a long task only when it has something to say.
pub async fn body_when_ready(spawn: impl FnOnce(ChunkSender)) -> Body {
    let (tx, mut rx) = mpsc::channel(CLIENT_CHUNKS_MAX);
    spawn(tx);
    let first = rx.recv().await;
    body_of(first, rx)
}

fn body_of(first: Option<Chunk>, rx: mpsc::Receiver<Chunk>) -> Body {
    let rest =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|x| (x, rx)) });
    Body::from_stream(futures::stream::iter(first).chain(rest))
}

/// One piece of a streamed response body.
pub type Chunk = Result<Bytes, std::io::Error>;

/// The producing end of a response body.
pub type ChunkSender = mpsc::Sender<Chunk>;

/// Streams `pieces` of one object into `tx`, failing over between replicas.
/// `false` when the response must stop (the client left, or no replica could
/// finish a range — then an error has been sent and the body is cut).
pub async fn stream_pieces(
    reps: Replicas,
    version: Version,
    first: Option<(GetStream, usize)>,
    pieces: Vec<Piece>,
    tx: ChunkSender,
) -> bool {
    let mut r = RangeReader {
        failed: vec![false; reps.list.len()],
        reps,
        version,
        first,
        tx,
    };
    for p in pieces {
        let ok = match p {
            Piece::Literal(b) => r.tx.send(Ok(b)).await.is_ok(),
            Piece::Range(s, e) => r.stream_range(s, e).await,
        };
        if !ok {
            return false;
        }
    }
    true
}

struct RangeReader {
    reps: Replicas,
    version: Version,
    first: Option<(GetStream, usize)>,
    failed: Vec<bool>,
    tx: ChunkSender,
}

impl RangeReader {
    /// Forwards `[start, end)`; `false` when the response must stop (the
    /// client left, or no replica could finish the range — then the body is
    /// cut with an error so the client sees a short response, not bad bytes).
    async fn stream_range(&mut self, start: u64, end: u64) -> bool {
        let mut off = start;
        while off < end {
            let Some((mut s, idx)) = self.next_stream(off, end).await else {
                tracing::warn!(key = ?self.reps.key, off, "no replica can finish the read");
                let _ = self
                    .tx
                    .send(Err(std::io::Error::other(
                        "no replica could finish the read",
                    )))
                    .await;
                return false;
            };
            loop {
                let item = timeout(self.reps.node_timeout, s.body.recv()).await;
                let bytes = match item {
                    Ok(Some(Ok(frame))) => match frame.verify() {
                        Ok(b) => b,
                        Err(_) => break,
                    },
                    Ok(Some(Err(_))) | Ok(None) | Err(_) => break,
                };
                let take = bytes.len().min((end - off) as usize);
                if take > 0 && self.tx.send(Ok(bytes.slice(..take))).await.is_err() {
                    return false;
                }
                off += take as u64;
                if off >= end {
                    return true;
                }
            }
            tracing::info!(key = ?self.reps.key, replica = idx, off, "replica failed mid-read; resuming elsewhere");
            self.failed[idx] = true;
        }
        true
    }

    /// The open first stream if it starts at `off`, else a fresh range read
    /// from the next replica that holds the same version.
    async fn next_stream(&mut self, off: u64, end: u64) -> Option<(GetStream, usize)> {
        if let Some((s, idx)) = self.first.take() {
            if s.range.start == off && s.range.end >= end {
                return Some((s, idx));
            }
        }
        for (i, (t, n)) in self.reps.list.iter().enumerate() {
            if self.failed[i] {
                continue;
            }
            let range = Some(ByteRange { start: off, end });
            match with_timeout(
                self.reps.node_timeout,
                n.get(t.device, self.reps.key, range),
            )
            .await
            {
                Ok(s) if Version::of(&s.meta) == self.version && s.range.start == off => {
                    return Some((s, i))
                }
                _ => self.failed[i] = true,
            }
        }
        None
    }
}
