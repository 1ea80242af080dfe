//! The full feature phase of one connection as a state machine (RFC 7143
//! §4.2, §11): PDUs and command completions in, [`Action`]s out. It keeps
//! CmdSN/ExpCmdSN/MaxCmdSN and StatSN, collects data-out (immediate data,
//! unsolicited Data-Out, R2T bursts honouring FirstBurstLength and
//! MaxBurstLength), turns SCSI responses into Data-In (status in the last
//! one when possible) and SCSI Response PDUs with residuals, and answers
//! NOP-Out, Text (SendTargets), Task Management and Logout.

use super::login::SessionKind;
use super::pdu::{self, reject_reason, DataIn, Kind, OutPdu, Request, Residual, Seq, NO_TAG};
use super::text::{self, Params};
use crate::scsi::{self, Sense, Status};
use bytes::{Bytes, BytesMut};
use std::collections::HashMap;

/// Commands the initiator may have queued (CmdSN window).
pub const CMD_WINDOW: u32 = 128;
/// Immediate commands (outside the window) allowed at once.
pub const IMMEDIATE_MAX: usize = 16;
/// Largest expected data-out length we buffer (16 MiB).
pub const DATA_OUT_MAX: u32 = 16 << 20;
/// Most text a Text request may accumulate across continued PDUs.
pub const TEXT_MAX: usize = 64 * 1024;

/// TMF function codes and responses.
mod tmf {
    pub const ABORT_TASK: u8 = 1;
    pub const ABORT_TASK_SET: u8 = 2;
    pub const CLEAR_TASK_SET: u8 = 4;
    pub const LUN_RESET: u8 = 5;
    pub const TARGET_WARM_RESET: u8 = 6;
    pub const TARGET_COLD_RESET: u8 = 7;
    pub const TASK_REASSIGN: u8 = 8;
    pub const COMPLETE: u8 = 0;
    pub const NO_TASK: u8 = 1;
    pub const NO_LUN: u8 = 2;
    pub const NO_REASSIGN: u8 = 4;
    pub const NOT_SUPPORTED: u8 = 5;
}

/// A SCSI command ready to run at the logical unit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Exec {
    pub itt: u32,
    pub lun: u64,
    pub cdb: Bytes,
    pub data_out: Bytes,
    /// The most data-in the initiator expects.
    pub data_in_max: u32,
}

/// What the driver must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    Send(OutPdu),
    Execute(Exec),
    /// Stop the running command with this ITT; its response is dropped.
    Abort(u32),
    /// LOGICAL UNIT RESET or target reset of the session's logical unit.
    ResetLu,
    /// Close the connection once everything before is sent.
    Close,
}

#[derive(Debug)]
struct Burst {
    ttt: u32,
    end: u32,
    next_data_sn: u32,
}

#[derive(Debug)]
struct Receive {
    cdb: Bytes,
    parts: Vec<Bytes>,
    received: u32,
    /// Over [`DATA_OUT_MAX`]: data is counted, not kept, and the command fails.
    discard: bool,
    /// Unsolicited Data-Out may still come (TTT ffffffffh).
    unsolicited_open: bool,
    unsolicited_end: u32,
    unsolicited_data_sn: u32,
    burst: Option<Burst>,
    r2t_sn: u32,
}

#[derive(Debug)]
struct Task {
    lun: u64,
    edtl: u32,
    read: bool,
    immediate: bool,
    receive: Option<Receive>,
}

/// The state of one connection in the full feature phase.
pub struct Session {
    kind: SessionKind,
    params: Params,
    stat_sn: u32,
    exp_cmd_sn: u32,
    /// Non-immediate commands accepted and not yet answered.
    queued: u32,
    tasks: HashMap<u32, Task>,
    next_ttt: u32,
    /// Export names for SendTargets, set by the driver before a Text request.
    targets: Vec<String>,
    /// Text request accumulated across continued PDUs.
    text_in: Vec<u8>,
    /// Text response not yet sent, by TTT.
    text_out: Option<(u32, Bytes)>,
    target_prefix: String,
    portal: String,
}

/// `a` is within `[lo, hi]` in serial number arithmetic.
fn sn_in(a: u32, lo: u32, hi: u32) -> bool {
    a.wrapping_sub(lo) <= hi.wrapping_sub(lo)
}

