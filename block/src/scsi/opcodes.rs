//! The table of supported commands: each opcode (and service action) with
//! its CDB usage data, which both REPORT SUPPORTED OPERATION CODES reports
//! and [`crate::scsi::cdb`] enforces (a bit set where the usage data has
//! none is INVALID FIELD IN CDB).

/// One supported command.
#[derive(Debug, Clone, Copy)]
pub struct OpInfo {
    pub opcode: u8,
    /// The service action, for opcodes that have them.
    pub service_action: Option<u16>,
    /// CDB usage data: byte 0 is the opcode; a set bit is a bit the device
    /// server looks at. Its length is the CDB length.
    pub usage: &'static [u8],
}

const fn op(opcode: u8, usage: &'static [u8]) -> OpInfo {
    OpInfo {
        opcode,
        service_action: None,
        usage,
    }
}

const fn sa(opcode: u8, service_action: u16, usage: &'static [u8]) -> OpInfo {
    OpInfo {
        opcode,
        service_action: Some(service_action),
        usage,
    }
}

const F: u8 = 0xff;

/// Every command the logical unit implements, in opcode order.
pub const SUPPORTED: &[OpInfo] = &[
    op(0x00, &[0x00, 0, 0, 0, 0, 0]),                // TEST UNIT READY
    op(0x03, &[0x03, 0x01, 0, 0, F, 0]),             // REQUEST SENSE
    op(0x08, &[0x08, 0x1f, F, F, F, 0]),             // READ(6)
    op(0x0a, &[0x0a, 0x1f, F, F, F, 0]),             // WRITE(6)
    op(0x12, &[0x12, 0x01, F, F, F, 0]),             // INQUIRY
    op(0x15, &[0x15, 0x11, 0, 0, F, 0]),             // MODE SELECT(6)
    op(0x16, &[0x16, 0, 0, 0, 0, 0]),                // RESERVE(6)
    op(0x17, &[0x17, 0, 0, 0, 0, 0]),                // RELEASE(6)
    op(0x1a, &[0x1a, 0x08, F, F, F, 0]),             // MODE SENSE(6)
    op(0x1b, &[0x1b, 0x01, 0, 0x0f, 0xf7, 0]),       // START STOP UNIT
    op(0x1e, &[0x1e, 0, 0, 0, 0x03, 0]),             // PREVENT ALLOW MEDIUM REMOVAL
    op(0x25, &[0x25, 0, F, F, F, F, 0, 0, 0x01, 0]), // READ CAPACITY(10)
    op(0x28, &[0x28, 0xfe, F, F, F, F, 0x1f, F, F, 0]), // READ(10)
    op(0x2a, &[0x2a, 0xfa, F, F, F, F, 0x1f, F, F, 0]), // WRITE(10)
    op(0x2e, &[0x2e, 0xf6, F, F, F, F, 0x1f, F, F, 0]), // WRITE AND VERIFY(10)
    op(0x2f, &[0x2f, 0xf6, F, F, F, F, 0x1f, F, F, 0]), // VERIFY(10)
    op(0x34, &[0x34, 0x02, F, F, F, F, 0x1f, F, F, 0]), // PRE-FETCH(10)
    op(0x35, &[0x35, 0x06, F, F, F, F, 0x1f, F, F, 0]), // SYNCHRONIZE CACHE(10)
    op(0x37, &[0x37, 0, 0x1f, 0, 0, 0, 0, F, F, 0]), // READ DEFECT DATA(10)
    op(0x41, &[0x41, 0xfe, F, F, F, F, 0x1f, F, F, 0]), // WRITE SAME(10)
    op(0x42, &[0x42, 0x01, 0, 0, 0, 0, 0x1f, F, F, 0]), // UNMAP
    op(0x55, &[0x55, 0x11, 0, 0, 0, 0, 0, F, F, 0]), // MODE SELECT(10)
    op(0x5a, &[0x5a, 0x18, F, F, 0, 0, 0, F, F, 0]), // MODE SENSE(10)
    sa(0x5e, 0x00, &[0x5e, 0x00, 0, 0, 0, 0, 0, F, F, 0]), // PR IN: READ KEYS
    sa(0x5e, 0x01, &[0x5e, 0x01, 0, 0, 0, 0, 0, F, F, 0]), // PR IN: READ RESERVATION
    sa(0x5e, 0x02, &[0x5e, 0x02, 0, 0, 0, 0, 0, F, F, 0]), // PR IN: REPORT CAPABILITIES
    sa(0x5e, 0x03, &[0x5e, 0x03, 0, 0, 0, 0, 0, F, F, 0]), // PR IN: READ FULL STATUS
    sa(0x5f, 0x00, &[0x5f, 0x00, F, 0, 0, F, F, F, F, 0]), // PR OUT: REGISTER
    sa(0x5f, 0x01, &[0x5f, 0x01, F, 0, 0, F, F, F, F, 0]), // PR OUT: RESERVE
    sa(0x5f, 0x02, &[0x5f, 0x02, F, 0, 0, F, F, F, F, 0]), // PR OUT: RELEASE
    sa(0x5f, 0x03, &[0x5f, 0x03, F, 0, 0, F, F, F, F, 0]), // PR OUT: CLEAR
    sa(0x5f, 0x04, &[0x5f, 0x04, F, 0, 0, F, F, F, F, 0]), // PR OUT: PREEMPT
    sa(0x5f, 0x05, &[0x5f, 0x05, F, 0, 0, F, F, F, F, 0]), // PR OUT: PREEMPT AND ABORT
    sa(0x5f, 0x06, &[0x5f, 0x06, F, 0, 0, F, F, F, F, 0]), // PR OUT: REGISTER AND IGNORE
    op(
        0x88,
        &[0x88, 0xfe, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0],
    ), // READ(16)
    op(
        0x89,
        &[0x89, 0xfa, F, F, F, F, F, F, F, F, 0, 0, 0, F, 0x1f, 0],
    ), // COMPARE AND WRITE
    op(
        0x8a,
        &[0x8a, 0xfa, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0],
    ), // WRITE(16)
    op(
        0x8b,
        &[0x8b, 0xfa, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0],
    ), // ORWRITE(16)
    op(
        0x8e,
        &[0x8e, 0xf6, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0],
    ), // WRITE AND VERIFY(16)
    op(
        0x8f,
        &[0x8f, 0xf6, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0],
    ), // VERIFY(16)
    op(
        0x90,
        &[0x90, 0x02, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0],
    ), // PRE-FETCH(16)
    op(
        0x91,
        &[0x91, 0x06, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0],
    ), // SYNCHRONIZE CACHE(16)
    op(
        0x93,
        &[0x93, 0xff, F, F, F, F, F, F, F, F, F, F, F, F, 0x1f, 0],
    ), // WRITE SAME(16)
    sa(
        0x9e,
        0x10,
        &[0x9e, 0x10, 0, 0, 0, 0, 0, 0, 0, 0, F, F, F, F, 0, 0],
    ), // READ CAPACITY(16)
    sa(
        0x9e,
        0x12,
        &[0x9e, 0x12, F, F, F, F, F, F, F, F, F, F, F, F, 0, 0],
    ), // GET LBA STATUS
    op(0xa0, &[0xa0, 0, F, 0, 0, 0, F, F, F, F, 0, 0]), // REPORT LUNS
    sa(0xa3, 0x0c, &[0xa3, 0x0c, 0x87, F, F, F, F, F, F, F, 0, 0]), // REPORT SUPPORTED OPERATION CODES
    sa(0xa3, 0x0d, &[0xa3, 0x0d, 0x80, 0, 0, 0, F, F, F, F, 0, 0]), // REPORT SUPPORTED TMFS
    op(0xa8, &[0xa8, 0xfe, F, F, F, F, F, F, F, F, 0x1f, 0]),       // READ(12)
    op(0xaa, &[0xaa, 0xfa, F, F, F, F, F, F, F, F, 0x1f, 0]),       // WRITE(12)
    op(0xae, &[0xae, 0xf6, F, F, F, F, F, F, F, F, 0x1f, 0]),       // WRITE AND VERIFY(12)
    op(0xaf, &[0xaf, 0xf6, F, F, F, F, F, F, F, F, 0x1f, 0]),       // VERIFY(12)
    op(0xb7, &[0xb7, 0x1f, 0, 0, 0, 0, F, F, F, F, 0, 0]),          // READ DEFECT DATA(12)
];

