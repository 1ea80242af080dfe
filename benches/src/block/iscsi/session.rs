//! The full feature phase of one session, initiator side, as a state
//! machine: commands and target PDUs in; PDUs to send ([`Session::next_frame`])
//! and finished commands ([`Session::next_done`]) out. Pure; the socket is
//! [`super::link`]'s.
//!
//! - Every command gets its own ITT and the next CmdSN; none is issued
//!   past MaxCmdSN ([`Session::window_open`]). ExpCmdSN and MaxCmdSN only
//!   move forward (serial arithmetic, RFC 1982), and a window the target
//!   closes below ExpCmdSN - 1 is ignored (RFC 7143 §4.2.2.1).
//! - A write sends immediate data up to FirstBurstLength (and the target's
//!   MaxRecvDataSegmentLength), unsolicited Data-Out up to FirstBurstLength
//!   when InitialR2T=No, and answers each R2T with Data-Out PDUs no longer
//!   than the target's MaxRecvDataSegmentLength.
//! - A read takes Data-In in order (DataPDUInOrder=Yes) into its own
//!   buffer, the status in the last Data-In or in a SCSI Response.
//! - A NOP-In ping (a valid TTT) is answered with a NOP-Out.
//!
//! Anything the target sends that breaks these rules is a
//! [`SessionError`]: the connection is unusable, never a panic.

use super::login::{LoginDone, Negotiated};
use super::pdu::{self, Bhs, DataIn, Kind, Pdu, R2t, ScsiResponse, Sn, Window, NO_TAG};
use super::scsi::{self, Cdb, Sense};
use bytes::Bytes;
use std::collections::{HashMap, VecDeque};

/// Read buffers kept for reuse.
const POOL_MAX: usize = 64;
/// The first ITT of a session (0 was the login's).
const FIRST_ITT: u32 = 1;

/// A PDU to send: header and data segment (padding is the writer's).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Frame {
    pub header: Bhs,
    pub data: Option<Bytes>,
}

/// What a command moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Transfer {
    None,
    /// Reads this many bytes.
    Read(u32),
    Write(Bytes),
}

/// Why a command failed (the connection is still fine).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Failure {
    #[error("CHECK CONDITION: {0}")]
    CheckCondition(Sense),
    #[error("CHECK CONDITION without usable sense data")]
    NoSense,
    #[error("SCSI status {0:#04x}")]
    Status(u8),
    #[error("the target failed the command (iSCSI response {0:#04x})")]
    Response(u8),
    #[error("{got} of {want} bytes read")]
    Short { got: u32, want: u32 },
}

/// A command that ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Done {
    pub tag: u64,
    pub result: Result<(), Failure>,
    /// A successful read's data.
    pub data: Option<Vec<u8>>,
}