impl Session {
    pub fn new(
        kind: SessionKind,
        params: Params,
        stat_sn: u32,
        exp_cmd_sn: u32,
        target_prefix: String,
        portal: String,
    ) -> Session {
        Session {
            kind,
            params,
            stat_sn,
            exp_cmd_sn,
            queued: 0,
            tasks: HashMap::new(),
            next_ttt: 1,
            targets: Vec::new(),
            text_in: Vec::new(),
            text_out: None,
            target_prefix,
            portal,
        }
    }

    /// Export names SendTargets may report.
    pub fn set_targets(&mut self, names: Vec<String>) {
        self.targets = names;
    }

    fn max_cmd_sn(&self) -> u32 {
        self.exp_cmd_sn
            .wrapping_add(CMD_WINDOW.saturating_sub(self.queued))
            .wrapping_sub(1)
    }

    /// Sequence numbers for a PDU that does not consume a StatSN.
    fn peek(&self) -> Seq {
        Seq {
            stat_sn: self.stat_sn,
            exp_cmd_sn: self.exp_cmd_sn,
            max_cmd_sn: self.max_cmd_sn(),
        }
    }

    /// Sequence numbers for a PDU carrying status: StatSN advances.
    fn next(&mut self) -> Seq {
        let s = self.peek();
        self.stat_sn = self.stat_sn.wrapping_add(1);
        s
    }

    fn reject(&mut self, reason: u8, req: &Request) -> Action {
        let seq = self.next();
        Action::Send(pdu::reject(seq, reason, &req.bhs))
    }

    /// ERL 0: a protocol error is answered with a Reject, then the
    /// connection closes.
    fn protocol_error(&mut self, bhs: &[u8; pdu::BHS_LEN]) -> Vec<Action> {
        let seq = self.next();
        vec![
            Action::Send(pdu::reject(seq, reject_reason::PROTOCOL_ERROR, bhs)),
            Action::Close,
        ]
    }

    /// CmdSN ordering: true if the command is to be processed.
    fn accept_cmd_sn(&mut self, req: &Request) -> bool {
        if req.common.immediate {
            return true;
        }
        let sn = req.common.cmd_sn;
        if !sn_in(sn, self.exp_cmd_sn, self.max_cmd_sn()) {
            // Outside [ExpCmdSN, MaxCmdSN]: silently ignored (RFC 7143 §4.2.2.1).
            return false;
        }
        // On one connection a gap cannot be filled later: move past it.
        self.exp_cmd_sn = sn.wrapping_add(1);
        true
    }

    /// Handles one PDU from the initiator.
    pub fn on_pdu(&mut self, req: Request) -> Vec<Action> {
        match req.kind.clone() {
            Kind::DataOut(d) => self.on_data_out(&req, d),
            Kind::Command(c) => self.on_command(req, c),
            Kind::NopOut { .. } => self.on_nop(req),
            Kind::Text(t) => self.on_text(req, t),
            Kind::TaskMgmt(t) => self.on_tmf(&req, t),
            Kind::Logout(l) => self.on_logout(&req, l),
            Kind::Snack => vec![self.reject(reject_reason::COMMAND_NOT_SUPPORTED, &req)],
            Kind::Login(_) => self.protocol_error(&req.bhs),
        }
    }

    fn on_command(&mut self, req: Request, c: pdu::ScsiCommand) -> Vec<Action> {
        let immediate = req.common.immediate;
        if immediate && self.tasks.values().filter(|t| t.immediate).count() >= IMMEDIATE_MAX {
            return vec![self.reject(0x06, &req)];
        }
        if !self.accept_cmd_sn(&req) {
            return Vec::new();
        }
        let itt = req.common.itt;
        if self.tasks.contains_key(&itt) || itt == NO_TAG {
            return vec![self.reject(reject_reason::INVALID_PDU_FIELD, &req)];
        }
        if self.kind == SessionKind::Discovery {
            return vec![self.reject(reject_reason::COMMAND_NOT_SUPPORTED, &req)];
        }
        let data = req.data;
        let unsolicited_end = if self.params.initial_r2t {
            data.len() as u32
        } else {
            self.params.first_burst.min(c.edtl)
        };
        let bad_data = (!c.write && !data.is_empty())
            || (!data.is_empty() && !self.params.immediate_data)
            || data.len() as u32 > c.edtl.min(self.params.first_burst);
        if bad_data {
            return self.protocol_error(&req.bhs);
        }
        if !immediate {
            self.queued += 1;
        }
        let mut task = Task {
            lun: req.common.lun,
            edtl: c.edtl,
            read: c.read,
            immediate,
            receive: None,
        };
        if !c.write || c.edtl == 0 {
            self.tasks.insert(itt, task);
            return vec![self.execute(itt, c.cdb, Bytes::new())];
        }
        let discard = c.edtl > DATA_OUT_MAX;
        let received = data.len() as u32;
        task.receive = Some(Receive {
            cdb: c.cdb,
            parts: if discard || data.is_empty() {
                Vec::new()
            } else {
                vec![data]
            },
            received,
            discard,
            unsolicited_open: !req.common.final_bit && received < unsolicited_end,
            unsolicited_end,
            unsolicited_data_sn: 0,
            burst: None,
            r2t_sn: 0,
        });
        self.tasks.insert(itt, task);
        self.advance_receive(itt)
    }

