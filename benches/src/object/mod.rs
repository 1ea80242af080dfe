//! `cairn bench object`: a workload (put, get, delete, list, multipart or a
//! weighted mix) against a Swift or S3 endpoint over N keep-alive
//! connections, for a duration or an operation count.
//!
//! A run goes: setup (log in, create containers) → prepare (objects that
//! get/list/delete/mixed read; not measured) → warm-up (not measured) →
//! measured phase → cleanup (delete every object and container the run
//! made, unless told not to). Every request of every stage is counted, by
//! method and status class, in the report.

mod api;
mod conn;
mod layout;
mod multipart;
mod s3;
mod swift;
pub mod wire;
mod worker;
mod workload;

pub use workload::{Mix, ObjectOp, Workload};

use crate::credentials::Credentials;
use crate::driver::{note, run_phase, PhaseSpec, Stage, StopAt};
use crate::error::BenchError;
use crate::report::{PhaseReport, Report, Target, Unmeasured};
use crate::size::SizeDist;
use crate::stats::Progress;
use api::ObjectApi;
use bytes::Bytes;
use layout::{Layout, LayoutSpec};
use rand::{Rng, SeedableRng};
use std::sync::atomic::AtomicU64;
use std::sync::Arc;
use std::time::Duration;
use worker::{RunShared, Worker};

/// Prepared objects when `--objects` is not given, at most …
const PREPARED_OBJECTS_MAX: u64 = 1000;
/// … and about this many bytes of them.
const PREPARED_BYTES_TARGET: u64 = 256 << 20;
/// Prepared objects of the `delete` workload when run for a duration.
const DELETE_OBJECTS_DEFAULT: u64 = 5000;

/// An object benchmark.
#[derive(Debug, Clone)]
pub struct ObjectConfig {
    pub credentials: Credentials,
    pub workload: Workload,
    pub size: SizeDist,
    pub connections: usize,
    pub stop: StopAt,
    pub warmup: Duration,
    pub containers: usize,
    /// Objects written before get/list/delete/mixed; `None`: a default by size.
    pub objects: Option<u64>,
    pub prefix: String,
    pub cleanup: bool,
    pub timeout: Duration,
    pub progress: Progress,
    pub seed: u64,
}

impl ObjectConfig {
    /// How many objects to prepare.
    fn prepared_count(&self) -> u64 {
        if !self.workload.needs_prepared_objects() {
            return 0;
        }
        if let Some(n) = self.objects {
            return n;
        }
        match (&self.workload, self.stop) {
            (Workload::Delete, StopAt::Ops(n)) => n,
            (Workload::Delete, StopAt::Duration(_)) => DELETE_OBJECTS_DEFAULT,
            _ => (PREPARED_BYTES_TARGET / self.size.typical().max(1))
                .clamp(self.connections as u64, PREPARED_OBJECTS_MAX),
        }
    }

    fn validate(&self) -> Result<(), BenchError> {
        if self.connections == 0 {
            return Err(BenchError::invalid("connections", "at least 1"));
        }
        if self.workload.needs_prepared_objects() && self.prepared_count() == 0 {
            return Err(BenchError::invalid(
                "objects",
                "at least 1 for this workload",
            ));
        }
        if let Workload::Multipart { part_bytes } = self.workload {
            if part_bytes == 0 {
                return Err(BenchError::invalid("part size", "at least 1 byte"));
            }
        }
        Ok(())
    }

    /// The settings as the report echoes them (no secrets).
    fn settings(&self, prepared: u64) -> serde_json::Value {
        let mix = match &self.workload {
            Workload::Mixed(m) => Some(m.to_string()),
            _ => None,
        };
        let part_bytes = match self.workload {
            Workload::Multipart { part_bytes } => Some(part_bytes),
            _ => None,
        };
        serde_json::json!({
            "workload": self.workload.name(),
            "mix": mix,
            "size": self.size.to_string(),
            "part_bytes": part_bytes,
            "connections": self.connections,
            "duration_secs": self.stop.duration_secs(),
            "ops": self.stop.ops(),
            "warmup_secs": self.warmup.as_secs_f64(),
            "containers": self.containers,
            "prepared_objects": prepared,
            "cleanup": self.cleanup,
            "timeout_secs": self.timeout.as_secs_f64(),
            "seed": self.seed,
        })
    }
}

