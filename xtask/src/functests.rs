//! Swift's own functional test suites against a fresh `cairn up`.
//!
//! Starts `cairn up` in a scratch data directory with the tempauth users the
//! suites expect (declared in Cairn's config, as an operator would), runs
//! `../shared/anchors/swift/functests.sh` (upstream's `test/functional`, and
//! with `S3_SUITE=1` its boto3 S3 suite `test/s3api`, from the swift 2.38.3
//! sdist), and reads their junit XML. Each suite is judged against its own
//! list: `tests/swift-functests/known-failures.txt` and
//! `s3api-known-failures.txt`. The run fails when a test fails that its list
//! does not name, and also when a listed test now passes (so the lists only
//! ever shrink); both suites are reported before it fails.

use crate::{python_venv, run};
use anyhow::{bail, Context, Result};
use std::collections::BTreeSet;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// The suite's users, as in Swift's test/sample.conf plus the reseller admin
/// and service-token user that functests.sh configures.
const FUNCTEST_USERS: &str = r#"
[[tempauth.users]]
account = "test"
user = "tester"
key = "testing"
groups = ["admin"]

[[tempauth.users]]
account = "test"
user = "tester2"
key = "testing2"
groups = ["admin"]

[[tempauth.users]]
account = "test"
user = "tester3"
key = "testing3"
groups = []

[[tempauth.users]]
account = "test2"
user = "tester2"
key = "testing2"
groups = ["admin"]

[[tempauth.users]]
account = "test5"
user = "tester5"
key = "testing5"
groups = ["service"]

[[tempauth.users]]
account = "admin"
user = "admin"
key = "admin"
groups = ["admin", "reseller_admin"]
"#;

/// Port of the `cairn up` the suite runs against (out of the way of a
/// developer's own `cairn up` and of the Swift anchor on 8080).
const FUNCTEST_PORT: u16 = 8093;
/// Its S3 listener, clear of `cairn up`'s default 8091.
const FUNCTEST_S3_PORT: u16 = 8094;

/// One suite's results and the list of its known failures.
struct Suite {
    name: &'static str,
    /// The junit XML of the run, in functests.sh's output directory.
    junit: &'static str,
    /// The junit XML of the rerun of the failed tests, if the script reruns them.
    retry: Option<&'static str>,
    /// The known-failures list, from the workspace root.
    known: &'static str,
}

const SUITES: [Suite; 2] = [
    Suite {
        name: "swift functests",
        junit: "junit.xml",
        retry: Some("junit-retry.xml"),
        known: "tests/swift-functests/known-failures.txt",
    },
    Suite {
        name: "swift s3api",
        junit: "junit-s3api.xml",
        retry: None,
        known: "tests/swift-functests/s3api-known-failures.txt",
    },
];

/// Kills the `cairn up` child when the run ends, however it ends.
pub(crate) struct Server(pub(crate) Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

pub fn run_suite(root: &Path) -> Result<()> {
    let venv = python_venv(root, &["swift==2.38.3", "python-swiftclient==4.11.0"])?;
    let data = root.join("target/functests-data");
    let _ = std::fs::remove_dir_all(&data);
    let bin = root.join("target/release/cairn");
    let listen = format!("127.0.0.1:{FUNCTEST_PORT}");
    let data_arg = data.to_str().context("data dir path is not UTF-8")?;
    let s3_listen = format!("127.0.0.1:{FUNCTEST_S3_PORT}");
    run(Command::new(&bin).args([
        "up",
        "--data",
        data_arg,
        "--listen",
        &listen,
        "--s3-listen",
        &s3_listen,
        "--init-only",
    ]))?;
    let config = data.join("cairn.toml");
    let text = std::fs::read_to_string(&config).context("reading cairn.toml")?;
    let mut text = without_admin_user(&text);
    text.push_str(FUNCTEST_USERS);
    std::fs::write(&config, text).context("writing cairn.toml")?;

    let log = std::fs::File::create(root.join("target/functests-cairn.log"))?;
    let server = Server(
        Command::new(&bin)
            .args(["up", "--data", data_arg, "--listen", &listen])
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .context("starting cairn up")?,
    );
    wait_healthy(&listen)?;

    let out = root.join("target/functests");
    let _ = std::fs::remove_dir_all(&out);
    let script = root.join("../shared/anchors/swift/functests.sh");
    let status = Command::new("bash")
        .arg(&script)
        .arg(format!("http://{listen}/auth/v1.0"))
        .env("VENV", &venv)
        .env("OUT", &out)
        .env("S3_SUITE", "1")
        .env("SRC_DIR", root.join("target/swift-src"))
        .status()
        .context("running functests.sh")?;
    drop(server);
    eprintln!("functests.sh exited with {status}");
    let failures: Vec<String> = SUITES
        .iter()
        .filter_map(|suite| judge(root, &out, suite).err())
        .map(|e| format!("{e:#}"))
        .collect();
    if !failures.is_empty() {
        bail!("{}", failures.join("; "));
    }
    Ok(())
}

/// The config text without the generated `admin:admin` user, whom the
/// suite's reseller admin (`admin:admin`, key `admin`) replaces.
fn without_admin_user(config: &str) -> String {
    const HEADER: &str = "[[tempauth.users]]";
    let mut parts = config.split(HEADER);
    let mut out = parts.next().unwrap_or_default().to_string();
    for block in parts {
        if !block.contains("account = \"admin\"") {
            out.push_str(HEADER);
            out.push_str(block);
        }
    }
    out
}

/// Compares the failures of one suite's junit XML with its known-failures list.
fn judge(root: &Path, out: &Path, suite: &Suite) -> Result<()> {
    let first = read_junit(&out.join(suite.junit))?;
    let retry = match suite.retry {
        Some(file) => read_junit(&out.join(file)).unwrap_or_default(),
        None => Junit::default(),
    };
    let failed: BTreeSet<String> = first.failed.difference(&retry.passed).cloned().collect();
    let known =
        known_failures(&std::fs::read_to_string(root.join(suite.known)).unwrap_or_default());
    let passed = first.passed.len() + retry.passed.len();
    println!(
        "{}: {} passed, {} failed, {} skipped ({} known failures listed)",
        suite.name,
        passed,
        failed.len(),
        first.skipped,
        known.len()
    );
    let verdict = Verdict::of(&failed, &known);
    for t in &verdict.new {
        println!("  NEW FAILURE: {t}");
    }
    for t in &verdict.stale {
        println!("  now passing, remove from {}: {t}", suite.known);
    }
    if first.passed.is_empty() {
        bail!("{}: the suite passed no test at all", suite.name);
    }
    if !verdict.new.is_empty() || !verdict.stale.is_empty() {
        bail!(
            "{}: {} new failures, {} stale known failures",
            suite.name,
            verdict.new.len(),
            verdict.stale.len()
        );
    }
    Ok(())
}

/// The test ids of a known-failures list: one a line, `#` comments and
/// blank lines aside.
pub(crate) fn known_failures(text: &str) -> BTreeSet<String> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect()
}

