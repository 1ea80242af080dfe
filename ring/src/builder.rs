//! `RingBuilder`: the editable state behind a ring (Swift's `.builder` file): devices,
//! weights, pending removals, the current assignment and when each partition last moved.

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::file::{decode_u32s, decode_u64s, encode_u32s, encode_u64s, load_json, save_json};
use crate::rebalance::{plan, PlanInput};
use crate::ring::RingParts;
use crate::{Device, DeviceSpec, Ring, RingError, PART_POWER_MAX, REPLICA_COUNT_MAX};

/// Marks a builder file and its format version.
const BUILDER_FORMAT: &str = "cairn-ring-builder/1";

/// Seconds in an hour, for `min_part_hours`.
const HOUR_SECS: u64 = 3600;

/// Checks a part power and replica count.
pub(crate) fn check_shape(part_power: u8, replica_count: usize) -> Result<(), RingError> {
    if part_power == 0 || part_power > PART_POWER_MAX {
        return Err(RingError::PartPower(part_power));
    }
    if replica_count == 0 || replica_count > REPLICA_COUNT_MAX {
        return Err(RingError::ReplicaCount(replica_count));
    }
    Ok(())
}

/// The editable ring. Every change is recorded here; only [`RingBuilder::rebalance`]
/// moves partitions and produces a new [`Ring`].
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "BuilderFile", into = "BuilderFile")]
pub struct RingBuilder {
    part_power: u8,
    replica_count: usize,
    min_part_hours: u32,
    /// Seeds the deterministic tie-breaking of the rebalance.
    seed: u64,
    hash_prefix: String,
    hash_suffix: String,
    next_device_id: u32,
    /// Current devices, sorted by id, including those pending removal.
    devices: Vec<Device>,
    pending_removal: Vec<u32>,
    version: u64,
    /// The devices as of the last rebalance: the ring's device list.
    ring_devices: Vec<Device>,
    /// Device ids, partition-major; empty before the first rebalance.
    table: Vec<u32>,
    /// Per partition: `now_secs` of the rebalance that last moved one of its replicas.
    last_moved_secs: Vec<u64>,
}

/// What a rebalance did.
#[derive(Clone, Debug, PartialEq, Serialize)]
pub struct RebalanceReport {
    /// The new ring version.
    pub version: u64,
    /// Partitions that had at least one replica assigned to a new device.
    pub moved_partitions: u32,
    /// Partition-replicas assigned to a new device.
    pub moved_replicas: u64,
    /// Worst device's distance from its target, in percent of the target.
    pub balance_percent: f64,
    /// Partitions spread less widely than the devices allow, in percent.
    pub dispersion_percent: f64,
    /// Partitions `min_part_hours` kept in place (they moved too recently).
    pub locked_partitions: u32,
}

impl RingBuilder {
    /// A new, empty builder with random hash secrets.
    pub fn new(
        part_power: u8,
        replica_count: usize,
        min_part_hours: u32,
    ) -> Result<Self, RingError> {
        let secrets: [u64; 5] = rand::random();
        Self::new_with_secrets(part_power, replica_count, min_part_hours, secrets)
    }

    /// A new builder whose secrets and tie-breaking come from `seed` (tests, simulation).
    pub fn new_seeded(
        part_power: u8,
        replica_count: usize,
        min_part_hours: u32,
        seed: u64,
    ) -> Result<Self, RingError> {
        let s = |i: u64| crate::hash::mix(seed, i);
        Self::new_with_secrets(
            part_power,
            replica_count,
            min_part_hours,
            [s(0), s(1), s(2), s(3), s(4)],
        )
    }

