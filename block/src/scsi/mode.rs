//! Mode parameters: MODE SENSE(6/10) data (caching page 08h, control page
//! 0Ah, all pages 3Fh) and MODE SELECT parsing, where only the changeable
//! bits (WCE, SWP) may differ from the current values.

use super::cdb::ModeSense;
use super::sense::Sense;

/// The mode settings a MODE SELECT can change, shared by every I_T nexus.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ModeState {
    /// Write cache enabled: when false every write is made durable (FUA).
    pub wce: bool,
    /// Software write protect (control page SWP).
    pub swp: bool,
}

impl Default for ModeState {
    fn default() -> Self {
        ModeState {
            wce: true,
            swp: false,
        }
    }
}

const CACHING: u8 = 0x08;
const CONTROL: u8 = 0x0a;
const ALL: u8 = 0x3f;

/// Page control values of MODE SENSE.
const PC_CURRENT: u8 = 0;
const PC_CHANGEABLE: u8 = 1;
const PC_SAVED: u8 = 3;

fn caching_page(pc: u8, st: ModeState) -> Vec<u8> {
    let mut p = vec![0u8; 20];
    p[0] = CACHING;
    p[1] = 18;
    let wce = match pc {
        PC_CHANGEABLE => true,
        PC_CURRENT => st.wce,
        _ => true,
    };
    if wce {
        p[2] |= 0x04;
    }
    p
}

fn control_page(pc: u8, st: ModeState) -> Vec<u8> {
    let mut p = vec![0u8; 12];
    p[0] = CONTROL;
    p[1] = 10;
    if pc == PC_CHANGEABLE {
        p[4] = 0x08; // SWP is changeable; nothing else is
        return p;
    }
    p[3] = 0x10; // queue algorithm modifier 1: unrestricted reordering
    if pc == PC_CURRENT && st.swp {
        p[4] |= 0x08;
    }
    p[8..10].copy_from_slice(&0xffffu16.to_be_bytes()); // busy timeout: unlimited
    p
}

/// The mode pages asked for, or INVALID FIELD IN CDB.
fn pages(req: &ModeSense, st: ModeState) -> Result<Vec<u8>, Sense> {
    if req.pc == PC_SAVED {
        return Err(Sense::SAVING_NOT_SUPPORTED);
    }
    let all_subpages = req.subpage == 0xff;
    if req.subpage != 0 && !(all_subpages && req.page == ALL) {
        return Err(Sense::invalid_cdb(3, None));
    }
    match req.page {
        CACHING => Ok(caching_page(req.pc, st)),
        CONTROL => Ok(control_page(req.pc, st)),
        ALL => {
            let mut v = caching_page(req.pc, st);
            v.extend(control_page(req.pc, st));
            Ok(v)
        }
        _ => Err(Sense::invalid_cdb(2, Some(5))),
    }
}

/// MODE SENSE data (header, optional block descriptor, pages), not yet cut
/// to the allocation length.
pub fn sense(
    req: &ModeSense,
    st: ModeState,
    blocks: u64,
    block_len: u32,
    read_only: bool,
) -> Result<Vec<u8>, Sense> {
    let pages = pages(req, st)?;
    let mut dsp = 0x10; // DPOFUA
    if read_only || st.swp {
        dsp |= 0x80; // WP
    }
    let long = req.ten && req.llbaa;
    let desc = if req.dbd {
        Vec::new()
    } else if long {
        let mut d = vec![0u8; 16];
        d[0..8].copy_from_slice(&blocks.to_be_bytes());
        d[12..16].copy_from_slice(&block_len.to_be_bytes());
        d
    } else {
        let mut d = vec![0u8; 8];
        let n = u32::try_from(blocks).unwrap_or(u32::MAX);
        d[0..4].copy_from_slice(&n.to_be_bytes());
        d[5..8].copy_from_slice(&block_len.to_be_bytes()[1..]);
        d
    };
    let mut out = if req.ten {
        let mut h = vec![0u8; 8];
        h[3] = dsp;
        h[4] = u8::from(long);
        h[6..8].copy_from_slice(&(desc.len() as u16).to_be_bytes());
        h
    } else {
        vec![0, 0, dsp, desc.len() as u8]
    };
    out.extend(desc);
    out.extend(pages);
    if req.ten {
        let len = (out.len() - 2) as u16;
        out[0..2].copy_from_slice(&len.to_be_bytes());
    } else {
        out[0] = (out.len() - 1) as u8;
    }
    Ok(out)
}

