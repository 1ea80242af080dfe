//! The replicator and the auditor over real devices: one storage node with
//! four devices in a tempdir, a real ring (3 replicas, so every partition has
//! one handoff), and replicas made to diverge by writing to some devices only;
//! each run with both `DiskIo` implementations.

#[macro_use]
mod common;

use async_trait::async_trait;
use cairn_base::{Clock, Timestamp};
use cairn_diskio::DiskIo;
use cairn_nodeapi::{
    ByteRange, DeleteOutcome, DeviceId, EntryVersion, GetStream, NodeError, NodeId, ObjectKey,
    ObjectMeta, ObjectNode, PartitionDigest, PostRequest, PutAck, PutChunk,
};
use cairn_ring::{one_zone_per_device, Ring, RingBuilder};
use cairn_storage_node::replicator::{Replicator, ReplicatorConfig, RECLAIM_AGE_SECS_DEFAULT};
use cairn_storage_node::{StorageNode, CHUNK_BYTES};
use common::*;
use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use tokio::sync::mpsc;

both!(
    missing_replica_is_restored,
    delete_reaches_every_primary,
    post_reaches_every_primary,
    handoff_data_moves_home,
    handoff_kept_while_a_primary_is_down,
    audited_corruption_is_repaired,
    old_tombstones_are_reclaimed,
    reclaim_scans_at_most_24_times_per_age,
    a_full_primary_gets_a_stand_in,
);

/// The clock the replicator sees: 1000 s after the objects' base time.
struct FixedClock;

impl Clock for FixedClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_secs(1_700_001_000)
    }
}

/// A clock a test moves: `FixedClock`'s time plus the seconds it was advanced.
#[derive(Default)]
struct StepClock(AtomicU64);

impl StepClock {
    fn advance(&self, secs: u64) {
        self.0.fetch_add(secs, Ordering::Relaxed);
    }
}

impl Clock for StepClock {
    fn now(&self) -> Timestamp {
        Timestamp::from_secs(FixedClock.now().secs() + self.0.load(Ordering::Relaxed))
    }
}

/// A node that is down: every request fails as unreachable.
struct Down;

fn down<T>() -> Result<T, NodeError> {
    Err(NodeError::Unreachable("down".into()))
}

#[async_trait]
impl ObjectNode for Down {
    async fn put(
        &self,
        _: DeviceId,
        _: ObjectKey,
        _: mpsc::Receiver<PutChunk>,
    ) -> Result<PutAck, NodeError> {
        down()
    }
    async fn get(
        &self,
        _: DeviceId,
        _: ObjectKey,
        _: Option<ByteRange>,
    ) -> Result<GetStream, NodeError> {
        down()
    }
    async fn head(&self, _: DeviceId, _: ObjectKey) -> Result<ObjectMeta, NodeError> {
        down()
    }
    async fn delete(
        &self,
        _: DeviceId,
        _: ObjectKey,
        _: &str,
        _: Timestamp,
    ) -> Result<DeleteOutcome, NodeError> {
        down()
    }
    async fn post(
        &self,
        _: DeviceId,
        _: ObjectKey,
        _: PostRequest,
    ) -> Result<ObjectMeta, NodeError> {
        down()
    }
    async fn partition_digest(&self, _: DeviceId, _: u32) -> Result<PartitionDigest, NodeError> {
        down()
    }
    async fn list_bucket(
        &self,
        _: DeviceId,
        _: u32,
        _: u8,
    ) -> Result<Vec<EntryVersion>, NodeError> {
        down()
    }
    async fn drop_entries(
        &self,
        _: DeviceId,
        _: u32,
        _: Vec<EntryVersion>,
    ) -> Result<u64, NodeError> {
        down()
    }
    async fn partitions(&self, _: DeviceId) -> Result<Vec<u32>, NodeError> {
        down()
    }
}

/// A node whose devices are full: every PUT is refused with `DeviceFull`;
/// everything else reaches the real node.
struct Full(Arc<dyn ObjectNode>);

