//! One connection's worker: keeps up to `queue_depth` requests in flight
//! (both protocols pipeline by tag; replies may come in any order, and an
//! iSCSI session also keeps within its CmdSN window), checks each READ
//! against the pattern its block should hold, and counts every request.
//! The protocol is the [`Link`]'s.

use super::link::{Link, Op, Request};
use super::pattern;
use super::plan::{Io, IoKind, Plan};
use crate::driver::{Gate, WorkerOutcome};
use crate::stats::{ErrorKind, RequestCounts};
use bytes::{Bytes, BytesMut};
use rand::rngs::StdRng;
use rand::SeedableRng;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// What a worker does in a phase.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Task {
    /// Workload operations until the gate closes.
    Workload,
    /// Write every block once (before a read workload).
    Fill,
    /// Read back every block written and check it.
    Verify,
}

/// How a worker is set up.
#[derive(Debug, Clone)]
pub struct WorkerSpec {
    pub block_bytes: u64,
    pub queue_depth: usize,
    pub verify: bool,
    pub flush_every: Option<u32>,
    pub can_flush: bool,
    pub timeout: Duration,
    /// Written when not verifying (pre-generated, one block long).
    pub data: Bytes,
}

/// A request sent and not yet answered.
#[derive(Debug)]
struct Pending {
    op: Op,
    io: Option<Io>,
    started: Instant,
}

pub struct BlockWorker {
    spec: Arc<WorkerSpec>,
    plan: Plan,
    rng: StdRng,
    link: Link,
    pending: HashMap<u64, Pending>,
    next_tag: u64,
    writes_since_flush: u32,
    requests: RequestCounts,
    /// Set when the connection failed; the worker does nothing more.
    broken: bool,
}

impl BlockWorker {
    pub fn new(link: Link, plan: Plan, spec: Arc<WorkerSpec>, seed: u64) -> BlockWorker {
        BlockWorker {
            spec,
            plan,
            rng: StdRng::seed_from_u64(seed),
            link,
            pending: HashMap::new(),
            next_tag: 1,
            writes_since_flush: 0,
            requests: RequestCounts::default(),
            broken: false,
        }
    }

    /// Runs `task` until it is done (or the gate closes), then flushes if it wrote.
    pub async fn run(mut self, gate: Arc<Gate>, task: Task) -> (BlockWorker, WorkerOutcome) {
        let mut out = WorkerOutcome::default();
        let mut cursor = 0u64;
        let mut wrote = false;
        let mut exhausted = false;
        loop {
            while !self.broken
                && !exhausted
                && self.pending.len() < self.spec.queue_depth
                && self.link.window_open()
            {
                let Some(io) = self.next_io(&gate, task, &mut cursor) else {
                    exhausted = true;
                    break;
                };
                wrote |= io.kind == IoKind::Write;
                self.send_io(io, &gate, &mut out).await;
            }
            if self.pending.is_empty() && (exhausted || self.broken) {
                break;
            }
            // Replies, or (nothing in flight) the window reopening.
            self.receive(&gate, &mut out).await;
        }
        if wrote {
            self.flush(&gate, &mut out).await;
        }
        out.requests = std::mem::take(&mut self.requests);
        (self, out)
    }

    fn next_io(&mut self, gate: &Gate, task: Task, cursor: &mut u64) -> Option<Io> {
        match task {
            Task::Workload => gate.claim().map(|_| self.plan.next(&mut self.rng)),
            Task::Fill => (*cursor < self.plan.count()).then(|| {
                *cursor += 1;
                self.plan.fill(*cursor - 1)
            }),
            Task::Verify => {
                while *cursor < self.plan.count() {
                    *cursor += 1;
                    if let Some(io) = self.plan.check(*cursor - 1) {
                        return Some(io);
                    }
                }
                None
            }
        }
    }

    async fn send_io(&mut self, io: Io, gate: &Gate, out: &mut WorkerOutcome) {
        let (op, payload) = match io.kind {
            IoKind::Read => (Op::Read, None),
            IoKind::Write => (Op::Write, Some(self.write_data(io))),
        };
        self.send(op, Some(io), payload, gate, out).await;
        if io.kind == IoKind::Write {
            self.writes_since_flush += 1;
            if self
                .spec
                .flush_every
                .is_some_and(|n| self.writes_since_flush >= n)
            {
                self.flush(gate, out).await;
            }
        }
    }

