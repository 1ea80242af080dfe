//! SCSI status codes and sense data (SPC-4 §4.5): the named conditions the
//! command set reports, their fixed-format encoding (70h), and how a
//! [`BlockError`] from the device becomes one.

use crate::BlockError;

/// SAM status byte of a completed command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum Status {
    Good = 0x00,
    CheckCondition = 0x02,
    ReservationConflict = 0x18,
}

/// Sense keys (SPC-4 table 28).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub enum SenseKey {
    NoSense = 0x0,
    NotReady = 0x2,
    MediumError = 0x3,
    HardwareError = 0x4,
    IllegalRequest = 0x5,
    DataProtect = 0x7,
    Miscompare = 0xe,
}

/// Where in the CDB or parameter list an ILLEGAL REQUEST points (the
/// sense-key specific field pointer).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FieldPointer {
    /// True when the error is in the CDB, false in the parameter data.
    pub in_cdb: bool,
    pub byte: u16,
    /// The bit within the byte, when one bit is at fault.
    pub bit: Option<u8>,
}

/// One sense condition: key, additional sense code and qualifier, and the
/// optional INFORMATION and field pointer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sense {
    pub key: SenseKey,
    pub asc: u8,
    pub ascq: u8,
    /// The INFORMATION field (an LBA, or the offset of a miscompare).
    pub information: Option<u32>,
    pub field: Option<FieldPointer>,
}

/// Length of fixed-format sense data as this crate sends it.
pub const FIXED_SENSE_LEN: usize = 18;

impl Sense {
    pub const fn new(key: SenseKey, asc: u8, ascq: u8) -> Sense {
        Sense {
            key,
            asc,
            ascq,
            information: None,
            field: None,
        }
    }

    /// NO SENSE: what REQUEST SENSE returns when nothing is pending.
    pub const NO_SENSE: Sense = Sense::new(SenseKey::NoSense, 0x00, 0x00);
    /// ILLEGAL REQUEST / INVALID COMMAND OPERATION CODE (20h/00h).
    pub const INVALID_OPCODE: Sense = Sense::new(SenseKey::IllegalRequest, 0x20, 0x00);
    /// ILLEGAL REQUEST / LOGICAL BLOCK ADDRESS OUT OF RANGE (21h/00h).
    pub const LBA_OUT_OF_RANGE: Sense = Sense::new(SenseKey::IllegalRequest, 0x21, 0x00);
    /// ILLEGAL REQUEST / LOGICAL UNIT NOT SUPPORTED (25h/00h).
    pub const LUN_NOT_SUPPORTED: Sense = Sense::new(SenseKey::IllegalRequest, 0x25, 0x00);
    /// ILLEGAL REQUEST / PARAMETER LIST LENGTH ERROR (1Ah/00h).
    pub const PARAMETER_LIST_LENGTH: Sense = Sense::new(SenseKey::IllegalRequest, 0x1a, 0x00);
    /// ILLEGAL REQUEST / INVALID FIELD IN INFORMATION UNIT (0Eh/03h): the
    /// transport delivered a data-out buffer the command cannot use.
    pub const INVALID_FIELD_IN_IU: Sense = Sense::new(SenseKey::IllegalRequest, 0x0e, 0x03);
    /// ILLEGAL REQUEST / SAVING PARAMETERS NOT SUPPORTED (39h/00h).
    pub const SAVING_NOT_SUPPORTED: Sense = Sense::new(SenseKey::IllegalRequest, 0x39, 0x00);
    /// ILLEGAL REQUEST / INVALID RELEASE OF PERSISTENT RESERVATION (26h/04h).
    pub const INVALID_RELEASE: Sense = Sense::new(SenseKey::IllegalRequest, 0x26, 0x04);
    /// DATA PROTECT / WRITE PROTECTED (27h/00h).
    pub const WRITE_PROTECTED: Sense = Sense::new(SenseKey::DataProtect, 0x27, 0x00);
    /// DATA PROTECT / SPACE ALLOCATION FAILED WRITE PROTECT (27h/07h).
    pub const SPACE_ALLOCATION_FAILED: Sense = Sense::new(SenseKey::DataProtect, 0x27, 0x07);
    /// NOT READY / LOGICAL UNIT NOT ACCESSIBLE, TARGET PORT IN UNAVAILABLE
    /// STATE (04h/0Ch): this gateway was fenced; another path has the volume.
    pub const PORT_UNAVAILABLE: Sense = Sense::new(SenseKey::NotReady, 0x04, 0x0c);
    /// MEDIUM ERROR / UNRECOVERED READ ERROR (11h/00h).
    pub const READ_ERROR: Sense = Sense::new(SenseKey::MediumError, 0x11, 0x00);
    /// MEDIUM ERROR / WRITE ERROR (0Ch/00h).
    pub const WRITE_ERROR: Sense = Sense::new(SenseKey::MediumError, 0x0c, 0x00);
    /// HARDWARE ERROR / INTERNAL TARGET FAILURE (44h/00h).
    pub const INTERNAL_FAILURE: Sense = Sense::new(SenseKey::HardwareError, 0x44, 0x00);

    /// ILLEGAL REQUEST / INVALID FIELD IN CDB (24h/00h) pointing at `byte`
    /// (and `bit`) of the CDB.
    pub const fn invalid_cdb(byte: u16, bit: Option<u8>) -> Sense {
        let mut s = Sense::new(SenseKey::IllegalRequest, 0x24, 0x00);
        s.field = Some(FieldPointer {
            in_cdb: true,
            byte,
            bit,
        });
        s
    }

