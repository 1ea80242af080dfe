//! `cairn cluster status` against a real cluster of 3 node processes
//! (`cairn up --nodes 3` on loopback addresses): every node answers and
//! they agree on one metadata leader; a node killed with SIGKILL shows as
//! down while the others still agree; with every node stopped the command
//! fails.

use anyhow::{bail, Context, Result};
use cairn_tests::cluster::Cluster;
use serde_json::Value;
use std::time::{Duration, Instant};

/// How long the status may take to show what a test waits for.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// Asks for the status until `done` holds for it; returns that one.
fn status_until(c: &Cluster, what: &str, done: impl Fn(&Value) -> bool) -> Result<Value> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let (exit, doc) = c.status()?;
        if exit.success() && done(&doc) {
            return Ok(doc);
        }
        if Instant::now() > deadline {
            bail!("status never showed {what} (exit {exit}):\n{doc:#}");
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn agreed_with(doc: &Value, up: u64) -> bool {
    let s = &doc["summary"];
    s["nodes_up"] == up && s["leader_agreed"] == true && s["leader"].is_u64()
}

/// The node ids whose reports say `up`.
fn nodes_up(doc: &Value) -> Vec<u64> {
    doc["nodes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|n| n["up"] == true)
        .filter_map(|n| n["node_id"].as_u64())
        .collect()
}

#[test]
fn cluster_status_shows_every_node_and_a_killed_one_as_down() -> Result<()> {
    // Start 3 nodes, read `cairn cluster status --json` until they agree,
    // SIGKILL node 3 and read it again, then stop the cluster and read it
    // once more.
    let mut cluster = Cluster::start(3, 30)?;

    let doc = status_until(&cluster, "3 nodes up agreeing on a leader", |d| {
        agreed_with(d, 3)
    })?;
    assert_eq!(doc["summary"]["nodes_total"], 3, "{doc:#}");
    assert_eq!(doc["summary"]["devices"], 6, "{doc:#}");
    assert_eq!(nodes_up(&doc), [1, 2, 3]);
    let leader = doc["summary"]["leader"].as_u64().context("a leader")?;
    for n in doc["nodes"].as_array().context("nodes")? {
        let m = &n["status"]["metadata"];
        assert_eq!(m["leader"], leader, "{n:#}");
        assert_eq!(m["voters"], serde_json::json!([1, 2, 3]), "{n:#}");
        assert_eq!(n["status"]["devices"].as_array().map(Vec::len), Some(2));
    }

    cluster.kill9(3)?;
    let doc = status_until(&cluster, "node 3 down, the others agreeing", |d| {
        agreed_with(d, 2)
    })?;
    assert_eq!(nodes_up(&doc), [1, 2]);
    let down = &doc["nodes"][2];
    assert_eq!(
        (down["node_id"].as_u64(), down["up"].as_bool()),
        (Some(3), Some(false))
    );
    assert!(down["error"].is_string(), "{down:#}");
    assert_eq!(doc["summary"]["devices"], 4, "{doc:#}");

    let stopped = cluster.stop()?;
    assert!(stopped.success(), "launcher exited with {stopped}");
    let (exit, doc) = cluster.status()?;
    assert!(
        !exit.success(),
        "no node answers, yet status succeeded:\n{doc:#}"
    );
    assert_eq!(doc["summary"]["nodes_up"], 0, "{doc:#}");
    Ok(())
}
