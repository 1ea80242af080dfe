//! `cairn bench` against real servers: every object workload over Swift and
//! S3 against `cairn up`, its JSON reconciled with the server's own request
//! counts (`/metrics`); a `--compare` of Cairn's two APIs; and the block
//! benchmark, with data verification, against `qemu-nbd` and `nbdkit`.

use anyhow::{bail, ensure, Context, Result};
use cairn_tests::{cairn_bin, free_port, Cairn};
use serde_json::Value;
use std::collections::BTreeMap;
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// Requests by (method, status class).
type Counts = BTreeMap<(String, String), u64>;

/// `cairn_requests_total` of one API, from `/metrics`.
fn server_counts(cairn: &Cairn, api: &str) -> Result<Counts> {
    let text = ureq::get(&format!("http://{}/metrics", cairn.listen))
        .call()?
        .into_string()?;
    let mut counts = Counts::new();
    for line in text
        .lines()
        .filter(|l| l.starts_with("cairn_requests_total{"))
    {
        let (labels, value) = line
            .split_once("} ")
            .with_context(|| format!("bad metrics line {line:?}"))?;
        let label = |name: &str| -> Option<String> {
            let start = labels.find(&format!("{name}=\""))? + name.len() + 2;
            let len = labels[start..].find('"')?;
            Some(labels[start..start + len].to_owned())
        };
        if label("api").as_deref() == Some(api) {
            let key = (
                label("method").context("method")?,
                label("status").context("status")?,
            );
            *counts.entry(key).or_default() += value.trim().parse::<u64>()?;
        }
    }
    Ok(counts)
}

fn delta(before: &Counts, after: &Counts) -> Counts {
    after
        .iter()
        .map(|(k, v)| (k.clone(), v - before.get(k).copied().unwrap_or(0)))
        .filter(|(_, v)| *v > 0)
        .collect()
}

/// Adds a report's `requests` object (method → class → n) into `counts`.
fn add_requests(counts: &mut Counts, requests: &Value) {
    for (method, classes) in requests.as_object().into_iter().flatten() {
        for (class, n) in classes.as_object().into_iter().flatten() {
            *counts.entry((method.clone(), class.clone())).or_default() += n.as_u64().unwrap_or(0);
        }
    }
}

/// Every request the report says it sent: measured phases and unmeasured stages.
fn reported_requests(report: &Value) -> Counts {
    let mut counts = Counts::new();
    for phase in report["phases"].as_array().into_iter().flatten() {
        add_requests(&mut counts, &phase["requests"]);
    }
    for stage in report["unmeasured"].as_object().into_iter().flatten() {
        add_requests(&mut counts, &stage.1["requests"]);
    }
    counts
}

/// Runs `cairn bench ARGS --json FILE` with the openrc's variables; the JSON.
fn bench(cairn: &Cairn, args: &[&str], dir: &Path) -> Result<Value> {
    let json = dir.join("out.json");
    let mut cmd = Command::new(cairn_bin());
    cmd.arg("bench").args(args).arg("--json").arg(&json);
    for (k, v) in &cairn.openrc {
        cmd.env(k, v);
    }
    let out = cmd
        .stdin(Stdio::null())
        .output()
        .context("running cairn bench")?;
    ensure!(
        out.status.success(),
        "cairn bench {args:?} failed ({}):\n{}\n{}\nserver log:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr),
        cairn.log_tail()
    );
    eprintln!("{}", String::from_utf8_lossy(&out.stdout));
    Ok(serde_json::from_slice(&std::fs::read(&json)?)?)
}

/// One workload's run: the JSON, checked against the server's counts.
fn run_and_reconcile(cairn: &Cairn, api: &str, workload: &[&str]) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let mut args = vec!["object", "--api", api, "--duration", "2s", "--warmup", "1s"];
    args.extend_from_slice(workload);
    let before = server_counts(cairn, api)?;
    let report = bench(cairn, &args, dir.path())?;
    let served = delta(&before, &server_counts(cairn, api)?);
    let sent = reported_requests(&report);
    ensure!(
        served == sent,
        "{api} {workload:?}: the server answered {served:?} but the report counts {sent:?}"
    );
    let phase = &report["phases"][0];
    ensure!(
        phase["errors"] == 0,
        "{api} {workload:?}: errors {}",
        phase["errors_by_kind"]
    );
    ensure!(
        phase["ops"].as_u64() > Some(0),
        "{api} {workload:?}: no operation"
    );
    for stage in report["unmeasured"].as_object().into_iter().flatten() {
        ensure!(
            stage.1["errors"] == 0,
            "{api} {workload:?}: {} errors",
            stage.0
        );
    }
    let rate =
        phase["ops"].as_f64().unwrap_or(0.0) / phase["duration_secs"].as_f64().unwrap_or(1.0);
    ensure!((rate - phase["ops_per_sec"].as_f64().unwrap_or(0.0)).abs() < 1e-6 * rate.max(1.0));
    for p in ["p50", "p90", "p99", "p999"] {
        ensure!(phase["latency_ms"][p].as_f64() > Some(0.0), "{p} missing");
    }
    Ok(report)
}

