//! Engine tests over the `ObjectNode` contract, each run with both `DiskIo`
//! implementations (`StdDiskIo` and `UringDiskIo`).

#[macro_use]
mod common;

use cairn_diskio::{DiskIo, StdDiskIo, UringDiskIo};
use cairn_nodeapi::{
    ByteRange, ChunkDigests, DeviceId, Frame, NodeError, ObjectNode, PostRequest, PutChunk,
};
use cairn_storage_node::replicator::LocalNode;
use cairn_storage_node::{AnyStorageNode, DeviceConfig, StorageNode, CHUNK_BYTES};
use common::*;
use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use tokio::sync::mpsc;

both!(
    roundtrip,
    ranges_across_chunks,
    newest_wins,
    corrupt_segment_record,
    corrupt_blob_chunk,
    digests_that_do_not_match_the_bytes_are_caught_on_read,
    incomplete_streams_store_nothing,
    frames_in_pieces_store_their_bytes,
    group_commit,
    compaction_keeps_live_objects,
    device_full,
    background_compaction,
    enospc_is_device_full,
    recovery_cuts_unacked_bytes,
    a_device_added_while_running_serves_at_once,
);

async fn open<D: DiskIo>(dir: &std::path::Path, io: Arc<D>) -> StorageNode<D> {
    StorageNode::open(cfg(dir), io).await.expect("open")
}

