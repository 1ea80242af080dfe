//! CDB decoding: bytes to a typed [`Command`], rejecting unknown opcodes,
//! reserved bits and fields the logical unit does not support. Total: any
//! byte string gives a command or the sense to answer with.

use super::opcodes::{self, Lookup};
use super::sense::Sense;

/// A block transfer: READ, WRITE and their kin.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Transfer {
    pub lba: u64,
    pub blocks: u32,
    pub fua: bool,
}

/// What BYTCHK asks VERIFY and WRITE AND VERIFY to compare.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ByteCheck {
    /// Only check the medium (no data-out).
    None,
    /// Compare `blocks` blocks of data-out with the medium.
    Full,
    /// Compare one block of data-out with each block of the range.
    OneBlock,
}

/// A decoded CDB.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Command {
    TestUnitReady,
    RequestSense {
        descriptor: bool,
        alloc: u32,
    },
    Inquiry {
        evpd: bool,
        page: u8,
        alloc: u32,
    },
    ModeSense(ModeSense),
    ModeSelect {
        ten: bool,
        save: bool,
        param_len: u32,
    },
    Reserve,
    Release,
    StartStopUnit,
    PreventAllow,
    ReadCapacity10,
    ReadCapacity16 {
        alloc: u32,
    },
    GetLbaStatus {
        lba: u64,
        alloc: u32,
    },
    Read(Transfer),
    Write(Transfer),
    WriteAndVerify {
        t: Transfer,
        check: ByteCheck,
    },
    Verify {
        lba: u64,
        blocks: u32,
        check: ByteCheck,
    },
    OrWrite(Transfer),
    CompareAndWrite(Transfer),
    WriteSame(WriteSame),
    Unmap {
        param_len: u32,
    },
    SynchronizeCache {
        lba: u64,
        blocks: u32,
    },
    PreFetch {
        lba: u64,
        blocks: u32,
    },
    ReadDefectData {
        twelve: bool,
        format: u8,
        alloc: u32,
    },
    PersistentReserveIn {
        action: u8,
        alloc: u32,
    },
    PersistentReserveOut(PrOut),
    ReportLuns {
        alloc: u32,
    },
    ReportOpcodes(ReportOpcodes),
    ReportTmfs {
        alloc: u32,
    },
}

/// MODE SENSE(6) / (10).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeSense {
    pub ten: bool,
    /// DBD: no block descriptor.
    pub dbd: bool,
    /// LLBAA: long block descriptors allowed (10 only).
    pub llbaa: bool,
    /// Page control: 0 current, 1 changeable, 2 default, 3 saved.
    pub pc: u8,
    pub page: u8,
    pub subpage: u8,
    pub alloc: u32,
}

/// WRITE SAME(10) / (16).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WriteSame {
    pub lba: u64,
    pub blocks: u32,
    pub unmap: bool,
    /// NDOB: no data-out buffer; write zeros.
    pub ndob: bool,
}

/// PERSISTENT RESERVE OUT.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PrOut {
    pub action: u8,
    pub scope: u8,
    pub kind: u8,
    pub param_len: u32,
}

/// REPORT SUPPORTED OPERATION CODES.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReportOpcodes {
    pub rctd: bool,
    pub options: u8,
    pub opcode: u8,
    pub service_action: u16,
    pub alloc: u32,
}

fn be(b: &[u8]) -> u64 {
    b.iter().fold(0u64, |acc, &x| (acc << 8) | u64::from(x))
}

fn be32(b: &[u8]) -> u32 {
    be(b) as u32
}

/// Decodes `cdb` (at least as long as its opcode's CDB; iSCSI pads to 16).
pub fn decode(cdb: &[u8]) -> Result<Command, Sense> {
    let Some(&opcode) = cdb.first() else {
        return Err(Sense::INVALID_OPCODE);
    };
    let service_action = u16::from(cdb.get(1).copied().unwrap_or(0) & 0x1f);
    let info = match opcodes::lookup(opcode, service_action) {
        Lookup::Found(info) => info,
        Lookup::NoOpcode => return Err(Sense::INVALID_OPCODE),
        Lookup::NoServiceAction => return Err(Sense::invalid_cdb(1, Some(4))),
    };
    if cdb.len() < info.usage.len() {
        return Err(Sense::INVALID_OPCODE);
    }
    let cdb = &cdb[..info.usage.len()];
    if let Some((byte, bit)) = opcodes::reserved_bit_set(info, cdb) {
        return Err(Sense::invalid_cdb(byte, Some(bit)));
    }
    decode_fields(cdb)
}

