//! Tests of the full feature phase state machine: data-out collection,
//! R2T, Data-In splitting, residuals, CmdSN windows, TMF and SendTargets.

use super::*;
use crate::iscsi::pdu::{op, BHS_LEN};
use crate::iscsi::text::Limits;

const LIMITS: Limits = Limits {
    max_recv_data_segment: 8192,
    max_burst: 16384,
    first_burst: 8192,
    digests: false,
};

fn session(initial_r2t: bool) -> Session {
    let mut p = Params::defaults(&LIMITS);
    p.initial_r2t = initial_r2t;
    p.initiator_mrdsl = 8192;
    p.max_burst = 16384;
    p.first_burst = 8192;
    Session::new(
        SessionKind::Normal("v".into()),
        p,
        10,
        100,
        "iqn.x".into(),
        "1.2.3.4:3260".into(),
    )
}

/// A PDU with `f` = [bytes 20..24, CmdSN, bytes 36..40, bytes 40..44].
fn pdu(opcode: u8, flags: u8, itt: u32, f: [u32; 4], data: &[u8]) -> Request {
    let mut b = [0u8; BHS_LEN];
    b[0] = opcode;
    b[1] = flags;
    b[5..8].copy_from_slice(&(data.len() as u32).to_be_bytes()[1..]);
    b[16..20].copy_from_slice(&itt.to_be_bytes());
    for (at, v) in [20, 24, 36, 40].into_iter().zip(f) {
        b[at..at + 4].copy_from_slice(&v.to_be_bytes());
    }
    pdu::decode(&b, &[], Bytes::copy_from_slice(data)).unwrap()
}

fn write_cmd(itt: u32, sn: u32, final_bit: bool, edtl: u32, data: &[u8]) -> Request {
    let mut r = pdu(
        op::SCSI_COMMAND,
        0x20 | if final_bit { 0x80 } else { 0 },
        itt,
        [edtl, sn, 0, 0],
        data,
    );
    if let Kind::Command(c) = &mut r.kind {
        c.cdb = Bytes::from_static(&[0x2a, 0, 0, 0, 0, 0, 0, 0, 48, 0, 0, 0, 0, 0, 0, 0]);
    }
    r
}

fn sends(actions: &[Action]) -> Vec<&OutPdu> {
    actions
        .iter()
        .filter_map(|a| match a {
            Action::Send(p) => Some(p),
            _ => None,
        })
        .collect()
}

fn u32_at(h: &[u8], i: usize) -> u32 {
    u32::from_be_bytes([h[i], h[i + 1], h[i + 2], h[i + 3]])
}

#[test]
fn write_collects_immediate_data_then_solicits_the_rest() {
    // 24 KiB write with 8 KiB immediate data and InitialR2T=Yes: one R2T
    // for 16 KiB (MaxBurstLength), two Data-Outs, then one Execute with
    // all 24 KiB in order.
    let mut s = session(true);
    let a = s.on_pdu(write_cmd(1, 100, true, 24576, &[1u8; 8192]));
    let r2t = sends(&a);
    assert_eq!(r2t.len(), 1);
    let h = r2t[0].header;
    assert_eq!(h[0], op::R2T);
    assert_eq!((u32_at(&h, 40), u32_at(&h, 44)), (8192, 16384));
    let ttt = u32_at(&h, 20);
    assert!(s
        .on_pdu(pdu(op::DATA_OUT, 0, 1, [ttt, 0, 0, 8192], &[2u8; 8192]))
        .is_empty());
    let a = s.on_pdu(pdu(op::DATA_OUT, 0x80, 1, [ttt, 0, 1, 16384], &[3u8; 8192]));
    let [Action::Execute(e)] = a.as_slice() else {
        panic!("{a:?}")
    };
    assert_eq!(e.data_out.len(), 24576);
    assert_eq!(
        (e.data_out[0], e.data_out[8192], e.data_out[24575]),
        (1, 2, 3)
    );
    assert_eq!(e.data_in_max, 0);
}

#[test]
fn bad_data_sn_is_a_protocol_error_that_closes() {
    // A Data-Out whose DataSN skips ahead gets a Reject and a Close.
    let mut s = session(true);
    let a = s.on_pdu(write_cmd(1, 100, true, 1024, &[]));
    let ttt = u32_at(&sends(&a)[0].header, 20);
    let a = s.on_pdu(pdu(op::DATA_OUT, 0x80, 1, [ttt, 0, 5, 0], &[0u8; 1024]));
    assert_eq!(sends(&a)[0].header[0], op::REJECT);
    assert_eq!(a.last(), Some(&Action::Close));
}

#[test]
fn unsolicited_data_out_up_to_first_burst() {
    // InitialR2T=No: Data-Out with TTT ffffffffh is taken up to
    // FirstBurstLength, then an R2T asks for the rest.
    let mut s = session(false);
    assert!(s.on_pdu(write_cmd(2, 100, false, 12288, &[])).is_empty());
    let a = s.on_pdu(pdu(op::DATA_OUT, 0x80, 2, [NO_TAG, 0, 0, 0], &[9u8; 8192]));
    let h = sends(&a)[0].header;
    assert_eq!(h[0], op::R2T);
    assert_eq!((u32_at(&h, 40), u32_at(&h, 44)), (8192, 4096));
}

