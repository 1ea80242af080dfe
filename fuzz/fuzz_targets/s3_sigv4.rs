//! Fuzzes the S3 authentication parsers. The input's head (up to the first
//! blank line) is a request: `METHOD path?query` on its first line, then
//! `name: value` headers; SigV4 parsing and verification (with a fixed
//! secret, at our clock and at the request's own time) may refuse it but
//! never panic, and never accept a signature without the secret. The rest of
//! the input is an `aws-chunked` body, fed in pieces through the decoder in
//! every mode: it yields at most the body's own bytes and, when signed, can
//! never complete without valid signatures.
#![no_main]

use cairn_proxy::s3::auth::{self, ChecksumAlgorithm, ChunkDecoder, ChunkMode, ChunkSigning};
use http::{HeaderMap, HeaderName, HeaderValue, Method, Uri};
use libfuzzer_sys::fuzz_target;

const SECRET: &str = "fuzz secret";
/// A fixed "now" (Nov 2023), so a crash replays the same way.
const NOW_SECS: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let (head, body) = match data.windows(2).position(|w| w == b"\n\n") {
        Some(i) => (&data[..i], &data[i + 2..]),
        None => (data, &[][..]),
    };
    if let Some((method, uri, headers)) = request(head) {
        sigv4(&method, &uri, &headers);
    }
    let frame = usize::from(body.first().copied().unwrap_or(1)).max(1);
    for mode in modes() {
        chunked(body, frame, mode);
    }
});

/// The request line and headers; `None` when the target is not a URI.
fn request(head: &[u8]) -> Option<(Method, Uri, HeaderMap)> {
    let mut lines = head.split(|&b| b == b'\n');
    let first = std::str::from_utf8(lines.next()?).ok()?;
    let (method, target) = first.split_once(' ').unwrap_or(("GET", first));
    let method = Method::from_bytes(method.as_bytes()).unwrap_or(Method::GET);
    let uri: Uri = target.parse().ok()?;
    let mut headers = HeaderMap::new();
    for line in lines {
        let Some(colon) = line.iter().position(|&b| b == b':') else {
            continue;
        };
        let (name, value) = (line[..colon].trim_ascii(), line[colon + 1..].trim_ascii());
        if let (Ok(n), Ok(v)) = (HeaderName::from_bytes(name), HeaderValue::from_bytes(value)) {
            headers.append(n, v);
        }
    }
    Some((method, uri, headers))
}

/// Parse, then verify at our clock and at the request's own time (so the
/// signature itself is computed); a forged signature never verifies.
fn sigv4(method: &Method, uri: &Uri, headers: &HeaderMap) {
    let Ok(Some(req)) = auth::parse(uri, headers) else {
        return;
    };
    let _ = req.verify(SECRET, method, uri, headers, NOW_SECS);
    let at_its_time = req.verify(SECRET, method, uri, headers, req.timestamp.unix_secs);
    assert!(
        at_its_time.is_err(),
        "a signature verified without the secret"
    );
    let _ = ChunkMode::for_request(&fixed_verified(req.payload), headers);
    let _ = auth::decoded_content_length(headers);
    let _ = auth::BodyChecks::from_headers(headers, &req.payload);
}

fn fixed_verified(payload: auth::Payload) -> auth::Verified {
    auth::Verified {
        signing_key: [7; 32],
        scope: "20231114/us-east-1/s3/aws4_request".into(),
        timestamp: "20231114T221320Z".into(),
        seed_signature: [9; 32],
        payload,
    }
}

/// Unsigned and signed, each without a trailer and with a CRC32C one.
fn modes() -> Vec<ChunkMode> {
    let signing = ChunkSigning::from(&fixed_verified(auth::Payload::StreamingSigned));
    let mut modes = Vec::new();
    for signing in [None, Some(signing)] {
        for trailer in [None, Some(ChecksumAlgorithm::Crc32c)] {
            modes.push(ChunkMode {
                signing: signing.clone(),
                trailer,
            });
        }
    }
    modes
}

/// Feeds `body` in `frame`-byte pieces, draining the decoder between feeds.
fn chunked(body: &[u8], frame: usize, mode: ChunkMode) {
    let signed = mode.signing.is_some();
    let mut decoder = ChunkDecoder::new(mode, None);
    let mut out = 0usize;
    for piece in body.chunks(frame) {
        decoder.feed(piece);
        loop {
            match decoder.next_data() {
                Ok(Some(data)) => out += data.len(),
                Ok(None) => break,
                Err(_) => return,
            }
        }
    }
    assert!(out <= body.len(), "decoded {out} bytes from {}", body.len());
    let finished = decoder.finish();
    assert!(
        !(signed && finished.is_ok()),
        "a signed body completed without valid signatures"
    );
}