/// Protection fields (RDPROTECT, WRPROTECT, VRPROTECT, ORPROTECT) must be
/// zero: the logical unit has no protection information.
fn no_protect(cdb: &[u8]) -> Result<(), Sense> {
    if cdb[1] & 0xe0 != 0 {
        return Err(Sense::invalid_cdb(1, Some(7)));
    }
    Ok(())
}

fn byte_check(cdb: &[u8]) -> Result<ByteCheck, Sense> {
    match (cdb[1] >> 1) & 0x03 {
        0 => Ok(ByteCheck::None),
        1 => Ok(ByteCheck::Full),
        3 if matches!(cdb[0], 0x2f | 0xaf | 0x8f) => Ok(ByteCheck::OneBlock),
        _ => Err(Sense::invalid_cdb(1, Some(2))),
    }
}

/// LBA and length of a 10-, 12- or 16-byte block CDB.
fn lba_len(cdb: &[u8]) -> (u64, u32) {
    match cdb.len() {
        10 => (be(&cdb[2..6]), be32(&cdb[7..9])),
        12 => (be(&cdb[2..6]), be32(&cdb[6..10])),
        _ => (be(&cdb[2..10]), be32(&cdb[10..14])),
    }
}

fn transfer(cdb: &[u8]) -> Result<Transfer, Sense> {
    no_protect(cdb)?;
    let (lba, blocks) = lba_len(cdb);
    Ok(Transfer {
        lba,
        blocks,
        fua: cdb[1] & 0x08 != 0,
    })
}

fn six_byte_transfer(cdb: &[u8]) -> Transfer {
    let lba = be(&[cdb[1] & 0x1f, cdb[2], cdb[3]]);
    let blocks = if cdb[4] == 0 { 256 } else { u32::from(cdb[4]) };
    Transfer {
        lba,
        blocks,
        fua: false,
    }
}