#[async_trait]
impl ObjectNode for Full {
    async fn put(
        &self,
        _: DeviceId,
        _: ObjectKey,
        _: mpsc::Receiver<PutChunk>,
    ) -> Result<PutAck, NodeError> {
        Err(NodeError::DeviceFull)
    }
    async fn get(
        &self,
        d: DeviceId,
        k: ObjectKey,
        r: Option<ByteRange>,
    ) -> Result<GetStream, NodeError> {
        self.0.get(d, k, r).await
    }
    async fn head(&self, d: DeviceId, k: ObjectKey) -> Result<ObjectMeta, NodeError> {
        self.0.head(d, k).await
    }
    async fn delete(
        &self,
        d: DeviceId,
        k: ObjectKey,
        name: &str,
        t: Timestamp,
    ) -> Result<DeleteOutcome, NodeError> {
        self.0.delete(d, k, name, t).await
    }
    async fn post(
        &self,
        d: DeviceId,
        k: ObjectKey,
        req: PostRequest,
    ) -> Result<ObjectMeta, NodeError> {
        self.0.post(d, k, req).await
    }
    async fn partition_digest(&self, d: DeviceId, p: u32) -> Result<PartitionDigest, NodeError> {
        self.0.partition_digest(d, p).await
    }
    async fn list_bucket(
        &self,
        d: DeviceId,
        p: u32,
        b: u8,
    ) -> Result<Vec<EntryVersion>, NodeError> {
        self.0.list_bucket(d, p, b).await
    }
    async fn drop_entries(
        &self,
        d: DeviceId,
        p: u32,
        e: Vec<EntryVersion>,
    ) -> Result<u64, NodeError> {
        self.0.drop_entries(d, p, e).await
    }
    async fn partitions(&self, d: DeviceId) -> Result<Vec<u32>, NodeError> {
        self.0.partitions(d).await
    }
}

/// Four devices of one node, a ring over them, and where objects go.
struct Cluster<D: DiskIo> {
    dir: tempfile::TempDir,
    node: Arc<StorageNode<D>>,
    ring: Arc<Ring>,
}

/// Where one object lives.
struct Placed {
    name: String,
    key: ObjectKey,
    primaries: Vec<DeviceId>,
    handoff: DeviceId,
}

impl<D: DiskIo> Cluster<D> {
    async fn new(io: Arc<D>) -> Self {
        let specs: Vec<(String, String)> = (0..4)
            .map(|i| ("127.0.0.1:6200".to_owned(), format!("dev{i}")))
            .collect();
        let mut b = RingBuilder::new_seeded(4, 3, 0, 7).unwrap();
        for spec in one_zone_per_device(&specs) {
            b.add_device(spec).unwrap();
        }
        b.rebalance(0).unwrap();
        let ring = Arc::new(b.ring().unwrap());
        let dir = tempfile::tempdir().unwrap();
        let ids: Vec<DeviceId> = ring.devices().iter().map(|d| DeviceId(d.id)).collect();
        let node = StorageNode::open(cfg_devices(dir.path(), &ids), io)
            .await
            .unwrap();
        Cluster {
            dir,
            node: Arc::new(node),
            ring,
        }
    }

    /// A replicator over every device; the nodes serving `down` do not answer.
    fn replicator(&self, down: &[DeviceId], reclaim_age_secs: u64) -> Arc<Replicator> {
        self.replicator_with(down, &[], reclaim_age_secs, Arc::new(FixedClock))
    }

    /// `replicator`, with the nodes serving `full` refusing every PUT.
    fn replicator_with(
        &self,
        down: &[DeviceId],
        full: &[DeviceId],
        reclaim_age_secs: u64,
        clock: Arc<dyn Clock>,
    ) -> Arc<Replicator> {
        let mut nodes: HashMap<NodeId, Arc<dyn ObjectNode>> = HashMap::new();
        for d in self.ring.devices() {
            let id = DeviceId(d.id);
            let node: Arc<dyn ObjectNode> = if down.contains(&id) {
                Arc::new(Down)
            } else if full.contains(&id) {
                Arc::new(Full(self.node.clone()))
            } else {
                self.node.clone()
            };
            nodes.insert(NodeId(d.node), node);
        }
        let ring = self.ring.clone();
        Replicator::new(ReplicatorConfig {
            ring: Arc::new(move || ring.clone()),
            local: self.node.clone(),
            nodes: Arc::new(nodes.into_iter().collect()),
            clock,
            reclaim_age_secs,
        })
    }

    fn place(&self, object: &str) -> Placed {
        let hash = self.ring.object_hash("a", Some("c"), Some(object));
        let partition = self.ring.partition_of(&hash);
        let ids = |it: Vec<&cairn_ring::Device>| it.iter().map(|d| DeviceId(d.id)).collect();
        let primaries: Vec<DeviceId> = ids(self.ring.primaries(partition));
        let handoff = DeviceId(self.ring.handoffs(partition).next().unwrap().id);
        Placed {
            name: format!("/a/c/{object}"),
            key: ObjectKey { partition, hash },
            primaries,
            handoff,
        }
    }

