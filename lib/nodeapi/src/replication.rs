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

/// Builds a [`PartitionDigest`] from a partition's entries fed in key order:
/// per bucket, blake3 over `hash ++ data_ts ++ meta_ts ++ tombstone` of each
/// entry (timestamps as big-endian ticks, the flag as one byte).
#[derive(Default)]
pub struct PartitionDigestBuilder {
    current: Option<(u8, blake3::Hasher)>,
    last_hash: Option<[u8; 16]>,
    done: PartitionDigest,
}

impl PartitionDigestBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds the next entry. Panics if entries do not come in strictly
    /// increasing hash order (two devices would then disagree on equal content).
    pub fn add(
        &mut self,
        hash: &[u8; 16],
        data_ts: Timestamp,
        meta_ts: Timestamp,
        tombstone: bool,
    ) {
        assert!(
            self.last_hash.is_none_or(|h| h < *hash),
            "partition digest entries out of key order"
        );
        self.last_hash = Some(*hash);
        let bucket = hash[0];
        if self.current.as_ref().is_none_or(|(b, _)| *b != bucket) {
            self.seal();
            self.current = Some((bucket, blake3::Hasher::new()));
        }
        if let Some((_, h)) = &mut self.current {
            h.update(hash);
            h.update(&data_ts.ticks().to_be_bytes());
            h.update(&meta_ts.ticks().to_be_bytes());
            h.update(&[u8::from(tombstone)]);
        }
    }

    /// Adds an [`EntryVersion`] (same order rule as [`Self::add`]).
    pub fn add_version(&mut self, v: &EntryVersion) {
        self.add(&v.key.hash, v.data_ts, v.meta_ts, v.tombstone);
    }

    pub fn finish(mut self) -> PartitionDigest {
        self.seal();
        self.done
    }

    fn seal(&mut self) {
        if let Some((b, h)) = self.current.take() {
            self.done.buckets.insert(b, *h.finalize().as_bytes());
        }
    }
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
        b.finish()
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
    #[should_panic(expected = "out of key order")]
    fn out_of_order_entries_are_refused() {
        // Feeding entries out of key order is a programming error, caught.
        digest(&[v(2, 0, 1, 1, false), v(1, 0, 1, 1, false)]);
    }
}
