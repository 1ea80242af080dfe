//! The replicator (Swift's object-replicator): repairs replicas that missed
//! a write, moves handoff data back to its primaries, and reclaims old
//! tombstones, one pass over the local devices' partitions at a time.
//!
//! It reaches every device, its own included, only through `ObjectNode`
//! (digests, bucket listings, GET/PUT/POST/DELETE, drops), so it works the
//! same whether a peer is in this process or behind the network; the one
//! node-local operation, reclaiming tombstones, is [`LocalNode`]'s.
//!
//! A pass, for each partition a local device holds ([`PARTITIONS_IN_FLIGHT_MAX`]
//! at a time): compare digests with the other primaries and push what they
//! lack (push only: each primary's own pass pushes the other way); a handoff
//! pushes to every primary and then drops what they all have (`partition`).
//! Then each local device drops its tombstones older than the reclaim age:
//! a scan of its whole index, so it runs on the first pass and then at most
//! [`RECLAIMS_PER_AGE`] times per reclaim age, not every pass.
//! Memory per partition in flight: one bucket's listing and two bounded
//! frame channels.

mod partition;
mod plan;
mod push;
mod stats;

pub use stats::ReplicatorStats;

use async_trait::async_trait;
use cairn_base::{Clock, Timestamp};
use cairn_nodeapi::{DeviceId, NodeError, NodeMap, ObjectNode};
use cairn_ring::Ring;
use stats::{add, Counters};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;
use tokio::task::{JoinHandle, JoinSet};
use tracing::Instrument;

/// Partitions one pass works on at once.
pub const PARTITIONS_IN_FLIGHT_MAX: usize = 4;

/// Swift's default `reclaim_age`: one week.
pub const RECLAIM_AGE_SECS_DEFAULT: u64 = 604_800;

/// Tombstone reclaims per reclaim age, at most: a tombstone outlives the
/// age by at most 1/24 of it (7 hours of a week), and a busy device's index
/// is not rescanned on every pass.
pub const RECLAIMS_PER_AGE: u64 = 24;

/// Yields the ring in force; asked once per partition, so a new ring takes
/// effect within a pass.
pub type RingSource = Arc<dyn Fn() -> Arc<Ring> + Send + Sync>;

/// The node the replicator runs on: its devices, served through
/// `ObjectNode`, and what only the node itself may do to them.
#[async_trait]
pub trait LocalNode: ObjectNode {
    /// The devices this node serves (and so replicates from).
    fn local_devices(&self) -> Vec<DeviceId>;

    /// Removes every tombstone on `device` older than `before`; returns how many.
    async fn reclaim_tombstones(
        &self,
        device: DeviceId,
        before: Timestamp,
    ) -> Result<u64, NodeError>;
}

/// What a replicator works with.
pub struct ReplicatorConfig {
    pub ring: RingSource,
    pub local: Arc<dyn LocalNode>,
    /// Every storage node of the ring, this one included, by ring node number.
    pub nodes: Arc<NodeMap>,
    pub clock: Arc<dyn Clock>,
    /// Tombstones older than this are reclaimed (and no longer pushed).
    pub reclaim_age_secs: u64,
}

pub struct Replicator {
    ring: RingSource,
    local: Arc<dyn LocalNode>,
    nodes: Arc<NodeMap>,
    clock: Arc<dyn Clock>,
    reclaim_age_secs: u64,
    counters: Counters,
    /// What the last completed pass did (`None` before the first).
    last_pass: std::sync::Mutex<Option<ReplicatorStats>>,
    /// When the last tombstone reclaim started (`None` before the first).
    last_reclaim: std::sync::Mutex<Option<Timestamp>>,
    /// Held by a pass: one at a time.
    one_pass: tokio::sync::Mutex<()>,
}

impl Replicator {
    pub fn new(cfg: ReplicatorConfig) -> Arc<Self> {
        let ReplicatorConfig {
            ring,
            local,
            nodes,
            clock,
            reclaim_age_secs,
        } = cfg;
        Arc::new(Replicator {
            ring,
            local,
            nodes,
            clock,
            reclaim_age_secs,
            counters: Counters::default(),
            last_pass: std::sync::Mutex::new(None),
            last_reclaim: std::sync::Mutex::new(None),
            one_pass: tokio::sync::Mutex::new(()),
        })
    }

