//! Volumes over iSCSI with libiscsi's tools: discovery, INQUIRY and
//! READ CAPACITY against `cairn up`, and libiscsi's conformance suite
//! (`iscsi-test-cu --dataloss --test=ALL`) against a real Cairn volume,
//! judged against `tests/iscsi/cu-known-failures.txt` and against what the
//! reference target (tgtd) passes; its ReadOnly test against a snapshot.

use anyhow::Result;
use cairn_tests::{run_tool, Cairn};
use std::collections::BTreeMap;
use std::process::Command;
use std::time::Instant;

fn url(c: &Cairn, export: &str) -> String {
    format!("iscsi://{}/iqn.2026-11.io.cairn:{export}/0", c.iscsi_listen)
}

/// A tool's stdout and stderr together, whatever its exit status.
fn output(program: &str, args: &[&str]) -> Result<String> {
    let o = Command::new(program).args(args).output()?;
    Ok(format!(
        "{}{}",
        String::from_utf8_lossy(&o.stdout),
        String::from_utf8_lossy(&o.stderr)
    ))
}

/// One test's result in iscsi-test-cu's verbose output.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Outcome {
    Passed,
    Skipped,
    Failed,
}

/// Per-test outcomes (`Suite.Test`), telling skips (CUnit passes with a
/// `[SKIPPED]` line) from passes.
fn parse_cu(log: &str) -> BTreeMap<String, Outcome> {
    let mut out = BTreeMap::new();
    let mut suite = "";
    let mut current: Option<(String, String)> = None;
    let mut finish = |cur: &mut Option<(String, String)>| {
        if let Some((name, chunk)) = cur.take() {
            let status = chunk
                .split_whitespace()
                .find(|w| *w == "passed" || *w == "FAILED");
            let o = match status {
                Some("FAILED") => Outcome::Failed,
                Some(_) if chunk.contains("[SKIPPED]") => Outcome::Skipped,
                Some(_) => Outcome::Passed,
                None => Outcome::Failed,
            };
            out.insert(name, o);
        }
    };
    for line in log.lines() {
        if let Some(s) = line.strip_prefix("Suite: ") {
            finish(&mut current);
            suite = s.trim();
            continue;
        }
        if let Some(rest) = line.strip_prefix("  Test: ") {
            finish(&mut current);
            let (name, tail) = rest.split_once(" ...").unwrap_or((rest, ""));
            current = Some((format!("{suite}.{}", name.trim()), tail.to_owned()));
            continue;
        }
        if line.starts_with("Run Summary") {
            finish(&mut current);
        }
        if let Some((_, chunk)) = current.as_mut() {
            chunk.push('\n');
            chunk.push_str(line);
        }
    }
    finish(&mut current);
    out
}

/// The tests allowed to fail, from `cu-known-failures.txt`.
fn known_failures() -> BTreeMap<String, String> {
    include_str!("../iscsi/cu-known-failures.txt")
        .lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .filter_map(|l| l.split_once(": "))
        .map(|(t, why)| (t.trim().to_owned(), why.trim().to_owned()))
        .collect()
}

/// What the reference target (tgtd) passes of the same suite.
const TGTD_PASSED: usize = 157;

#[test]
fn discovery_inquiry_and_capacity() -> Result<()> {
    let c = Cairn::start()?;
    c.volume(&["create", "lun", "--size", "64M"])?;
    let ls = run_tool("iscsi-ls", &["-s", &format!("iscsi://{}", c.iscsi_listen)])?;
    assert!(ls.contains("iqn.2026-11.io.cairn:lun"), "{ls}");
    let inq = run_tool("iscsi-inq", &[&url(&c, "lun")])?;
    assert!(inq.contains("Cairn") || inq.contains("CAIRN"), "{inq}");
    let vpd = run_tool("iscsi-inq", &["-e", "1", "-c", "0xb2", &url(&c, "lun")])?;
    assert!(!vpd.is_empty());
    let cap = run_tool("iscsi-readcapacity16", &[&url(&c, "lun")])?;
    // 64 MiB in 512-byte blocks: the last LBA is 131071.
    assert!(cap.contains("131071") || cap.contains("131072"), "{cap}");
    Ok(())
}

#[test]
fn libiscsi_conformance_suite_on_a_cairn_volume() -> Result<()> {
    // No test outside the known-failures list may fail, and at least as
    // many must pass (skips not counted) as pass against tgtd.
    let c = Cairn::start()?;
    c.volume(&["create", "cu", "--size", "64M"])?;
    let started = Instant::now();
    let log = output(
        "iscsi-test-cu",
        &["--dataloss", "--test=ALL", "-V", &url(&c, "cu")],
    )?;
    let results = parse_cu(&log);
    let count = |want| results.values().filter(|o| **o == want).count();
    let (passed, skipped, failed) = (
        count(Outcome::Passed),
        count(Outcome::Skipped),
        count(Outcome::Failed),
    );
    eprintln!(
        "iscsi-test-cu on a Cairn volume: {} tests, {passed} passed, {skipped} skipped, {failed} failed in {:.0?}",
        results.len(),
        started.elapsed()
    );
    let known = known_failures();
    for (name, o) in &results {
        if *o == Outcome::Failed {
            eprintln!("  failed: {name}");
        }
    }
    let unexpected: Vec<&String> = results
        .iter()
        .filter(|(name, o)| **o == Outcome::Failed && !known.contains_key(*name))
        .map(|(name, _)| name)
        .collect();
    assert!(
        results.len() >= 200,
        "the suite did not run:\n{}",
        &log[log.len().saturating_sub(4000)..]
    );
    assert!(unexpected.is_empty(), "unexpected failures: {unexpected:?}");
    assert!(passed >= TGTD_PASSED, "only {passed} passed");
    Ok(())
}

#[test]
fn a_snapshot_refuses_every_write() -> Result<()> {
    // The suite's ReadOnly test (every kind of write fails with WRITE
    // PROTECTED) against a snapshot, which is exported read-only, and
    // discovery lists it.
    let c = Cairn::start()?;
    c.volume(&["create", "v", "--size", "8M"])?;
    c.volume(&["snapshot", "create", "v", "s"])?;
    let log = output(
        "iscsi-test-cu",
        // The snapshot `v@s` is the target `…:v:s`.
        &["--dataloss", "--test=ALL.ReadOnly", "-V", &url(&c, "v:s")],
    )?;
    let results = parse_cu(&log);
    assert_eq!(
        results.get("ReadOnly.ReadOnlySBC"),
        Some(&Outcome::Passed),
        "{log}"
    );
    Ok(())
}

#[test]
fn parse_cu_tells_skips_from_passes() {
    // A skip is a CUnit pass with a [SKIPPED] line; [FAILED] log lines alone
    // do not make a failure.
    let log = "Suite: Read10\n  Test: Simple ...passed\n  Test: Odd ...\n    [SKIPPED] no\npassed\n\
               Suite: X\n  Test: Bad ...\n    [FAILED] thing\nFAILED\n    1. x.c:1\n  Test: Soft ...\n    [FAILED] y\npassed\n\
               Run Summary: tests 4";
    let r = parse_cu(log);
    assert_eq!(r["Read10.Simple"], Outcome::Passed);
    assert_eq!(r["Read10.Odd"], Outcome::Skipped);
    assert_eq!(r["X.Bad"], Outcome::Failed);
    assert_eq!(r["X.Soft"], Outcome::Passed);
    assert!(known_failures().contains_key("iSCSIdatasn.iSCSIDataSnInvalid"));
}