    /// ILLEGAL REQUEST / INVALID FIELD IN PARAMETER LIST (26h/00h) pointing
    /// at `byte` of the parameter data.
    pub const fn invalid_param(byte: u16) -> Sense {
        let mut s = Sense::new(SenseKey::IllegalRequest, 0x26, 0x00);
        s.field = Some(FieldPointer {
            in_cdb: false,
            byte,
            bit: None,
        });
        s
    }

    /// MISCOMPARE / MISCOMPARE DURING VERIFY OPERATION (1Dh/00h), with the
    /// byte offset of the first difference in INFORMATION.
    pub const fn miscompare(offset: u32) -> Sense {
        let mut s = Sense::new(SenseKey::Miscompare, 0x1d, 0x00);
        s.information = Some(offset);
        s
    }

    /// The sense a device error becomes; `writing` picks WRITE ERROR over
    /// UNRECOVERED READ ERROR for an I/O failure.
    pub fn from_block_error(e: &BlockError, writing: bool) -> Sense {
        match e {
            BlockError::OutOfRange { .. } => Sense::LBA_OUT_OF_RANGE,
            BlockError::ReadOnly => Sense::WRITE_PROTECTED,
            BlockError::NoSpace => Sense::SPACE_ALLOCATION_FAILED,
            BlockError::Fenced(_) => Sense::PORT_UNAVAILABLE,
            BlockError::Io(_) if writing => Sense::WRITE_ERROR,
            BlockError::Io(_) => Sense::READ_ERROR,
            BlockError::NoSuchExport(_) => Sense::INTERNAL_FAILURE,
        }
    }

    /// Fixed-format current sense data (response code 70h), 18 bytes.
    pub fn to_fixed(&self) -> [u8; FIXED_SENSE_LEN] {
        let mut b = [0u8; FIXED_SENSE_LEN];
        b[0] = 0x70;
        if let Some(info) = self.information {
            b[0] |= 0x80;
            b[3..7].copy_from_slice(&info.to_be_bytes());
        }
        b[2] = self.key as u8;
        b[7] = (FIXED_SENSE_LEN - 8) as u8;
        b[12] = self.asc;
        b[13] = self.ascq;
        if let Some(f) = self.field {
            b[15] = 0x80 | if f.in_cdb { 0x40 } else { 0 };
            if let Some(bit) = f.bit {
                b[15] |= 0x08 | (bit & 0x07);
            }
            b[16..18].copy_from_slice(&f.byte.to_be_bytes());
        }
        b
    }

    /// Descriptor-format current sense data (response code 72h), for
    /// REQUEST SENSE with DESC set.
    pub fn to_descriptor(&self) -> Vec<u8> {
        let mut b = vec![0x72, self.key as u8, self.asc, self.ascq, 0, 0, 0, 0];
        if let Some(info) = self.information {
            b.extend_from_slice(&[0x00, 0x0a, 0x80, 0x00]);
            b.extend_from_slice(&u64::from(info).to_be_bytes());
        }
        if let Some(f) = self.field {
            let mut sks = 0x80 | if f.in_cdb { 0x40 } else { 0 };
            if let Some(bit) = f.bit {
                sks |= 0x08 | (bit & 0x07);
            }
            let [hi, lo] = f.byte.to_be_bytes();
            b.extend_from_slice(&[0x02, 0x06, 0x00, 0x00, sks, hi, lo, 0x00]);
        }
        b[7] = (b.len() - 8) as u8;
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fixed_format_carries_key_codes_and_field_pointer() {
        // Encodes INVALID FIELD IN CDB at byte 1 bit 5 and checks every field.
        let b = Sense::invalid_cdb(1, Some(5)).to_fixed();
        assert_eq!(b[0], 0x70);
        assert_eq!(b[2], 0x05);
        assert_eq!(b[7], 10);
        assert_eq!((b[12], b[13]), (0x24, 0x00));
        assert_eq!(b[15], 0x80 | 0x40 | 0x08 | 5);
        assert_eq!(&b[16..18], &[0, 1]);
    }

    #[test]
    fn miscompare_sets_valid_and_information() {
        // The offset of the first differing byte lands in INFORMATION with VALID.
        let b = Sense::miscompare(0x1234).to_fixed();
        assert_eq!(b[0], 0xf0);
        assert_eq!(b[2], 0x0e);
        assert_eq!(&b[3..7], &[0, 0, 0x12, 0x34]);
        assert_eq!((b[12], b[13]), (0x1d, 0x00));
    }

    #[test]
    fn descriptor_format_lists_information_and_pointer() {
        // Descriptor format carries the same facts in descriptors 00h and 02h.
        let mut s = Sense::invalid_param(2);
        s.information = Some(7);
        let b = s.to_descriptor();
        assert_eq!(&b[..4], &[0x72, 0x05, 0x26, 0x00]);
        assert_eq!(b[7] as usize, b.len() - 8);
        assert_eq!(&b[8..12], &[0x00, 0x0a, 0x80, 0x00]);
        assert_eq!(b[19], 7);
        assert_eq!(&b[20..24], &[0x02, 0x06, 0, 0]);
    }

    #[test]
    fn block_errors_map_to_their_sense() {
        // Each device error has its own sense; I/O errors depend on direction.
        let io = BlockError::Io("x".into());
        assert_eq!(Sense::from_block_error(&io, true), Sense::WRITE_ERROR);
        assert_eq!(Sense::from_block_error(&io, false), Sense::READ_ERROR);
        assert_eq!(
            Sense::from_block_error(&BlockError::ReadOnly, true),
            Sense::WRITE_PROTECTED
        );
        assert_eq!(
            Sense::from_block_error(&BlockError::Fenced(3), true).key,
            SenseKey::NotReady
        );
    }
}
