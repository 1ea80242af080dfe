//! The per-process hashing thread that computes concurrent uploads' MD5s
//! together, a few lanes per pass (see [`crate::lanes`]).
//!
//! An upload sends its body to the thread as it goes and asks for the
//! digest at the end. The thread holds each upload's unhashed bytes and
//! waits to hash until every open upload has some, so that a pass fills
//! several lanes; it hashes without the stragglers once one upload holds
//! [`SOLO_AFTER`] bytes, and at once for an upload that wants its digest.
//! An upload sends no more while [`BACKLOG_MAX`] of its bytes are unhashed.
//! Bodies of at most [`INLINE_MAX`] bytes are hashed in the request's task:
//! for them, a thread hop costs more than lanes save.

use crate::digest::Md5;
use crate::lanes::{self, BLOCK, LANES_MAX};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{mpsc, Arc};
use tokio::sync::{oneshot, watch};

/// Bodies up to this size are hashed inline.
pub const INLINE_MAX: u64 = 256 * 1024;
/// Unhashed bytes after which an upload is hashed without waiting for the
/// others. bench.sh's 4 concurrent 64 MiB uploads, on one process: at
/// 512 KiB, 29 % of the bytes went through full 4-lane passes and 18 %
/// alone; at 2 MiB, 76 % and 5 %. The frames are shared with the replicas'
/// channels, which hold up to 2 MiB each.
pub const SOLO_AFTER: usize = 2 * 1024 * 1024;
/// Unhashed bytes at which an upload waits for the thread.
/// Above [`SOLO_AFTER`], so a waiting upload is always hashed.
pub const BACKLOG_MAX: u64 = 4 * 1024 * 1024;
/// The most bytes of each lane one pass hashes.
const PASS_MAX: usize = 256 * 1024;

/// The hashing thread died (it panicked); the upload cannot be finished.
#[derive(Debug, thiserror::Error)]
#[error("the MD5 hashing thread is gone")]
pub struct HasherGone;

enum Msg {
    Open(u64, watch::Sender<u64>),
    Data(u64, Bytes),
    Finish(u64, oneshot::Sender<[u8; 16]>),
    Abandon(u64),
}

/// The handle to a process's hashing thread; the thread ends when the last
/// handle and upload are dropped.
#[derive(Clone)]
pub struct Batcher {
    tx: mpsc::Sender<Msg>,
    next_id: Arc<AtomicU64>,
}

impl Batcher {
    /// Starts the thread.
    pub fn start() -> std::io::Result<Batcher> {
        let (tx, rx) = mpsc::channel();
        std::thread::Builder::new()
            .name("cairn-md5".into())
            .spawn(move || Thread::default().run(rx))?;
        Ok(Batcher {
            tx,
            next_id: Arc::default(),
        })
    }

    /// An upload's hasher; `size_hint` is its announced length, if any.
    pub fn upload(&self, size_hint: Option<u64>) -> Result<UploadMd5, HasherGone> {
        if size_hint.is_some_and(|n| n <= INLINE_MAX) {
            return Ok(UploadMd5(Kind::Inline(Md5::new())));
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let (progress, hashed) = watch::channel(0);
        self.tx
            .send(Msg::Open(id, progress))
            .map_err(|_| HasherGone)?;
        Ok(UploadMd5(Kind::Batched(Batched {
            id,
            tx: self.tx.clone(),
            sent: 0,
            hashed,
            finished: false,
        })))
    }
}

/// One upload's MD5, inline or on the hashing thread.
pub struct UploadMd5(Kind);

enum Kind {
    Inline(Md5),
    Batched(Batched),
}

struct Batched {
    id: u64,
    tx: mpsc::Sender<Msg>,
    sent: u64,
    hashed: watch::Receiver<u64>,
    finished: bool,
}

impl UploadMd5 {
    /// Adds the body's next bytes; waits while too many are unhashed.
    pub async fn update(&mut self, data: Bytes) -> Result<(), HasherGone> {
        match &mut self.0 {
            Kind::Inline(md5) => md5.update(&data),
            Kind::Batched(b) => {
                b.sent += data.len() as u64;
                b.tx.send(Msg::Data(b.id, data)).map_err(|_| HasherGone)?;
                let sent = b.sent;
                b.hashed
                    .wait_for(|&h| sent - h <= BACKLOG_MAX)
                    .await
                    .map_err(|_| HasherGone)?;
            }
        }
        Ok(())
    }

    /// The digest of everything added.
    pub async fn finalize(mut self) -> Result<[u8; 16], HasherGone> {
        match &mut self.0 {
            Kind::Inline(md5) => Ok(std::mem::take(md5).finalize()),
            Kind::Batched(b) => {
                let (tx, rx) = oneshot::channel();
                b.finished = true;
                b.tx.send(Msg::Finish(b.id, tx)).map_err(|_| HasherGone)?;
                rx.await.map_err(|_| HasherGone)
            }
        }
    }
}

impl Drop for Batched {
    fn drop(&mut self) {
        if !self.finished {
            // The thread may be gone already; then there is nothing to free.
            let _ = self.tx.send(Msg::Abandon(self.id));
        }
    }
}

/// An open upload, as the thread holds it.
struct Upload {
    md5: Md5,
    /// Unhashed chunks; the front one from `offset`.
    queue: VecDeque<Bytes>,
    offset: usize,
    queued: usize,
    hashed: u64,
    progress: watch::Sender<u64>,
    finish: Option<oneshot::Sender<[u8; 16]>>,
}

impl Upload {
    /// Moves bytes into the partial block until the front chunk offers
    /// whole blocks from a block boundary; how many bytes it offers.
    fn align(&mut self) -> usize {
        while let Some(front) = self.queue.front() {
            let rest = &front[self.offset..];
            let left = self.md5.top_up(rest).len();
            self.take(rest.len() - left);
            if left >= BLOCK {
                return left - left % BLOCK;
            }
        }
        0
    }

