//! Device faults on a real 3-node cluster (`cairn up --nodes 3`, one
//! replica per node): bytes flipped in one node's stored objects are never
//! served, are found by reads and by the auditor, and are repaired by the
//! replicators; a device that fills up sends its writes elsewhere and no
//! acknowledged write is lost.

use anyhow::{bail, ensure, Context, Result};
use cairn_tests::cluster::Cluster;
use cairn_tests::disk::{find_all, flip_byte};
use cairn_tests::load::{verify, WriteLoad};
use cairn_tests::{random_bytes, run_tool, seeded_rng};
use rand::Rng;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// Bytes of the pattern, taken from an object's body, that locates its
/// stored copy on a device.
const PATTERN_BYTES: usize = 32;
/// Objects over the inline limit (1 MiB): each in a blob file of its own.
const LARGE_OBJECTS: usize = 6;
/// Objects kept as records in the segment logs.
const SMALL_OBJECTS: usize = 12;
/// Rounds of GETs (every object, every proxy) before the reads may stop.
const READ_ROUNDS_MIN: usize = 3;
/// Rounds of GETs after which the bad replicas must have been read.
const READ_ROUNDS_MAX: usize = 40;
/// How long the first audit pass may take to begin (the auditor starts 30 s
/// after the node) and finish.
const AUDIT_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the replicas may take to agree again.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(60);
/// Audit rates so high that a pass takes as long as its reads.
const AUDIT_BYTES_PER_SEC: u64 = 1 << 30;
const AUDIT_FILES_PER_SEC: u64 = 100_000;

/// One object of the corruption test, with where its pattern starts.
struct Obj {
    name: String,
    body: Vec<u8>,
    pattern_at: usize,
}

impl Obj {
    fn pattern(&self) -> &[u8] {
        &self.body[self.pattern_at..self.pattern_at + PATTERN_BYTES]
    }
}

/// A token and storage URL on one node's proxy.
struct Proxy {
    token: String,
    storage: String,
}

/// How GETs ended, short of a wrong byte (which fails the test at once).
#[derive(Debug, Default)]
struct Reads {
    exact: usize,
    /// 5xx answers and bodies cut short: a client retries them.
    retryable: usize,
}

/// Waits until `done` holds, polling every 250 ms.
fn wait_for(what: &str, timeout: Duration, mut done: impl FnMut() -> Result<bool>) -> Result<()> {
    let deadline = Instant::now() + timeout;
    while !done()? {
        ensure!(Instant::now() < deadline, "{what}: not within {timeout:?}");
        std::thread::sleep(Duration::from_millis(250));
    }
    Ok(())
}

/// GETs `o` through `p` and checks every byte it got: an exact body, or a
/// retryable failure whose bytes (if any) are a prefix of the body.
fn get_checked(p: &Proxy, container: &str, o: &Obj, reads: &mut Reads) -> Result<()> {
    let url = format!("{}/{container}/{}", p.storage, o.name);
    match ureq::get(&url).set("X-Auth-Token", &p.token).call() {
        Ok(resp) => {
            let mut got = Vec::new();
            let cut = resp.into_reader().read_to_end(&mut got).is_err();
            let good = got.len() <= o.body.len() && got == o.body[..got.len()];
            ensure!(good, "{url}: served bytes that differ from the object's");
            if cut || got.len() < o.body.len() {
                reads.retryable += 1;
            } else {
                reads.exact += 1;
            }
        }
        Err(ureq::Error::Status(code, _)) if code >= 500 => reads.retryable += 1,
        Err(ureq::Error::Status(code, _)) => bail!("{url}: {code}"),
        Err(e) => bail!("{url}: {e}"),
    }
    Ok(())
}

/// GETs each of `objs` once through each proxy.
fn read_round(proxies: &[Proxy], objs: &[&Obj], reads: &mut Reads) -> Result<()> {
    for p in proxies {
        for o in objs {
            get_checked(p, "c", o, reads)?;
        }
    }
    Ok(())
}

/// Flips the middle byte of each object's pattern on node `i`'s devices,
/// where each object must be stored exactly once; returns the files hit.
fn flip_on_node(c: &Cluster, i: u32, objs: &[&Obj]) -> Result<Vec<PathBuf>> {
    let patterns: Vec<&[u8]> = objs.iter().map(|o| o.pattern()).collect();
    let found = find_all(&c.data.join(format!("node-{i}/devices")), &patterns)?;
    let mut files = Vec::new();
    for (o, hits) in objs.iter().zip(found) {
        let [(file, at)] = &hits[..] else {
            bail!("{} is stored {} times on node {i}", o.name, hits.len());
        };
        flip_byte(file, at + PATTERN_BYTES as u64 / 2)?;
        files.push(file.clone());
    }
    Ok(files)
}

