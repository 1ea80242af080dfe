//! Fuzzes the NBD server's pure handling of client input. The input is
//! read three ways: as a handshake (client flags, then options, each
//! decoded, vetted by the TLS gate in every mode and state, and fed to
//! the negotiation state), as a stream of 28-byte
//! transmission requests (checked against every kind of session), and as
//! an allocation map (turned into READ chunks and block status extents).
//! None may panic, whatever the bytes; before TLS in `Require` mode only
//! ABORT and STARTTLS get through and EXPORT_NAME closes, a second
//! STARTTLS is refused; option replies stay well formed,
//! accepted requests stay inside the payload cap, a refused WRITE still
//! skips its payload, READ chunks tile the read exactly, and block status
//! extents are non-empty and stay inside the request.
#![no_main]

use bytes::{Buf, Bytes};
use cairn_block::nbd::command::{
    all_hole, decode_command, payload_bytes, read_chunks, status_extents, Command, Request,
    STATUS_EXTENTS_MAX,
};
use cairn_block::nbd::options::{parse_option, ExportInfo, Negotiation, OptionRequest, Session};
use cairn_block::nbd::proto::*;
use cairn_block::nbd::reply::{Chunk, Outbox, Reply};
use cairn_block::nbd::starttls::{TlsGate, TlsMode, Verdict};
use cairn_block::AllocRun;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    handshake(data);
    requests(data);
    allocation(data);
});

/// The input as a handshake. Option headers are read whatever their
/// magic (after checking what the decoder says of it), so the fuzzer need
/// not find `IHAVEOPT` to reach the option parsers.
fn handshake(data: &[u8]) {
    let _ = decode_client_flags(data.get(..4).unwrap_or(data));
    let mut rest = data.get(4..).unwrap_or_default();
    let mut n = Negotiation::default();
    let mut out = Vec::new();
    while rest.len() >= OPTION_HEADER_BYTES {
        let header = &rest[..OPTION_HEADER_BYTES];
        let decoded = decode_option_header(header);
        assert_eq!(decoded.is_ok(), header[..8] == IHAVEOPT.to_be_bytes());
        let option = be32(&header[8..12]);
        let len = (be32(&header[12..16]) as usize).min(rest.len() - OPTION_HEADER_BYTES);
        let payload = &rest[OPTION_HEADER_BYTES..OPTION_HEADER_BYTES + len];
        rest = &rest[OPTION_HEADER_BYTES + len..];
        out.clear();
        check_tls_gate(option, payload);
        option_step(&mut n, option, payload, &mut out);
        check_option_replies(&out);
    }
}

/// The TLS gate's verdict on an option, in each mode and state: nothing
/// but ABORT and STARTTLS passes before TLS is required and started, and
/// STARTTLS is never accepted twice or without TLS configured.
fn check_tls_gate(option: u32, payload: &[u8]) {
    let request = parse_option(option, payload);
    let starttls = request == OptionRequest::StartTls;
    let off = TlsGate::new(TlsMode::Off).check(option, &request);
    assert_eq!(off == Verdict::Pass, !starttls);
    let before = TlsGate::new(TlsMode::Require).check(option, &request);
    match before {
        Verdict::Pass => assert!(option == OPT_ABORT || option == OPT_STARTTLS),
        Verdict::StartTls => assert!(starttls),
        Verdict::Close => assert_eq!(option, OPT_EXPORT_NAME),
        Verdict::Refuse { reply_type, .. } => assert_eq!(reply_type, REP_ERR_TLS_REQD),
    }
    let mut inside = TlsGate::new(TlsMode::Require);
    inside.started();
    let after = inside.check(option, &request);
    assert_eq!(after == Verdict::Pass, !starttls);
}

/// Feeds one option to the negotiation, as the driver would with an
/// export list holding every name but the empty one.
fn option_step(n: &mut Negotiation, option: u32, payload: &[u8], out: &mut Vec<u8>) {
    match parse_option(option, payload) {
        OptionRequest::ExportName(name) => {
            assert!(name.len() <= STRING_BYTES_MAX);
            let _ = n.session(&name);
        }
        OptionRequest::Info { name, wanted, .. } => {
            assert!(name.len() <= STRING_BYTES_MAX);
            let export = ExportInfo {
                read_only: payload.len() % 2 == 1,
                size: payload.len() as u64 * 4096,
                name,
            };
            n.info(option, &export, wanted, out);
        }
        OptionRequest::MetaContext { set, name, queries } => {
            let found = (!name.is_empty()).then_some(name.as_str());
            n.meta_context(set, found, queries, out);
            let s = n.session(&name);
            assert!(s.allocation_context.is_none() || s.structured);
        }
        OptionRequest::StructuredReply => n.structured_reply(out),
        OptionRequest::Abort
        | OptionRequest::StartTls
        | OptionRequest::List
        | OptionRequest::Unsupported
        | OptionRequest::Invalid(_) => {}
    }
}

