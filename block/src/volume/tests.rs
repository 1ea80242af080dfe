//! The volume logic over an in-memory extent service with three devices:
//! reads of holes, writes across extents, copy-on-write after a snapshot,
//! clones reading through, discards, the allocation map, fencing of a stale
//! epoch, repair of a replica that fails its checksums, volumes that keep
//! fewer copies than the ring has replicas, and quorum writes with a
//! device down: the replica that missed them is marked degraded (durably),
//! never read, and repaired; and a volume attached while a device was
//! down, which is not read until the repairer has fenced and repaired it.

use super::testing::{MemNode, ThreeDevices};
use super::*;
use cairn_nodeapi::NodeError;

const ES: u32 = 64 * 1024;

fn backend(node: &Arc<MemNode>) -> Backend {
    Backend {
        nodes: node.clone(),
        placements: Arc::new(Fixed(Arc::new(ThreeDevices))),
        records: node.records.clone(),
    }
}

fn attach(node: &Arc<MemNode>, epoch: Option<u64>, layer: Arc<Layer>) -> Volume {
    Volume::new(
        Attachment {
            name: "v".into(),
            size: 4 * u64::from(ES),
            extent_size: ES,
            epoch: epoch.map(Epoch),
            layer,
        },
        backend(node),
    )
}

fn fresh_layer(id: u8, generation: u32) -> Arc<Layer> {
    Arc::new(Layer::new(
        VolumeId([id; 16]),
        Arc::new(ThreeDevices),
        None,
        generation,
        ExtentMap::default(),
        None,
    ))
}

fn pat(len: usize, seed: u8) -> Bytes {
    (0..len).map(|i| (i as u8).wrapping_add(seed)).collect()
}

#[tokio::test]
async fn writes_span_extents_and_holes_read_as_zeros() {
    let node = Arc::new(MemNode::default());
    let v = attach(&node, Some(1), fresh_layer(1, 0));
    assert_eq!(v.read(0, 100).await.unwrap(), Bytes::from(vec![0u8; 100]));
    // 100 bytes straddling extents 0 and 1.
    v.write(u64::from(ES) - 50, pat(100, 3), false)
        .await
        .unwrap();
    assert_eq!(v.read(u64::from(ES) - 50, 100).await.unwrap(), pat(100, 3));
    // Every replica holds it.
    assert_eq!(node.extents.lock().unwrap().len(), 6);
    let runs = v.allocation(0, 4 * u64::from(ES)).await.unwrap();
    assert_eq!(
        runs,
        vec![
            AllocRun {
                len: u64::from(ES) - 4096,
                allocated: false
            },
            AllocRun {
                len: 8192,
                allocated: true
            },
            AllocRun {
                len: 3 * u64::from(ES) - 4096,
                allocated: false
            },
        ]
    );
    assert!(matches!(
        v.write(4 * u64::from(ES) - 1, pat(2, 0), false).await,
        Err(BlockError::OutOfRange { .. })
    ));
    v.discard(u64::from(ES) - 4096, 8192).await.unwrap();
    assert_eq!(
        v.read(u64::from(ES) - 50, 100).await.unwrap(),
        Bytes::from(vec![0u8; 100])
    );
    v.flush().await.unwrap();
}

#[tokio::test]
async fn snapshots_copy_on_write_and_clones_read_through() {
    let node = Arc::new(MemNode::default());
    let layer = fresh_layer(1, 0);
    let v = attach(&node, Some(1), layer.clone());
    v.write(0, pat(ES as usize, 1), false).await.unwrap();
    // Snapshot at generation 0; writes now go to generation 1.
    v.advance_generation(async { Ok(((), 1)) }).await.unwrap();
    v.write(10, pat(10, 9), false).await.unwrap();
    let head = v.read(0, ES).await.unwrap();
    assert_eq!(&head[10..20], &pat(10, 9)[..]);
    assert_eq!(&head[20..], &pat(ES as usize, 1)[20..]);
    // The snapshot still reads the old bytes.
    let snap_layer = Arc::new(Layer::new(
        layer.volume,
        Arc::new(ThreeDevices),
        None,
        0,
        layer.snapshot_map(),
        None,
    ));
    let snap = attach(&node, None, snap_layer.clone());
    assert_eq!(snap.read(0, ES).await.unwrap(), pat(ES as usize, 1));
    assert_eq!(
        snap.write(0, pat(1, 0), false).await,
        Err(BlockError::ReadOnly)
    );
    // A clone of the snapshot reads through, and writes only its own copy.
    let clone = attach(
        &node,
        Some(1),
        Arc::new(Layer::new(
            VolumeId([2; 16]),
            Arc::new(ThreeDevices),
            None,
            0,
            ExtentMap::default(),
            Some(snap_layer),
        )),
    );
    assert_eq!(clone.read(0, ES).await.unwrap(), pat(ES as usize, 1));
    clone.write(100, pat(5, 7), false).await.unwrap();
    let c = clone.read(0, ES).await.unwrap();
    assert_eq!(&c[100..105], &pat(5, 7)[..]);
    assert_eq!(&c[..100], &pat(ES as usize, 1)[..100]);
    assert_eq!(
        snap.read(100, 5).await.unwrap(),
        pat(ES as usize, 1).slice(100..105)
    );
    // Unreachable extents once the snapshot is gone: generation 0 of extent 0.
    assert_eq!(layer.snapshot_map().unreachable(&[1]), vec![(0, 0)]);
}

