//! Harness for multi-node tests: `cairn up --nodes N` in a scratch
//! directory on free ports, with each node's process reachable for faults
//! (kill -9, SIGSTOP) and restarts (`cairn node --config`). `Cluster::init`
//! stops after `--init-only`, so a test can edit node configs (or mount a
//! device) before the nodes start.

use anyhow::{bail, Context, Result};
use std::collections::HashMap;
use std::net::{IpAddr, UdpSocket};
use std::path::PathBuf;
use std::process::{Child, Command};
use std::time::{Duration, Instant};

use crate::{cairn_bin, free_port, parse_openrc};

/// How long a cluster (or a restarted node) may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(90);

/// One cluster at a time per test binary: fault tests measure latency and
/// throughput under faults, and two clusters on 2 cores would measure
/// each other.
static ONE_AT_A_TIME: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// A running `cairn up --nodes N`.
pub struct Cluster {
    _turn: std::sync::MutexGuard<'static, ()>,
    launcher: Option<Child>,
    /// Nodes this harness restarted itself (the launcher only knows the
    /// processes it started).
    restarted: Vec<Child>,
    pub data: PathBuf,
    _tmp: tempfile::TempDir,
    pub nodes: u32,
    /// Node `i`'s address is `ips[i-1]` (empty: `127.0.0.(i+1)`).
    ips: Vec<IpAddr>,
    /// The Swift API's port, the same on every node's address.
    pub swift_port: u16,
    /// The NBD server's port, the same on every node's address.
    pub nbd_port: u16,
    pub openrc: HashMap<String, String>,
}

/// A UDP port free on every loopback address (bound on all, then released).
pub fn free_udp_port() -> u16 {
    UdpSocket::bind("0.0.0.0:0")
        .and_then(|s| s.local_addr())
        .map(|a| a.port())
        .expect("binding an ephemeral UDP port")
}

/// A cluster initialised by `cairn up --nodes N --init-only` and not yet
/// started, so a test can edit node configs or prepare device directories
/// (`DATA/node-<i>/devices/<dev>`) first.
pub struct ClusterBuilder {
    turn: std::sync::MutexGuard<'static, ()>,
    /// The launcher's arguments, without `--init-only`.
    args: Vec<String>,
    pub data: PathBuf,
    tmp: tempfile::TempDir,
    pub nodes: u32,
    ips: Vec<IpAddr>,
    swift_port: u16,
    nbd_port: u16,
}

impl ClusterBuilder {
    /// Node `i`'s directory (its `cairn.toml`, `devices/`, `node.log`).
    pub fn node_dir(&self, i: u32) -> PathBuf {
        self.data.join(format!("node-{i}"))
    }

    /// Sets `key = value` (`value` a TOML literal) in `[section]` of node
    /// `i`'s `cairn.toml`; the key must already be there.
    pub fn set(&self, i: u32, section: &str, key: &str, value: &str) -> Result<()> {
        let path = self.node_dir(i).join("cairn.toml");
        let text = std::fs::read_to_string(&path)?;
        let edited = set_key(&text, section, key, value)
            .with_context(|| format!("editing {}", path.display()))?;
        std::fs::write(&path, edited)?;
        Ok(())
    }

    /// `set` on every node.
    pub fn set_all(&self, section: &str, key: &str, value: &str) -> Result<()> {
        (1..=self.nodes).try_for_each(|i| self.set(i, section, key, value))
    }

    /// Starts the cluster and waits until every node answers.
    pub fn start(self) -> Result<Cluster> {
        let log = std::fs::File::create(self.data.join("launcher.log"))?;
        let launcher = Command::new(cairn_bin())
            .args(&self.args)
            .env("RUST_LIB_BACKTRACE", "0")
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        let mut c = self.into_cluster(Some(launcher));
        for i in 1..=c.nodes {
            c.wait_healthy(i)?;
        }
        c.read_openrc("openrc")?;
        Ok(c)
    }