#[test]
fn read_response_is_split_and_carries_status_last() {
    // 20 KiB of data-in with MaxRecvDataSegmentLength 8 KiB: three
    // Data-In PDUs, DataSN 0..2, status and StatSN only in the last.
    let mut s = session(true);
    let mut r = pdu(op::SCSI_COMMAND, 0xc0, 3, [20480, 100, 0, 0], &[]);
    if let Kind::Command(c) = &mut r.kind {
        c.cdb = Bytes::from_static(&[0x28, 0, 0, 0, 0, 0, 0, 0, 40, 0, 0, 0, 0, 0, 0, 0]);
    }
    let a = s.on_pdu(r);
    let [Action::Execute(e)] = a.as_slice() else {
        panic!()
    };
    assert_eq!(e.data_in_max, 20480);
    let a = s.on_response(3, scsi::Response::data(vec![7u8; 20480], 20480));
    let p = sends(&a);
    assert_eq!(p.len(), 3);
    for (i, d) in p.iter().enumerate() {
        assert_eq!(d.header[0], op::DATA_IN);
        assert_eq!(u32_at(&d.header, 36), i as u32);
    }
    assert_eq!(p[2].header[1] & 0x81, 0x81);
    assert_eq!(p[0].header[1] & 0x01, 0);
    assert_eq!(u32_at(&p[2].header, 24), 10);
    assert_eq!(s.stat_sn, 11);
}

#[test]
fn check_condition_sends_sense_and_overflow() {
    // A WRITE whose EDTL is 200 bytes short: SCSI Response with sense
    // and residual overflow.
    let mut s = session(true);
    let a = s.on_pdu(write_cmd(4, 100, true, 200, &[0u8; 200]));
    assert!(matches!(a.as_slice(), [Action::Execute(_)]));
    let a = s.on_response(4, scsi::Response::check(Sense::INVALID_FIELD_IN_IU, 512));
    let p = sends(&a);
    assert_eq!(p[0].header[0], op::SCSI_RESPONSE);
    assert_eq!(p[0].header[3], Status::CheckCondition as u8);
    assert_eq!(p[0].header[1] & 0x04, 0x04);
    assert_eq!(u32_at(&p[0].header, 44), 312);
    assert_eq!(p[0].data[2], 0x70);
}

#[test]
fn cmd_sn_outside_the_window_is_ignored() {
    // CmdSN below ExpCmdSN or above MaxCmdSN: no answer at all.
    let mut s = session(true);
    let tur = |itt, sn| {
        let mut r = pdu(op::SCSI_COMMAND, 0x80, itt, [0, sn, 0, 0], &[]);
        if let Kind::Command(c) = &mut r.kind {
            c.cdb = Bytes::from_static(&[0; 16]);
        }
        r
    };
    assert!(s.on_pdu(tur(1, 99)).is_empty());
    assert!(s.on_pdu(tur(2, 100 + CMD_WINDOW)).is_empty());
    assert_eq!(s.on_pdu(tur(3, 100)).len(), 1);
    assert_eq!(s.exp_cmd_sn, 101);
}

#[test]
fn abort_task_drops_the_response() {
    // ABORT TASK of a running command: Abort action, TMF response
    // "function complete", and the late completion sends nothing; a
    // second abort finds no task.
    let mut s = session(true);
    let mut r = pdu(op::SCSI_COMMAND, 0x80, 5, [0, 100, 0, 0], &[]);
    if let Kind::Command(c) = &mut r.kind {
        c.cdb = Bytes::from_static(&[0; 16]);
    }
    s.on_pdu(r);
    let tmf = pdu(op::TASK_MGMT | 0x40, 0x81, 6, [5, 101, 0, 0], &[]);
    let a = s.on_pdu(tmf.clone());
    assert_eq!(a[0], Action::Abort(5));
    assert_eq!(sends(&a)[0].header[2], 0);
    assert!(s.on_response(5, scsi::Response::good(0)).is_empty());
    let a = s.on_pdu(tmf);
    assert_eq!(sends(&a)[0].header[2], 1);
}

#[test]
fn send_targets_in_discovery_lists_every_export() {
    // A discovery session answers SendTargets=All with each target and
    // its address; SCSI commands are rejected.
    let mut s = session(true);
    s.kind = SessionKind::Discovery;
    s.set_targets(vec!["a".into(), "b".into()]);
    let a = s.on_pdu(pdu(
        op::TEXT | 0x40,
        0x80,
        7,
        [NO_TAG, 100, 0, 0],
        b"SendTargets=All\0",
    ));
    let p = sends(&a);
    let body = String::from_utf8_lossy(&p[0].data).to_string();
    assert_eq!(
        body,
        "TargetName=iqn.x:a\0TargetAddress=1.2.3.4:3260,1\0TargetName=iqn.x:b\0TargetAddress=1.2.3.4:3260,1\0"
    );
    let a = s.on_pdu(write_cmd(8, 100, true, 0, &[]));
    assert_eq!(sends(&a)[0].header[0], op::REJECT);
}
