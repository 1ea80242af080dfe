//! A single-voter `MetaNode` end to end through the `Metadata` trait:
//! restart durability, errors, and write throughput with concurrency.

use std::sync::Arc;
use std::time::Instant;

use cairn_base::Timestamp;
use cairn_meta::MetaNode;
use cairn_meta_api::{
    ContainerPut, ListQuery, MetaError, MetaMap, Metadata, ObjectEntry, ObjectListItem,
};

fn entry(name: &str, ts: u64, size: u64) -> ObjectEntry {
    ObjectEntry {
        name: name.into(),
        ts: Timestamp::from_ticks(ts),
        size,
        etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
        content_type: "text/plain".into(),
    }
}

fn names(rows: Vec<ObjectListItem>) -> Vec<String> {
    rows.into_iter()
        .map(|r| match r {
            ObjectListItem::Object(e) => e.name,
            ObjectListItem::Subdir(s) => s,
        })
        .collect()
}

// Checks that everything written before a shutdown (accounts, containers,
// metadata, entries, deletions and tombstones) is there after reopening.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_keeps_everything() {
    let dir = tempfile::tempdir().unwrap();
    let ts = Timestamp::from_ticks;
    {
        let node = MetaNode::open_single(dir.path(), 1).await.unwrap();
        let meta: MetaMap = [("x-container-meta-k".to_string(), "v".to_string())].into();
        assert_eq!(
            node.put_container("AUTH_p", "photos", meta, ts(1))
                .await
                .unwrap(),
            ContainerPut::Created
        );
        for i in 0..50 {
            node.put_object_entry("AUTH_p", "photos", entry(&format!("img{i:02}"), 10, i))
                .await
                .unwrap();
        }
        node.delete_object_entry("AUTH_p", "photos", "img00", ts(20))
            .await
            .unwrap();
        node.shutdown().await.unwrap();
    }
    let node = MetaNode::open_single(dir.path(), 1).await.unwrap();
    let c = node.container("AUTH_p", "photos").await.unwrap();
    assert_eq!((c.object_count, c.bytes_used), (49, (1..50).sum::<u64>()));
    assert_eq!(
        c.meta.get("x-container-meta-k").map(String::as_str),
        Some("v")
    );
    let a = node.account("AUTH_p").await.unwrap();
    assert_eq!((a.container_count, a.object_count), (1, 49));
    let q = ListQuery {
        limit: 3,
        ..Default::default()
    };
    assert_eq!(
        names(node.list_objects("AUTH_p", "photos", &q).await.unwrap()),
        ["img01", "img02", "img03"]
    );
    // The tombstone survived too: the old PUT cannot come back.
    node.put_object_entry("AUTH_p", "photos", entry("img00", 10, 0))
        .await
        .unwrap();
    assert_eq!(
        node.container("AUTH_p", "photos")
            .await
            .unwrap()
            .object_count,
        49
    );
    node.shutdown().await.unwrap();
}

// Checks the trait's error contract: missing things are NotFound, a
// non-empty container cannot be deleted, bad names are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn errors_follow_the_contract() {
    let dir = tempfile::tempdir().unwrap();
    let node = MetaNode::open_single(dir.path(), 7).await.unwrap();
    let ts = Timestamp::from_ticks(5);
    assert_eq!(node.account("nope").await, Err(MetaError::AccountNotFound));
    assert_eq!(
        node.container("nope", "c").await,
        Err(MetaError::ContainerNotFound)
    );
    assert_eq!(
        node.list_containers("nope", &ListQuery::default()).await,
        Err(MetaError::AccountNotFound)
    );
    assert_eq!(
        node.put_object_entry("a", "c", entry("x", 1, 1)).await,
        Err(MetaError::ContainerNotFound)
    );
    node.put_container("a", "c", MetaMap::new(), ts)
        .await
        .unwrap();
    node.put_object_entry("a", "c", entry("x", 1, 1))
        .await
        .unwrap();
    assert_eq!(
        node.delete_container("a", "c", ts).await,
        Err(MetaError::ContainerNotEmpty)
    );
    assert!(matches!(
        node.put_container("a\0b", "c", MetaMap::new(), ts).await,
        Err(MetaError::Storage(_))
    ));
    assert_eq!(
        node.update_container_meta("a", "", MetaMap::new(), ts)
            .await,
        Err(MetaError::ContainerNotFound)
    );
    let a = node.ensure_account("fresh", ts).await.unwrap();
    assert_eq!((a.name.as_str(), a.container_count), ("fresh", 0));
    node.shutdown().await.unwrap();
}

