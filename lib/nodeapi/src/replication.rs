//! What replicas compare: the per-bucket digest of a partition and the entry
//! versions behind it, and the one way to compute that digest, so that every
//! implementation of `ObjectNode` agrees on it byte for byte.
//!
//! A partition's keys are split into 256 suffix buckets by the first byte of
//! their hash (Swift's suffix directories). Two devices holding the same
//! versions of a bucket's objects and tombstones have equal digests for it;
//! a replicator lists only the buckets whose digests differ.

use crate::ObjectKey;
use cairn_base::Timestamp;
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// The digest of each non-empty suffix bucket of a partition on one device.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PartitionDigest {
    pub buckets: BTreeMap<u8, [u8; 32]>,
}

impl PartitionDigest {
    /// The buckets `self` holds something of that `other` does not hold
    /// identically: what a push from `self` to `other` has to look at.
    pub fn differing(&self, other: &PartitionDigest) -> Vec<u8> {
        self.buckets
            .iter()
            .filter(|(b, d)| other.buckets.get(b) != Some(d))
            .map(|(b, _)| *b)
            .collect()
    }
}

/// One object or tombstone as a replica holds it: which version, not its bytes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryVersion {
    pub key: ObjectKey,
    /// The full name, `/account/container/object` (a DELETE needs it).
    pub name: String,
    pub data_ts: Timestamp,
    pub meta_ts: Timestamp,
    pub tombstone: bool,
}

impl EntryVersion {
    /// The suffix bucket the entry falls in.
    pub fn bucket(&self) -> u8 {
        bucket_of(&self.key)
    }
}

/// The suffix bucket of a key: the first byte of its hash.
pub fn bucket_of(key: &ObjectKey) -> u8 {
    key.hash[0]
}

/// A partition's digest as a running sum: per suffix bucket, the XOR of
/// every entry's [`entry_digest`] and the number of entries. Order does not
/// matter, and an entry is taken out as cheaply as it was put in, so a node
/// can keep a partition's digest up to date on every write instead of
/// rescanning the partition (decision 0022).
///
/// XOR sums can cancel only if entries' digests do; a client cannot pick
/// entries that way, since keys are hashes of names under the cluster's
/// secret prefix and suffix, and two distinct sets of a bucket's entries
/// collide with the odds of a 256-bit hash collision.
#[derive(Debug, Clone, Default)]
pub struct PartitionDigestBuilder {
    buckets: BTreeMap<u8, BucketSum>,
}

#[derive(Debug, Clone, Copy)]
struct BucketSum {
    entries: u64,
    xor: [u8; 32],
}

/// The digest one entry contributes to its bucket: blake3 over
/// `hash ++ data_ts ++ meta_ts ++ tombstone` (timestamps as big-endian
/// ticks, the flag as one byte).
fn entry_digest(
    hash: &[u8; 16],
    data_ts: Timestamp,
    meta_ts: Timestamp,
    tombstone: bool,
) -> [u8; 32] {
    let mut h = blake3::Hasher::new();
    h.update(hash);
    h.update(&data_ts.ticks().to_be_bytes());
    h.update(&meta_ts.ticks().to_be_bytes());
    h.update(&[u8::from(tombstone)]);
    *h.finalize().as_bytes()
}

