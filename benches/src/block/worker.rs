//! One NBD connection's worker: keeps up to `queue_depth` requests in
//! flight (NBD pipelines by handle; replies may come in any order), checks
//! each READ against the pattern its block should hold, and counts every
//! request. A writer task owns the socket's write half, so large WRITEs
//! never stall reading the replies.

use super::nbd::{self, Command, SimpleReply};
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
use tokio::io::{AsyncReadExt, AsyncWriteExt, BufReader, BufWriter};
use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Bytes buffered on each side of the socket.
const SOCKET_BUFFER_BYTES: usize = 256 * 1024;

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
    cmd: Command,
    io: Option<Io>,
    started: Instant,
}

/// A request on its way to the writer task.
struct Outgoing {
    header: [u8; nbd::REQUEST_BYTES],
    payload: Option<Bytes>,
}

pub struct BlockWorker {
    spec: Arc<WorkerSpec>,
    plan: Plan,
    rng: StdRng,
    reader: BufReader<OwnedReadHalf>,
    tx: mpsc::Sender<Outgoing>,
    pending: HashMap<u64, Pending>,
    next_handle: u64,
    writes_since_flush: u32,
    read_buf: Vec<u8>,
    requests: RequestCounts,
    /// Set when the connection failed; the worker does nothing more.
    broken: bool,
}