    async fn put(&self, o: &Placed, on: &[DeviceId], t: u64, data: &[u8]) {
        for d in on {
            let m = meta(&o.name, t, data.len() as u64);
            put_to(&*self.node, *d, o.key, m, data).await.unwrap();
        }
    }

    async fn delete(&self, o: &Placed, on: &[DeviceId], t: Timestamp) {
        for d in on {
            self.node.delete(*d, o.key, &o.name, t).await.unwrap();
        }
    }

    /// Checks `o` reads back as `data` with metadata `m` from each device of `on`.
    async fn assert_holds(&self, o: &Placed, on: &[DeviceId], data: &[u8], m: &ObjectMeta) {
        for d in on {
            let got = get_from(&*self.node, *d, o.key, None).await;
            assert_eq!(got.as_deref(), Ok(data), "body on {d:?}");
            assert_eq!(
                self.node.head(*d, o.key).await.as_ref(),
                Ok(m),
                "meta on {d:?}"
            );
        }
    }

    async fn head(&self, o: &Placed, d: DeviceId) -> Result<ObjectMeta, NodeError> {
        self.node.head(d, o.key).await
    }
}

const NO_TOMBSTONE: Result<ObjectMeta, NodeError> = Err(NodeError::NotFound { tombstone: None });

fn tombstone(t: Timestamp) -> Result<ObjectMeta, NodeError> {
    Err(NodeError::NotFound { tombstone: Some(t) })
}

async fn missing_replica_is_restored<D: DiskIo>(io: Arc<D>) {
    // A large and a small object written to 2 of 3 primaries are on all 3,
    // byte-exact with the same metadata, after one pass; a second pass
    // finds nothing to do.
    let c = Cluster::new(io).await;
    let large = c.place("large");
    let small = c.place("small");
    let large_body = body(1, 2 * CHUNK_BYTES as usize + 4321);
    let small_body = body(2, 777);
    c.put(&large, &large.primaries[..2], 10, &large_body).await;
    c.put(&small, &small.primaries[1..], 10, &small_body).await;
    let r = c.replicator(&[], RECLAIM_AGE_SECS_DEFAULT);
    assert_eq!(r.last_pass(), None);
    let pass = r.run_pass().await;
    assert_eq!(r.last_pass().as_ref(), Some(&pass));
    assert_eq!(pass.objects_pushed, 2, "{pass:?}");
    assert_eq!(
        pass.bytes_pushed,
        (large_body.len() + small_body.len()) as u64
    );
    assert_eq!(pass.errors, 0);
    let m = meta(&large.name, 10, large_body.len() as u64);
    c.assert_holds(&large, &large.primaries, &large_body, &m)
        .await;
    let m = meta(&small.name, 10, small_body.len() as u64);
    c.assert_holds(&small, &small.primaries, &small_body, &m)
        .await;
    assert_eq!(c.head(&large, large.handoff).await, NO_TOMBSTONE);
    let again = r.run_pass().await;
    assert_eq!((again.buckets_differing, again.objects_pushed), (0, 0));
    assert_eq!(r.last_pass().as_ref(), Some(&again));
    let mut held: Vec<(DeviceId, u32)> = [&large, &small]
        .iter()
        .flat_map(|o| o.primaries.iter().map(|d| (*d, o.key.partition)))
        .collect();
    held.sort();
    held.dedup();
    assert_eq!(again.partitions_checked, held.len() as u64);
    let total = r.stats();
    assert_eq!((total.passes_completed, total.objects_pushed), (2, 2));
    assert_eq!(total.last_pass_end, Some(FixedClock.now()));
}

async fn delete_reaches_every_primary<D: DiskIo>(io: Arc<D>) {
    // A delete that reached one primary leaves a tombstone on all three.
    let c = Cluster::new(io).await;
    let o = c.place("doomed");
    c.put(&o, &o.primaries, 10, b"bytes").await;
    c.delete(&o, &o.primaries[..1], ts(20)).await;
    let pass = c.replicator(&[], RECLAIM_AGE_SECS_DEFAULT).run_pass().await;
    assert_eq!((pass.tombstones_pushed, pass.objects_pushed), (2, 0));
    for d in &o.primaries {
        assert_eq!(c.head(&o, *d).await, tombstone(ts(20)), "{d:?}");
    }
}