/// HEAD of `name` once a failed read's quarantine had a moment to land (it
/// happens right after the error is sent), or after a second.
async fn head_once_quarantined<D: DiskIo>(
    node: &StorageNode<D>,
    name: &str,
) -> Result<cairn_nodeapi::ObjectMeta, NodeError> {
    for _ in 0..100 {
        if node.head(DEV, key(name)).await.is_err() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    node.head(DEV, key(name)).await
}

async fn roundtrip<D: DiskIo>(io: Arc<D>) {
    // PUT, GET, HEAD, POST and DELETE agree with each other, small and large.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io).await;
    let small = body(1, 4096);
    let large = body(2, 2 * CHUNK_BYTES as usize + 12345);
    let empty: Vec<u8> = Vec::new();
    let ack = put(&node, "/a/c/small", 10, &small).await.unwrap();
    assert_eq!((ack.device, ack.data_ts), (DEV, ts(10)));
    put(&node, "/a/c/large", 10, &large).await.unwrap();
    put(&node, "/a/c/empty", 10, &empty).await.unwrap();
    assert_eq!(get(&node, "/a/c/small", None).await.unwrap(), small);
    assert_eq!(get(&node, "/a/c/large", None).await.unwrap(), large);
    assert_eq!(get(&node, "/a/c/empty", None).await.unwrap(), empty);
    // The blob was written in whole aligned blocks, the last one padded, and
    // then cut back: the file holds exactly the body.
    let blobs = files(&dir.path().join("dev1/blobs"));
    assert_eq!(blobs.len(), 1);
    assert_eq!(
        std::fs::metadata(&blobs[0]).unwrap().len(),
        large.len() as u64
    );
    let m = node.head(DEV, key("/a/c/small")).await.unwrap();
    assert_eq!(m, meta("/a/c/small", 10, 4096));

    let post = PostRequest {
        meta_ts: ts(20),
        headers: vec![("x-object-meta-shape".into(), "round".into())],
        content_type: Some("text/plain".into()),
    };
    let m = node
        .post(DEV, key("/a/c/small"), post.clone())
        .await
        .unwrap();
    assert_eq!(m.header("x-object-meta-shape"), Some("round"));
    assert_eq!(m.header("x-object-meta-color"), None);
    assert_eq!(
        (m.content_type.as_str(), m.meta_ts, m.data_ts),
        ("text/plain", ts(20), ts(10))
    );
    assert_eq!(node.head(DEV, key("/a/c/small")).await.unwrap(), m);
    assert_eq!(get(&node, "/a/c/small", None).await.unwrap(), small);
    let again = node.post(DEV, key("/a/c/small"), post).await;
    assert_eq!(again, Err(NodeError::Conflict { existing: ts(20) }));
    let missing = PostRequest {
        meta_ts: ts(30),
        headers: vec![],
        content_type: None,
    };
    assert_eq!(
        node.post(DEV, key("/a/c/none"), missing).await,
        Err(NodeError::NotFound { tombstone: None })
    );

    for name in ["/a/c/small", "/a/c/large"] {
        let d = node.delete(DEV, key(name), name, ts(40)).await.unwrap();
        assert!(d.existed);
        let gone = NodeError::NotFound {
            tombstone: Some(ts(40)),
        };
        assert_eq!(node.head(DEV, key(name)).await, Err(gone.clone()));
        assert_eq!(get(&node, name, None).await, Err(gone));
    }
    let d = node
        .delete(DEV, key("/a/c/never"), "/a/c/never", ts(40))
        .await
        .unwrap();
    assert!(!d.existed);
    let stats = node.device_stats();
    assert_eq!(stats[0].object_count, 1);
    assert_eq!(
        node.head(cairn_nodeapi::DeviceId(99), key("x")).await,
        Err(NodeError::DeviceUnavailable("no device 99 here".into()))
    );
    // Everything survives a restart.
    node.shutdown().await;
    drop(node);
    let node = open(dir.path(), Arc::new(StdDiskIo::new())).await;
    assert_eq!(get(&node, "/a/c/empty", None).await.unwrap(), empty);
    assert_eq!(
        node.head(DEV, key("/a/c/never")).await,
        Err(NodeError::NotFound {
            tombstone: Some(ts(40))
        })
    );
    assert_eq!(node.device_stats()[0].object_count, 1);
    assert!(
        files(&dir.path().join("dev1/blobs")).is_empty(),
        "deleted blob removed"
    );
}

async fn ranges_across_chunks<D: DiskIo>(io: Arc<D>) {
    // Range GETs return exactly the asked bytes, across chunk boundaries, clamped at the end.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io).await;
    let c = CHUNK_BYTES;
    let data = body(3, (3 * c + 100) as usize);
    put(&node, "/a/c/big", 1, &data).await.unwrap();
    let small = body(4, 5000);
    put(&node, "/a/c/small", 1, &small).await.unwrap();
    let cases = [
        (0, 10),
        (c - 5, c + 5),
        (c, 2 * c),
        (2 * c - 1, 3 * c + 1),
        (3 * c + 99, 3 * c + 100),
    ];
    for (s, e) in cases {
        let r = Some(ByteRange { start: s, end: e });
        assert_eq!(
            get(&node, "/a/c/big", r).await.unwrap(),
            &data[s as usize..e as usize]
        );
    }
    let r = Some(ByteRange {
        start: c,
        end: u64::MAX,
    });
    assert_eq!(
        get(&node, "/a/c/big", r).await.unwrap(),
        &data[c as usize..]
    );
    let r = Some(ByteRange {
        start: 100,
        end: 4000,
    });
    assert_eq!(
        get(&node, "/a/c/small", r).await.unwrap(),
        &small[100..4000]
    );
    for (s, e) in [(5000, 6000), (10, 10), (99_999_999, u64::MAX)] {
        let r = Some(ByteRange { start: s, end: e });
        assert_eq!(
            get(&node, "/a/c/small", r).await,
            Err(NodeError::RangeNotSatisfiable)
        );
    }
}

async fn newest_wins<D: DiskIo>(io: Arc<D>) {
    // Older-or-equal PUTs and DELETEs lose to what is stored, object or tombstone.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io).await;
    let n = "/a/c/o";
    put(&node, n, 10, b"ten").await.unwrap();
    assert_eq!(
        put(&node, n, 5, b"five").await,
        Err(NodeError::Conflict { existing: ts(10) })
    );
    assert_eq!(
        put(&node, n, 10, b"ten2").await,
        Err(NodeError::Conflict { existing: ts(10) })
    );
    assert_eq!(
        node.delete(DEV, key(n), n, ts(9)).await,
        Err(NodeError::Conflict { existing: ts(10) })
    );
    assert_eq!(get(&node, n, None).await.unwrap(), b"ten");
    assert!(node.delete(DEV, key(n), n, ts(11)).await.unwrap().existed);
    assert_eq!(
        put(&node, n, 11, b"x").await,
        Err(NodeError::Conflict { existing: ts(11) })
    );
    put(&node, n, 12, b"twelve").await.unwrap();
    assert_eq!(get(&node, n, None).await.unwrap(), b"twelve");
    // A tombstone for an object never seen still makes later-arriving older writes lose.
    let m = "/a/c/late";
    assert!(!node.delete(DEV, key(m), m, ts(50)).await.unwrap().existed);
    assert_eq!(
        put(&node, m, 49, b"old").await,
        Err(NodeError::Conflict { existing: ts(50) })
    );
    // Concurrent PUTs of one name: the newest timestamp is what remains.
    let node = Arc::new(node);
    let mut tasks = Vec::new();
    for t in 100..140u64 {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            put(&*node, "/a/c/race", t, &body(t, 300)).await
        }));
    }
    for t in tasks {
        let _ = t.await.unwrap();
    }
    assert_eq!(
        get(&*node, "/a/c/race", None).await.unwrap(),
        body(139, 300)
    );
}

