//! Crash-consistency tests: a simulated power cut at every disk operation of
//! a workload and of a compaction pass, and a failed fsync; each run with
//! both `DiskIo` implementations.

#[macro_use]
mod common;

use cairn_diskio::{DiskIo, StdDiskIo};
use cairn_nodeapi::{NodeError, ObjectNode};
use cairn_storage_node::StorageNode;
use common::*;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;

both!(
    crash_at_every_sync_point,
    crash_during_compaction,
    failed_fsync_poisons,
);

async fn open<D: DiskIo>(dir: &std::path::Path, io: Arc<D>) -> StorageNode<D> {
    StorageNode::open(cfg(dir), io).await.expect("open")
}

/// One step of the crash workload and what it should leave.
#[derive(Clone)]
enum Step {
    Put(String, u64, Vec<u8>),
    Delete(String, u64),
}

async fn crash_at_every_sync_point<D: DiskIo>(io: Arc<D>) {
    // Crash (a power cut: unsynced writes are lost) after N disk operations for every N across
    // a workload; on reopen every acked write is there byte-exact and nothing unacked is
    // visible half-written.
    let mut steps = Vec::new();
    for i in 0..12u64 {
        let len = if i % 4 == 3 {
            (1 << 20) + 5000
        } else {
            3000 + i as usize * 100
        };
        steps.push(Step::Put(format!("/a/c/{}", i % 8), 10 + i, body(i, len)));
        if i % 5 == 4 {
            steps.push(Step::Delete(format!("/a/c/{}", (i + 1) % 8), 10 + i));
        }
    }
    let total = {
        let dir = tempfile::tempdir().unwrap();
        let f = Faulty::new(io.clone());
        let node = open(dir.path(), f.clone()).await;
        let start = f.ops.load(Ordering::SeqCst);
        run_steps(&node, &steps).await;
        f.ops.load(Ordering::SeqCst) - start
    };
    println!("workload takes {total} disk operations");
    for crash_at in 0..=total {
        let dir = tempfile::tempdir().unwrap();
        let f = Faulty::new(io.clone());
        f.power_loss.store(true, Ordering::SeqCst);
        let node = open(dir.path(), f.clone()).await;
        f.fail_after
            .store(f.ops.load(Ordering::SeqCst) + crash_at, Ordering::SeqCst);
        let acked = run_steps(&node, &steps).await;
        node.shutdown().await;
        drop(node);
        let node = open(dir.path(), io.clone()).await;
        check_after_crash(&node, &steps, &acked, crash_at).await;
        node.shutdown().await;
    }
}

/// Runs the steps two at a time (so batches form); returns which were acked.
async fn run_steps<N: ObjectNode>(node: &N, steps: &[Step]) -> Vec<bool> {
    let mut acked = Vec::new();
    for pair in steps.chunks(2) {
        match pair {
            [a, b] => {
                let (x, y) = tokio::join!(run_step(node, a), run_step(node, b));
                acked.extend([x, y]);
            }
            [a] => acked.push(run_step(node, a).await),
            _ => unreachable!(),
        }
    }
    acked
}

async fn run_step<N: ObjectNode>(node: &N, s: &Step) -> bool {
    match s {
        Step::Put(n, t, d) => put(node, n, *t, d).await.is_ok(),
        Step::Delete(n, t) => node.delete(DEV, key(n), n, ts(*t)).await.is_ok(),
    }
}

async fn check_after_crash<N: ObjectNode>(node: &N, steps: &[Step], acked: &[bool], crash_at: u64) {
    // The newest acked step per name must be visible, or something newer (an unacked but complete write).
    let mut newest: HashMap<&str, &Step> = HashMap::new();
    for (s, ok) in steps.iter().zip(acked) {
        let name = match s {
            Step::Put(n, ..) | Step::Delete(n, _) => n.as_str(),
        };
        if *ok {
            newest.insert(name, s);
        }
    }
    for name in (0..8).map(|i| format!("/a/c/{i}")) {
        let got = get(node, &name, None).await;
        if let Err(e) = &got {
            assert!(
                matches!(e, NodeError::NotFound { .. }),
                "crash@{crash_at} {name}: {e}"
            );
        }
        // Whatever is visible is exactly one of the versions written.
        if let Ok(bytes) = &got {
            let m = node.head(DEV, key(&name)).await.unwrap();
            let exact = steps.iter().any(|s| matches!(s, Step::Put(n, t, d) if *n == name && ts(*t) == m.data_ts && d == bytes));
            assert!(
                exact,
                "crash@{crash_at} {name}: visible bytes match no write"
            );
        }
        let seen_ts = match &got {
            Ok(_) => node.head(DEV, key(&name)).await.unwrap().data_ts,
            Err(NodeError::NotFound { tombstone: Some(t) }) => *t,
            Err(_) => cairn_base::Timestamp::ZERO,
        };
        if let Some(s) = newest.get(name.as_str()) {
            let t = match s {
                Step::Put(_, t, _) | Step::Delete(_, t) => ts(*t),
            };
            assert!(
                seen_ts >= t,
                "crash@{crash_at} {name}: acked {t} lost (saw {seen_ts})"
            );
        }
    }
}