async fn post_reaches_every_primary<D: DiskIo>(io: Arc<D>) {
    // New metadata POSTed to one primary reaches the other two; the body and
    // the headers written with the data stay.
    let c = Cluster::new(io).await;
    let o = c.place("labelled");
    c.put(&o, &o.primaries, 10, b"bytes").await;
    let req = PostRequest {
        meta_ts: ts(30),
        headers: vec![("x-object-meta-color".into(), "red".into())],
        content_type: Some("text/plain".into()),
    };
    let posted = c.node.post(o.primaries[2], o.key, req).await.unwrap();
    let pass = c.replicator(&[], RECLAIM_AGE_SECS_DEFAULT).run_pass().await;
    assert_eq!((pass.metadata_pushed, pass.objects_pushed), (2, 0));
    c.assert_holds(&o, &o.primaries, b"bytes", &posted).await;
}

async fn handoff_data_moves_home<D: DiskIo>(io: Arc<D>) {
    // An object and a tombstone written only to a handoff (every primary was
    // down) reach all three primaries, and the handoff drops its copies
    // outright, leaving no tombstone.
    let c = Cluster::new(io).await;
    let o = c.place("stranded");
    let gone = c.place("stranded-delete");
    c.put(&o, &[o.handoff], 10, b"from the handoff").await;
    c.delete(&gone, &[gone.handoff], ts(15)).await;
    let pass = c.replicator(&[], RECLAIM_AGE_SECS_DEFAULT).run_pass().await;
    assert_eq!((pass.objects_pushed, pass.tombstones_pushed), (3, 3));
    assert_eq!((pass.handoff_entries_dropped, pass.errors), (2, 0));
    let m = meta(&o.name, 10, 16);
    c.assert_holds(&o, &o.primaries, b"from the handoff", &m)
        .await;
    for d in &gone.primaries {
        assert_eq!(c.head(&gone, *d).await, tombstone(ts(15)));
    }
    assert_eq!(c.head(&o, o.handoff).await, NO_TOMBSTONE);
    assert_eq!(c.head(&gone, gone.handoff).await, NO_TOMBSTONE);
    let held = c.node.partitions(o.handoff).await.unwrap();
    assert!(!held.contains(&o.key.partition), "{held:?}");
}

async fn handoff_kept_while_a_primary_is_down<D: DiskIo>(io: Arc<D>) {
    // While one primary does not answer, the handoff pushes to the others but
    // keeps its copy; once the primary is back, the copy moves and is dropped.
    let c = Cluster::new(io).await;
    let o = c.place("patient");
    c.put(&o, &[o.handoff], 10, b"wait for me").await;
    let missing = o.primaries[1];
    let pass = c
        .replicator(&[missing], RECLAIM_AGE_SECS_DEFAULT)
        .run_pass()
        .await;
    assert_eq!((pass.objects_pushed, pass.handoff_entries_dropped), (2, 0));
    assert!(pass.errors >= 1, "{pass:?}");
    let m = meta(&o.name, 10, 11);
    c.assert_holds(&o, &[o.handoff], b"wait for me", &m).await;
    assert_eq!(c.head(&o, missing).await, NO_TOMBSTONE);
    let pass = c.replicator(&[], RECLAIM_AGE_SECS_DEFAULT).run_pass().await;
    assert_eq!(pass.handoff_entries_dropped, 1, "{pass:?}");
    c.assert_holds(&o, &o.primaries, b"wait for me", &m).await;
    assert_eq!(c.head(&o, o.handoff).await, NO_TOMBSTONE);
}

async fn audited_corruption_is_repaired<D: DiskIo>(io: Arc<D>) {
    // A flipped byte in one replica's stored record is found by the auditor,
    // which quarantines that replica; a replication pass then restores three
    // good copies, each verified by a GET.
    let c = Cluster::new(io).await;
    let o = c.place("rotting");
    let data = body(3, 5000);
    c.put(&o, &o.primaries, 10, &data).await;
    let victim = o.primaries[1];
    let seg = files(&c.dir.path().join(format!("dev{}/segments", victim.0))).remove(0);
    flip(&seg, find(&seg, &data).unwrap() + 4000);
    let audit = c.node.audit().await;
    assert_eq!((audit.corrupt_found, audit.objects_audited), (1, 3));
    assert_eq!(c.head(&o, victim).await, NO_TOMBSTONE);
    let quarantined: u64 = c
        .node
        .device_stats()
        .iter()
        .map(|s| s.quarantined_count)
        .sum();
    assert_eq!(quarantined, 1);
    let pass = c.replicator(&[], RECLAIM_AGE_SECS_DEFAULT).run_pass().await;
    assert_eq!(pass.objects_pushed, 1, "{pass:?}");
    c.assert_holds(&o, &o.primaries, &data, &meta(&o.name, 10, 5000))
        .await;
    assert_eq!(c.node.audit().await.corrupt_found, 1, "no new corruption");
}

