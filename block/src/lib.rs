//! Block storage: volumes as disks for hypervisors.
//!
//! - [`volume`]: an attached volume as a [`BlockDevice`]: thin extents on
//!   the ring, the volume's replicas (the ring's three, or the first one or
//!   two when its record says so) written together and acknowledged on a
//!   majority, a replica that missed an acknowledged write recorded as
//!   degraded (in the metadata group, before the acknowledgement), never
//!   read and repaired from a good one; a device the attach could not
//!   fence recorded the same way for the whole volume; copy-on-write
//!   generations for snapshots and clones, every write carrying the
//!   lease's epoch.
//! - [`gateway`]: attaches volumes (lease, fence, extent map; also with
//!   devices down, while every extent keeps a majority of its replicas)
//!   for the protocol servers and carries out create / clone / resize /
//!   snapshot / delete.
//! - [`device`]: the seam between the protocols and the volumes. The NBD
//!   server and the iSCSI target see only [`BlockDevice`] (byte-addressed
//!   reads, writes, flushes, discards and an allocation map) and [`Exports`]
//!   (which volumes exist, and attaching one).
//! - [`nbd`]: the NBD server (fixed newstyle, structured replies,
//!   `base:allocation`).
//! - [`iscsi`]: the iSCSI target (RFC 7143).
//! - [`scsi`]: the SCSI command set (SPC-4/SBC-3) the iSCSI target serves,
//!   independent of the transport.
//!
//! Invariants, whatever the protocol:
//! - a write acknowledged with FUA, and every write acknowledged before a
//!   FLUSH / SYNCHRONIZE CACHE that was acknowledged, is durable on a
//!   majority of its extent's replicas;
//! - no read is served from a replica recorded as degraded, nor from a
//!   device the attach could not fence until it is fenced and repaired;
//! - bad input is answered with the protocol's own error (an NBD error reply,
//!   SCSI sense data), never a panic and never a hang;
//! - no request reads or writes outside the device.

pub mod device;
pub mod gateway;
pub mod iscsi;
pub mod nbd;
pub mod scsi;
pub mod volume;

pub use device::{AllocRun, BlockDevice, BlockError, DeviceIdentity, ExportSummary, Exports};
pub use nbd::NbdServer;
