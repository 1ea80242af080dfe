//! `VolumeId`: a block volume's identity, a UUID, in its two spellings
//! (32 hex digits in paths and keys, the dashed form for people).

use serde::{Deserialize, Serialize};
use std::fmt;

/// A volume's identity (a UUID), stable for the volume's life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct VolumeId(pub [u8; 16]);

impl VolumeId {
    /// The 32 lowercase hex digits.
    pub fn hex(&self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }

    /// Parses 32 hex digits (dashes allowed, as in a UUID).
    pub fn parse(s: &str) -> Option<VolumeId> {
        let digits: Vec<u8> = s.bytes().filter(|&b| b != b'-').collect();
        if digits.len() != 32 {
            return None;
        }
        let mut out = [0u8; 16];
        for (i, pair) in digits.chunks(2).enumerate() {
            let hex = std::str::from_utf8(pair).ok()?;
            out[i] = u8::from_str_radix(hex, 16).ok()?;
        }
        Some(VolumeId(out))
    }
}

impl fmt::Display for VolumeId {
    /// The UUID form, `8-4-4-4-12`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let h = self.hex();
        write!(
            f,
            "{}-{}-{}-{}-{}",
            &h[..8],
            &h[8..12],
            &h[12..16],
            &h[16..20],
            &h[20..]
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn volume_ids_print_as_uuids_and_parse_back() {
        let id = VolumeId([
            0x12, 0x34, 0x56, 0x78, 0x9a, 0xbc, 0xde, 0xf0, 1, 2, 3, 4, 5, 6, 7, 8,
        ]);
        let s = id.to_string();
        assert_eq!(s, "12345678-9abc-def0-0102-030405060708");
        assert_eq!(VolumeId::parse(&s), Some(id));
        assert_eq!(VolumeId::parse(&id.hex()), Some(id));
        assert_eq!(VolumeId::parse("nope"), None);
        assert_eq!(VolumeId::parse(&"g".repeat(32)), None);
    }
}
