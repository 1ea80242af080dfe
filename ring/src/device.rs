//! Devices and their failure domains: `Device`, `DeviceSpec`, validation, tier keys.

use serde::{Deserialize, Serialize};

use crate::RingError;

/// One disk in the cluster, with the failure domains it lives in.
///
/// Failure domains nest: a region holds zones, a zone holds nodes, a node holds devices.
/// A zone is identified by `(region, zone)` and a node by `(region, zone, node)`, so the
/// same `node` number in two zones names two different machines.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Device {
    pub id: u32,
    pub region: u32,
    pub zone: u32,
    pub node: u32,
    /// `host:port` of the storage node that serves this device.
    pub addr: String,
    /// The device's name on its node (its mount directory), e.g. `d1`.
    pub name: String,
    /// Relative capacity; partitions are assigned in proportion to it. 0 drains the device.
    pub weight: f64,
}

/// What the operator gives to add a device; the builder picks the id.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
pub struct DeviceSpec {
    pub region: u32,
    pub zone: u32,
    pub node: u32,
    pub addr: String,
    pub name: String,
    pub weight: f64,
}

/// Longest accepted `addr` or `name`, in bytes.
pub const DEVICE_FIELD_LEN_MAX: usize = 255;

impl DeviceSpec {
    /// Checks the fields an operator can get wrong.
    pub fn validate(&self) -> Result<(), RingError> {
        validate_weight(self.weight)?;
        validate_text("addr", &self.addr)?;
        validate_text("name", &self.name)?;
        if self.name.contains('/') {
            return Err(RingError::InvalidDevice(format!(
                "name {:?} contains '/'",
                self.name
            )));
        }
        Ok(())
    }

    pub(crate) fn into_device(self, id: u32) -> Device {
        let DeviceSpec {
            region,
            zone,
            node,
            addr,
            name,
            weight,
        } = self;
        Device {
            id,
            region,
            zone,
            node,
            addr,
            name,
            weight,
        }
    }
}

pub(crate) fn validate_weight(weight: f64) -> Result<(), RingError> {
    if weight.is_finite() && weight >= 0.0 {
        Ok(())
    } else {
        Err(RingError::InvalidDevice(format!(
            "weight {weight} must be a finite number >= 0"
        )))
    }
}

fn validate_text(what: &str, value: &str) -> Result<(), RingError> {
    if value.is_empty() || value.len() > DEVICE_FIELD_LEN_MAX {
        return Err(RingError::InvalidDevice(format!(
            "{what} must be 1..={DEVICE_FIELD_LEN_MAX} bytes"
        )));
    }
    if value.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Err(RingError::InvalidDevice(format!(
            "{what} {value:?} contains whitespace"
        )));
    }
    Ok(())
}

impl Device {
    /// The zone this device is in, unique across regions.
    pub fn zone_key(&self) -> (u32, u32) {
        (self.region, self.zone)
    }

    /// The node this device is on, unique across zones and regions.
    pub fn node_key(&self) -> (u32, u32, u32) {
        (self.region, self.zone, self.node)
    }

    /// How new `self` would be to a set of devices already holding a partition:
    /// 3 = new region, 2 = new zone, 1 = new node, 0 = a node already used.
    /// A higher class always spreads a partition's replicas wider.
    pub fn novelty<'a>(&self, used: impl Iterator<Item = &'a Device> + Clone) -> u8 {
        if used.clone().all(|d| d.region != self.region) {
            3
        } else if used.clone().all(|d| d.zone_key() != self.zone_key()) {
            2
        } else if used.clone().all(|d| d.node_key() != self.node_key()) {
            1
        } else {
            0
        }
    }
}

/// Distinct (regions, zones, nodes, devices) of a set of devices. Compared
/// lexicographically, bigger is better dispersed.
pub type Spread = (usize, usize, usize, usize);

/// The spread of a set of devices.
pub fn spread<'a>(devices: impl Iterator<Item = &'a Device>) -> Spread {
    let mut regions = Vec::new();
    let mut zones = Vec::new();
    let mut nodes = Vec::new();
    let mut ids = Vec::new();
    for d in devices {
        push_unique(&mut regions, d.region);
        push_unique(&mut zones, d.zone_key());
        push_unique(&mut nodes, d.node_key());
        push_unique(&mut ids, d.id);
    }
    (regions.len(), zones.len(), nodes.len(), ids.len())
}

fn push_unique<T: PartialEq>(v: &mut Vec<T>, x: T) {
    if !v.contains(&x) {
        v.push(x);
    }
}

/// The widest spread `replica_count` replicas can have over `devices` (all with weight
/// > 0): every level uses as many distinct domains as exist, up to the replica count.
pub fn best_spread(devices: &[&Device], replica_count: usize) -> Spread {
    let (r, z, n, d) = spread(devices.iter().copied());
    let cap = |x: usize| x.min(replica_count);
    (cap(r), cap(z), cap(n), cap(d))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(id: u32, region: u32, zone: u32, node: u32) -> Device {
        let addr = format!("10.0.{zone}.{node}:6210");
        let name = format!("d{id}");
        Device {
            id,
            region,
            zone,
            node,
            addr,
            name,
            weight: 1.0,
        }
    }

    // Novelty ranks a new region over a new zone over a new node over a used node.
    #[test]
    fn novelty_classes() {
        let used = [dev(1, 1, 1, 1)];
        assert_eq!(dev(2, 2, 1, 1).novelty(used.iter()), 3);
        assert_eq!(dev(2, 1, 2, 1).novelty(used.iter()), 2);
        assert_eq!(dev(2, 1, 1, 2).novelty(used.iter()), 1);
        assert_eq!(dev(2, 1, 1, 1).novelty(used.iter()), 0);
        assert_eq!(dev(2, 1, 1, 1).novelty([].iter()), 3);
    }

    // Bad weights, empty names and names with '/' are rejected.
    #[test]
    fn spec_validation() {
        let ok = DeviceSpec {
            region: 1,
            zone: 1,
            node: 1,
            addr: "127.0.0.1:6210".into(),
            name: "d1".into(),
            weight: 1.0,
        };
        assert!(ok.validate().is_ok());
        for bad in [
            DeviceSpec {
                weight: -1.0,
                ..ok.clone()
            },
            DeviceSpec {
                weight: f64::NAN,
                ..ok.clone()
            },
            DeviceSpec {
                weight: f64::INFINITY,
                ..ok.clone()
            },
            DeviceSpec {
                name: String::new(),
                ..ok.clone()
            },
            DeviceSpec {
                name: "a/b".into(),
                ..ok.clone()
            },
            DeviceSpec {
                addr: "a b".into(),
                ..ok.clone()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }
}
