//! The PUT driver: reads the body once, computes its MD5 and its per-chunk
//! blake3 digests, and streams it in crc32c frames to every replica through
//! bounded channels, doing what the [`PutCoordinator`] commands.
//!
//! Steps of one write:
//! 1. open a PUT to each primary (`Command::StartPut`);
//! 2. for each body chunk: update the MD5 and the digests, send the frame
//!    to every live replica (a replica slower than `node_timeout` is
//!    dropped), keep it in the replay window while the body is small;
//! 3. at the end of the body, verify length and ETag; only then send
//!    `PutChunk::End` with the digests, which every replica stores as they
//!    are (decision 0026) — a replica that never gets it stores nothing;
//! 4. wait for the replicas' acks; the coordinator decides durable or not.

use super::Shared;
use crate::errors::SwiftError;
use crate::placement::{Locations, Target};
use crate::quorum::{Command, Event, Outcome, PutCoordinator};
use bytes::{Bytes, BytesMut};
use cairn_nodeapi::{
    ChunkDigests, ChunkHasher, Frame, NodeError, ObjectMeta, PutAck, PutChunk,
    BODY_CHANNEL_FRAMES_MAX,
};
use futures::{Stream, StreamExt};
use std::pin::Pin;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio::time::timeout;

/// Frames sent to storage nodes are at most this large. Every frame costs
/// channel sends, task wake-ups and a message header per replica; at 256 KiB
/// those are paid a quarter as often as at 64 KiB (a 64 MiB PUT on
/// `cairn up --nodes 3`: 262 -> 273-279 MB/s), while a replica's channel
/// still holds at most 2 MiB.
pub const FRAME_BYTES_MAX: usize = 256 * 1024;
/// A body chunk at least this large is sent as a frame of its own rather
/// than copied together with others: its per-frame costs are small beside
/// the copy they save.
const FRAME_BYTES_MIN: usize = 64 * 1024;
/// The body prefix held so a failed replica can be replaced by a handoff.
pub const REPLAY_BYTES_MAX: usize = 1024 * 1024;
/// How long the last replicas may take once a quorum acked (Swift's
/// `post_quorum_timeout`).
pub const POST_QUORUM_TIMEOUT: std::time::Duration = std::time::Duration::from_millis(500);
/// Replicas (primaries and handoffs) one write may start.
const STARTS_MAX: usize = 16;

/// A PUT body: client bytes, or a copy source's.
pub type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, SwiftError>> + Send>>;

/// What the body must be and what to store with it.
pub struct WriteSpec {
    /// The stored metadata; `content_length` and `etag` are filled in here.
    pub meta: ObjectMeta,
    /// Content-Length, when the client announced one.
    pub expected_len: Option<u64>,
    /// The client's ETag, when given (verified: 422 on mismatch).
    pub expected_etag: Option<String>,
    pub max_len: u64,
}

/// A durable write.
#[derive(Debug)]
pub struct Written {
    pub meta: ObjectMeta,
    pub acked: Vec<Target>,
}

type ReplicaResult = (usize, Target, Result<PutAck, NodeError>);

struct Fanout<'a> {
    sh: &'a Shared,
    loc: &'a Locations,
    coord: PutCoordinator,
    txs: Vec<Option<mpsc::Sender<PutChunk>>>,
    aborts: Vec<Option<AbortHandle>>,
    slot_targets: Vec<Option<Target>>,
    results_tx: mpsc::Sender<ReplicaResult>,
    results_rx: mpsc::Receiver<ReplicaResult>,
    replay: Option<Vec<Frame>>,
    replay_bytes: usize,
    end: Option<(ObjectMeta, ChunkDigests)>,
    starts: usize,
}

/// Streams `body` to the object's replicas; `Ok` once a quorum stored it durably.
pub async fn write_object(
    sh: &Shared,
    loc: &Locations,
    body: BodyStream,
    spec: WriteSpec,
) -> Result<Written, SwiftError> {
    let coord = PutCoordinator::new(&loc.primaries, &loc.handoffs, loc.quorum());
    let (results_tx, results_rx) = mpsc::channel(STARTS_MAX);
    let mut f = Fanout {
        sh,
        loc,
        coord,
        txs: vec![None; loc.primaries.len()],
        aborts: vec![None; loc.primaries.len()],
        slot_targets: vec![None; loc.primaries.len()],
        results_tx,
        results_rx,
        replay: Some(Vec::new()),
        replay_bytes: 0,
        end: None,
        starts: 0,
    };
    f.apply_commands().await;
    let result = f.run(body, spec).await;
    if result.is_err() {
        // Dropping the senders without `End` makes every replica discard
        // the partial object (the node API's invariant); their tasks finish
        // on their own, so a storage node is never cancelled mid-write.
        f.txs.iter_mut().for_each(|t| *t = None);
    }
    result
}