/// What makes the connection unusable.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SessionError {
    #[error("a {what} for ITT {itt:#x}, which is no command of ours")]
    UnknownTask { what: &'static str, itt: u32 },
    #[error("Data-In for ITT {itt:#x} out of order or out of range (offset {offset}, {len} bytes, DataSN {data_sn})")]
    BadDataIn {
        itt: u32,
        offset: u32,
        len: usize,
        data_sn: u32,
    },
    #[error("an R2T for ITT {itt:#x} asking for {len} bytes at {offset} (data {edtl} bytes, MaxBurstLength {max_burst})")]
    BadR2t {
        itt: u32,
        offset: u32,
        len: u32,
        edtl: u32,
        max_burst: u32,
    },
    #[error("the target rejected a PDU (reason {0:#04x})")]
    Rejected(u8),
    #[error("the target asked us to leave (asynchronous event {0})")]
    AsyncLogout(u8),
    #[error("an unexpected {0} in the full feature phase")]
    Unexpected(&'static str),
}

#[derive(Debug)]
enum TaskKind {
    Read {
        buf: Vec<u8>,
        received: u32,
        data_sn: u32,
    },
    Write {
        data: Bytes,
    },
    NoData,
}

#[derive(Debug)]
struct Task {
    tag: u64,
    edtl: u32,
    kind: TaskKind,
}

/// `a < b` in serial number arithmetic (RFC 1982, 32 bits).
fn sn_lt(a: u32, b: u32) -> bool {
    (a.wrapping_sub(b) as i32) < 0
}

/// One session's full feature phase.
pub struct Session {
    n: Negotiated,
    lun: [u8; 8],
    cmd_sn: u32,
    exp_stat_sn: u32,
    window: Window,
    next_itt: u32,
    tasks: HashMap<u32, Task>,
    pool: Vec<Vec<u8>>,
    frames: VecDeque<Frame>,
    done: VecDeque<Done>,
    logged_out: bool,
}

impl Session {
    pub fn new(login: &LoginDone, lun: [u8; 8]) -> Session {
        Session {
            n: login.negotiated,
            lun,
            cmd_sn: login.cmd_sn,
            exp_stat_sn: login.exp_stat_sn,
            window: login.window,
            next_itt: FIRST_ITT,
            tasks: HashMap::new(),
            pool: Vec::new(),
            frames: VecDeque::new(),
            done: VecDeque::new(),
            logged_out: false,
        }
    }

    /// Whether a command may be issued now (CmdSN <= MaxCmdSN).
    pub fn window_open(&self) -> bool {
        !sn_lt(self.window.max_cmd_sn, self.cmd_sn)
    }

    /// Commands issued and not finished.
    pub fn outstanding(&self) -> usize {
        self.tasks.len()
    }

    pub fn negotiated(&self) -> &Negotiated {
        &self.n
    }

    fn sn(&self) -> Sn {
        Sn {
            cmd_sn: self.cmd_sn,
            exp_stat_sn: self.exp_stat_sn,
        }
    }

    fn take_itt(&mut self) -> u32 {
        loop {
            let itt = self.next_itt;
            self.next_itt = self.next_itt.wrapping_add(1);
            if itt != NO_TAG && !self.tasks.contains_key(&itt) {
                return itt;
            }
        }
    }

    /// Issues a command; its PDUs wait in [`Self::next_frame`]. The
    /// window must be open.
    pub fn command(&mut self, tag: u64, cdb: Cdb, transfer: Transfer) {
        assert!(self.window_open(), "command issued past MaxCmdSN");
        let itt = self.take_itt();
        let (edtl, kind) = match transfer {
            Transfer::None => (0, TaskKind::NoData),
            Transfer::Read(len) => (
                len,
                TaskKind::Read {
                    buf: self.buffer(len as usize),
                    received: 0,
                    data_sn: 0,
                },
            ),
            Transfer::Write(data) => {
                let len = u32::try_from(data.len()).expect("a write longer than 4 GiB");
                (len, TaskKind::Write { data })
            }
        };
        let (immediate, unsolicited_end) = match &kind {
            TaskKind::Write { data } => self.unsolicited(data.len()),
            _ => (0, 0),
        };
        let header = pdu::scsi_command(&pdu::Command {
            itt,
            lun: self.lun,
            read: matches!(kind, TaskKind::Read { .. }),
            write: matches!(kind, TaskKind::Write { .. }),
            final_bit: unsolicited_end == immediate,
            edtl,
            sn: self.sn(),
            cdb,
            immediate_len: immediate,
        });
        self.cmd_sn = self.cmd_sn.wrapping_add(1);
        if let TaskKind::Write { data } = &kind {
            let data = data.clone();
            self.frames.push_back(Frame {
                header,
                data: (immediate > 0).then(|| data.slice(..immediate)),
            });
            self.data_out(itt, NO_TAG, &data, immediate, unsolicited_end);
        } else {
            self.frames.push_back(Frame { header, data: None });
        }
        self.tasks.insert(itt, Task { tag, edtl, kind });
    }

    /// A write's immediate data length and where its unsolicited data ends.
    fn unsolicited(&self, len: usize) -> (usize, usize) {
        let first_burst = self.n.first_burst as usize;
        let immediate = if self.n.immediate_data {
            len.min(first_burst).min(self.n.target_mrdsl as usize)
        } else {
            0
        };
        let end = if self.n.initial_r2t {
            immediate
        } else {
            len.min(first_burst)
        };
        (immediate, end)
    }

    /// Data-Out PDUs for `data[from..to]`, each within the target's MRDSL.
    fn data_out(&mut self, itt: u32, ttt: u32, data: &Bytes, from: usize, to: usize) {
        let step = self.n.target_mrdsl as usize;
        let mut at = from;
        let mut data_sn = 0;
        while at < to {
            let len = step.min(to - at);
            let header = pdu::data_out(&pdu::DataOut {
                itt,
                ttt,
                lun: self.lun,
                exp_stat_sn: self.exp_stat_sn,
                data_sn,
                offset: at as u32,
                len,
                final_bit: at + len == to,
            });
            self.frames.push_back(Frame {
                header,
                data: Some(data.slice(at..at + len)),
            });
            at += len;
            data_sn += 1;
        }
    }

    fn buffer(&mut self, len: usize) -> Vec<u8> {
        match self.pool.iter().position(|b| b.len() == len) {
            Some(i) => self.pool.swap_remove(i),
            None => vec![0; len],
        }
    }

    /// Gives a read's buffer back for reuse.
    pub fn recycle(&mut self, buf: Vec<u8>) {
        if self.pool.len() < POOL_MAX {
            self.pool.push(buf);
        }
    }

    /// Where a Data-In's data goes: checked against its command (in order,
    /// in range), then counted as received.
    pub fn data_in_slot(&mut self, p: &Pdu, d: &DataIn) -> Result<&mut [u8], SessionError> {
        let bad = SessionError::BadDataIn {
            itt: p.itt,
            offset: d.offset,
            len: p.data_len,
            data_sn: d.data_sn,
        };
        let task = self
            .tasks
            .get_mut(&p.itt)
            .ok_or(SessionError::UnknownTask {
                what: "Data-In",
                itt: p.itt,
            })?;
        let TaskKind::Read {
            buf,
            received,
            data_sn,
        } = &mut task.kind
        else {
            return Err(bad);
        };
        let start = d.offset as usize;
        let end = start + p.data_len;
        if d.data_sn != *data_sn || d.offset != *received || end > buf.len() {
            return Err(bad);
        }
        *data_sn += 1;
        *received = end as u32;
        Ok(&mut buf[start..end])
    }

    /// Handles a target PDU (a Data-In's data already placed through
    /// [`Self::data_in_slot`]; other PDUs' data segment in `data`).
    pub fn on_pdu(&mut self, p: &Pdu, data: &[u8]) -> Result<(), SessionError> {
        self.update_sn(p);
        match p.kind {
            Kind::DataIn(d) => {
                if let Some(status) = d.status {
                    self.finish(p.itt, "Data-In", status_result(status))?;
                }
            }
            Kind::ScsiResponse(r) => {
                self.finish(p.itt, "SCSI Response", response_result(&r, data))?
            }
            Kind::R2t(r) => self.on_r2t(p.itt, r)?,
            Kind::NopIn { ttt, lun } => {
                if ttt != NO_TAG {
                    let header = pdu::nop_out_reply(ttt, lun, self.sn());
                    self.frames.push_back(Frame { header, data: None });
                }
            }
            Kind::Reject { reason } => return Err(SessionError::Rejected(reason)),
            // 1: logout requested; 2, 3: the target drops us; 4: renegotiation.
            Kind::AsyncMessage { event } if (1..=4).contains(&event) => {
                return Err(SessionError::AsyncLogout(event))
            }
            Kind::AsyncMessage { .. } => {}
            Kind::LogoutResponse => self.logged_out = true,
            Kind::LoginResponse(_) => return Err(SessionError::Unexpected("Login Response")),
            Kind::Unsolicited { opcode } if opcode == pdu::op::TEXT_RESPONSE => {
                return Err(SessionError::Unexpected("Text Response"))
            }
            Kind::Unsolicited { .. } => {
                return Err(SessionError::Unexpected("Task Management Response"))
            }
        }
        Ok(())
    }

    fn update_sn(&mut self, p: &Pdu) {
        let w = p.window;
        // A window closed below ExpCmdSN - 1 is invalid: ignore it.
        if !sn_lt(w.max_cmd_sn, w.exp_cmd_sn.wrapping_sub(1)) {
            if sn_lt(self.window.max_cmd_sn, w.max_cmd_sn) {
                self.window.max_cmd_sn = w.max_cmd_sn;
            }
            if sn_lt(self.window.exp_cmd_sn, w.exp_cmd_sn) {
                self.window.exp_cmd_sn = w.exp_cmd_sn;
            }
        }
        if let Some(s) = p.stat_sn {
            let next = s.wrapping_add(1);
            if sn_lt(self.exp_stat_sn, next) {
                self.exp_stat_sn = next;
            }
        }
    }

    /// Ends command `itt` with `result` (a read is also checked for length).
    fn finish(
        &mut self,
        itt: u32,
        what: &'static str,
        mut result: Result<(), Failure>,
    ) -> Result<(), SessionError> {
        let task = self
            .tasks
            .remove(&itt)
            .ok_or(SessionError::UnknownTask { what, itt })?;
        let data = match task.kind {
            TaskKind::Read { buf, received, .. } => {
                if result.is_ok() && received != task.edtl {
                    result = Err(Failure::Short {
                        got: received,
                        want: task.edtl,
                    });
                }
                if result.is_ok() {
                    Some(buf)
                } else {
                    self.recycle(buf);
                    None
                }
            }
            _ => None,
        };
        self.done.push_back(Done {
            tag: task.tag,
            result,
            data,
        });
        Ok(())
    }

    fn on_r2t(&mut self, itt: u32, r: R2t) -> Result<(), SessionError> {
        let max_burst = self.n.max_burst;
        let task = self
            .tasks
            .get(&itt)
            .ok_or(SessionError::UnknownTask { what: "R2T", itt })?;
        let bad = SessionError::BadR2t {
            itt,
            offset: r.offset,
            len: r.len,
            edtl: task.edtl,
            max_burst,
        };
        let TaskKind::Write { data } = &task.kind else {
            return Err(bad);
        };
        let end = u64::from(r.offset) + u64::from(r.len);
        if r.len == 0 || r.len > max_burst || end > u64::from(task.edtl) {
            return Err(bad);
        }
        let data = data.clone();
        self.data_out(itt, r.ttt, &data, r.offset as usize, end as usize);
        Ok(())
    }

    /// The next PDU to send.
    pub fn next_frame(&mut self) -> Option<Frame> {
        self.frames.pop_front()
    }

    /// The next command that ended.
    pub fn next_done(&mut self) -> Option<Done> {
        self.done.pop_front()
    }

    /// The Logout Request closing the session (immediate: no window needed).
    pub fn logout(&mut self) -> Frame {
        let itt = self.take_itt();
        Frame {
            header: pdu::logout_request(itt, 0, self.sn()),
            data: None,
        }
    }

    /// Whether the target answered the logout.
    pub fn logged_out(&self) -> bool {
        self.logged_out
    }
}

fn status_result(status: u8) -> Result<(), Failure> {
    match status {
        scsi::GOOD | scsi::CONDITION_MET => Ok(()),
        s => Err(Failure::Status(s)),
    }
}

fn response_result(r: &ScsiResponse, data: &[u8]) -> Result<(), Failure> {
    if r.response != 0 {
        return Err(Failure::Response(r.response));
    }
    match r.status {
        scsi::CHECK_CONDITION => {
            Err(scsi::parse_sense(data).map_or(Failure::NoSense, Failure::CheckCondition))
        }
        s => status_result(s),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::block::iscsi::pdu::{decode, op, BHS_BYTES};

    fn login(n: Negotiated) -> LoginDone {
        LoginDone {
            negotiated: n,
            cmd_sn: 10,
            exp_stat_sn: 5,
            window: Window {
                exp_cmd_sn: 10,
                max_cmd_sn: 11,
            },
        }
    }

    const N: Negotiated = Negotiated {
        target_mrdsl: 8192,
        our_mrdsl: 262_144,
        first_burst: 16384,
        max_burst: 65536,
        immediate_data: true,
        initial_r2t: false,
    };

    fn u32_at(b: &Bhs, at: usize) -> u32 {
        u32::from_be_bytes(b[at..at + 4].try_into().unwrap())
    }

    /// A target PDU: opcode, flags, ITT, StatSN, ExpCmdSN, MaxCmdSN, then `f` sets the rest.
    fn target(opcode: u8, flags: u8, itt: u32, max_cmd_sn: u32, f: impl FnOnce(&mut Bhs)) -> Pdu {
        let mut b = [0u8; BHS_BYTES];
        b[0] = opcode;
        b[1] = flags;
        b[16..20].copy_from_slice(&itt.to_be_bytes());
        b[24..28].copy_from_slice(&5u32.to_be_bytes());
        b[28..32].copy_from_slice(&10u32.to_be_bytes());
        b[32..36].copy_from_slice(&max_cmd_sn.to_be_bytes());
        f(&mut b);
        decode(&b, 262_144).unwrap()
    }

    fn frames(s: &mut Session) -> Vec<Frame> {
        std::iter::from_fn(|| s.next_frame()).collect()
    }

    #[test]
    fn commands_stop_at_max_cmd_sn_and_the_window_only_moves_forward() {
        // Window 10..=11: two commands, then closed; a response opening it to 20 reopens it;
        // a stale MaxCmdSN (15) afterwards does not shrink it.
        let mut s = Session::new(&login(N), [0; 8]);
        s.command(1, scsi::synchronize_cache16(), Transfer::None);
        s.command(2, scsi::synchronize_cache16(), Transfer::None);
        assert!(!s.window_open());
        let f = frames(&mut s);
        assert_eq!(
            (u32_at(&f[0].header, 24), u32_at(&f[1].header, 24)),
            (10, 11)
        );
        assert_eq!(u32_at(&f[1].header, 28), 5, "ExpStatSN");
        let r = target(op::SCSI_RESPONSE, 0x80, 1, 20, |_| {});
        s.on_pdu(&r, &[]).unwrap();
        assert!(s.window_open());
        assert_eq!(s.next_done().unwrap().tag, 1);
        let r = target(op::SCSI_RESPONSE, 0x80, 2, 15, |_| {});
        s.on_pdu(&r, &[]).unwrap();
        assert_eq!(s.window.max_cmd_sn, 20);
        assert_eq!(s.exp_stat_sn, 6);
        assert_eq!(s.outstanding(), 0);
    }

    #[test]
    fn writes_send_immediate_then_unsolicited_then_answer_r2ts() {
        // 64 KiB write, MRDSL 8 KiB, FirstBurst 16 KiB, InitialR2T=No: the command carries 8 KiB,
        // one unsolicited Data-Out the next 8 KiB (F); an R2T for 48 KiB gets six 8 KiB PDUs.
        let mut s = Session::new(&login(N), [0; 8]);
        let data = Bytes::from((0..65536u32).map(|i| i as u8).collect::<Vec<_>>());
        s.command(7, scsi::write16(0, 128), Transfer::Write(data.clone()));
        let f = frames(&mut s);
        assert_eq!(f.len(), 2);
        assert_eq!(
            f[0].header[1] & 0x80,
            0,
            "F clear: unsolicited data follows"
        );
        assert_eq!(f[0].data.as_ref().unwrap().len(), 8192);
        assert_eq!(f[1].header[0], op::DATA_OUT);
        assert_eq!(
            (u32_at(&f[1].header, 20), u32_at(&f[1].header, 40)),
            (NO_TAG, 8192)
        );
        assert_eq!(f[1].header[1], 0x80);
        let itt = u32_at(&f[0].header, 16);
        let r2t = target(op::R2T, 0x80, itt, 11, |b| {
            b[20..24].copy_from_slice(&0x77u32.to_be_bytes());
            b[40..44].copy_from_slice(&16384u32.to_be_bytes());
            b[44..48].copy_from_slice(&49152u32.to_be_bytes());
        });
        s.on_pdu(&r2t, &[]).unwrap();
        let f = frames(&mut s);
        assert_eq!(f.len(), 6);
        for (i, fr) in f.iter().enumerate() {
            assert_eq!(u32_at(&fr.header, 20), 0x77);
            assert_eq!(u32_at(&fr.header, 36), i as u32, "DataSN");
            let off = 16384 + 8192 * i;
            assert_eq!(u32_at(&fr.header, 40), off as u32);
            assert_eq!(fr.data.as_ref().unwrap(), &data.slice(off..off + 8192));
            assert_eq!(fr.header[1] & 0x80 != 0, i == 5);
        }
        let too_much = target(op::R2T, 0x80, itt, 11, |b| {
            b[40..44].copy_from_slice(&0u32.to_be_bytes());
            b[44..48].copy_from_slice(&131_072u32.to_be_bytes());
        });
        assert!(matches!(
            s.on_pdu(&too_much, &[]),
            Err(SessionError::BadR2t { .. })
        ));
    }

    #[test]
    fn without_immediate_data_or_with_initial_r2t_writes_wait_for_r2t() {
        // ImmediateData=No, InitialR2T=Yes: the command alone, F set, no data.
        let n = Negotiated {
            immediate_data: false,
            initial_r2t: true,
            ..N
        };
        let mut s = Session::new(&login(n), [0; 8]);
        s.command(
            1,
            scsi::write16(0, 8),
            Transfer::Write(Bytes::from(vec![1u8; 4096])),
        );
        let f = frames(&mut s);
        assert_eq!(f.len(), 1);
        assert_eq!(f[0].header[1] & 0x80, 0x80);
        assert!(f[0].data.is_none());
    }

    fn data_in(itt: u32, flags: u8, data_sn: u32, offset: u32, len: u32) -> Pdu {
        target(op::DATA_IN, flags, itt, 11, |b| {
            b[5..8].copy_from_slice(&len.to_be_bytes()[1..]);
            b[36..40].copy_from_slice(&data_sn.to_be_bytes());
            b[40..44].copy_from_slice(&offset.to_be_bytes());
        })
    }

    fn place(s: &mut Session, p: &Pdu, fill: u8) -> Result<(), SessionError> {
        let Kind::DataIn(d) = p.kind else { panic!() };
        s.data_in_slot(p, &d)?.fill(fill);
        s.on_pdu(p, &[])
    }

    #[test]
    fn reads_collect_data_in_and_end_with_status_in_either_place() {
        // Two Data-In fill 8 KiB; the second carries S: done with the data. Another read
        // ends with a SCSI Response; one that is short fails; out-of-order data is an error.
        let mut s = Session::new(&login(N), [0; 8]);
        s.command(1, scsi::read16(0, 16), Transfer::Read(8192));
        let itt = u32_at(&frames(&mut s)[0].header, 16);
        place(&mut s, &data_in(itt, 0, 0, 0, 4096), 0xaa).unwrap();
        assert!(s.next_done().is_none());
        place(&mut s, &data_in(itt, 0x81, 1, 4096, 4096), 0xbb).unwrap();
        let d = s.next_done().unwrap();
        assert_eq!((d.tag, d.result), (1, Ok(())));
        let buf = d.data.unwrap();
        assert_eq!((buf[0], buf[8191]), (0xaa, 0xbb));
        s.recycle(buf);
        s.command(2, scsi::read16(0, 16), Transfer::Read(8192));
        let itt = u32_at(&frames(&mut s)[0].header, 16);
        place(&mut s, &data_in(itt, 0x80, 0, 0, 4096), 0).unwrap();
        s.on_pdu(&target(op::SCSI_RESPONSE, 0x80, itt, 12, |_| {}), &[])
            .unwrap();
        assert_eq!(
            s.next_done().unwrap().result,
            Err(Failure::Short {
                got: 4096,
                want: 8192
            })
        );
        s.command(3, scsi::read16(0, 16), Transfer::Read(8192));
        let itt = u32_at(&frames(&mut s)[0].header, 16);
        assert!(place(&mut s, &data_in(itt, 0, 0, 4096, 4096), 0).is_err());
        assert!(place(&mut s, &data_in(itt, 0, 0, 0, 16384), 0).is_err());
        assert!(place(&mut s, &data_in(999, 0, 0, 0, 16), 0).is_err());
    }

    #[test]
    fn check_condition_carries_its_sense_and_pings_are_answered() {
        // A CHECK CONDITION with MEDIUM ERROR sense fails the command with it; a NOP-In with a
        // TTT gets a NOP-Out echoing it; one without a TTT gets nothing; a Reject is fatal.
        let mut s = Session::new(&login(N), [0; 8]);
        s.command(
            4,
            scsi::write16(0, 1),
            Transfer::Write(Bytes::from(vec![0u8; 512])),
        );
        let itt = u32_at(&frames(&mut s)[0].header, 16);
        let r = target(op::SCSI_RESPONSE, 0x80, itt, 12, |b| {
            b[3] = scsi::CHECK_CONDITION
        });
        let mut sense = vec![0, 18, 0x70, 0, 0x03];
        sense.resize(20, 0);
        sense[14] = 0x0c;
        s.on_pdu(&r, &sense).unwrap();
        let Err(Failure::CheckCondition(sense)) = s.next_done().unwrap().result else {
            panic!()
        };
        assert_eq!((sense.key, sense.asc), (3, 0x0c));
        let ping = target(op::NOP_IN, 0x80, NO_TAG, 12, |b| {
            b[20..24].copy_from_slice(&0x1234u32.to_be_bytes())
        });
        s.on_pdu(&ping, &[]).unwrap();
        let f = frames(&mut s);
        assert_eq!(f.len(), 1);
        assert_eq!((f[0].header[0], u32_at(&f[0].header, 20)), (0x40, 0x1234));
        let quiet = target(op::NOP_IN, 0x80, NO_TAG, 12, |b| {
            b[20..24].copy_from_slice(&NO_TAG.to_be_bytes())
        });
        s.on_pdu(&quiet, &[]).unwrap();
        assert!(frames(&mut s).is_empty());
        let reject = target(op::REJECT, 0x80, NO_TAG, 12, |b| b[2] = 9);
        assert_eq!(s.on_pdu(&reject, &[]), Err(SessionError::Rejected(9)));
    }
}
