//! The SCSI commands the benchmark sends (SBC-3: READ(16), WRITE(16),
//! SYNCHRONIZE CACHE(16), READ CAPACITY(16); SPC: MODE SENSE(6)), what
//! their answers mean, and sense data (fixed and descriptor formats).
//! Pure.

/// A 16-byte CDB (shorter commands are zero-padded).
pub type Cdb = [u8; 16];

/// Status GOOD.
pub const GOOD: u8 = 0x00;
/// Status CHECK CONDITION: sense data follows.
pub const CHECK_CONDITION: u8 = 0x02;
/// Status CONDITION MET (a success).
pub const CONDITION_MET: u8 = 0x04;
/// Sense key UNIT ATTENTION: the command was not run; try again.
pub const UNIT_ATTENTION: u8 = 0x6;
/// Bytes READ CAPACITY(16) asks for.
pub const READ_CAPACITY_BYTES: u32 = 32;
/// Bytes MODE SENSE(6) asks for: the mode parameter header only.
pub const MODE_SENSE_BYTES: u32 = 4;

fn lba_cdb(opcode: u8, lba: u64, blocks: u32) -> Cdb {
    let mut c = [0u8; 16];
    c[0] = opcode;
    c[2..10].copy_from_slice(&lba.to_be_bytes());
    c[10..14].copy_from_slice(&blocks.to_be_bytes());
    c
}

pub fn read16(lba: u64, blocks: u32) -> Cdb {
    lba_cdb(0x88, lba, blocks)
}

pub fn write16(lba: u64, blocks: u32) -> Cdb {
    lba_cdb(0x8a, lba, blocks)
}

/// SYNCHRONIZE CACHE(16) of the whole medium (LBA 0, 0 blocks: to the end).
pub fn synchronize_cache16() -> Cdb {
    lba_cdb(0x91, 0, 0)
}

/// READ CAPACITY(16): SERVICE ACTION IN(16), service action 0x10.
pub fn read_capacity16() -> Cdb {
    let mut c = [0u8; 16];
    c[0] = 0x9e;
    c[1] = 0x10;
    c[10..14].copy_from_slice(&READ_CAPACITY_BYTES.to_be_bytes());
    c
}

/// MODE SENSE(6) of every page, block descriptors disabled, header only.
pub fn mode_sense6() -> Cdb {
    let mut c = [0u8; 16];
    c[0] = 0x1a;
    c[1] = 0x08;
    c[2] = 0x3f;
    c[4] = MODE_SENSE_BYTES as u8;
    c
}

/// The medium's size, from READ CAPACITY(16)'s parameter data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Capacity {
    pub lba_bytes: u32,
    pub size_bytes: u64,
}

/// Parses READ CAPACITY(16) data: last LBA, then the logical block length.
pub fn parse_capacity(data: &[u8]) -> Option<Capacity> {
    if data.len() < 12 {
        return None;
    }
    let mut last = [0u8; 8];
    last.copy_from_slice(&data[0..8]);
    let last_lba = u64::from_be_bytes(last);
    let lba_bytes = u32::from_be_bytes([data[8], data[9], data[10], data[11]]);
    if lba_bytes == 0 || !lba_bytes.is_power_of_two() {
        return None;
    }
    let size_bytes = last_lba.checked_add(1)?.checked_mul(u64::from(lba_bytes))?;
    Some(Capacity {
        lba_bytes,
        size_bytes,
    })
}

/// Whether MODE SENSE(6)'s header says the medium is write-protected (WP bit).
pub fn write_protected(header: &[u8]) -> bool {
    header.get(2).is_some_and(|b| b & 0x80 != 0)
}

/// Sense data, reduced to what a report needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sense {
    pub key: u8,
    pub asc: u8,
    pub ascq: u8,
}

impl Sense {
    /// The sense key's name (SPC-4 table 48).
    pub fn key_name(&self) -> &'static str {
        match self.key {
            0x0 => "NO SENSE",
            0x1 => "RECOVERED ERROR",
            0x2 => "NOT READY",
            0x3 => "MEDIUM ERROR",
            0x4 => "HARDWARE ERROR",
            0x5 => "ILLEGAL REQUEST",
            0x6 => "UNIT ATTENTION",
            0x7 => "DATA PROTECT",
            0x8 => "BLANK CHECK",
            0xb => "ABORTED COMMAND",
            0xd => "VOLUME OVERFLOW",
            0xe => "MISCOMPARE",
            _ => "sense key",
        }
    }
}

