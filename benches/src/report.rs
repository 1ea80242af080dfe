//! The results of a run: the measured phase's figures (rates, latency
//! percentiles, errors by kind, the per-second series, the client's CPU)
//! and the requests of the unmeasured stages; written as JSON
//! (`--json`) and summed up as text.

use crate::driver::{PhaseRun, Stage};
use crate::stats::{CpuReport, ErrorCounts, Percentiles, RequestCounts, SecondSample};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write;
use std::path::Path;

/// A whole run.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub tool: &'static str,
    pub version: &'static str,
    /// `object` or `block`.
    pub kind: &'static str,
    pub target: Target,
    /// The settings of the run, as given.
    pub settings: serde_json::Value,
    pub started_unix_secs: u64,
    /// The measured phases (one per workload).
    pub phases: Vec<PhaseReport>,
    /// Requests of the stages not measured (setup, prepare, warmup, verify, cleanup).
    pub unmeasured: BTreeMap<&'static str, StageReport>,
}

/// What was benchmarked.
#[derive(Debug, Clone, Serialize)]
pub struct Target {
    /// `swift`, `s3`, `nbd` or `iscsi`.
    pub api: &'static str,
    pub url: String,
}

/// One measured phase.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct PhaseReport {
    pub name: String,
    pub duration_secs: f64,
    /// Operations that succeeded.
    pub ops: u64,
    pub failed_ops: u64,
    pub bytes: u64,
    pub ops_per_sec: f64,
    pub bytes_per_sec: f64,
    pub errors: u64,
    pub errors_by_kind: ErrorCounts,
    /// Of the successful operations.
    pub latency_ms: Percentiles,
    /// `[percentile, ms]` pairs for the latency chart.
    pub latency_spectrum_ms: Vec<[f64; 2]>,
    pub by_op: BTreeMap<&'static str, OpReport>,
    /// Requests sent, by method (or NBD or SCSI command) and outcome class.
    pub requests: RequestCounts,
    pub client_cpu: CpuReport,
    pub series: Vec<SecondSample>,
}

/// One operation's share of a phase.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct OpReport {
    pub ops: u64,
    pub failed_ops: u64,
    pub bytes: u64,
    pub ops_per_sec: f64,
    pub bytes_per_sec: f64,
    pub latency_ms: Percentiles,
}

/// An unmeasured stage: what it sent and what failed.
#[derive(Debug, Clone, Default, Serialize, PartialEq)]
pub struct StageReport {
    pub ops: u64,
    pub requests: RequestCounts,
    pub errors: u64,
    pub errors_by_kind: ErrorCounts,
}

impl StageReport {
    /// Adds a phase run in this stage.
    pub fn add_run(&mut self, run: &PhaseRun) {
        self.ops += run.outcome.ok();
        self.requests.merge(&run.outcome.requests);
        self.errors_by_kind.merge(&run.outcome.errors);
        self.errors = self.errors_by_kind.total();
    }

    /// Adds requests sent outside any phase (setup, container deletion).
    pub fn add_requests(&mut self, requests: &RequestCounts) {
        self.requests.merge(requests);
    }
}

/// The unmeasured stages of a run, filled as it goes.
#[derive(Debug, Default)]
pub struct Unmeasured(BTreeMap<&'static str, StageReport>);

impl Unmeasured {
    pub fn stage(&mut self, stage: Stage) -> &mut StageReport {
        self.0.entry(stage.as_str()).or_default()
    }

    pub fn into_map(self) -> BTreeMap<&'static str, StageReport> {
        self.0
    }
}

fn per_sec(n: u64, secs: f64) -> f64 {
    crate::stats::ratio(n as f64, secs)
}

impl PhaseReport {
    pub fn from_run(run: &PhaseRun) -> PhaseReport {
        let secs = run.elapsed.as_secs_f64();
        let o = &run.outcome;
        let mut all = crate::stats::OpStats::default();
        let mut by_op = BTreeMap::new();
        for (name, s) in &o.ops {
            all.merge(s);
            by_op.insert(
                *name,
                OpReport {
                    ops: s.ok,
                    failed_ops: s.failed,
                    bytes: s.bytes,
                    ops_per_sec: per_sec(s.ok, secs),
                    bytes_per_sec: per_sec(s.bytes, secs),
                    latency_ms: s.latency.percentiles(),
                },
            );
        }
        PhaseReport {
            name: run.name.clone(),
            duration_secs: secs,
            ops: all.ok,
            failed_ops: all.failed,
            bytes: all.bytes,
            ops_per_sec: per_sec(all.ok, secs),
            bytes_per_sec: per_sec(all.bytes, secs),
            errors: o.errors.total(),
            errors_by_kind: o.errors.clone(),
            latency_ms: all.latency.percentiles(),
            latency_spectrum_ms: all
                .latency
                .spectrum()
                .into_iter()
                .map(|(p, ms)| [p, ms])
                .collect(),
            by_op,
            requests: o.requests.clone(),
            client_cpu: run.cpu,
            series: run.series.clone(),
        }
    }

