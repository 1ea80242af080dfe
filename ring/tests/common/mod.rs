//! Helpers shared by the ring's integration tests.
#![allow(dead_code)]

use cairn_ring::{Device, DeviceSpec, Ring, RingBuilder};

pub fn spec(region: u32, zone: u32, node: u32, name: &str, weight: f64) -> DeviceSpec {
    DeviceSpec {
        region,
        zone,
        node,
        addr: format!("10.{region}.{zone}.{node}:6210"),
        name: name.to_owned(),
        weight,
    }
}

/// Replicas held by each device id.
pub fn counts(ring: &Ring) -> Vec<(u32, u64)> {
    let c = ring.replicas_per_device();
    ring.devices().iter().map(|d| d.id).zip(c).collect()
}

pub fn count_of(ring: &Ring, id: u32) -> u64 {
    counts(ring)
        .into_iter()
        .find(|(i, _)| *i == id)
        .map_or(0, |(_, c)| c)
}

/// Partition-replicas whose device changed between two rings.
pub fn moved_replicas(a: &Ring, b: &Ring) -> u64 {
    (0..a.partition_count())
        .map(|p| {
            let old: Vec<u32> = a.primaries(p).iter().map(|d| d.id).collect();
            b.primaries(p)
                .iter()
                .filter(|d| !old.contains(&d.id))
                .count() as u64
        })
        .sum()
}

/// Checks the structural invariants every ring must keep.
pub fn check_ring(ring: &Ring) {
    for p in 0..ring.partition_count() {
        let prim = ring.primaries(p);
        assert_eq!(prim.len(), ring.replica_count());
        let mut ids: Vec<u32> = prim.iter().map(|d| d.id).collect();
        ids.sort();
        ids.dedup();
        assert_eq!(
            ids.len(),
            ring.replica_count(),
            "partition {p} repeats a device"
        );
    }
}

pub fn builder_with(part_power: u8, replicas: usize, specs: &[DeviceSpec]) -> RingBuilder {
    let mut b = RingBuilder::new_seeded(part_power, replicas, 0, 7).unwrap();
    for s in specs {
        b.add_device(s.clone()).unwrap();
    }
    b
}

pub fn ids(devs: &[&Device]) -> Vec<u32> {
    devs.iter().map(|d| d.id).collect()
}