/// What a run says about a known-failures list.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Verdict {
    /// Failures the list does not name.
    pub(crate) new: Vec<String>,
    /// Listed tests that did not fail.
    pub(crate) stale: Vec<String>,
}

impl Verdict {
    pub(crate) fn of(failed: &BTreeSet<String>, known: &BTreeSet<String>) -> Verdict {
        Verdict {
            new: failed.difference(known).cloned().collect(),
            stale: known.difference(failed).cloned().collect(),
        }
    }
}

#[derive(Default)]
struct Junit {
    passed: BTreeSet<String>,
    failed: BTreeSet<String>,
    skipped: usize,
}

/// A deliberately small reader of pytest's junit XML: one `<testcase …>`
/// element per test, with a `<failure`, `<error` or `<skipped` child.
fn read_junit(path: &Path) -> Result<Junit> {
    let xml = std::fs::read_to_string(path).with_context(|| format!("reading {path:?}"))?;
    let mut j = Junit::default();
    for case in xml.split("<testcase").skip(1) {
        let attr = |name: &str| -> String {
            // A leading space: `name="` is also the tail of `classname="`.
            let key = format!(" {name}=\"");
            case.split_once(&key)
                .and_then(|(_, rest)| rest.split_once('"'))
                .map(|(v, _)| v.to_string())
                .unwrap_or_default()
        };
        let id = format!("{}::{}", attr("classname"), attr("name"));
        let body_end = case.find("</testcase>").unwrap_or(case.len());
        let body = &case[..body_end];
        if body.contains("<failure") || body.contains("<error") {
            j.failed.insert(id);
        } else if body.contains("<skipped") {
            j.skipped += 1;
        } else {
            j.passed.insert(id);
        }
    }
    Ok(j)
}

pub(crate) fn wait_healthy(listen: &str) -> Result<()> {
    let deadline = Instant::now() + Duration::from_secs(60);
    while Instant::now() < deadline {
        let ok = Command::new("curl")
            .args(["-sf", &format!("http://{listen}/healthcheck")])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if ok {
            return Ok(());
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    bail!("cairn up did not answer /healthcheck on {listen} within 60 s")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_failure_lists_skip_comments_and_blank_lines() {
        // Ids one a line, trimmed; `#` lines and blank lines are not ids.
        let list = "# why\n  a.B::c  \n\n# more\nd.E::f\n";
        let ids: Vec<String> = known_failures(list).into_iter().collect();
        assert_eq!(ids, ["a.B::c", "d.E::f"]);
    }

    #[test]
    fn new_failures_and_stale_entries_both_count_against_a_list() {
        // A failure the list lacks is new; a listed test that passed is stale.
        let set = |ids: &[&str]| ids.iter().map(|s| s.to_string()).collect::<BTreeSet<_>>();
        let v = Verdict::of(&set(&["t::a", "t::b"]), &set(&["t::b", "t::c"]));
        assert_eq!(
            v,
            Verdict {
                new: vec!["t::a".into()],
                stale: vec!["t::c".into()]
            }
        );
        let clean = Verdict::of(&set(&["t::b"]), &set(&["t::b"]));
        assert!(clean.new.is_empty() && clean.stale.is_empty());
    }

    #[test]
    fn junit_cases_are_read_as_passed_failed_or_skipped() {
        // pytest's junit: a case with <failure> or <error> failed, with <skipped> skipped.
        let dir = std::env::temp_dir().join(format!("xtask-junit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("junit.xml");
        let xml = r#"<testsuite><testcase classname="m.C" name="ok" time="0"/>
<testcase classname="m.C" name="bad"><failure message="x"/></testcase>
<testcase classname="m.C" name="err"><error message="y"/></testcase>
<testcase classname="m.C" name="skip"><skipped message="z"/></testcase></testsuite>"#;
        std::fs::write(&path, xml).unwrap();
        let j = read_junit(&path).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();
        let ids = |s: &BTreeSet<String>| s.iter().cloned().collect::<Vec<_>>();
        assert_eq!(ids(&j.passed), ["m.C::ok"]);
        assert_eq!(ids(&j.failed), ["m.C::bad", "m.C::err"]);
        assert_eq!(j.skipped, 1);
    }
}
