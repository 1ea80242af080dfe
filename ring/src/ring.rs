//! `Ring`: the built, immutable ring and its lookups (name -> partition -> devices).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::file::{decode_u32s, encode_u32s, load_json, save_json};
use crate::{hash, Device, Handoffs, RingError};

/// Marks a ring file and its format version.
const RING_FORMAT: &str = "cairn-ring/1";

/// The built ring: for every partition, `replica_count` distinct devices.
///
/// Immutable; a new ring comes from [`crate::RingBuilder::rebalance`]. Cheap to share
/// behind an `Arc` and to swap whole when a new version is loaded.
#[derive(Clone, Debug, Serialize, Deserialize, PartialEq)]
#[serde(try_from = "RingFile", into = "RingFile")]
pub struct Ring {
    part_power: u8,
    replica_count: usize,
    version: u64,
    hash_prefix: String,
    hash_suffix: String,
    /// Sorted by id.
    devices: Vec<Device>,
    /// `table[part * replica_count + r]` is an index into `devices`.
    table: Vec<u32>,
}

/// The parts of a ring, as the builder produces them; `table` holds device ids.
pub(crate) struct RingParts {
    pub part_power: u8,
    pub replica_count: usize,
    pub version: u64,
    pub hash_prefix: String,
    pub hash_suffix: String,
    pub devices: Vec<Device>,
    pub table_ids: Vec<u32>,
}

impl Ring {
    pub(crate) fn from_parts(parts: RingParts) -> Result<Ring, RingError> {
        let RingParts {
            part_power,
            replica_count,
            version,
            hash_prefix,
            hash_suffix,
            mut devices,
            table_ids,
        } = parts;
        crate::builder::check_shape(part_power, replica_count)?;
        devices.sort_by_key(|d| d.id);
        if devices.windows(2).any(|w| w[0].id == w[1].id) {
            return Err(RingError::Corrupt("duplicate device id".into()));
        }
        for d in &devices {
            crate::device::validate_weight(d.weight)?;
        }
        let parts = 1usize << part_power;
        if table_ids.len() != parts * replica_count {
            return Err(RingError::Corrupt(format!(
                "table has {} entries, expected {}",
                table_ids.len(),
                parts * replica_count
            )));
        }
        let index = |id: u32| {
            devices
                .binary_search_by_key(&id, |d| d.id)
                .map(|i| i as u32)
                .map_err(|_| RingError::Corrupt(format!("table names unknown device {id}")))
        };
        let table = table_ids
            .iter()
            .map(|&id| index(id))
            .collect::<Result<Vec<_>, _>>()?;
        for (p, row) in table.chunks_exact(replica_count).enumerate() {
            let mut row = row.to_vec();
            row.sort_unstable();
            if row.windows(2).any(|w| w[0] == w[1]) {
                return Err(RingError::Corrupt(format!(
                    "partition {p} has two replicas on one device"
                )));
            }
        }
        Ok(Ring {
            part_power,
            replica_count,
            version,
            hash_prefix,
            hash_suffix,
            devices,
            table,
        })
    }

    /// Reads a ring file and checks it whole before returning it.
    pub fn load(path: &Path) -> Result<Ring, RingError> {
        load_json(path)
    }

    /// Writes the ring atomically (temp file + fsync + rename + fsync of the directory).
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

    /// Every device in the ring, sorted by id; some may have weight 0 (draining).
    pub fn devices(&self) -> &[Device] {
        &self.devices
    }

    pub fn device(&self, id: u32) -> Option<&Device> {
        let i = self.devices.binary_search_by_key(&id, |d| d.id).ok()?;
        Some(&self.devices[i])
    }

    /// Bumped by every rebalance; a node that sees a newer ring should load it.
    pub fn version(&self) -> u64 {
        self.version
    }

    /// Swift's `hash_path` with this cluster's secrets.
    pub fn object_hash(
        &self,
        account: &str,
        container: Option<&str>,
        object: Option<&str>,
    ) -> [u8; 16] {
        hash::object_hash(
            &self.hash_prefix,
            &self.hash_suffix,
            account,
            container,
            object,
        )
    }

    /// The partition a hash falls in: its top `part_power` bits.
    pub fn partition_of(&self, hash: &[u8; 16]) -> u32 {
        hash::partition_of(self.part_power, hash)
    }

    /// The `replica_count` distinct devices that hold `partition`, in replica order.
    /// Panics if `partition >= partition_count()` (use [`Ring::partition_of`]).
    pub fn primaries(&self, partition: u32) -> Vec<&Device> {
        self.primary_indexes(partition)
            .iter()
            .map(|&i| &self.devices[i as usize])
            .collect()
    }

    /// Every other device, best failure domain first, in a fixed order per partition.
    pub fn handoffs(&self, partition: u32) -> Handoffs<'_> {
        Handoffs::new(self, partition)
    }

    pub(crate) fn primary_indexes(&self, partition: u32) -> &[u32] {
        let start = partition as usize * self.replica_count;
        &self.table[start..start + self.replica_count]
    }

    /// Partition-replicas held by each device, in `devices()` order.
    pub fn replicas_per_device(&self) -> Vec<u64> {
        let mut counts = vec![0u64; self.devices.len()];
        for &i in &self.table {
            counts[i as usize] += 1;
        }
        counts
    }
}

/// The on-disk form of a ring.
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct RingFile {
    format: String,
    part_power: u8,
    replica_count: usize,
    version: u64,
    hash_prefix: String,
    hash_suffix: String,
    devices: Vec<Device>,
    /// base64 of little-endian u32 device ids, partition-major.
    table: String,
}

impl TryFrom<RingFile> for Ring {
    type Error = RingError;

    fn try_from(f: RingFile) -> Result<Ring, RingError> {
        if f.format != RING_FORMAT {
            return Err(RingError::Corrupt(format!(
                "format {:?} is not {RING_FORMAT:?}",
                f.format
            )));
        }
        crate::builder::check_shape(f.part_power, f.replica_count)?;
        let len = (1usize << f.part_power) * f.replica_count;
        Ring::from_parts(RingParts {
            part_power: f.part_power,
            replica_count: f.replica_count,
            version: f.version,
            hash_prefix: f.hash_prefix,
            hash_suffix: f.hash_suffix,
            devices: f.devices,
            table_ids: decode_u32s(&f.table, len)?,
        })
    }
}

impl From<Ring> for RingFile {
    fn from(r: Ring) -> RingFile {
        let ids: Vec<u32> = r.table.iter().map(|&i| r.devices[i as usize].id).collect();
        RingFile {
            format: RING_FORMAT.to_owned(),
            part_power: r.part_power,
            replica_count: r.replica_count,
            version: r.version,
            hash_prefix: r.hash_prefix,
            hash_suffix: r.hash_suffix,
            devices: r.devices,
            table: encode_u32s(&ids),
        }
    }
}