/// Runs the benchmark on the current tokio runtime.
pub async fn run(cfg: &ObjectConfig) -> Result<Report, BenchError> {
    cfg.validate()?;
    let started_unix_secs = crate::unix_now_secs();
    let mut unmeasured = Unmeasured::default();
    let api = login(cfg, &mut unmeasured).await?;
    let prepared = cfg.prepared_count();
    // Drawn, not seeded: two runs with one seed (a comparison of two APIs
    // of one store) must not share containers.
    let run_id = format!("{:08x}", rand::random::<u32>());
    let layout = Layout::new(LayoutSpec {
        prefix: &cfg.prefix,
        run_id: &run_id,
        containers: cfg.containers,
        with_segments: matches!(cfg.workload, Workload::Multipart { .. })
            && matches!(api, ObjectApi::Swift(_)),
        prepared,
        size: cfg.size,
        seed: cfg.seed,
    })?;
    let data = body_data(cfg);
    let target = Target {
        api: api.name(),
        url: cfg.credentials.url().to_owned(),
    };
    let workers: Vec<Worker> = (0..cfg.connections)
        .map(|id| Worker::new(id, api.clone(), cfg.timeout, cfg.seed))
        .collect();
    let shared = Arc::new(RunShared {
        layout,
        workload: cfg.workload.clone(),
        data,
        next_delete: AtomicU64::new(0),
    });
    let (workers, measured) = stages(cfg, workers, &shared, &mut unmeasured).await;
    if cfg.cleanup {
        cleanup(workers, &shared, cfg.progress, &mut unmeasured).await;
    }
    Ok(Report {
        tool: "cairn bench",
        version: env!("CARGO_PKG_VERSION"),
        kind: "object",
        target,
        settings: cfg.settings(prepared),
        started_unix_secs,
        phases: vec![measured?],
        unmeasured: unmeasured.into_map(),
    })
}

/// Setup, prepare, warm-up and the measurement; the workers come back for cleanup.
async fn stages(
    cfg: &ObjectConfig,
    mut workers: Vec<Worker>,
    sh: &Arc<RunShared>,
    unmeasured: &mut Unmeasured,
) -> (Vec<Worker>, Result<PhaseReport, BenchError>) {
    if let Err(e) = create_containers(&mut workers[0], sh, unmeasured).await {
        return (workers, Err(e));
    }
    let prepared = sh.layout.prepared_count();
    if prepared > 0 {
        note(cfg.progress, &format!("preparing {prepared} objects"));
        let spec = PhaseSpec::new(
            "prepare",
            Stage::Prepare,
            StopAt::Ops(prepared),
            Progress::Off,
        );
        let s = sh.clone();
        let (w, run) = run_phase(workers, spec, move |w, g| w.prepare(g, s.clone())).await;
        workers = w;
        unmeasured.stage(Stage::Prepare).add_run(&run);
        if run.outcome.errors.total() > 0 {
            let kinds: Vec<String> = run
                .outcome
                .errors
                .iter()
                .map(|(k, n)| format!("{n} × {k}"))
                .collect();
            let e = BenchError::setup("preparing objects", kinds.join(", "));
            return (workers, Err(e));
        }
    }
    let name = cfg.workload.name();
    if !cfg.warmup.is_zero() {
        note(cfg.progress, &format!("warming up for {:?}", cfg.warmup));
        let spec = PhaseSpec::new(
            name,
            Stage::Warmup,
            StopAt::Duration(cfg.warmup),
            Progress::Off,
        );
        let s = sh.clone();
        let (w, run) = run_phase(workers, spec, move |w, g| w.measure(g, s.clone())).await;
        workers = w;
        unmeasured.stage(Stage::Warmup).add_run(&run);
    }
    let spec = PhaseSpec::new(name, Stage::Measured, cfg.stop, cfg.progress);
    let s = sh.clone();
    let (workers, run) = run_phase(workers, spec, move |w, g| w.measure(g, s.clone())).await;
    (workers, Ok(PhaseReport::from_run(&run)))
}

