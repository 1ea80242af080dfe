//! Block volumes under node faults on a real 3-node cluster (`cairn up
//! --nodes 3`, one replica of each extent per node): fio writes verifiable
//! blocks with a flush every 32 writes through node 1's NBD server while a
//! storage node is killed with -9 and restarted (the writes go on; every
//! block reads back; the restarted node's replicas are repaired until all
//! three agree), or while the gateway's own node is killed and restarted
//! (every flushed block reads back after it attaches the volume again);
//! and a volume attached through node 1 while a storage node is down
//! (qemu-io writes, flushes and reads it back; the restarted node is
//! fenced and repaired until all three agree).

use anyhow::{ensure, Context, Result};
use cairn_tests::cluster::Cluster;
use cairn_tests::disk::files_under;
use cairn_tests::{run_tool, seeded_rng};
use rand::Rng;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

/// The volume's extent size (the gateway's default).
const EXTENT_BYTES: usize = 4 << 20;
/// How long fio writes in the storage-node test (the node is down for
/// part of it).
const LOAD_SECS: u64 = 20;
/// Writes per second fio issues at most, so a run never wraps around its
/// region (fio's saved state then names every block's last write).
const LOAD_IOPS: &str = "600";
/// How long the repaired replicas may take to agree.
const CONVERGE_TIMEOUT: Duration = Duration::from_secs(90);

/// Where the storage-node test's fio writes: `[64M, 320M)`.
const LOAD_REGION: (&str, &str) = ("64M", "256M");
/// The gateway test: a region written and flushed before the crash, and
/// one under load when it comes.
const FLUSHED_REGION: (&str, &str) = ("64M", "32M");
const CRASH_REGION: (&str, &str) = ("128M", "192M");
/// How long fio may take to notice its server died (its NBD engine can
/// spin on a dead connection instead of failing).
const FIO_EXIT_TIMEOUT: Duration = Duration::from_secs(15);

/// A fio job over `url` writing 4 KiB blocks with crc32c headers at
/// random offsets of `(offset, size)`, run in `state` (where it keeps its
/// logs and saved state).
fn fio(
    url: &str,
    state: &Path,
    seed: u64,
    (offset, size): (&str, &str),
    extra: &[&str],
) -> Command {
    let mut cmd = Command::new("fio");
    cmd.current_dir(state).args([
        "--name=faults",
        "--ioengine=nbd",
        &format!("--uri={url}"),
        &format!("--offset={offset}"),
        &format!("--size={size}"),
        "--rw=randwrite",
        "--bs=4k",
        "--verify=crc32c",
        &format!("--randseed={seed}"),
    ]);
    cmd.args(extra);
    cmd
}

/// The writer: queue depth 8, a flush every 32 writes, every write it
/// issues logged, the count of completed ones saved for the verifier.
fn writer(url: &str, state: &Path, seed: u64, region: (&str, &str), secs: u64) -> Command {
    let runtime = format!("--runtime={secs}");
    let mut cmd = fio(
        url,
        state,
        seed,
        region,
        &[
            "--iodepth=8",
            "--write_iolog=issued.log",
            "--fsync=32",
            "--do_verify=0",
            "--verify_state_save=1",
            "--time_based",
            &runtime,
            &format!("--rate_iops={LOAD_IOPS}"),
        ],
    );
    cmd.stdout(Stdio::piped()).stderr(Stdio::piped());
    cmd
}

