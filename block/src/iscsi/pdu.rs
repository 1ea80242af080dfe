//! iSCSI PDUs (RFC 7143 §11): the 48-byte basic header segment, decoding
//! of initiator PDUs into typed requests, encoding of target PDUs, and the
//! framing arithmetic (AHS, padding, CRC32C digests). Pure: no I/O.

use bytes::Bytes;

/// Basic header segment length.
pub const BHS_LEN: usize = 48;
/// Length of a header or data digest.
pub const DIGEST_LEN: usize = 4;
/// The reserved tag meaning "none" (ITT, TTT).
pub const NO_TAG: u32 = 0xffff_ffff;
/// Hard cap on a data segment we accept, whatever was negotiated.
pub const DATA_SEGMENT_HARD_MAX: usize = 16 << 20;

/// Opcodes (byte 0, low 6 bits).
pub mod op {
    pub const NOP_OUT: u8 = 0x00;
    pub const SCSI_COMMAND: u8 = 0x01;
    pub const TASK_MGMT: u8 = 0x02;
    pub const LOGIN: u8 = 0x03;
    pub const TEXT: u8 = 0x04;
    pub const DATA_OUT: u8 = 0x05;
    pub const LOGOUT: u8 = 0x06;
    pub const SNACK: u8 = 0x10;
    pub const NOP_IN: u8 = 0x20;
    pub const SCSI_RESPONSE: u8 = 0x21;
    pub const TASK_MGMT_RESPONSE: u8 = 0x22;
    pub const LOGIN_RESPONSE: u8 = 0x23;
    pub const TEXT_RESPONSE: u8 = 0x24;
    pub const DATA_IN: u8 = 0x25;
    pub const LOGOUT_RESPONSE: u8 = 0x26;
    pub const R2T: u8 = 0x31;
    pub const ASYNC_MESSAGE: u8 = 0x32;
    pub const REJECT: u8 = 0x3f;
}

/// Why a PDU could not be taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PduError {
    #[error("opcode {0:#04x} is not an initiator opcode")]
    UnknownOpcode(u8),
    #[error("data segment of {len} bytes exceeds {max}")]
    DataTooLong { len: usize, max: usize },
    #[error("malformed additional header segment")]
    BadAhs,
    #[error("header digest mismatch")]
    HeaderDigest,
    #[error("data digest mismatch")]
    DataDigest,
}

fn u16_at(b: &[u8], i: usize) -> u16 {
    u16::from_be_bytes([b[i], b[i + 1]])
}

fn u32_at(b: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([b[i], b[i + 1], b[i + 2], b[i + 3]])
}

fn u64_at(b: &[u8], i: usize) -> u64 {
    (u64::from(u32_at(b, i)) << 32) | u64::from(u32_at(b, i + 4))
}

fn put32(b: &mut [u8], i: usize, v: u32) {
    b[i..i + 4].copy_from_slice(&v.to_be_bytes());
}

/// CRC32C of `parts`, as iSCSI puts it on the wire (little-endian).
pub fn digest(parts: &[&[u8]]) -> [u8; DIGEST_LEN] {
    parts
        .iter()
        .fold(0u32, |crc, p| cairn_base::crc32c_append(crc, p))
        .to_le_bytes()
}

/// Padding after a data segment of `len` bytes.
pub fn pad_len(len: usize) -> usize {
    (4 - len % 4) % 4
}

/// The lengths of what follows a BHS on the wire.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Layout {
    pub ahs_len: usize,
    pub data_len: usize,
}

impl Layout {
    /// Reads TotalAHSLength and DataSegmentLength, refusing a data segment
    /// over `max_data`.
    pub fn of(bhs: &[u8; BHS_LEN], max_data: usize) -> Result<Layout, PduError> {
        let data_len = (u32_at(bhs, 4) & 0x00ff_ffff) as usize;
        let max = max_data.min(DATA_SEGMENT_HARD_MAX);
        if data_len > max {
            return Err(PduError::DataTooLong { len: data_len, max });
        }
        Ok(Layout {
            ahs_len: usize::from(bhs[4]) * 4,
            data_len,
        })
    }
}

/// The common header fields every initiator PDU has.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Common {
    pub immediate: bool,
    pub final_bit: bool,
    pub lun: u64,
    pub itt: u32,
    /// CmdSN, or for Data-Out the (reserved) same position.
    pub cmd_sn: u32,
    pub exp_stat_sn: u32,
}

