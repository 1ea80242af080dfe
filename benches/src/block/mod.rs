//! `cairn bench block`: random or sequential reads and writes against an
//! NBD export or an iSCSI LUN, over N connections with up to Q requests in
//! flight on each, every read checked against the pattern last written to
//! its block.
//!
//! A run goes: connect and negotiate every connection (NBD handshake, or
//! iSCSI login and READ CAPACITY) → fill the span (before workloads that
//! read; not measured) → warm-up → measured phase → read back every block
//! written and check it (not measured) → disconnect. The protocol is a
//! [`link::Link`]: the workers, plans, patterns and reports are shared.

pub mod iscsi;
mod link;
mod nbd;
mod nbd_link;
mod pattern;
mod plan;
mod session;
mod worker;

pub use iscsi::IscsiAddress;
pub use link::BlockAddress;
pub use session::NbdAddress;

use crate::driver::{note, run_phase, PhaseSpec, Stage, StopAt};
use crate::error::BenchError;
use crate::report::{PhaseReport, Report, Target, Unmeasured};
use crate::stats::Progress;
use bytes::Bytes;
use link::{Detail, DeviceInfo, OpenSpec};
use plan::{Access, Plan, Region};
use rand::{Rng, SeedableRng};
use std::sync::Arc;
use std::time::Duration;
use worker::{BlockWorker, Task, WorkerSpec};

/// The span used when none is given, at most.
const SPAN_BYTES_DEFAULT_MAX: u64 = 1 << 30;
/// The largest request (qemu-nbd's and nbdkit's limit is 32 MiB).
const BLOCK_BYTES_MAX: u64 = 32 << 20;
/// Requests are whole sectors.
const SECTOR_BYTES: u64 = 512;

/// A block workload.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BlockWorkload {
    RandRead,
    RandWrite,
    SeqRead,
    SeqWrite,
    /// Random, `read_percent` % reads.
    RandRw {
        read_percent: u8,
    },
}

impl BlockWorkload {
    pub fn parse(name: &str, read_percent: u8) -> Result<BlockWorkload, BenchError> {
        Ok(match name {
            "randread" => BlockWorkload::RandRead,
            "randwrite" => BlockWorkload::RandWrite,
            "seqread" | "read" => BlockWorkload::SeqRead,
            "seqwrite" | "write" => BlockWorkload::SeqWrite,
            "randrw" if read_percent <= 100 => BlockWorkload::RandRw { read_percent },
            "randrw" => return Err(BenchError::invalid("read percent", "0 to 100")),
            other => {
                return Err(BenchError::invalid(
                    "block workload",
                    format!("{other:?}: randread, randwrite, seqread, seqwrite or randrw"),
                ))
            }
        })
    }

    pub fn name(&self) -> &'static str {
        match self {
            BlockWorkload::RandRead => "randread",
            BlockWorkload::RandWrite => "randwrite",
            BlockWorkload::SeqRead => "seqread",
            BlockWorkload::SeqWrite => "seqwrite",
            BlockWorkload::RandRw { .. } => "randrw",
        }
    }

    fn access(&self) -> Access {
        match self {
            BlockWorkload::SeqRead | BlockWorkload::SeqWrite => Access::Sequential,
            _ => Access::Random,
        }
    }

    fn read_percent(&self) -> u8 {
        match *self {
            BlockWorkload::RandRead | BlockWorkload::SeqRead => 100,
            BlockWorkload::RandWrite | BlockWorkload::SeqWrite => 0,
            BlockWorkload::RandRw { read_percent } => read_percent,
        }
    }

    fn reads(&self) -> bool {
        self.read_percent() > 0
    }

    fn writes(&self) -> bool {
        self.read_percent() < 100
    }
}

/// A block benchmark.
#[derive(Debug, Clone)]
pub struct BlockConfig {
    pub address: BlockAddress,
    pub workload: BlockWorkload,
    pub block_bytes: u64,
    pub queue_depth: usize,
    pub connections: usize,
    pub stop: StopAt,
    pub warmup: Duration,
    /// Bytes of the export used from offset 0 (default: all, at most 1 GiB).
    pub span_bytes: Option<u64>,
    pub verify: bool,
    pub flush_every: Option<u32>,
    pub timeout: Duration,
    pub progress: Progress,
    pub seed: u64,
}

impl BlockConfig {
    fn validate(&self) -> Result<(), BenchError> {
        if self.block_bytes == 0
            || !self.block_bytes.is_multiple_of(SECTOR_BYTES)
            || self.block_bytes > BLOCK_BYTES_MAX
        {
            return Err(BenchError::invalid(
                "block size",
                "a multiple of 512 bytes, at most 32 MiB",
            ));
        }
        if self.queue_depth == 0 || self.connections == 0 {
            return Err(BenchError::invalid(
                "queue depth and connections",
                "at least 1",
            ));
        }
        Ok(())
    }

    /// The blocks used on an export of `size_bytes`.
    fn blocks(&self, size_bytes: u64) -> Result<u64, BenchError> {
        let span = self
            .span_bytes
            .unwrap_or(SPAN_BYTES_DEFAULT_MAX)
            .min(size_bytes);
        let blocks = span / self.block_bytes;
        let per_conn = blocks / self.connections as u64;
        if per_conn <= self.queue_depth as u64 {
            return Err(BenchError::invalid(
                "span",
                format!(
                    "{blocks} blocks of {} bytes over {} connections leave {per_conn} each, \
                     not more than the queue depth {}",
                    self.block_bytes, self.connections, self.queue_depth
                ),
            ));
        }
        Ok(blocks)
    }

