//! Harness for the whole-system tests: start the real `cairn` binary in a
//! scratch data directory, wait until it answers, read its `openrc`, and
//! run the real clients (`swift`, `rclone`, `curl`, `qemu-img`, `fio`,
//! libiscsi's tools) against it.
//!
//! The binary comes from `$CAIRN_BIN` (set by `cargo xtask test`) or
//! `target/release/cairn`; the Python clients from `$PATH` (xtask puts its
//! venv first).

pub mod cluster;
pub mod disk;
pub mod load;
pub mod nbd_client;

use anyhow::{bail, Context, Result};
use rand::{Rng, SeedableRng};
use std::collections::HashMap;
use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long `cairn up` may take to answer its first health check.
const START_TIMEOUT: Duration = Duration::from_secs(60);

/// A running `cairn up` and its data directory.
pub struct Cairn {
    child: Option<Child>,
    pub data: PathBuf,
    _tmp: Option<tempfile::TempDir>,
    pub listen: String,
    /// The S3 API's own listener.
    pub s3_listen: String,
    /// The NBD server and the iSCSI portal.
    pub nbd_listen: String,
    pub iscsi_listen: String,
    pub openrc: HashMap<String, String>,
}

/// The path of the `cairn` binary under test.
pub fn cairn_bin() -> PathBuf {
    if let Ok(p) = std::env::var("CAIRN_BIN") {
        return PathBuf::from(p);
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root");
    root.join("target/release/cairn")
}

/// Runs a client tool and returns its stdout, or an error with its stderr.
pub fn run_tool(program: &str, args: &[&str]) -> Result<String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .with_context(|| format!("running {program}"))?;
    if !out.status.success() {
        bail!(
            "{program} {args:?} failed ({}): {}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// Whether a GET of `url` succeeds within 2 s (a health check).
pub fn answers(url: &str) -> bool {
    ureq::get(url)
        .timeout(Duration::from_secs(2))
        .call()
        .is_ok()
}

/// A free loopback port (bound then released), never one this process was
/// given before: the kernel may hand a just-released port out again, and two
/// listeners of one `cairn up` on the same port fail its start.
pub fn free_port() -> u16 {
    static GIVEN: std::sync::Mutex<Vec<u16>> = std::sync::Mutex::new(Vec::new());
    let mut given = GIVEN.lock().unwrap_or_else(|e| e.into_inner());
    loop {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("binding an ephemeral port");
        if !given.contains(&port) {
            given.push(port);
            return port;
        }
    }
}

impl Cairn {
    /// `cairn up` in a fresh temporary data directory.
    pub fn start() -> Result<Cairn> {
        let tmp = tempfile::tempdir()?;
        let data = tmp.path().join("data");
        let mut c = Cairn {
            child: None,
            data,
            _tmp: Some(tmp),
            listen: format!("127.0.0.1:{}", free_port()),
            s3_listen: format!("127.0.0.1:{}", free_port()),
            nbd_listen: format!("127.0.0.1:{}", free_port()),
            iscsi_listen: format!("127.0.0.1:{}", free_port()),
            openrc: HashMap::new(),
        };
        c.spawn()?;
        Ok(c)
    }

    /// Starts (again) the server on the same data directory and address.
    pub fn spawn(&mut self) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.data.with_extension("log"))?;
        let child = Command::new(cairn_bin())
            .args(["up", "--data"])
            .arg(&self.data)
            .args(["--listen", &self.listen])
            .args(["--s3-listen", &self.s3_listen])
            .args(["--nbd-listen", &self.nbd_listen])
            .args(["--iscsi-listen", &self.iscsi_listen])
            // An error's cause, not a backtrace, in the log's last lines.
            .env("RUST_LIB_BACKTRACE", "0")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()
            .with_context(|| format!("starting {:?}", cairn_bin()))?;
        self.child = Some(child);
        self.wait_healthy()?;
        self.openrc = parse_openrc(&std::fs::read_to_string(self.data.join("openrc"))?);
        Ok(())
    }

    fn wait_healthy(&mut self) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        let url = format!("http://{}/healthcheck", self.listen);
        while Instant::now() < deadline {
            if let Some(child) = self.child.as_mut() {
                if let Some(status) = child.try_wait()? {
                    bail!(
                        "cairn up exited early with {status}; log: {}",
                        self.log_tail()
                    );
                }
            }
            if answers(&url) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("cairn up did not become healthy; log: {}", self.log_tail())
    }

    /// The last lines of the server's log, for failure messages.
    pub fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(self.data.with_extension("log")).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// `cairn volume ARGS` against this cloud; its stdout, or an error with
    /// its stderr.
    pub fn volume(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(cairn_bin())
            .arg("volume")
            .arg("--data")
            .arg(&self.data)
            .args(args)
            .env_remove("RUST_BACKTRACE")
            .output()
            .context("running cairn volume")?;
        if !out.status.success() {
            bail!(
                "cairn volume {args:?} failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `nbd://ADDR/NAME` of a volume.
    pub fn nbd_url(&self, volume: &str) -> String {
        format!("nbd://{}/{volume}", self.nbd_listen)
    }

    /// SIGKILL: no chance to flush anything.
    pub fn kill9(&mut self) -> Result<()> {
        if let Some(mut child) = self.child.take() {
            child.kill()?;
            child.wait()?;
        }
        Ok(())
    }

    /// SIGINT (Ctrl-C) and wait for a clean exit.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let mut child = self.child.take().context("not running")?;
        signal(&child, libc::SIGINT);
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                child.kill()?;
                bail!("cairn up did not stop within 30 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// `swift ARGS` with the openrc credentials; fails on a non-zero exit.
    pub fn swift(&self, args: &[&str]) -> Result<String> {
        let out = self.swift_output(args)?;
        if !out.status.success() {
            bail!(
                "swift {:?} failed: {}\n{}",
                args,
                String::from_utf8_lossy(&out.stderr),
                String::from_utf8_lossy(&out.stdout)
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    /// `swift ARGS`, whatever its exit status.
    pub fn swift_output(&self, args: &[&str]) -> Result<Output> {
        Command::new("swift")
            .env("ST_AUTH", &self.openrc["ST_AUTH"])
            .env("ST_USER", &self.openrc["ST_USER"])
            .env("ST_KEY", &self.openrc["ST_KEY"])
            .args(args)
            .stdin(Stdio::null())
            .output()
            .context("running swift (python-swiftclient)")
    }

    /// A tempauth token and storage URL for the openrc user.
    pub fn auth(&self) -> Result<(String, String)> {
        tempauth(&self.openrc["ST_AUTH"], &self.openrc)
    }
}

/// A tempauth token and storage URL from the auth URL `auth_url` for the
/// user `ST_USER` with key `ST_KEY` of `openrc`.
pub fn tempauth(auth_url: &str, openrc: &HashMap<String, String>) -> Result<(String, String)> {
    let resp = ureq::get(auth_url)
        .set("X-Auth-User", &openrc["ST_USER"])
        .set("X-Auth-Key", &openrc["ST_KEY"])
        .call()?;
    let token = resp
        .header("x-auth-token")
        .context("no X-Auth-Token")?
        .to_string();
    let url = resp
        .header("x-storage-url")
        .context("no X-Storage-Url")?
        .to_string();
    Ok((token, url))
}

impl Drop for Cairn {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // The pid is our own child's; a stale pid is impossible while we hold `child`.
    let _ = Command::new("kill")
        .arg(format!("-{sig}"))
        .arg(child.id().to_string())
        .status();
}

/// `export K=V` lines into a map.
pub fn parse_openrc(text: &str) -> HashMap<String, String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.trim_matches('"').to_string()))
        .collect()
}

/// A seeded RNG for a randomized test: the seed comes from `SEED=` or is
/// drawn, and is printed either way so a failure can be replayed.
pub fn seeded_rng(test: &str) -> rand::rngs::StdRng {
    let seed = std::env::var("SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or_else(|| rand::thread_rng().gen());
    eprintln!("{test}: SEED={seed}");
    rand::rngs::StdRng::seed_from_u64(seed)
}

/// `n` random bytes.
pub fn random_bytes(rng: &mut impl Rng, n: usize) -> Vec<u8> {
    let mut v = vec![0u8; n];
    rng.fill(&mut v[..]);
    v
}
