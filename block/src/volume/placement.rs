//! Where a volume's extents live: the ring view the block layer needs.
//! Extent `i` of volume `v` hashes like the object name
//! `/.volumes/<v>/<i>` would, so extents spread over the ring's partitions
//! and devices as objects do, and every generation of one extent shares the
//! same devices (which makes copy-on-write a copy inside each device).
//!
//! A volume may keep fewer copies than the ring has replicas (its record's
//! `replica_count`): it keeps the first that many of each extent's
//! primaries, so every reader and writer of the volume agrees on which.
//!
//! An attach with devices down needs a majority of every extent's replicas
//! up ([`ExtentPlacement::majority_lost`], decision 0016): an extent
//! without could not be written, and with a majority down not even
//! trusted to be listed.

use super::replicas::quorum_of;
use crate::device::BlockError;
use async_trait::async_trait;
use cairn_base::VolumeId;
use cairn_nodeapi::DeviceId;
use std::collections::BTreeSet;
use std::sync::Arc;

/// The hidden account extent names hash under.
const VOLUMES_ACCOUNT: &str = ".volumes";

/// Maps extents to devices.
pub trait ExtentPlacement: Send + Sync + 'static {
    /// The devices that hold every replica of extent `index`, in replica order.
    fn replicas(&self, volume: VolumeId, index: u64) -> Vec<DeviceId>;

    /// Every device that may hold extents (flush and listing go to all).
    fn devices(&self) -> Vec<DeviceId>;

    /// How many replicas `replicas` names: the most a volume can keep.
    fn replica_count(&self) -> usize;

    /// The devices of the copies a volume keeping `replica_count` of them
    /// (`None`: all) has of extent `index`: the first that many replicas.
    fn kept_replicas(
        &self,
        volume: VolumeId,
        index: u64,
        replica_count: Option<u8>,
    ) -> Vec<DeviceId> {
        let mut devices = self.replicas(volume, index);
        if let Some(n) = replica_count {
            devices.truncate(usize::from(n));
        }
        devices
    }

    /// Every distinct list of devices an extent's replicas can be placed
    /// on, in replica order; `None` when the placement cannot list them.
    fn replica_sets(&self) -> Option<Vec<Vec<DeviceId>>> {
        None
    }

    /// The replicas of some extent of a volume keeping `replica_count` of
    /// them of which fewer than a majority ([`quorum_of`]: 2 of 3, 2 of 2)
    /// are on devices not in `down`, if an extent can be placed so.
    /// Without [`Self::replica_sets`], any such number of devices may hold
    /// one extent's replicas.
    fn majority_lost(&self, down: &[DeviceId], replica_count: Option<u8>) -> Option<Vec<DeviceId>> {
        if down.is_empty() {
            return None;
        }
        let kept = replica_count.map_or(self.replica_count(), |n| {
            usize::from(n).min(self.replica_count())
        });
        let lost = |set: &[DeviceId]| {
            let n = set.len().min(kept);
            set[..n].iter().filter(|d| !down.contains(d)).count() < quorum_of(n)
        };
        match self.replica_sets() {
            Some(sets) => sets
                .into_iter()
                .find(|s| lost(s))
                .map(|s| s[..s.len().min(kept)].to_vec()),
            None => {
                let known: Vec<DeviceId> = self
                    .devices()
                    .into_iter()
                    .filter(|d| down.contains(d))
                    .collect();
                let up = kept.saturating_sub(known.len());
                (up < quorum_of(kept)).then_some(known)
            }
        }
    }
}

/// The placements volumes are made with. Each volume keeps the one in
/// force when it was made (its record's `placement`), so a ring that
/// changes later never moves where an existing volume's extents are
/// looked for, and volumes made after a cluster grew spread over it.
#[async_trait]
pub trait Placements: Send + Sync + 'static {
    /// The placement of a volume whose record names `version` (`None`:
    /// the cluster's first).
    async fn placement(&self, version: Option<u64>)
        -> Result<Arc<dyn ExtentPlacement>, BlockError>;

    /// The version a volume made now is placed by.
    async fn newest(&self) -> Result<Option<u64>, BlockError>;

    /// How many replicas every placement has: the most a volume can keep.
    fn replica_count(&self) -> usize;
}

