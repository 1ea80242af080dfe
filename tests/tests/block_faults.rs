//! Block volumes under node faults on a real 3-node cluster (`cairn up
//! --nodes 3`, one replica of each extent per node): fio writes verifiable
//! blocks with a flush every 32 writes through node 1's NBD server while a
//! storage node is killed with -9 and restarted (the writes go on; every
//! block reads back; the restarted node's replicas are repaired until all
//! three agree); an NBD writer of the test's own (`nbd_client`) writes
//! versioned blocks through node 1 while node 1 itself is killed and
//! restarted (every block an acknowledged flush covered reads back as
//! written, or as a later write, after it attaches the volume again); and
//! a volume attached through node 1 while a storage node is down
//! (qemu-io writes, flushes and reads it back; the restarted node is
//! fenced and repaired until all three agree).

use anyhow::{bail, ensure, Context, Result};
use cairn_tests::cluster::Cluster;
use cairn_tests::disk::files_under;
use cairn_tests::nbd_client::NbdClient;
use cairn_tests::{run_tool, seeded_rng};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use std::collections::{BTreeMap, HashMap, HashSet};
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
/// Where the gateway test's writer writes, as (offset, bytes): four
/// extents, small enough that many blocks are written more than once.
const CRASH_REGION: (u64, u64) = (128 << 20, 16 << 20);
/// The writer's block size.
const BLOCK_BYTES: u64 = 4096;
/// The writer's writes in flight at most (fio's iodepth in the other test).
const WRITES_IN_FLIGHT_MAX: usize = 8;
/// Acknowledged writes between the writer's flushes.
const FLUSH_EVERY: usize = 32;
/// How long an NBD reply may take before the server counts as hung.
const REPLY_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the writer writes at most: the kill must cut it long before.
const WRITER_TIMEOUT: Duration = Duration::from_secs(60);
/// Bytes per READ when the region is read back.
const READ_BACK_BYTES: u32 = 256 << 10;

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