async fn corrupt_segment_record<D: DiskIo>(io: Arc<D>) {
    // A flipped byte in a segment record fails the GET with Corrupt, quarantines it, and it then reads NotFound.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io).await;
    let data = body(7, 4096);
    put(&node, "/a/c/o", 1, &data).await.unwrap();
    put(&node, "/a/c/other", 1, &body(8, 4096)).await.unwrap();
    let seg = files(&dir.path().join("dev1/segments")).remove(0);
    let at = find(&seg, &data).expect("body in segment");
    flip(&seg, at + 1000);
    assert_eq!(get(&node, "/a/c/o", None).await, Err(NodeError::Corrupt));
    assert_eq!(
        node.head(DEV, key("/a/c/o")).await,
        Err(NodeError::NotFound { tombstone: None })
    );
    assert_eq!(
        get(&node, "/a/c/o", None).await,
        Err(NodeError::NotFound { tombstone: None })
    );
    assert_eq!(get(&node, "/a/c/other", None).await.unwrap(), body(8, 4096));
    let s = node.device_stats();
    assert_eq!((s[0].quarantined_count, s[0].object_count), (1, 1));
    // The replicator may put a good copy back.
    put(&node, "/a/c/o", 1, &data).await.unwrap();
    assert_eq!(get(&node, "/a/c/o", None).await.unwrap(), data);
}

async fn corrupt_blob_chunk<D: DiskIo>(io: Arc<D>) {
    // A flipped byte in chunk 2 of a blob: ranges in chunk 0 still verify; a full GET streams Corrupt, then NotFound.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io).await;
    let data = body(9, 3 * CHUNK_BYTES as usize);
    put(&node, "/a/c/big", 1, &data).await.unwrap();
    let blob = files(&dir.path().join("dev1/blobs")).remove(0);
    flip(&blob, 2 * CHUNK_BYTES + 17);
    let r = Some(ByteRange { start: 5, end: 100 });
    assert_eq!(get(&node, "/a/c/big", r).await.unwrap(), &data[5..100]);
    let mut s = node.get(DEV, key("/a/c/big"), None).await.unwrap();
    let mut good = 0;
    let mut saw_corrupt = false;
    while let Some(f) = s.body.recv().await {
        match f {
            Ok(f) => good += f.len(),
            Err(e) => {
                assert_eq!(e, NodeError::Corrupt);
                saw_corrupt = true;
            }
        }
    }
    assert!(saw_corrupt);
    assert_eq!(
        good as u64,
        2 * CHUNK_BYTES,
        "only verified chunks were sent"
    );
    assert_eq!(
        head_once_quarantined(&node, "/a/c/big").await,
        Err(NodeError::NotFound { tombstone: None })
    );
    assert_eq!(node.device_stats()[0].quarantined_count, 1);
}