/// Applies a MODE SELECT parameter list to `st`: the header, an optional
/// block descriptor (which must match the device) and pages whose
/// non-changeable fields equal the current ones.
pub fn select(ten: bool, params: &[u8], st: ModeState, block_len: u32) -> Result<ModeState, Sense> {
    let header_len = if ten { 8 } else { 4 };
    if params.len() < header_len {
        return Err(Sense::PARAMETER_LIST_LENGTH);
    }
    let desc_len = if ten {
        usize::from(u16::from_be_bytes([params[6], params[7]]))
    } else {
        usize::from(params[3])
    };
    let pages_at = header_len + desc_len;
    if pages_at > params.len() {
        return Err(Sense::PARAMETER_LIST_LENGTH);
    }
    check_block_descriptor(&params[header_len..pages_at], block_len, header_len)?;
    let mut new = st;
    let mut at = pages_at;
    while at < params.len() {
        let rest = &params[at..];
        if rest.len() < 2 || rest[0] & 0x40 != 0 {
            return Err(Sense::invalid_param(at as u16));
        }
        let len = 2 + usize::from(rest[1]);
        if rest.len() < len {
            return Err(Sense::PARAMETER_LIST_LENGTH);
        }
        new = apply_page(&rest[..len], new, at)?;
        at += len;
    }
    Ok(new)
}

/// A block descriptor may restate the block length but not change it (the
/// number of blocks is not changeable and is ignored).
fn check_block_descriptor(d: &[u8], block_len: u32, at: usize) -> Result<(), Sense> {
    let len = match d.len() {
        0 => return Ok(()),
        8 => u32::from_be_bytes([0, d[5], d[6], d[7]]),
        16 => u32::from_be_bytes([d[12], d[13], d[14], d[15]]),
        _ => return Err(Sense::invalid_param(at as u16)),
    };
    if len != block_len {
        return Err(Sense::invalid_param(at as u16));
    }
    Ok(())
}

fn apply_page(page: &[u8], st: ModeState, at: usize) -> Result<ModeState, Sense> {
    let code = page[0] & 0x3f;
    let (current, changeable) = match code {
        CACHING => (
            caching_page(PC_CURRENT, st),
            caching_page(PC_CHANGEABLE, st),
        ),
        CONTROL => (
            control_page(PC_CURRENT, st),
            control_page(PC_CHANGEABLE, st),
        ),
        _ => return Err(Sense::invalid_param(at as u16)),
    };
    if page.len() != current.len() {
        return Err(Sense::invalid_param((at + 1) as u16));
    }
    for i in 2..page.len() {
        if (page[i] ^ current[i]) & !changeable[i] != 0 {
            return Err(Sense::invalid_param((at + i) as u16));
        }
    }
    let mut new = st;
    match code {
        CACHING => new.wce = page[2] & 0x04 != 0,
        _ => new.swp = page[4] & 0x08 != 0,
    }
    Ok(new)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn req(ten: bool, page: u8, pc: u8) -> ModeSense {
        ModeSense {
            ten,
            dbd: false,
            llbaa: false,
            pc,
            page,
            subpage: 0,
            alloc: 255,
        }
    }

    #[test]
    fn all_pages_have_header_descriptor_and_both_pages() {
        // MODE SENSE(6) all pages: length, DPOFUA, 8-byte descriptor, 08h and 0Ah.
        let d = sense(&req(false, ALL, 0), ModeState::default(), 1000, 512, false).unwrap();
        assert_eq!(d[0] as usize, d.len() - 1);
        assert_eq!(d[2], 0x10);
        assert_eq!(d[3], 8);
        assert_eq!(&d[4..8], &1000u32.to_be_bytes());
        assert_eq!(d[12], CACHING);
        assert_eq!(d[12 + 2] & 0x04, 0x04);
        assert_eq!(d[32], CONTROL);
        let ro = sense(&req(true, ALL, 0), ModeState::default(), 1000, 512, true).unwrap();
        assert_eq!(ro[3] & 0x80, 0x80);
        assert_eq!(u16::from_be_bytes([ro[0], ro[1]]) as usize, ro.len() - 2);
    }

    #[test]
    fn unknown_page_and_saved_values_are_refused() {
        // A page we lack is INVALID FIELD IN CDB; saved values are not kept.
        assert!(sense(&req(false, 0x19, 0), ModeState::default(), 1, 512, false).is_err());
        assert_eq!(
            sense(&req(false, ALL, 3), ModeState::default(), 1, 512, false),
            Err(Sense::SAVING_NOT_SUPPORTED)
        );
    }

    #[test]
    fn select_toggles_swp_and_wce_only() {
        // Echoing the control page with SWP set sets it; changing QAM fails.
        let st = ModeState::default();
        let mut params = vec![0u8, 0, 0, 0];
        params.extend(control_page(PC_CURRENT, st));
        params[4 + 4] |= 0x08;
        let new = select(false, &params, st, 512).unwrap();
        assert!(new.swp);
        params[4 + 3] = 0x00;
        assert!(select(false, &params, st, 512).is_err());
        let mut params = vec![0u8, 0, 0, 0, 0, 0, 0, 0];
        let mut cache = caching_page(PC_CURRENT, st);
        cache[2] = 0;
        params.extend(cache);
        assert!(!select(true, &params, st, 512).unwrap().wce);
        assert_eq!(
            select(false, &[0, 0], st, 512),
            Err(Sense::PARAMETER_LIST_LENGTH)
        );
    }
}
