//! The data written for verification: each 8-byte word a function of the
//! block's offset on the export, the write's generation and the word's
//! position, so a block read back from the wrong place, a stale write or a
//! torn one all fail the check. One multiply and xor per word.

/// Multiplier spreading word positions (the golden-ratio constant).
const WORD_STEP: u64 = 0x9E37_79B9_7F4A_7C15;

/// splitmix64's finaliser: a well-mixed seed from offset and generation.
fn seed(offset: u64, generation: u32) -> u64 {
    let mut z = offset ^ (u64::from(generation) << 48) ^ 0xD1B5_4A32_D192_ED03;
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

fn word(seed: u64, i: usize) -> [u8; 8] {
    (seed ^ (i as u64 + 1).wrapping_mul(WORD_STEP)).to_le_bytes()
}

/// Fills `buf` (a whole number of 8-byte words) with the pattern of the
/// block at `offset`, generation `generation`.
pub fn fill(buf: &mut [u8], offset: u64, generation: u32) {
    let s = seed(offset, generation);
    for (i, chunk) in buf.chunks_exact_mut(8).enumerate() {
        chunk.copy_from_slice(&word(s, i));
    }
}

/// Whether `buf` holds the pattern `fill` writes for `offset` and `generation`.
pub fn matches(buf: &[u8], offset: u64, generation: u32) -> bool {
    let s = seed(offset, generation);
    buf.chunks_exact(8)
        .enumerate()
        .all(|(i, chunk)| chunk == word(s, i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_block_matches_only_its_own_offset_and_generation() {
        // Filled at (4096, 3): matches there; not at another offset or generation; not if one byte flips.
        let mut b = vec![0u8; 4096];
        fill(&mut b, 4096, 3);
        assert!(matches(&b, 4096, 3));
        assert!(!matches(&b, 8192, 3));
        assert!(!matches(&b, 4096, 2));
        b[4000] ^= 1;
        assert!(!matches(&b, 4096, 3));
    }

    #[test]
    fn zeroes_never_match() {
        // An unwritten (zeroed) block is not mistaken for any written one.
        let z = vec![0u8; 512];
        assert!((1..50).all(|g| !matches(&z, 0, g)));
    }
}