async fn digests_that_do_not_match_the_bytes_are_caught_on_read<D: DiskIo>(io: Arc<D>) {
    // The node stores the sender's digests as they are (decision 0026): if
    // the bytes changed after the sender hashed them, no GET serves them
    // and the auditor quarantines the replica, inline or blob.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io).await;
    let cases = [
        ("/a/c/small", 5000),
        ("/a/c/big", 2 * CHUNK_BYTES as usize + 9),
    ];
    for (name, len) in cases {
        let hashed = body(30, len);
        let mut changed = hashed.clone();
        changed[len - 3] ^= 0x10;
        let digests = ChunkDigests::of(&hashed);
        put_with_digests(
            &node,
            DEV,
            key(name),
            meta(name, 1, len as u64),
            &changed,
            digests,
        )
        .await
        .unwrap();
        let whole = get(&node, name, None).await;
        assert_eq!(whole, Err(NodeError::Corrupt), "{name}");
    }
    // The GETs quarantined both; the replicator may put good copies back,
    // which the auditor then passes.
    for (name, len) in cases {
        assert!(
            head_once_quarantined(&node, name).await.is_err(),
            "{name} quarantined"
        );
        put(&node, name, 1, &body(30, len)).await.unwrap();
    }
    let audit = node.audit().await;
    assert_eq!((audit.objects_audited, audit.corrupt_found), (2, 0));
    assert_eq!(node.device_stats()[0].quarantined_count, 2);

    // Not read since its PUT: the auditor finds it.
    let len = 3000;
    let mut changed = body(31, len);
    let digests = ChunkDigests::of(&changed);
    changed[0] ^= 1;
    put_with_digests(
        &node,
        DEV,
        key("/a/c/unread"),
        meta("/a/c/unread", 1, len as u64),
        &changed,
        digests,
    )
    .await
    .unwrap();
    let audit = node.audit().await;
    assert_eq!(audit.corrupt_found, 1);
    assert!(node.head(DEV, key("/a/c/unread")).await.is_err());
}

async fn frames_in_pieces_store_their_bytes<D: DiskIo>(io: Arc<D>) {
    // Frames as the network delivers them, each in many pieces of any
    // size: the stored body is the bytes sent (checked by every GET and by
    // the auditor against the sender's digests), inline or in a blob that
    // spans several write buffers.
    use rand::{Rng, SeedableRng};
    let mut rng = rand::rngs::StdRng::seed_from_u64(seed());
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io).await;
    for (i, len) in [3000, 3 * CHUNK_BYTES as usize + 777]
        .into_iter()
        .enumerate()
    {
        let name = format!("/a/c/pieces{i}");
        let data = bytes::Bytes::from(body(20 + i as u64, len));
        let mut frames = Vec::new();
        let mut at = 0;
        while at < len {
            let end = (at + rng.gen_range(1..300 << 10)).min(len);
            let frame = data.slice(at..end);
            let crc = Frame::new(frame.clone()).crc32c();
            let mut pieces = Vec::new();
            let mut p = 0;
            while p < frame.len() {
                let q = (p + rng.gen_range(1..10_000)).min(frame.len());
                pieces.push(frame.slice(p..q));
                p = q;
            }
            frames.push(Frame::from_pieces(pieces, crc));
            at = end;
        }
        let (tx, rx) = mpsc::channel(frames.len() + 1);
        for f in frames {
            tx.send(PutChunk::Data(f)).await.unwrap();
        }
        tx.send(PutChunk::End(
            meta(&name, 1, len as u64),
            ChunkDigests::of(&data),
        ))
        .await
        .unwrap();
        node.put(DEV, key(&name), rx).await.unwrap();
        assert_eq!(get(&node, &name, None).await.unwrap(), data);
    }
    let audit = node.audit().await;
    assert_eq!((audit.objects_audited, audit.corrupt_found), (2, 0));
}

async fn incomplete_streams_store_nothing<D: DiskIo>(io: Arc<D>) {
    // A body without End, with a bad crc, with the wrong length or with
    // digests for another length stores nothing and leaves no blob.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io).await;
    for len in [4096usize, 3 << 20] {
        let name = format!("/a/c/trunc{len}");
        let (tx, rx) = mpsc::channel(8);
        let data = body(1, len);
        let sender = tokio::spawn(async move {
            for c in data.chunks(64 << 10) {
                let _ = tx
                    .send(PutChunk::Data(Frame::new(bytes::Bytes::copy_from_slice(c))))
                    .await;
            }
        });
        assert_eq!(
            node.put(DEV, key(&name), rx).await,
            Err(NodeError::BodyIncomplete)
        );
        sender.await.unwrap();
        assert!(node.head(DEV, key(&name)).await.is_err());

        let (tx, rx) = mpsc::channel(8);
        let bad = Frame::from_parts(bytes::Bytes::from(body(2, 1000)), 12345);
        tx.send(PutChunk::Data(Frame::new(bytes::Bytes::from(body(3, len)))))
            .await
            .unwrap();
        tx.send(PutChunk::Data(bad)).await.unwrap();
        assert_eq!(
            node.put(DEV, key(&name), rx).await,
            Err(NodeError::FrameChecksum)
        );

        let sent = body(3, len);
        for (claimed, digests) in [
            (len as u64 + 1, ChunkDigests::of(&sent)),
            (
                len as u64,
                ChunkDigests::of(&body(3, len + CHUNK_BYTES as usize)),
            ),
            (len as u64, ChunkDigests::default()),
        ] {
            let (tx, rx) = mpsc::channel(8);
            tx.send(PutChunk::Data(Frame::new(bytes::Bytes::from(sent.clone()))))
                .await
                .unwrap();
            tx.send(PutChunk::End(meta(&name, 1, claimed), digests))
                .await
                .unwrap();
            assert_eq!(
                node.put(DEV, key(&name), rx).await,
                Err(NodeError::BodyIncomplete)
            );
            assert!(node.head(DEV, key(&name)).await.is_err());
        }
    }
    assert!(files(&dir.path().join("dev1/blobs")).is_empty());
    assert_eq!(node.device_stats()[0].object_count, 0);
}