    /// After data arrived (or a command came): execute, solicit, or wait.
    fn advance_receive(&mut self, itt: u32) -> Vec<Action> {
        let Some(task) = self.tasks.get_mut(&itt) else {
            return Vec::new();
        };
        let edtl = task.edtl;
        let lun = task.lun;
        let Some(rx) = task.receive.as_mut() else {
            return Vec::new();
        };
        if rx.unsolicited_open || rx.burst.is_some() {
            return Vec::new();
        }
        if rx.received >= edtl {
            let rx = task.receive.take().map(|r| (r.cdb, r.parts, r.discard));
            let Some((cdb, parts, discard)) = rx else {
                return Vec::new();
            };
            if discard {
                return self.respond_sense(itt, Sense::invalid_cdb(0, None), edtl);
            }
            return vec![self.execute(itt, cdb, concat(parts))];
        }
        if rx.discard {
            // Solicit nothing more; answer once the unsolicited part is in.
            task.receive = None;
            return self.respond_sense(itt, Sense::invalid_cdb(0, None), edtl);
        }
        let len = self.params.max_burst.min(edtl - rx.received);
        let ttt = self.next_ttt;
        self.next_ttt = self.next_ttt.wrapping_add(1).max(1);
        if self.next_ttt == NO_TAG {
            self.next_ttt = 1;
        }
        let offset = rx.received;
        let r2t_sn = rx.r2t_sn;
        rx.r2t_sn = rx.r2t_sn.wrapping_add(1);
        rx.burst = Some(Burst {
            ttt,
            end: offset + len,
            next_data_sn: 0,
        });
        let seq = self.peek();
        vec![Action::Send(pdu::r2t(
            itt, lun, seq, ttt, r2t_sn, offset, len,
        ))]
    }

    fn on_data_out(&mut self, req: &Request, d: pdu::DataOut) -> Vec<Action> {
        let itt = req.common.itt;
        let Some(rx) = self.tasks.get_mut(&itt).and_then(|t| t.receive.as_mut()) else {
            // Data for a task we dropped or aborted.
            return Vec::new();
        };
        let len = req.data.len() as u32;
        let ok = if d.ttt == NO_TAG {
            let ok = rx.unsolicited_open
                && d.data_sn == rx.unsolicited_data_sn
                && d.offset == rx.received
                && rx.received + len <= rx.unsolicited_end;
            rx.unsolicited_data_sn = rx.unsolicited_data_sn.wrapping_add(1);
            if req.common.final_bit || rx.received + len == rx.unsolicited_end {
                rx.unsolicited_open = false;
            }
            ok
        } else {
            match rx.burst.as_mut() {
                Some(b) if b.ttt == d.ttt => {
                    let ok = d.data_sn == b.next_data_sn
                        && d.offset == rx.received
                        && rx.received + len <= b.end
                        && (!req.common.final_bit || rx.received + len == b.end);
                    b.next_data_sn = b.next_data_sn.wrapping_add(1);
                    if rx.received + len == b.end {
                        rx.burst = None;
                    }
                    ok
                }
                _ => false,
            }
        };
        if !ok {
            // ERL 0: a sequence error ends the connection.
            return self.protocol_error(&req.bhs);
        }
        rx.received += len;
        if !rx.discard && len > 0 {
            rx.parts.push(req.data.clone());
        }
        self.advance_receive(itt)
    }

    fn execute(&mut self, itt: u32, cdb: Bytes, data_out: Bytes) -> Action {
        let (lun, data_in_max) = match self.tasks.get(&itt) {
            Some(t) => (t.lun, if t.read { t.edtl } else { 0 }),
            None => (0, 0),
        };
        Action::Execute(Exec {
            itt,
            lun,
            cdb,
            data_out,
            data_in_max,
        })
    }

