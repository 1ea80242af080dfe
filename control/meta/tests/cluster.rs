//! Three voters in one process over the in-process network: replication,
//! a follower catching up by snapshot, and leader failover.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use cairn_base::Timestamp;
use cairn_meta::network::InProcessRouter;
use cairn_meta::{MetaNode, MetaOptions, Node, NodeId};
use cairn_meta_api::{ListQuery, MetaError, MetaMap, Metadata, ObjectEntry};
use openraft::ServerState;

fn entry(name: &str, ts: u64) -> ObjectEntry {
    ObjectEntry {
        name: name.into(),
        ts: Timestamp::from_ticks(ts),
        size: 3,
        etag: "e".into(),
        content_type: "t".into(),
    }
}

fn opts() -> MetaOptions {
    MetaOptions {
        heartbeat_interval_ms: 50,
        election_timeout_min_ms: 200,
        election_timeout_max_ms: 400,
        snapshot_every_entries: 40,
        logs_kept_after_snapshot: 0,
        request_timeout_ms: 3_000,
        ..MetaOptions::default()
    }
}

struct Cluster {
    _dirs: Vec<tempfile::TempDir>,
    router: InProcessRouter,
    nodes: BTreeMap<NodeId, Arc<MetaNode>>,
}

async fn start() -> Cluster {
    let router = InProcessRouter::new();
    let mut nodes = BTreeMap::new();
    let mut dirs = Vec::new();
    for id in 1..=3 {
        let dir = tempfile::tempdir().unwrap();
        let node = MetaNode::open(dir.path(), id, opts(), router.network(id))
            .await
            .unwrap();
        router.register(id, node.raft().clone());
        nodes.insert(id, node);
        dirs.push(dir);
    }
    let members = (1..=3)
        .map(|id| (id, Node::new(format!("in-process-{id}"))))
        .collect();
    nodes[&1].initialize(members).await.unwrap();
    Cluster {
        _dirs: dirs,
        router,
        nodes,
    }
}

/// Waits until some node other than `not` is leader; returns it.
async fn leader(c: &Cluster, not: Option<NodeId>) -> NodeId {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        for (id, n) in &c.nodes {
            let m = n.raft().metrics().borrow().clone();
            if Some(*id) != not && m.state == ServerState::Leader {
                return *id;
            }
        }
        if Instant::now() >= deadline {
            for n in c.nodes.values() {
                eprintln!("{:?}", n.raft().metrics().borrow());
            }
            panic!("no leader elected (not {not:?})");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn wait_applied(n: &MetaNode, index: u64) {
    n.raft()
        .wait(Some(Duration::from_secs(10)))
        .applied_index_at_least(Some(index), "catch up")
        .await
        .unwrap();
}

fn applied(n: &MetaNode) -> u64 {
    n.raft()
        .metrics()
        .borrow()
        .last_applied
        .map(|l| l.index)
        .unwrap_or(0)
}

// Checks that writes on the leader replicate to both followers, that a
// follower refuses writes as Unavailable, that a follower cut off while the
// log was purged catches up by snapshot, and that after the leader is lost
// the other two elect a new leader that serves everything committed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_voters_replicate_and_fail_over() {
    let c = start().await;
    let l1 = leader(&c, None).await;
    let lead = c.nodes[&l1].clone();
    let ts = Timestamp::from_ticks(1);
    lead.put_container("AUTH_x", "c", MetaMap::new(), ts)
        .await
        .unwrap();
    for i in 0..20 {
        lead.put_object_entry("AUTH_x", "c", entry(&format!("a{i:03}"), 5))
            .await
            .unwrap();
    }
    let follower = *c.nodes.keys().find(|id| **id != l1).unwrap();
    let err = c.nodes[&follower]
        .put_container("AUTH_x", "d", MetaMap::new(), ts)
        .await;
    assert!(matches!(err, Err(MetaError::Unavailable(_))), "{err:?}");
    for n in c.nodes.values() {
        wait_applied(n, applied(&lead)).await;
    }

    // A follower misses 100 entries while snapshots purge the log behind
    // it: it can only catch up by installing a snapshot.
    let lagger = *c
        .nodes
        .keys()
        .find(|id| **id != l1 && **id != follower)
        .unwrap();
    c.router.set_cut(lagger, true);
    let lagger_last = c.nodes[&lagger]
        .raft()
        .metrics()
        .borrow()
        .last_log_index
        .unwrap_or(0);
    for i in 0..100 {
        lead.put_object_entry("AUTH_x", "c", entry(&format!("b{i:03}"), 5))
            .await
            .unwrap();
    }
    let purged_past =
        |m: &openraft::RaftMetrics<NodeId, Node>| m.purged.is_some_and(|p| p.index > lagger_last);
    lead.raft()
        .wait(Some(Duration::from_secs(10)))
        .metrics(purged_past, "purged")
        .await
        .unwrap();
    c.router.set_cut(lagger, false);
    wait_applied(&c.nodes[&lagger], applied(&lead)).await;

    // Lose the leader: the other two (one of them the snapshot-fed lagger)
    // elect a new one, which serves everything committed and takes writes.
    c.router.set_cut(l1, true);
    lead.shutdown().await.unwrap();
    let l2 = leader(&c, Some(l1)).await;
    let n2 = c.nodes[&l2].clone();
    let cont = n2.container("AUTH_x", "c").await.unwrap();
    assert_eq!((cont.object_count, cont.bytes_used), (120, 360));
    n2.put_object_entry("AUTH_x", "c", entry("z-after-failover", 9))
        .await
        .unwrap();
    let q = ListQuery {
        marker: Some("b098".into()),
        limit: 10,
        ..Default::default()
    };
    assert_eq!(n2.list_objects("AUTH_x", "c", &q).await.unwrap().len(), 2);
    assert_eq!(n2.account("AUTH_x").await.unwrap().object_count, 121);
    for (id, n) in &c.nodes {
        if *id != l1 {
            n.shutdown().await.unwrap();
        }
    }
}
