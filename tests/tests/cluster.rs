//! Fault tests on a real 3-node cluster (`cairn up --nodes 3`): a write
//! load runs through one node's proxy while another node is killed,
//! frozen or restarted; at the end every acknowledged object is listed and
//! byte-exact, and the replicas agree again.

use cairn_tests::cluster::Cluster;
use cairn_tests::load::{verify, WriteLoad};
use std::time::Duration;

const WRITERS: usize = 4;
/// How long a node stays frozen (SIGSTOP).
const FROZEN: Duration = Duration::from_secs(30);

fn make_container(storage: &str, token: &str, name: &str) -> anyhow::Result<()> {
    ureq::put(&format!("{storage}/{name}"))
        .set("X-Auth-Token", token)
        .call()?;
    Ok(())
}

#[test]
fn a_node_killed_during_writes_comes_back_and_its_replicas_converge() -> anyhow::Result<()> {
    let mut c = Cluster::start(3, 2)?;
    let (token, storage) = c.auth(1)?;
    make_container(&storage, &token, "load")?;
    let load = WriteLoad::start(&storage, "load", &token, WRITERS, true);
    std::thread::sleep(Duration::from_secs(2));
    let before = load.acked_count();
    c.kill9(3)?;
    std::thread::sleep(Duration::from_secs(4));
    let during = load.acked_count() - before;
    c.restart(3)?;
    std::thread::sleep(Duration::from_secs(2));
    let result = load.stop();
    eprintln!("{result} ({during} acked while node 3 was down)");
    assert!(
        during > 10,
        "only {during} writes completed with a node down"
    );
    result.ensure_slowest_below(Duration::from_secs(10))?;

    // The restarted node missed writes: the replicators push them to it.
    c.wait_replicas_agree(&[1, 2, 3], Duration::from_secs(120))?;
    let listed = verify(&storage, "load", &token, &result.acked)?;
    // Through another node's proxy the cluster holds the same.
    let (token3, storage3) = c.auth(3)?;
    assert_eq!(verify(&storage3, "load", &token3, &result.acked)?, listed);
    Ok(())
}

#[test]
fn the_metadata_leader_killed_during_writes_is_replaced() -> anyhow::Result<()> {
    let mut c = Cluster::start(3, 2)?;
    let leader = c.leader(&[1, 2, 3])?;
    // Write through a node that is not the leader.
    let via = (1..=3).find(|i| *i != leader).expect("a follower");
    let (token, storage) = c.auth(via)?;
    make_container(&storage, &token, "load")?;
    let load = WriteLoad::start(&storage, "load", &token, WRITERS, true);
    std::thread::sleep(Duration::from_secs(2));
    c.kill9(leader)?;
    let rest: Vec<u32> = (1..=3).filter(|i| *i != leader).collect();
    let new_leader = c.leader(&rest)?;
    assert_ne!(new_leader, leader);
    let before = load.acked_count();
    std::thread::sleep(Duration::from_secs(3));
    assert!(
        load.acked_count() > before + 10,
        "writes stalled under the new leader"
    );
    let result = load.stop();
    eprintln!("leader {leader} killed, {new_leader} took over; {result}");
    verify(&storage, "load", &token, &result.acked)?;
    // The old leader rejoins as a follower and catches up.
    c.restart(leader)?;
    assert_eq!(c.leader(&[1, 2, 3])?, new_leader);
    let (token_old, storage_old) = c.auth(leader)?;
    verify(&storage_old, "load", &token_old, &result.acked)?;
    Ok(())
}

