//! A cluster grown one machine at a time: `cairn cluster init` makes the
//! first node and a join token, `cairn node join TOKEN` adds each other
//! node with one command. Nodes run on their own loopback addresses
//! (127.0.0.2, .3, .4), as they would on their own machines: nothing but
//! the token passes from the first node's directory to the others.
//!
//! Checked: tokens that are revoked, expired, forged (a wrong secret) or
//! name another CA admit no one and change nothing; two valid joins make
//! a 3-voter cluster whose every node serves every object; a volume made
//! before the joins stays on node 1's devices and one made after spreads
//! over the joined nodes, each readable through every node's NBD server;
//! a node holding a volume's extents cannot be removed; the joined voters
//! carry the metadata group, and the new volume, when the first node is
//! killed.

use anyhow::{bail, ensure, Context, Result};
use cairn_tests::cluster::{free_udp_port, set_key};
use cairn_tests::{
    cairn_bin, free_port, parse_openrc, random_bytes, run_tool, seeded_rng, tempauth,
};
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::path::PathBuf;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

/// How long a node may take to answer, and the cluster to settle.
const WAIT: Duration = Duration::from_secs(90);

/// Nodes started from their own directories.
struct Nodes {
    tmp: tempfile::TempDir,
    running: HashMap<u32, Child>,
    /// The public APIs' ports (the same on every node's address).
    swift_port: u16,
    nbd_port: u16,
    internode_port: u16,
}

impl Nodes {
    fn new() -> Result<Nodes> {
        Ok(Nodes {
            tmp: tempfile::tempdir()?,
            running: HashMap::new(),
            swift_port: free_port(),
            nbd_port: free_port(),
            internode_port: free_udp_port(),
        })
    }

    fn dir(&self, i: u32) -> PathBuf {
        self.tmp.path().join(format!("node-{i}"))
    }

    fn ip(i: u32) -> String {
        format!("127.0.0.{}", i + 1)
    }

    fn internode(&self, i: u32) -> String {
        format!("{}:{}", Nodes::ip(i), self.internode_port)
    }

    fn swift(&self, i: u32) -> String {
        format!("http://{}:{}", Nodes::ip(i), self.swift_port)
    }

    /// `cairn volume <args>` through node `i`'s control socket.
    fn volume(&self, i: u32, args: &[&str]) -> Result<String> {
        let data = self.dir(i).to_string_lossy().into_owned();
        let mut all = vec!["volume", "--data", &data];
        all.extend_from_slice(args);
        run_tool(&cairn_bin().to_string_lossy(), &all)
    }

    /// qemu-io `commands` on volume `name` through node `i`'s NBD server.
    fn qemu_io(&self, i: u32, name: &str, commands: &[&str]) -> Result<()> {
        let url = format!("nbd://{}:{}/{name}", Nodes::ip(i), self.nbd_port);
        let mut args = vec!["-f", "raw"];
        for c in commands {
            args.extend(["-c", c]);
        }
        args.push(&url);
        run_tool("qemu-io", &args)?;
        Ok(())
    }

    /// The volumes (by id) node `i` holds extents of.
    fn volumes_held(&self, i: u32) -> Result<BTreeSet<String>> {
        let mut held = BTreeSet::new();
        for device in std::fs::read_dir(self.dir(i).join("devices"))? {
            let extents = device?.path().join("extents");
            let Ok(volumes) = std::fs::read_dir(&extents) else {
                continue;
            };
            for v in volumes {
                let v = v?;
                if std::fs::read_dir(v.path())?.next().is_some() {
                    held.insert(v.file_name().to_string_lossy().into_owned());
                }
            }
        }
        Ok(held)
    }

    /// Runs `cairn <args>` to completion.
    fn cairn(&self, args: &[&str]) -> Result<Output> {
        Command::new(cairn_bin())
            .args(args)
            .env("RUST_LIB_BACKTRACE", "0")
            .output()
            .context("running cairn")
    }

    /// Runs `cairn <args>` as node `i`'s process, logging to its log.
    fn spawn(&mut self, i: u32, args: &[&str]) -> Result<()> {
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(self.tmp.path().join(format!("node-{i}.log")))?;
        let child = Command::new(cairn_bin())
            .args(args)
            .env("RUST_LIB_BACKTRACE", "0")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?;
        self.running.insert(i, child);
        Ok(())
    }