impl Fanout<'_> {
    async fn run(&mut self, mut body: BodyStream, spec: WriteSpec) -> Result<Written, SwiftError> {
        let mut md5 = self.sh.etags.upload(spec.expected_len).map_err(internal)?;
        let mut digests = ChunkHasher::new();
        let mut received: u64 = 0;
        let mut pending = BytesMut::new();
        loop {
            if self.check_failed()? {
                // A quorum already holds a newer version: nothing to store.
                return Ok(Written {
                    meta: spec.meta,
                    acked: Vec::new(),
                });
            }
            let next = tokio::select! {
                biased;
                Some(r) = self.results_rx.recv() => { self.on_result(r).await; continue; }
                next = timeout(self.sh.cfg.client_timeout, body.next()) => next,
            };
            let chunk = match next {
                Err(_) => return Err(SwiftError::RequestTimeout),
                Ok(None) => break,
                Ok(Some(Err(e))) => return Err(e),
                Ok(Some(Ok(c))) => c,
            };
            received += chunk.len() as u64;
            if received > spec.max_len || spec.expected_len.is_some_and(|l| received > l) {
                return Err(SwiftError::TooLarge);
            }
            let rest = spec.expected_len.map(|l| l - received + chunk.len() as u64);
            for frame in coalesce(&mut pending, chunk, rest) {
                self.hash_and_send(&mut md5, &mut digests, frame).await?;
            }
        }
        if !pending.is_empty() {
            self.hash_and_send(&mut md5, &mut digests, pending.split().freeze())
                .await?;
        }
        if spec.expected_len.is_some_and(|l| l != received) {
            return Err(SwiftError::ClientDisconnect);
        }
        let etag = hex::encode(md5.finalize().await.map_err(internal)?);
        if let Some(want) = &spec.expected_etag {
            if !want.trim_matches('"').eq_ignore_ascii_case(&etag) {
                return Err(SwiftError::Unprocessable);
            }
        }
        let mut meta = spec.meta;
        meta.etag = etag;
        meta.content_length = received;
        self.finish(meta.clone(), digests.finish()).await?;
        match self.coord.outcome() {
            Some(Outcome::Durable { acked }) => Ok(Written { meta, acked }),
            Some(Outcome::Failed(e)) => e.to_swift().map(|()| Written {
                meta,
                acked: Vec::new(),
            }),
            None => Err(SwiftError::Internal(
                "write finished without an outcome".into(),
            )),
        }
    }

    /// `Err` once the quorum is out of reach: the tally's error, or
    /// `Ok(None)`-style acceptance when newer versions won (see `to_swift`).
    fn check_failed(&self) -> Result<bool, SwiftError> {
        match self.coord.outcome() {
            Some(Outcome::Failed(e)) => e.to_swift().map(|()| true),
            _ => Ok(false),
        }
    }

    /// Sends `End` to every live replica and waits for their answers.
    async fn finish(&mut self, meta: ObjectMeta, digests: ChunkDigests) -> Result<(), SwiftError> {
        self.end = Some((meta.clone(), digests.clone()));
        let mut failed = Vec::new();
        for slot in 0..self.txs.len() {
            let Some(tx) = self.txs[slot].take() else {
                continue;
            };
            if !self.coord.is_streaming(slot) {
                continue;
            }
            if timeout(
                self.sh.cfg.node_timeout,
                tx.send(PutChunk::End(meta.clone(), digests.clone())),
            )
            .await
            .is_err()
            {
                failed.push(slot);
            }
        }
        self.fail_slots(failed).await;
        self.coord.handle(Event::BodyEnded);
        while self.coord.outcome().is_none() {
            // Once a quorum holds the object, a straggler gets a moment,
            // not a node timeout: the replicator gives it its copy later.
            let wait = if self.coord.has_quorum() {
                POST_QUORUM_TIMEOUT
            } else {
                self.sh.cfg.node_timeout
            };
            match timeout(wait, self.results_rx.recv()).await {
                Ok(Some(r)) => self.on_result(r).await,
                Ok(None) | Err(_) => {
                    self.coord.give_up();
                    self.abort_all();
                }
            }
        }
        Ok(())
    }

    async fn on_result(&mut self, (slot, target, r): ReplicaResult) {
        let ev = match r {
            Ok(_) => Event::Acked { slot, target },
            Err(error) => {
                tracing::info!(?target, %error, "replica write failed");
                Event::Failed {
                    slot,
                    target,
                    error,
                }
            }
        };
        self.coord.handle(ev);
        self.apply_commands().await;
    }

    /// Adds a frame to the ETag and the digests, then sends it.
    async fn hash_and_send(
        &mut self,
        md5: &mut cairn_md5::UploadMd5,
        digests: &mut ChunkHasher,
        frame: Bytes,
    ) -> Result<(), SwiftError> {
        md5.update(frame.clone()).await.map_err(internal)?;
        digests.update(&frame);
        self.send_frame(Frame::new(frame)).await;
        Ok(())
    }

    /// Sends one frame to every live replica; keeps it for replay while small.
    async fn send_frame(&mut self, frame: Frame) {
        if let Some(buf) = &mut self.replay {
            self.replay_bytes += frame.len();
            if self.replay_bytes > REPLAY_BYTES_MAX {
                self.replay = None;
                self.coord.handle(Event::ReplayWindowClosed);
            } else {
                buf.push(frame.clone());
            }
        }
        let mut failed = Vec::new();
        for slot in 0..self.txs.len() {
            let Some(tx) = &self.txs[slot] else { continue };
            match timeout(
                self.sh.cfg.node_timeout,
                tx.send(PutChunk::Data(frame.clone())),
            )
            .await
            {
                Ok(Ok(())) => {}
                // The replica's task ended; its result arrives on `results_rx`.
                Ok(Err(_)) => self.txs[slot] = None,
                Err(_) => failed.push(slot),
            }
        }
        self.fail_slots(failed).await;
    }

    /// Replicas that stopped taking frames: abort them and tell the coordinator.
    async fn fail_slots(&mut self, slots: Vec<usize>) {
        for slot in slots {
            self.txs[slot] = None;
            if let Some(a) = self.aborts[slot].take() {
                a.abort();
            }
            if let Some(target) = self.current_target(slot) {
                let error = NodeError::Unreachable("timed out taking frames".into());
                self.coord.handle(Event::Failed {
                    slot,
                    target,
                    error,
                });
            }
        }
        self.apply_commands().await;
    }

    fn current_target(&self, slot: usize) -> Option<Target> {
        self.coord.is_streaming(slot).then_some(())?;
        self.slot_targets.get(slot).copied().flatten()
    }

    async fn apply_commands(&mut self) {
        loop {
            let cmds = self.coord.drain_commands();
            if cmds.is_empty() {
                return;
            }
            for Command::StartPut {
                slot,
                target,
                replay,
            } in cmds
            {
                self.start(slot, target, replay).await;
            }
        }
    }

    async fn start(&mut self, slot: usize, target: Target, replay: bool) {
        let node = self.sh.nodes.get(&target.node);
        let Some(node) = node.filter(|_| self.starts < STARTS_MAX) else {
            let error = NodeError::Unreachable(format!("no client for node {:?}", target.node));
            self.coord.handle(Event::Failed {
                slot,
                target,
                error,
            });
            return;
        };
        self.starts += 1;
        let (tx, rx) = mpsc::channel(BODY_CHANNEL_FRAMES_MAX);
        let results = self.results_tx.clone();
        let key = self.loc.key;
        let task = tokio::spawn(async move {
            let r = node.put(target.device, key, rx).await;
            let _ = results.send((slot, target, r)).await;
        });
        self.aborts[slot] = Some(task.abort_handle());
        self.slot_targets[slot] = Some(target);
        if replay {
            let frames = self.replay.iter().flatten();
            let end = self.end.clone();
            let sent = timeout(self.sh.cfg.node_timeout, async {
                for frame in frames {
                    tx.send(PutChunk::Data(frame.clone())).await?;
                }
                if let Some((meta, digests)) = end {
                    tx.send(PutChunk::End(meta, digests)).await?;
                }
                Ok::<(), mpsc::error::SendError<PutChunk>>(())
            })
            .await;
            match sent {
                // The replica ended early: its result arrives on `results_rx`.
                Ok(Err(_)) => return,
                Ok(Ok(())) if self.end.is_some() => return,
                Ok(Ok(())) => {}
                Err(_) => {
                    task.abort();
                    let error = NodeError::Unreachable("timed out taking the replay".into());
                    self.coord.handle(Event::Failed {
                        slot,
                        target,
                        error,
                    });
                    return;
                }
            }
        }
        self.txs[slot] = Some(tx);
    }

    fn abort_all(&mut self) {
        self.txs.iter_mut().for_each(|t| *t = None);
        for a in self.aborts.iter_mut().filter_map(Option::take) {
            a.abort();
        }
    }
}

