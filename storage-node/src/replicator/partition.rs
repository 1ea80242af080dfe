//! Replicating one partition of one local device to its primaries.
//!
//! 1. take the ring in force; the partition's primaries other than this
//!    device are the peers (all of them when this device is a handoff);
//! 2. compare this device's partition digest with each peer's;
//! 3. for each bucket that differs, list both sides and push what the peer
//!    lacks or has older (see `plan`);
//! 4. on a handoff, once every primary has a bucket (digests equal, or every
//!    push of it succeeded), drop exactly the listed versions here: anything
//!    written since stays.
//!
//! A primary peer that answers `DeviceFull` gets a stand-in: the entry goes
//! to the partition's first handoff that takes it (as Swift's replicator
//! does), so the object keeps its replica count; that handoff's own passes
//! move it home once the primary has room.
//!
//! One bucket's listing is in memory at a time; bodies stream.

use super::plan::{plan_bucket, Push};
use super::push::Peer;
use super::stats::add;
use super::Replicator;
use cairn_base::Timestamp;
use cairn_nodeapi::{DeviceId, EntryVersion, NodeError, NodeId, PartitionDigest};

/// The partition as this pass sees it.
struct Job {
    device: DeviceId,
    partition: u32,
    reclaim_before: Timestamp,
    /// This device is not one of the partition's primaries.
    handoff: bool,
    peers: Vec<Peer>,
    /// Handoff devices that stand in for a full primary, in ring order
    /// (none when this device is itself a handoff: it keeps its copy).
    standins: Vec<Peer>,
    /// Every peer answered with its digest.
    all_reached: bool,
}

/// Handoffs tried, at most, for an entry a full primary refused.
const STANDINS_MAX: usize = 2;

impl Replicator {
    pub(super) async fn sync_partition(
        &self,
        device: DeviceId,
        partition: u32,
        reclaim_before: Timestamp,
    ) {
        let Some(mut job) = self.job(device, partition, reclaim_before) else {
            return;
        };
        let local = match self.local.partition_digest(device, partition).await {
            Ok(d) => d,
            Err(e) => return self.failed("local partition digest", &e),
        };
        add(&self.counters.partitions_checked, 1);
        self.fetch_peer_digests(&mut job).await;
        for (&bucket, digest) in &local.buckets {
            self.sync_bucket(&job, bucket, digest).await;
        }
    }

    /// Step 1: the peers from the ring in force (their digests still empty).
    fn job(&self, device: DeviceId, partition: u32, reclaim_before: Timestamp) -> Option<Job> {
        let ring = (self.ring)();
        if partition >= ring.partition_count() {
            let e = NodeError::Io(format!("partition {partition} is outside the ring"));
            self.failed("ring lookup", &e);
            return None;
        }
        let primaries = ring.primaries(partition);
        let handoff = !primaries.iter().any(|d| d.id == device.0);
        let mut all_reached = true;
        let mut peers = Vec::new();
        for d in primaries.into_iter().filter(|d| d.id != device.0) {
            match self.nodes.get(&NodeId(d.node)) {
                Some(node) => peers.push(Peer {
                    device: DeviceId(d.id),
                    node,
                    digest: PartitionDigest::default(),
                }),
                None => {
                    let e = NodeError::Unreachable(format!("no route to node {}", d.node));
                    self.failed("peer lookup", &e);
                    all_reached = false;
                }
            }
        }
        let standins = if handoff {
            Vec::new()
        } else {
            ring.handoffs(partition)
                .filter(|d| d.id != device.0)
                .filter_map(|d| {
                    let node = self.nodes.get(&NodeId(d.node))?;
                    Some(Peer {
                        device: DeviceId(d.id),
                        node,
                        digest: PartitionDigest::default(),
                    })
                })
                .take(STANDINS_MAX)
                .collect()
        };
        Some(Job {
            device,
            partition,
            reclaim_before,
            handoff,
            peers,
            standins,
            all_reached,
        })
    }

    /// Step 2: every peer's digest; a peer that does not answer is skipped
    /// this pass.
    async fn fetch_peer_digests(&self, job: &mut Job) {
        let mut reached = Vec::with_capacity(job.peers.len());
        for mut peer in std::mem::take(&mut job.peers) {
            match peer.node.partition_digest(peer.device, job.partition).await {
                Ok(d) => {
                    peer.digest = d;
                    reached.push(peer);
                }
                Err(e) => {
                    self.failed("peer partition digest", &e);
                    job.all_reached = false;
                }
            }
        }
        job.peers = reached;
    }

    /// Steps 3 and 4 for one bucket whose local digest is `digest`.
    async fn sync_bucket(&self, job: &Job, bucket: u8, digest: &[u8; 32]) {
        let differing: Vec<&Peer> = job
            .peers
            .iter()
            .filter(|p| p.digest.buckets.get(&bucket) != Some(digest))
            .collect();
        if differing.is_empty() && !job.handoff {
            return;
        }
        add(&self.counters.buckets_differing, differing.len() as u64);
        let local = match self
            .local
            .list_bucket(job.device, job.partition, bucket)
            .await
        {
            Ok(l) => l,
            Err(e) => return self.failed("local bucket listing", &e),
        };
        let mut every_primary_has_it = job.all_reached;
        for peer in differing {
            every_primary_has_it &= self.push_bucket(job, peer, bucket, &local).await;
        }
        if job.handoff && every_primary_has_it {
            self.drop_handoff(job, local).await;
        }
    }

    /// Pushes what `peer` lacks of the bucket; whether every push succeeded.
    async fn push_bucket(
        &self,
        job: &Job,
        peer: &Peer,
        bucket: u8,
        local: &[EntryVersion],
    ) -> bool {
        let theirs = match peer
            .node
            .list_bucket(peer.device, job.partition, bucket)
            .await
        {
            Ok(t) => t,
            Err(e) => {
                self.failed("peer bucket listing", &e);
                return false;
            }
        };
        let mut ok = true;
        for push in plan_bucket(local, &theirs, job.reclaim_before) {
            match self.push(job.device, peer, push.clone()).await {
                Ok(()) => {}
                Err(e) => {
                    self.failed("push", &e);
                    ok = false;
                    if e == NodeError::DeviceFull {
                        self.push_to_standin(job, push).await;
                    }
                }
            }
        }
        ok
    }

    /// Gives an entry a full primary refused to the first handoff that
    /// takes it (or already holds that version or a newer one).
    async fn push_to_standin(&self, job: &Job, push: Push) {
        let v = push.version();
        for standin in &job.standins {
            if let Ok(held) = standin.node.head(standin.device, v.key).await {
                if held.data_ts >= v.data_ts && held.meta_ts >= v.meta_ts {
                    return;
                }
            }
            match self.push(job.device, standin, push.clone()).await {
                Ok(()) => return,
                Err(e) => self.failed("push to a stand-in", &e),
            }
        }
    }

    async fn drop_handoff(&self, job: &Job, local: Vec<EntryVersion>) {
        match self
            .local
            .drop_entries(job.device, job.partition, local)
            .await
        {
            Ok(n) => add(&self.counters.handoff_entries_dropped, n),
            Err(e) => self.failed("handoff drop", &e),
        }
    }
}