    /// A block's data: the verification pattern, or the pre-generated block.
    fn write_data(&self, io: Io) -> Bytes {
        if !self.spec.verify {
            return self.spec.data.clone();
        }
        let mut buf = BytesMut::zeroed(self.spec.block_bytes as usize);
        pattern::fill(&mut buf, io.block * self.spec.block_bytes, io.generation);
        buf.freeze()
    }

    async fn send(
        &mut self,
        op: Op,
        io: Option<Io>,
        payload: Option<Bytes>,
        gate: &Gate,
        out: &mut WorkerOutcome,
    ) {
        while !self.broken && !self.link.window_open() {
            self.receive(gate, out).await;
        }
        if self.broken {
            return self.fail(op, io, ErrorKind::Connection, gate, out);
        }
        let tag = self.next_tag;
        self.next_tag += 1;
        let (offset, len) = match io {
            Some(io) => (
                io.block * self.spec.block_bytes,
                self.spec.block_bytes as u32,
            ),
            None => (0, 0),
        };
        let started = Instant::now();
        let req = Request {
            tag,
            op,
            offset,
            len,
            payload,
        };
        if let Err(kind) = self.link.send(req).await {
            self.fail(op, io, kind, gate, out);
            self.break_with(kind, gate, out);
            return;
        }
        self.pending.insert(tag, Pending { op, io, started });
    }

    /// Sends a FLUSH (if the device takes them) and waits for every reply.
    async fn flush(&mut self, gate: &Gate, out: &mut WorkerOutcome) {
        self.writes_since_flush = 0;
        if !self.spec.can_flush || self.broken {
            return;
        }
        self.send(Op::Flush, None, None, gate, out).await;
        while !self.pending.is_empty() {
            self.receive(gate, out).await;
        }
    }

    /// Reads one reply and settles its request.
    async fn receive(&mut self, gate: &Gate, out: &mut WorkerOutcome) {
        let reply = match tokio::time::timeout(self.spec.timeout, self.link.receive()).await {
            Ok(Ok(Some(r))) => r,
            Ok(Ok(None)) => return,
            Ok(Err(kind)) => return self.break_with(kind, gate, out),
            Err(_) => return self.break_with(ErrorKind::Timeout, gate, out),
        };
        let Some(p) = self.pending.remove(&reply.tag) else {
            return self.break_with(ErrorKind::Protocol, gate, out);
        };
        if let Err(kind) = reply.result {
            return self.fail(p.op, p.io, kind, gate, out);
        }
        let mut bytes = 0;
        if p.op == Op::Read {
            bytes = self.spec.block_bytes;
            if let Some(io) = p.io.filter(|io| self.spec.verify && io.generation != 0) {
                let offset = io.block * self.spec.block_bytes;
                if !pattern::matches(self.link.read_data(), offset, io.generation) {
                    return self.fail(p.op, p.io, ErrorKind::Verification, gate, out);
                }
            }
        } else if p.op == Op::Write {
            bytes = self.spec.block_bytes;
        }
        self.requests.record(self.link.request_name(p.op), "ok");
        if let Some(io) = p.io {
            self.plan.complete(io, true);
        }
        out.success(gate, op_name(p.op), bytes, p.started.elapsed());
    }

    fn fail(
        &mut self,
        op: Op,
        io: Option<Io>,
        kind: ErrorKind,
        gate: &Gate,
        out: &mut WorkerOutcome,
    ) {
        self.requests
            .record(self.link.request_name(op), kind.request_class());
        if let Some(io) = io {
            self.plan.complete(io, false);
        }
        out.failure(gate, op_name(op), kind);
    }

    /// The connection is unusable: every request still out fails with `kind`.
    fn break_with(&mut self, kind: ErrorKind, gate: &Gate, out: &mut WorkerOutcome) {
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in pending {
            self.fail(p.op, p.io, kind, gate, out);
        }
        self.broken = true;
    }

    /// Says goodbye (NBD_CMD_DISC, iSCSI Logout) unless the connection broke.
    pub async fn disconnect(self) {
        if !self.broken {
            self.link.disconnect().await;
        }
    }
}

fn op_name(op: Op) -> &'static str {
    match op {
        Op::Read => "read",
        Op::Write => "write",
        Op::Flush => "flush",
    }
}
