//! Swift's own functional test suite against a fresh `cairn up`.
//!
//! Starts `cairn up` in a scratch data directory with the tempauth users the
//! suite expects (declared in Cairn's config, as an operator would), runs
//! `../shared/anchors/swift/functests.sh` (upstream's `test/functional` from
//! the swift 2.38.3 sdist), and reads its junit XML. The run fails when a test
//! fails that is not listed in `tests/swift-functests/known-failures.txt`,
//! and also when a listed test now passes (so the list only ever shrinks).

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

/// Kills the `cairn up` child when the run ends, however it ends.
struct Server(Child);

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
        .env("SRC_DIR", root.join("target/swift-src"))
        .status()
        .context("running functests.sh")?;
    drop(server);
    eprintln!("functests.sh exited with {status}");
    judge(root, &out)
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

/// Compares the failures in the junit XML with the known-failures list.
fn judge(root: &Path, out: &Path) -> Result<()> {
    let first = read_junit(&out.join("junit.xml"))?;
    let retry = read_junit(&out.join("junit-retry.xml")).unwrap_or_default();
    let failed: BTreeSet<String> = first.failed.difference(&retry.passed).cloned().collect();
    let known_path = root.join("tests/swift-functests/known-failures.txt");
    let known: BTreeSet<String> = std::fs::read_to_string(&known_path)
        .unwrap_or_default()
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(String::from)
        .collect();
    let passed = first.passed.len() + retry.passed.len();
    println!(
        "swift functests: {} passed, {} failed, {} skipped ({} known failures listed)",
        passed,
        failed.len(),
        first.skipped,
        known.len()
    );
    let new: Vec<&String> = failed.difference(&known).collect();
    let fixed: Vec<&String> = known.difference(&failed).collect();
    for t in &new {
        println!("  NEW FAILURE: {t}");
    }
    for t in &fixed {
        println!("  now passing, remove from known-failures.txt: {t}");
    }
    if first.passed.is_empty() {
        bail!("the functional suite passed no test at all");
    }
    if !new.is_empty() || !fixed.is_empty() {
        bail!(
            "{} new failures, {} stale known failures",
            new.len(),
            fixed.len()
        );
    }
    Ok(())
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

fn wait_healthy(listen: &str) -> Result<()> {
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
