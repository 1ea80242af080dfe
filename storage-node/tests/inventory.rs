//! The replication side of the engine, over the `ObjectNode` contract:
//! partition digests, bucket listings, partitions held, drops of exact
//! versions, tombstone reclaim, and the auditor; each run with both `DiskIo`
//! implementations.

#[macro_use]
mod common;

use cairn_diskio::DiskIo;
use cairn_nodeapi::{DeviceId, EntryVersion, NodeError, ObjectKey, ObjectNode, PostRequest};
use cairn_storage_node::replicator::LocalNode;
use cairn_storage_node::{NodeConfig, StorageNode, CHUNK_BYTES};
use common::*;
use std::sync::Arc;

both!(
    digest_follows_every_version_change,
    kept_digest_equals_a_fresh_scan,
    list_bucket_and_partitions,
    drop_entries_leaves_what_was_written_since,
    reclaim_drops_only_old_tombstones,
    auditor_quarantines_a_flipped_byte,
);

const PART: u32 = 5;
const D: [DeviceId; 4] = [DeviceId(1), DeviceId(2), DeviceId(3), DeviceId(4)];

async fn open<D2: DiskIo>(io: Arc<D2>, c: NodeConfig) -> StorageNode<D2> {
    StorageNode::open(c, io).await.expect("open")
}

/// The key of object `i` in suffix bucket `bucket` of partition [`PART`].
fn pkey(bucket: u8, i: u8) -> ObjectKey {
    let mut hash = [0u8; 16];
    hash[0] = bucket;
    hash[1] = i;
    ObjectKey {
        partition: PART,
        hash,
    }
}

fn name(k: &ObjectKey) -> String {
    format!("/a/c/{}-{}", k.hash[0], k.hash[1])
}

/// The body `base` stores for `k`: 100 bytes, distinct per key.
fn body_of(k: &ObjectKey) -> Vec<u8> {
    body(u64::from(k.hash[0]) << 8 | u64::from(k.hash[1]), 100)
}

/// Objects in buckets 3 and 200 and a tombstone in bucket 3, at tick `t`.
async fn base<N: ObjectNode>(node: &N, dev: DeviceId) {
    for k in [pkey(3, 1), pkey(3, 2), pkey(200, 1)] {
        put_to(node, dev, k, meta(&name(&k), 10, 100), &body_of(&k))
            .await
            .unwrap();
    }
    let k = pkey(3, 9);
    node.delete(dev, k, &name(&k), ts(10)).await.unwrap();
}

fn post(t: u64) -> PostRequest {
    PostRequest {
        meta_ts: ts(t),
        headers: vec![("x-object-meta-n".into(), t.to_string())],
        content_type: None,
    }
}

async fn digest_follows_every_version_change<D2: DiskIo>(io: Arc<D2>) {
    // Devices with the same versions have equal digests; a newer data_ts, a
    // POST, or a delete of one object changes that object's bucket only, also
    // after the digest was computed (and cached) once.
    let dir = tempfile::tempdir().unwrap();
    let node = open(io, cfg_devices(dir.path(), &D)).await;
    for d in D {
        base(&node, d).await;
    }
    let reference = node.partition_digest(D[0], PART).await.unwrap();
    assert_eq!(
        reference.buckets.keys().copied().collect::<Vec<_>>(),
        vec![3, 200]
    );
    for d in &D[1..] {
        assert_eq!(node.partition_digest(*d, PART).await.unwrap(), reference);
    }
    let k = pkey(3, 2);
    put_to(&node, D[1], k, meta(&name(&k), 20, 3), b"new")
        .await
        .unwrap();
    node.post(D[2], k, post(20)).await.unwrap();
    node.delete(D[3], k, &name(&k), ts(20)).await.unwrap();
    for d in &D[1..] {
        let changed = node.partition_digest(*d, PART).await.unwrap();
        assert_eq!(reference.differing(&changed), vec![3], "device {d:?}");
        assert_eq!(changed.buckets[&200], reference.buckets[&200]);
    }
    let other = node.partition_digest(D[0], PART + 1).await.unwrap();
    assert!(other.buckets.is_empty());
}