    fn new_with_secrets(
        part_power: u8,
        replica_count: usize,
        min_part_hours: u32,
        secrets: [u64; 5],
    ) -> Result<Self, RingError> {
        check_shape(part_power, replica_count)?;
        Ok(RingBuilder {
            part_power,
            replica_count,
            min_part_hours,
            seed: secrets[0],
            hash_prefix: format!("{:016x}{:016x}", secrets[1], secrets[2]),
            hash_suffix: format!("{:016x}{:016x}", secrets[3], secrets[4]),
            next_device_id: 0,
            devices: Vec::new(),
            pending_removal: Vec::new(),
            version: 0,
            ring_devices: Vec::new(),
            table: Vec::new(),
            last_moved_secs: Vec::new(),
        })
    }

    pub fn load(path: &Path) -> Result<Self, RingError> {
        load_json(path)
    }

    /// Writes the builder atomically (temp file + fsync + rename + fsync of the directory).
    pub fn save(&self, path: &Path) -> Result<(), RingError> {
        save_json(path, self)
    }

    pub fn part_power(&self) -> u8 {
        self.part_power
    }

    pub fn replica_count(&self) -> usize {
        self.replica_count
    }

    pub fn partition_count(&self) -> u32 {
        1 << self.part_power
    }

    pub fn min_part_hours(&self) -> u32 {
        self.min_part_hours
    }

    pub fn set_min_part_hours(&mut self, hours: u32) {
        self.min_part_hours = hours;
    }

    /// The version of the last ring built (0 before the first rebalance).
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Current devices, sorted by id, including those pending removal.
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    pub fn device(&self, id: u32) -> Option<&Device> {
        self.devices.iter().find(|d| d.id == id)
    }

    /// Ids of devices that the next rebalance will empty and drop.
    pub fn pending_removal(&self) -> &[u32] {
        &self.pending_removal
    }

    /// Forgets when partitions last moved, so the next rebalance may move
    /// any of them (still one replica of each at most, as whenever
    /// `min_part_hours` is set): Swift's `pretend_min_part_hours_passed`,
    /// for an operator who knows the last moves have been replicated.
    pub fn pretend_min_part_hours_passed(&mut self) {
        self.last_moved_secs.iter_mut().for_each(|t| *t = 0);
    }

    /// Seconds until every partition may move again (0 if none is locked).
    pub fn min_part_seconds_left(&self, now_secs: u64) -> u64 {
        let window = u64::from(self.min_part_hours) * HOUR_SECS;
        self.last_moved_secs
            .iter()
            .map(|&t| (t.saturating_add(window)).saturating_sub(now_secs))
            .max()
            .unwrap_or(0)
    }

    /// Adds a device and returns its id. Ids are never reused.
    pub fn add_device(&mut self, spec: DeviceSpec) -> Result<u32, RingError> {
        spec.validate()?;
        if let Some(d) = self.devices.iter().find(|d| {
            d.addr == spec.addr && d.name == spec.name && !self.pending_removal.contains(&d.id)
        }) {
            return Err(RingError::DuplicateDevice {
                id: d.id,
                addr: spec.addr,
                name: spec.name,
            });
        }
        let id = self.next_device_id;
        self.next_device_id = id
            .checked_add(1)
            .ok_or_else(|| RingError::InvalidDevice("device ids exhausted".into()))?;
        self.devices.push(spec.into_device(id));
        Ok(id)
    }

    /// Schedules a device for removal: the next rebalance moves all its partitions away
    /// (ignoring `min_part_hours`) and drops it.
    pub fn remove_device(&mut self, id: u32) -> Result<(), RingError> {
        self.editable(id)?;
        if self.table.is_empty() {
            self.devices.retain(|d| d.id != id);
        } else {
            self.pending_removal.push(id);
        }
        Ok(())
    }

    /// Changes a device's weight; takes effect at the next rebalance.
    pub fn set_weight(&mut self, id: u32, weight: f64) -> Result<(), RingError> {
        crate::device::validate_weight(weight)?;
        let i = self.editable(id)?;
        self.devices[i].weight = weight;
        Ok(())
    }

