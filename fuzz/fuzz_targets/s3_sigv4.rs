//! Fuzzes the S3 authentication parsers. The input's head (up to the first
//! blank line) is a request: `METHOD path?query` on its first line, then
//! `name: value` headers; SigV4 and SigV2 parsing (path-style and with a
//! virtual-hosted bucket) and verification (with a fixed secret, at our
//! clock and at the request's own time) may refuse it but never panic, and
//! never accept a signature without the secret. The rest of the input is an
//! `aws-chunked` body, fed in pieces through the decoder in every mode: it
//! yields at most the body's own bytes and, when signed, can never complete
//! without valid signatures.
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
        signed(&method, &uri, &headers);
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

/// Parse (path-style and virtual-hosted), then verify at our clock and at
/// the request's own time (so the signature itself is computed); a forged
/// signature never verifies.
fn signed(method: &Method, uri: &Uri, headers: &HeaderMap) {
    for virtual_bucket in [None, Some("fuzz-bucket")] {
        let Ok(Some(req)) = auth::parse(uri, headers, virtual_bucket) else {
            continue;
        };
        let _ = req.verify(SECRET, method, uri, headers, NOW_SECS);
        let (its_time, payload, chunk_signing) = match &req {
            auth::SignedRequest::V4(r) => (r.timestamp.unix_secs, r.payload, Some(fixed_signing())),
            auth::SignedRequest::V2(r) => {
                let (auth::V2Timing::Dated { unix_secs }
                | auth::V2Timing::Expires { unix_secs, .. }) = r.timing;
                (unix_secs, r.payload, None)
            }
        };
        let at_its_time = req.verify(SECRET, method, uri, headers, its_time);
        assert!(
            at_its_time.is_err(),
            "a signature verified without the secret"
        );
        let verified = auth::Verified {
            chunk_signing,
            payload,
        };
        let _ = auth::decoded_content_length(headers);
        if let Ok(announced) = auth::Announced::from_headers(headers) {
            let _ = ChunkMode::for_request(&verified, announced.trailer());
            let _ = auth::BodyChecks::new(headers, &payload, &announced);
        }
    }
}

/// Chunk signing material that no fuzz input signs with.
fn fixed_signing() -> ChunkSigning {
    ChunkSigning {
        key: [7; 32],
        scope: "20231114/us-east-1/s3/aws4_request".into(),
        timestamp: "20231114T221320Z".into(),
        seed: [9; 32],
        access_key: "fuzz".into(),
        canonical_request: String::new(),
    }
}

/// Unsigned and signed, each without a trailer and with a CRC32C one
/// (signed, when the chunks are).
fn modes() -> Vec<ChunkMode> {
    let mut modes = Vec::new();
    for signing in [None, Some(fixed_signing())] {
        for trailer in [None, Some(ChecksumAlgorithm::Crc32c)] {
            modes.push(ChunkMode {
                trailer_signature: signing.is_some() && trailer.is_some(),
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
    // Any decoded length: the body's own, so that short and long claims both occur.
    let mut decoder = ChunkDecoder::new(mode, body.len() as u64 / 2);
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