#[test]
fn a_frozen_node_does_not_stall_the_cluster() -> anyhow::Result<()> {
    // SIGSTOP one node for 30 s (the figure): requests keep
    // completing (it is timed out and marked down), each within a bound;
    // after SIGCONT it catches up.
    let c = Cluster::start(3, 2)?;
    let leader = c.leader(&[1, 2, 3])?;
    let frozen = (1..=3).rev().find(|i| *i != leader && *i != 1).unwrap_or(3);
    let (token, storage) = c.auth(1)?;
    make_container(&storage, &token, "load")?;
    let load = WriteLoad::start(&storage, "load", &token, WRITERS, true);
    std::thread::sleep(Duration::from_secs(1));
    c.signal(frozen, libc::SIGSTOP)?;
    let before = load.acked_count();
    std::thread::sleep(FROZEN);
    let during = load.acked_count() - before;
    c.signal(frozen, libc::SIGCONT)?;
    std::thread::sleep(Duration::from_secs(2));
    let result = load.stop();
    eprintln!("node {frozen} frozen {FROZEN:?}: {during} acked meanwhile; {result}");
    assert!(
        during > 50,
        "only {during} writes completed while a node was frozen"
    );
    result.ensure_slowest_below(Duration::from_secs(10))?;
    // The thawed node lacks every object of the freeze (thousands): its
    // peers' replicators push them while this binary's other clusters
    // load the same two cores.
    c.wait_replicas_agree(&[1, 2, 3], Duration::from_secs(240))?;
    verify(&storage, "load", &token, &result.acked)?;
    Ok(())
}

#[test]
fn a_volume_written_through_one_node_reads_back_through_another() -> anyhow::Result<()> {
    // The volume's extents live on all three nodes; node 1's gateway
    // writes them over QUIC, node 2's reads them back after node 1 let go.
    let c = Cluster::start(3, 30)?;
    c.volume(&["create", "disk", "--size", "64M"])?;
    let tmp = tempfile::tempdir()?;
    let image = tmp.path().join("in.raw");
    let mut rng = cairn_tests::seeded_rng("cluster-volume");
    std::fs::write(&image, cairn_tests::random_bytes(&mut rng, 12 << 20))?;
    let image = image.display().to_string();
    cairn_tests::run_tool(
        "qemu-img",
        &[
            "convert",
            "-n",
            "-f",
            "raw",
            "-O",
            "raw",
            &image,
            &c.nbd_url(1, "disk"),
        ],
    )?;
    c.volume(&["snapshot", "create", "disk", "s1"])?;
    let back = tmp.path().join("out.raw").display().to_string();
    cairn_tests::run_tool(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "raw",
            &c.nbd_url(2, "disk"),
            &back,
        ],
    )?;
    let (wrote, read) = (std::fs::read(&image)?, std::fs::read(&back)?);
    assert_eq!(read.len(), 64 << 20);
    assert!(read[..wrote.len()] == wrote[..], "node 2 read other bytes");
    assert!(read[wrote.len()..].iter().all(|b| *b == 0));
    // The snapshot, through node 3.
    let snap = tmp.path().join("snap.raw").display().to_string();
    cairn_tests::run_tool(
        "qemu-img",
        &[
            "convert",
            "-f",
            "raw",
            "-O",
            "raw",
            &c.nbd_url(3, "disk@s1"),
            &snap,
        ],
    )?;
    assert!(std::fs::read(&snap)?[..wrote.len()] == wrote[..]);
    Ok(())
}

#[test]
fn a_cluster_stopped_with_ctrl_c_keeps_everything() -> anyhow::Result<()> {
    // Ctrl-C stops every node cleanly; started again on the same
    // directory, the cluster has every object, listing and volume.
    let mut c = Cluster::start(3, 30)?;
    let (token, storage) = c.auth(1)?;
    make_container(&storage, &token, "keep")?;
    let load = WriteLoad::start(&storage, "keep", &token, 2, false);
    std::thread::sleep(Duration::from_secs(2));
    let acked = load.stop().acked;
    c.volume(&["create", "kept", "--size", "8M"])?;
    let status = c.stop()?;
    assert!(status.success(), "the launcher exited with {status}");

    c.relaunch()?;
    let (token, storage) = c.auth(2)?;
    let listed = verify(&storage, "keep", &token, &acked)?;
    assert_eq!(listed, acked.len());
    assert!(c.volume(&["show", "kept"])?.contains("8388608"));
    Ok(())
}