    fn settings(&self, device: DeviceInfo, blocks: u64) -> serde_json::Value {
        let mut s = serde_json::json!({
            "workload": self.workload.name(),
            "read_percent": self.workload.read_percent(),
            "block_bytes": self.block_bytes,
            "queue_depth": self.queue_depth,
            "connections": self.connections,
            "duration_secs": self.stop.duration_secs(),
            "ops": self.stop.ops(),
            "warmup_secs": self.warmup.as_secs_f64(),
            "export_bytes": device.size_bytes,
            "span_bytes": blocks * self.block_bytes,
            "verify": self.verify,
            "flush_every": self.flush_every,
            "timeout_secs": self.timeout.as_secs_f64(),
            "seed": self.seed,
        });
        match device.detail {
            // Without it, writes on one connection need not be visible on
            // another before a flush; each connection keeps to its own blocks.
            Detail::Nbd(export) => {
                s["export_can_multi_conn"] = export.can_multi_conn().into();
            }
            Detail::Iscsi(info) => s["iscsi"] = info.settings(),
        }
        s
    }
}

/// Runs the benchmark on the current tokio runtime.
pub async fn run(cfg: &BlockConfig) -> Result<Report, BenchError> {
    cfg.validate()?;
    let started_unix_secs = crate::unix_now_secs();
    let links = open_all(cfg).await?;
    let info = links[0].1;
    let step = cfg.address.handshake();
    if links.iter().any(|(_, i)| i.size_bytes != info.size_bytes) {
        return Err(BenchError::setup(
            step,
            "connections disagree on the export size",
        ));
    }
    if cfg.workload.writes() && info.read_only {
        return Err(BenchError::setup(step, "the export is read-only"));
    }
    let blocks = cfg.blocks(info.size_bytes)?;
    let spec = Arc::new(WorkerSpec {
        block_bytes: cfg.block_bytes,
        queue_depth: cfg.queue_depth,
        verify: cfg.verify,
        flush_every: cfg.flush_every,
        can_flush: info.can_flush,
        timeout: cfg.timeout,
        data: random_block(cfg),
    });
    let conns = cfg.connections as u64;
    let access = cfg.workload.access();
    let workers: Vec<BlockWorker> = links
        .into_iter()
        .enumerate()
        .map(|(i, (link, _))| {
            let region = Region::for_connection(access, blocks, i as u64, conns);
            let plan = Plan::new(region, access, cfg.workload.read_percent());
            BlockWorker::new(link, plan, spec.clone(), cfg.seed.wrapping_add(i as u64))
        })
        .collect();
    let mut unmeasured = Unmeasured::default();
    let (workers, measured) = stages(cfg, workers, &mut unmeasured).await;
    for w in workers {
        w.disconnect().await;
    }
    Ok(Report {
        tool: "cairn bench",
        version: env!("CARGO_PKG_VERSION"),
        kind: "block",
        target: Target {
            api: cfg.address.api(),
            url: cfg.address.uri(),
        },
        settings: cfg.settings(info, blocks),
        started_unix_secs,
        phases: vec![measured],
        unmeasured: unmeasured.into_map(),
    })
}

/// Opens every connection, one after the other.
async fn open_all(cfg: &BlockConfig) -> Result<Vec<(link::Link, DeviceInfo)>, BenchError> {
    let mut links = Vec::with_capacity(cfg.connections);
    for i in 0..cfg.connections {
        let spec = OpenSpec {
            block_bytes: cfg.block_bytes,
            queue_depth: cfg.queue_depth,
            index: u16::try_from(i)
                .map_err(|_| BenchError::invalid("connections", "at most 65535"))?,
        };
        links.push(link::open(&cfg.address, spec).await?);
    }
    Ok(links)
}

/// Fill, warm-up, measurement, verification.
async fn stages(
    cfg: &BlockConfig,
    mut workers: Vec<BlockWorker>,
    unmeasured: &mut Unmeasured,
) -> (Vec<BlockWorker>, PhaseReport) {
    let name = cfg.workload.name();
    let unbounded = StopAt::Ops(u64::MAX);
    if cfg.workload.reads() {
        note(cfg.progress, "filling the span before reading");
        let spec = PhaseSpec::new("fill", Stage::Prepare, unbounded, Progress::Off);
        let (w, run) = run_phase(workers, spec, |w, g| w.run(g, Task::Fill)).await;
        workers = w;
        unmeasured.stage(Stage::Prepare).add_run(&run);
    }
    if !cfg.warmup.is_zero() {
        let spec = PhaseSpec::new(
            name,
            Stage::Warmup,
            StopAt::Duration(cfg.warmup),
            Progress::Off,
        );
        let (w, run) = run_phase(workers, spec, |w, g| w.run(g, Task::Workload)).await;
        workers = w;
        unmeasured.stage(Stage::Warmup).add_run(&run);
    }
    let spec = PhaseSpec::new(name, Stage::Measured, cfg.stop, cfg.progress);
    let (mut workers, run) = run_phase(workers, spec, |w, g| w.run(g, Task::Workload)).await;
    let measured = PhaseReport::from_run(&run);
    if cfg.verify && cfg.workload.writes() {
        note(cfg.progress, "reading back every block written");
        let spec = PhaseSpec::new("verify", Stage::Verify, unbounded, Progress::Off);
        let (w, run) = run_phase(workers, spec, |w, g| w.run(g, Task::Verify)).await;
        workers = w;
        unmeasured.stage(Stage::Verify).add_run(&run);
    }
    (workers, measured)
}

/// The block written when not verifying.
fn random_block(cfg: &BlockConfig) -> Bytes {
    let mut data = vec![0u8; cfg.block_bytes as usize];
    rand::rngs::StdRng::seed_from_u64(cfg.seed).fill(&mut data[..]);
    Bytes::from(data)
}

#[cfg(test)]
mod tests;
