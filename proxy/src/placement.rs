//! Where an object's replicas live: the narrow view of the ring the proxy
//! needs (primaries, then handoffs), so tests and ring updates can swap it.

use cairn_nodeapi::{DeviceId, NodeId, ObjectKey};

/// Handoff devices considered beyond the primaries (Swift's
/// `request_node_count` is twice the replica count).
pub const HANDOFFS_MAX: usize = 3;

/// One device of one storage node.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Target {
    pub node: NodeId,
    pub device: DeviceId,
}

/// An object's key and the devices that should hold it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Locations {
    pub key: ObjectKey,
    pub primaries: Vec<Target>,
    /// At most [`HANDOFFS_MAX`], in the order to try them.
    pub handoffs: Vec<Target>,
}

impl Locations {
    /// Replicas needed for a write to be durable: a majority of primaries.
    pub fn quorum(&self) -> usize {
        self.primaries.len() / 2 + 1
    }

    /// The order reads try devices in: the primaries in random order (as
    /// Swift's `sorting_method = shuffle`: reads spread over every replica,
    /// so each replica's bytes are verified by ordinary traffic) but those
    /// on the `near` node first (Swift's `read_affinity`), then the handoffs
    /// in ring order.
    pub fn read_order(&self, near: Option<NodeId>) -> Vec<Target> {
        use rand::seq::SliceRandom;
        let mut primaries = self.primaries.clone();
        primaries.shuffle(&mut rand::thread_rng());
        if let Some(near) = near {
            primaries.sort_by_key(|t| t.node != near);
        }
        primaries.extend_from_slice(&self.handoffs);
        primaries
    }
}

/// Maps an object name to its devices.
pub trait Placement: Send + Sync + 'static {
    fn locate(&self, account: &str, container: &str, object: &str) -> Locations;
}

/// The ring itself is a placement: primaries of the name's partition, then
/// its first [`HANDOFFS_MAX`] handoffs. Device ids and node numbers map to
/// the node API's ids one to one.
impl Placement for cairn_ring::Ring {
    fn locate(&self, account: &str, container: &str, object: &str) -> Locations {
        let hash = self.object_hash(account, Some(container), Some(object));
        let partition = self.partition_of(&hash);
        let target = |d: &cairn_ring::Device| Target {
            node: NodeId(d.node),
            device: DeviceId(d.id),
        };
        Locations {
            key: ObjectKey { partition, hash },
            primaries: self.primaries(partition).into_iter().map(target).collect(),
            handoffs: self
                .handoffs(partition)
                .take(HANDOFFS_MAX)
                .map(target)
                .collect(),
        }
    }
}

/// The ring in force, replaced when a newer one arrives.
impl Placement for cairn_ring::LiveRing {
    fn locate(&self, account: &str, container: &str, object: &str) -> Locations {
        self.current().locate(account, container, object)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cairn_ring::LiveRing;

    fn ring(devices: usize) -> cairn_ring::Ring {
        let specs: Vec<(String, String)> = (0..devices)
            .map(|i| (format!("h{i}:6000"), format!("d{i}")))
            .collect();
        let (_, ring) =
            cairn_ring::default_ring(6, 3, 0, cairn_ring::one_zone_per_device(&specs), 0).unwrap();
        ring
    }

    #[test]
    fn ring_locations_are_distinct_and_stable() {
        // Three distinct primaries, handoffs disjoint from them, same answer for the same name.
        let live = LiveRing::new(ring(6));
        let a = live.locate("AUTH_a", "c", "o");
        assert_eq!(a.primaries.len(), 3);
        assert_eq!(a.quorum(), 2);
        assert_eq!(a.handoffs.len(), HANDOFFS_MAX);
        let mut all: Vec<Target> = a.read_order(None);
        all.sort_by_key(|t| t.device);
        all.dedup();
        assert_eq!(all.len(), 3 + HANDOFFS_MAX);
        assert_eq!(live.locate("AUTH_a", "c", "o"), a);
        assert_ne!(live.locate("AUTH_a", "c", "o2").key.hash, a.key.hash);
        live.replace(ring(4));
        assert_eq!(live.locate("AUTH_a", "c", "o").handoffs.len(), 1);
    }

    #[test]
    fn reads_try_the_near_node_first_and_spread_over_the_rest() {
        let a = LiveRing::new(ring(6)).locate("AUTH_a", "c", "o");
        let near = a.primaries[2].node;
        let mut firsts = std::collections::BTreeSet::new();
        for _ in 0..200 {
            let order = a.read_order(Some(near));
            assert_eq!(order[0].node, near);
            assert_eq!(&order[3..], &a.handoffs[..]);
            let plain = a.read_order(None);
            firsts.insert(plain[0].device);
        }
        // Without affinity every primary comes first now and then.
        assert_eq!(firsts.len(), 3);
    }
}
