//! Name hashing (Swift's `hash_path`), hash -> partition, and the deterministic mixer
//! the builder and handoff order use instead of a random number generator.

use md5::{Digest, Md5};

/// `md5(prefix + "/account[/container[/object]]" + suffix)`, as Swift's `hash_path`.
/// `object` is ignored when `container` is `None` (there is no such path).
pub fn object_hash(
    prefix: &str,
    suffix: &str,
    account: &str,
    container: Option<&str>,
    object: Option<&str>,
) -> [u8; 16] {
    let mut h = Md5::new();
    h.update(prefix.as_bytes());
    h.update(b"/");
    h.update(account.as_bytes());
    if let Some(c) = container {
        h.update(b"/");
        h.update(c.as_bytes());
        if let Some(o) = object {
            h.update(b"/");
            h.update(o.as_bytes());
        }
    }
    h.update(suffix.as_bytes());
    h.finalize().into()
}

/// The top `part_power` bits of the hash, read big-endian (Swift's `part_shift`).
pub fn partition_of(part_power: u8, hash: &[u8; 16]) -> u32 {
    let top = u32::from_be_bytes([hash[0], hash[1], hash[2], hash[3]]);
    (u64::from(top) >> (32 - u32::from(part_power))) as u32
}

/// splitmix64 of a pair: a cheap, well-mixed, deterministic tie-breaker.
pub fn mix(a: u64, b: u64) -> u64 {
    let mut z = a ^ b.wrapping_mul(0x9E37_79B9_7F4A_7C15);
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::*;

    // With empty secrets the hash is plain md5 of the path, as Swift computes it.
    #[test]
    fn hash_matches_md5_of_path() {
        let h = object_hash("", "", "AUTH_test", Some("c"), Some("o"));
        let want: [u8; 16] = Md5::digest(b"/AUTH_test/c/o").into();
        assert_eq!(h, want);
        let h = object_hash("pre", "suf", "a", None, Some("ignored"));
        let want: [u8; 16] = Md5::digest(b"pre/asuf").into();
        assert_eq!(h, want);
        // md5("/a/c/o") is a well-known constant.
        let h = object_hash("", "", "a", Some("c"), Some("o"));
        let hex: String = h.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, "8ac2bf59556b61bb5cc521ccb51c200a");
    }

    // The partition is the top part_power bits of the first four bytes.
    #[test]
    fn partition_is_top_bits() {
        let mut h = [0u8; 16];
        h[0] = 0b1010_0000;
        assert_eq!(partition_of(1, &h), 1);
        assert_eq!(partition_of(3, &h), 0b101);
        h[..4].copy_from_slice(&[0xff; 4]);
        assert_eq!(partition_of(20, &h), (1 << 20) - 1);
        assert_eq!(partition_of(32, &h), u32::MAX);
    }
}