// Checks that many concurrent object-entry writes all commit and are counted
// exactly, and reports write and linearizable-read throughput.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_object_writes_commit_with_group_commit() {
    const WRITERS: usize = 64;
    const PER_WRITER: usize = 80;
    let dir = tempfile::tempdir().unwrap();
    let node = MetaNode::open_single(dir.path(), 1).await.unwrap();
    node.put_container("AUTH_b", "bench", MetaMap::new(), Timestamp::from_ticks(1))
        .await
        .unwrap();
    let start = Instant::now();
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let node: Arc<MetaNode> = node.clone();
            tokio::spawn(async move {
                for i in 0..PER_WRITER {
                    node.put_object_entry(
                        "AUTH_b",
                        "bench",
                        entry(&format!("w{w:03}/o{i:05}"), 2, 10),
                    )
                    .await
                    .unwrap();
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    let total = WRITERS * PER_WRITER;
    let secs = start.elapsed().as_secs_f64();
    println!(
        "put_object_entry: {total} writes, {WRITERS} concurrent, {:.0} ops/s",
        total as f64 / secs
    );
    let c = node.container("AUTH_b", "bench").await.unwrap();
    assert_eq!(
        (c.object_count, c.bytes_used),
        (total as u64, 10 * total as u64)
    );
    let q = ListQuery {
        delimiter: Some("/".into()),
        limit: 1000,
        ..Default::default()
    };
    assert_eq!(
        node.list_objects("AUTH_b", "bench", &q)
            .await
            .unwrap()
            .len(),
        WRITERS
    );

    let start = Instant::now();
    let reads: Vec<_> = (0..WRITERS)
        .map(|_| {
            let node: Arc<MetaNode> = node.clone();
            tokio::spawn(async move {
                for _ in 0..PER_WRITER {
                    let c = node.container("AUTH_b", "bench").await.unwrap();
                    assert_eq!(c.object_count, total as u64);
                }
            })
        })
        .collect();
    for r in reads {
        r.await.unwrap();
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "container (linearizable): {total} reads, {WRITERS} concurrent, {:.0} ops/s",
        total as f64 / secs
    );
    node.shutdown().await.unwrap();
}

// Checks tombstone reclaim through the node: only deletions older than the
// reclaim age are forgotten, across more than one bounded command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reclaim_tombstones_forgets_old_deletions() {
    let dir = tempfile::tempdir().unwrap();
    let node = MetaNode::open_single(dir.path(), 1).await.unwrap();
    let ts = Timestamp::from_ticks;
    node.put_container("a", "c", MetaMap::new(), ts(1))
        .await
        .unwrap();
    let n = cairn_meta::RECLAIM_BATCH_MAX + 10;
    for i in 0..n {
        node.delete_object_entry("a", "c", &format!("gone{i:05}"), ts(10))
            .await
            .unwrap();
    }
    node.delete_object_entry("a", "c", "recent", ts(100))
        .await
        .unwrap();
    assert_eq!(node.reclaim_tombstones(ts(50)).await.unwrap(), n as u64);
    assert_eq!(node.reclaim_tombstones(ts(50)).await.unwrap(), 0);
    node.put_object_entry("a", "c", entry("gone00000", 5, 1))
        .await
        .unwrap();
    node.put_object_entry("a", "c", entry("recent", 5, 1))
        .await
        .unwrap();
    let q = ListQuery {
        limit: 10,
        ..Default::default()
    };
    assert_eq!(
        names(node.list_objects("a", "c", &q).await.unwrap()),
        ["gone00000"]
    );
    node.shutdown().await.unwrap();
}

// Checks the record tables through Raft: a transaction's checks, revisions,
// scans within a table, and that all of it survives a restart (the same
// semantics as `MemoryRecords`, which tests of the services use).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn record_transactions_commit_atomically_and_survive_restart() {
    use cairn_meta_api::records::{Check, RecordKey, Records, Txn, TxnOutcome};
    let dir = tempfile::tempdir().unwrap();
    let user = |k: &str| RecordKey::new("users", k);
    {
        let node = MetaNode::open_single(dir.path(), 1).await.unwrap();
        let create = Txn::new()
            .check(Check::absent(user("by-name/alice")))
            .put(user("by-name/alice"), b"u1".to_vec())
            .put(user("u1"), b"alice".to_vec());
        assert_eq!(
            node.commit(create.clone()).await.unwrap(),
            TxnOutcome::Committed(vec![1, 1])
        );
        // The name is taken: nothing of the second transaction lands.
        let clash = create.put(user("u2"), b"alice".to_vec());
        assert!(matches!(
            node.commit(clash).await.unwrap(),
            TxnOutcome::Conflict { found: 1, .. }
        ));
        let update = Txn::new()
            .check(Check::at(user("u1"), 1))
            .put(user("u1"), b"alice2".to_vec())
            .put(RecordKey::new("usersx", "u9"), vec![]);
        assert_eq!(
            node.commit(update).await.unwrap(),
            TxnOutcome::Committed(vec![2, 1])
        );
        let bad = Txn::new().put(RecordKey::new("", "x"), vec![]);
        assert!(matches!(
            node.commit(bad).await,
            Err(MetaError::InvalidRecordKey(_))
        ));
        node.shutdown().await.unwrap();
    }
    let node = MetaNode::open_single(dir.path(), 1).await.unwrap();
    let u1 = node.record(&user("u1")).await.unwrap().unwrap();
    assert_eq!((u1.revision, u1.value.as_slice()), (2, &b"alice2"[..]));
    assert_eq!(node.record(&user("u2")).await.unwrap(), None);
    let all: Vec<String> = node
        .scan("users", "", None, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(all, ["by-name/alice", "u1"]);
    let after: Vec<String> = node
        .scan("users", "", Some("by-name/alice"), 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(k, _)| k)
        .collect();
    assert_eq!(after, ["u1"]);
    node.shutdown().await.unwrap();
}