async fn group_commit<D: DiskIo>(io: Arc<D>) {
    // 400 concurrent 4 KiB PUTs are made durable with far fewer fsyncs than objects.
    let dir = tempfile::tempdir().unwrap();
    let faulty = Faulty::new(io);
    let node = Arc::new(open(dir.path(), faulty.clone()).await);
    let before = faulty.syncs.load(Ordering::SeqCst);
    let n = 400u64;
    let mut tasks = Vec::new();
    for i in 0..n {
        let node = node.clone();
        tasks.push(tokio::spawn(async move {
            put(&*node, &format!("/a/c/{i}"), 1, &body(i, 4096)).await
        }));
    }
    for t in tasks {
        t.await.unwrap().unwrap();
    }
    let syncs = faulty.syncs.load(Ordering::SeqCst) - before;
    println!("{n} puts, {syncs} fsyncs");
    assert!(syncs * 4 < n, "{syncs} fsyncs for {n} puts");
    for i in (0..n).step_by(37) {
        assert_eq!(
            get(&*node, &format!("/a/c/{i}"), None).await.unwrap(),
            body(i, 4096)
        );
    }
}

async fn compaction_keeps_live_objects<D: DiskIo>(io: Arc<D>) {
    // Compacting mostly-dead segments, with PUTs running concurrently, keeps every live object byte-exact.
    let seed = seed();
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.inline_object_max_bytes = 64 << 10;
    c.segment_size_bytes = 256 << 10;
    let node = Arc::new(StorageNode::open(c.clone(), io.clone()).await.unwrap());
    let mut expect: HashMap<String, Option<Vec<u8>>> = HashMap::new();
    let mut x = seed | 1;
    let mut rnd = move |m: u64| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x % m
    };
    for i in 0..150u64 {
        let d = body(seed ^ i, 1000 + rnd(20_000) as usize);
        put(&*node, &format!("/a/c/{i}"), 1, &d).await.unwrap();
        expect.insert(format!("/a/c/{i}"), Some(d));
    }
    for i in 0..150u64 {
        let name = format!("/a/c/{i}");
        match rnd(10) {
            0..=3 => {
                node.delete(DEV, key(&name), &name, ts(2)).await.unwrap();
                expect.insert(name, None);
            }
            4..=6 => {
                let d = body(seed ^ (i + 1000), 500 + rnd(8000) as usize);
                put(&*node, &name, 3, &d).await.unwrap();
                expect.insert(name, Some(d));
            }
            _ => {}
        }
    }
    let before = node.device_stats()[0].clone();
    let writer = {
        let node = node.clone();
        tokio::spawn(async move {
            for i in 0..60u64 {
                put(&*node, &format!("/a/c/new{i}"), 1, &body(i, 3000))
                    .await
                    .unwrap();
            }
        })
    };
    let report = node.compact().await.unwrap();
    writer.await.unwrap();
    for i in 0..60u64 {
        expect.insert(format!("/a/c/new{i}"), Some(body(i, 3000)));
    }
    let after = node.device_stats()[0].clone();
    println!("{report:?} before {before:?} after {after:?}");
    assert!(report.segments_removed > 0);
    assert!(after.dead_bytes < before.dead_bytes);
    verify_all(&*node, &expect).await;
    node.shutdown().await;
    drop(node);
    let node = StorageNode::open(c, io).await.unwrap();
    verify_all(&node, &expect).await;
}

