//! iSCSI PDUs, initiator side (RFC 7143 §11): encoding the basic header
//! segments we send (Login, SCSI Command, Data-Out, NOP-Out, Logout) and
//! decoding the ones a target sends. Pure; no digests (we negotiate None).
//!
//! Every decoded header is checked before its data segment is read: the
//! segment must fit our MaxRecvDataSegmentLength, so a hostile length
//! cannot make us allocate or read without bound.

/// The basic header segment's length, the "no task" tag (ITT or TTT) and
/// the padding of data segments are the target's own definitions.
pub use cairn_block::iscsi::pdu::{pad_len, BHS_LEN as BHS_BYTES, NO_TAG};
/// A header, as sent or received.
pub type Bhs = [u8; BHS_BYTES];
/// Additional header segments longer than this are refused (the field
/// counts 4-byte words; 255 of them is its most).
pub const AHS_BYTES_MAX: usize = 255 * 4;

/// Opcodes (byte 0, low 6 bits): the target's own table (RFC 7143 §11.1.1).
pub use cairn_block::iscsi::pdu::op;

/// The immediate-delivery bit of byte 0.
const IMMEDIATE: u8 = 0x40;
/// The final bit of byte 1.
const FINAL: u8 = 0x80;

/// Why a header could not be accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("unexpected opcode {0:#04x} from the target")]
    UnexpectedOpcode(u8),
    #[error("a data segment of {len} bytes is longer than our MaxRecvDataSegmentLength {max}")]
    DataTooLong { len: usize, max: usize },
}

/// Sequence numbers an initiator PDU carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Sn {
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
}

fn put_u32(b: &mut Bhs, at: usize, v: u32) {
    b[at..at + 4].copy_from_slice(&v.to_be_bytes());
}

fn put_data_len(b: &mut Bhs, len: usize) {
    assert!(
        len < 1 << 24,
        "data segment length {len} does not fit 24 bits"
    );
    b[5..8].copy_from_slice(&(len as u32).to_be_bytes()[1..]);
}

fn get_u32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

/// A Login Request's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRequest {
    pub transit: bool,
    pub cont: bool,
    pub csg: u8,
    pub nsg: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub itt: u32,
    pub cid: u16,
    pub sn: Sn,
}

/// A Login Request header (always immediate) before `text_len` bytes of text.
pub fn login_request(r: &LoginRequest, text_len: usize) -> Bhs {
    let mut b = [0u8; BHS_BYTES];
    b[0] = IMMEDIATE | op::LOGIN;
    b[1] = (u8::from(r.transit) << 7) | (u8::from(r.cont) << 6) | (r.csg << 2) | r.nsg;
    // bytes 2, 3: version max and min, both 0.
    put_data_len(&mut b, text_len);
    b[8..14].copy_from_slice(&r.isid);
    b[14..16].copy_from_slice(&r.tsih.to_be_bytes());
    put_u32(&mut b, 16, r.itt);
    b[20..22].copy_from_slice(&r.cid.to_be_bytes());
    put_u32(&mut b, 24, r.sn.cmd_sn);
    put_u32(&mut b, 28, r.sn.exp_stat_sn);
    b
}

/// A SCSI Command's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Command {
    pub itt: u32,
    pub lun: [u8; 8],
    pub read: bool,
    pub write: bool,
    /// No unsolicited Data-Out PDUs follow.
    pub final_bit: bool,
    /// Expected data transfer length.
    pub edtl: u32,
    pub sn: Sn,
    pub cdb: [u8; 16],
    /// Bytes of immediate data after the header.
    pub immediate_len: usize,
}

/// Task attribute SIMPLE.
const ATTR_SIMPLE: u8 = 1;

pub fn scsi_command(c: &Command) -> Bhs {
    let mut b = [0u8; BHS_BYTES];
    b[0] = op::SCSI_COMMAND;
    b[1] = (u8::from(c.final_bit) << 7)
        | (u8::from(c.read) << 6)
        | (u8::from(c.write) << 5)
        | ATTR_SIMPLE;
    put_data_len(&mut b, c.immediate_len);
    b[8..16].copy_from_slice(&c.lun);
    put_u32(&mut b, 16, c.itt);
    put_u32(&mut b, 20, c.edtl);
    put_u32(&mut b, 24, c.sn.cmd_sn);
    put_u32(&mut b, 28, c.sn.exp_stat_sn);
    b[32..48].copy_from_slice(&c.cdb);
    b
}

/// A Data-Out's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataOut {
    pub itt: u32,
    /// The R2T's tag, or [`NO_TAG`] for unsolicited data.
    pub ttt: u32,
    pub lun: [u8; 8],
    pub exp_stat_sn: u32,
    pub data_sn: u32,
    pub offset: u32,
    pub len: usize,
    pub final_bit: bool,
}

