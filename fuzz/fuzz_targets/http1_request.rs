//! Fuzzes the HTTP/1.1 server's parsers of network input: the request head
//! (request line with raw target bytes, header fields, body framing) and the
//! chunked body decoder fed what follows the head, in pieces whose sizes come
//! from the input. Neither may panic, whatever the bytes.
#![no_main]

use bytes::BytesMut;
use cairn_http1::chunked::{Decoder, Step};
use cairn_http1::head::{self, Limits};
use libfuzzer_sys::fuzz_target;

const LIMITS: Limits = Limits {
    max_headers: 64,
    max_head_bytes: 16 * 1024,
    max_uri_bytes: 8 * 1024,
};

fuzz_target!(|data: &[u8]| {
    let body = match head::parse(data, &LIMITS) {
        Ok(Some((_, len))) => &data[len..],
        _ => data,
    };
    let step = usize::from(data.first().copied().unwrap_or(1)).max(1);
    let mut decoder = Decoder::default();
    let mut buf = BytesMut::new();
    for piece in body.chunks(step) {
        buf.extend_from_slice(piece);
        loop {
            match decoder.step(&mut buf) {
                Ok(Step::Data(_)) => {}
                Ok(Step::NeedMore) => break,
                Ok(Step::Done) | Err(_) => return,
            }
        }
    }
});
