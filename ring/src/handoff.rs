//! `Handoffs`: the fallback devices of a partition, in Swift's `get_more_nodes` spirit.
//!
//! Order: a device in a region none of the primaries or earlier handoffs use comes
//! first, then a new zone, then a new node, then any device; devices with weight 0
//! (being drained) come last. Within a class the order is a fixed pseudo-random
//! permutation per partition (rendezvous hashing), so handoff load spreads over the
//! cluster and every proxy computes the same order.

use crate::hash::mix;
use crate::{Device, Ring};

/// Iterator over every non-primary device of a partition; never repeats a device.
#[derive(Debug, Clone)]
pub struct Handoffs<'a> {
    ring: &'a Ring,
    /// Devices already handed out (primaries first).
    used: Vec<&'a Device>,
    /// (rendezvous score, device index) of the devices not handed out yet.
    left: Vec<(u64, u32)>,
}

impl<'a> Handoffs<'a> {
    pub(crate) fn new(ring: &'a Ring, partition: u32) -> Handoffs<'a> {
        let primaries = ring.primary_indexes(partition);
        let used = primaries
            .iter()
            .map(|&i| &ring.devices()[i as usize])
            .collect();
        let left = ring
            .devices()
            .iter()
            .enumerate()
            .filter(|(i, _)| !primaries.contains(&(*i as u32)))
            .map(|(i, d)| (mix(u64::from(partition), u64::from(d.id)), i as u32))
            .collect();
        Handoffs { ring, used, left }
    }

    /// Higher is handed out earlier.
    fn class(&self, d: &Device) -> u8 {
        if d.weight > 0.0 {
            1 + d.novelty(self.used.iter().copied())
        } else {
            0
        }
    }
}

impl<'a> Iterator for Handoffs<'a> {
    type Item = &'a Device;

    fn next(&mut self) -> Option<&'a Device> {
        let devices = self.ring.devices();
        let (pos, _) = self
            .left
            .iter()
            .enumerate()
            .max_by_key(|(_, &(score, i))| {
                (self.class(&devices[i as usize]), std::cmp::Reverse(score))
            })?;
        let (_, i) = self.left.swap_remove(pos);
        let d = &devices[i as usize];
        self.used.push(d);
        Some(d)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.left.len(), Some(self.left.len()))
    }
}

impl ExactSizeIterator for Handoffs<'_> {}