    fn respond_sense(&mut self, itt: u32, sense: Sense, edtl: u32) -> Vec<Action> {
        let r = scsi::Response::check(sense, edtl);
        self.on_response(itt, r)
    }

    /// Turns a finished command into Data-In and/or SCSI Response PDUs.
    pub fn on_response(&mut self, itt: u32, r: scsi::Response) -> Vec<Action> {
        let Some(task) = self.tasks.remove(&itt) else {
            // Aborted: no response.
            return Vec::new();
        };
        if !task.immediate {
            self.queued = self.queued.saturating_sub(1);
        }
        let residual = Residual::of(task.edtl, r.transfer_len);
        let sendable = if task.read { task.edtl as usize } else { 0 };
        let data = r.data.slice(..r.data.len().min(sendable));
        let good = r.status == Status::Good && r.sense.is_none();
        let mut out = Vec::new();
        let mut data_sn = 0u32;
        let seg = self.params.initiator_mrdsl.max(512) as usize;
        let burst = self.params.max_burst.max(512) as usize;
        let mut offset = 0usize;
        while offset < data.len() {
            let n = seg.min(data.len() - offset).min(burst - offset % burst);
            let last = offset + n == data.len();
            let status = (last && good).then_some((r.status as u8, residual));
            let f = DataIn {
                itt,
                lun: task.lun,
                data_sn,
                offset: offset as u32,
                final_bit: last || (offset + n).is_multiple_of(burst),
                status,
            };
            let seq = if status.is_some() {
                self.next()
            } else {
                self.peek()
            };
            out.push(Action::Send(pdu::data_in(
                &f,
                seq,
                data.slice(offset..offset + n),
            )));
            data_sn += 1;
            offset += n;
        }
        if data.is_empty() || !good {
            let sense = r.sense.map(|s| s.to_fixed().to_vec()).unwrap_or_default();
            let seq = self.next();
            out.push(Action::Send(pdu::scsi_response(
                itt,
                seq,
                r.status as u8,
                &sense,
                residual,
                data_sn,
            )));
        }
        out
    }

    fn on_nop(&mut self, req: Request) -> Vec<Action> {
        if !self.accept_cmd_sn(&req) || req.common.itt == NO_TAG {
            return Vec::new();
        }
        let mut data = req.data;
        data.truncate(self.params.initiator_mrdsl as usize);
        let seq = self.next();
        vec![Action::Send(pdu::nop_in(
            req.common.itt,
            req.common.lun,
            seq,
            data,
        ))]
    }

    fn on_text(&mut self, req: Request, t: pdu::TextRequest) -> Vec<Action> {
        if !self.accept_cmd_sn(&req) {
            return Vec::new();
        }
        let itt = req.common.itt;
        if t.ttt != NO_TAG {
            // Continue a long response we started.
            return match self.text_out.take() {
                Some((ttt, rest)) if ttt == t.ttt => self.send_text(itt, req.common.lun, rest),
                _ => vec![self.reject(reject_reason::INVALID_PDU_FIELD, &req)],
            };
        }
        if self.text_in.len() + req.data.len() > TEXT_MAX {
            return self.protocol_error(&req.bhs);
        }
        self.text_in.extend_from_slice(&req.data);
        if t.cont {
            let seq = self.next();
            return vec![Action::Send(pdu::text_response(
                itt,
                req.common.lun,
                seq,
                false,
                NO_TAG,
                Bytes::new(),
            ))];
        }
        let input = std::mem::take(&mut self.text_in);
        let Ok(pairs) = text::parse(&input) else {
            return vec![self.reject(reject_reason::PROTOCOL_ERROR, &req)];
        };
        let mut reply = Vec::new();
        for (k, v) in pairs {
            if k == "SendTargets" {
                reply.extend(self.send_targets(&v));
            } else {
                reply.push((k, "Reject".to_owned()));
            }
        }
        self.send_text(itt, req.common.lun, text::encode(&reply).into())
    }

    fn send_targets(&self, which: &str) -> Vec<(String, String)> {
        let names: Vec<&String> = match (&self.kind, which) {
            (SessionKind::Discovery, "All") => self.targets.iter().collect(),
            (SessionKind::Normal(n), "All" | "") => {
                self.targets.iter().filter(|t| *t == n).collect()
            }
            (_, name) => self
                .targets
                .iter()
                .filter(|t| super::target_name(&self.target_prefix, t) == name)
                .collect(),
        };
        let mut out = Vec::new();
        for n in names {
            out.push((
                "TargetName".to_owned(),
                super::target_name(&self.target_prefix, n),
            ));
            out.push((
                "TargetAddress".to_owned(),
                format!("{},{}", self.portal, super::TPGT),
            ));
        }
        out
    }