/// SCSI Command.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ScsiCommand {
    pub read: bool,
    pub write: bool,
    pub attr: u8,
    pub edtl: u32,
    /// The CDB, with any extended CDB AHS appended.
    pub cdb: Bytes,
}

/// SCSI Data-Out.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataOut {
    pub ttt: u32,
    pub data_sn: u32,
    pub offset: u32,
}

/// Task management request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TaskMgmt {
    pub function: u8,
    pub ref_itt: u32,
    pub ref_cmd_sn: u32,
}

/// Login request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginRequest {
    pub transit: bool,
    pub cont: bool,
    pub csg: u8,
    pub nsg: u8,
    pub version_max: u8,
    pub version_min: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub cid: u16,
}

/// Text request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TextRequest {
    pub cont: bool,
    pub ttt: u32,
}

/// Logout request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LogoutRequest {
    pub reason: u8,
    pub cid: u16,
}

/// What an initiator PDU asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Kind {
    NopOut { ttt: u32 },
    Command(ScsiCommand),
    TaskMgmt(TaskMgmt),
    Login(LoginRequest),
    Text(TextRequest),
    DataOut(DataOut),
    Logout(LogoutRequest),
    Snack,
}

/// A decoded initiator PDU.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Request {
    pub common: Common,
    pub kind: Kind,
    pub data: Bytes,
    /// The raw header, for a Reject.
    pub bhs: [u8; BHS_LEN],
}

/// Decodes an initiator PDU from its BHS, AHS bytes and data segment.
pub fn decode(bhs: &[u8; BHS_LEN], ahs: &[u8], data: Bytes) -> Result<Request, PduError> {
    let opcode = bhs[0] & 0x3f;
    let common = Common {
        immediate: bhs[0] & 0x40 != 0,
        final_bit: bhs[1] & 0x80 != 0,
        lun: u64_at(bhs, 8),
        itt: u32_at(bhs, 16),
        cmd_sn: u32_at(bhs, 24),
        exp_stat_sn: u32_at(bhs, 28),
    };
    let kind = match opcode {
        op::NOP_OUT => Kind::NopOut {
            ttt: u32_at(bhs, 20),
        },
        op::SCSI_COMMAND => Kind::Command(ScsiCommand {
            read: bhs[1] & 0x40 != 0,
            write: bhs[1] & 0x20 != 0,
            attr: bhs[1] & 0x07,
            edtl: u32_at(bhs, 20),
            cdb: full_cdb(&bhs[32..48], ahs)?,
        }),
        op::TASK_MGMT => Kind::TaskMgmt(TaskMgmt {
            function: bhs[1] & 0x7f,
            ref_itt: u32_at(bhs, 20),
            ref_cmd_sn: u32_at(bhs, 32),
        }),
        op::LOGIN => {
            let mut isid = [0u8; 6];
            isid.copy_from_slice(&bhs[8..14]);
            Kind::Login(LoginRequest {
                transit: bhs[1] & 0x80 != 0,
                cont: bhs[1] & 0x40 != 0,
                csg: (bhs[1] >> 2) & 0x03,
                nsg: bhs[1] & 0x03,
                version_max: bhs[2],
                version_min: bhs[3],
                isid,
                tsih: u16_at(bhs, 14),
                cid: u16_at(bhs, 20),
            })
        }
        op::TEXT => Kind::Text(TextRequest {
            cont: bhs[1] & 0x40 != 0,
            ttt: u32_at(bhs, 20),
        }),
        op::DATA_OUT => Kind::DataOut(DataOut {
            ttt: u32_at(bhs, 20),
            data_sn: u32_at(bhs, 36),
            offset: u32_at(bhs, 40),
        }),
        op::LOGOUT => Kind::Logout(LogoutRequest {
            reason: bhs[1] & 0x7f,
            cid: u16_at(bhs, 20),
        }),
        op::SNACK => Kind::Snack,
        other => return Err(PduError::UnknownOpcode(other)),
    };
    Ok(Request {
        common,
        kind,
        data,
        bhs: *bhs,
    })
}