/// Whether every object's pattern is stored on node `i` (its PUT there
/// may finish just after the client's 201).
fn stored_on(c: &Cluster, i: u32, objs: &[Obj]) -> Result<bool> {
    let patterns: Vec<&[u8]> = objs.iter().map(|o| o.pattern()).collect();
    let found = find_all(&c.data.join(format!("node-{i}/devices")), &patterns)?;
    Ok(found.iter().all(|hits| !hits.is_empty()))
}

/// Node `i`'s metric `name`, summed over its devices.
fn total(c: &Cluster, i: u32, name: &str) -> Result<u64> {
    Ok(c.metric_total(i, name)? as u64)
}

#[test]
fn flipped_bytes_on_one_node_are_never_served_and_are_repaired() -> Result<()> {
    // Corrupts node 3's replica of every object (a byte in each blob file, a
    // byte inside each small object's segment record), found by a pattern
    // from its body. Half of them ("read") are then read through every
    // proxy until node 3 has quarantined them all: every byte served is
    // right. The other half ("audited") nobody reads: node 3's auditor must
    // find each of them. The replicators then restore node 3's replicas.
    //
    // Proof that node 3 holds good copies again: after the replicas agree,
    // the same objects are corrupted on nodes 1 and 2, so node 3's replica
    // is the only good one left; a byte-exact GET of every object through
    // every proxy can then only be served from it (a GET verifies each
    // chunk and fails over on a mismatch, and nodes 1 and 2 could only have
    // been repaired from node 3). That reads node 3's data through the
    // verifying path, which metrics (object and quarantine counts) alone
    // would not: they count index entries, not good bytes.
    let mut rng = seeded_rng("flipped_bytes_on_one_node");
    let b = Cluster::init(3)?;
    b.set_all("replication", "interval_secs", "2")?;
    b.set_all(
        "replication",
        "auditor_bytes_per_sec",
        &AUDIT_BYTES_PER_SEC.to_string(),
    )?;
    b.set_all(
        "replication",
        "auditor_files_per_sec",
        &AUDIT_FILES_PER_SEC.to_string(),
    )?;
    let c = b.start()?;
    let proxies = (1..=3)
        .map(|i| c.auth(i).map(|(token, storage)| Proxy { token, storage }))
        .collect::<Result<Vec<_>>>()?;
    let p1 = &proxies[0];
    ureq::put(&format!("{}/c", p1.storage))
        .set("X-Auth-Token", &p1.token)
        .call()?;
    let objs: Vec<Obj> = (0..LARGE_OBJECTS + SMALL_OBJECTS)
        .map(|k| {
            let size = if k < LARGE_OBJECTS {
                rng.gen_range((1 << 20) + 1..=3 << 20)
            } else {
                rng.gen_range(PATTERN_BYTES..=200_000)
            };
            Obj {
                name: format!("o{k:02}-{size}"),
                body: random_bytes(&mut rng, size),
                pattern_at: rng.gen_range(0..=size - PATTERN_BYTES),
            }
        })
        .collect();
    for (k, o) in objs.iter().enumerate() {
        let p = &proxies[k % proxies.len()];
        let resp = ureq::put(&format!("{}/c/{}", p.storage, o.name))
            .set("X-Auth-Token", &p.token)
            .send_bytes(&o.body)?;
        ensure!(resp.status() == 201, "PUT {}: {}", o.name, resp.status());
    }
    wait_for("every object on node 3", Duration::from_secs(10), || {
        stored_on(&c, 3, &objs)
    })?;
    let objects_on_3 = total(&c, 3, "cairn_device_objects")?;

    // Corrupt node 3's replicas; check they sit where the design says.
    let all: Vec<&Obj> = objs.iter().collect();
    let files = flip_on_node(&c, 3, &all)?;
    for (o, f) in objs.iter().zip(&files) {
        let kind = f.parent().and_then(Path::file_name);
        let want = if o.body.len() > 1 << 20 {
            "blobs"
        } else {
            "segments"
        };
        ensure!(
            kind.is_some_and(|k| k == want),
            "{} ({} bytes) is in {}",
            o.name,
            o.body.len(),
            f.display()
        );
    }
    // Every other object, large and small alike, is read; the rest audited.
    let read: Vec<&Obj> = objs.iter().step_by(2).collect();
    let audited: Vec<&Obj> = objs.iter().skip(1).step_by(2).collect();
    eprintln!(
        "corrupted {} objects on node 3 ({} files): {} to be read, {} left to the auditor",
        objs.len(),
        files.len(),
        read.len(),
        audited.len()
    );

    // (a) Reads: never a wrong byte; node 3 quarantines each bad replica read.
    let mut reads = Reads::default();
    let mut rounds = 0;
    while rounds < READ_ROUNDS_MIN
        || total(&c, 3, "cairn_device_quarantined_objects")? < read.len() as u64
    {
        ensure!(
            rounds < READ_ROUNDS_MAX,
            "after {rounds} rounds node 3 quarantined {} of {} replicas",
            total(&c, 3, "cairn_device_quarantined_objects")?,
            read.len()
        );
        read_round(&proxies, &read, &mut reads)?;
        rounds += 1;
    }
    eprintln!("{rounds} rounds of reads: {reads:?}");
    ensure!(
        reads.retryable * 10 <= reads.exact,
        "too many failed reads: {reads:?}"
    );
    let quarantined_by_reads = total(&c, 3, "cairn_device_quarantined_objects")?;
    let audit_found_before = total(&c, 3, "cairn_auditor_corrupt_total")?;
    ensure!(
        quarantined_by_reads == read.len() as u64,
        "node 3 quarantined {quarantined_by_reads}, not the {} replicas read",
        read.len()
    );

    // (b) The auditor finds every replica nobody read.
    wait_for("node 3's auditor", AUDIT_TIMEOUT, || {
        Ok(total(&c, 3, "cairn_auditor_passes_total")? >= 1
            && total(&c, 3, "cairn_auditor_corrupt_total")? - audit_found_before
                >= audited.len() as u64)
    })?;
    let audit_found = total(&c, 3, "cairn_auditor_corrupt_total")? - audit_found_before;
    ensure!(
        audit_found == audited.len() as u64,
        "the auditor found {audit_found}, not {}",
        audited.len()
    );
    for i in [1, 2] {
        ensure!(total(&c, i, "cairn_auditor_corrupt_total")? == 0);
        ensure!(total(&c, i, "cairn_device_quarantined_objects")? == 0);
    }

    // (c) The replicators restore node 3's replicas.
    c.wait_replicas_agree(&[1, 2, 3], CONVERGE_TIMEOUT)?;
    ensure!(total(&c, 3, "cairn_device_objects")? == objects_on_3);
    ensure!(total(&c, 3, "cairn_device_quarantined_objects")? == objs.len() as u64);
    let mut after = Reads::default();
    read_round(&proxies, &all, &mut after)?;
    ensure!(after.retryable == 0, "reads failed after repair: {after:?}");

    // Node 3's copies are the only good ones left: every read comes from them.
    flip_on_node(&c, 1, &all)?;
    flip_on_node(&c, 2, &all)?;
    let mut only_3 = Reads::default();
    read_round(&proxies, &all, &mut only_3)?;
    eprintln!(
        "with nodes 1 and 2 corrupt: {only_3:?}; quarantined on nodes 1 and 2: {} and {}",
        total(&c, 1, "cairn_device_quarantined_objects")?,
        total(&c, 2, "cairn_device_quarantined_objects")?
    );
    ensure!(
        only_3.retryable == 0,
        "node 3's replicas did not serve every object: {only_3:?}"
    );
    Ok(())
}