    /// Starts every node itself, without the launcher: node `i` runs
    /// `wrap(i)` followed by `cairn node --config …` (`ip netns exec NS`
    /// puts a node in a network namespace; an empty `wrap` runs it as is).
    pub fn start_each(self, wrap: impl Fn(u32) -> Vec<String>) -> Result<Cluster> {
        let mut c = self.into_cluster(None);
        for i in 1..=c.nodes {
            c.launch(i, &wrap(i))?;
        }
        for i in 1..=c.nodes {
            c.wait_healthy(i)?;
        }
        c.read_openrc("node-1/openrc")?;
        Ok(c)
    }

    fn into_cluster(self, launcher: Option<Child>) -> Cluster {
        Cluster {
            _turn: self.turn,
            launcher,
            restarted: Vec::new(),
            data: self.data,
            _tmp: self.tmp,
            nodes: self.nodes,
            ips: self.ips,
            swift_port: self.swift_port,
            nbd_port: self.nbd_port,
            openrc: HashMap::new(),
        }
    }
}

impl Cluster {
    /// Initialises a cluster of `nodes` nodes on free ports, to be started
    /// with `ClusterBuilder::start`.
    pub fn init(nodes: u32) -> Result<ClusterBuilder> {
        Cluster::init_at(nodes, &[])
    }

    /// `init` with node `i` at `ips[i-1]` (`cairn up --node-ips`).
    pub fn init_at(nodes: u32, ips: &[IpAddr]) -> Result<ClusterBuilder> {
        let turn = ONE_AT_A_TIME.lock().unwrap_or_else(|p| p.into_inner());
        let tmp = tempfile::tempdir()?;
        let data = tmp.path().join("cluster");
        let (swift_port, nbd_port) = (free_port(), free_port());
        let ports = [
            ("--listen", swift_port),
            ("--s3-listen", free_port()),
            ("--nbd-listen", nbd_port),
            ("--iscsi-listen", free_port()),
        ];
        let mut args: Vec<String> = vec![
            "up".into(),
            "--nodes".into(),
            nodes.to_string(),
            "--data".into(),
            data.display().to_string(),
            "--internode-port".into(),
            free_udp_port().to_string(),
        ];
        for (flag, port) in ports {
            args.push(flag.into());
            args.push(format!("127.0.0.1:{port}"));
        }
        if !ips.is_empty() {
            args.push("--node-ips".into());
            args.push(
                ips.iter()
                    .map(ToString::to_string)
                    .collect::<Vec<_>>()
                    .join(","),
            );
        }
        let init = Command::new(cairn_bin())
            .args(&args)
            .arg("--init-only")
            .output()?;
        if !init.status.success() {
            bail!(
                "cairn up --init-only: {}",
                String::from_utf8_lossy(&init.stderr)
            );
        }
        Ok(ClusterBuilder {
            turn,
            args,
            data,
            tmp,
            nodes,
            ips: ips.to_vec(),
            swift_port,
            nbd_port,
        })
    }

    /// Creates a cluster of `nodes` nodes with a replication pass every
    /// `replication_secs` seconds, starts it, and waits until every node
    /// answers.
    pub fn start(nodes: u32, replication_secs: u64) -> Result<Cluster> {
        let b = Cluster::init(nodes)?;
        b.set_all(
            "replication",
            "interval_secs",
            &replication_secs.to_string(),
        )?;
        b.start()
    }

    /// Node `i`'s Swift address (node 1 on 127.0.0.1, node i on 127.0.0.(i+1)).
    pub fn swift_addr(&self, i: u32) -> String {
        format!("{}:{}", self.public_ip(i), self.swift_port)
    }

    /// `nbd://…/volume` on node `i`'s NBD server.
    pub fn nbd_url(&self, i: u32, volume: &str) -> String {
        format!("nbd://{}:{}/{volume}", self.public_ip(i), self.nbd_port)
    }

