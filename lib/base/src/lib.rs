//! Vocabulary shared by every Cairn crate: timestamps, the clock trait, the
//! calendar conversion of the wire formats, and the crc32c every crc32c in
//! the tree goes through (frames, segment records, iSCSI, S3 checksums).
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

/// The crc32c (Castagnoli) of `data`: what internode frames, segment
/// records and iSCSI digests carry.
///
/// `crc-fast` folds with VPCLMULQDQ where the CPU has it (about 4x the
/// SSE4.2 `crc32` instruction loop on the test machine; decision 0026).
pub fn crc32c(data: &[u8]) -> u32 {
    crc_fast::crc32_iscsi(data)
}

/// The crc32c of bytes whose start had the crc32c `crc`, extended by
/// `data`: a frame's checksum over the pieces it arrived in.
pub fn crc32c_append(crc: u32, data: &[u8]) -> u32 {
    // The digest's state is the register before the final inversion.
    let mut digest =
        crc_fast::Digest::new_with_init_state(crc_fast::CrcAlgorithm::Crc32Iscsi, u64::from(!crc));
    digest.update(data);
    // CRC-32/ISCSI is 32 bits wide: the digest never sets the upper half.
    digest.finalize() as u32
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn crc32c_has_the_catalogue_check_value() {
        // The CRC catalogue's check value for CRC-32/ISCSI, and RFC 3720's
        // test vector of 32 zero bytes.
        assert_eq!(crc32c(b"123456789"), 0xe306_9283);
        assert_eq!(crc32c(&[0u8; 32]), 0x8a91_36aa);
        assert_eq!(crc32c(b""), 0);
    }

    proptest! {
        #[test]
        fn appending_equals_checking_the_whole(
            data in proptest::collection::vec(any::<u8>(), 0..5000),
            cut in any::<prop::sample::Index>(),
        ) {
            let at = cut.index(data.len() + 1);
            let head = crc32c(&data[..at]);
            prop_assert_eq!(crc32c_append(head, &data[at..]), crc32c(&data));
        }
    }
}
