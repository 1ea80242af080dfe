//! INQUIRY data: the standard page and the vital product data pages 00h,
//! 80h, 83h, B0h, B1h and B2h, as pure functions of the device's identity
//! and the logical unit's limits.

use super::limits;
use super::sense::Sense;
use crate::DeviceIdentity;

const VENDOR: &[u8; 8] = b"CAIRN   ";
const PRODUCT: &[u8; 16] = b"VOLUME          ";
const REVISION: &[u8; 4] = b"0001";

/// Version descriptors: SAM-5, iSCSI, SPC-4, SBC-3.
const VERSION_DESCRIPTORS: [u16; 4] = [0x00a0, 0x0960, 0x0460, 0x04c0];

/// The VPD pages we serve, ascending.
pub const VPD_PAGES: [u8; 6] = [0x00, 0x80, 0x83, 0xb0, 0xb1, 0xb2];

/// Standard INQUIRY data (96 bytes) for LUN 0.
pub fn standard() -> Vec<u8> {
    let mut b = vec![0u8; 96];
    b[0] = 0x00; // connected, direct access block device
    b[2] = 0x06; // SPC-4
    b[3] = 0x12; // HISUP, response data format 2
    b[4] = (b.len() - 5) as u8;
    b[7] = 0x02; // CMDQUE
    b[8..16].copy_from_slice(VENDOR);
    b[16..32].copy_from_slice(PRODUCT);
    b[32..36].copy_from_slice(REVISION);
    for (i, v) in VERSION_DESCRIPTORS.iter().enumerate() {
        b[58 + 2 * i..60 + 2 * i].copy_from_slice(&v.to_be_bytes());
    }
    b
}

/// Standard INQUIRY data for a LUN that does not exist: peripheral
/// qualifier 011b, device type 1Fh.
pub fn no_lun() -> Vec<u8> {
    let mut b = standard();
    b[0] = 0x7f;
    b
}

/// The identifiers the device identification page needs beyond the device.
#[derive(Debug, Clone)]
pub struct PortIdentity {
    /// SCSI target port name, e.g. `iqn.2026-11.io.cairn:vol,t,0x0001`.
    pub target_port: String,
    /// Relative target port identifier.
    pub relative_port: u16,
}

/// A VPD page, or INVALID FIELD IN CDB for one we do not have.
pub fn vpd(page: u8, id: &DeviceIdentity, port: &PortIdentity) -> Result<Vec<u8>, Sense> {
    let body = match page {
        0x00 => VPD_PAGES.to_vec(),
        0x80 => serial(id).into_bytes(),
        0x83 => device_identification(id, port),
        0xb0 => block_limits(),
        0xb1 => block_characteristics(),
        0xb2 => provisioning(),
        _ => return Err(Sense::invalid_cdb(2, None)),
    };
    let mut b = vec![0x00, page];
    b.extend_from_slice(&(body.len() as u16).to_be_bytes());
    b.extend_from_slice(&body);
    Ok(b)
}

/// The unit serial number: the volume's UUID in hex.
pub fn serial(id: &DeviceIdentity) -> String {
    id.uuid.iter().map(|b| format!("{b:02x}")).collect()
}

/// Designator header: code set, association/type, length.
fn designator(out: &mut Vec<u8>, first: u8, second: u8, value: &[u8]) {
    out.extend_from_slice(&[first, second, 0, value.len() as u8]);
    out.extend_from_slice(value);
}

fn device_identification(id: &DeviceIdentity, port: &PortIdentity) -> Vec<u8> {
    let mut out = Vec::new();
    // NAA 3h (locally assigned), 8 bytes, from the UUID: the LU's WWN.
    let mut naa = [0u8; 8];
    naa.copy_from_slice(&id.uuid[..8]);
    for (i, b) in id.uuid[8..].iter().enumerate() {
        naa[i] ^= b;
    }
    naa[0] = 0x30 | (naa[0] & 0x0f);
    designator(&mut out, 0x01, 0x03, &naa);
    // T10 vendor ID: vendor + serial (ASCII, logical unit).
    let mut t10 = VENDOR.to_vec();
    t10.extend_from_slice(serial(id).as_bytes());
    designator(&mut out, 0x02, 0x01, &t10);
    // Relative target port (binary, target port, PIV, protocol iSCSI).
    let mut rel = [0u8; 4];
    rel[2..].copy_from_slice(&port.relative_port.to_be_bytes());
    designator(&mut out, 0x51, 0x94, &rel);
    // SCSI name string of the target port (UTF-8, target port, PIV, iSCSI),
    // null-terminated and padded to a multiple of 4.
    let mut name = port.target_port.as_bytes().to_vec();
    name.truncate(251);
    name.push(0);
    while !name.len().is_multiple_of(4) {
        name.push(0);
    }
    designator(&mut out, 0x53, 0x98, &name);
    out
}