/// The bytes of write `seq` to the block at `offset`: both numbers, then
/// a stream drawn from them, so a stale, torn or zeroed block shows.
fn versioned_block(offset: u64, seq: u64) -> Vec<u8> {
    let mut out = Vec::with_capacity(BLOCK_BYTES as usize);
    out.extend_from_slice(&offset.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    let mut x = offset ^ seq.rotate_left(32);
    while out.len() < BLOCK_BYTES as usize {
        // splitmix64
        x = x.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = x;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        out.extend_from_slice(&(z ^ (z >> 31)).to_le_bytes());
    }
    out
}

/// What the writer did: every write it sent, and what its acknowledged
/// flushes made durable.
#[derive(Debug, Default)]
struct Ledger {
    /// The sequence numbers of the writes sent to each block, ascending (a
    /// block never has two writes in flight, so they landed in this order).
    sent: BTreeMap<u64, Vec<u64>>,
    /// Each block's last write that an acknowledged flush covered.
    durable: BTreeMap<u64, u64>,
    acked: u64,
    flushes: u64,
}

impl Ledger {
    fn summary(&self) -> String {
        let sent: usize = self.sent.values().map(Vec::len).sum();
        let rewritten = self
            .durable
            .iter()
            .filter(|(o, s)| self.sent[*o].last() != Some(*s))
            .count();
        format!(
            "writer: {sent} writes sent to {} blocks, {} acknowledged, {} flushes \
             acknowledged; {} blocks durable, {rewritten} of them sent a later write",
            self.sent.len(),
            self.acked,
            self.flushes,
            self.durable.len()
        )
    }

    /// Why `data`, read at `offset` after the crash, breaks the contract
    /// (it must be the durable write or a later one sent; with none
    /// durable, zeros or any write sent); `None` when it keeps it.
    fn breach(&self, offset: u64, data: &[u8]) -> Option<String> {
        let sent = self.sent.get(&offset).map_or(&[][..], Vec::as_slice);
        let durable = self.durable.get(&offset).copied();
        let found = if data.iter().all(|&b| b == 0) {
            None
        } else {
            let seq = u64::from_le_bytes(data[8..16].try_into().expect("8 bytes"));
            if !sent.contains(&seq) || data != versioned_block(offset, seq) {
                return Some(format!(
                    "block {offset}: torn or foreign content (header {:?}); \
                     durable {durable:?}, sent {sent:?}",
                    &data[..16]
                ));
            }
            Some(seq)
        };
        match (durable, found) {
            (Some(d), Some(s)) if s >= d => None,
            (None, _) => None,
            (Some(d), found) => Some(format!(
                "block {offset}: holds write {found:?} (None: zeros), older than \
                 durable write {d}; sent {sent:?}"
            )),
        }
    }
}

/// A request of the writer's awaiting its reply.
enum Pending {
    Write {
        offset: u64,
        seq: u64,
    },
    /// The writes acknowledged before the flush was sent.
    Flush {
        covers: Vec<(u64, u64)>,
    },
}

/// Whether `e` says the connection is gone (the server was killed), as
/// opposed to the server misbehaving or hanging.
fn connection_cut(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::*;
    e.downcast_ref::<std::io::Error>().is_some_and(|e| {
        matches!(
            e.kind(),
            UnexpectedEof | ConnectionReset | ConnectionAborted | BrokenPipe
        )
    })
}

/// Writes versioned blocks at random offsets of `CRASH_REGION` until the
/// connection is cut, a flush after every `FLUSH_EVERY` acknowledged
/// writes; returns the ledger. An NBD error, a hung server or a writer
/// never cut is an error.
fn write_until_cut(nbd: NbdClient, rng: StdRng) -> Result<Ledger> {
    let mut w = Writer {
        nbd,
        rng,
        ledger: Ledger::default(),
        pending: HashMap::new(),
        busy: HashSet::new(),
        acked_unflushed: Vec::new(),
        flushing: false,
        next_seq: 1,
    };
    let deadline = Instant::now() + WRITER_TIMEOUT;
    loop {
        ensure!(Instant::now() < deadline, "the writer was never cut off");
        match w.step() {
            Ok(()) => {}
            Err(e) if connection_cut(&e) => return Ok(w.ledger),
            Err(e) => return Err(e),
        }
    }
}

struct Writer {
    nbd: NbdClient,
    rng: StdRng,
    ledger: Ledger,
    /// By handle (a write's sequence number).
    pending: HashMap<u64, Pending>,
    /// Blocks with a write in flight.
    busy: HashSet<u64>,
    /// Writes acknowledged since the last flush was sent.
    acked_unflushed: Vec<(u64, u64)>,
    flushing: bool,
    next_seq: u64,
}

impl Writer {
    /// Fills the window (a flush first when one is due) and handles one
    /// reply.
    fn step(&mut self) -> Result<()> {
        if !self.flushing && self.acked_unflushed.len() >= FLUSH_EVERY {
            let handle = self.take_seq();
            let covers = std::mem::take(&mut self.acked_unflushed);
            self.pending.insert(handle, Pending::Flush { covers });
            self.flushing = true;
            self.nbd.send_flush(handle)?;
        }
        while self.busy.len() < WRITES_IN_FLIGHT_MAX {
            self.send_write()?;
        }
        let reply = self.nbd.receive()?;
        let pending = self.pending.remove(&reply.handle);
        ensure!(
            reply.error == 0,
            "NBD error {} for request {}",
            reply.error,
            reply.handle
        );
        match pending {
            Some(Pending::Write { offset, seq }) => {
                self.busy.remove(&offset);
                self.acked_unflushed.push((offset, seq));
                self.ledger.acked += 1;
            }
            Some(Pending::Flush { covers }) => {
                self.flushing = false;
                self.ledger.flushes += 1;
                self.ledger.durable.extend(covers);
            }
            None => bail!("a reply to unknown handle {}", reply.handle),
        }
        Ok(())
    }

    /// Sends the next write to a random block with none in flight,
    /// entered in the ledger first (a write may land though its sending
    /// fails).
    fn send_write(&mut self) -> Result<()> {
        let blocks = CRASH_REGION.1 / BLOCK_BYTES;
        let offset = loop {
            let o = CRASH_REGION.0 + self.rng.gen_range(0..blocks) * BLOCK_BYTES;
            if !self.busy.contains(&o) {
                break o;
            }
        };
        let seq = self.take_seq();
        self.ledger.sent.entry(offset).or_default().push(seq);
        self.busy.insert(offset);
        self.pending.insert(seq, Pending::Write { offset, seq });
        self.nbd
            .send_write(seq, offset, &versioned_block(offset, seq))
    }

    fn take_seq(&mut self) -> u64 {
        self.next_seq += 1;
        self.next_seq - 1
    }
}

/// Reads `CRASH_REGION` back through `url`; the blocks that break the
/// ledger's contract, each with why.
fn check_region(url: &str, ledger: &Ledger) -> Result<Vec<String>> {
    let mut nbd = NbdClient::connect(url, REPLY_TIMEOUT)?;
    let mut bad = Vec::new();
    let (start, len) = CRASH_REGION;
    for chunk in (start..start + len).step_by(READ_BACK_BYTES as usize) {
        let data = nbd.read(chunk, READ_BACK_BYTES)?;
        for (i, block) in data.chunks(BLOCK_BYTES as usize).enumerate() {
            let offset = chunk + i as u64 * BLOCK_BYTES;
            bad.extend(ledger.breach(offset, block));
        }
    }
    nbd.disconnect()?;
    Ok(bad)
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
fn the_gateway_node_killed_mid_write_keeps_every_flushed_block() -> Result<()> {
    // An NBD writer of the test's own writes versioned blocks through
    // node 1 (8 in flight, a flush every 32 acknowledged writes) until
    // node 1 is killed with -9 under it, keeping a ledger of what every
    // acknowledged flush made durable; restarted, node 1's gateway attaches
    // the volume again and every block of the region holds its durable
    // version or a later one it was sent (never an older one, zeros or a
    // torn mix), the prefilled region reads back, and every block of the
    // volume reads.
    let mut rng = seeded_rng("the_gateway_node_killed_mid_write");
    let kill_after = Duration::from_millis(rng.gen_range(2000..5000));
    let writer_rng = StdRng::seed_from_u64(rng.gen());
    let mut c = Cluster::start(3, 2)?;
    c.volume(&["create", "vol", "--size", "384M"])?;
    let url = c.nbd_url(1, "vol");
    prefill(&url)?;
    let nbd = NbdClient::connect(&url, REPLY_TIMEOUT)?;
    ensure!(nbd.size_bytes() >= CRASH_REGION.0 + CRASH_REGION.1);
    let load = std::thread::spawn(move || write_until_cut(nbd, writer_rng));
    std::thread::sleep(kill_after);
    c.kill9(1)?;
    eprintln!("node 1 killed {kill_after:?} into the load");
    let ledger = load
        .join()
        .map_err(|_| anyhow::anyhow!("the writer panicked"))??;
    eprintln!("{}", ledger.summary());
    ensure!(
        ledger.flushes > 0,
        "no flush was acknowledged before the kill: nothing to check"
    );
    c.restart(1)?;
    let bad = check_region(&url, &ledger)?;
    ensure!(
        bad.is_empty(),
        "{} blocks lost what a flush made durable (first ones: {:#?}); node 1: {}",
        bad.len(),
        &bad[..bad.len().min(10)],
        c.log("node-1/node.log")
    );
    check_prefill(&url)?;
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
