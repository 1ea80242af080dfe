//! Which extents a volume has, by index and generation, and the decisions
//! that follow from it: which generation a read at a given generation sees,
//! what a write at the head generation must do first (nothing, copy an older
//! generation forward, or start an empty extent), and which extents nothing
//! can see any more once a snapshot is gone. Pure data, no I/O.

use std::collections::BTreeMap;

/// The generations present for each extent index, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExtentMap {
    gens: BTreeMap<u64, Vec<u32>>,
}

/// What a write to an extent at the head generation needs first.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Materialize {
    /// The extent exists at the head generation: write in place.
    Ready,
    /// Only an older generation exists: copy it forward (copy-on-write).
    CopyFrom(u32),
    /// The volume has no such extent in any generation.
    Absent,
}

impl ExtentMap {
    /// Builds the map from `(index, generation)` pairs, in any order and
    /// with duplicates (several replicas list the same extents).
    pub fn from_pairs(pairs: impl IntoIterator<Item = (u64, u32)>) -> Self {
        let mut m = ExtentMap::default();
        for (i, g) in pairs {
            m.insert(i, g);
        }
        m
    }

    pub fn insert(&mut self, index: u64, generation: u32) {
        let v = self.gens.entry(index).or_default();
        if let Err(at) = v.binary_search(&generation) {
            v.insert(at, generation);
        }
    }

    pub fn remove(&mut self, index: u64, generation: u32) {
        if let Some(v) = self.gens.get_mut(&index) {
            v.retain(|&g| g != generation);
            if v.is_empty() {
                self.gens.remove(&index);
            }
        }
    }

    /// The generation a reader at `at` sees for `index`: the newest one not
    /// after `at`.
    pub fn visible(&self, index: u64, at: u32) -> Option<u32> {
        let v = self.gens.get(&index)?;
        v.iter().rev().find(|&&g| g <= at).copied()
    }

    /// What a write at `head` (the newest generation) needs first.
    pub fn materialize(&self, index: u64, head: u32) -> Materialize {
        match self.visible(index, head) {
            Some(g) if g == head => Materialize::Ready,
            Some(g) => Materialize::CopyFrom(g),
            None => Materialize::Absent,
        }
    }

    /// Every `(index, generation)`.
    pub fn pairs(&self) -> impl Iterator<Item = (u64, u32)> + '_ {
        self.gens
            .iter()
            .flat_map(|(&i, v)| v.iter().map(move |&g| (i, g)))
    }

    /// Extents no reader can see: `readers` are the generations still read
    /// (the snapshots left, and the head). Extent `(i, g)` is seen by a
    /// reader at `r` when `g <= r` and no generation of `i` lies in `(g, r]`.
    pub fn unreachable(&self, readers: &[u32]) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        for (&i, v) in &self.gens {
            for (k, &g) in v.iter().enumerate() {
                let next = v.get(k + 1).copied().unwrap_or(u32::MAX);
                let seen = readers.iter().any(|&r| g <= r && r < next);
                if !seen {
                    out.push((i, g));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_see_the_newest_generation_not_after_theirs() {
        let m = ExtentMap::from_pairs([(0, 0), (0, 2), (1, 1), (0, 2)]);
        assert_eq!(m.visible(0, 0), Some(0));
        assert_eq!(m.visible(0, 1), Some(0));
        assert_eq!(m.visible(0, 5), Some(2));
        assert_eq!(m.visible(1, 0), None);
        assert_eq!(m.visible(9, 9), None);
        assert_eq!(m.materialize(0, 2), Materialize::Ready);
        assert_eq!(m.materialize(0, 3), Materialize::CopyFrom(2));
        assert_eq!(m.materialize(1, 3), Materialize::CopyFrom(1));
        assert_eq!(m.materialize(2, 3), Materialize::Absent);
        assert_eq!(m.pairs().count(), 3);
    }

    #[test]
    fn unreachable_extents_are_those_no_reader_sees() {
        // Snapshots at 0 and 1 were taken; head is 2.
        let m = ExtentMap::from_pairs([(0, 0), (0, 1), (0, 2), (1, 0), (2, 1)]);
        // Everything is seen while both snapshots remain.
        assert!(m.unreachable(&[0, 1, 2]).is_empty());
        // Without snapshot 0: (0,0) is shadowed by (0,1) for reader 1;
        // (1,0) is still seen by readers 1 and 2 (no newer generation).
        assert_eq!(m.unreachable(&[1, 2]), vec![(0, 0)]);
        // Without either: only the newest of each index stays.
        assert_eq!(m.unreachable(&[2]), vec![(0, 0), (0, 1)]);
    }
}