/// The hashing thread died: this write cannot get its ETag.
fn internal(e: cairn_md5::HasherGone) -> SwiftError {
    SwiftError::Internal(e.to_string())
}

/// Cuts the body into frames of at most [`FRAME_BYTES_MAX`], coalescing
/// small chunks in `pending`. A chunk of [`FRAME_BYTES_MIN`] or more is
/// never copied: what `pending` holds goes first as a shorter frame, so one
/// odd-sized chunk does not leave every later chunk of the body to be
/// copied across frame boundaries. `rest` is how much of the body is still
/// to come, this chunk included, if known: a chunk that ends the body is a
/// frame without a copy, and `pending` is sized for a frame or for the
/// rest, whichever is less.
fn coalesce(pending: &mut BytesMut, mut chunk: Bytes, rest: Option<u64>) -> Vec<Bytes> {
    let mut out = Vec::new();
    if !pending.is_empty() {
        if chunk.len() >= FRAME_BYTES_MIN {
            out.push(pending.split().freeze());
        } else {
            let take = chunk.len().min(FRAME_BYTES_MAX - pending.len());
            pending.extend_from_slice(&chunk.split_to(take));
            if pending.len() < FRAME_BYTES_MAX {
                return out;
            }
            out.push(pending.split().freeze());
        }
    }
    while chunk.len() >= FRAME_BYTES_MAX {
        out.push(chunk.split_to(FRAME_BYTES_MAX));
    }
    if chunk.is_empty() {
        return out;
    }
    // `pending` is empty here: it was either empty on entry or just sent.
    if chunk.len() >= FRAME_BYTES_MIN || rest == Some(chunk.len() as u64) {
        // Big enough for a frame of its own, or the body's last bytes (all
        // of a small body): a frame as they are.
        out.push(chunk);
        return out;
    }
    // The frame's room at once: growing it chunk by chunk would copy it
    // again at each step.
    let frame = rest.map_or(FRAME_BYTES_MAX, |r| r.min(FRAME_BYTES_MAX as u64) as usize);
    pending.reserve(frame);
    pending.extend_from_slice(&chunk);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_preserves_bytes_and_bounds_frames() {
        // Any chunking of a body yields the same bytes in frames no larger than the maximum.
        let seed: u64 = std::env::var("SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(rand::random);
        println!("SEED={seed}");
        use rand::{Rng, SeedableRng};
        let mut rng = rand::rngs::StdRng::seed_from_u64(seed);
        for _ in 0..50 {
            let len = rng.gen_range(0..300_000);
            let body: Vec<u8> = (0..len).map(|i| (i % 251) as u8).collect();
            let mut pending = BytesMut::new();
            let mut out: Vec<u8> = Vec::new();
            let mut at = 0;
            while at < len {
                let n = rng.gen_range(1..=100_000).min(len - at);
                let chunk = Bytes::copy_from_slice(&body[at..at + n]);
                let rest = rng.gen_bool(0.5).then_some((len - at) as u64);
                for f in coalesce(&mut pending, chunk, rest) {
                    assert!(f.len() <= FRAME_BYTES_MAX && !f.is_empty());
                    out.extend_from_slice(&f);
                }
                at += n;
            }
            out.extend_from_slice(&pending);
            assert_eq!(out, body);
        }
    }

    #[test]
    fn large_chunks_are_never_copied() {
        // An odd-sized chunk first (as when a client pauses) must not make
        // the body's later whole-frame chunks copies.
        let chunks = [
            Bytes::from(vec![1; 100]),
            Bytes::from(vec![2; FRAME_BYTES_MAX]),
            Bytes::from(vec![3; FRAME_BYTES_MIN + 5]),
            Bytes::from(vec![4; 10]),
            Bytes::from(vec![5; FRAME_BYTES_MAX]),
        ];
        let mut pending = BytesMut::new();
        let mut frames = Vec::new();
        for c in &chunks {
            frames.extend(coalesce(&mut pending, c.clone(), None));
        }
        assert!(pending.is_empty());
        let whole = |f: &Bytes| {
            chunks
                .iter()
                .any(|c| c.as_ptr() == f.as_ptr() && c.len() == f.len())
        };
        let lens: Vec<usize> = frames.iter().map(Bytes::len).collect();
        assert_eq!(
            lens,
            [
                100,
                FRAME_BYTES_MAX,
                FRAME_BYTES_MIN + 5,
                10,
                FRAME_BYTES_MAX
            ]
        );
        assert!(frames[1..=2].iter().all(whole) && whole(&frames[4]));
    }
}