    fn send_text(&mut self, itt: u32, lun: u64, all: Bytes) -> Vec<Action> {
        let max = self.params.initiator_mrdsl as usize;
        let seq = self.next();
        if all.len() <= max {
            return vec![Action::Send(pdu::text_response(
                itt, lun, seq, false, NO_TAG, all,
            ))];
        }
        let ttt = self.next_ttt;
        self.next_ttt = self.next_ttt.wrapping_add(1).max(1);
        self.text_out = Some((ttt, all.slice(max..)));
        vec![Action::Send(pdu::text_response(
            itt,
            lun,
            seq,
            true,
            ttt,
            all.slice(..max),
        ))]
    }

    /// ITTs of this connection's tasks on `lun`, removed from the table.
    fn abort_all(&mut self, lun: Option<u64>) -> Vec<Action> {
        let itts: Vec<u32> = self
            .tasks
            .iter()
            .filter(|(_, t)| lun.is_none_or(|l| t.lun == l))
            .map(|(i, _)| *i)
            .collect();
        let mut out = Vec::new();
        for itt in itts {
            if let Some(t) = self.tasks.remove(&itt) {
                if !t.immediate {
                    self.queued = self.queued.saturating_sub(1);
                }
                if t.receive.is_none() {
                    out.push(Action::Abort(itt));
                }
            }
        }
        out
    }

    fn on_tmf(&mut self, req: &Request, t: pdu::TaskMgmt) -> Vec<Action> {
        if !self.accept_cmd_sn(req) {
            return Vec::new();
        }
        let lun = req.common.lun;
        let mut out = Vec::new();
        let mut close = false;
        let response = match t.function {
            _ if self.kind == SessionKind::Discovery => tmf::NOT_SUPPORTED,
            tmf::ABORT_TASK | tmf::ABORT_TASK_SET | tmf::CLEAR_TASK_SET | tmf::LUN_RESET
                if lun != 0 =>
            {
                tmf::NO_LUN
            }
            tmf::ABORT_TASK => match self.tasks.remove(&t.ref_itt) {
                Some(task) => {
                    if !task.immediate {
                        self.queued = self.queued.saturating_sub(1);
                    }
                    if task.receive.is_none() {
                        out.push(Action::Abort(t.ref_itt));
                    }
                    tmf::COMPLETE
                }
                None => tmf::NO_TASK,
            },
            tmf::ABORT_TASK_SET | tmf::CLEAR_TASK_SET => {
                out.extend(self.abort_all(Some(lun)));
                tmf::COMPLETE
            }
            tmf::LUN_RESET | tmf::TARGET_WARM_RESET | tmf::TARGET_COLD_RESET => {
                out.extend(self.abort_all(None));
                out.push(Action::ResetLu);
                close = t.function == tmf::TARGET_COLD_RESET;
                tmf::COMPLETE
            }
            tmf::TASK_REASSIGN => tmf::NO_REASSIGN,
            _ => tmf::NOT_SUPPORTED,
        };
        let seq = self.next();
        out.push(Action::Send(pdu::tmf_response(
            req.common.itt,
            seq,
            response,
        )));
        if close {
            out.push(Action::Close);
        }
        out
    }

    fn on_logout(&mut self, req: &Request, l: pdu::LogoutRequest) -> Vec<Action> {
        if !self.accept_cmd_sn(req) {
            return Vec::new();
        }
        // Reason 2 (remove the connection for recovery) needs ERL 2.
        let response = if l.reason == 2 { 2 } else { 0 };
        let seq = self.next();
        let mut out = vec![Action::Send(pdu::logout_response(
            req.common.itt,
            seq,
            response,
        ))];
        if response == 0 {
            out.extend(self.abort_all(None));
            out.push(Action::Close);
        }
        out
    }
}

/// The data-out buffer from its pieces, copying only if there are several.
fn concat(parts: Vec<Bytes>) -> Bytes {
    match parts.len() {
        0 => Bytes::new(),
        1 => parts.into_iter().next().unwrap_or_default(),
        _ => {
            let mut b = BytesMut::with_capacity(parts.iter().map(Bytes::len).sum());
            for p in parts {
                b.extend_from_slice(&p);
            }
            b.freeze()
        }
    }
}

#[cfg(test)]
mod tests;