/// The 16 CDB bytes of the BHS plus an extended-CDB AHS (type 1), if any.
fn full_cdb(base: &[u8], mut ahs: &[u8]) -> Result<Bytes, PduError> {
    let mut cdb = base.to_vec();
    while !ahs.is_empty() {
        if ahs.len() < 4 {
            return Err(PduError::BadAhs);
        }
        let len = usize::from(u16_at(ahs, 0));
        let kind = ahs[2];
        let total = (3 + len).div_ceil(4) * 4;
        if len == 0 || total > ahs.len() {
            return Err(PduError::BadAhs);
        }
        if kind == 1 {
            // AHSLength counts the reserved byte before the CDB bytes.
            cdb.extend_from_slice(&ahs[4..3 + len]);
        }
        ahs = &ahs[total..];
    }
    Ok(cdb.into())
}

/// A target PDU ready for the wire: header and data segment (unpadded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutPdu {
    pub header: [u8; BHS_LEN],
    pub data: Bytes,
}

/// The sequence numbers a target PDU carries at bytes 24..36.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Seq {
    pub stat_sn: u32,
    pub exp_cmd_sn: u32,
    pub max_cmd_sn: u32,
}

/// Starts a target header: opcode, flags, data length, ITT, sequence numbers.
fn header(opcode: u8, flags: u8, itt: u32, seq: Seq, data_len: usize) -> [u8; BHS_LEN] {
    let mut h = [0u8; BHS_LEN];
    h[0] = opcode;
    h[1] = flags;
    put32(&mut h, 4, data_len as u32 & 0x00ff_ffff);
    put32(&mut h, 16, itt);
    put32(&mut h, 24, seq.stat_sn);
    put32(&mut h, 28, seq.exp_cmd_sn);
    put32(&mut h, 32, seq.max_cmd_sn);
    h
}

fn out(header: [u8; BHS_LEN], data: Bytes) -> OutPdu {
    OutPdu { header, data }
}

/// Residual of a command: overflow or underflow and the count.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Residual {
    pub overflow: bool,
    pub underflow: bool,
    pub count: u32,
}

impl Residual {
    /// Compares the initiator's expected length with what the command wanted.
    pub fn of(expected: u32, wanted: u32) -> Residual {
        Residual {
            overflow: wanted > expected,
            underflow: wanted < expected,
            count: expected.abs_diff(wanted),
        }
    }

    fn flags(self) -> u8 {
        (if self.overflow { 0x04 } else { 0 }) | (if self.underflow { 0x02 } else { 0 })
    }
}

/// SCSI Response with status, sense data and residual.
pub fn scsi_response(
    itt: u32,
    seq: Seq,
    status: u8,
    sense: &[u8],
    residual: Residual,
    exp_data_sn: u32,
) -> OutPdu {
    let data: Bytes = if sense.is_empty() {
        Bytes::new()
    } else {
        let mut d = (sense.len() as u16).to_be_bytes().to_vec();
        d.extend_from_slice(sense);
        d.into()
    };
    let mut h = header(
        op::SCSI_RESPONSE,
        0x80 | residual.flags(),
        itt,
        seq,
        data.len(),
    );
    h[3] = status;
    put32(&mut h, 20, 0);
    put32(&mut h, 36, exp_data_sn);
    put32(&mut h, 44, residual.count);
    out(h, data)
}

/// The fields of one Data-In PDU besides the sequence numbers and data.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DataIn {
    pub itt: u32,
    pub lun: u64,
    pub data_sn: u32,
    pub offset: u32,
    /// F: the last PDU of a sequence.
    pub final_bit: bool,
    /// Status and residual: makes this the last PDU of the command (S).
    pub status: Option<(u8, Residual)>,
}

/// One Data-In PDU.
pub fn data_in(f: &DataIn, seq: Seq, data: Bytes) -> OutPdu {
    let mut flags = if f.final_bit { 0x80 } else { 0 };
    let mut seq = seq;
    if f.status.is_none() {
        seq.stat_sn = 0;
    }
    if let Some((_, r)) = f.status {
        flags |= 0x01 | r.flags();
    }
    let mut h = header(op::DATA_IN, flags, f.itt, seq, data.len());
    if let Some((s, r)) = f.status {
        h[3] = s;
        put32(&mut h, 44, r.count);
    }
    h[8..16].copy_from_slice(&f.lun.to_be_bytes());
    put32(&mut h, 20, NO_TAG);
    put32(&mut h, 36, f.data_sn);
    put32(&mut h, 40, f.offset);
    out(h, data)
}