/// Reads `names` from `storage` over and over until stopped; returns how
/// many reads there were and which failed (with why).
fn read_loop(
    storage: String,
    container: &'static str,
    token: String,
    names: Vec<String>,
    stop: std::sync::Arc<std::sync::atomic::AtomicBool>,
) -> std::thread::JoinHandle<(usize, Vec<String>)> {
    std::thread::spawn(move || {
        let (mut reads, mut failures) = (0, Vec::new());
        while !stop.load(std::sync::atomic::Ordering::Relaxed) {
            for name in &names {
                let url = format!("{storage}/{container}/{name}");
                reads += 1;
                match cairn_tests::load::get_body(&url, &token) {
                    Ok(Some(body)) if body == cairn_tests::load::body_for(name) => {}
                    Ok(Some(_)) => failures.push(format!("{name}: wrong bytes")),
                    Ok(None) => failures.push(format!("{name}: 404")),
                    Err(e) => failures.push(format!("{name}: {e}")),
                }
            }
        }
        (reads, failures)
    })
}

// A 4th node joins while objects are written and read, the partitions the
// new ring gives it move there, then it is removed again under load and its
// partitions move back; every object stays readable throughout and every
// acknowledged one is there at the end.
#[test]
fn a_fourth_node_joins_under_load_and_leaves_again() -> anyhow::Result<()> {
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::sync::Arc;
    let mut c = Cluster::start(3, 2)?;
    let (token, storage) = c.auth(1)?;
    make_container(&storage, &token, "load")?;
    let first = WriteLoad::start(&storage, "load", &token, WRITERS, true);
    std::thread::sleep(Duration::from_secs(3));
    let prefill = first.stop();
    let sample: Vec<String> = prefill.acked.iter().take(40).cloned().collect();
    anyhow::ensure!(
        sample.len() >= 10,
        "too few objects before the change: {prefill}"
    );

    let stop_reads = Arc::new(AtomicBool::new(false));
    let reader = read_loop(
        storage.clone(),
        "load",
        token.clone(),
        sample.clone(),
        stop_reads.clone(),
    );
    let load = WriteLoad::start(&storage, "load", &token, WRITERS, true);
    let added = c.add_node()?;
    anyhow::ensure!(added == 4, "the new node is node {added}");
    // The replicators move a share of every node's partitions to node 4.
    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    while c.metric_total(4, "cairn_device_objects")? < 10.0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "nothing moved to node 4"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    std::thread::sleep(Duration::from_secs(2));
    let grown = load.stop();
    c.wait_replicas_agree(&[1, 2, 3, 4], Duration::from_secs(180))?;
    let (_, status) = c.status()?;
    assert_eq!(status["summary"]["nodes_up"], 4, "{status:#}");
    assert_eq!(status["summary"]["out_of_place"], 0, "{status:#}");
    let (token4, storage4) = c.auth(4)?;
    verify(&storage4, "load", &token4, &grown.acked)?;
    eprintln!("grown: {grown}");

    // Node 4 leaves under load; its partitions go back to nodes 1-3.
    let load = WriteLoad::start(&storage, "load", &token, WRITERS, true);
    c.cluster_cmd(&["remove-node", "4"])?;
    // Status still shows node 4, as removed, beside the ring's three.
    let (_, status) = c.status()?;
    assert_eq!(status["summary"]["nodes_total"], 3, "{status:#}");
    let node4 = status["nodes"]
        .as_array()
        .and_then(|nodes| nodes.iter().find(|n| n["node_id"] == 4))
        .unwrap_or_else(|| panic!("node 4 is not in the status: {status:#}"));
    assert_eq!(node4["removed"], true, "{status:#}");
    let deadline = std::time::Instant::now() + Duration::from_secs(180);
    while c.metric_total(4, "cairn_device_objects")? > 0.0 {
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "node 4 still holds objects"
        );
        std::thread::sleep(Duration::from_millis(500));
    }
    let shrunk = load.stop();
    stop_reads.store(true, Ordering::Relaxed);
    let (reads, failures) = reader.join().expect("reader");
    assert!(
        failures.is_empty(),
        "{} of {reads} reads failed while the ring changed: {:?}",
        failures.len(),
        &failures[..failures.len().min(10)]
    );
    eprintln!("shrunk: {shrunk}; {reads} reads of old objects, none failed");
    c.kill9(4)?;
    c.wait_replicas_agree(&[1, 2, 3], Duration::from_secs(180))?;
    let (token2, storage2) = c.auth(2)?;
    for acked in [&prefill.acked, &grown.acked, &shrunk.acked] {
        verify(&storage2, "load", &token2, acked)?;
    }
    Ok(())
}