    /// `cairn volume --data DIR ARGS` (it asks node 1).
    pub fn volume(&self, args: &[&str]) -> Result<String> {
        let data = self.data.display().to_string();
        let mut all = vec!["volume", "--data", &data];
        all.extend_from_slice(args);
        crate::run_tool(&cairn_bin().display().to_string(), &all)
    }

    fn wait_healthy(&self, i: u32) -> Result<()> {
        let url = format!("http://{}/healthcheck", self.swift_addr(i));
        let deadline = Instant::now() + START_TIMEOUT;
        while Instant::now() < deadline {
            if crate::answers(&url) {
                return Ok(());
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!(
            "node {i} did not answer; its log: {}",
            self.log(&format!("node-{i}/node.log"))
        )
    }

    /// The last lines of a log file under the data directory.
    pub fn log(&self, rel: &str) -> String {
        let text = std::fs::read_to_string(self.data.join(rel)).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }

    /// Node `i`'s pid, as it wrote it.
    pub fn pid(&self, i: u32) -> Result<i32> {
        let text = std::fs::read_to_string(self.data.join(format!("node-{i}/node.pid")))?;
        Ok(text.trim().parse()?)
    }

    /// Sends `sig` to node `i`.
    pub fn signal(&self, i: u32, sig: libc::c_int) -> Result<()> {
        let status = Command::new("kill")
            .arg(format!("-{sig}"))
            .arg(self.pid(i)?.to_string())
            .status()?;
        anyhow::ensure!(status.success(), "kill -{sig} node {i}");
        Ok(())
    }

    /// kill -9 node `i`, and waits until it is gone.
    pub fn kill9(&self, i: u32) -> Result<()> {
        let pid = self.pid(i)?;
        self.signal(i, libc::SIGKILL)?;
        let proc_dir = PathBuf::from(format!("/proc/{pid}"));
        let deadline = Instant::now() + Duration::from_secs(10);
        // A zombie (not yet reaped by its parent) has an empty cmdline.
        while std::fs::read(proc_dir.join("cmdline")).is_ok_and(|c| !c.is_empty()) {
            anyhow::ensure!(Instant::now() < deadline, "node {i} survived kill -9");
            std::thread::sleep(Duration::from_millis(20));
        }
        Ok(())
    }

    /// Starts node `i` again (`cairn node --config`) and waits until it answers.
    pub fn restart(&mut self, i: u32) -> Result<()> {
        self.launch(i, &[])?;
        self.wait_healthy(i)
    }

    /// Runs `wrap` followed by `cairn node --config` for node `i`.
    fn launch(&mut self, i: u32, wrap: &[String]) -> Result<()> {
        let dir = self.data.join(format!("node-{i}"));
        let log = std::fs::OpenOptions::new()
            .append(true)
            .create(true)
            .open(dir.join("node.log"))?;
        let bin = cairn_bin();
        let mut cmd = match wrap.split_first() {
            Some((program, args)) => {
                let mut c = Command::new(program);
                c.args(args).arg(&bin);
                c
            }
            None => Command::new(&bin),
        };
        let child = cmd
            .env("RUST_LIB_BACKTRACE", "0")
            .arg("node")
            .arg("--config")
            .arg(dir.join("cairn.toml"))
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.restarted.push(child);
        Ok(())
    }

    /// Reads the openrc at `rel` (waiting for it to be written).
    fn read_openrc(&mut self, rel: &str) -> Result<()> {
        let deadline = Instant::now() + START_TIMEOUT;
        while !self.data.join(rel).exists() {
            if Instant::now() > deadline {
                bail!("no {rel}; launcher log: {}", self.log("launcher.log"));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        self.openrc = parse_openrc(&std::fs::read_to_string(self.data.join(rel))?);
        Ok(())
    }

    /// Node `i`'s `/metrics`, as name (with labels) → value.
    pub fn metrics(&self, i: u32) -> Result<HashMap<String, f64>> {
        let text = ureq::get(&format!("http://{}/metrics", self.swift_addr(i)))
            .timeout(Duration::from_secs(5))
            .call()?
            .into_string()?;
        Ok(text
            .lines()
            .filter(|l| !l.starts_with('#'))
            .filter_map(|l| {
                let (k, v) = l.rsplit_once(' ')?;
                Some((k.to_owned(), v.parse().ok()?))
            })
            .collect())
    }

    /// The sum of every series of metric `name` (whatever its labels) on
    /// node `i`: a device gauge summed over the node's devices.
    pub fn metric_total(&self, i: u32, name: &str) -> Result<f64> {
        let labelled = format!("{name}{{");
        Ok(self
            .metrics(i)?
            .iter()
            .filter(|(k, _)| *k == name || k.starts_with(&labelled))
            .map(|(_, v)| v)
            .sum())
    }

    /// The metadata leader the nodes in `among` agree on, one of them,
    /// waiting for one.
    pub fn leader(&self, among: &[u32]) -> Result<u32> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let seen: Vec<u32> = among
                .iter()
                .filter_map(|&i| self.metrics(i).ok()?.get("cairn_meta_leader").copied())
                .map(|v| v as u32)
                .collect();
            if seen.len() == among.len()
                && among.contains(&seen[0])
                && seen.iter().all(|l| *l == seen[0])
            {
                return Ok(seen[0]);
            }
            anyhow::ensure!(Instant::now() < deadline, "no agreed leader: {seen:?}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }

    /// Waits until a full replication pass on every node in `among` found
    /// nothing to push and had no errors: the replicas agree.
    pub fn wait_replicas_agree(&self, among: &[u32], timeout: Duration) -> Result<()> {
        let deadline = Instant::now() + timeout;
        let read = |i: u32| -> Result<(f64, f64, f64)> {
            let m = self.metrics(i)?;
            let get = |k: &str| m.get(k).copied().unwrap_or(0.0);
            Ok((
                get("cairn_replication_passes_total"),
                get("cairn_replication_buckets_differing_total"),
                get("cairn_replication_errors_total"),
            ))
        };
        'again: loop {
            anyhow::ensure!(
                Instant::now() < deadline,
                "replicas did not converge in {timeout:?}"
            );
            let before: Vec<_> = among.iter().map(|&i| read(i)).collect::<Result<_>>()?;
            // Two passes: the first may have begun before `before`.
            loop {
                std::thread::sleep(Duration::from_millis(500));
                let now: Vec<_> = among.iter().map(|&i| read(i)).collect::<Result<_>>()?;
                anyhow::ensure!(
                    Instant::now() < deadline,
                    "replicas did not converge in {timeout:?}: (passes, buckets differing, \
                     errors) of nodes {among:?} went from {before:?} to {now:?}"
                );
                let mut all_done = true;
                for (b, n) in before.iter().zip(&now) {
                    if n.1 > b.1 || n.2 > b.2 {
                        continue 'again;
                    }
                    all_done &= n.0 >= b.0 + 2.0;
                }
                if all_done {
                    return Ok(());
                }
            }
        }
    }

    /// A tempauth token and storage URL from node `i`'s proxy.
    pub fn auth(&self, i: u32) -> Result<(String, String)> {
        let url = format!("http://{}/auth/v1.0", self.swift_addr(i));
        crate::tempauth(&url, &self.openrc)
    }
}

impl Cluster {
    /// Runs `cairn cluster <args> --data DIR`; its output, or an error
    /// with it when the command failed.
    pub fn cluster_cmd(&self, args: &[&str]) -> Result<String> {
        let out = Command::new(cairn_bin())
            .arg("cluster")
            .args(args)
            .arg("--data")
            .arg(&self.data)
            .output()
            .context("running cairn cluster")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        anyhow::ensure!(out.status.success(), "cairn cluster {args:?}: {text}");
        Ok(text)
    }

    /// Adds node `nodes + 1` while the cluster runs (`cairn cluster
    /// add-node`, then the node itself, then `cairn cluster push-ring`);
    /// returns its number.
    pub fn add_node(&mut self) -> Result<u32> {
        let i = (1..)
            .find(|i| !self.data.join(format!("node-{i}")).exists())
            .context("no free node number")?;
        self.cluster_cmd(&["add-node"])?;
        self.restart(i)?;
        self.cluster_cmd(&["push-ring"])?;
        Ok(i)
    }

    /// `cairn cluster status --json`: its exit status and document.
    pub fn status(&self) -> Result<(std::process::ExitStatus, serde_json::Value)> {
        let out = Command::new(cairn_bin())
            .args(["cluster", "status", "--json", "--data"])
            .arg(&self.data)
            .output()
            .context("running cairn cluster status")?;
        let doc = serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "status printed no JSON ({}): {}{}",
                out.status,
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })?;
        Ok((out.status, doc))
    }

    /// Starts the stopped cluster again on its directory (`cairn up --nodes
    /// N --data DIR`: the addresses are in the nodes' configs).
    pub fn relaunch(&mut self) -> Result<()> {
        anyhow::ensure!(self.launcher.is_none(), "the cluster is running");
        let log = std::fs::OpenOptions::new()
            .append(true)
            .open(self.data.join("launcher.log"))?;
        let launcher = Command::new(cairn_bin())
            .args(["up", "--nodes", &self.nodes.to_string(), "--data"])
            .arg(&self.data)
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.launcher = Some(launcher);
        for i in 1..=self.nodes {
            self.wait_healthy(i)?;
        }
        Ok(())
    }

    /// SIGINT to the launcher (it stops every node it runs) and its exit.
    pub fn stop(&mut self) -> Result<std::process::ExitStatus> {
        let mut launcher = self.launcher.take().context("not running")?;
        Command::new("kill")
            .arg("-INT")
            .arg(launcher.id().to_string())
            .status()?;
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Some(status) = launcher.try_wait()? {
                return Ok(status);
            }
            if Instant::now() > deadline {
                let _ = launcher.kill();
                bail!("cairn up did not stop within 60 s of SIGINT");
            }
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Cluster {
    /// Where node `i` serves the public APIs: node 1 on 127.0.0.1, node `i`
    /// on its own address (`127.0.0.(i+1)` unless given others).
    fn public_ip(&self, i: u32) -> String {
        match self.ips.get(i as usize - 1) {
            Some(ip) if i > 1 => ip.to_string(),
            _ if i == 1 => "127.0.0.1".into(),
            _ => format!("127.0.0.{}", i + 1),
        }
    }
}

/// Replaces the value of `key` in `[section]` of the TOML `text`; an error
/// when the section has no such key (a typo must not go unnoticed).
pub fn set_key(text: &str, section: &str, key: &str, value: &str) -> Result<String> {
    let header = format!("[{section}]");
    let mut in_section = false;
    let mut replaced = false;
    let mut out = String::with_capacity(text.len());
    for line in text.lines() {
        let trimmed = line.trim();
        if trimmed.starts_with('[') {
            in_section = trimmed == header;
        }
        match line.split_once('=') {
            Some((k, _)) if in_section && !replaced && k.trim() == key => {
                out.push_str(&format!("{key} = {value}"));
                replaced = true;
            }
            _ => out.push_str(line),
        }
        out.push('\n');
    }
    anyhow::ensure!(replaced, "no `{key}` in [{section}]");
    Ok(out)
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for c in &mut self.restarted {
            let _ = c.kill();
            let _ = c.wait();
        }
        if self.launcher.is_some() {
            let _ = self.stop();
        }
        // Anything left: a node the launcher no longer tracked (only a
        // process that is still this cluster's node, not a reused pid).
        for i in 1..=self.nodes {
            let Ok(pid) = self.pid(i) else { continue };
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            let ours = String::from_utf8_lossy(&cmdline).contains(&*self.data.to_string_lossy());
            if ours {
                let _ = Command::new("kill").arg("-9").arg(pid.to_string()).status();
            }
        }
    }
}