/// The measured phase's 2xx requests of `method`.
fn measured_2xx(report: &Value, method: &str) -> u64 {
    report["phases"][0]["requests"][method]["2xx"]
        .as_u64()
        .unwrap_or(0)
}

fn measured_ops(report: &Value, op: &str) -> u64 {
    report["phases"][0]["by_op"][op]["ops"]
        .as_u64()
        .unwrap_or(0)
}

/// Each simple workload's measured operations are exactly its 2xx requests of one method.
fn check_simple_workloads(cairn: &Cairn, api: &str) -> Result<()> {
    let cases = [
        ("put", "PUT"),
        ("get", "GET"),
        ("delete", "DELETE"),
        ("list", "GET"),
    ];
    for (workload, method) in cases {
        let r = run_and_reconcile(
            cairn,
            api,
            &["--workload", workload, "--size", "4KiB", "-c", "8"],
        )?;
        let ops = r["phases"][0]["ops"].as_u64().unwrap_or(0);
        ensure!(
            measured_2xx(&r, method) == ops,
            "{api} {workload}: {ops} ops but {} {method} 2xx",
            measured_2xx(&r, method)
        );
        let prepared = r["settings"]["prepared_objects"].as_u64().unwrap_or(0);
        let prepare_puts = r["unmeasured"]["prepare"]["requests"]["PUT"]["2xx"]
            .as_u64()
            .unwrap_or(0);
        ensure!(
            prepared == prepare_puts,
            "{api} {workload}: prepared {prepared}, PUT {prepare_puts}"
        );
    }
    Ok(())
}

/// A mix's operations add up to its requests; a multipart upload is its parts plus bookkeeping.
fn check_mixed_and_multipart(cairn: &Cairn, api: &str) -> Result<()> {
    let r = run_and_reconcile(
        cairn,
        api,
        &[
            "--workload",
            "mixed",
            "--mix",
            "get=60,put=25,delete=15",
            "--size",
            "1KiB-64KiB",
            "-c",
            "8",
        ],
    )?;
    for (op, method) in [("put", "PUT"), ("delete", "DELETE"), ("get", "GET")] {
        ensure!(measured_ops(&r, op) > 0, "{api} mixed: no {op}");
        ensure!(
            measured_ops(&r, op) == measured_2xx(&r, method),
            "{api} mixed: {op} ops {} vs {method} 2xx {}",
            measured_ops(&r, op),
            measured_2xx(&r, method)
        );
    }
    // 12 MiB in 5 MiB parts: 3 parts per object.
    let r = run_and_reconcile(
        cairn,
        api,
        &[
            "--workload",
            "multipart",
            "--size",
            "12MiB",
            "--part-size",
            "5MiB",
            "-c",
            "2",
        ],
    )?;
    let uploads = measured_ops(&r, "multipart");
    let (puts, posts) = (measured_2xx(&r, "PUT"), measured_2xx(&r, "POST"));
    let expected = match api {
        "s3" => (3 * uploads, 2 * uploads),
        _ => (4 * uploads, 0),
    };
    ensure!(
        (puts, posts) == expected,
        "{api} multipart: {uploads} uploads, {puts} PUT, {posts} POST"
    );
    Ok(())
}

#[test]
fn swift_workloads_agree_with_the_servers_counts() -> Result<()> {
    // put, get, delete, list, mixed and multipart (SLO) over Swift: JSON counts = server's 2xx.
    let cairn = Cairn::start()?;
    check_simple_workloads(&cairn, "swift")?;
    check_mixed_and_multipart(&cairn, "swift")
}

#[test]
fn s3_workloads_agree_with_the_servers_counts() -> Result<()> {
    // The same over S3 (SigV4, multipart uploads): JSON counts = server's 2xx.
    let cairn = Cairn::start()?;
    check_simple_workloads(&cairn, "s3")?;
    check_mixed_and_multipart(&cairn, "s3")
}

#[test]
fn compare_runs_both_endpoints_and_reports_ratios() -> Result<()> {
    // Swift (A) against S3 (B) of one cairn up, one round each: both ran, ratios are B/A of medians.
    let cairn = Cairn::start()?;
    let dir = tempfile::tempdir()?;
    let args = [
        "object",
        "--workload",
        "get",
        "--api",
        "swift",
        "--compare",
        "--b-api",
        "s3",
        "--rounds",
        "1",
        "--duration",
        "1s",
        "--warmup",
        "0s",
        "-c",
        "4",
        "--labels",
        "swift,s3",
    ];
    let r = bench(&cairn, &args, dir.path())?;
    let a = r["median_a"]["ops_per_sec"].as_f64().context("median_a")?;
    let b = r["median_b"]["ops_per_sec"].as_f64().context("median_b")?;
    ensure!(a > 0.0 && b > 0.0, "{r}");
    let ratio = r["ratios_b_over_a"]["ops_per_sec"]
        .as_f64()
        .context("ratio")?;
    ensure!((ratio - b / a).abs() < 1e-9, "ratio {ratio} vs {b}/{a}");
    ensure!(r["rounds"][0]["a"]["target"]["api"] == "swift");
    ensure!(r["rounds"][0]["b"]["target"]["api"] == "s3");
    Ok(())
}