/// Objects for the compaction crash test: many dead, some live, over several segments.
async fn compaction_setup<N: ObjectNode>(node: &N) -> HashMap<String, Option<Vec<u8>>> {
    let mut expect = HashMap::new();
    for i in 0..40u64 {
        let name = format!("/a/c/{i}");
        put(node, &name, 1, &body(i, 9000 + i as usize))
            .await
            .unwrap();
        expect.insert(name, Some(body(i, 9000 + i as usize)));
    }
    for i in (0..40u64).filter(|i| i % 4 != 0) {
        let name = format!("/a/c/{i}");
        node.delete(DEV, key(&name), &name, ts(2)).await.unwrap();
        expect.insert(name, None);
    }
    expect
}

async fn crash_during_compaction<D: DiskIo>(io: Arc<D>) {
    // A power cut at every disk operation of a compaction pass loses no live object.
    let config = |dir: &std::path::Path| {
        let mut c = cfg(dir);
        c.inline_object_max_bytes = 64 << 10;
        c.segment_size_bytes = 160 << 10;
        c
    };
    let total = {
        let dir = tempfile::tempdir().unwrap();
        let f = Faulty::new(io.clone());
        let node = StorageNode::open(config(dir.path()), f.clone())
            .await
            .unwrap();
        compaction_setup(&node).await;
        let start = f.ops.load(Ordering::SeqCst);
        let r = node.compact().await.unwrap();
        assert!(r.segments_removed > 0, "{r:?}");
        f.ops.load(Ordering::SeqCst) - start
    };
    println!("compaction takes {total} disk operations");
    for crash_at in 0..=total {
        let dir = tempfile::tempdir().unwrap();
        let f = Faulty::new(io.clone());
        f.power_loss.store(true, Ordering::SeqCst);
        let node = StorageNode::open(config(dir.path()), f.clone())
            .await
            .unwrap();
        let expect = compaction_setup(&node).await;
        f.fail_after
            .store(f.ops.load(Ordering::SeqCst) + crash_at, Ordering::SeqCst);
        let _ = node.compact().await;
        node.shutdown().await;
        drop(node);
        let node = StorageNode::open(config(dir.path()), io.clone())
            .await
            .unwrap();
        verify_all(&node, &expect).await;
        // And a later compaction still finishes the job.
        node.compact().await.unwrap();
        verify_all(&node, &expect).await;
        node.shutdown().await;
    }
}

async fn failed_fsync_poisons<D: DiskIo>(io: Arc<D>) {
    // A failed fsync fails the write and poisons the device for good; nothing is retried.
    let dir = tempfile::tempdir().unwrap();
    let f = Faulty::new(io);
    let node = open(dir.path(), f.clone()).await;
    put(&node, "/a/c/ok", 1, b"fine").await.unwrap();
    f.fail_syncs.store(true, Ordering::SeqCst);
    let r = put(&node, "/a/c/bad", 1, b"doomed").await;
    assert!(matches!(r, Err(NodeError::DeviceUnavailable(_))), "{r:?}");
    f.fail_syncs.store(false, Ordering::SeqCst);
    assert!(matches!(
        put(&node, "/a/c/later", 1, b"x").await,
        Err(NodeError::DeviceUnavailable(_))
    ));
    assert!(matches!(
        get(&node, "/a/c/ok", None).await,
        Err(NodeError::DeviceUnavailable(_))
    ));
    assert!(node.device_stats()[0].poisoned);
    node.shutdown().await;
    drop(node);
    let node = open(dir.path(), Arc::new(StdDiskIo::new())).await;
    assert_eq!(get(&node, "/a/c/ok", None).await.unwrap(), b"fine");
    assert!(node.head(DEV, key("/a/c/bad")).await.is_err());
}