/// Size of the tmpfs mounted as node 3's device `d1`.
const TMPFS_BYTES: u64 = 80 << 20;
/// Node 3's `fallocate_reserve_bytes`: its devices refuse a write that
/// would leave less free.
const RESERVE_BYTES: u64 = 4 << 20;
/// Free bytes below which the device counts as full: less than one of the
/// load's largest bodies above the reserve.
const FULL_BELOW_BYTES: u64 = RESERVE_BYTES + (5 << 19);
/// How long the load may take to fill the device.
const FILL_TIMEOUT: Duration = Duration::from_secs(40);
/// How long the load goes on once the device is full.
const WRITE_WHILE_FULL: Duration = Duration::from_secs(8);
const WRITERS: usize = 4;

/// A tmpfs mounted for the test, unmounted when dropped.
struct Tmpfs {
    path: PathBuf,
}

impl Tmpfs {
    fn mount(path: &Path, size_bytes: u64) -> Result<Tmpfs> {
        std::fs::create_dir_all(path)?;
        let path_arg = path.display().to_string();
        let size = format!("size={size_bytes}");
        run_tool("mount", &["-t", "tmpfs", "-o", &size, "tmpfs", &path_arg])?;
        Ok(Tmpfs {
            path: path.to_owned(),
        })
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        // Lazy: on a failure path a node may still hold files open; the
        // kernel frees the tmpfs once it exits.
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}

/// Node 3's device `d1` in the status document: (id, free bytes).
fn d1_of_node_3(doc: &serde_json::Value) -> Result<(u64, u64)> {
    let node = doc["nodes"]
        .as_array()
        .and_then(|n| n.iter().find(|n| n["node_id"] == 3))
        .context("node 3 in the status")?;
    let dev = node["status"]["devices"]
        .as_array()
        .and_then(|d| d.iter().find(|d| d["name"] == "d1"))
        .with_context(|| format!("d1 in node 3's status: {node:#}"))?;
    Ok((
        dev["id"].as_u64().context("device id")?,
        dev["free_bytes"].as_u64().context("free bytes")?,
    ))
}

/// Lines of the cluster's logs that report a panic.
fn panics(c: &Cluster) -> Vec<String> {
    let logs = std::iter::once("launcher.log".to_owned())
        .chain((1..=c.nodes).map(|i| format!("node-{i}/node.log")));
    logs.flat_map(|rel| {
        let text = std::fs::read_to_string(c.data.join(&rel)).unwrap_or_default();
        text.lines()
            .filter(|l| l.contains("panicked"))
            .map(|l| format!("{rel}: {l}"))
            .collect::<Vec<_>>()
    })
    .collect()
}

#[test]
fn a_full_device_sends_writes_elsewhere_and_loses_none() -> Result<()> {
    // Node 3's d1 is an 80 MiB tmpfs with a 4 MiB reserve; a write load
    // through node 1 runs until d1 is full and 8 s more. Writes must keep
    // being acknowledged (a replica d1 refuses goes to a handoff while the
    // proxy still holds the body's start, else the write is acked on the
    // other two), every acknowledged object must be listed and byte-exact
    // through two proxies, no node may panic, and status and /metrics must
    // show d1 full.
    let b = Cluster::init(3)?;
    let tmpfs = Tmpfs::mount(&b.node_dir(3).join("devices/d1"), TMPFS_BYTES)?;
    b.set(
        3,
        "storage",
        "fallocate_reserve_bytes",
        &RESERVE_BYTES.to_string(),
    )?;
    b.set_all("replication", "interval_secs", "5")?;
    let mut c = b.start()?;
    // Rebound after the cluster, so that on a failure it is dropped first:
    // the lazy unmount then leaves a plain directory for the cluster's
    // temporary directory to remove.
    let _tmpfs = tmpfs;
    let (token, storage) = c.auth(1)?;
    ureq::put(&format!("{storage}/load"))
        .set("X-Auth-Token", &token)
        .call()?;

    let load = WriteLoad::start(&storage, "load", &token, WRITERS, true);
    let began = Instant::now();
    wait_for("node 3's d1 full", FILL_TIMEOUT, || {
        let (_, free) = d1_of_node_3(&c.status()?.1)?;
        Ok(free < FULL_BELOW_BYTES)
    })?;
    let when_full = load.acked_count();
    let filled_in = began.elapsed();
    std::thread::sleep(WRITE_WHILE_FULL);
    let while_full = load.acked_count() - when_full;
    let result = load.stop();
    eprintln!(
        "d1 full after {filled_in:?} and {when_full} acked writes; {while_full} acked in the \
         {WRITE_WHILE_FULL:?} after; {result}"
    );
    ensure!(
        while_full > 20,
        "only {while_full} writes acked once d1 was full"
    );
    ensure!(
        result.failed * 10 <= result.acked.len(),
        "{} of {} writes failed",
        result.failed,
        result.failed + result.acked.len()
    );

    let (_, doc) = c.status()?;
    let (d1, free) = d1_of_node_3(&doc)?;
    let key = format!("cairn_device_free_bytes{{device=\"{d1}\"}}");
    let metric = *c
        .metrics(3)?
        .get(&key)
        .with_context(|| format!("no {key}"))? as u64;
    eprintln!("node 3's d1 (device {d1}): {free} bytes free in status, {metric} in /metrics");
    ensure!(free < FULL_BELOW_BYTES && metric < FULL_BELOW_BYTES);

    let listed = verify(&storage, "load", &token, &result.acked)?;
    // An object whose replica d1 refused after the proxy's replay window
    // (large bodies) had 2 replicas; the replicators give each such replica
    // a stand-in handoff, so every object gets back to 3.
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let replicas = (1..=3)
            .map(|i| total(&c, i, "cairn_device_objects"))
            .sum::<Result<u64>>()?;
        eprintln!("{listed} objects listed, {replicas} replicas stored");
        if replicas >= 3 * listed as u64 {
            break;
        }
        ensure!(
            Instant::now() < deadline,
            "{listed} objects have only {replicas} replicas"
        );
        std::thread::sleep(Duration::from_secs(2));
    }
    let (token3, storage3) = c.auth(3)?;
    ensure!(verify(&storage3, "load", &token3, &result.acked)? == listed);
    let stopped = c.stop()?;
    let panicked = panics(&c);
    ensure!(panicked.is_empty(), "panics: {panicked:#?}");
    ensure!(stopped.success(), "the cluster stopped with {stopped}");
    Ok(())
}