/// One placement for every volume: the all-in-one process's ring.
pub struct Fixed(pub Arc<dyn ExtentPlacement>);

#[async_trait]
impl Placements for Fixed {
    async fn placement(&self, _: Option<u64>) -> Result<Arc<dyn ExtentPlacement>, BlockError> {
        Ok(self.0.clone())
    }

    async fn newest(&self) -> Result<Option<u64>, BlockError> {
        Ok(None)
    }

    fn replica_count(&self) -> usize {
        self.0.replica_count()
    }
}

impl ExtentPlacement for cairn_ring::Ring {
    fn replicas(&self, volume: VolumeId, index: u64) -> Vec<DeviceId> {
        let hash = self.object_hash(
            VOLUMES_ACCOUNT,
            Some(&volume.hex()),
            Some(&index.to_string()),
        );
        self.primaries(self.partition_of(&hash))
            .into_iter()
            .map(|d| DeviceId(d.id))
            .collect()
    }

    fn devices(&self) -> Vec<DeviceId> {
        self.devices().iter().map(|d| DeviceId(d.id)).collect()
    }

    fn replica_count(&self) -> usize {
        cairn_ring::Ring::replica_count(self)
    }

    fn replica_sets(&self) -> Option<Vec<Vec<DeviceId>>> {
        let sets: BTreeSet<Vec<DeviceId>> = (0..self.partition_count())
            .map(|p| self.primaries(p).iter().map(|d| DeviceId(d.id)).collect())
            .collect();
        Some(sets.into_iter().collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Six devices on three nodes (two each, `2n` and `2n + 1` on node
    /// `n`); every extent has one replica per node.
    struct TwoPerNode;

    impl ExtentPlacement for TwoPerNode {
        fn replicas(&self, _: VolumeId, index: u64) -> Vec<DeviceId> {
            let pick = (index % 2) as u32;
            (0..3).map(|n| DeviceId(2 * n + pick)).collect()
        }
        fn devices(&self) -> Vec<DeviceId> {
            (0..6).map(DeviceId).collect()
        }
        fn replica_count(&self) -> usize {
            3
        }
        fn replica_sets(&self) -> Option<Vec<Vec<DeviceId>>> {
            Some(
                (0..2)
                    .map(|i| self.replicas(VolumeId([0; 16]), i))
                    .collect(),
            )
        }
    }

    /// Three devices, one replica of every extent on each; the replica
    /// sets are not listed.
    struct Unlisted;

    impl ExtentPlacement for Unlisted {
        fn replicas(&self, _: VolumeId, _: u64) -> Vec<DeviceId> {
            self.devices()
        }
        fn devices(&self) -> Vec<DeviceId> {
            (0..3).map(DeviceId).collect()
        }
        fn replica_count(&self) -> usize {
            3
        }
    }

    #[test]
    fn a_majority_is_lost_only_where_one_extent_has_it_down() {
        let d = |ids: &[u32]| ids.iter().copied().map(DeviceId).collect::<Vec<_>>();
        // A whole node down (two devices) costs every extent one replica.
        assert_eq!(TwoPerNode.majority_lost(&d(&[2, 3]), None), None);
        // Two nodes' devices under one extent: that extent lost its majority.
        assert_eq!(
            TwoPerNode.majority_lost(&d(&[0, 2]), None),
            Some(d(&[0, 2, 4]))
        );
        // A volume keeping one copy loses it with its first replica's device.
        assert_eq!(TwoPerNode.majority_lost(&d(&[2]), Some(1)), None);
        assert_eq!(TwoPerNode.majority_lost(&d(&[0]), Some(1)), Some(d(&[0])));
        // Without the replica sets, any devices may share an extent.
        assert_eq!(Unlisted.majority_lost(&[], None), None);
        assert_eq!(Unlisted.majority_lost(&d(&[1]), None), None);
        assert_eq!(Unlisted.majority_lost(&d(&[1]), Some(2)), Some(d(&[1])));
        assert_eq!(Unlisted.majority_lost(&d(&[0, 2]), None), Some(d(&[0, 2])));
    }
}
