//! `DigestCache`: one device's partition digests as running sums (Swift's
//! `hashes.pkl`, kept exact instead of invalidated): a partition is scanned
//! once, then every committed change adds and removes entry versions from
//! its sums, so a replication pass costs no index scan however busy the
//! partition is (decision 0022).
//!
//! A digest scanned while a write commits must not be kept, since the scan
//! may or may not have seen the write. The writer announces a commit's
//! partitions before its index write ([`DigestCache::changing`]) and applies
//! its changes after it; in between, no scan of those partitions is kept. A
//! lookup that misses leaves a `Computing` marker with a fresh token, a
//! change applied meanwhile removes the marker, and the scan's result is
//! stored only if its marker is still there and no commit to the partition
//! is under way. So a stored sum never counts a change twice or misses one.
//! In memory only: after a restart every digest is scanned again.

use crate::entry::Entry;
use cairn_base::Timestamp;
use cairn_nodeapi::{ObjectKey, PartitionDigest, PartitionDigestBuilder};
use std::collections::HashMap;
use std::sync::Mutex;

/// Partitions whose slots (digests or markers) one device keeps at most; past
/// it an arbitrary slot is evicted (the sums of 256 buckets take about 15 KiB).
pub(crate) const DIGEST_CACHE_PARTITIONS_MAX: usize = 4096;

enum Slot {
    Computing(u64),
    Ready(PartitionDigestBuilder),
}

#[derive(Default)]
struct State {
    slots: HashMap<u32, Slot>,
    next_token: u64,
    /// Partitions with commits between their index write and its changes
    /// being applied, and how many.
    committing: HashMap<u32, u32>,
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
        if let Some(Slot::Ready(sums)) = st.slots.get(&partition) {
            return Lookup::Hit(sums.digest());
        }
        st.next_token += 1;
        let token = st.next_token;
        if !st.slots.contains_key(&partition) {
            st.make_room();
        }
        st.slots.insert(partition, Slot::Computing(token));
        Lookup::Miss(token)
    }

    /// Keeps the scanned `sums` unless the partition was written (or another
    /// lookup started) since the lookup that handed out `token`, or a commit
    /// to it is under way (the scan may already have seen its index write).
    pub fn fill(&self, partition: u32, token: u64, sums: PartitionDigestBuilder) {
        let mut st = self.state();
        let current = matches!(st.slots.get(&partition), Some(Slot::Computing(t)) if *t == token);
        if current && !st.committing.contains_key(&partition) {
            st.slots.insert(partition, Slot::Ready(sums));
        }
    }

    /// Announces a commit to `partitions`, before its index write; the
    /// commit's changes go through the returned guard, after the write.
    pub fn changing(&self, partitions: impl IntoIterator<Item = u32>) -> Changing<'_> {
        let mut partitions: Vec<u32> = partitions.into_iter().collect();
        partitions.sort_unstable();
        partitions.dedup();
        let mut st = self.state();
        for p in &partitions {
            *st.committing.entry(*p).or_default() += 1;
        }
        Changing {
            cache: self,
            partitions,
        }
    }

    fn changed(&self, key: &ObjectKey, old: Option<&Entry>, new: Option<&Entry>) {
        if old.map(stamp) == new.map(stamp) {
            return;
        }
        let mut st = self.state();
        let Some(Slot::Ready(sums)) = st.slots.get_mut(&key.partition) else {
            // A scan in progress may have missed the change: discard it.
            st.slots.remove(&key.partition);
            return;
        };
        let removed = old.is_none_or(|o| {
            let (data_ts, meta_ts, tombstone) = stamp(o);
            sums.remove(&key.hash, data_ts, meta_ts, tombstone)
        });
        if !removed {
            // The sums never held the old entry: they are wrong, so rescan.
            st.slots.remove(&key.partition);
            return;
        }
        if let Some(n) = new {
            add_entry(sums, key, n);
        }
    }
}

/// One commit under way (see [`DigestCache::changing`]); dropping it ends
/// the commit, whether or not its index write succeeded.
pub(crate) struct Changing<'a> {
    cache: &'a DigestCache,
    partitions: Vec<u32>,
}

impl Changing<'_> {
    /// Applies one committed change of `key`'s entry, `old` to `new` (either
    /// absent), after the commit's index write.
    pub fn changed(&self, key: &ObjectKey, old: Option<&Entry>, new: Option<&Entry>) {
        debug_assert!(self.partitions.binary_search(&key.partition).is_ok());
        self.cache.changed(key, old, new);
    }
}

impl Drop for Changing<'_> {
    fn drop(&mut self) {
        let mut st = self.cache.state();
        for p in &self.partitions {
            if let Some(n) = st.committing.get_mut(p) {
                *n -= 1;
                if *n == 0 {
                    st.committing.remove(p);
                }
            }
        }
    }
}