    /// One line per phase, and one per operation when there are several.
    pub fn summary(&self, out: &mut String) {
        let l = &self.latency_ms;
        let _ = writeln!(
            out,
            "{:<10} {:>8.1}s {:>10.1} ops/s {:>10.2} MB/s  p50 {:>8.2}  p90 {:>8.2}  p99 {:>8.2}  p99.9 {:>8.2} ms  errors {}",
            self.name, self.duration_secs, self.ops_per_sec, self.bytes_per_sec / 1e6,
            l.p50, l.p90, l.p99, l.p999, self.errors
        );
        if self.by_op.len() > 1 {
            for (op, r) in &self.by_op {
                let l = &r.latency_ms;
                let _ = writeln!(
                    out,
                    "  {op:<8} {:>9} {:>10.1} ops/s {:>10.2} MB/s  p50 {:>8.2}  p90 {:>8.2}  p99 {:>8.2}  p99.9 {:>8.2} ms  failed {}",
                    "", r.ops_per_sec, r.bytes_per_sec / 1e6, l.p50, l.p90, l.p99, l.p999, r.failed_ops
                );
            }
        }
        for (kind, n) in self.errors_by_kind.iter() {
            let _ = writeln!(out, "  error {kind}: {n}");
        }
        let c = &self.client_cpu;
        let _ = writeln!(
            out,
            "  client CPU {:.2} cores, {:.4} CPU-s per 1000 ops",
            c.cores, c.cpu_secs_per_1000_ops
        );
    }
}

impl Report {
    /// Writes the report as pretty JSON to `path`.
    pub fn write_json(&self, path: &Path) -> Result<(), crate::BenchError> {
        let file = std::fs::File::create(path)?;
        serde_json::to_writer_pretty(std::io::BufWriter::new(file), self)?;
        Ok(())
    }

    /// The text summary printed at the end of a run.
    pub fn summary(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{} {} against {}",
            self.kind, self.target.api, self.target.url
        );
        for p in &self.phases {
            p.summary(&mut out);
        }
        for (stage, s) in &self.unmeasured {
            if s.errors > 0 {
                let _ = writeln!(out, "  ({stage}: {} errors)", s.errors);
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::driver::WorkerOutcome;
    use crate::stats::{CpuReport, ErrorKind, OpStats};
    use std::time::Duration;

    fn run() -> PhaseRun {
        let mut outcome = WorkerOutcome::default();
        let mut put = OpStats::default();
        for ms in 1..=100 {
            put.success(4096, Duration::from_millis(ms));
        }
        put.failed = 2;
        outcome.ops.insert("put", put);
        outcome.errors.record(ErrorKind::Status(503));
        outcome.errors.record(ErrorKind::Timeout);
        outcome.requests.record("PUT", "2xx");
        PhaseRun {
            name: "put".into(),
            stage: Stage::Measured,
            elapsed: Duration::from_secs(2),
            outcome,
            cpu: CpuReport::default(),
            series: Vec::new(),
        }
    }

    #[test]
    fn a_phase_has_rates_errors_and_percentiles_in_ms() {
        // The JSON keys the issue names: ops_per_sec, bytes_per_sec, errors, latency p50/p90/p99/p999 (ms).
        let phase = PhaseReport::from_run(&run());
        let v = serde_json::to_value(&phase).unwrap();
        assert_eq!(v["ops"], 100);
        assert_eq!(v["ops_per_sec"], 50.0);
        assert_eq!(v["bytes_per_sec"], 50.0 * 4096.0);
        assert_eq!(v["errors"], 2);
        assert_eq!(v["errors_by_kind"]["http_503"], 1);
        assert_eq!(v["errors_by_kind"]["timeout"], 1);
        for p in ["p50", "p90", "p99", "p999"] {
            assert!(v["latency_ms"][p].as_f64().unwrap() > 0.0, "{p}");
        }
        assert!((v["latency_ms"]["p50"].as_f64().unwrap() - 50.0).abs() < 0.1);
        assert_eq!(v["by_op"]["put"]["failed_ops"], 2);
        assert_eq!(v["requests"]["PUT"]["2xx"], 1);
        for key in [
            "client_cpu",
            "series",
            "latency_spectrum_ms",
            "duration_secs",
        ] {
            assert!(v.get(key).is_some(), "{key}");
        }
    }

    #[test]
    fn unmeasured_stages_are_keyed_by_name() {
        // Runs added to a stage sum their requests and errors under the stage's name.
        let mut u = Unmeasured::default();
        u.stage(Stage::Warmup).add_run(&run());
        u.stage(Stage::Warmup).add_run(&run());
        let map = u.into_map();
        let warmup = &map["warmup"];
        assert_eq!(warmup.ops, 200);
        assert_eq!(warmup.errors, 4);
        assert_eq!(warmup.requests.get("PUT", "2xx"), 2);
    }
}