async fn kept_digest_equals_a_fresh_scan<D2: DiskIo>(io: Arc<D2>) {
    // D1's digest is computed once and then kept up to date through new
    // objects, overwrites (inline and blob), a POST, deletes, a drop, a
    // quarantine and a reclaim; D2 sees the same changes before its first
    // digest, a fresh scan. They agree.
    let dir = tempfile::tempdir().unwrap();
    let node = open(io, cfg_devices(dir.path(), &D[..2])).await;
    for d in &D[..2] {
        base(&node, *d).await;
    }
    let kept = node.partition_digest(D[0], PART).await.unwrap();
    assert_eq!(kept, node.partition_digest(D[0], PART).await.unwrap());
    let big = pkey(3, 5);
    let big_body = body(5, CHUNK_BYTES as usize + 10);
    for d in &D[..2] {
        for (k, t, b) in [
            (pkey(9, 1), 20, &b"new"[..]),
            (pkey(3, 1), 20, b"quarantine-me"),
            (pkey(3, 9), 30, b"new"),
        ] {
            put_to(&node, *d, k, meta(&name(&k), t, b.len() as u64), b)
                .await
                .unwrap();
        }
        put_to(
            &node,
            *d,
            big,
            meta(&name(&big), 20, big_body.len() as u64),
            &big_body,
        )
        .await
        .unwrap();
        node.post(*d, pkey(3, 2), post(25)).await.unwrap();
        let gone = pkey(200, 1);
        node.delete(*d, gone, &name(&gone), ts(25)).await.unwrap();
        node.delete(*d, big, &name(&big), ts(26)).await.unwrap();
        let dropped = node.list_bucket(*d, PART, 9).await.unwrap();
        assert_eq!(node.drop_entries(*d, PART, dropped).await.unwrap(), 1);
        assert_eq!(node.reclaim_tombstones(*d, ts(26)).await.unwrap(), 1);
    }
    let bad = pkey(3, 1);
    let seg = files(&dir.path().join("dev1/segments")).remove(0);
    flip(&seg, find(&seg, b"quarantine-me").unwrap());
    assert!(get_from(&node, D[0], bad, None).await.is_err());
    assert_eq!(node.device_stats()[0].quarantined_count, 1);
    let quarantined = EntryVersion {
        key: bad,
        name: name(&bad),
        data_ts: ts(20),
        meta_ts: ts(20),
        tombstone: false,
    };
    assert_eq!(
        node.drop_entries(D[1], PART, vec![quarantined])
            .await
            .unwrap(),
        1
    );
    let after = node.partition_digest(D[0], PART).await.unwrap();
    assert_ne!(after, kept);
    assert_eq!(after, node.partition_digest(D[1], PART).await.unwrap());
}

async fn list_bucket_and_partitions<D2: DiskIo>(io: Arc<D2>) {
    // A bucket lists its objects and tombstones in key order with their
    // versions, and nothing of other buckets; partitions() names each held one.
    let dir = tempfile::tempdir().unwrap();
    let node = open(io, cfg_devices(dir.path(), &D[..1])).await;
    base(&node, D[0]).await;
    node.post(D[0], pkey(3, 2), post(15)).await.unwrap();
    let k = ObjectKey {
        partition: 900,
        hash: [7; 16],
    };
    put_to(&node, D[0], k, meta("/a/c/far", 1, 1), b"x")
        .await
        .unwrap();
    let v = |k: ObjectKey, meta_t: u64, tombstone: bool| EntryVersion {
        key: k,
        name: name(&k),
        data_ts: ts(10),
        meta_ts: ts(meta_t),
        tombstone,
    };
    assert_eq!(
        node.list_bucket(D[0], PART, 3).await.unwrap(),
        vec![
            v(pkey(3, 1), 10, false),
            v(pkey(3, 2), 15, false),
            v(pkey(3, 9), 10, true)
        ]
    );
    assert_eq!(
        node.list_bucket(D[0], PART, 200).await.unwrap(),
        vec![v(pkey(200, 1), 10, false)]
    );
    assert!(node.list_bucket(D[0], PART, 4).await.unwrap().is_empty());
    assert_eq!(node.partitions(D[0]).await.unwrap(), vec![PART, 900]);
}

