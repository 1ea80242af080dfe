//! Fuzzes the iSCSI target's parsers of network input and its pure state
//! machines. The input is cut into PDUs (a 48-byte header, its AHS and
//! data segment as the header says, bounded); each goes through the PDU
//! decoder, the login state machine, and a full-feature session whose
//! commands are answered GOOD. The same bytes are read as text keys, a
//! CDB, a CHAP binary value, a MODE SELECT parameter list and a PERSISTENT
//! RESERVE OUT parameter list. None may panic, whatever the bytes.
#![no_main]

use bytes::Bytes;
use cairn_block::iscsi::login::{Login, SessionKind};
use cairn_block::iscsi::pdu::{self, Layout, BHS_LEN};
use cairn_block::iscsi::session::{Action, Session};
use cairn_block::iscsi::text::{self, Limits, Params};
use cairn_block::iscsi::{chap, TargetConfig};
use cairn_block::scsi::{self, cdb, mode, reservation};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_recv_data_segment: 8192,
    max_burst: 65536,
    first_burst: 16384,
    digests: true,
};

fuzz_target!(|data: &[u8]| {
    let _ = text::parse(data);
    let _ = cdb::decode(data);
    let _ = std::str::from_utf8(data).map(chap::decode_binary);
    let _ = mode::select(
        data.first().is_some_and(|b| b & 1 == 1),
        data,
        mode::ModeState::default(),
        512,
    );
    let _ = reservation::PrOutParams::parse(data);

    let mut login = Login::new(
        TargetConfig::new("127.0.0.1:3260"),
        LIMITS,
        vec!["vol".into()],
        1,
        32,
    )
    .with_random(|| (7, vec![1; 16]));
    let mut params = Params::defaults(&LIMITS);
    params.initial_r2t = data.len() % 2 == 0;
    let mut session = Session::new(
        SessionKind::Normal("vol".into()),
        params,
        1,
        0,
        "iqn.2026-11.io.cairn".into(),
        "127.0.0.1:3260".into(),
    );
    let mut rest = data;
    while rest.len() >= BHS_LEN {
        let mut bhs = [0u8; BHS_LEN];
        bhs.copy_from_slice(&rest[..BHS_LEN]);
        rest = &rest[BHS_LEN..];
        let Ok(layout) = Layout::of(&bhs, 8192) else {
            break;
        };
        let ahs_len = layout.ahs_len.min(rest.len());
        let ahs = &rest[..ahs_len];
        rest = &rest[ahs_len..];
        let data_len = layout.data_len.min(rest.len());
        let seg = Bytes::copy_from_slice(&rest[..data_len]);
        rest = &rest[data_len..];
        let Ok(req) = pdu::decode(&bhs, ahs, seg) else {
            continue;
        };
        let _ = login.on_request(&req);
        for action in session.on_pdu(req) {
            if let Action::Execute(e) = action {
                let r = scsi::Response::data(vec![0xa5; 1024], e.data_in_max);
                let _ = session.on_response(e.itt, r);
            }
        }
    }
});