/// Ready To Transfer: asks for `len` bytes at `offset`.
pub fn r2t(itt: u32, lun: u64, seq: Seq, ttt: u32, r2t_sn: u32, offset: u32, len: u32) -> OutPdu {
    let mut h = header(op::R2T, 0x80, itt, seq, 0);
    h[8..16].copy_from_slice(&lun.to_be_bytes());
    put32(&mut h, 20, ttt);
    put32(&mut h, 36, r2t_sn);
    put32(&mut h, 40, offset);
    put32(&mut h, 44, len);
    out(h, Bytes::new())
}

/// NOP-In answering a NOP-Out (echoing its ping data).
pub fn nop_in(itt: u32, lun: u64, seq: Seq, data: Bytes) -> OutPdu {
    let mut h = header(op::NOP_IN, 0x80, itt, seq, data.len());
    h[8..16].copy_from_slice(&lun.to_be_bytes());
    put32(&mut h, 20, NO_TAG);
    out(h, data)
}

/// Task management function response.
pub fn tmf_response(itt: u32, seq: Seq, response: u8) -> OutPdu {
    let mut h = header(op::TASK_MGMT_RESPONSE, 0x80, itt, seq, 0);
    h[2] = response;
    out(h, Bytes::new())
}

/// The fields of a login response besides its text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginResponse {
    pub transit: bool,
    pub csg: u8,
    pub nsg: u8,
    pub isid: [u8; 6],
    pub tsih: u16,
    pub itt: u32,
    pub status_class: u8,
    pub status_detail: u8,
}

/// Login response.
pub fn login_response(r: &LoginResponse, seq: Seq, text: Bytes) -> OutPdu {
    let flags = (if r.transit { 0x80 } else { 0 }) | (r.csg << 2) | r.nsg;
    let mut h = header(op::LOGIN_RESPONSE, flags, r.itt, seq, text.len());
    h[8..14].copy_from_slice(&r.isid);
    h[14..16].copy_from_slice(&r.tsih.to_be_bytes());
    h[36] = r.status_class;
    h[37] = r.status_detail;
    out(h, text)
}

/// Text response; `cont` marks more to come under `ttt`.
pub fn text_response(itt: u32, lun: u64, seq: Seq, cont: bool, ttt: u32, text: Bytes) -> OutPdu {
    let flags = if cont { 0x40 } else { 0x80 };
    let mut h = header(op::TEXT_RESPONSE, flags, itt, seq, text.len());
    h[8..16].copy_from_slice(&lun.to_be_bytes());
    put32(&mut h, 20, ttt);
    out(h, text)
}

/// Logout response (success), with Time2Wait and Time2Retain of zero.
pub fn logout_response(itt: u32, seq: Seq, response: u8) -> OutPdu {
    let mut h = header(op::LOGOUT_RESPONSE, 0x80, itt, seq, 0);
    h[2] = response;
    out(h, Bytes::new())
}

/// Reject of the PDU whose header is `bhs`.
pub fn reject(seq: Seq, reason: u8, bhs: &[u8; BHS_LEN]) -> OutPdu {
    let mut h = header(op::REJECT, 0x80, NO_TAG, seq, BHS_LEN);
    h[2] = reason;
    out(h, Bytes::copy_from_slice(bhs))
}

/// Reject reasons (RFC 7143 §11.17.1).
pub mod reject_reason {
    pub const PROTOCOL_ERROR: u8 = 0x04;
    pub const COMMAND_NOT_SUPPORTED: u8 = 0x05;
    pub const INVALID_PDU_FIELD: u8 = 0x09;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bhs(opcode: u8, flags: u8) -> [u8; BHS_LEN] {
        let mut b = [0u8; BHS_LEN];
        b[0] = opcode;
        b[1] = flags;
        b
    }