    /// Marks `n` bytes of the front chunk hashed.
    fn take(&mut self, n: usize) {
        self.offset += n;
        self.queued -= n;
        self.hashed += n as u64;
        if self.queue.front().is_some_and(|f| self.offset == f.len()) {
            self.queue.pop_front();
            self.offset = 0;
        }
    }

    fn ready(&self) -> bool {
        self.finish.is_some() || self.queued >= SOLO_AFTER
    }
}

#[derive(Default)]
struct Thread {
    uploads: HashMap<u64, Upload>,
}

impl Thread {
    fn run(mut self, rx: mpsc::Receiver<Msg>) {
        loop {
            while !self.due() {
                match rx.recv() {
                    Ok(m) => self.apply(m),
                    Err(_) => return,
                }
            }
            while let Ok(m) = rx.try_recv() {
                self.apply(m);
            }
            self.pass();
            self.report();
        }
    }

    fn apply(&mut self, m: Msg) {
        match m {
            Msg::Open(id, progress) => {
                self.uploads.insert(
                    id,
                    Upload {
                        md5: Md5::new(),
                        queue: VecDeque::new(),
                        offset: 0,
                        queued: 0,
                        hashed: 0,
                        progress,
                        finish: None,
                    },
                );
            }
            Msg::Data(id, data) => {
                if let Some(u) = self.uploads.get_mut(&id) {
                    u.queued += data.len();
                    u.queue.push_back(data);
                }
            }
            Msg::Finish(id, reply) => {
                if let Some(u) = self.uploads.get_mut(&id) {
                    u.finish = Some(reply);
                }
            }
            Msg::Abandon(id) => {
                self.uploads.remove(&id);
            }
        }
    }

    /// Whether to hash now: an upload is waiting on it, or every open
    /// upload has bytes to fill a lane with.
    fn due(&self) -> bool {
        self.uploads.values().any(Upload::ready)
            || (!self.uploads.is_empty() && self.uploads.values().all(|u| u.queued > 0))
    }

    /// One pass: every upload with bytes, up to [`LANES_MAX`] at a time,
    /// advances by the whole blocks all its group's lanes have.
    fn pass(&mut self) {
        let mut lanes: Vec<(&mut Upload, usize)> = self
            .uploads
            .values_mut()
            .map(|u| {
                let n = u.align();
                (u, n)
            })
            .filter(|(_, n)| *n > 0)
            .collect();
        for group in lanes.chunks_mut(LANES_MAX) {
            let len = group
                .iter()
                .map(|(_, n)| *n)
                .min()
                .unwrap_or(0)
                .min(PASS_MAX);
            match group {
                [(a, _)] => hash(len, [a]),
                [(a, _), (b, _)] => hash(len, [a, b]),
                [(a, _), (b, _), (c, _)] => hash(len, [a, b, c]),
                [(a, _), (b, _), (c, _), (d, _)] => hash(len, [a, b, c, d]),
                _ => unreachable!("groups hold 1 to LANES_MAX uploads"),
            }
        }
    }

    /// Tells each upload how far it is hashed, and answers the finished ones.
    fn report(&mut self) {
        self.uploads.retain(|_, u| {
            let hashed = u.hashed;
            u.progress
                .send_if_modified(|h| std::mem::replace(h, hashed) != hashed);
            if u.queued > 0 || u.finish.is_none() {
                return true;
            }
            if let Some(reply) = u.finish.take() {
                // The upload may have been dropped meanwhile; nobody to tell.
                let _ = reply.send(std::mem::take(&mut u.md5).finalize());
            }
            false
        });
    }
}

/// Hashes `len` bytes (whole blocks) of each upload's front chunk together.
fn hash<const N: usize>(len: usize, mut ups: [&mut Upload; N]) {
    let mut states: [[u32; 4]; N] = std::array::from_fn(|l| ups[l].md5.state());
    let data: [&[[u8; BLOCK]]; N] = std::array::from_fn(|l| {
        let u = &ups[l];
        u.queue[0][u.offset..u.offset + len].as_chunks::<BLOCK>().0
    });
    if N == 1 {
        md5_asm::compress(&mut states[0], data[0]);
    } else {
        lanes::compress(&mut states, data);
    }
    for (u, s) in ups.iter_mut().zip(states) {
        u.md5.advanced(len / BLOCK, s);
        u.take(len);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_abandoned_upload_is_removed_with_its_bytes() {
        let mut t = Thread::default();
        let (progress, _hashed) = watch::channel(0);
        t.apply(Msg::Open(7, progress));
        t.apply(Msg::Data(7, Bytes::from(vec![0u8; 1000])));
        assert_eq!(t.uploads.len(), 1);
        t.apply(Msg::Abandon(7));
        assert!(t.uploads.is_empty());
        assert!(!t.due(), "nothing left to hash");
    }
}