async fn old_tombstones_are_reclaimed<D: DiskIo>(io: Arc<D>) {
    // With a reclaim age of 100 s, tombstones older than that vanish from
    // every device and are not pushed to a primary that lacks one; newer
    // tombstones stay and are pushed.
    let c = Cluster::new(io).await;
    let old = c.place("long-gone");
    let lone = c.place("long-gone-here-only");
    let recent = c.place("just-gone");
    c.delete(&old, &old.primaries, ts(10)).await;
    c.delete(&lone, &lone.primaries[..1], ts(10)).await;
    let recent_ts = Timestamp::from_secs(1_700_000_950);
    c.delete(&recent, &recent.primaries[..2], recent_ts).await;
    let pass = c.replicator(&[], 100).run_pass().await;
    assert_eq!((pass.tombstones_reclaimed, pass.tombstones_pushed), (4, 1));
    for d in &old.primaries {
        assert_eq!(c.head(&old, *d).await, NO_TOMBSTONE);
    }
    for d in &lone.primaries {
        assert_eq!(c.head(&lone, *d).await, NO_TOMBSTONE);
    }
    for d in &recent.primaries {
        assert_eq!(c.head(&recent, *d).await, tombstone(recent_ts));
    }
}

async fn reclaim_scans_at_most_24_times_per_age<D: DiskIo>(io: Arc<D>) {
    // With a reclaim age of 480 s, the first pass reclaims, and the next
    // reclaim waits until 20 s (1/24 of the age) have passed: a tombstone
    // that became reclaimable meanwhile stays until then.
    let c = Cluster::new(io).await;
    let clock = Arc::new(StepClock::default());
    let r = c.replicator_with(&[], &[], 480, clock.clone());
    let first = c.place("gone-first");
    let later = c.place("gone-later");
    c.delete(&first, &first.primaries, ts(10)).await;
    assert_eq!(r.run_pass().await.tombstones_reclaimed, 3);
    c.delete(&later, &later.primaries, ts(10)).await;
    clock.advance(19);
    assert_eq!(r.run_pass().await.tombstones_reclaimed, 0);
    for d in &later.primaries {
        assert_eq!(c.head(&later, *d).await, tombstone(ts(10)));
    }
    clock.advance(1);
    assert_eq!(r.run_pass().await.tombstones_reclaimed, 3);
    for d in &later.primaries {
        assert_eq!(c.head(&later, *d).await, NO_TOMBSTONE);
    }
}

async fn a_full_primary_gets_a_stand_in<D: DiskIo>(io: Arc<D>) {
    // A primary that missed an object and is full refuses the push; the
    // object goes to the partition's handoff instead, so it keeps three
    // copies. Once the primary has room, the handoff moves it home and
    // drops its copy.
    let c = Cluster::new(io).await;
    let o = c.place("crowded");
    let full = o.primaries[2];
    c.put(&o, &o.primaries[..2], 10, b"three copies, please")
        .await;
    let pass = c
        .replicator_with(&[], &[full], RECLAIM_AGE_SECS_DEFAULT, Arc::new(FixedClock))
        .run_pass()
        .await;
    assert!(pass.errors >= 1, "{pass:?}");
    let m = meta(&o.name, 10, 20);
    c.assert_holds(&o, &[o.handoff], b"three copies, please", &m)
        .await;
    assert_eq!(c.head(&o, full).await, NO_TOMBSTONE);
    // The other primary's push to the full one falls back too, and finds
    // the stand-in already holding the version: one copy, not two pushes.
    assert_eq!(pass.objects_pushed, 1, "{pass:?}");

    let pass = c.replicator(&[], RECLAIM_AGE_SECS_DEFAULT).run_pass().await;
    assert_eq!(pass.handoff_entries_dropped, 1, "{pass:?}");
    c.assert_holds(&o, &o.primaries, b"three copies, please", &m)
        .await;
    assert_eq!(c.head(&o, o.handoff).await, NO_TOMBSTONE);
}