#[tokio::test]
async fn a_stale_epoch_is_fenced() {
    let node = Arc::new(MemNode::default());
    let layer = fresh_layer(1, 0);
    let old = attach(&node, Some(1), layer.clone());
    old.write(0, pat(4096, 1), false).await.unwrap();
    let new = attach(&node, Some(2), layer);
    for d in ThreeDevices.devices() {
        node.fence(d, VolumeId([1; 16]), Epoch(2)).await.unwrap();
    }
    new.write(0, pat(4096, 2), false).await.unwrap();
    assert_eq!(
        old.write(0, pat(4096, 3), false).await,
        Err(BlockError::Fenced(2))
    );
    assert_eq!(old.flush().await, Err(BlockError::Fenced(2)));
    assert_eq!(new.read(0, 4096).await.unwrap(), pat(4096, 2));
}

#[tokio::test]
async fn a_corrupt_replica_is_skipped_and_repaired() {
    let node = Arc::new(MemNode::default());
    let v = attach(&node, Some(1), fresh_layer(1, 0));
    v.write(0, pat(8192, 1), false).await.unwrap();
    let key = ExtentKey {
        volume: VolumeId([1; 16]),
        index: 0,
        generation: 0,
    };
    node.corrupt.lock().unwrap().push((DeviceId(0), key));
    // Damage the bytes too, so the repair is visible.
    node.extents
        .lock()
        .unwrap()
        .get_mut(&(DeviceId(0), key))
        .unwrap()[5] ^= 0xff;
    assert_eq!(v.read(0, 8192).await.unwrap(), pat(8192, 1));
    let repaired = node.extents.lock().unwrap()[&(DeviceId(0), key)][..8192].to_vec();
    assert_eq!(&repaired[..], &pat(8192, 1)[..]);
}

/// The devices holding some generation of extent `index` of `volume`.
fn holders(node: &MemNode, volume: VolumeId, index: u64) -> Vec<DeviceId> {
    let mut d: Vec<DeviceId> = node
        .extents
        .lock()
        .unwrap()
        .keys()
        .filter(|(_, k)| k.volume == volume && k.index == index)
        .map(|(d, _)| *d)
        .collect();
    d.sort_by_key(|d| d.0);
    d.dedup();
    d
}

