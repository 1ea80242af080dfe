//! Ready-made rings for `cairn up` and tests: one zone per device.

use crate::{DeviceSpec, Ring, RingBuilder, RingError};

/// Weight given to each device of a default ring.
pub const DEFAULT_DEVICE_WEIGHT: f64 = 100.0;

/// Device specs for `(addr, name)` pairs, each device in its own zone and node of
/// region 1, all with the same weight: the widest spread a small cluster can have.
pub fn one_zone_per_device(devices: &[(String, String)]) -> Vec<DeviceSpec> {
    devices
        .iter()
        .zip(1u32..)
        .map(|((addr, name), n)| DeviceSpec {
            region: 1,
            zone: n,
            node: n,
            addr: addr.clone(),
            name: name.clone(),
            weight: DEFAULT_DEVICE_WEIGHT,
        })
        .collect()
}

/// Builds and rebalances a builder holding `devices`; returns it with its first ring.
pub fn default_ring(
    part_power: u8,
    replica_count: usize,
    min_part_hours: u32,
    devices: Vec<DeviceSpec>,
    now_secs: u64,
) -> Result<(RingBuilder, Ring), RingError> {
    let mut builder = RingBuilder::new(part_power, replica_count, min_part_hours)?;
    for spec in devices {
        builder.add_device(spec)?;
    }
    builder.rebalance(now_secs)?;
    let ring = builder.ring()?;
    Ok((builder, ring))
}
