//! Tempest's identity API tests (`tempest.api.identity`, tempest 47.0.0
//! from PyPI) against a fresh `cairn up`.
//!
//! Starts `cairn up` in a scratch data directory on ports of its own, runs
//! `tests/tempest/run.sh` with the bootstrap admin's password (from the
//! `cairn-admin` cloud of the `clouds.yaml` that `cairn up` writes), and
//! judges its results against `tests/tempest/known-failures.txt` as the
//! Swift suites are judged: the run fails when a test fails that the list
//! does not name, and when a listed test passes (so the list only shrinks).

use crate::functests::{known_failures, wait_healthy, Server, Verdict};
use crate::{python_venv_at, run};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::Command;

/// Tempest, pinned: its tests change between releases.
const PY_PACKAGES: &[&str] = &["tempest==47.0.0"];
/// The listeners of the `cairn up` under test, clear of a developer's own
/// `cairn up` (8090, 8091, 10809, 3260) and of the Swift suites' (8093, 8094).
const LISTEN: &str = "127.0.0.1:8095";
const S3_LISTEN: &str = "127.0.0.1:8096";
const NBD_LISTEN: &str = "127.0.0.1:10819";
const ISCSI_LISTEN: &str = "127.0.0.1:3270";
const KNOWN: &str = "tests/tempest/known-failures.txt";

pub fn run_suite(root: &Path) -> Result<()> {
    let venv = python_venv_at(&root.join("target/tempest-venv"), PY_PACKAGES)?;
    let data = root.join("target/tempest-data");
    let _ = std::fs::remove_dir_all(&data);
    let bin = root.join("target/release/cairn");
    let data_arg = data.to_str().context("data dir path is not UTF-8")?;
    let log = std::fs::File::create(root.join("target/tempest-cairn.log"))?;
    let server = Server(
        Command::new(&bin)
            .args(["up", "--data", data_arg, "--listen", LISTEN])
            .args(["--s3-listen", S3_LISTEN, "--nbd-listen", NBD_LISTEN])
            .args(["--iscsi-listen", ISCSI_LISTEN])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting cairn up")?,
    );
    wait_healthy(LISTEN)?;
    let clouds =
        std::fs::read_to_string(data.join("clouds.yaml")).context("reading clouds.yaml")?;
    let password = cloud_password(&clouds, "cairn-admin")
        .context("no password for cloud cairn-admin in clouds.yaml")?;
    let out = root.join("target/tempest");
    run(Command::new("bash")
        .arg(root.join("tests/tempest/run.sh"))
        .arg(format!("http://{LISTEN}/identity"))
        .arg(password)
        .env("VENV", &venv)
        .env("OUT", &out))?;
    drop(server);
    judge(root, &out.join("results.txt"))
}

/// The `password:` of cloud `name` in a `clouds.yaml` as `cairn up`
/// writes it (one cloud after another, two-space indents).
fn cloud_password(clouds: &str, name: &str) -> Option<String> {
    let header = format!("  {name}:");
    let mut lines = clouds
        .lines()
        .skip_while(|l| l.trim_end() != header)
        .skip(1);
    lines
        .by_ref()
        .take_while(|l| l.starts_with("   "))
        .find_map(|l| l.trim().strip_prefix("password:"))
        .map(|p| p.trim().trim_matches('"').to_string())
}

/// The tests of `run.sh`'s results (`<status> <test id>` lines) that
/// passed, failed and were skipped.
fn read_results(text: &str) -> (usize, BTreeSet<String>, usize) {
    let (mut passed, mut failed, mut skipped) = (0, BTreeSet::new(), 0);
    for line in text.lines() {
        match line.split_once(' ') {
            Some(("success" | "xfail", _)) => passed += 1,
            Some(("skip", _)) => skipped += 1,
            Some((_, id)) => {
                failed.insert(id.trim().to_string());
            }
            None => {}
        }
    }
    (passed, failed, skipped)
}

fn judge(root: &Path, results: &Path) -> Result<()> {
    let text = std::fs::read_to_string(results).with_context(|| format!("reading {results:?}"))?;
    let (passed, failed, skipped) = read_results(&text);
    let known = known_failures(&std::fs::read_to_string(root.join(KNOWN)).unwrap_or_default());
    println!(
        "tempest identity: {passed} passed, {} failed, {skipped} skipped ({} known failures listed)",
        failed.len(),
        known.len()
    );
    let verdict = Verdict::of(&failed, &known);
    for t in &verdict.new {
        println!("  NEW FAILURE: {t}");
    }
    for t in &verdict.stale {
        println!("  now passing, remove from {KNOWN}: {t}");
    }
    if passed == 0 {
        bail!("tempest identity: the suite passed no test at all");
    }
    if !verdict.new.is_empty() || !verdict.stale.is_empty() {
        bail!(
            "tempest identity: {} new failures, {} stale known failures",
            verdict.new.len(),
            verdict.stale.len()
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_admin_password_comes_from_its_own_cloud() {
        // Two clouds with a password each: the named one's is returned.
        let yaml = "clouds:\n  cairn:\n    auth:\n      password: \"demo\"\n  cairn-admin:\n    auth:\n      username: admin\n      password: \"s3cret\"\n    region_name: RegionOne\n";
        assert_eq!(
            cloud_password(yaml, "cairn-admin").as_deref(),
            Some("s3cret")
        );
        assert_eq!(cloud_password(yaml, "cairn").as_deref(), Some("demo"));
        assert_eq!(cloud_password(yaml, "other"), None);
    }

    #[test]
    fn results_count_passes_skips_and_name_failures() {
        // success and xfail pass; skip skips; anything else (fail, a class's
        // setUpClass error) is a failure, named by its whole id.
        let text = "success a.B.c[id-1]\nskip a.B.d\nfail a.B.e[id-2,smoke]\nfail setUpClass (a.C)\nxfail a.B.f\n";
        let (passed, failed, skipped) = read_results(text);
        assert_eq!((passed, skipped), (2, 1));
        let failed: Vec<String> = failed.into_iter().collect();
        assert_eq!(failed, ["a.B.e[id-2,smoke]", "setUpClass (a.C)"]);
    }
}
