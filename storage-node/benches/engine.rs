//! Micro-benchmarks of the object engine: 4 KiB PUTs (concurrent, so they
//! group-commit) and 4 KiB GETs, on io_uring, in a temporary directory.
//! Quick by design: `cargo bench -p cairn-storage-node` takes seconds.

use bytes::Bytes;
use cairn_base::Timestamp;
use cairn_diskio::UringDiskIo;
use cairn_nodeapi::{ChunkDigests, DeviceId, Frame, ObjectKey, ObjectMeta, ObjectNode, PutChunk};
use cairn_storage_node::{DeviceConfig, NodeConfig, StorageNode};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::mpsc;

const DEV: DeviceId = DeviceId(0);
/// PUTs in flight at once in the PUT benchmark.
const CONCURRENT_PUTS: u64 = 64;

fn key(i: u64) -> ObjectKey {
    let h = blake3::hash(&i.to_le_bytes());
    let mut hash = [0u8; 16];
    hash.copy_from_slice(&h.as_bytes()[..16]);
    ObjectKey {
        partition: (i % 1024) as u32,
        hash,
    }
}

async fn put(node: &StorageNode<UringDiskIo>, i: u64, data: Bytes) {
    let (tx, rx) = mpsc::channel(2);
    let meta = ObjectMeta {
        name: format!("/AUTH_bench/c/o{i}"),
        data_ts: Timestamp::from_ticks(1_000_000 + i),
        meta_ts: Timestamp::from_ticks(1_000_000 + i),
        content_length: data.len() as u64,
        etag: "d41d8cd98f00b204e9800998ecf8427e".into(),
        content_type: "application/octet-stream".into(),
        headers: vec![],
    };
    let digests = ChunkDigests::of(&data);
    tx.send(PutChunk::Data(Frame::new(data))).await.unwrap();
    tx.send(PutChunk::End(meta, digests)).await.unwrap();
    node.put(DEV, key(i), rx).await.unwrap();
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = NodeConfig::new(vec![DeviceConfig {
        id: DEV,
        path: dir.path().join("dev0"),
    }]);
    cfg.fallocate_reserve_bytes = 0;
    let io = Arc::new(UringDiskIo::new().expect("io_uring"));
    let node = Arc::new(rt.block_on(StorageNode::open(cfg, io)).unwrap());
    let data = Bytes::from(vec![0xAB; 4096]);
    let next = AtomicU64::new(0);

    let mut g = c.benchmark_group("engine");
    g.sample_size(10)
        .warm_up_time(Duration::from_millis(500))
        .measurement_time(Duration::from_secs(2));
    g.throughput(Throughput::Elements(CONCURRENT_PUTS));
    g.bench_function("put_4k_x64_concurrent", |b| {
        b.iter(|| {
            let base = next.fetch_add(CONCURRENT_PUTS, Ordering::Relaxed);
            rt.block_on(async {
                let mut tasks = Vec::new();
                for i in base..base + CONCURRENT_PUTS {
                    let (node, data) = (node.clone(), data.clone());
                    tasks.push(tokio::spawn(async move { put(&node, i, data).await }));
                }
                for t in tasks {
                    t.await.unwrap();
                }
            })
        })
    });
    g.throughput(Throughput::Elements(1));
    let stored = next.load(Ordering::Relaxed).max(1);
    let mut i = 0u64;
    g.bench_function("get_4k", |b| {
        b.iter(|| {
            i = (i + 7919) % stored;
            rt.block_on(async {
                let mut s = node.get(DEV, key(i), None).await.unwrap();
                while let Some(f) = s.body.recv().await {
                    f.unwrap();
                }
            })
        })
    });
    g.finish();
    rt.block_on(node.shutdown());
}

criterion_group!(benches, bench);
criterion_main!(benches);