    /// Totals since the replicator started, and the last pass's timing.
    pub fn stats(&self) -> ReplicatorStats {
        self.counters.snapshot()
    }

    /// What the last completed pass did (its counters' growth over the
    /// pass), or `None` before the first pass ends.
    pub fn last_pass(&self) -> Option<ReplicatorStats> {
        self.last_pass
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Runs one pass now (after any pass in progress); returns what it did.
    pub async fn run_pass(self: &Arc<Self>) -> ReplicatorStats {
        let _one = self.one_pass.lock().await;
        let before = self.counters.snapshot();
        let started = tokio::time::Instant::now();
        let now = self.clock.now();
        let horizon = now.secs().saturating_sub(self.reclaim_age_secs);
        let reclaim_before = Timestamp::from_secs(horizon);
        self.sync_partitions(reclaim_before).await;
        if self.reclaim_due(now) {
            for device in self.local.local_devices() {
                match self.local.reclaim_tombstones(device, reclaim_before).await {
                    Ok(n) => add(&self.counters.tombstones_reclaimed, n),
                    Err(e) => self.failed("tombstone reclaim", &e),
                }
            }
        }
        self.counters.pass_done(started.elapsed(), self.clock.now());
        let pass = self.counters.snapshot().since(&before);
        tracing::info!(?pass, "replication pass done");
        *self.last_pass.lock().unwrap_or_else(|p| p.into_inner()) = Some(pass.clone());
        pass
    }

    /// Runs a pass every `interval` (the first after one interval) until
    /// `stop` resolves; a pass in progress is abandoned then, which is safe:
    /// a PUT cut off before its end stores nothing.
    pub fn spawn(
        self: Arc<Self>,
        interval: Duration,
        stop: impl Future<Output = ()> + Send + 'static,
    ) -> JoinHandle<()> {
        tokio::spawn(async move {
            tokio::pin!(stop);
            loop {
                tokio::select! {
                    () = &mut stop => return,
                    () = tokio::time::sleep(interval) => {}
                }
                tokio::select! {
                    () = &mut stop => return,
                    _ = self.run_pass() => {}
                }
            }
        })
    }

    /// Whether this pass reclaims tombstones (and if so, notes that it does).
    fn reclaim_due(&self, now: Timestamp) -> bool {
        let spacing = self.reclaim_age_secs / RECLAIMS_PER_AGE;
        let mut last = self.last_reclaim.lock().unwrap_or_else(|p| p.into_inner());
        let due = last.is_none_or(|l| now.secs().saturating_sub(l.secs()) >= spacing);
        if due {
            *last = Some(now);
        }
        due
    }

    async fn sync_partitions(self: &Arc<Self>, reclaim_before: Timestamp) {
        let mut work = JoinSet::new();
        for device in self.local.local_devices() {
            let partitions = match self.local.partitions(device).await {
                Ok(p) => p,
                Err(e) => {
                    self.failed("partition listing", &e);
                    continue;
                }
            };
            for partition in partitions {
                while work.len() >= PARTITIONS_IN_FLIGHT_MAX {
                    self.joined(work.join_next().await);
                }
                let me = self.clone();
                let span = tracing::info_span!("replicate", device = device.0, partition);
                work.spawn(
                    async move { me.sync_partition(device, partition, reclaim_before).await }
                        .instrument(span),
                );
            }
        }
        while let Some(r) = work.join_next().await {
            self.joined(Some(r));
        }
    }

    fn joined(&self, r: Option<Result<(), tokio::task::JoinError>>) {
        if let Some(Err(e)) = r {
            self.failed("partition task", &NodeError::Io(e.to_string()));
        }
    }

    fn failed(&self, what: &str, e: &NodeError) {
        tracing::warn!(error = %e, "replication: {what} failed");
        add(&self.counters.errors, 1);
    }
}