    fn editable(&self, id: u32) -> Result<usize, RingError> {
        if self.pending_removal.contains(&id) {
            return Err(RingError::DeviceRemoved(id));
        }
        self.devices
            .iter()
            .position(|d| d.id == id)
            .ok_or(RingError::NoSuchDevice(id))
    }

    /// Reassigns partitions after device changes and bumps the version.
    pub fn rebalance(&mut self, now_secs: u64) -> Result<RebalanceReport, RingError> {
        let active = self
            .devices
            .iter()
            .filter(|d| d.weight > 0.0 && !self.pending_removal.contains(&d.id))
            .count();
        if active < self.replica_count {
            return Err(RingError::NotEnoughDevices {
                replicas: self.replica_count,
                devices: active,
            });
        }
        let parts = self.partition_count() as usize;
        let old_ids = (!self.table.is_empty()).then(|| self.table.clone());
        let locked = self.locked(now_secs, parts);
        let locked_partitions = locked.iter().filter(|&&l| l).count() as u32;
        let index_of = |id: u32| {
            self.devices
                .binary_search_by_key(&id, |d| d.id)
                .map(|i| i as u32)
                .map_err(|_| RingError::Corrupt(format!("table names unknown device {id}")))
        };
        let old_table = match &old_ids {
            Some(t) => Some(
                t.iter()
                    .map(|&id| index_of(id))
                    .collect::<Result<Vec<_>, _>>()?,
            ),
            None => None,
        };
        let removed: Vec<usize> = self
            .pending_removal
            .iter()
            .filter_map(|id| index_of(*id).ok().map(|i| i as usize))
            .collect();
        let new_table = plan(PlanInput {
            devices: &self.devices,
            removed: &removed,
            replica_count: self.replica_count,
            part_count: parts,
            old_table,
            locked,
            one_move_per_part: self.min_part_hours > 0,
            seed: self.seed,
        });
        let new_ids: Vec<u32> = new_table
            .iter()
            .map(|&i| self.devices[i as usize].id)
            .collect();
        let (moved_partitions, moved_replicas) =
            self.stamp_moves(old_ids.as_deref(), &new_ids, now_secs);
        self.table = new_ids;
        self.devices
            .retain(|d| !self.pending_removal.contains(&d.id));
        self.pending_removal.clear();
        self.ring_devices = self.devices.clone();
        self.version += 1;
        let stats = self.ring()?.stats();
        Ok(RebalanceReport {
            version: self.version,
            moved_partitions,
            moved_replicas,
            balance_percent: stats.balance_percent,
            dispersion_percent: stats.dispersion_percent,
            locked_partitions,
        })
    }

    fn locked(&self, now_secs: u64, parts: usize) -> Vec<bool> {
        let window = u64::from(self.min_part_hours) * HOUR_SECS;
        if self.last_moved_secs.len() != parts || window == 0 {
            return vec![false; parts];
        }
        self.last_moved_secs
            .iter()
            .map(|&t| now_secs.saturating_sub(t) < window)
            .collect()
    }

    /// Counts moves against the old table and stamps moved partitions with `now_secs`.
    fn stamp_moves(&mut self, old: Option<&[u32]>, new: &[u32], now_secs: u64) -> (u32, u64) {
        let r = self.replica_count;
        let parts = new.len() / r;
        if self.last_moved_secs.len() != parts {
            self.last_moved_secs = vec![now_secs; parts];
        }
        let Some(old) = old else {
            return (parts as u32, new.len() as u64);
        };
        let (mut moved_parts, mut moved_replicas) = (0u32, 0u64);
        for p in 0..parts {
            let (o, n) = (&old[p * r..(p + 1) * r], &new[p * r..(p + 1) * r]);
            let moved = n.iter().filter(|id| !o.contains(id)).count() as u64;
            if moved > 0 {
                moved_parts += 1;
                moved_replicas += moved;
                self.last_moved_secs[p] = now_secs;
            }
        }
        (moved_parts, moved_replicas)
    }