/// Opcodes whose commands are told apart by a service action in byte 1.
pub fn has_service_actions(opcode: u8) -> bool {
    matches!(opcode, 0x5e | 0x5f | 0x9e | 0xa3)
}

/// What the table says about `opcode` / `service_action`.
pub enum Lookup {
    Found(&'static OpInfo),
    /// The opcode is not implemented at all.
    NoOpcode,
    /// The opcode is, but not that service action.
    NoServiceAction,
}

/// Finds the command a CDB's first bytes name.
pub fn lookup(opcode: u8, service_action: u16) -> Lookup {
    let with_sa = has_service_actions(opcode);
    let mut any = false;
    for info in SUPPORTED.iter().filter(|i| i.opcode == opcode) {
        any = true;
        if !with_sa || info.service_action == Some(service_action) {
            return Lookup::Found(info);
        }
    }
    if any {
        Lookup::NoServiceAction
    } else {
        Lookup::NoOpcode
    }
}

/// The first byte and bit of `cdb` set outside the usage data, if any.
pub fn reserved_bit_set(info: &OpInfo, cdb: &[u8]) -> Option<(u16, u8)> {
    for (i, (&b, &m)) in cdb.iter().zip(info.usage).enumerate().skip(1) {
        let extra = b & !m;
        if extra != 0 {
            return Some((i as u16, 7 - extra.leading_zeros() as u8));
        }
    }
    None
}

/// Timeouts descriptor (all "not specified") appended when RCTD is set.
const TIMEOUTS: [u8; 12] = [0, 0x0a, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0];

/// REPORT SUPPORTED OPERATION CODES, reporting options 000b: every command.
pub fn all_commands(rctd: bool) -> Vec<u8> {
    let mut out = vec![0u8; 4];
    for info in SUPPORTED {
        let mut flags = 0u8;
        if info.service_action.is_some() {
            flags |= 0x01;
        }
        if rctd {
            flags |= 0x02;
        }
        let [sa_hi, sa_lo] = info.service_action.unwrap_or(0).to_be_bytes();
        let [len_hi, len_lo] = (info.usage.len() as u16).to_be_bytes();
        out.extend_from_slice(&[info.opcode, 0, sa_hi, sa_lo, 0, flags, len_hi, len_lo]);
        if rctd {
            out.extend_from_slice(&TIMEOUTS);
        }
    }
    let len = (out.len() - 4) as u32;
    out[..4].copy_from_slice(&len.to_be_bytes());
    out
}

/// REPORT SUPPORTED OPERATION CODES for one command (options 001b: by
/// opcode; 010b and 011b: by opcode and service action). `None` means the
/// request itself is invalid (INVALID FIELD IN CDB at byte 2).
pub fn one_command(options: u8, opcode: u8, service_action: u16, rctd: bool) -> Option<Vec<u8>> {
    let with_sa = has_service_actions(opcode);
    match options {
        1 if with_sa => return None,
        2 if !with_sa => return None,
        1..=3 => {}
        _ => return None,
    }
    let found = SUPPORTED
        .iter()
        .find(|i| i.opcode == opcode && (!with_sa || i.service_action == Some(service_action)));
    let ctdp = if rctd { 0x80 } else { 0 };
    let Some(info) = found else {
        // SUPPORT 001b: not supported; no usage data.
        return Some(vec![0, ctdp | 0x01, 0, 0]);
    };
    let [len_hi, len_lo] = (info.usage.len() as u16).to_be_bytes();
    let mut out = vec![0, ctdp | 0x03, len_hi, len_lo];
    out.extend_from_slice(info.usage);
    if rctd {
        out.extend_from_slice(&TIMEOUTS);
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_is_sorted_and_usage_starts_with_opcode() {
        // Every usage array begins with its opcode (and service action) and
        // has a standard CDB length; the table is in opcode order.
        for w in SUPPORTED.windows(2) {
            assert!(
                (w[0].opcode, w[0].service_action) < (w[1].opcode, w[1].service_action),
                "{:x}",
                w[1].opcode
            );
        }
        for i in SUPPORTED {
            assert_eq!(i.usage[0], i.opcode);
            assert!(matches!(i.usage.len(), 6 | 10 | 12 | 16), "{:x}", i.opcode);
            if let Some(sa) = i.service_action {
                assert_eq!(u16::from(i.usage[1] & 0x1f), sa);
            }
        }
    }

    #[test]
    fn reserved_bits_are_found() {
        // A bit outside READ(10)'s usage data (byte 1 bit 0) is reported.
        let Lookup::Found(info) = lookup(0x28, 0) else {
            panic!()
        };
        let mut cdb = [0u8; 10];
        cdb[0] = 0x28;
        cdb[1] = 0x18;
        assert_eq!(reserved_bit_set(info, &cdb), None);
        cdb[1] = 0x01;
        assert_eq!(reserved_bit_set(info, &cdb), Some((1, 0)));
        cdb[1] = 0;
        cdb[9] = 0x04;
        assert_eq!(reserved_bit_set(info, &cdb), Some((9, 2)));
    }

    #[test]
    fn one_command_checks_service_action_use() {
        // Asking by opcode alone for an opcode with service actions is an
        // error, and vice versa; an unknown opcode reports "not supported".
        assert!(one_command(1, 0x9e, 0x10, false).is_none());
        assert!(one_command(2, 0x28, 0, false).is_none());
        let d = one_command(2, 0x9e, 0x10, false).unwrap();
        assert_eq!(&d[..4], &[0, 3, 0, 16]);
        assert_eq!(d[4], 0x9e);
        assert_eq!(one_command(1, 0xee, 0, true).unwrap(), vec![0, 0x81, 0, 0]);
        let all = all_commands(true);
        assert_eq!(all.len(), 4 + SUPPORTED.len() * 20);
    }
}