/// What of an entry its partition's digest covers: its version.
fn stamp(e: &Entry) -> (Timestamp, Timestamp, bool) {
    (e.meta.data_ts, e.meta.meta_ts, e.tombstone)
}

/// Adds `e`, indexed as `key`, to a partition's sums (a scan's, or the
/// writer's change).
pub(crate) fn add_entry(sums: &mut PartitionDigestBuilder, key: &ObjectKey, e: &Entry) {
    let (data_ts, meta_ts, tombstone) = stamp(e);
    sums.add(&key.hash, data_ts, meta_ts, tombstone);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(b: u8) -> ObjectKey {
        ObjectKey {
            partition: 7,
            hash: [b; 16],
        }
    }

    fn entry(ts: u64) -> Entry {
        Entry::tombstone("/a/c/o", Timestamp::from_ticks(ts))
    }

    /// What a scan of `entries` would find.
    fn scanned(entries: &[(ObjectKey, Entry)]) -> PartitionDigestBuilder {
        let mut b = PartitionDigestBuilder::new();
        for (k, e) in entries {
            add_entry(&mut b, k, e);
        }
        b
    }

    /// The token of a lookup that must miss.
    fn miss(c: &DigestCache) -> u64 {
        match c.lookup(7) {
            Lookup::Miss(t) => t,
            Lookup::Hit(_) => panic!("digest kept when it must not be"),
        }
    }

    fn hit(c: &DigestCache) -> PartitionDigest {
        match c.lookup(7) {
            Lookup::Hit(d) => d,
            Lookup::Miss(_) => panic!("digest not kept"),
        }
    }

    #[test]
    fn changes_keep_the_digest_equal_to_a_fresh_scan() {
        // After a scan, each committed change (new entry, overwrite, removal)
        // leaves the digest a scan of the result would give, with no rescan.
        let c = DigestCache::default();
        let t = miss(&c);
        c.fill(7, t, scanned(&[(key(1), entry(10))]));
        let commit = c.changing([7]);
        commit.changed(&key(2), None, Some(&entry(20)));
        commit.changed(&key(1), Some(&entry(10)), Some(&entry(30)));
        drop(commit);
        assert_eq!(
            hit(&c),
            scanned(&[(key(1), entry(30)), (key(2), entry(20))]).digest()
        );
        c.changing([7]).changed(&key(1), Some(&entry(30)), None);
        assert_eq!(hit(&c), scanned(&[(key(2), entry(20))]).digest());
    }

    #[test]
    fn a_write_during_the_scan_discards_its_result() {
        // A digest scanned across a change is not kept; one scanned after it
        // is.
        let c = DigestCache::default();
        let t1 = miss(&c);
        c.changing([7]).changed(&key(1), None, Some(&entry(10)));
        c.fill(7, t1, scanned(&[]));
        let t2 = miss(&c);
        c.fill(7, t2, scanned(&[(key(1), entry(10))]));
        assert_eq!(hit(&c), scanned(&[(key(1), entry(10))]).digest());
    }

    #[test]
    fn a_change_the_sums_cannot_hold_forces_a_rescan() {
        // Removing an entry from an empty bucket means the sums were wrong:
        // they are dropped rather than served.
        let c = DigestCache::default();
        let t = miss(&c);
        c.fill(7, t, scanned(&[]));
        c.changing([7]).changed(&key(1), Some(&entry(10)), None);
        miss(&c);
    }

    #[test]
    fn a_scan_that_saw_a_commit_before_its_changes_is_not_kept() {
        // The index write is visible before the writer applies its changes:
        // a scan that fills in between has counted the change already, so it
        // is not kept, and the change is not counted twice.
        let c = DigestCache::default();
        let commit = c.changing([7]);
        let t = miss(&c);
        c.fill(7, t, scanned(&[(key(1), entry(10))]));
        commit.changed(&key(1), None, Some(&entry(10)));
        drop(commit);
        let t = miss(&c);
        c.fill(7, t, scanned(&[(key(1), entry(10))]));
        assert_eq!(hit(&c), scanned(&[(key(1), entry(10))]).digest());
    }

    #[test]
    fn size_is_bounded() {
        // Past the bound, old slots are evicted; the cache never grows beyond it.
        let c = DigestCache::default();
        for p in 0..(DIGEST_CACHE_PARTITIONS_MAX as u32 + 10) {
            if let Lookup::Miss(t) = c.lookup(p) {
                c.fill(p, t, scanned(&[(key(p as u8), entry(1))]));
            }
        }
        assert_eq!(c.state().slots.len(), DIGEST_CACHE_PARTITIONS_MAX);
    }
}
