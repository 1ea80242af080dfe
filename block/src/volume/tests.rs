//! The volume logic over an in-memory extent service with three devices:
//! reads of holes, writes across extents, copy-on-write after a snapshot,
//! clones reading through, discards, the allocation map, fencing of a stale
//! epoch, repair of a replica that fails its checksums, volumes that keep
//! fewer copies than the ring has replicas, and quorum writes with a
//! device down: the replica that missed them is marked degraded (durably),
//! never read, and repaired.

use super::*;
use async_trait::async_trait;
use cairn_meta_api::records::MemoryRecords;
use cairn_nodeapi::NodeError;
use std::collections::{HashMap, HashSet};
use std::sync::Mutex;

const ES: u32 = 64 * 1024;

#[derive(Default)]
struct MemNode {
    extents: Mutex<HashMap<(DeviceId, ExtentKey), Vec<u8>>>,
    fences: Mutex<HashMap<(DeviceId, VolumeId), u64>>,
    /// Extents whose next read on a device reports a checksum failure.
    corrupt: Mutex<Vec<(DeviceId, ExtentKey)>>,
    /// Devices that fail every call, as if their node were down.
    down: Mutex<HashSet<DeviceId>>,
    /// The metadata group's record tables (degraded marks).
    records: Arc<MemoryRecords>,
}

impl MemNode {
    fn up(&self, d: DeviceId) -> Result<(), NodeError> {
        match self.down.lock().unwrap().contains(&d) {
            true => Err(NodeError::Io(format!("device {} is down", d.0))),
            false => Ok(()),
        }
    }

    fn check(&self, d: DeviceId, v: VolumeId, e: Epoch) -> Result<(), NodeError> {
        self.up(d)?;
        let mut f = self.fences.lock().unwrap();
        let cur = f.entry((d, v)).or_insert(0);
        if e.0 < *cur {
            return Err(NodeError::Fenced { current: *cur });
        }
        *cur = e.0;
        Ok(())
    }
}

#[async_trait]
impl ExtentNode for MemNode {
    async fn fence(&self, d: DeviceId, v: VolumeId, e: Epoch) -> Result<(), NodeError> {
        self.check(d, v, e)
    }
    async fn write(&self, d: DeviceId, k: ExtentKey, w: ExtentWrite) -> Result<(), NodeError> {
        self.check(d, k.volume, w.epoch)?;
        let mut x = self.extents.lock().unwrap();
        let e = x
            .entry((d, k))
            .or_insert_with(|| vec![0; w.extent_size as usize]);
        e[w.offset as usize..w.offset as usize + w.data.len()].copy_from_slice(&w.data);
        Ok(())
    }
    async fn read(
        &self,
        d: DeviceId,
        k: ExtentKey,
        o: u32,
        l: u32,
    ) -> Result<Option<Bytes>, NodeError> {
        self.up(d)?;
        let mut bad = self.corrupt.lock().unwrap();
        if let Some(i) = bad.iter().position(|x| *x == (d, k)) {
            bad.remove(i);
            return Err(NodeError::Corrupt);
        }
        let x = self.extents.lock().unwrap();
        Ok(x.get(&(d, k))
            .map(|e| Bytes::copy_from_slice(&e[o as usize..(o + l) as usize])))
    }
    async fn discard(
        &self,
        d: DeviceId,
        k: ExtentKey,
        ep: Epoch,
        o: u32,
        l: u32,
        _: bool,
    ) -> Result<(), NodeError> {
        self.check(d, k.volume, ep)?;
        if let Some(e) = self.extents.lock().unwrap().get_mut(&(d, k)) {
            e[o as usize..(o + l) as usize].fill(0);
        }
        Ok(())
    }
    async fn flush(&self, d: DeviceId, v: VolumeId, e: Epoch) -> Result<(), NodeError> {
        self.check(d, v, e)
    }
    async fn copy(
        &self,
        d: DeviceId,
        from: ExtentKey,
        to: ExtentKey,
        extent_size: u32,
        e: Epoch,
    ) -> Result<(), NodeError> {
        self.check(d, to.volume, e)?;
        let mut x = self.extents.lock().unwrap();
        // A device that missed the source's creation starts the copy empty.
        let src = x
            .get(&(d, from))
            .cloned()
            .unwrap_or_else(|| vec![0; extent_size as usize]);
        x.entry((d, to)).or_insert(src);
        Ok(())
    }
    async fn allocation(
        &self,
        d: DeviceId,
        k: ExtentKey,
        _: u32,
        _: u32,
    ) -> Result<Option<Vec<(u32, u32)>>, NodeError> {
        self.up(d)?;
        let x = self.extents.lock().unwrap();
        Ok(x.get(&(d, k)).map(|e| {
            // Allocated where any byte of a 4 KiB block is non-zero.
            let mut runs: Vec<(u32, u32)> = Vec::new();
            for (b, block) in e.chunks(4096).enumerate() {
                if block.iter().any(|&x| x != 0) {
                    let (s, t) = (b as u32 * 4096, (b as u32 + 1) * 4096);
                    match runs.last_mut() {
                        Some(r) if r.1 == s => r.1 = t,
                        _ => runs.push((s, t)),
                    }
                }
            }
            runs
        }))
    }
    async fn list(&self, d: DeviceId, v: VolumeId) -> Result<Vec<(u64, u32)>, NodeError> {
        self.up(d)?;
        let x = self.extents.lock().unwrap();
        Ok(x.keys()
            .filter(|(dd, k)| *dd == d && k.volume == v)
            .map(|(_, k)| (k.index, k.generation))
            .collect())
    }
    async fn remove(
        &self,
        d: DeviceId,
        v: VolumeId,
        which: Option<&[(u64, u32)]>,
    ) -> Result<(), NodeError> {
        self.extents.lock().unwrap().retain(|(dd, k), _| {
            !(*dd == d
                && k.volume == v
                && which.is_none_or(|w| w.contains(&(k.index, k.generation))))
        });
        Ok(())
    }
}

/// Three devices; extent `i` lives on all of them, primary `i % 3` first.
struct ThreeDevices;

impl ExtentPlacement for ThreeDevices {
    fn replicas(&self, _: VolumeId, index: u64) -> Vec<DeviceId> {
        (0..3).map(|k| DeviceId(((index + k) % 3) as u32)).collect()
    }
    fn devices(&self) -> Vec<DeviceId> {
        (0..3).map(DeviceId).collect()
    }
    fn replica_count(&self) -> usize {
        3
    }
}

fn backend(node: &Arc<MemNode>) -> Backend {
    Backend {
        nodes: node.clone(),
        placement: Arc::new(ThreeDevices),
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
    let layer = Arc::new(Layer::new(one, Some(1), 0, ExtentMap::default(), None));
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
    let snap = Arc::new(Layer::new(one, Some(1), 0, layer.snapshot_map(), None));
    let two = VolumeId([2; 16]);
    let clone = attach(
        &node,
        Some(1),
        Arc::new(Layer::new(
            two,
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
