//! `DigestCache`: one device's partition digests, kept until a write changes
//! the partition (Swift's `hashes.pkl`), so a replication pass over a quiet
//! partition costs no index scan.
//!
//! A digest computed while a write commits must not be kept: a lookup that
//! misses leaves a `Computing` marker with a fresh token, the writer's
//! invalidation (after its index write) removes the marker, and the scan's
//! result is stored only if its marker is still there. So a stored digest
//! was computed entirely after the last invalidation of its partition.
//! In memory only: after a restart every digest is computed again.

use cairn_nodeapi::PartitionDigest;
use std::collections::HashMap;
use std::sync::Mutex;

/// Partitions whose slots (digests or markers) one device keeps at most; past
/// it an arbitrary slot is evicted (a 256-bucket digest is about 10 KiB).
pub(crate) const DIGEST_CACHE_PARTITIONS_MAX: usize = 4096;

enum Slot {
    Computing(u64),
    Ready(PartitionDigest),
}

#[derive(Default)]
struct State {
    slots: HashMap<u32, Slot>,
    next_token: u64,
}

impl State {
    /// Makes room for one more slot.
    fn make_room(&mut self) {
        if self.slots.len() < DIGEST_CACHE_PARTITIONS_MAX {
            return;
        }
        if let Some(victim) = self.slots.keys().next().copied() {
            self.slots.remove(&victim);
        }
    }
}

/// What a lookup found.
pub(crate) enum Lookup {
    Hit(PartitionDigest),
    /// Compute it, then [`DigestCache::fill`] with this token.
    Miss(u64),
}

#[derive(Default)]
pub(crate) struct DigestCache {
    state: Mutex<State>,
}

impl DigestCache {
    fn state(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn lookup(&self, partition: u32) -> Lookup {
        let mut st = self.state();
        if let Some(Slot::Ready(d)) = st.slots.get(&partition) {
            return Lookup::Hit(d.clone());
        }
        st.next_token += 1;
        let token = st.next_token;
        if !st.slots.contains_key(&partition) {
            st.make_room();
        }
        st.slots.insert(partition, Slot::Computing(token));
        Lookup::Miss(token)
    }

    /// Keeps `digest` unless the partition was written (or another lookup
    /// started) since the lookup that handed out `token`.
    pub fn fill(&self, partition: u32, token: u64, digest: PartitionDigest) {
        let mut st = self.state();
        if matches!(st.slots.get(&partition), Some(Slot::Computing(t)) if *t == token) {
            st.slots.insert(partition, Slot::Ready(digest));
        }
    }

    /// Forgets the partition's digest; called after every committed change to it.
    pub fn invalidate(&self, partition: u32) {
        self.state().slots.remove(&partition);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(b: u8) -> PartitionDigest {
        let mut d = PartitionDigest::default();
        d.buckets.insert(b, [b; 32]);
        d
    }

    #[test]
    fn a_write_during_the_scan_discards_its_result() {
        // A digest computed across an invalidation is not kept; one computed
        // after it is, until the next invalidation.
        let c = DigestCache::default();
        let Lookup::Miss(t1) = c.lookup(7) else {
            panic!("empty cache hit")
        };
        c.invalidate(7);
        c.fill(7, t1, digest(1));
        let Lookup::Miss(t2) = c.lookup(7) else {
            panic!("stale digest kept")
        };
        c.fill(7, t2, digest(2));
        assert!(matches!(c.lookup(7), Lookup::Hit(d) if d == digest(2)));
        c.invalidate(7);
        assert!(matches!(c.lookup(7), Lookup::Miss(_)));
    }

    #[test]
    fn size_is_bounded() {
        // Past the bound, old slots are evicted; the cache never grows beyond it.
        let c = DigestCache::default();
        for p in 0..(DIGEST_CACHE_PARTITIONS_MAX as u32 + 10) {
            if let Lookup::Miss(t) = c.lookup(p) {
                c.fill(p, t, digest(p as u8));
            }
        }
        assert_eq!(c.state().slots.len(), DIGEST_CACHE_PARTITIONS_MAX);
    }
}