async fn background_compaction<D: DiskIo>(io: Arc<D>) {
    // With a short interval, the background task reclaims dead segments on its own.
    let dir = tempfile::tempdir().unwrap();
    let mut c = cfg(dir.path());
    c.inline_object_max_bytes = 64 << 10;
    c.segment_size_bytes = 160 << 10;
    c.compaction_interval_ms = 20;
    let node = StorageNode::open(c, io).await.unwrap();
    for i in 0..40u64 {
        put(&node, &format!("/a/c/{i}"), 1, &body(i, 9000))
            .await
            .unwrap();
    }
    // Counted before the deletes: the background task may already compact
    // while they run, and a count taken after that would never drop.
    let before = node.device_stats()[0].segment_count;
    for i in 0..39u64 {
        let name = format!("/a/c/{i}");
        node.delete(DEV, key(&name), &name, ts(2)).await.unwrap();
    }
    // Up to 5 s: the machine may be busy with other tests.
    for _ in 0..500 {
        if node.device_stats()[0].segment_count < before {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    assert!(
        node.device_stats()[0].segment_count < before,
        "nothing compacted"
    );
    assert_eq!(get(&node, "/a/c/39", None).await.unwrap(), body(39, 9000));
    node.shutdown().await;
}

async fn a_device_added_while_running_serves_at_once<D: DiskIo>(io: Arc<D>) {
    // A device the node was not opened with is unknown, then, once added,
    // takes objects and extents like the others; adding it again changes
    // nothing, and a restart configured with it finds what it holds.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io.clone()).await;
    let new = DeviceId(DEV.0 + 1);
    let m = meta("/a/c/o", 10, 5);
    assert!(matches!(
        put_to(&node, new, key("/a/c/o"), m.clone(), b"hello").await,
        Err(NodeError::DeviceUnavailable(_))
    ));
    let added = DeviceConfig {
        id: new,
        path: dir.path().join("added"),
    };
    assert!(node.add_device(&added).await.unwrap());
    assert!(!node.add_device(&added).await.unwrap());
    put_to(&node, new, key("/a/c/o"), m, b"hello")
        .await
        .unwrap();
    assert_eq!(
        get_from(&node, new, key("/a/c/o"), None).await.unwrap(),
        b"hello"
    );
    assert_eq!(node.local_devices(), vec![DEV, new]);
    assert_eq!(node.device_stats().len(), 2);
    node.shutdown().await;
    let mut c = cfg(dir.path());
    c.devices.push(added);
    let again = StorageNode::open(c, io).await.unwrap();
    assert_eq!(
        get_from(&again, new, key("/a/c/o"), None).await.unwrap(),
        b"hello"
    );
    again.shutdown().await;
}

async fn device_full<D: DiskIo>(io: Arc<D>) {
    // Below the reserve, small and large PUTs fail with DeviceFull and leave nothing behind; deletes still work.
    let dir = tempfile::tempdir().unwrap();
    let f = Faulty::new(io);
    let mut c = cfg(dir.path());
    c.fallocate_reserve_bytes = 1 << 30;
    let node = StorageNode::open(c, f.clone()).await.unwrap();
    f.free_override.store(2 << 30, Ordering::SeqCst);
    put(&node, "/a/c/fits", 1, &body(1, 4096)).await.unwrap();
    f.free_override.store((1 << 30) + 3000, Ordering::SeqCst);
    assert_eq!(
        put(&node, "/a/c/small", 1, &body(2, 4096)).await,
        Err(NodeError::DeviceFull)
    );
    assert_eq!(
        put(&node, "/a/c/large", 1, &body(3, 3 << 20)).await,
        Err(NodeError::DeviceFull)
    );
    assert!(node.head(DEV, key("/a/c/small")).await.is_err());
    assert!(node.head(DEV, key("/a/c/large")).await.is_err());
    assert!(files(&dir.path().join("dev1/blobs")).is_empty());
    assert!(
        node.delete(DEV, key("/a/c/fits"), "/a/c/fits", ts(2))
            .await
            .unwrap()
            .existed
    );
    f.free_override.store(2 << 30, Ordering::SeqCst);
    put(&node, "/a/c/small", 1, &body(2, 4096)).await.unwrap();
    // A reserve larger than the real disk refuses everything.
    let dir2 = tempfile::tempdir().unwrap();
    let mut c = cfg(dir2.path());
    c.fallocate_reserve_bytes = u64::MAX / 4;
    let node = StorageNode::open(c, Arc::new(StdDiskIo::new()))
        .await
        .unwrap();
    assert_eq!(
        put(&node, "/a/c/x", 1, b"x").await,
        Err(NodeError::DeviceFull)
    );
}

async fn enospc_is_device_full<D: DiskIo>(io: Arc<D>) {
    // ENOSPC from the disk (segment preallocation, blob write) is DeviceFull, leaves no
    // file behind, does not poison the device, and writes work again once space returns.
    let dir = tempfile::tempdir().unwrap();
    let f = Faulty::new(io);
    let node = open(dir.path(), f.clone()).await;
    f.enospc.store(true, Ordering::SeqCst);
    assert_eq!(
        put(&node, "/a/c/small", 1, &body(1, 4096)).await,
        Err(NodeError::DeviceFull)
    );
    assert_eq!(
        put(&node, "/a/c/large", 1, &body(2, 3 << 20)).await,
        Err(NodeError::DeviceFull)
    );
    assert!(files(&dir.path().join("dev1/blobs")).is_empty());
    assert!(files(&dir.path().join("dev1/segments")).is_empty());
    assert!(!node.device_stats()[0].poisoned);
    f.enospc.store(false, Ordering::SeqCst);
    put(&node, "/a/c/small", 1, &body(1, 4096)).await.unwrap();
    put(&node, "/a/c/large", 1, &body(2, 3 << 20))
        .await
        .unwrap();
    assert_eq!(get(&node, "/a/c/small", None).await.unwrap(), body(1, 4096));
    assert_eq!(
        get(&node, "/a/c/large", None).await.unwrap(),
        body(2, 3 << 20)
    );
}

async fn recovery_cuts_unacked_bytes<D: DiskIo>(io: Arc<D>) {
    // On open, segment bytes past the last indexed record are cut off and orphan blobs deleted.
    let dir = tempfile::tempdir().unwrap();
    let node = open(dir.path(), io.clone()).await;
    put(&node, "/a/c/a", 1, &body(1, 5000)).await.unwrap();
    put(&node, "/a/c/b", 1, &body(2, 7000)).await.unwrap();
    node.shutdown().await;
    drop(node);
    let seg = files(&dir.path().join("dev1/segments")).remove(0);
    let orphan = dir.path().join("dev1/blobs/00000000000000aa.blob");
    std::fs::write(&orphan, b"never committed").unwrap();
    let node = open(dir.path(), io.clone()).await;
    let len = std::fs::metadata(&seg).unwrap().len();
    assert!(len < 13_000, "preallocated/unacked tail cut: {len}");
    assert!(!orphan.exists());
    assert_eq!(get(&node, "/a/c/a", None).await.unwrap(), body(1, 5000));
    assert_eq!(get(&node, "/a/c/b", None).await.unwrap(), body(2, 7000));
    // New writes after recovery continue the same segment and everything still reads.
    put(&node, "/a/c/c", 1, &body(3, 100)).await.unwrap();
    assert_eq!(get(&node, "/a/c/c", None).await.unwrap(), body(3, 100));
    assert_eq!(files(&dir.path().join("dev1/segments")).len(), 1);
    node.shutdown().await;
    drop(node);
    let node = open(dir.path(), io).await;
    for (n, seed, len) in [("/a/c/a", 1, 5000), ("/a/c/b", 2, 7000), ("/a/c/c", 3, 100)] {
        assert_eq!(get(&node, n, None).await.unwrap(), body(seed, len));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn any_node_is_a_dyn_object_node() {
    // AnyStorageNode picks io_uring here and serves through Arc<dyn ObjectNode>.
    let dir = tempfile::tempdir().unwrap();
    let any = Arc::new(AnyStorageNode::open(cfg(dir.path())).await.unwrap());
    assert!(any.is_uring());
    let node: Arc<dyn ObjectNode> = any.clone();
    put(&*node, "/a/c/o", 1, b"hello").await.unwrap();
    assert_eq!(get(&*node, "/a/c/o", None).await.unwrap(), b"hello");
    assert_eq!(any.device_stats()[0].object_count, 1);
    any.shutdown().await;
    assert!(matches!(
        node.head(DEV, key("/a/c/o")).await,
        Err(NodeError::DeviceUnavailable(_))
    ));
    let _unused: Option<UringDiskIo> = None;
}