fn block_limits() -> Vec<u8> {
    let mut b = vec![0u8; 0x3c];
    b[0] = 0x01; // WSNZ: WRITE SAME of zero blocks is refused
    b[1] = limits::MAX_COMPARE_BLOCKS;
    b[2..4].copy_from_slice(&limits::OPTIMAL_GRANULARITY_BLOCKS.to_be_bytes());
    b[4..8].copy_from_slice(&limits::MAX_TRANSFER_BLOCKS.to_be_bytes());
    b[8..12].copy_from_slice(&limits::OPTIMAL_TRANSFER_BLOCKS.to_be_bytes());
    b[16..20].copy_from_slice(&limits::MAX_UNMAP_BLOCKS.to_be_bytes());
    b[20..24].copy_from_slice(&limits::MAX_UNMAP_DESCRIPTORS.to_be_bytes());
    b[24..28].copy_from_slice(&u32::from(limits::OPTIMAL_GRANULARITY_BLOCKS).to_be_bytes());
    b[32..40].copy_from_slice(&u64::from(limits::MAX_WRITE_SAME_BLOCKS).to_be_bytes());
    b
}

fn block_characteristics() -> Vec<u8> {
    let mut b = vec![0u8; 0x3c];
    b[0..2].copy_from_slice(&1u16.to_be_bytes()); // non-rotating medium
    b
}

fn provisioning() -> Vec<u8> {
    // LBPU, LBPWS, LBPWS10, LBPRZ; provisioning type 2: thin.
    vec![0x00, 0x80 | 0x40 | 0x20 | 0x04, 0x02, 0x00]
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id() -> DeviceIdentity {
        DeviceIdentity {
            name: "vol".into(),
            uuid: *b"0123456789abcdef",
        }
    }

    fn port() -> PortIdentity {
        PortIdentity {
            target_port: "iqn.2026-11.io.cairn:vol,t,0x0001".into(),
            relative_port: 1,
        }
    }

    #[test]
    fn standard_inquiry_claims_spc4_and_sbc3() {
        // Version 6, response format 2, additional length, SBC-3 descriptor.
        let b = standard();
        assert_eq!((b[0], b[2], b[3] & 0x0f), (0, 6, 2));
        assert_eq!(b[4] as usize, b.len() - 5);
        assert!(b[58..74].chunks(2).any(|c| c == [0x04, 0xc0]));
        assert!(b[8..36].iter().all(|&c| (0x20..0x7f).contains(&c)));
    }

    #[test]
    fn vpd_pages_have_consistent_lengths() {
        // Every listed page is served with a page length matching its body.
        for p in VPD_PAGES {
            let b = vpd(p, &id(), &port()).unwrap();
            assert_eq!(b[1], p);
            assert_eq!(u16::from_be_bytes([b[2], b[3]]) as usize, b.len() - 4);
        }
        assert_eq!(&vpd(0, &id(), &port()).unwrap()[4..], &VPD_PAGES);
        assert!(vpd(0x99, &id(), &port()).is_err());
        assert_eq!(vpd(0xb0, &id(), &port()).unwrap()[3], 0x3c);
    }

    #[test]
    fn device_identification_lists_naa_and_port_name() {
        // The first designator is an 8-byte NAA 3h; a SCSI name string of the
        // target port follows, null-terminated and 4-byte aligned.
        let b = vpd(0x83, &id(), &port()).unwrap();
        assert_eq!(&b[4..8], &[0x01, 0x03, 0x00, 0x08]);
        assert_eq!(b[8] >> 4, 3);
        let text = String::from_utf8_lossy(&b);
        assert!(text.contains("iqn.2026-11.io.cairn:vol,t,0x0001"));
        let mut at = 4;
        while at < b.len() {
            let len = b[at + 3] as usize;
            if b[at + 1] & 0x0f == 8 {
                assert_eq!(len % 4, 0);
            }
            at += 4 + len;
        }
        assert_eq!(at, b.len());
    }

    #[test]
    fn provisioning_page_announces_thin_unmap() {
        // LBPU, LBPWS, LBPWS10 and LBPRZ set, provisioning type thin.
        let b = vpd(0xb2, &id(), &port()).unwrap();
        assert_eq!(b[5], 0xe4);
        assert_eq!(b[6] & 0x07, 2);
    }
}