async fn drop_entries_leaves_what_was_written_since<D2: DiskIo>(io: Arc<D2>) {
    // Dropping a listing removes exactly the listed versions, tombstones
    // included and with no tombstone left behind, and a large object's blob
    // file; an object overwritten after the listing stays.
    let dir = tempfile::tempdir().unwrap();
    let node = open(io, cfg_devices(dir.path(), &D[..1])).await;
    base(&node, D[0]).await;
    let big = pkey(3, 5);
    let big_body = body(5, CHUNK_BYTES as usize + 10);
    put_to(
        &node,
        D[0],
        big,
        meta(&name(&big), 10, big_body.len() as u64),
        &big_body,
    )
    .await
    .unwrap();
    let blobs = dir.path().join("dev1/blobs");
    assert_eq!(files(&blobs).len(), 1);
    let listed = node.list_bucket(D[0], PART, 3).await.unwrap();
    assert_eq!(listed.len(), 4);
    let kept = pkey(3, 1);
    put_to(&node, D[0], kept, meta(&name(&kept), 30, 4), b"late")
        .await
        .unwrap();
    let wrong_partition = vec![EntryVersion {
        key: ObjectKey {
            partition: PART + 1,
            hash: [0; 16],
        },
        ..listed[0].clone()
    }];
    assert!(node
        .drop_entries(D[0], PART, wrong_partition)
        .await
        .is_err());
    assert_eq!(node.drop_entries(D[0], PART, listed).await.unwrap(), 3);
    assert_eq!(get_from(&node, D[0], kept, None).await.unwrap(), b"late");
    for k in [pkey(3, 2), pkey(3, 9), big] {
        assert_eq!(
            node.head(D[0], k).await,
            Err(NodeError::NotFound { tombstone: None })
        );
    }
    assert_eq!(node.device_stats()[0].object_count, 2);
    let left = node.list_bucket(D[0], PART, 3).await.unwrap();
    assert_eq!(left.len(), 1);
    assert_eq!(node.drop_entries(D[0], PART, left).await.unwrap(), 1);
    let last = node.list_bucket(D[0], PART, 200).await.unwrap();
    assert_eq!(node.drop_entries(D[0], PART, last).await.unwrap(), 1);
    assert!(node.partitions(D[0]).await.unwrap().is_empty());
    // The writer removes superseded blobs after acking; shutdown waits for it.
    node.shutdown().await;
    assert!(
        files(&blobs).is_empty(),
        "the dropped object's blob is gone"
    );
}

async fn reclaim_drops_only_old_tombstones<D2: DiskIo>(io: Arc<D2>) {
    // Tombstones older than the horizon go; newer ones and live objects stay.
    let dir = tempfile::tempdir().unwrap();
    let node = open(io, cfg_devices(dir.path(), &D[..1])).await;
    base(&node, D[0]).await;
    let newer = pkey(200, 7);
    node.delete(D[0], newer, &name(&newer), ts(50))
        .await
        .unwrap();
    assert_eq!(node.reclaim_tombstones(D[0], ts(40)).await.unwrap(), 1);
    assert_eq!(
        node.head(D[0], pkey(3, 9)).await,
        Err(NodeError::NotFound { tombstone: None })
    );
    assert_eq!(
        node.head(D[0], newer).await,
        Err(NodeError::NotFound {
            tombstone: Some(ts(50))
        })
    );
    assert_eq!(node.list_bucket(D[0], PART, 3).await.unwrap().len(), 2);
    assert_eq!(node.reclaim_tombstones(D[0], ts(40)).await.unwrap(), 0);
}

async fn auditor_quarantines_a_flipped_byte<D2: DiskIo>(io: Arc<D2>) {
    // An audit pass reads every object; a flipped byte in one is counted and
    // its replica quarantined; the others are untouched.
    let dir = tempfile::tempdir().unwrap();
    let node = open(io, cfg_devices(dir.path(), &D[..1])).await;
    base(&node, D[0]).await;
    let clean = node.audit().await;
    assert_eq!((clean.objects_audited, clean.bytes_audited), (3, 300));
    assert_eq!((clean.corrupt_found, clean.passes_completed), (0, 1));
    let bad = pkey(200, 1);
    let seg = files(&dir.path().join("dev1/segments")).remove(0);
    flip(&seg, find(&seg, &body_of(&bad)).unwrap() + 5);
    let after = node.audit().await;
    assert_eq!((after.objects_audited, after.corrupt_found), (6, 1));
    assert_eq!(after.passes_completed, 2);
    assert_eq!(node.auditor_stats(), after);
    assert_eq!(
        node.head(D[0], bad).await,
        Err(NodeError::NotFound { tombstone: None })
    );
    for k in [pkey(3, 1), pkey(3, 2)] {
        assert_eq!(get_from(&node, D[0], k, None).await.unwrap(), body_of(&k));
    }
    assert_eq!(node.device_stats()[0].quarantined_count, 1);
    let third = node.audit().await;
    assert_eq!((third.objects_audited, third.corrupt_found), (8, 1));
}