pub fn data_out(d: &DataOut) -> Bhs {
    let mut b = [0u8; BHS_BYTES];
    b[0] = op::DATA_OUT;
    b[1] = u8::from(d.final_bit) << 7;
    put_data_len(&mut b, d.len);
    b[8..16].copy_from_slice(&d.lun);
    put_u32(&mut b, 16, d.itt);
    put_u32(&mut b, 20, d.ttt);
    put_u32(&mut b, 28, d.exp_stat_sn);
    put_u32(&mut b, 36, d.data_sn);
    put_u32(&mut b, 40, d.offset);
    b
}

/// The NOP-Out answering a target's NOP-In ping `ttt` (immediate, no
/// data, ITT unused; its CmdSN does not advance).
pub fn nop_out_reply(ttt: u32, lun: [u8; 8], sn: Sn) -> Bhs {
    let mut b = [0u8; BHS_BYTES];
    b[0] = IMMEDIATE | op::NOP_OUT;
    b[1] = FINAL;
    b[8..16].copy_from_slice(&lun);
    put_u32(&mut b, 16, NO_TAG);
    put_u32(&mut b, 20, ttt);
    put_u32(&mut b, 24, sn.cmd_sn);
    put_u32(&mut b, 28, sn.exp_stat_sn);
    b
}

/// Logout reason "close the session".
pub const LOGOUT_CLOSE_SESSION: u8 = 0;

/// A Logout Request closing the session (immediate).
pub fn logout_request(itt: u32, cid: u16, sn: Sn) -> Bhs {
    let mut b = [0u8; BHS_BYTES];
    b[0] = IMMEDIATE | op::LOGOUT;
    b[1] = FINAL | LOGOUT_CLOSE_SESSION;
    put_u32(&mut b, 16, itt);
    b[20..22].copy_from_slice(&cid.to_be_bytes());
    put_u32(&mut b, 24, sn.cmd_sn);
    put_u32(&mut b, 28, sn.exp_stat_sn);
    b
}

/// The command window a target PDU announces.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub exp_cmd_sn: u32,
    pub max_cmd_sn: u32,
}

/// A Login Response's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginResponse {
    pub transit: bool,
    pub cont: bool,
    pub csg: u8,
    pub nsg: u8,
    pub version_active: u8,
    pub isid: [u8; 6],
    pub status_class: u8,
    pub status_detail: u8,
}

/// A SCSI Response's fields (a read's residual is not needed: the
/// session counts the bytes it received).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ScsiResponse {
    /// 0: command completed at the target; anything else: it failed there.
    pub response: u8,
    pub status: u8,
}

/// A Data-In's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataIn {
    /// With the S bit: the command's status (the PDU ends the command).
    pub status: Option<u8>,
    pub data_sn: u32,
    pub offset: u32,
}

/// An R2T's fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct R2t {
    pub ttt: u32,
    pub offset: u32,
    pub len: u32,
}

/// What a target PDU is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    LoginResponse(LoginResponse),
    ScsiResponse(ScsiResponse),
    DataIn(DataIn),
    R2t(R2t),
    /// `ttt` is [`NO_TAG`] unless the target wants an answer.
    NopIn {
        ttt: u32,
        lun: [u8; 8],
    },
    /// Whatever its response code, the session is over.
    LogoutResponse,
    Reject {
        reason: u8,
    },
    AsyncMessage {
        event: u8,
    },
    /// Text and task management responses: we send neither request.
    Unsolicited {
        opcode: u8,
    },
}

/// A decoded target header and the framing of what follows it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Pdu {
    pub kind: Kind,
    pub itt: u32,
    /// StatSN, on PDUs that carry status (a Data-In only with the S bit).
    pub stat_sn: Option<u32>,
    pub window: Window,
    pub ahs_len: usize,
    pub data_len: usize,
}

/// Decodes a target's header; `max_data` is our MaxRecvDataSegmentLength.
pub fn decode(b: &Bhs, max_data: usize) -> Result<Pdu, PduError> {
    let opcode = b[0] & 0x3f;
    let ahs_len = usize::from(b[4]) * 4;
    let data_len = (get_u32(b, 4) & 0x00ff_ffff) as usize;
    if data_len > max_data {
        return Err(PduError::DataTooLong {
            len: data_len,
            max: max_data,
        });
    }
    let kind = kind(opcode, b)?;
    let itt = get_u32(b, 16);
    let carries_status = match kind {
        Kind::DataIn(d) => d.status.is_some(),
        // An unsolicited NOP-In holds the next StatSN without using it.
        Kind::NopIn { .. } => itt != NO_TAG,
        Kind::R2t(_) | Kind::AsyncMessage { .. } => false,
        _ => true,
    };
    Ok(Pdu {
        kind,
        itt,
        stat_sn: carries_status.then(|| get_u32(b, 24)),
        window: Window {
            exp_cmd_sn: get_u32(b, 28),
            max_cmd_sn: get_u32(b, 32),
        },
        ahs_len,
        data_len,
    })
}