/// Option replies: magic, option, type, length, then exactly that data.
fn check_option_replies(mut b: &[u8]) {
    while !b.is_empty() {
        assert!(b.len() >= 20);
        assert_eq!(b[..8], OPTION_REPLY_MAGIC.to_be_bytes());
        let len = be32(&b[16..20]) as usize;
        assert!(b.len() >= 20 + len);
        b = &b[20 + len..];
    }
}

/// The input as requests, under every kind of session. Each 28 bytes are
/// decoded as they are, then again with the request magic put in front.
fn requests(data: &[u8]) {
    let sessions = [(false, None), (true, None), (true, Some(1))].map(|(s, c)| Session {
        structured: s,
        allocation_context: c,
    });
    for raw in data.chunks_exact(REQUEST_HEADER_BYTES) {
        let decoded = decode_request_header(raw);
        assert_eq!(decoded.is_ok(), raw[..4] == REQUEST_MAGIC.to_be_bytes());
        let mut fixed = raw.to_vec();
        fixed[..4].copy_from_slice(&REQUEST_MAGIC.to_be_bytes());
        let header = decode_request_header(&fixed).expect("the magic is right");
        assert_eq!(encode_request_header(&header)[..], fixed[..]);
        for session in &sessions {
            check_request(&header, session);
        }
    }
}

fn check_request(h: &RequestHeader, session: &Session) {
    match decode_command(h, session) {
        Request::Disconnect => assert_eq!(h.kind, CMD_DISC),
        Request::Reject { error, skip, .. } => {
            assert_ne!(error, 0);
            assert_eq!(skip, if h.kind == CMD_WRITE { h.len } else { 0 });
        }
        Request::Command(cmd) => {
            assert!(payload_bytes(&cmd) <= PAYLOAD_BYTES_MAX);
            match cmd {
                Command::Read { df, .. } => assert!(!df || session.structured),
                Command::BlockStatus { len, .. } => {
                    assert!(len > 0 && session.allocation_context.is_some())
                }
                _ => {}
            }
        }
    }
}

/// The input as an allocation map: the first four bytes give a read
/// length (at most 64 KiB), each following pair a run (length, allocated).
fn allocation(data: &[u8]) {
    let Some(head) = data.get(..4) else {
        return;
    };
    let len = be32(head) % (64 << 10);
    let runs: Vec<AllocRun> = data[4..]
        .chunks_exact(2)
        .map(|p| AllocRun {
            len: u64::from(p[0]) * 97 + u64::from(p[1] >> 1),
            allocated: p[1] & 1 == 1,
        })
        .collect();
    let offset = u64::from(be32(head)) << 9;
    let zeros = Bytes::from(vec![0u8; len as usize]);
    for df in [false, true] {
        let chunks = read_chunks(offset, zeros.clone(), &runs, df);
        check_read_chunks(offset, len, &chunks, df);
        encode(Reply::Structured { cookie: 1, chunks });
    }
    let _ = all_hole(len, &runs);
    if len > 0 {
        for req_one in [false, true] {
            let extents = status_extents(len, &runs, req_one);
            assert!(!extents.is_empty() && extents.len() <= STATUS_EXTENTS_MAX);
            assert!(!req_one || extents.len() == 1);
            assert!(extents.iter().all(|&(l, _)| l > 0));
            assert!(extents.iter().map(|&(l, _)| u64::from(l)).sum::<u64>() <= u64::from(len));
            let chunks = vec![Chunk::BlockStatus {
                context: 1,
                extents,
            }];
            encode(Reply::Structured { cookie: 2, chunks });
        }
    }
}

/// READ chunks cover `[offset, offset + len)` in order, each non-empty;
/// with `df`, in one chunk.
fn check_read_chunks(offset: u64, len: u32, chunks: &[Chunk], df: bool) {
    if len == 0 {
        assert_eq!(chunks, [Chunk::None]);
        return;
    }
    assert!(!df || chunks.len() == 1);
    let mut at = offset;
    for c in chunks {
        let n = match c {
            Chunk::Data { offset, data } => {
                assert_eq!(*offset, at);
                data.len() as u64
            }
            Chunk::Hole { offset, len } => {
                assert_eq!(*offset, at);
                u64::from(*len)
            }
            other => panic!("not a content chunk: {other:?}"),
        };
        assert!(n > 0);
        at += n;
    }
    assert_eq!(at, offset + u64::from(len));
}

/// Encodes a reply and drains it as the writer would.
fn encode(reply: Reply) {
    let mut out = Outbox::default();
    reply.encode(&mut out);
    out.seal();
    while out.has_remaining() {
        let n = out.chunk().len();
        out.advance(n);
    }
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes(b.try_into().expect("four bytes"))
}
