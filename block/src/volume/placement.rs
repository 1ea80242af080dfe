//! Where a volume's extents live: the ring view the block layer needs.
//! Extent `i` of volume `v` hashes like the object name
//! `/.volumes/<v>/<i>` would, so extents spread over the ring's partitions
//! and devices as objects do, and every generation of one extent shares the
//! same devices (which makes copy-on-write a copy inside each device).

use cairn_base::VolumeId;
use cairn_nodeapi::DeviceId;

/// The hidden account extent names hash under.
const VOLUMES_ACCOUNT: &str = ".volumes";

/// Maps extents to devices.
pub trait ExtentPlacement: Send + Sync + 'static {
    /// The devices that hold every replica of extent `index`, in replica order.
    fn replicas(&self, volume: VolumeId, index: u64) -> Vec<DeviceId>;

    /// Every device that may hold extents (flush and listing go to all).
    fn devices(&self) -> Vec<DeviceId>;
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
}
