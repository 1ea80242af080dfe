//! `RingError`: everything that can go wrong building, loading or saving a ring.

use std::path::PathBuf;

/// Errors of the ring crate. Lookups on a loaded ring cannot fail; only building,
/// editing and (de)serialising can.
#[derive(Debug, thiserror::Error)]
pub enum RingError {
    #[error("part power {0} is out of range 1..={max}", max = crate::PART_POWER_MAX)]
    PartPower(u8),
    #[error("replica count {0} is out of range 1..={max}", max = crate::REPLICA_COUNT_MAX)]
    ReplicaCount(usize),
    #[error("invalid device: {0}")]
    InvalidDevice(String),
    #[error("a device at {addr}/{name} already exists (id {id})")]
    DuplicateDevice { id: u32, addr: String, name: String },
    #[error("no device with id {0}")]
    NoSuchDevice(u32),
    #[error("device {0} is already scheduled for removal")]
    DeviceRemoved(u32),
    #[error("{replicas} replicas need at least {replicas} devices with weight > 0; the builder has {devices}")]
    NotEnoughDevices { replicas: usize, devices: usize },
    #[error("the builder has never been rebalanced, so it has no ring yet")]
    NotRebalanced,
    #[error("corrupt ring data: {0}")]
    Corrupt(String),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {source}")]
    Json {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
}
