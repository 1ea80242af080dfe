//! The ring: which devices hold which objects (OpenStack Swift's ring, in Rust).
//!
//! A name (`/account[/container[/object]]`) hashes with md5 and two cluster secrets
//! ([`Ring::object_hash`]); the top `part_power` bits of the hash are its partition
//! ([`Ring::partition_of`]); the ring maps each partition to `replica_count` devices
//! ([`Ring::primaries`]) and orders every other device as a fallback
//! ([`Ring::handoffs`]). [`RingBuilder`] is the editable state an operator changes
//! (add, remove, reweigh devices); [`RingBuilder::rebalance`] turns it into a new
//! [`Ring`] version.
//!
//! What it is not: it does no I/O beyond reading and writing its own files, knows
//! nothing of HTTP, Swift, S3 or volumes, and has no async runtime.
//!
//! Invariants (checked when a ring is built and again when one is loaded):
//! - every partition has exactly `replica_count` replicas, on distinct devices;
//! - every partition is spread as widely as the weighted devices allow: as many
//!   regions as possible, then zones, then nodes (tested against a brute-force oracle);
//! - devices hold partition-replicas in proportion to weight, bent only where
//!   dispersion forces it (see `targets`: dispersion wins over weight, as in Swift
//!   before "overload"); every device ends within a replica or two of its target
//!   unless `min_part_hours` holds partitions in place;
//! - a rebalance moves only what removed devices, weight changes and new devices
//!   require; a rebalance with nothing changed moves nothing;
//! - a partition whose replica moved less than `min_part_hours` ago does not move
//!   again, and at most one of its data-holding replicas moves per rebalance, unless
//!   its device was removed;
//! - everything is deterministic: the same builder and the same call give the same
//!   ring, and every proxy computes the same handoff order.

mod builder;
mod default;
mod device;
mod error;
mod file;
mod handoff;
mod hash;
mod live;
mod rebalance;
mod ring;
mod stats;
mod targets;

pub use builder::{RebalanceReport, RingBuilder};
pub use default::{default_ring, one_zone_per_device, DEFAULT_DEVICE_WEIGHT};
pub use device::{best_spread, spread, Device, DeviceSpec, Spread, DEVICE_FIELD_LEN_MAX};
pub use error::RingError;
pub use handoff::Handoffs;
pub use live::LiveRing;
pub use rebalance::BALANCE_ROUNDS_MAX;
pub use ring::Ring;
pub use stats::{DeviceStats, RingStats, ZERO_WEIGHT_BALANCE_PERCENT};

/// Largest partition power: 2^24 partitions, 64 MiB of table per replica.
pub const PART_POWER_MAX: u8 = 24;

/// Largest replica count.
pub const REPLICA_COUNT_MAX: usize = 16;