/// A volume keeping one copy writes, copies forward and discards on the
/// extent's first replica only and reads it back from there; a clone of it
/// keeping two reads the parent's one copy and writes its own two.
#[tokio::test]
async fn a_volume_keeps_only_its_replica_count() {
    let node = Arc::new(MemNode::default());
    let one = VolumeId([1; 16]);
    let layer = Arc::new(Layer::new(
        one,
        Arc::new(ThreeDevices),
        Some(1),
        0,
        ExtentMap::default(),
        None,
    ));
    let v = attach(&node, Some(1), layer.clone());
    // Extents 0 and 1: first replicas are devices 0 and 1.
    v.write(u64::from(ES) - 50, pat(100, 3), false)
        .await
        .unwrap();
    assert_eq!(holders(&node, one, 0), [DeviceId(0)]);
    assert_eq!(holders(&node, one, 1), [DeviceId(1)]);
    assert_eq!(node.extents.lock().unwrap().len(), 2);
    assert_eq!(v.read(u64::from(ES) - 50, 100).await.unwrap(), pat(100, 3));
    // Copy-on-write after a snapshot stays on the one device.
    v.advance_generation(async { Ok(((), 1)) }).await.unwrap();
    v.write(10, pat(10, 9), false).await.unwrap();
    assert_eq!(holders(&node, one, 0), [DeviceId(0)]);
    v.discard(0, 4096).await.unwrap();
    assert_eq!(node.extents.lock().unwrap().len(), 3);
    // Losing that one copy loses the data: nothing else holds it.
    node.corrupt.lock().unwrap().push((
        DeviceId(1),
        ExtentKey {
            volume: one,
            index: 1,
            generation: 0,
        },
    ));
    assert!(v.read(u64::from(ES), 10).await.is_err());

    // A two-copy clone of the snapshot reads through to the one copy and
    // writes both of its own.
    let snap = Arc::new(Layer::new(
        one,
        Arc::new(ThreeDevices),
        Some(1),
        0,
        layer.snapshot_map(),
        None,
    ));
    let two = VolumeId([2; 16]);
    let clone = attach(
        &node,
        Some(1),
        Arc::new(Layer::new(
            two,
            Arc::new(ThreeDevices),
            Some(2),
            0,
            ExtentMap::default(),
            Some(snap),
        )),
    );
    assert_eq!(
        clone.read(u64::from(ES) - 50, 100).await.unwrap(),
        pat(100, 3)
    );
    clone.write(u64::from(ES), pat(8, 4), false).await.unwrap();
    assert_eq!(holders(&node, two, 1), [DeviceId(1), DeviceId(2)]);
    let c = clone.read(u64::from(ES) - 50, 100).await.unwrap();
    assert_eq!(&c[..50], &pat(100, 3)[..50]);
    assert_eq!(&c[50..58], &pat(8, 4)[..]);
}

fn key0(generation: u32) -> ExtentKey {
    ExtentKey {
        volume: VolumeId([1; 16]),
        index: 0,
        generation,
    }
}

/// The bytes device `d` holds of `key` at `[0, len)`.
fn raw(node: &MemNode, d: DeviceId, key: ExtentKey, len: usize) -> Vec<u8> {
    node.extents.lock().unwrap()[&(d, key)][..len].to_vec()
}

/// The degraded-replica records of the metadata tables.
async fn recorded(node: &MemNode) -> usize {
    node.records
        .scan(DEGRADED_TABLE, "", None, 100)
        .await
        .unwrap()
        .len()
}

/// With one of three devices down a write still succeeds (2 of 3); the
/// device that missed it is marked, in memory and in the record tables,
/// and once it is back no reader (this gateway, or a new one after a
/// crash) reads its stale bytes; the new gateway's repair copies the
/// extent back and clears the mark.
#[tokio::test]
async fn one_device_down_writes_go_on_and_the_missed_replica_is_repaired() {
    let node = Arc::new(MemNode::default());
    let layer = fresh_layer(1, 0);
    let v = attach(&node, Some(1), layer.clone());
    v.write(0, pat(8192, 1), false).await.unwrap();
    node.down.lock().unwrap().insert(DeviceId(0));
    v.write(0, pat(8192, 2), false).await.unwrap();
    v.flush().await.unwrap();
    let mark = Mark {
        index: 0,
        generation: 0,
        device: DeviceId(0),
    };
    assert_eq!(layer.degraded.marks().len(), 1);
    assert_eq!(layer.degraded.marks()[0].0, mark);
    assert_eq!(recorded(&node).await, 1);

    // Device 0 returns with the old bytes; extent 0 reads from it first
    // unless it is skipped.
    node.down.lock().unwrap().clear();
    assert_eq!(raw(&node, DeviceId(0), key0(0), 8192), &pat(8192, 1)[..]);
    for _ in 0..3 {
        assert_eq!(v.read(0, 8192).await.unwrap(), pat(8192, 2));
    }

    // A new gateway (the first one crashed) learns the mark from the records.
    let after = Arc::new(Layer::new(
        VolumeId([1; 16]),
        Arc::new(ThreeDevices),
        None,
        0,
        layer.snapshot_map(),
        None,
    ));
    after
        .degraded
        .load(&*node.records, VolumeId([1; 16]))
        .await
        .unwrap();
    let v2 = attach(&node, Some(2), after.clone());
    for d in ThreeDevices.devices() {
        node.fence(d, VolumeId([1; 16]), Epoch(2)).await.unwrap();
    }
    assert_eq!(v2.read(0, 8192).await.unwrap(), pat(8192, 2));
    assert_eq!(v2.repair_degraded().await, 0);
    assert_eq!(raw(&node, DeviceId(0), key0(0), 8192), &pat(8192, 2)[..]);
    assert_eq!(recorded(&node).await, 0);
    // The old gateway is fenced: it can neither write nor repair.
    assert_eq!(
        v.write(0, pat(10, 3), false).await,
        Err(BlockError::Fenced(2))
    );
}