    /// The ring as of the last rebalance.
    pub fn ring(&self) -> Result<Ring, RingError> {
        if self.table.is_empty() {
            return Err(RingError::NotRebalanced);
        }
        Ring::from_parts(RingParts {
            part_power: self.part_power,
            replica_count: self.replica_count,
            version: self.version,
            hash_prefix: self.hash_prefix.clone(),
            hash_suffix: self.hash_suffix.clone(),
            devices: self.ring_devices.clone(),
            table_ids: self.table.clone(),
        })
    }
}

/// The on-disk form of a builder.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct BuilderFile {
    format: String,
    part_power: u8,
    replica_count: usize,
    min_part_hours: u32,
    seed: u64,
    hash_prefix: String,
    hash_suffix: String,
    next_device_id: u32,
    devices: Vec<Device>,
    pending_removal: Vec<u32>,
    version: u64,
    ring_devices: Vec<Device>,
    /// base64 of little-endian u32 device ids; empty before the first rebalance.
    table: String,
    /// base64 of little-endian u64 seconds.
    last_moved_secs: String,
}

impl TryFrom<BuilderFile> for RingBuilder {
    type Error = RingError;

    fn try_from(f: BuilderFile) -> Result<RingBuilder, RingError> {
        if f.format != BUILDER_FORMAT {
            return Err(RingError::Corrupt(format!(
                "format {:?} is not {BUILDER_FORMAT:?}",
                f.format
            )));
        }
        check_shape(f.part_power, f.replica_count)?;
        let parts = 1usize << f.part_power;
        let built = !f.table.is_empty();
        let (table_len, moved_len) = if built {
            (parts * f.replica_count, parts)
        } else {
            (0, 0)
        };
        let mut devices = f.devices;
        devices.sort_by_key(|d| d.id);
        for d in &devices {
            if d.id >= f.next_device_id {
                return Err(RingError::Corrupt(format!("device id {} >= next id", d.id)));
            }
            crate::device::validate_weight(d.weight)?;
        }
        if devices.windows(2).any(|w| w[0].id == w[1].id) {
            return Err(RingError::Corrupt("duplicate device id".into()));
        }
        if let Some(id) = f
            .pending_removal
            .iter()
            .find(|id| devices.binary_search_by_key(id, |d| &d.id).is_err())
        {
            return Err(RingError::Corrupt(format!(
                "pending removal of unknown device {id}"
            )));
        }
        let b = RingBuilder {
            part_power: f.part_power,
            replica_count: f.replica_count,
            min_part_hours: f.min_part_hours,
            seed: f.seed,
            hash_prefix: f.hash_prefix,
            hash_suffix: f.hash_suffix,
            next_device_id: f.next_device_id,
            devices,
            pending_removal: f.pending_removal,
            version: f.version,
            ring_devices: f.ring_devices,
            table: decode_u32s(&f.table, table_len)?,
            last_moved_secs: decode_u64s(&f.last_moved_secs, moved_len)?,
        };
        if built {
            // The assignment must name live devices and form a valid ring.
            b.ring()?;
            if b.table.iter().any(|id| b.device(*id).is_none()) {
                return Err(RingError::Corrupt("table names a dropped device".into()));
            }
        }
        Ok(b)
    }
}

impl From<RingBuilder> for BuilderFile {
    fn from(b: RingBuilder) -> BuilderFile {
        BuilderFile {
            format: BUILDER_FORMAT.to_owned(),
            part_power: b.part_power,
            replica_count: b.replica_count,
            min_part_hours: b.min_part_hours,
            seed: b.seed,
            hash_prefix: b.hash_prefix,
            hash_suffix: b.hash_suffix,
            next_device_id: b.next_device_id,
            devices: b.devices,
            pending_removal: b.pending_removal,
            version: b.version,
            ring_devices: b.ring_devices,
            table: encode_u32s(&b.table),
            last_moved_secs: encode_u64s(&b.last_moved_secs),
        }
    }
}
