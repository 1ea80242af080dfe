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
//! up ([`ExtentPlacement::majority_lost`], decision 0016): an extent with a
//! majority down could neither be written nor trusted to be listed.

use super::replicas::quorum_of;
use cairn_base::VolumeId;
use cairn_nodeapi::DeviceId;
use std::collections::BTreeSet;

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
    /// them of which a majority is on the devices `down`, if an extent can
    /// be placed so. Without [`Self::replica_sets`], any such number of
    /// devices may hold one extent's replicas.
    fn majority_lost(&self, down: &[DeviceId], replica_count: Option<u8>) -> Option<Vec<DeviceId>> {
        if down.is_empty() {
            return None;
        }
        let kept = replica_count.map_or(self.replica_count(), |n| {
            usize::from(n).min(self.replica_count())
        });
        let lost = |set: &[DeviceId]| {
            let n = set.len().min(kept);
            set[..n].iter().filter(|d| down.contains(d)).count() >= quorum_of(n)
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
                (known.len() >= quorum_of(kept)).then_some(known)
            }
        }
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
