//! Vocabulary shared by every Cairn crate: timestamps, the clock trait, the
//! calendar conversion of the wire formats, and the crc32c helper used by
//! internode frames.
//!
//! This crate does no I/O and knows no async runtime; everything in it is a
//! plain value type or a narrow trait that the cores take instead of reaching
//! for the system directly (so a simulation can replace it).

pub mod civil;
mod clock;
mod timestamp;
mod volume_id;

pub use clock::{Clock, SystemClock};
pub use timestamp::{ParseTimestampError, Timestamp};
pub use volume_id::VolumeId;

/// The crc32c (Castagnoli) of `data`: what internode frames carry.
pub fn crc32c(data: &[u8]) -> u32 {
    crc32c::crc32c(data)
}

/// The crc32c of bytes whose start had the crc32c `crc`, extended by
/// `data`: a frame's checksum over the pieces it arrived in.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    crc32c::crc32c_append(crc, data)
}