fn decode_fields(cdb: &[u8]) -> Result<Command, Sense> {
    let c = match cdb[0] {
        0x00 => Command::TestUnitReady,
        0x03 => Command::RequestSense {
            descriptor: cdb[1] & 0x01 != 0,
            alloc: u32::from(cdb[4]),
        },
        0x08 => Command::Read(six_byte_transfer(cdb)),
        0x0a => Command::Write(six_byte_transfer(cdb)),
        0x12 => Command::Inquiry {
            evpd: cdb[1] & 0x01 != 0,
            page: cdb[2],
            alloc: be32(&cdb[3..5]),
        },
        0x15 | 0x55 => Command::ModeSelect {
            ten: cdb[0] == 0x55,
            save: cdb[1] & 0x01 != 0,
            param_len: if cdb[0] == 0x15 {
                u32::from(cdb[4])
            } else {
                be32(&cdb[7..9])
            },
        },
        0x16 => Command::Reserve,
        0x17 => Command::Release,
        0x1a | 0x5a => Command::ModeSense(ModeSense {
            ten: cdb[0] == 0x5a,
            dbd: cdb[1] & 0x08 != 0,
            llbaa: cdb[1] & 0x10 != 0,
            pc: cdb[2] >> 6,
            page: cdb[2] & 0x3f,
            subpage: cdb[3],
            alloc: if cdb[0] == 0x1a {
                u32::from(cdb[4])
            } else {
                be32(&cdb[7..9])
            },
        }),
        0x1b => Command::StartStopUnit,
        0x1e => Command::PreventAllow,
        0x25 => {
            if cdb[8] & 0x01 == 0 && be(&cdb[2..6]) != 0 {
                return Err(Sense::invalid_cdb(2, None));
            }
            Command::ReadCapacity10
        }
        0x28 | 0xa8 | 0x88 => Command::Read(transfer(cdb)?),
        0x2a | 0xaa | 0x8a => Command::Write(transfer(cdb)?),
        0x2e | 0xae | 0x8e => Command::WriteAndVerify {
            t: Transfer {
                fua: true,
                ..transfer(cdb)?
            },
            check: byte_check(cdb)?,
        },
        0x2f | 0xaf | 0x8f => {
            no_protect(cdb)?;
            let (lba, blocks) = lba_len(cdb);
            Command::Verify {
                lba,
                blocks,
                check: byte_check(cdb)?,
            }
        }
        0x34 | 0x90 => {
            let (lba, blocks) = lba_len(cdb);
            Command::PreFetch { lba, blocks }
        }
        0x35 | 0x91 => {
            let (lba, blocks) = lba_len(cdb);
            Command::SynchronizeCache { lba, blocks }
        }
        0x37 => Command::ReadDefectData {
            twelve: false,
            format: cdb[2] & 0x07,
            alloc: be32(&cdb[7..9]),
        },
        0xb7 => Command::ReadDefectData {
            twelve: true,
            format: cdb[1] & 0x07,
            alloc: be32(&cdb[6..10]),
        },
        0x41 | 0x93 => Command::WriteSame(write_same(cdb)?),
        0x42 => {
            if cdb[1] & 0x01 != 0 {
                // ANCHOR: anchored LBAs are not supported (ANC_SUP=0).
                return Err(Sense::invalid_cdb(1, Some(0)));
            }
            Command::Unmap {
                param_len: be32(&cdb[7..9]),
            }
        }
        0x5e => Command::PersistentReserveIn {
            action: cdb[1] & 0x1f,
            alloc: be32(&cdb[7..9]),
        },
        0x5f => Command::PersistentReserveOut(PrOut {
            action: cdb[1] & 0x1f,
            scope: cdb[2] >> 4,
            kind: cdb[2] & 0x0f,
            param_len: be32(&cdb[5..9]),
        }),
        0x89 => {
            let t = transfer(cdb)?;
            Command::CompareAndWrite(Transfer {
                blocks: u32::from(cdb[13]),
                ..t
            })
        }
        0x8b => Command::OrWrite(transfer(cdb)?),
        0x9e if cdb[1] & 0x1f == 0x10 => Command::ReadCapacity16 {
            alloc: be32(&cdb[10..14]),
        },
        0x9e => Command::GetLbaStatus {
            lba: be(&cdb[2..10]),
            alloc: be32(&cdb[10..14]),
        },
        0xa0 => {
            if cdb[2] > 2 {
                return Err(Sense::invalid_cdb(2, None));
            }
            Command::ReportLuns {
                alloc: be32(&cdb[6..10]),
            }
        }
        0xa3 if cdb[1] & 0x1f == 0x0c => Command::ReportOpcodes(ReportOpcodes {
            rctd: cdb[2] & 0x80 != 0,
            options: cdb[2] & 0x07,
            opcode: cdb[3],
            service_action: be(&cdb[4..6]) as u16,
            alloc: be32(&cdb[6..10]),
        }),
        0xa3 => Command::ReportTmfs {
            alloc: be32(&cdb[6..10]),
        },
        // The table and this match cover the same opcodes.
        _ => return Err(Sense::INVALID_OPCODE),
    };
    Ok(c)
}

