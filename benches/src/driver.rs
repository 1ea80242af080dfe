//! The phase runner shared by the object and block benchmarks: it hands
//! each worker (one per connection) to a task, lets them claim operations
//! from a [`Gate`] until the phase's duration or operation count is used
//! up, and merges what they counted. Workers come back, connections open,
//! for the next phase.

use crate::stats::{
    CpuReport, CpuTimes, ErrorCounts, ErrorKind, Live, OpStats, Progress, RequestCounts, Sampler,
    SecondSample,
};
use std::collections::BTreeMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::time::Instant;

/// When a phase ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopAt {
    /// No operation starts after this long (those under way finish).
    Duration(Duration),
    /// After this many operations, over all workers.
    Ops(u64),
}

impl StopAt {
    pub fn duration_secs(&self) -> Option<f64> {
        match self {
            StopAt::Duration(d) => Some(d.as_secs_f64()),
            StopAt::Ops(_) => None,
        }
    }

    pub fn ops(&self) -> Option<u64> {
        match self {
            StopAt::Duration(_) => None,
            StopAt::Ops(n) => Some(*n),
        }
    }
}

/// The stages of a run; only `Measured` is in the results' figures, the
/// others' requests are counted apart so they can be reconciled with a
/// server's own counts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Stage {
    Setup,
    Prepare,
    Warmup,
    Measured,
    Verify,
    Cleanup,
}

impl Stage {
    pub fn as_str(self) -> &'static str {
        match self {
            Stage::Setup => "setup",
            Stage::Prepare => "prepare",
            Stage::Warmup => "warmup",
            Stage::Measured => "measured",
            Stage::Verify => "verify",
            Stage::Cleanup => "cleanup",
        }
    }
}

/// What workers claim operations from.
#[derive(Debug)]
pub struct Gate {
    deadline: Option<Instant>,
    ops_max: Option<u64>,
    claimed: AtomicU64,
    live: Arc<Live>,
}

impl Gate {
    fn new(stop: StopAt) -> Gate {
        let (deadline, ops_max) = match stop {
            StopAt::Duration(d) => (Some(Instant::now() + d), None),
            StopAt::Ops(n) => (None, Some(n)),
        };
        Gate {
            deadline,
            ops_max,
            claimed: AtomicU64::new(0),
            live: Arc::default(),
        }
    }

    /// The next operation's sequence number in this phase, or `None` once
    /// the phase is over.
    pub fn claim(&self) -> Option<u64> {
        if self.deadline.is_some_and(|d| Instant::now() >= d) {
            return None;
        }
        let n = self.claimed.fetch_add(1, Ordering::Relaxed);
        match self.ops_max {
            Some(max) if n >= max => None,
            _ => Some(n),
        }
    }
}

/// What one worker counted in one phase.
#[derive(Debug, Default)]
pub struct WorkerOutcome {
    pub ops: BTreeMap<&'static str, OpStats>,
    pub errors: ErrorCounts,
    pub requests: RequestCounts,
}

impl WorkerOutcome {
    pub fn success(&mut self, gate: &Gate, op: &'static str, bytes: u64, took: Duration) {
        self.ops.entry(op).or_default().success(bytes, took);
        gate.live.success(bytes, took);
    }

    pub fn failure(&mut self, gate: &Gate, op: &'static str, kind: ErrorKind) {
        self.ops.entry(op).or_default().failed += 1;
        self.errors.record(kind);
        gate.live.failure();
    }

    pub fn merge(&mut self, other: &WorkerOutcome) {
        for (op, s) in &other.ops {
            self.ops.entry(op).or_default().merge(s);
        }
        self.errors.merge(&other.errors);
        self.requests.merge(&other.requests);
    }

    /// Successful operations, all kinds.
    pub fn ok(&self) -> u64 {
        self.ops.values().map(|s| s.ok).sum()
    }
}

/// How to run one phase.
#[derive(Debug, Clone)]
pub struct PhaseSpec {
    pub name: String,
    pub stage: Stage,
    pub stop: StopAt,
    /// Shown (and the per-second series kept) only for the measured stage.
    pub progress: Progress,
}

impl PhaseSpec {
    pub fn new(name: &str, stage: Stage, stop: StopAt, progress: Progress) -> PhaseSpec {
        PhaseSpec {
            name: name.to_owned(),
            stage,
            stop,
            progress,
        }
    }
}

/// A line on stderr about an unmeasured stage, when progress is shown.
pub fn note(progress: Progress, text: &str) {
    if progress != Progress::Off {
        eprintln!("{text}");
    }
}

/// One phase's merged results.
#[derive(Debug)]
pub struct PhaseRun {
    pub name: String,
    pub stage: Stage,
    pub elapsed: Duration,
    pub outcome: WorkerOutcome,
    pub cpu: CpuReport,
    pub series: Vec<SecondSample>,
}

/// Runs `work` once per worker, concurrently, until the gate closes and
/// every worker returned.
pub async fn run_phase<W, F, Fut>(workers: Vec<W>, spec: PhaseSpec, work: F) -> (Vec<W>, PhaseRun)
where
    W: Send + 'static,
    F: Fn(W, Arc<Gate>) -> Fut,
    Fut: Future<Output = (W, WorkerOutcome)> + Send + 'static,
{
    let gate = Arc::new(Gate::new(spec.stop));
    let sampler = (spec.stage == Stage::Measured)
        .then(|| Sampler::start(gate.live.clone(), spec.name.clone(), spec.progress));
    let (cpu_before, start) = (CpuTimes::now(), Instant::now());
    let tasks: Vec<_> = workers
        .into_iter()
        .map(|w| tokio::spawn(work(w, gate.clone())))
        .collect();
    let mut workers = Vec::with_capacity(tasks.len());
    let mut outcome = WorkerOutcome::default();
    for task in tasks {
        let (w, o) = match task.await {
            Ok(done) => done,
            // A worker panicked: a bug; let it surface as one.
            Err(e) => std::panic::resume_unwind(e.into_panic()),
        };
        outcome.merge(&o);
        workers.push(w);
    }
    let elapsed = start.elapsed();
    let series = match sampler {
        Some(s) => s.finish().await,
        None => Vec::new(),
    };
    let cpu = CpuTimes::now().since(&cpu_before, elapsed, outcome.ok());
    let run = PhaseRun {
        name: spec.name,
        stage: spec.stage,
        elapsed,
        outcome,
        cpu,
        series,
    };
    (workers, run)
}
