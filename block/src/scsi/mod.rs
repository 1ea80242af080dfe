//! The SCSI command set (SPC-4 / SBC-3) of a logical unit backed by a
//! [`BlockDevice`](crate::BlockDevice), independent of the transport.
//!
//! A transport hands [`LogicalUnit::execute`] a CDB, the data-out buffer it
//! collected and the I_T nexus; it gets back status, sense and data-in, and
//! the transfer length the command asked for (for residual reporting).
//!
//! - [`cdb`]: CDB bytes to a typed command; [`opcodes`]: the supported
//!   commands and their CDB usage data.
//! - [`sense`]: status, sense keys and fixed-format sense data.
//! - [`inquiry`], [`mode`]: INQUIRY / VPD pages and mode pages.
//! - [`reservation`]: RESERVE(6) and persistent reservations.
//! - `lu` (dispatch and SPC commands) and `sbc` (block commands).
//!
//! Not supported: protection information, EXTENDED COPY, WRITE ATOMIC,
//! SANITIZE, ALUA, unit attentions, ACA, and persisting registrations
//! across restarts (APTPL).

pub mod cdb;
pub mod inquiry;
mod lu;
pub mod mode;
pub mod opcodes;
pub mod reservation;
mod sbc;
pub mod sense;

pub use inquiry::PortIdentity;
pub use lu::{LogicalUnit, Nexus, Request, Response};
pub use sense::{Sense, SenseKey, Status};

/// The limits the logical unit announces (Block Limits VPD) and enforces.
pub mod limits {
    /// Logical block size in bytes.
    pub const BLOCK: u32 = crate::device::SECTOR;
    /// Largest READ / WRITE in blocks (8 MiB).
    pub const MAX_TRANSFER_BLOCKS: u32 = 16 * 1024;
    /// Preferred transfer size in blocks (1 MiB).
    pub const OPTIMAL_TRANSFER_BLOCKS: u32 = 2048;
    /// Preferred alignment of transfers and unmaps, in blocks (4 KiB).
    pub const OPTIMAL_GRANULARITY_BLOCKS: u16 = 8;
    /// Largest range one UNMAP descriptor may name, in blocks (512 MiB).
    pub const MAX_UNMAP_BLOCKS: u32 = 1 << 20;
    /// Most descriptors in one UNMAP parameter list.
    pub const MAX_UNMAP_DESCRIPTORS: u32 = 256;
    /// Largest WRITE SAME in blocks (16 MiB).
    pub const MAX_WRITE_SAME_BLOCKS: u32 = 32 * 1024;
    /// Largest COMPARE AND WRITE in blocks.
    pub const MAX_COMPARE_BLOCKS: u8 = 255;
    /// Most blocks one GET LBA STATUS looks at.
    pub const LBA_STATUS_SPAN_BLOCKS: u64 = 1 << 24;
    /// Size of the buffer WRITE SAME fills with its pattern (1 MiB).
    pub const PATTERN_BUFFER_BYTES: u32 = 1 << 20;
}