impl std::fmt::Display for Sense {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} ({:#x}), ASC/ASCQ {:#04x}/{:#04x}",
            self.key_name(),
            self.key,
            self.asc,
            self.ascq
        )
    }
}

/// Parses the data segment of a SCSI Response with CHECK CONDITION: a
/// 2-byte SenseLength, then fixed (0x70/0x71) or descriptor (0x72/0x73)
/// sense data. `None` if it is neither.
pub fn parse_sense(segment: &[u8]) -> Option<Sense> {
    let len = usize::from(u16::from_be_bytes([*segment.first()?, *segment.get(1)?]));
    let sense = segment.get(2..2 + len)?;
    match sense.first()? & 0x7f {
        0x70 | 0x71 => Some(Sense {
            key: sense.get(2)? & 0x0f,
            asc: sense.get(12).copied().unwrap_or(0),
            ascq: sense.get(13).copied().unwrap_or(0),
        }),
        0x72 | 0x73 => Some(Sense {
            key: sense.get(1)? & 0x0f,
            asc: sense.get(2).copied().unwrap_or(0),
            ascq: sense.get(3).copied().unwrap_or(0),
        }),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cdbs_carry_lba_and_length_big_endian() {
        // READ(16) of 8 blocks at LBA 0x1_0000_0001; WRITE(16); SYNC CACHE(16) of everything.
        let r = read16(0x1_0000_0001, 8);
        assert_eq!(r[0], 0x88);
        assert_eq!(&r[2..10], &[0, 0, 0, 1, 0, 0, 0, 1]);
        assert_eq!(&r[10..14], &[0, 0, 0, 8]);
        assert_eq!(write16(0, 1)[0], 0x8a);
        assert_eq!(synchronize_cache16(), {
            let mut c = [0u8; 16];
            c[0] = 0x91;
            c
        });
        let c = read_capacity16();
        assert_eq!((c[0], c[1], c[13]), (0x9e, 0x10, 32));
    }

    #[test]
    fn capacity_is_last_lba_plus_one_times_the_block_length() {
        // Last LBA 131071 of 512-byte blocks: 64 MiB; a zero block length is refused.
        let mut d = [0u8; 32];
        d[0..8].copy_from_slice(&131_071u64.to_be_bytes());
        d[8..12].copy_from_slice(&512u32.to_be_bytes());
        assert_eq!(
            parse_capacity(&d),
            Some(Capacity {
                lba_bytes: 512,
                size_bytes: 64 << 20
            })
        );
        d[8..12].copy_from_slice(&0u32.to_be_bytes());
        assert_eq!(parse_capacity(&d), None);
        d[0..8].copy_from_slice(&u64::MAX.to_be_bytes());
        d[8..12].copy_from_slice(&512u32.to_be_bytes());
        assert_eq!(parse_capacity(&d), None);
        assert_eq!(parse_capacity(&d[..8]), None);
    }

    #[test]
    fn sense_in_both_formats_and_truncated() {
        // Fixed: key in byte 2, ASC/ASCQ in 12/13; descriptor: 1, 2, 3; a short segment is None.
        let mut fixed = vec![0, 18, 0x70, 0, 0x03, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x11, 0x00];
        fixed.extend_from_slice(&[0; 4]);
        let s = parse_sense(&fixed).unwrap();
        assert_eq!((s.key, s.asc, s.ascq), (3, 0x11, 0));
        assert_eq!(s.key_name(), "MEDIUM ERROR");
        let desc = [0, 8, 0x72, 0x07, 0x27, 0x00, 0, 0, 0, 0];
        let s = parse_sense(&desc).unwrap();
        assert_eq!((s.key, s.asc), (7, 0x27));
        assert!(s.to_string().starts_with("DATA PROTECT"));
        assert_eq!(parse_sense(&[0, 30, 0x70]), None);
        assert_eq!(parse_sense(&[0]), None);
        assert!(write_protected(&[3, 0, 0x80, 0]));
        assert!(!write_protected(&[3, 0, 0x00, 0]));
    }
}