    #[test]
    fn decodes_scsi_command_with_extended_cdb() {
        // A WRITE command with a 4-byte extended-CDB AHS: flags, EDTL and the
        // 20-byte CDB come out.
        let mut b = bhs(op::SCSI_COMMAND | 0x40, 0x80 | 0x20 | 0x01);
        b[4] = 2;
        put32(&mut b, 16, 7);
        put32(&mut b, 20, 4096);
        put32(&mut b, 24, 99);
        b[32] = 0x2a;
        let ahs = [0, 5, 1, 0, 1, 2, 3, 4];
        let r = decode(&b, &ahs, Bytes::new()).unwrap();
        assert!(r.common.immediate && r.common.final_bit);
        assert_eq!((r.common.itt, r.common.cmd_sn), (7, 99));
        let Kind::Command(c) = r.kind else { panic!() };
        assert!(c.write && !c.read);
        assert_eq!(c.attr, 1);
        assert_eq!(c.edtl, 4096);
        assert_eq!(c.cdb.len(), 20);
        assert_eq!(&c.cdb[16..], &[1, 2, 3, 4]);
        assert_eq!(
            decode(&b, &[0, 9, 1, 0], Bytes::new()),
            Err(PduError::BadAhs)
        );
    }

    #[test]
    fn layout_bounds_the_data_segment() {
        // DataSegmentLength over the negotiated limit is refused.
        let mut b = bhs(op::DATA_OUT, 0x80);
        b[5..8].copy_from_slice(&[0, 0x20, 0x00]);
        b[4] = 1;
        assert_eq!(
            Layout::of(&b, 1 << 20),
            Ok(Layout {
                ahs_len: 4,
                data_len: 8192
            })
        );
        assert!(Layout::of(&b, 4096).is_err());
        assert_eq!(pad_len(5), 3);
        assert_eq!(pad_len(8), 0);
    }

    #[test]
    fn decodes_login_and_rejects_target_opcodes() {
        // Login fields come from their places; a target opcode is refused.
        let mut b = bhs(op::LOGIN | 0x40, 0x80 | 0x04 | 0x03);
        b[8..14].copy_from_slice(&[0x80, 1, 2, 3, 4, 5]);
        b[14..16].copy_from_slice(&[0, 9]);
        let r = decode(&b, &[], Bytes::new()).unwrap();
        let Kind::Login(l) = r.kind else { panic!() };
        assert!(l.transit && !l.cont);
        assert_eq!((l.csg, l.nsg, l.tsih), (1, 3, 9));
        assert_eq!(l.isid, [0x80, 1, 2, 3, 4, 5]);
        assert_eq!(
            decode(&bhs(op::R2T, 0), &[], Bytes::new()),
            Err(PduError::UnknownOpcode(op::R2T))
        );
    }

    #[test]
    fn encodes_data_in_with_status_and_residual() {
        // The last Data-In carries S, the status, StatSN and the underflow.
        let seq = Seq {
            stat_sn: 5,
            exp_cmd_sn: 6,
            max_cmd_sn: 37,
        };
        let mut f = DataIn {
            itt: 9,
            lun: 0,
            data_sn: 2,
            offset: 8192,
            final_bit: true,
            status: Some((0, Residual::of(10000, 512))),
        };
        let p = data_in(&f, seq, Bytes::from_static(b"abc"));
        let h = p.header;
        assert_eq!(h[0], op::DATA_IN);
        assert_eq!(h[1], 0x80 | 0x02 | 0x01);
        assert_eq!(u32_at(&h, 4), 3);
        assert_eq!(u32_at(&h, 24), 5);
        assert_eq!(u32_at(&h, 36), 2);
        assert_eq!(u32_at(&h, 40), 8192);
        assert_eq!(u32_at(&h, 44), 10000 - 512);
        f.final_bit = false;
        f.status = None;
        let mid = data_in(&f, seq, Bytes::new());
        assert_eq!(u32_at(&mid.header, 24), 0);
        assert_eq!(mid.header[1], 0);
    }

    #[test]
    fn scsi_response_carries_sense_length_prefix() {
        // Sense data is prefixed with its 2-byte length; overflow sets O.
        let p = scsi_response(1, Seq::default(), 2, &[0x70, 0, 5], Residual::of(0, 512), 0);
        assert_eq!(&p.data[..], &[0, 3, 0x70, 0, 5]);
        assert_eq!(p.header[1], 0x80 | 0x04);
        assert_eq!(p.header[3], 2);
        assert_eq!(u32_at(&p.header, 44), 512);
    }

    #[test]
    fn digest_is_crc32c_little_endian() {
        // The CRC32C check value of "123456789" is E3069283h, sent LSB first.
        assert_eq!(digest(&[b"1234", b"56789"]), [0x83, 0x92, 0x06, 0xe3]);
    }
}
