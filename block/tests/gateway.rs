//! The gateway over the real parts (a storage node with three devices on
//! io_uring, the metadata Raft group, a ring): two gateways attaching one
//! volume (the older one is fenced), snapshots and clones, garbage
//! collection after a snapshot is deleted, a flipped byte on one
//! replica's disk (read from another replica, then repaired), and volumes
//! that keep fewer copies than the ring's replicas.

use bytes::Bytes;
use cairn_block::gateway::{CreateVolume, Gateway, Source};
use cairn_block::volume::{Backend, ExtentPlacement};
use cairn_block::{BlockError, Exports};
use cairn_nodeapi::{DeviceId, ExtentNode};
use cairn_ring::{default_ring, one_zone_per_device};
use cairn_storage_node::{AnyStorageNode, DeviceConfig, NodeConfig};
use std::os::unix::fs::FileExt;
use std::path::Path;
use std::sync::Arc;

const MIB: u64 = 1 << 20;

struct Cloud {
    _dir: tempfile::TempDir,
    root: std::path::PathBuf,
    storage: Arc<AnyStorageNode>,
    meta: Arc<cairn_meta::MetaNode>,
    ring: Arc<cairn_ring::Ring>,
}

impl Cloud {
    async fn new() -> Cloud {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().to_owned();
        let names: Vec<(String, String)> = (1..=3)
            .map(|i| ("local".to_string(), format!("d{i}")))
            .collect();
        let (_, ring) = default_ring(6, 3, 1, one_zone_per_device(&names), 0).unwrap();
        let devices = ring
            .devices()
            .iter()
            .map(|d| DeviceConfig {
                id: DeviceId(d.id),
                path: root.join(&d.name),
            })
            .collect();
        let mut cfg = NodeConfig::new(devices);
        cfg.fallocate_reserve_bytes = 0;
        let storage = Arc::new(AnyStorageNode::open(cfg).await.unwrap());
        let meta = cairn_meta::MetaNode::open_single(&root.join("meta"), 1)
            .await
            .unwrap();
        Cloud {
            _dir: dir,
            root,
            storage,
            meta,
            ring: Arc::new(ring),
        }
    }

    async fn gateway(&self, holder: &str) -> Arc<Gateway> {
        let backend = Backend {
            nodes: self.storage.clone(),
            placements: Arc::new(cairn_block::volume::Fixed(self.ring.clone())),
            records: self.meta.clone(),
        };
        Gateway::start(self.meta.clone(), backend, holder)
            .await
            .unwrap()
    }
}

fn create(name: &str, size: u64, source: Source) -> CreateVolume {
    CreateVolume {
        name: name.into(),
        account: "AUTH_test".into(),
        size: Some(size),
        source,
        replica_count: None,
    }
}