/// The API client, logged in (the login request counts as setup).
async fn login(cfg: &ObjectConfig, unmeasured: &mut Unmeasured) -> Result<ObjectApi, BenchError> {
    match &cfg.credentials {
        Credentials::SwiftAuth {
            auth_url,
            user,
            key,
        } => {
            let endpoint = conn::Endpoint::parse(auth_url)?;
            let mut client = conn::HttpClient::new(&endpoint.authority, cfg.timeout);
            let result = swift::Swift::login(&mut client, auth_url, user, key).await;
            unmeasured
                .stage(Stage::Setup)
                .add_requests(&client.requests);
            Ok(ObjectApi::Swift(result?))
        }
        Credentials::SwiftToken { storage_url, token } => Ok(ObjectApi::Swift(
            swift::Swift::with_token(storage_url, token)?,
        )),
        Credentials::S3 {
            endpoint_url,
            access_key,
            secret_key,
            region,
        } => Ok(ObjectApi::S3(s3::S3::new(
            endpoint_url,
            access_key,
            secret_key,
            region,
        )?)),
    }
}

async fn create_containers(
    w: &mut Worker,
    sh: &RunShared,
    unmeasured: &mut Unmeasured,
) -> Result<(), BenchError> {
    let mut result = Ok(());
    for c in sh.layout.all_containers() {
        let req = w.api.create_container(c);
        if let Err(kind) = w.send(req).await {
            result = Err(BenchError::setup(
                "creating containers",
                format!("{c}: {}", w.http.explain(kind)),
            ));
            break;
        }
    }
    unmeasured
        .stage(Stage::Setup)
        .add_requests(&std::mem::take(&mut w.http.requests));
    result
}

/// Deletes every object in the run's containers, then the containers.
/// Failures are counted (and shown), not fatal.
async fn cleanup(
    mut workers: Vec<Worker>,
    sh: &RunShared,
    progress: Progress,
    unmeasured: &mut Unmeasured,
) {
    let mut doomed = Vec::new();
    let containers: Vec<String> = sh.layout.all_containers().map(str::to_owned).collect();
    for c in &containers {
        match workers[0].list_all(c).await {
            Ok(names) => doomed.extend(names.into_iter().map(|n| (c.clone(), n))),
            Err(kind) => unmeasured.stage(Stage::Cleanup).errors_by_kind.record(kind),
        }
    }
    note(
        progress,
        &format!("cleanup: deleting {} objects", doomed.len()),
    );
    let count = doomed.len() as u64;
    let list = Arc::new(doomed);
    let spec = PhaseSpec::new("cleanup", Stage::Cleanup, StopAt::Ops(count), Progress::Off);
    let (mut workers, run) =
        run_phase(workers, spec, move |w, g| w.delete_listed(g, list.clone())).await;
    let stage = unmeasured.stage(Stage::Cleanup);
    stage.add_run(&run);
    let w = &mut workers[0];
    for c in &containers {
        let req = w.api.delete_container(c);
        if let Err(kind) = w.send(req).await {
            stage.errors_by_kind.record(kind);
        }
    }
    stage.add_requests(&std::mem::take(&mut w.http.requests));
    stage.errors = stage.errors_by_kind.total();
    if stage.errors > 0 {
        eprintln!(
            "cairn bench: cleanup had {} errors; objects may be left behind",
            stage.errors
        );
    }
}

/// The pre-generated random bytes every body is a slice of.
fn body_data(cfg: &ObjectConfig) -> Bytes {
    let len = match cfg.workload {
        Workload::Multipart { part_bytes } => part_bytes.min(cfg.size.max()),
        _ => cfg.size.max(),
    };
    let mut data = vec![0u8; len as usize];
    rand::rngs::StdRng::seed_from_u64(cfg.seed).fill(&mut data[..]);
    Bytes::from(data)
}