fn write_same(cdb: &[u8]) -> Result<WriteSame, Sense> {
    no_protect(cdb)?;
    if cdb[1] & 0x10 != 0 {
        // ANCHOR (ANC_SUP=0).
        return Err(Sense::invalid_cdb(1, Some(4)));
    }
    if cdb[1] & 0x06 != 0 {
        // PBDATA / LBDATA: no address data in the pattern.
        return Err(Sense::invalid_cdb(1, Some(2)));
    }
    let (lba, blocks) = lba_len(cdb);
    Ok(WriteSame {
        lba,
        blocks,
        unmap: cdb[1] & 0x08 != 0,
        ndob: cdb[0] == 0x93 && cdb[1] & 0x01 != 0,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cdb16(bytes: &[u8]) -> [u8; 16] {
        let mut c = [0u8; 16];
        c[..bytes.len()].copy_from_slice(bytes);
        c
    }

    #[test]
    fn reads_and_writes_of_every_size() {
        // READ(6/10/12/16) and WRITE(16)+FUA decode their LBA and length.
        assert_eq!(
            decode(&cdb16(&[0x08, 0x01, 0x02, 0x03, 0])).unwrap(),
            Command::Read(Transfer {
                lba: 0x10203,
                blocks: 256,
                fua: false
            })
        );
        assert_eq!(
            decode(&cdb16(&[0x28, 0, 0, 0, 1, 0, 0, 0, 8, 0])).unwrap(),
            Command::Read(Transfer {
                lba: 256,
                blocks: 8,
                fua: false
            })
        );
        assert_eq!(
            decode(&cdb16(&[0xa8, 0, 0, 0, 0, 9, 0, 0, 1, 0, 0, 0])).unwrap(),
            Command::Read(Transfer {
                lba: 9,
                blocks: 256,
                fua: false
            })
        );
        let mut w = cdb16(&[0x8a, 0x08]);
        w[9] = 5;
        w[13] = 2;
        assert_eq!(
            decode(&w).unwrap(),
            Command::Write(Transfer {
                lba: 5,
                blocks: 2,
                fua: true
            })
        );
    }

    #[test]
    fn rejects_unknown_opcodes_protection_and_reserved_bits() {
        // Unknown opcode, RDPROTECT, NACA and an unknown service action
        // each give their own sense.
        assert_eq!(decode(&cdb16(&[0xee])), Err(Sense::INVALID_OPCODE));
        assert_eq!(decode(&[]), Err(Sense::INVALID_OPCODE));
        let mut naca = cdb16(&[0x00]);
        naca[5] = 0x04;
        assert_eq!(decode(&naca), Err(Sense::invalid_cdb(5, Some(2))));
        assert_eq!(
            decode(&cdb16(&[0x9e, 0x11])),
            Err(Sense::invalid_cdb(1, Some(4)))
        );
        assert_eq!(
            decode(&cdb16(&[0x28, 0x20])),
            Err(Sense::invalid_cdb(1, Some(7)))
        );
        assert_eq!(decode(&[0x28, 0, 0]), Err(Sense::INVALID_OPCODE));
    }

    #[test]
    fn write_same_flags() {
        // UNMAP and NDOB are decoded; ANCHOR and LBDATA are refused.
        let mut ws = cdb16(&[0x93, 0x09]);
        ws[13] = 4;
        assert_eq!(
            decode(&ws).unwrap(),
            Command::WriteSame(WriteSame {
                lba: 0,
                blocks: 4,
                unmap: true,
                ndob: true
            })
        );
        assert!(decode(&cdb16(&[0x41, 0x10])).is_err());
        assert!(decode(&cdb16(&[0x41, 0x02])).is_err());
    }

    #[test]
    fn verify_byte_check_modes() {
        // BYTCHK 00, 01 and 11 are accepted for VERIFY; 10 is not.
        let v = |b: u8| decode(&cdb16(&[0x2f, b << 1]));
        assert!(matches!(
            v(0),
            Ok(Command::Verify {
                check: ByteCheck::None,
                ..
            })
        ));
        assert!(matches!(
            v(1),
            Ok(Command::Verify {
                check: ByteCheck::Full,
                ..
            })
        ));
        assert!(matches!(
            v(3),
            Ok(Command::Verify {
                check: ByteCheck::OneBlock,
                ..
            })
        ));
        assert!(v(2).is_err());
    }

    #[test]
    fn decode_is_total_on_short_and_odd_input() {
        // Every one- and two-byte prefix decodes to a command or a sense.
        for a in 0..=255u8 {
            for b in [0u8, 0x10, 0x1f, 0xff] {
                let _ = decode(&[a, b]);
                let _ = decode(&cdb16(&[a, b, 0xff, 0xff, 0xff]));
            }
        }
    }
}