impl BlockWorker {
    pub fn new(stream: TcpStream, plan: Plan, spec: Arc<WorkerSpec>, seed: u64) -> BlockWorker {
        let (read_half, write_half) = stream.into_split();
        let (tx, rx) = mpsc::channel(spec.queue_depth + 1);
        tokio::spawn(write_loop(
            BufWriter::with_capacity(SOCKET_BUFFER_BYTES, write_half),
            rx,
        ));
        BlockWorker {
            read_buf: vec![0; spec.block_bytes as usize],
            spec,
            plan,
            rng: StdRng::seed_from_u64(seed),
            reader: BufReader::with_capacity(SOCKET_BUFFER_BYTES, read_half),
            tx,
            pending: HashMap::new(),
            next_handle: 1,
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
        loop {
            while !self.broken && self.pending.len() < self.spec.queue_depth {
                let Some(io) = self.next_io(&gate, task, &mut cursor) else {
                    break;
                };
                wrote |= io.kind == IoKind::Write;
                self.send_io(io, &gate, &mut out).await;
            }
            if self.pending.is_empty() {
                break;
            }
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
        let (cmd, payload) = match io.kind {
            IoKind::Read => (Command::Read, None),
            IoKind::Write => (Command::Write, Some(self.write_data(io))),
        };
        self.send(cmd, Some(io), payload, gate, out).await;
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
        cmd: Command,
        io: Option<Io>,
        payload: Option<Bytes>,
        gate: &Gate,
        out: &mut WorkerOutcome,
    ) {
        let handle = self.next_handle;
        self.next_handle += 1;
        let (offset, len) = match io {
            Some(io) => (
                io.block * self.spec.block_bytes,
                self.spec.block_bytes as u32,
            ),
            None => (0, 0),
        };
        let header = nbd::encode_request(cmd, handle, offset, len);
        let started = Instant::now();
        if self.tx.send(Outgoing { header, payload }).await.is_err() {
            self.fail(cmd, io, ErrorKind::Connection, gate, out);
            self.break_with(ErrorKind::Connection, gate, out);
            return;
        }
        self.pending.insert(handle, Pending { cmd, io, started });
    }

    /// Sends a FLUSH (if the export takes them) and waits for every reply.
    async fn flush(&mut self, gate: &Gate, out: &mut WorkerOutcome) {
        self.writes_since_flush = 0;
        if !self.spec.can_flush || self.broken {
            return;
        }
        self.send(Command::Flush, None, None, gate, out).await;
        while !self.pending.is_empty() {
            self.receive(gate, out).await;
        }
    }

    /// Reads one reply and settles its request.
    async fn receive(&mut self, gate: &Gate, out: &mut WorkerOutcome) {
        let reply = match tokio::time::timeout(self.spec.timeout, self.read_reply()).await {
            Ok(Ok(r)) => r,
            Ok(Err(kind)) => return self.break_with(kind, gate, out),
            Err(_) => return self.break_with(ErrorKind::Timeout, gate, out),
        };
        let Some(p) = self.pending.remove(&reply.handle) else {
            return self.break_with(ErrorKind::Protocol, gate, out);
        };
        if reply.error != 0 {
            return self.fail(p.cmd, p.io, ErrorKind::Nbd(reply.error), gate, out);
        }
        let mut bytes = 0;
        if p.cmd == Command::Read {
            if let Err(kind) = self.read_data().await {
                self.pending.insert(reply.handle, p);
                return self.break_with(kind, gate, out);
            }
            bytes = self.spec.block_bytes;
            if let Some(io) = p.io.filter(|io| self.spec.verify && io.generation != 0) {
                let offset = io.block * self.spec.block_bytes;
                if !pattern::matches(&self.read_buf, offset, io.generation) {
                    return self.fail(p.cmd, p.io, ErrorKind::Verification, gate, out);
                }
            }
        } else if p.cmd == Command::Write {
            bytes = self.spec.block_bytes;
        }
        self.requests.record(p.cmd.name(), "ok");
        if let Some(io) = p.io {
            self.plan.complete(io, true);
        }
        out.success(gate, op_name(p.cmd), bytes, p.started.elapsed());
    }

    async fn read_reply(&mut self) -> Result<SimpleReply, ErrorKind> {
        let mut header = [0u8; nbd::SIMPLE_REPLY_BYTES];
        self.reader
            .read_exact(&mut header)
            .await
            .map_err(|_| ErrorKind::Connection)?;
        nbd::parse_simple_reply(&header).map_err(|_| ErrorKind::Protocol)
    }

    async fn read_data(&mut self) -> Result<(), ErrorKind> {
        self.reader
            .read_exact(&mut self.read_buf)
            .await
            .map(|_| ())
            .map_err(|_| ErrorKind::Connection)
    }

    fn fail(
        &mut self,
        cmd: Command,
        io: Option<Io>,
        kind: ErrorKind,
        gate: &Gate,
        out: &mut WorkerOutcome,
    ) {
        self.requests.record(cmd.name(), kind.request_class());
        if let Some(io) = io {
            self.plan.complete(io, false);
        }
        out.failure(gate, op_name(cmd), kind);
    }

    /// The connection is unusable: every request still out fails with `kind`.
    fn break_with(&mut self, kind: ErrorKind, gate: &Gate, out: &mut WorkerOutcome) {
        let pending: Vec<Pending> = self.pending.drain().map(|(_, p)| p).collect();
        for p in pending {
            self.fail(p.cmd, p.io, kind, gate, out);
        }
        self.broken = true;
    }

    /// Says goodbye (NBD_CMD_DISC); the server closes the connection.
    pub async fn disconnect(self) {
        if !self.broken {
            let header = nbd::encode_request(Command::Disconnect, 0, 0, 0);
            let _ = self
                .tx
                .send(Outgoing {
                    header,
                    payload: None,
                })
                .await;
        }
    }
}

fn op_name(cmd: Command) -> &'static str {
    match cmd {
        Command::Read => "read",
        Command::Write => "write",
        Command::Flush => "flush",
        Command::Disconnect => "disconnect",
    }
}

/// Writes requests as they come, flushing when none is waiting.
async fn write_loop(mut w: BufWriter<OwnedWriteHalf>, mut rx: mpsc::Receiver<Outgoing>) {
    while let Some(first) = rx.recv().await {
        let mut next = Some(first);
        while let Some(o) = next {
            if write_one(&mut w, &o).await.is_err() {
                return;
            }
            next = rx.try_recv().ok();
        }
        if w.flush().await.is_err() {
            return;
        }
    }
    let _ = w.shutdown().await;
}

async fn write_one(w: &mut BufWriter<OwnedWriteHalf>, o: &Outgoing) -> std::io::Result<()> {
    w.write_all(&o.header).await?;
    if let Some(p) = &o.payload {
        w.write_all(p).await?;
    }
    Ok(())
}