impl PartitionDigestBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds an entry.
    pub fn add(
        &mut self,
        hash: &[u8; 16],
        data_ts: Timestamp,
        meta_ts: Timestamp,
        tombstone: bool,
    ) {
        let d = entry_digest(hash, data_ts, meta_ts, tombstone);
        let sum = self.buckets.entry(hash[0]).or_insert(BucketSum {
            entries: 0,
            xor: [0; 32],
        });
        sum.entries += 1;
        xor_into(&mut sum.xor, &d);
    }

    /// Takes out an entry that was added. Returns `false`, changing nothing,
    /// if its bucket holds no entry (so it cannot have been added).
    #[must_use]
    pub fn remove(
        &mut self,
        hash: &[u8; 16],
        data_ts: Timestamp,
        meta_ts: Timestamp,
        tombstone: bool,
    ) -> bool {
        let Some(sum) = self.buckets.get_mut(&hash[0]) else {
            return false;
        };
        xor_into(
            &mut sum.xor,
            &entry_digest(hash, data_ts, meta_ts, tombstone),
        );
        sum.entries -= 1;
        if sum.entries == 0 {
            self.buckets.remove(&hash[0]);
        }
        true
    }

    /// Adds an [`EntryVersion`].
    pub fn add_version(&mut self, v: &EntryVersion) {
        self.add(&v.key.hash, v.data_ts, v.meta_ts, v.tombstone);
    }

    /// The digest of the entries held now.
    pub fn digest(&self) -> PartitionDigest {
        PartitionDigest {
            buckets: self.buckets.iter().map(|(b, s)| (*b, s.xor)).collect(),
        }
    }
}

fn xor_into(acc: &mut [u8; 32], d: &[u8; 32]) {
    acc.iter_mut().zip(d).for_each(|(a, b)| *a ^= b);
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(first: u8, second: u8, data: u64, meta: u64, tombstone: bool) -> EntryVersion {
        let mut hash = [0u8; 16];
        hash[0] = first;
        hash[1] = second;
        EntryVersion {
            key: ObjectKey { partition: 3, hash },
            name: format!("/a/c/{first}-{second}"),
            data_ts: Timestamp::from_ticks(data),
            meta_ts: Timestamp::from_ticks(meta),
            tombstone,
        }
    }

    fn digest(entries: &[EntryVersion]) -> PartitionDigest {
        let mut b = PartitionDigestBuilder::new();
        for e in entries {
            b.add_version(e);
        }
        b.digest()
    }

    #[test]
    fn digest_tracks_every_versioned_field_per_bucket() {
        // Equal entries give equal digests; changing data_ts, meta_ts or the
        // tombstone flag of one entry changes only its bucket's digest.
        let base = vec![
            v(1, 1, 10, 10, false),
            v(1, 2, 10, 12, false),
            v(9, 0, 5, 5, true),
        ];
        let d = digest(&base);
        assert_eq!(d.buckets.len(), 2);
        assert_eq!(d, digest(&base));
        for change in [
            |e: &mut EntryVersion| e.data_ts = Timestamp::from_ticks(11),
            |e: &mut EntryVersion| e.meta_ts = Timestamp::from_ticks(13),
            |e: &mut EntryVersion| e.tombstone = true,
        ] {
            let mut other = base.clone();
            change(&mut other[1]);
            let o = digest(&other);
            assert_eq!(d.differing(&o), vec![1]);
            assert_eq!(o.differing(&d), vec![1]);
        }
        let fewer = digest(&base[..2]);
        assert_eq!(d.differing(&fewer), vec![9]);
        assert!(fewer.differing(&d).is_empty());
    }

    #[test]
    fn order_does_not_matter_and_removal_undoes_addition() {
        // Any order gives the same digest; removing an entry gives the
        // digest of the rest; an emptied bucket disappears; removing from
        // an empty bucket is refused.
        let all = vec![
            v(1, 1, 10, 10, false),
            v(1, 2, 10, 12, false),
            v(9, 0, 5, 5, true),
        ];
        let mut reversed = all.clone();
        reversed.reverse();
        assert_eq!(digest(&all), digest(&reversed));
        let mut b = PartitionDigestBuilder::new();
        all.iter().for_each(|e| b.add_version(e));
        let gone = &all[1];
        assert!(b.remove(&gone.key.hash, gone.data_ts, gone.meta_ts, gone.tombstone));
        assert_eq!(b.digest(), digest(&[all[0].clone(), all[2].clone()]));
        let last = &all[2];
        assert!(b.remove(&last.key.hash, last.data_ts, last.meta_ts, last.tombstone));
        assert_eq!(
            b.digest().buckets.keys().copied().collect::<Vec<_>>(),
            vec![1]
        );
        assert!(!b.remove(&last.key.hash, last.data_ts, last.meta_ts, last.tombstone));
    }
}