/// Repair of a replica whose device is still down fails and keeps the
/// mark; a replica degraded at a generation is degraded at the generation
/// copy-on-write moves it to.
#[tokio::test]
async fn marks_survive_a_failed_repair_and_follow_copy_forward() {
    let node = Arc::new(MemNode::default());
    let layer = fresh_layer(1, 0);
    let v = attach(&node, Some(1), layer.clone());
    node.down.lock().unwrap().insert(DeviceId(2));
    v.write(0, pat(8192, 1), false).await.unwrap();
    assert_eq!(v.repair_degraded().await, 1);
    node.down.lock().unwrap().clear();
    v.advance_generation(async { Ok(((), 1)) }).await.unwrap();
    v.write(10, pat(10, 9), false).await.unwrap();
    let marked: Vec<(u64, u32, u32)> = layer
        .degraded
        .marks()
        .iter()
        .map(|(m, _)| (m.index, m.generation, m.device.0))
        .collect();
    assert_eq!(marked, vec![(0, 0, 2), (0, 1, 2)]);
    assert_eq!(v.repair_degraded().await, 0);
    let head = v.read(0, 8192).await.unwrap();
    assert_eq!(raw(&node, DeviceId(2), key0(1), 8192), &head[..]);
    assert_eq!(raw(&node, DeviceId(2), key0(0), 8192), &pat(8192, 1)[..]);
}

/// With two of three devices down a write fails with an I/O error and a
/// flush owing an extent fails too; nothing is marked.
#[tokio::test]
async fn two_devices_down_writes_fail() {
    let node = Arc::new(MemNode::default());
    let layer = fresh_layer(1, 0);
    let v = attach(&node, Some(1), layer.clone());
    v.write(0, pat(4096, 1), false).await.unwrap();
    node.down.lock().unwrap().extend([DeviceId(0), DeviceId(1)]);
    assert!(matches!(
        v.write(0, pat(4096, 2), false).await,
        Err(BlockError::Io(_))
    ));
    assert!(matches!(v.flush().await, Err(BlockError::Io(_))));
    assert!(layer.degraded.is_empty());
    // Back up: the owed extent flushes.
    node.down.lock().unwrap().clear();
    v.flush().await.unwrap();
}

/// A flush that misses one replica of an extent written since the last
/// flush succeeds on the other two and marks the one it missed.
#[tokio::test]
async fn a_flush_missing_a_replica_marks_it() {
    let node = Arc::new(MemNode::default());
    let layer = fresh_layer(1, 0);
    let v = attach(&node, Some(1), layer.clone());
    v.write(0, pat(4096, 1), false).await.unwrap();
    node.down.lock().unwrap().insert(DeviceId(1));
    v.flush().await.unwrap();
    let marked: Vec<Mark> = layer.degraded.marks().iter().map(|(m, _)| *m).collect();
    assert_eq!(
        marked,
        vec![Mark {
            index: 0,
            generation: 0,
            device: DeviceId(1)
        }]
    );
    // Nothing is owed any more: the next flush marks nothing new.
    v.flush().await.unwrap();
    assert_eq!(recorded(&node).await, 1);
}

/// The attach of epoch 2 with device 0 down, as the gateway does it: the
/// fence raised on the devices that answer, device 0 recorded unfenced.
async fn attach_without(node: &Arc<MemNode>, layer: Arc<Layer>, down: DeviceId) -> Volume {
    let volume = layer.volume;
    for d in ThreeDevices.devices().into_iter().filter(|&d| d != down) {
        node.fence(d, volume, Epoch(2)).await.unwrap();
    }
    layer
        .unfenced
        .record(&*node.records, volume, &[down], Epoch(2))
        .await
        .unwrap();
    attach(node, Some(2), layer)
}

/// The unfenced-device records of the metadata tables.
async fn unfenced_recorded(node: &MemNode) -> usize {
    node.records
        .scan(UNFENCED_TABLE, "", None, 100)
        .await
        .unwrap()
        .len()
}

