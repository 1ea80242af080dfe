//! `ReplicatorStats`: what replication has done, as counters since the
//! replicator started plus the last pass's duration and end, for `/metrics`
//! and `cairn cluster status`.

use cairn_base::Timestamp;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// A snapshot of the replicator's counters (totals since it started, or the
/// difference over one pass, see [`ReplicatorStats::since`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ReplicatorStats {
    pub passes_completed: u64,
    /// (device, partition) pairs compared with their peers.
    pub partitions_checked: u64,
    /// (partition, peer, bucket) triples whose digests differed.
    pub buckets_differing: u64,
    pub objects_pushed: u64,
    /// Body bytes of the objects pushed.
    pub bytes_pushed: u64,
    /// Metadata updates (POSTs) pushed.
    pub metadata_pushed: u64,
    pub tombstones_pushed: u64,
    /// Handoff entries removed once every primary had them.
    pub handoff_entries_dropped: u64,
    /// Tombstones removed for being older than the reclaim age.
    pub tombstones_reclaimed: u64,
    /// Requests that failed (a peer down, a read that failed its checksum…).
    pub errors: u64,
    pub last_pass_duration_ms: u64,
    /// When the last pass ended; `None` before the first.
    pub last_pass_end: Option<Timestamp>,
}

impl ReplicatorStats {
    /// The counters' growth since `earlier`; the last-pass fields are `self`'s.
    pub fn since(&self, earlier: &ReplicatorStats) -> ReplicatorStats {
        let d = |a: u64, b: u64| a.saturating_sub(b);
        ReplicatorStats {
            passes_completed: d(self.passes_completed, earlier.passes_completed),
            partitions_checked: d(self.partitions_checked, earlier.partitions_checked),
            buckets_differing: d(self.buckets_differing, earlier.buckets_differing),
            objects_pushed: d(self.objects_pushed, earlier.objects_pushed),
            bytes_pushed: d(self.bytes_pushed, earlier.bytes_pushed),
            metadata_pushed: d(self.metadata_pushed, earlier.metadata_pushed),
            tombstones_pushed: d(self.tombstones_pushed, earlier.tombstones_pushed),
            handoff_entries_dropped: d(
                self.handoff_entries_dropped,
                earlier.handoff_entries_dropped,
            ),
            tombstones_reclaimed: d(self.tombstones_reclaimed, earlier.tombstones_reclaimed),
            errors: d(self.errors, earlier.errors),
            last_pass_duration_ms: self.last_pass_duration_ms,
            last_pass_end: self.last_pass_end,
        }
    }
}

/// The live counters, bumped as a pass goes.
#[derive(Default)]
pub(crate) struct Counters {
    pub passes_completed: AtomicU64,
    pub partitions_checked: AtomicU64,
    pub buckets_differing: AtomicU64,
    pub objects_pushed: AtomicU64,
    pub bytes_pushed: AtomicU64,
    pub metadata_pushed: AtomicU64,
    pub tombstones_pushed: AtomicU64,
    pub handoff_entries_dropped: AtomicU64,
    pub tombstones_reclaimed: AtomicU64,
    pub errors: AtomicU64,
    last_pass_duration_ms: AtomicU64,
    /// Ticks of the last pass's end; 0 before the first.
    last_pass_end: AtomicU64,
}

/// Adds `n` to a counter.
pub(crate) fn add(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Counters {
    pub fn pass_done(&self, took: Duration, end: Timestamp) {
        let ms = u64::try_from(took.as_millis()).unwrap_or(u64::MAX);
        self.last_pass_duration_ms.store(ms, Ordering::Relaxed);
        self.last_pass_end.store(end.ticks(), Ordering::Relaxed);
        add(&self.passes_completed, 1);
    }

    pub fn snapshot(&self) -> ReplicatorStats {
        let g = |c: &AtomicU64| c.load(Ordering::Relaxed);
        let end = g(&self.last_pass_end);
        ReplicatorStats {
            passes_completed: g(&self.passes_completed),
            partitions_checked: g(&self.partitions_checked),
            buckets_differing: g(&self.buckets_differing),
            objects_pushed: g(&self.objects_pushed),
            bytes_pushed: g(&self.bytes_pushed),
            metadata_pushed: g(&self.metadata_pushed),
            tombstones_pushed: g(&self.tombstones_pushed),
            handoff_entries_dropped: g(&self.handoff_entries_dropped),
            tombstones_reclaimed: g(&self.tombstones_reclaimed),
            errors: g(&self.errors),
            last_pass_duration_ms: g(&self.last_pass_duration_ms),
            last_pass_end: (end > 0).then(|| Timestamp::from_ticks(end)),
        }
    }
}