fn kind(opcode: u8, b: &Bhs) -> Result<Kind, PduError> {
    let flags = b[1];
    Ok(match opcode {
        op::LOGIN_RESPONSE => {
            let mut isid = [0u8; 6];
            isid.copy_from_slice(&b[8..14]);
            Kind::LoginResponse(LoginResponse {
                transit: flags & 0x80 != 0,
                cont: flags & 0x40 != 0,
                csg: (flags >> 2) & 3,
                nsg: flags & 3,
                version_active: b[3],
                isid,
                status_class: b[36],
                status_detail: b[37],
            })
        }
        op::SCSI_RESPONSE => Kind::ScsiResponse(ScsiResponse {
            response: b[2],
            status: b[3],
        }),
        // The S bit: status follows the data.
        op::DATA_IN => Kind::DataIn(DataIn {
            status: (flags & 0x01 != 0).then_some(b[3]),
            data_sn: get_u32(b, 36),
            offset: get_u32(b, 40),
        }),
        op::R2T => Kind::R2t(R2t {
            ttt: get_u32(b, 20),
            offset: get_u32(b, 40),
            len: get_u32(b, 44),
        }),
        op::NOP_IN => {
            let mut lun = [0u8; 8];
            lun.copy_from_slice(&b[8..16]);
            Kind::NopIn {
                ttt: get_u32(b, 20),
                lun,
            }
        }
        op::LOGOUT_RESPONSE => Kind::LogoutResponse,
        op::REJECT => Kind::Reject { reason: b[2] },
        op::ASYNC_MESSAGE => Kind::AsyncMessage { event: b[36] },
        op::TEXT_RESPONSE | op::TASK_MGMT_RESPONSE => Kind::Unsolicited { opcode },
        other => return Err(PduError::UnexpectedOpcode(other)),
    })
}