/// A volume attached while device 0 was down (its mark recorded) reads
/// only from the other two, even after device 0 returns with old bytes and
/// the old gateway, not fenced there, writes to it; a write whose only
/// other acknowledgement is one replica fails (device 0's does not count);
/// the repair fences device 0, copies back every extent and clears the
/// mark, after which the old gateway is refused there too.
#[tokio::test]
async fn a_device_the_attach_could_not_fence_is_not_read_until_fenced_and_repaired() {
    let node = Arc::new(MemNode::default());
    let volume = VolumeId([1; 16]);
    let first = fresh_layer(1, 0);
    let old = attach(&node, Some(1), first.clone());
    // Extents 0 and 1 on all three devices; extent 0 reads device 0 first.
    old.write(0, pat(2 * ES as usize, 1), false).await.unwrap();
    node.down.lock().unwrap().insert(DeviceId(0));

    let layer = Arc::new(Layer::new(
        volume,
        Arc::new(ThreeDevices),
        None,
        0,
        first.snapshot_map(),
        None,
    ));
    layer.degraded.load(&*node.records, volume).await.unwrap();
    let v = attach_without(&node, layer.clone(), DeviceId(0)).await;
    assert_eq!(unfenced_recorded(&node).await, 1);
    v.write(0, pat(8192, 2), false).await.unwrap();
    v.write(2 * u64::from(ES), pat(100, 3), false)
        .await
        .unwrap();
    v.flush().await.unwrap();

    // Device 0 returns holding the old bytes, and the old gateway (epoch
    // 1, not fenced there) still writes to it.
    node.down.lock().unwrap().clear();
    assert_eq!(raw(&node, DeviceId(0), key0(0), 8192), &pat(8192, 1)[..]);
    let stale = old.write(4096, pat(4096, 9), false).await;
    assert_eq!(stale, Err(BlockError::Fenced(2)));
    assert_eq!(
        raw(&node, DeviceId(0), key0(0), 8192)[4096..],
        pat(4096, 9)[..]
    );
    for _ in 0..3 {
        assert_eq!(v.read(0, 8192).await.unwrap(), pat(8192, 2));
        assert_eq!(v.read(2 * u64::from(ES), 100).await.unwrap(), pat(100, 3));
    }
    // Device 0's acknowledgement does not count: with device 1 down too,
    // one replica is left and the write fails.
    node.down.lock().unwrap().insert(DeviceId(1));
    assert!(matches!(
        v.write(0, pat(10, 4), false).await,
        Err(BlockError::Io(_))
    ));
    node.down.lock().unwrap().clear();
    // The failed write reached device 2 alone; written again, every
    // replica holds it.
    v.write(0, pat(10, 4), false).await.unwrap();

    // A repair pass that cannot reach the device keeps the mark.
    node.down.lock().unwrap().insert(DeviceId(0));
    assert!(v.repair_degraded().await > 0);
    assert_eq!(unfenced_recorded(&node).await, 1);
    node.down.lock().unwrap().clear();
    assert_eq!(v.repair_degraded().await, 0);
    assert_eq!(unfenced_recorded(&node).await, 0);
    assert_eq!(recorded(&node).await, 0);
    assert!(layer.unfenced.is_empty());
    // Every extent of the volume on device 0 now matches the others.
    for index in 0..3 {
        let key = ExtentKey {
            volume,
            index,
            generation: 0,
        };
        let good = raw(&node, DeviceId(2), key, ES as usize);
        assert_eq!(raw(&node, DeviceId(0), key, ES as usize), good);
    }
    // The old gateway cannot write there any more; reads may use it.
    assert_eq!(
        old.write(0, pat(10, 5), false).await,
        Err(BlockError::Fenced(2))
    );
    let before = raw(&node, DeviceId(0), key0(0), ES as usize);
    assert!(matches!(
        node.write(
            DeviceId(0),
            key0(0),
            ExtentWrite {
                extent_size: ES,
                epoch: Epoch(1),
                offset: 0,
                data: pat(10, 6),
                fua: false,
            }
        )
        .await,
        Err(NodeError::Fenced { current: 2 })
    ));
    assert_eq!(raw(&node, DeviceId(0), key0(0), ES as usize), before);
    assert_eq!(v.read(0, 8192).await.unwrap(), {
        let mut want = pat(8192, 2).to_vec();
        want[..10].copy_from_slice(&pat(10, 4));
        Bytes::from(want)
    });
}
