//! Ring statistics for operators: replicas per device against target, balance and
//! dispersion (what `cairn ring show` prints).

use serde::Serialize;

use crate::device::{best_spread, spread};
use crate::targets::device_shares;
use crate::{Device, Ring};

/// Shown for a device with weight 0 that still holds replicas (Swift prints the same).
pub const ZERO_WEIGHT_BALANCE_PERCENT: f64 = 999.99;

/// One device's load.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct DeviceStats {
    pub id: u32,
    /// Partition-replicas assigned to the device.
    pub replicas: u64,
    /// What weight and dispersion say it should hold.
    pub target: f64,
    /// `(replicas - target) / target` in percent.
    pub balance_percent: f64,
}

/// A ring's balance and dispersion.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RingStats {
    /// In `Ring::devices()` order.
    pub devices: Vec<DeviceStats>,
    /// Largest `|balance_percent|` over devices with weight > 0.
    pub balance_percent: f64,
    /// Partitions spread less widely than the devices allow, in percent.
    pub dispersion_percent: f64,
}

impl Ring {
    /// Balance and dispersion of this ring, against the targets the builder aims for.
    pub fn stats(&self) -> RingStats {
        let devices = self.devices();
        let active: Vec<usize> = (0..devices.len())
            .filter(|&i| devices[i].weight > 0.0)
            .collect();
        let refs: Vec<&Device> = active.iter().map(|&i| &devices[i]).collect();
        let parts = f64::from(self.partition_count());
        let mut target = vec![0.0; devices.len()];
        for (&i, s) in active
            .iter()
            .zip(device_shares(&refs, self.replica_count()))
        {
            target[i] = s * parts;
        }
        let counts = self.replicas_per_device();
        let per_device: Vec<DeviceStats> = devices
            .iter()
            .enumerate()
            .map(|(i, d)| DeviceStats {
                id: d.id,
                replicas: counts[i],
                target: target[i],
                balance_percent: balance(counts[i], target[i]),
            })
            .collect();
        let balance_percent = per_device
            .iter()
            .zip(devices)
            .filter(|(_, d)| d.weight > 0.0)
            .map(|(s, _)| s.balance_percent.abs())
            .fold(0.0, f64::max);
        let best = best_spread(&refs, self.replica_count());
        let narrow = (0..self.partition_count())
            .filter(|&p| spread(self.primaries(p).into_iter()) < best)
            .count();
        RingStats {
            devices: per_device,
            balance_percent,
            dispersion_percent: 100.0 * narrow as f64 / parts,
        }
    }
}

fn balance(replicas: u64, target: f64) -> f64 {
    if target > 0.0 {
        100.0 * (replicas as f64 - target) / target
    } else if replicas > 0 {
        ZERO_WEIGHT_BALANCE_PERCENT
    } else {
        0.0
    }
}
