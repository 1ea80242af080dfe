//! Fuzzes what `cairn bench` parses from the server under test: an HTTP
//! response head and its body (by length, chunks or until close, fed in
//! pieces whose size is the input's first byte), and iSCSI target PDUs (the
//! input cut into 48-byte basic header segments, each decoded with a small
//! MaxRecvDataSegmentLength). None may panic, and a body never yields more
//! bytes than it was fed.
#![no_main]

use bytes::BytesMut;
use cairn_bench::block::iscsi::pdu::{self, BHS_BYTES};
use cairn_bench::object::wire::{parse_head, BodyReader, BodySink};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let head_request = data.first().is_some_and(|b| b & 1 == 1);
    if let Ok(Some((head, len))) = parse_head(data, head_request) {
        let rest = &data[len..];
        let mut reader = BodyReader::new(head.framing);
        let mut sink = BodySink::new(true);
        let step = usize::from(data[0]).max(1);
        let mut buf = BytesMut::new();
        for piece in rest.chunks(step) {
            buf.extend_from_slice(piece);
            match reader.step(&mut buf, &mut sink) {
                Ok(false) => {}
                Ok(true) | Err(_) => break,
            }
        }
        assert!(sink.len <= rest.len() as u64);
    }
    for chunk in data.chunks_exact(BHS_BYTES) {
        let mut bhs = [0u8; BHS_BYTES];
        bhs.copy_from_slice(chunk);
        let _ = pdu::decode(&bhs, 8192);
    }
});