fn text(out: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// Re-reads every block the writer's saved state says it completed,
/// through `url`; returns fio's output and the offsets that failed.
fn verify(url: &str, state: &Path, seed: u64, region: (&str, &str)) -> Result<(String, Vec<u64>)> {
    let out = fio(
        url,
        state,
        seed,
        region,
        &[
            "--iodepth=1",
            "--verify_only",
            "--verify_state_load=1",
            // Keep the writer's state for the next verifier.
            "--verify_state_save=0",
            "--continue_on_error=verify",
        ],
    )
    .output()?;
    let out = text(&out);
    ensure!(out.contains("READ:"), "fio verified nothing: {out}");
    let bad = out
        .match_indices("verify: ")
        .filter_map(|(at, _)| {
            let n = out[at..].split("offset ").nth(1)?.split(',').next()?;
            n.trim().parse().ok()
        })
        .collect();
    Ok((out, bad))
}

/// Writes 32 MiB of 0xa5 at the start of the volume and flushes.
fn prefill(url: &str) -> Result<()> {
    run_tool(
        "qemu-io",
        &["-f", "raw", "-c", "write -P 0xa5 0 32M", "-c", "flush", url],
    )?;
    Ok(())
}

fn check_prefill(url: &str) -> Result<()> {
    run_tool("qemu-io", &["-f", "raw", "-c", "read -P 0xa5 0 32M", url])?;
    Ok(())
}

/// Every extent file on node `i` (`<device>/extents/<volume>/<index>.<gen>`),
/// by `<volume>/<index>.<gen>`.
fn extent_files(c: &Cluster, i: u32) -> BTreeMap<String, PathBuf> {
    let mut out = BTreeMap::new();
    for f in files_under(&c.data.join(format!("node-{i}/devices"))) {
        let name = f.file_name().and_then(|n| n.to_str()).unwrap_or_default();
        let is_extent = name.len() == 25
            && name.as_bytes()[16] == b'.'
            && name
                .bytes()
                .filter(|&b| b != b'.')
                .all(|b| b.is_ascii_hexdigit());
        let volume = f
            .parent()
            .and_then(|p| p.file_name())
            .and_then(|n| n.to_str());
        if let (true, Some(volume)) = (is_extent, volume) {
            out.insert(format!("{volume}/{name}"), f.clone());
        }
    }
    out
}

/// The data part of an extent file (its first `EXTENT_BYTES`; a file cut
/// short reads as zeros past its end, as the node reads it).
fn extent_data(path: &Path) -> Result<Vec<u8>> {
    let mut data = std::fs::read(path).with_context(|| path.display().to_string())?;
    data.resize(EXTENT_BYTES, 0);
    Ok(data)
}

/// Whether the three nodes hold the same extents with the same bytes;
/// the first difference otherwise.
fn replicas_differ(c: &Cluster) -> Result<Option<String>> {
    let files: Vec<_> = (1..=3).map(|i| extent_files(c, i)).collect();
    for (name, first) in &files[0] {
        let want = extent_data(first)?;
        for (k, other) in files.iter().enumerate().skip(1) {
            let Some(path) = other.get(name) else {
                return Ok(Some(format!("node {} lacks {name}", k + 1)));
            };
            if extent_data(path)? != want {
                return Ok(Some(format!("node {} differs in {name}", k + 1)));
            }
        }
    }
    let counts: Vec<usize> = files.iter().map(BTreeMap::len).collect();
    if counts.iter().any(|&n| n != counts[0]) {
        return Ok(Some(format!("extent counts differ: {counts:?}")));
    }
    Ok(None)
}

#[test]
fn a_storage_node_killed_under_fio_misses_nothing_and_is_repaired() -> Result<()> {
    // fio writes through node 1 while another node (not the metadata
    // leader, so marking a replica degraded needs no election) is killed
    // and restarted: no write fails, every block verifies through node 1
    // and through node 2, the node-1 gateway marked and repaired replicas,
    // and the three nodes end up holding the same extent bytes.
    let mut rng = seeded_rng("a_storage_node_killed_under_fio");
    let seed: u64 = rng.gen_range(1..1 << 31);
    let kill_after = Duration::from_millis(rng.gen_range(3000..6000));
    let mut c = Cluster::start(3, 2)?;
    c.volume(&["create", "vol", "--size", "384M"])?;
    let url = c.nbd_url(1, "vol");
    prefill(&url)?;
    let victim = match c.leader(&[1, 2, 3])? {
        3 => 2,
        _ => 3,
    };
    let state = tempfile::tempdir()?;
    let load = writer(&url, state.path(), seed, LOAD_REGION, LOAD_SECS).spawn()?;
    std::thread::sleep(kill_after);
    c.kill9(victim)?;
    eprintln!("node {victim} killed {kill_after:?} into the load");
    std::thread::sleep(Duration::from_secs(6));
    c.restart(victim)?;
    let out = load.wait_with_output()?;
    ensure!(
        out.status.success(),
        "fio failed with node {victim} down: {}",
        text(&out)
    );
    let (report, bad) = verify(&url, state.path(), seed, LOAD_REGION)?;
    ensure!(bad.is_empty(), "blocks lost: {bad:?}\n{report}");
    check_prefill(&url)?;

    let log = std::fs::read_to_string(c.data.join("node-1/node.log"))?;
    ensure!(
        log.contains("extent replicas marked degraded"),
        "no replica was marked degraded: {}",
        c.log("node-1/node.log")
    );
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    while let Some(diff) = replicas_differ(&c)? {
        ensure!(
            Instant::now() < deadline,
            "replicas did not converge: {diff}; node 1: {}",
            c.log("node-1/node.log")
        );
        std::thread::sleep(Duration::from_secs(1));
    }
    let log = std::fs::read_to_string(c.data.join("node-1/node.log"))?;
    ensure!(
        log.contains("degraded extent replica repaired"),
        "converged without a repair?"
    );
    // Node 2's gateway takes the volume over and reads the same.
    let other = c.nbd_url(2, "vol");
    let (report, bad) = verify(&other, state.path(), seed, LOAD_REGION)?;
    ensure!(
        bad.is_empty(),
        "blocks differ through node 2: {bad:?}\n{report}"
    );
    check_prefill(&other)?;
    Ok(())
}

#[test]
fn the_gateway_node_killed_under_fio_keeps_every_flushed_block() -> Result<()> {
    // fio writes and flushes one region through node 1, then loads another
    // (a flush every 32 writes) when node 1 is killed with -9; restarted,
    // its gateway attaches the volume again and the prefilled region and
    // every block of the flushed region read back as written, and every
    // block of the volume reads (none fails its checksum).
    let mut rng = seeded_rng("the_gateway_node_killed_under_fio");
    let seed: u64 = rng.gen_range(1..1 << 31);
    let kill_after = Duration::from_millis(rng.gen_range(2000..5000));
    let mut c = Cluster::start(3, 2)?;
    c.volume(&["create", "vol", "--size", "384M"])?;
    let url = c.nbd_url(1, "vol");
    prefill(&url)?;
    let flushed = tempfile::tempdir()?;
    let out = fio(
        &url,
        flushed.path(),
        seed,
        FLUSHED_REGION,
        &[
            "--iodepth=8",
            "--fsync=32",
            "--end_fsync=1",
            "--do_verify=0",
            "--verify_state_save=1",
        ],
    )
    .output()?;
    ensure!(out.status.success(), "fio: {}", text(&out));
    let crash = tempfile::tempdir()?;
    let mut load = writer(&url, crash.path(), seed, CRASH_REGION, 60)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    std::thread::sleep(kill_after);
    c.kill9(1)?;
    eprintln!("node 1 killed {kill_after:?} into the load");
    let deadline = Instant::now() + FIO_EXIT_TIMEOUT;
    while load.try_wait()?.is_none() {
        if Instant::now() > deadline {
            eprintln!("fio did not notice its server died; killing it");
            load.kill()?;
            load.wait()?;
            break;
        }
        std::thread::sleep(Duration::from_millis(200));
    }
    c.restart(1)?;
    check_prefill(&url)?;
    let (report, bad) = verify(&url, flushed.path(), seed, FLUSHED_REGION)?;
    ensure!(bad.is_empty(), "flushed blocks lost: {bad:?}\n{report}");
    // Every block of the volume reads: nothing fails its checksum.
    let all = tempfile::NamedTempFile::new()?;
    let all_path = all.path().to_str().context("UTF-8 temp path")?;
    run_tool(
        "qemu-img",
        &["convert", "-f", "raw", "-O", "raw", &url, all_path],
    )?;
    Ok(())
}

#[test]
fn a_volume_attaches_with_a_storage_node_down_and_the_node_is_repaired() -> Result<()> {
    // A volume is written through one gateway (node 2 or 3), then the
    // third node (not node 1, not the metadata leader) is killed with -9
    // and node 1 attaches the volume over NBD: qemu-io writes a seeded
    // pattern across old and new extents, flushes, and reads it and the
    // older bytes back. Node 1 recorded the dead node unfenced; restarted,
    // that node is fenced and repaired (node 1's log says so), the three
    // nodes end up holding the same extent bytes, and the restarted node's
    // own gateway reads the same.
    let mut rng = seeded_rng("a_volume_attaches_with_a_storage_node_down");
    let pattern: u8 = rng.gen_range(1..=255);
    let offset_mib: u32 = rng.gen_range(1..24);
    let mut c = Cluster::start(3, 2)?;
    c.volume(&["create", "vol", "--size", "64M"])?;
    let victim = match c.leader(&[1, 2, 3])? {
        3 => 2,
        2 => 3,
        _ => rng.gen_range(2..=3),
    };
    let before = 5 - victim; // the other one of nodes 2 and 3
    prefill(&c.nbd_url(before, "vol"))?;
    c.kill9(victim)?;
    eprintln!("node {victim} killed; node {before} wrote the volume before");

    let url = c.nbd_url(1, "vol");
    let written = format!("{offset_mib}M 32M");
    run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            &format!("write -P {pattern} {written}"),
            "-c",
            "flush",
            "-c",
            &format!("read -P {pattern} {written}"),
            "-c",
            &format!("read -P 0xa5 0 {offset_mib}M"),
            &url,
        ],
    )
    .with_context(|| {
        format!(
            "node 1 with node {victim} down: {}",
            c.log("node-1/node.log")
        )
    })?;
    let log = std::fs::read_to_string(c.data.join("node-1/node.log"))?;
    ensure!(
        log.contains("volume attached without fencing these devices"),
        "node 1 recorded no unfenced device: {}",
        c.log("node-1/node.log")
    );

    c.restart(victim)?;
    let deadline = Instant::now() + CONVERGE_TIMEOUT;
    loop {
        let log = std::fs::read_to_string(c.data.join("node-1/node.log"))?;
        let repaired = log.contains("unfenced device fenced and repaired");
        match replicas_differ(&c)? {
            None if repaired => break,
            diff => ensure!(
                Instant::now() < deadline,
                "node {victim} not repaired ({diff:?}); node 1: {}",
                c.log("node-1/node.log")
            ),
        }
        std::thread::sleep(Duration::from_secs(1));
    }
    let again = c.nbd_url(victim, "vol");
    run_tool(
        "qemu-io",
        &[
            "-f",
            "raw",
            "-c",
            &format!("read -P {pattern} {written}"),
            "-c",
            &format!("read -P 0xa5 0 {offset_mib}M"),
            &again,
        ],
    )?;
    Ok(())
}