fn pat(len: usize, seed: u8) -> Bytes {
    (0..len).map(|i| (i as u8).wrapping_mul(7) ^ seed).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_gateway_fences_the_first() {
    let c = Cloud::new().await;
    let gw1 = c.gateway("gw1").await;
    let gw2 = c.gateway("gw2").await;
    gw1.create(create("v", 64 * MIB, Source::Empty))
        .await
        .unwrap();
    let old = gw1.open("v").await.unwrap();
    old.write(4096, pat(8192, 1), false).await.unwrap();
    old.flush().await.unwrap();
    let new = gw2.open("v").await.unwrap();
    assert_eq!(new.read(4096, 8192).await.unwrap(), pat(8192, 1));
    // The old gateway can neither write nor flush any more.
    assert_eq!(
        old.write(0, pat(4096, 2), false).await,
        Err(BlockError::Fenced(2))
    );
    assert_eq!(old.flush().await, Err(BlockError::Fenced(2)));
    new.write(0, pat(4096, 3), true).await.unwrap();
    assert_eq!(new.read(0, 4096).await.unwrap(), pat(4096, 3));
    let rec = gw2.show("v").await.unwrap();
    assert_eq!(rec.lease.unwrap().holder, "gw2");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_clones_and_garbage_collection() {
    let c = Cloud::new().await;
    let gw = c.gateway("gw").await;
    gw.create(create("base", 16 * MIB, Source::Empty))
        .await
        .unwrap();
    let base = gw.open("base").await.unwrap();
    base.write(0, pat(8 * MIB as usize, 1), false)
        .await
        .unwrap();
    gw.snapshot("base", "s1", false).await.unwrap();
    base.write(100, pat(1000, 2), false).await.unwrap();

    // The snapshot export reads the old bytes and refuses writes.
    let snap = gw.open("base@s1").await.unwrap();
    assert!(snap.read_only());
    assert_eq!(
        snap.read(0, 4096).await.unwrap(),
        pat(8 * MIB as usize, 1).slice(..4096)
    );
    assert_eq!(
        snap.write(0, pat(1, 0), false).await,
        Err(BlockError::ReadOnly)
    );
    let now = base.read(0, 4096).await.unwrap();
    assert_eq!(&now[100..1100], &pat(1000, 2)[..]);
    assert_eq!(
        gw.list().await.unwrap().len(),
        1,
        "snapshots are not volumes"
    );
    assert_eq!(Exports::list(&*gw).await.unwrap(), ["base", "base@s1"]);

    // Clones: from the snapshot, and from the volume as it is now.
    gw.create(create(
        "c1",
        32 * MIB,
        Source::Snapshot {
            volume: "base".into(),
            snapshot: "s1".into(),
        },
    ))
    .await
    .unwrap();
    gw.create(CreateVolume {
        size: None,
        ..create("c2", 0, Source::Volume("base".into()))
    })
    .await
    .unwrap();
    let c1 = gw.open("c1").await.unwrap();
    let c2 = gw.open("c2").await.unwrap();
    assert_eq!(c1.size(), 32 * MIB);
    assert_eq!(c2.size(), 16 * MIB);
    assert_eq!(
        c1.read(0, 4096).await.unwrap(),
        pat(8 * MIB as usize, 1).slice(..4096)
    );
    assert_eq!(&c2.read(100, 1000).await.unwrap()[..], &pat(1000, 2)[..]);
    c1.write(5 * MIB, pat(4096, 9), false).await.unwrap();
    assert_eq!(
        base.read(5 * MIB, 4096).await.unwrap(),
        pat(8 * MIB as usize, 1).slice(5 * MIB as usize..5 * MIB as usize + 4096)
    );
    assert_eq!(c1.read(5 * MIB, 4096).await.unwrap(), pat(4096, 9));
    // The snapshot cannot go while c1 depends on it; nor can base.
    assert!(gw.delete_snapshot("base", "s1").await.is_err());
    assert!(gw.delete("base").await.is_err());

    // Deleting clone and snapshot frees the old generation's extents.
    drop((c1, snap));
    gw.delete("c1").await.unwrap();
    let before = extent_files(&c.root);
    gw.delete_snapshot("base", "s1").await.unwrap();
    let after = extent_files(&c.root);
    assert!(
        after < before,
        "{after} extent files after, {before} before"
    );
    assert_eq!(&base.read(100, 1000).await.unwrap()[..], &pat(1000, 2)[..]);
    drop(c2);
    gw.delete("c2").await.unwrap();
    drop(base);
    gw.delete("base").await.unwrap();
    assert_eq!(extent_files(&c.root), 0);
}

fn extent_files(root: &Path) -> usize {
    let mut n = 0;
    for d in ["d1", "d2", "d3"] {
        let ext = root.join(d).join("extents");
        let Ok(vols) = std::fs::read_dir(&ext) else {
            continue;
        };
        for v in vols.flatten() {
            n += std::fs::read_dir(v.path())
                .map(|f| {
                    f.flatten()
                        .filter(|e| e.file_name().to_string_lossy().len() == 25)
                        .count()
                })
                .unwrap_or(0);
        }
    }
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_flipped_byte_on_one_replica_is_read_around_and_repaired() {
    let c = Cloud::new().await;
    let gw = c.gateway("gw").await;
    gw.create(create("v", 8 * MIB, Source::Empty))
        .await
        .unwrap();
    let v = gw.open("v").await.unwrap();
    v.write(0, pat(64 * 1024, 5), false).await.unwrap();
    v.flush().await.unwrap();
    // Flip a byte of extent 0 on the replica reads go to first.
    let id = gw.show("v").await.unwrap().id;
    let first = ExtentPlacement::replicas(&*c.ring, id, 0)[0];
    let name = &c.ring.device(first.0).unwrap().name;
    let file = c
        .root
        .join(name)
        .join("extents")
        .join(id.hex())
        .join(format!("{:016x}.{:08x}", 0, 0));
    let f = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .open(&file)
        .unwrap();
    let mut b = [0u8; 1];
    f.read_exact_at(&mut b, 1000).unwrap();
    f.write_all_at(&[b[0] ^ 0x40], 1000).unwrap();
    drop(f);
    // A fresh gateway (no cached knowledge) reads every byte right, from
    // whichever replicas verify.
    drop(v);
    gw.detach_all().await;
    let gw2 = c.gateway("gw2").await;
    let v = gw2.open("v").await.unwrap();
    for _ in 0..3 {
        assert_eq!(v.read(0, 64 * 1024).await.unwrap(), pat(64 * 1024, 5));
    }
    // The damaged replica was rewritten from a good one.
    let key = cairn_nodeapi::ExtentKey {
        volume: id,
        index: 0,
        generation: 0,
    };
    let fixed = c.storage.read(first, key, 0, 4096).await.unwrap().unwrap();
    assert_eq!(fixed, pat(64 * 1024, 5).slice(..4096));
}

/// The devices holding any extent of volume `id`.
async fn devices_with_extents(c: &Cloud, id: cairn_base::VolumeId) -> Vec<DeviceId> {
    let mut out = Vec::new();
    for d in ExtentPlacement::devices(&*c.ring) {
        if !c.storage.list(d, id).await.unwrap().is_empty() {
            out.push(d);
        }
    }
    out
}

/// A volume created to keep one copy has every extent on exactly one
/// device (its first ring primary), reads back after a fresh attach, and
/// its clones keep one too unless they ask otherwise; counts outside 1 to
/// the ring's 3 are refused.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_one_replica_volume_lives_on_one_device() {
    let c = Cloud::new().await;
    let gw = c.gateway("gw").await;
    assert_eq!(gw.replica_count_max(), 3);
    for bad in [0, 4] {
        let refused = gw
            .create(CreateVolume {
                replica_count: Some(bad),
                ..create("bad", 8 * MIB, Source::Empty)
            })
            .await;
        assert!(refused.is_err(), "{bad} replicas were accepted");
    }
    let rec = gw
        .create(CreateVolume {
            replica_count: Some(1),
            ..create("one", 8 * MIB, Source::Empty)
        })
        .await
        .unwrap();
    assert_eq!(rec.replica_count, Some(1));
    let v = gw.open("one").await.unwrap();
    // Extent 0 and extent 1 (4 MiB each).
    v.write(4 * MIB - 4096, pat(8192, 3), true).await.unwrap();
    for index in [0, 1] {
        let first = ExtentPlacement::replicas(&*c.ring, rec.id, index)[0];
        let key = cairn_nodeapi::ExtentKey {
            volume: rec.id,
            index,
            generation: 0,
        };
        for d in ExtentPlacement::devices(&*c.ring) {
            let held = c.storage.read(d, key, 0, 1).await.unwrap().is_some();
            assert_eq!(held, d == first, "extent {index} on device {}", d.0);
        }
    }
    drop(v);
    gw.detach_all().await;
    let gw2 = c.gateway("gw2").await;
    let v = gw2.open("one").await.unwrap();
    assert_eq!(v.read(4 * MIB - 4096, 8192).await.unwrap(), pat(8192, 3));

    // A clone keeps the source's count; one that asks keeps its own.
    let same = gw2
        .create(CreateVolume {
            size: None,
            ..create("same", 0, Source::Volume("one".into()))
        })
        .await
        .unwrap();
    assert_eq!(same.replica_count, Some(1));
    let three = gw2
        .create(CreateVolume {
            size: None,
            replica_count: Some(3),
            ..create("three", 0, Source::Volume("one".into()))
        })
        .await
        .unwrap();
    let t = gw2.open("three").await.unwrap();
    assert_eq!(t.read(4 * MIB - 4096, 8192).await.unwrap(), pat(8192, 3));
    t.write(0, pat(4096, 4), true).await.unwrap();
    assert_eq!(devices_with_extents(&c, three.id).await.len(), 3);
    assert_eq!(t.read(0, 4096).await.unwrap(), pat(4096, 4));
}