    fn run_node(&mut self, i: u32) -> Result<()> {
        let config = self.dir(i).join("cairn.toml");
        self.spawn(i, &["node", "--config", &config.to_string_lossy()])?;
        self.wait_healthy(i)
    }

    fn log(&self, i: u32) -> String {
        let text = std::fs::read_to_string(self.tmp.path().join(format!("node-{i}.log")))
            .unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(30)..].join("\n")
    }

    fn wait_healthy(&mut self, i: u32) -> Result<()> {
        let url = format!("{}/healthcheck", self.swift(i));
        let deadline = Instant::now() + WAIT;
        while Instant::now() < deadline {
            if cairn_tests::answers(&url) {
                return Ok(());
            }
            if let Some(status) = self
                .running
                .get_mut(&i)
                .and_then(|c| c.try_wait().ok())
                .flatten()
            {
                bail!("node {i} exited with {status}: {}", self.log(i));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        bail!("node {i} did not answer: {}", self.log(i))
    }

    fn kill9(&mut self, i: u32) -> Result<()> {
        let mut child = self.running.remove(&i).context("node not running")?;
        child.kill()?;
        child.wait()?;
        Ok(())
    }

    /// `cairn cluster status --json` from node 1's directory (its
    /// certificate is a member's, and its ring names every node).
    fn status(&self) -> Result<Value> {
        let out = self.cairn(&[
            "cluster",
            "status",
            "--json",
            "--data",
            &self.dir(1).to_string_lossy(),
        ])?;
        serde_json::from_slice(&out.stdout).with_context(|| {
            format!(
                "status printed no JSON: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        })
    }

    /// Reads the status until `done` holds.
    fn status_until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
        let deadline = Instant::now() + WAIT;
        loop {
            let doc = self.status()?;
            if done(&doc) {
                return Ok(doc);
            }
            ensure!(
                Instant::now() < deadline,
                "status never showed {what}:\n{doc:#}"
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }

    /// A tempauth token and storage URL from node `i`'s proxy.
    fn auth(&self, i: u32) -> Result<(String, String)> {
        let openrc = parse_openrc(&std::fs::read_to_string(self.dir(1).join("openrc"))?);
        tempauth(&format!("{}/auth/v1.0", self.swift(i)), &openrc)
    }
}

impl Drop for Nodes {
    fn drop(&mut self) {
        for child in self.running.values_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// The join token in `cairn cluster init`'s or `token create`'s output.
fn token_in(text: &str) -> Result<String> {
    text.split_whitespace()
        .find(|w| w.starts_with("cairn1."))
        .map(str::to_owned)
        .context(format!("no join token in {text:?}"))
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The token ids `cairn cluster token list` prints.
fn token_ids(nodes: &Nodes) -> Result<Vec<String>> {
    let out = nodes.cairn(&[
        "cluster",
        "token",
        "list",
        "--data",
        &nodes.dir(1).to_string_lossy(),
    ])?;
    ensure!(out.status.success(), "token list: {}", text(&out));
    Ok(text(&out)
        .lines()
        .skip(1)
        .filter_map(|l| l.split_whitespace().next().map(str::to_owned))
        .collect())
}

/// `token` with the base64url character at `at` (after `cairn1.`) changed.
fn tampered(token: &str, at: usize) -> String {
    let mut chars: Vec<char> = token.chars().collect();
    let i = "cairn1.".len() + at;
    chars[i] = if chars[i] == 'A' { 'B' } else { 'A' };
    chars.into_iter().collect()
}

#[test]
fn nodes_join_with_a_valid_token_only_and_carry_the_cluster() -> Result<()> {
    let mut rng = seeded_rng("nodes_join_with_a_valid_token_only_and_carry_the_cluster");
    let mut nodes = Nodes::new()?;
    let (s3, nbd, iscsi) = (free_port(), nodes.nbd_port, free_port());
    let at = |port: u16| format!("{}:{port}", Nodes::ip(1));
    let init = nodes.cairn(&[
        "cluster",
        "init",
        "--data",
        &nodes.dir(1).to_string_lossy(),
        "--internode",
        &nodes.internode(1),
        "--listen",
        &at(nodes.swift_port),
        "--s3-listen",
        &at(s3),
        "--nbd-listen",
        &at(nbd),
        "--iscsi-listen",
        &at(iscsi),
        "--token-ttl",
        "1h",
    ])?;
    ensure!(init.status.success(), "cluster init: {}", text(&init));
    let token = token_in(&text(&init))?;
    // The shared settings travel with each grant: a short replication
    // interval set here reaches the joined nodes.
    let config = nodes.dir(1).join("cairn.toml");
    let edited = set_key(
        &std::fs::read_to_string(&config)?,
        "replication",
        "interval_secs",
        "2",
    )?;
    std::fs::write(&config, edited)?;
    nodes.run_node(1)?;

    // A volume made while node 1 is the whole cluster lives on its devices.
    nodes.volume(1, &["create", "early", "--size", "64M"])?;
    nodes.qemu_io(1, "early", &["write -P 0x5e 0 12M", "flush"])?;
    let early = nodes.volumes_held(1)?;
    ensure!(early.len() == 1, "node 1 holds extents of {early:?}");

    // Tokens that must not admit: revoked, expired, forged, another CA's.
    let data1 = nodes.dir(1).to_string_lossy().into_owned();
    let before = token_ids(&nodes)?;
    let revoked = token_in(&text(
        &nodes.cairn(&["cluster", "token", "create", "--data", &data1])?,
    ))?;
    let new_id = token_ids(&nodes)?
        .into_iter()
        .find(|id| !before.contains(id))
        .context("the new token is not listed")?;
    let out = nodes.cairn(&["cluster", "token", "revoke", &new_id, "--data", &data1])?;
    ensure!(out.status.success(), "revoke: {}", text(&out));
    let expired = token_in(&text(&nodes.cairn(&[
        "cluster", "token", "create", "--ttl", "1s", "--data", &data1,
    ])?))?;
    std::thread::sleep(Duration::from_secs(2));
    // Bytes 6..26 of the token are the secret, 26..58 the CA's fingerprint
    // (4 base64 characters per 3 bytes).
    let cases = [
        (revoked, "not valid"),
        (expired, "expired"),
        (tampered(&token, 20), "not valid"),
        (tampered(&token, 50), "reaching the cluster"),
    ];
    for (n, (bad, why)) in cases.iter().enumerate() {
        let dir = nodes.tmp.path().join(format!("refused-{n}"));
        let out = nodes.cairn(&[
            "node",
            "join",
            bad,
            "--data",
            &dir.to_string_lossy(),
            "--internode",
            &nodes.internode(2),
            "--init-only",
        ])?;
        let said = text(&out);
        ensure!(
            !out.status.success(),
            "a bad token ({why}) admitted a node: {said}"
        );
        ensure!(
            said.contains(why),
            "refusal {n} does not say {why:?}: {said}"
        );
        ensure!(
            !dir.join("cairn.toml").exists(),
            "a refused node got a config"
        );
    }
    let doc = nodes.status()?;
    assert_eq!(
        doc["summary"]["nodes_total"], 1,
        "a refused join changed the ring:\n{doc:#}"
    );

    // Node 2 joins and runs in one command; node 3 joins, then is started.
    let data2 = nodes.dir(2).to_string_lossy().into_owned();
    let internode2 = nodes.internode(2);
    nodes.spawn(
        2,
        &[
            "node",
            "join",
            &token,
            "--data",
            &data2,
            "--internode",
            &internode2,
        ],
    )?;
    nodes.wait_healthy(2)?;
    let out = nodes.cairn(&[
        "node",
        "join",
        &token,
        "--data",
        &nodes.dir(3).to_string_lossy(),
        "--internode",
        &nodes.internode(3),
        "--init-only",
    ])?;
    ensure!(out.status.success(), "join of node 3: {}", text(&out));
    nodes.run_node(3)?;

    nodes.status_until(
        "3 voters agreeing on a leader, every partition in place",
        |d| {
            let s = &d["summary"];
            let voters = d["nodes"].as_array().is_some_and(|ns| {
                ns.iter()
                    .all(|n| n["status"]["metadata"]["voters"] == serde_json::json!([1, 2, 3]))
            });
            s["nodes_up"] == 3 && s["leader_agreed"] == true && s["out_of_place"] == 0 && voters
        },
    )?;

    // A volume made now spreads over the joined nodes; the early one stays
    // where it was, and both read back through any node.
    nodes.volume(2, &["create", "late", "--size", "64M"])?;
    nodes.qemu_io(2, "late", &["write -P 0xa7 0 32M", "flush"])?;
    for i in [2, 3] {
        let held = nodes.volumes_held(i)?;
        ensure!(
            held.len() == 1 && held.is_disjoint(&early),
            "node {i} should hold extents of the late volume only: {held:?}"
        );
    }
    nodes.qemu_io(3, "early", &["read -P 0x5e 0 12M", "read -P 0 12M 52M"])?;
    nodes.qemu_io(1, "late", &["read -P 0xa7 0 32M", "read -P 0 32M 32M"])?;
    // Volumes do not move: a node their rings place extents on cannot leave.
    let out = nodes.cairn(&["cluster", "remove-node", "3", "--data", &data1])?;
    ensure!(
        !out.status.success() && text(&out).contains("late"),
        "node 3 was let go with the late volume's extents: {}",
        text(&out)
    );

    // Every node serves what any node stored.
    let (token2, url2) = nodes.auth(2)?;
    let put = |url: &str, token: &str, path: &str, body: &[u8]| -> Result<()> {
        let status = ureq::put(&format!("{url}/{path}"))
            .set("X-Auth-Token", token)
            .send_bytes(body)?
            .status();
        ensure!(status == 201 || status == 202, "PUT {path}: {status}");
        Ok(())
    };
    let get = |url: &str, token: &str, path: &str| -> Result<Vec<u8>> {
        let mut body = Vec::new();
        ureq::get(&format!("{url}/{path}"))
            .set("X-Auth-Token", token)
            .call()?
            .into_reader()
            .read_to_end(&mut body)?;
        Ok(body)
    };
    use std::io::Read;
    put(&url2, &token2, "joined", b"")?;
    let mut stored = Vec::new();
    for n in 0..20 {
        let body = random_bytes(&mut rng, 1 + n * 3001);
        put(&url2, &token2, &format!("joined/o{n}"), &body)?;
        stored.push((format!("joined/o{n}"), body));
    }
    for i in [1, 3] {
        let (t, url) = nodes.auth(i)?;
        for (path, body) in &stored {
            ensure!(
                &get(&url, &t, path)? == body,
                "node {i} served other bytes for {path}"
            );
        }
    }

    // The joined voters carry the metadata group without the first node.
    nodes.kill9(1)?;
    let deadline = Instant::now() + WAIT;
    let (token3, url3) = loop {
        match nodes.auth(3) {
            Ok(a) => break a,
            Err(e) if Instant::now() < deadline => {
                eprintln!("waiting for node 3 without node 1: {e}");
                std::thread::sleep(Duration::from_millis(500));
            }
            Err(e) => return Err(e),
        }
    };
    let body = random_bytes(&mut rng, 70_000);
    let deadline = Instant::now() + WAIT;
    while let Err(e) = put(&url3, &token3, "joined/after-node-1-died", &body) {
        ensure!(
            Instant::now() < deadline,
            "no PUT succeeded without node 1: {e}"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let (t2, url2) = nodes.auth(2)?;
    ensure!(get(&url2, &t2, "joined/after-node-1-died")? == body);
    let listing = String::from_utf8(get(&url2, &t2, "joined")?)?;
    ensure!(
        listing.lines().count() == 21,
        "listing without node 1:\n{listing}"
    );
    // The late volume keeps a majority of every extent on nodes 2 and 3.
    nodes.qemu_io(
        3,
        "late",
        &["read -P 0xa7 0 32M", "write -P 0x3c 1M 1M", "flush"],
    )?;

    nodes.run_node(1)?;
    nodes.status_until("node 1 back among 3 nodes up", |d| {
        d["summary"]["nodes_up"] == 3 && d["summary"]["leader_agreed"] == true
    })?;
    let (t1, url1) = nodes.auth(1)?;
    ensure!(get(&url1, &t1, "joined/after-node-1-died")? == body);
    nodes.qemu_io(
        1,
        "late",
        &[
            "read -P 0xa7 0 1M",
            "read -P 0x3c 1M 1M",
            "read -P 0xa7 2M 30M",
        ],
    )?;
    Ok(())
}