/// A server process killed when dropped.
struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn wait_for_port(port: u16, server: &mut Server) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(20);
    while Instant::now() < deadline {
        if let Some(status) = server.0.try_wait()? {
            bail!("the NBD server exited early: {status}");
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    bail!("the NBD server did not listen on {port}")
}

/// `cairn bench block` with verification; checks every phase and stage is error-free.
fn block_bench(port: u16, args: &[&str]) -> Result<Value> {
    let dir = tempfile::tempdir()?;
    let json = dir.path().join("out.json");
    let nbd = format!("127.0.0.1:{port}");
    let out = Command::new(cairn_bin())
        .args([
            "bench",
            "block",
            "--nbd",
            &nbd,
            "--duration",
            "2s",
            "--warmup",
            "1s",
        ])
        .args(args)
        .arg("--json")
        .arg(&json)
        .output()?;
    ensure!(
        out.status.success(),
        "cairn bench block {args:?} failed:\n{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let r: Value = serde_json::from_slice(&std::fs::read(&json)?)?;
    ensure!(
        r["phases"][0]["errors"] == 0,
        "{}",
        r["phases"][0]["errors_by_kind"]
    );
    for stage in r["unmeasured"].as_object().into_iter().flatten() {
        ensure!(stage.1["errors"] == 0, "{}: {}", stage.0, stage.1);
    }
    Ok(r)
}

#[test]
fn block_bench_verifies_data_through_qemu_nbd() -> Result<()> {
    // qemu-nbd over a 64 MiB raw file: randrw with 2 connections × 8 in flight, every read
    // checked, then every block written read back and checked; then sequential writes.
    let dir = tempfile::tempdir()?;
    let file = dir.path().join("disk.raw");
    std::fs::File::create(&file)?.set_len(64 << 20)?;
    let port = free_port();
    let mut server = Server(
        Command::new("qemu-nbd")
            .args([
                "-f",
                "raw",
                "-t",
                "-e",
                "4",
                "-b",
                "127.0.0.1",
                "-p",
                &port.to_string(),
            ])
            .arg(&file)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting qemu-nbd (qemu-utils)")?,
    );
    wait_for_port(port, &mut server)?;
    let r = block_bench(
        port,
        &[
            "--workload",
            "randrw",
            "-c",
            "2",
            "-q",
            "8",
            "--block-size",
            "4KiB",
        ],
    )?;
    let phase = &r["phases"][0];
    ensure!(phase["by_op"]["read"]["ops"].as_u64() > Some(0), "no reads");
    ensure!(
        phase["by_op"]["write"]["ops"].as_u64() > Some(0),
        "no writes"
    );
    ensure!(
        r["unmeasured"]["verify"]["ops"].as_u64() > Some(0),
        "nothing verified"
    );
    ensure!(phase["requests"]["READ"]["ok"] == phase["by_op"]["read"]["ops"]);
    let r = block_bench(
        port,
        &[
            "--workload",
            "seqwrite",
            "-c",
            "1",
            "-q",
            "4",
            "--block-size",
            "64KiB",
            "--flush-every",
            "64",
        ],
    )?;
    ensure!(
        r["unmeasured"]["verify"]["ops"].as_u64() > Some(0),
        "nothing verified"
    );
    ensure!(
        r["phases"][0]["by_op"]["flush"]["ops"].as_u64() > Some(1),
        "no periodic flush"
    );
    Ok(())
}

#[test]
fn block_bench_verifies_data_through_nbdkit_memory() -> Result<()> {
    // nbdkit's memory plugin (64 MiB): random reads after the fill pass, every one checked.
    let port = free_port();
    let mut server = Server(
        Command::new("nbdkit")
            .args([
                "-f",
                "-i",
                "127.0.0.1",
                "-p",
                &port.to_string(),
                "memory",
                "64M",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .context("starting nbdkit")?,
    );
    wait_for_port(port, &mut server)?;
    let r = block_bench(
        port,
        &[
            "--workload",
            "randread",
            "-c",
            "2",
            "-q",
            "16",
            "--block-size",
            "16KiB",
        ],
    )?;
    ensure!(
        r["unmeasured"]["prepare"]["ops"].as_u64() > Some(0),
        "no fill pass"
    );
    ensure!(r["phases"][0]["ops"].as_u64() > Some(0), "no reads");
    Ok(())
}