/// A LUN in SAM's single-level format: peripheral addressing below 256,
/// flat space addressing up to 16383.
pub fn encode_lun(lun: u16) -> [u8; 8] {
    assert!(
        lun < 16384,
        "LUN {lun} needs more than flat space addressing"
    );
    let mut out = [0u8; 8];
    if lun < 256 {
        out[1] = lun as u8;
    } else {
        out[0] = 0x40 | (lun >> 8) as u8;
        out[1] = (lun & 0xff) as u8;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const SN: Sn = Sn {
        cmd_sn: 7,
        exp_stat_sn: 9,
    };

    #[test]
    fn login_requests_carry_stages_isid_and_text_length() {
        // T/C/CSG/NSG packed into byte 1; immediate; ISID, ITT, CID, CmdSN, ExpStatSN placed.
        let b = login_request(
            &LoginRequest {
                transit: true,
                cont: false,
                csg: 1,
                nsg: 3,
                isid: [0x80, 1, 2, 3, 4, 5],
                tsih: 0,
                itt: 0x11,
                cid: 0,
                sn: SN,
            },
            300,
        );
        assert_eq!(b[0], 0x43);
        assert_eq!(b[1], 0x80 | (1 << 2) | 3);
        assert_eq!(&b[5..8], &[0, 1, 44]);
        assert_eq!(&b[8..14], &[0x80, 1, 2, 3, 4, 5]);
        assert_eq!(get_u32(&b, 16), 0x11);
        assert_eq!((get_u32(&b, 24), get_u32(&b, 28)), (7, 9));
    }

    #[test]
    fn scsi_commands_and_data_out_place_every_field() {
        // A WRITE with 512 bytes of immediate data: F, W, SIMPLE; EDTL, LUN, CDB in place.
        let mut cdb = [0u8; 16];
        cdb[0] = 0x8a;
        let b = scsi_command(&Command {
            itt: 3,
            lun: encode_lun(1),
            read: false,
            write: true,
            final_bit: true,
            edtl: 4096,
            sn: SN,
            cdb,
            immediate_len: 512,
        });
        assert_eq!((b[0], b[1]), (0x01, 0x80 | 0x20 | 1));
        assert_eq!(&b[5..8], &[0, 2, 0]);
        assert_eq!(&b[8..16], &[0, 1, 0, 0, 0, 0, 0, 0]);
        assert_eq!((get_u32(&b, 16), get_u32(&b, 20)), (3, 4096));
        assert_eq!(b[32], 0x8a);
        let d = data_out(&DataOut {
            itt: 3,
            ttt: 0x99,
            lun: encode_lun(1),
            exp_stat_sn: 9,
            data_sn: 2,
            offset: 8192,
            len: 1024,
            final_bit: true,
        });
        assert_eq!((d[0], d[1]), (0x05, 0x80));
        assert_eq!(&d[5..8], &[0, 4, 0]);
        assert_eq!(
            (get_u32(&d, 20), get_u32(&d, 36), get_u32(&d, 40)),
            (0x99, 2, 8192)
        );
        let n = nop_out_reply(0x42, encode_lun(0), SN);
        assert_eq!(
            (n[0], get_u32(&n, 16), get_u32(&n, 20)),
            (0x40, NO_TAG, 0x42)
        );
        let l = logout_request(5, 0, SN);
        assert_eq!((l[0], l[1]), (0x46, 0x80));
    }

    #[test]
    fn luns_use_peripheral_then_flat_addressing() {
        // 1 → 00 01; 300 → 41 2c (flat space).
        assert_eq!(encode_lun(0), [0; 8]);
        assert_eq!(encode_lun(1)[..2], [0, 1]);
        assert_eq!(encode_lun(300)[..2], [0x41, 0x2c]);
    }

    fn header(opcode: u8, flags: u8) -> Bhs {
        let mut b = [0u8; BHS_BYTES];
        b[0] = opcode;
        b[1] = flags;
        put_u32(&mut b, 16, 77);
        put_u32(&mut b, 24, 100);
        put_u32(&mut b, 28, 5);
        put_u32(&mut b, 32, 20);
        b
    }

    #[test]
    fn data_in_with_and_without_status() {
        // Without S: no StatSN, no status; with S (and U): status and StatSN.
        let mut b = header(op::DATA_IN, 0x00);
        put_u32(&mut b, 36, 4);
        put_u32(&mut b, 40, 16384);
        b[5..8].copy_from_slice(&[0, 0x20, 0]);
        let p = decode(&b, 262_144).unwrap();
        assert_eq!(p.stat_sn, None);
        assert_eq!(p.data_len, 8192);
        assert_eq!(
            p.kind,
            Kind::DataIn(DataIn {
                status: None,
                data_sn: 4,
                offset: 16384
            })
        );
        let mut b = header(op::DATA_IN, 0x80 | 0x02 | 0x01);
        put_u32(&mut b, 44, 512);
        let p = decode(&b, 262_144).unwrap();
        assert_eq!((p.itt, p.stat_sn), (77, Some(100)));
        assert_eq!(
            p.window,
            Window {
                exp_cmd_sn: 5,
                max_cmd_sn: 20
            }
        );
        let Kind::DataIn(d) = p.kind else { panic!() };
        assert_eq!(d.status, Some(0));
    }

    #[test]
    fn responses_r2ts_and_nops_decode() {
        // SCSI Response status and sense length; an R2T's tag, offset, length; a NOP-In ping.
        let mut b = header(op::SCSI_RESPONSE, 0x80);
        b[3] = 0x02;
        b[5..8].copy_from_slice(&[0, 0, 20]);
        let p = decode(&b, 8192).unwrap();
        assert!(matches!(
            p.kind,
            Kind::ScsiResponse(ScsiResponse { status: 2, .. })
        ));
        assert_eq!(p.data_len, 20);
        let mut b = header(op::R2T, 0x80);
        put_u32(&mut b, 20, 0xabc);
        put_u32(&mut b, 40, 65536);
        put_u32(&mut b, 44, 262_144);
        let p = decode(&b, 8192).unwrap();
        assert_eq!(p.stat_sn, None);
        assert_eq!(
            p.kind,
            Kind::R2t(R2t {
                ttt: 0xabc,
                offset: 65536,
                len: 262_144
            })
        );
        let mut b = header(op::NOP_IN, 0x80);
        put_u32(&mut b, 20, 0x55);
        assert!(matches!(
            decode(&b, 8192).unwrap().kind,
            Kind::NopIn { ttt: 0x55, .. }
        ));
    }

    #[test]
    fn oversized_segments_and_unknown_opcodes_are_refused() {
        // A data segment past our limit, or an opcode a target never sends, is an error.
        let mut b = header(op::DATA_IN, 0);
        b[5..8].copy_from_slice(&[0x04, 0, 1]);
        assert!(matches!(
            decode(&b, 262_144),
            Err(PduError::DataTooLong { .. })
        ));
        assert_eq!(
            decode(&header(op::SCSI_COMMAND, 0), 8192),
            Err(PduError::UnexpectedOpcode(1))
        );
        assert_eq!(pad_len(5), 3);
        assert_eq!(pad_len(8), 0);
    }
}