#[test]
fn a_device_added_to_a_running_node_takes_partitions_without_a_restart() -> anyhow::Result<()> {
    // `cairn ring add` of a third device on node 2, rebalanced and pushed
    // while writes go on: node 2 opens it without a restart (same pid), the
    // replicators move partitions onto it, and every acknowledged object
    // stays readable.
    let c = Cluster::start(3, 2)?;
    let (token, storage) = c.auth(1)?;
    make_container(&storage, &token, "grow")?;
    let load = WriteLoad::start(&storage, "grow", &token, WRITERS, true);
    std::thread::sleep(Duration::from_secs(2));
    let pid = c.pid(2)?;
    let (_, status) = c.status()?;
    let addr = status["nodes"]
        .as_array()
        .and_then(|ns| ns.iter().find(|n| n["node_id"] == 2))
        .and_then(|n| n["internode_addr"].as_str())
        .map(str::to_owned)
        .ok_or_else(|| anyhow::anyhow!("node 2's address is not in the status: {status:#}"))?;
    let builder = c.data.join("ring/object.builder");
    let builder = builder.to_string_lossy();
    let ring = |args: &[&str]| {
        let mut all = vec!["ring"];
        all.extend_from_slice(args);
        cairn_tests::run_tool(&cairn_tests::cairn_bin().to_string_lossy(), &all)
    };
    ring(&[
        "add", &builder, "--region", "1", "--zone", "2", "--node", "2", "--addr", &addr, "--name",
        "d3", "--weight", "100",
    ])?;
    ring(&["pretend-min-part-hours-passed", &builder])?;
    ring(&["rebalance", &builder])?;
    c.cluster_cmd(&["push-ring"])?;

    let deadline = std::time::Instant::now() + Duration::from_secs(120);
    let held = loop {
        let (_, status) = c.status()?;
        let d3 = status["nodes"]
            .as_array()
            .and_then(|ns| ns.iter().find(|n| n["node_id"] == 2))
            .and_then(|n| n["status"]["devices"].as_array())
            .and_then(|ds| ds.iter().find(|d| d["name"] == "d3"))
            .and_then(|d| d["placement"]["partitions_held"].as_u64())
            .unwrap_or(0);
        if d3 > 0 {
            break d3;
        }
        anyhow::ensure!(
            std::time::Instant::now() < deadline,
            "node 2's new device d3 holds no partition:\n{status:#}"
        );
        std::thread::sleep(Duration::from_millis(500));
    };
    anyhow::ensure!(c.pid(2)? == pid, "node 2 was restarted");
    let written = load.stop();
    c.wait_replicas_agree(&[1, 2, 3], Duration::from_secs(180))?;
    let (_, status) = c.status()?;
    assert_eq!(status["summary"]["out_of_place"], 0, "{status:#}");
    assert_eq!(status["summary"]["devices"], 7, "{status:#}");
    verify(&storage, "grow", &token, &written.acked)?;
    eprintln!("d3 took {held} partitions; {written}");
    Ok(())
}
