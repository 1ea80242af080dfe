//! Tests of the `aws-chunked` decoder: AWS's streaming and trailer
//! examples, tampering, framing errors, and random bodies.

use super::*;
use crate::s3::auth::signed::parse;
use crate::s3::auth::testkit::{
    encode_chunked, example_signing, request, seeded_runner, EXAMPLE_SECS, SECRET,
};
use futures::executor::block_on;
use proptest::prelude::*;
use std::convert::Infallible;

const SEED: &str = "4f232c4386841ef735655705268965c44a0e4690baa4adea153f7db9fa80a0a9";
const CHUNK_SIGS: [&str; 3] = [
    "ad80c730a21e5b8d04586a2213dd63b9a0e99e0e2307b0ade35a65485a288648",
    "0055627c9e194cb4542bae2aa5492e3c1575bbb81b612b7d234b86a503ef5497",
    "b6c6ea8a5354eaf15b3cb7646744f4275b71ea724fed81ceb9323e279d449df9",
];
const TRAILER_SEED: &str = "106e2a8a18243abcf37539882f36619c00e2dfc72633413f02d3b74544bfeb8e";
const TRAILER_CHUNK_SIGS: [&str; 3] = [
    "b474d8862b1487a5145d686f57f013e54db672cee1c953b3010fb58501ef5aa2",
    "1c1344b170168f8e65b41376b44b20fe354e373826ccbbe2c1d40a8cae51e5c7",
    "2ca2aba2005185cf7159c6277faf83795951dd77a3a99e6e65d5c9f85863f992",
];
const TRAILER_SIG: &str = "d81f82fc3505edab99d459891051a732e8730629a2e4a59689829ca17fe2e435";
const EXAMPLE_LEN: usize = 66_560;

/// The body of AWS's examples, written out from the documented signatures:
/// 64 KiB then 1 KiB of `a`, the final chunk, and the trailer lines if any.
fn aws_body(sigs: [&str; 3], trailer: &str) -> Vec<u8> {
    let mut body = format!("10000;chunk-signature={}\r\n", sigs[0]).into_bytes();
    body.extend_from_slice(&[b'a'; 65_536]);
    body.extend_from_slice(format!("\r\n400;chunk-signature={}\r\n", sigs[1]).as_bytes());
    body.extend_from_slice(&[b'a'; 1024]);
    body.extend_from_slice(
        format!("\r\n0;chunk-signature={}\r\n{trailer}\r\n", sigs[2]).as_bytes(),
    );
    body
}

fn aws_trailer_body() -> Vec<u8> {
    let trailer =
        format!("x-amz-checksum-crc32c:sOO8/Q==\r\nx-amz-trailer-signature:{TRAILER_SIG}\r\n");
    aws_body(TRAILER_CHUNK_SIGS, &trailer)
}

fn signed(seed: &str) -> ChunkMode {
    ChunkMode {
        signing: Some(example_signing(seed)),
        trailer: None,
    }
}

/// Every item of `decode` over `body` cut into `frame`-byte pieces.
fn run(
    body: &[u8],
    frame: usize,
    mode: ChunkMode,
    len: Option<u64>,
) -> Vec<Result<Bytes, AuthError>> {
    let frames: Vec<Result<Bytes, Infallible>> = body
        .chunks(frame.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    block_on(decode(futures::stream::iter(frames), mode, len).collect())
}

/// The decoded bytes, or the error the stream ended with.
fn decoded(
    body: &[u8],
    frame: usize,
    mode: ChunkMode,
    len: Option<u64>,
) -> Result<Vec<u8>, AuthError> {
    let mut out = Vec::new();
    for item in run(body, frame, mode, len) {
        out.extend_from_slice(&item?);
    }
    Ok(out)
}

#[test]
fn aws_streaming_example_decodes_end_to_end() {
    // AWS's chunked PUT: the seed signature verifies from the headers, then both chunks and the final one.
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;content-length;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class,Signature={SEED}"
    );
    let (m, uri, h) = request(
        "PUT",
        "/examplebucket/chunkObject.txt",
        &[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("authorization", &authorization),
            ("x-amz-content-sha256", "STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("content-length", "66824"),
        ],
    );
    let verified = parse(&uri, &h, None)
        .unwrap()
        .unwrap()
        .verify(SECRET, &m, &uri, &h, EXAMPLE_SECS)
        .unwrap();
    let mode = ChunkMode::for_request(&verified, &h)
        .unwrap()
        .expect("streaming");
    assert_eq!(mode.trailer, None);
    let body = aws_body(CHUNK_SIGS, "");
    assert_eq!(body.len(), 66_824);
    let items = run(
        &body,
        body.len(),
        mode.clone(),
        decoded_content_length(&h).unwrap(),
    );
    let sizes: Vec<usize> = items.iter().map(|i| i.as_ref().unwrap().len()).collect();
    assert_eq!(sizes, [65_536, 1024], "a signed chunk is released whole");
    for frame in [1, 7, 777, 65_537] {
        let data = decoded(&body, frame, mode.clone(), Some(EXAMPLE_LEN as u64)).unwrap();
        assert!(
            data.len() == EXAMPLE_LEN && data.iter().all(|&b| b == b'a'),
            "frame {frame}"
        );
    }
}

#[test]
fn the_test_encoder_reproduces_the_aws_examples() {
    // Our encoder emits AWS's example bodies byte for byte, so the random tests below speak AWS's format.
    let data = vec![b'a'; EXAMPLE_LEN];
    let plain = encode_chunked(&data, &[65_536], Some(&example_signing(SEED)), None);
    assert_eq!(plain, aws_body(CHUNK_SIGS, ""));
    let trailer = Some(("x-amz-checksum-crc32c", "sOO8/Q=="));
    let with_trailer = encode_chunked(
        &data,
        &[65_536],
        Some(&example_signing(TRAILER_SEED)),
        trailer,
    );
    assert_eq!(with_trailer, aws_trailer_body());
}

#[test]
fn aws_trailer_example_decodes_and_checks_its_crc32c() {
    // AWS's signed-trailer example: chunk signatures, the trailer signature and the CRC32C all verify.
    let mode = ChunkMode {
        signing: Some(example_signing(TRAILER_SEED)),
        trailer: Some(ChecksumAlgorithm::Crc32c),
    };
    let body = aws_trailer_body();
    for frame in [3, 1000, body.len()] {
        assert_eq!(
            decoded(&body, frame, mode.clone(), Some(66_560))
                .unwrap()
                .len(),
            EXAMPLE_LEN
        );
    }
    // A changed trailer value fails the trailer signature before anything else.
    let forged = String::from_utf8(body.clone())
        .unwrap()
        .replace("sOO8/Q==", "sOO8/A==");
    assert_eq!(
        decoded(forged.as_bytes(), 4096, mode.clone(), None),
        Err(AuthError::SignatureDoesNotMatch)
    );
    // Without its closing blank line the trailer is still complete and accepted.
    assert!(decoded(&body[..body.len() - 2], 4096, mode, None).is_ok());
}

#[test]
fn aws_trailer_example_seed_verifies_from_its_headers() {
    // The trailer example's seed signature is the header signature of its request.
    let authorization = format!(
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,SignedHeaders=content-encoding;host;x-amz-content-sha256;x-amz-date;x-amz-decoded-content-length;x-amz-storage-class;x-amz-trailer,Signature={TRAILER_SEED}"
    );
    let (m, uri, h) = request(
        "PUT",
        "/examplebucket/chunkObject.txt",
        &[
            ("host", "s3.amazonaws.com"),
            ("x-amz-date", "20130524T000000Z"),
            ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
            ("authorization", &authorization),
            (
                "x-amz-content-sha256",
                "STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER",
            ),
            ("content-encoding", "aws-chunked"),
            ("x-amz-decoded-content-length", "66560"),
            ("x-amz-trailer", "x-amz-checksum-crc32c"),
        ],
    );
    let verified = parse(&uri, &h, None)
        .unwrap()
        .unwrap()
        .verify(SECRET, &m, &uri, &h, EXAMPLE_SECS)
        .unwrap();
    let mode = ChunkMode::for_request(&verified, &h)
        .unwrap()
        .expect("streaming");
    assert_eq!(mode.trailer, Some(ChecksumAlgorithm::Crc32c));
    assert_eq!(
        decoded(&aws_trailer_body(), 8192, mode, Some(66_560))
            .unwrap()
            .len(),
        EXAMPLE_LEN
    );
}

#[test]
fn a_tampered_chunk_is_refused_before_its_data_is_released() {
    // Flipping a byte of the second chunk yields the first chunk, then SignatureDoesNotMatch.
    let mut body = aws_body(CHUNK_SIGS, "");
    let second_chunk_data = body.len() - 200;
    body[second_chunk_data] = b'b';
    let items = run(&body, 4096, signed(SEED), None);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().len(), 65_536);
    assert_eq!(items[1], Err(AuthError::SignatureDoesNotMatch));
    // The right chunks under another seed (another request) fail at once.
    let other = run(&aws_body(CHUNK_SIGS, ""), 4096, signed(TRAILER_SEED), None);
    assert_eq!(other, vec![Err(AuthError::SignatureDoesNotMatch)]);
}

#[test]
fn chunks_cannot_be_reordered_or_dropped() {
    // Each signature chains from the previous one: AWS's second or final chunk cannot come first.
    let mut second_first = format!("400;chunk-signature={}\r\n", CHUNK_SIGS[1]).into_bytes();
    second_first.extend_from_slice(&[b'a'; 1024]);
    second_first.extend_from_slice(b"\r\n");
    let final_only = format!("0;chunk-signature={}\r\n\r\n", CHUNK_SIGS[2]).into_bytes();
    for body in [second_first, final_only] {
        assert_eq!(
            run(&body, 64, signed(SEED), None),
            vec![Err(AuthError::SignatureDoesNotMatch)]
        );
    }
}

#[test]
fn the_decoded_length_must_match_exactly() {
    // One byte more or less than x-amz-decoded-content-length is IncompleteBody.
    let body = aws_body(CHUNK_SIGS, "");
    for len in [EXAMPLE_LEN - 1, EXAMPLE_LEN + 1] {
        let e = decoded(&body, 4096, signed(SEED), Some(len as u64)).unwrap_err();
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("IncompleteBody", 400),
            "{len}"
        );
    }
}

#[test]
fn framing_errors_end_the_stream_with_an_error() {
    // Bad sizes, missing CRLFs, oversized chunks or lines, truncation and trailing bytes never end cleanly.
    let unsigned = || ChunkMode {
        signing: None,
        trailer: None,
    };
    let malformed = |body: &[u8], mode: ChunkMode| decoded(body, 5, mode, None).unwrap_err();
    let cases: [(&[u8], &str); 9] = [
        (b"zz\r\nab\r\n0\r\n\r\n", "not hexadecimal"),
        (b"+2\r\nab\r\n0\r\n\r\n", "not hexadecimal"),
        (b"\r\n", "not hexadecimal"),
        (b"2\r\nabc\r\n0\r\n\r\n", "not followed by CRLF"),
        (b"2\r\nab0\r\n\r\n", "not followed by CRLF"),
        (b"1000001\r\n", "larger than 16 MiB"),
        (b"2;chunk-signature=00\r\nab\r\n", "unsigned body"),
        (b"2\r\nab\r\n0\r\n\r\nmore", "after the final chunk"),
        (
            b"0\r\nx-amz-checksum-crc32:AAAAAA==\r\n\r\n",
            "did not announce",
        ),
    ];
    for (body, why) in cases {
        let e = malformed(body, unsigned());
        assert!(
            e.to_string().contains(why),
            "{:?}: {e}",
            String::from_utf8_lossy(body)
        );
    }
    let long_line = vec![b'1'; CHUNK_LINE_BYTES_MAX + 2];
    assert!(malformed(&long_line, unsigned())
        .to_string()
        .contains("longer than 4 KiB"));
    for truncated in [&b""[..], b"2\r\na", b"2\r\nab\r\n", b"2\r\nab\r\n0\r\n"] {
        assert_eq!(malformed(truncated, unsigned()), AuthError::IncompleteBody);
    }
    let e = malformed(b"2\r\nab\r\n0\r\n\r\n", signed(SEED));
    assert!(e.to_string().contains("without chunk-signature"), "{e}");
}

#[test]
fn unsigned_trailer_bodies_check_their_checksum() {
    // STREAMING-UNSIGNED-PAYLOAD-TRAILER as botocore sends it: the right CRC32 passes, a wrong one is BadDigest.
    let mode = ChunkMode {
        signing: None,
        trailer: Some(ChecksumAlgorithm::Crc32),
    };
    // crc32("hello world") = 0x0d4a1185.
    let good = b"5\r\nhello\r\n6\r\n world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    assert_eq!(
        decoded(good, 3, mode.clone(), Some(11)).unwrap(),
        b"hello world"
    );
    let items = run(good, 3, mode.clone(), None);
    assert!(items.len() > 2, "unsigned data is released as it arrives");
    let bad = b"5\r\nhello\r\n6\r\n wOrld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    let e = decoded(bad, 3, mode.clone(), None).unwrap_err();
    assert_eq!(e.code(), "BadDigest");
    assert_eq!(e, AuthError::ChecksumMismatch(ChecksumAlgorithm::Crc32));
    let invalid = b"0\r\nx-amz-checksum-crc32:nope\r\n\r\n";
    assert_eq!(
        decoded(invalid, 3, mode.clone(), None),
        Err(AuthError::InvalidChecksum("x-amz-checksum-crc32"))
    );
    let missing = b"0\r\n\r\n";
    assert!(decoded(missing, 3, mode.clone(), None).is_err());
    // A blank line between the final chunk and the trailers is tolerated.
    let spaced = b"5\r\nhello\r\n6\r\n world\r\n0\r\n\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    assert_eq!(decoded(spaced, 4, mode, None).unwrap(), b"hello world");
}

#[test]
fn a_body_error_is_a_client_disconnect() {
    // The body failing under the decoder ends the stream with ClientDisconnect.
    let frames = vec![
        Ok(Bytes::from_static(b"5\r\nhel")),
        Err(std::io::Error::other("connection reset")),
    ];
    let mode = ChunkMode {
        signing: None,
        trailer: None,
    };
    let items: Vec<_> = block_on(decode(futures::stream::iter(frames), mode, None).collect());
    assert_eq!(items[0].as_ref().unwrap().as_ref(), b"hel");
    assert!(items[1].as_ref().unwrap_err().is_client_disconnect());
    assert_eq!(items.len(), 2);
}

#[test]
fn the_adapters_are_send_when_the_body_is() {
    // The server moves body streams across tasks: decode and verify_body keep them Send.
    fn send<T: Send>(_: &T) {}
    let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::new())]);
    let mode = ChunkMode {
        signing: None,
        trailer: None,
    };
    let decoded = decode(body, mode, None);
    send(&decoded);
    send(&crate::s3::auth::verify_body(
        decoded,
        crate::s3::auth::BodyChecks::default(),
    ));
}

#[test]
fn request_headers_choose_the_chunk_mode() {
    // Streaming payloads get a mode (signed or not, with x-amz-trailer's checksum); others get none.
    let mut verified = crate::s3::auth::Verified {
        chunk_signing: Some(example_signing(SEED)),
        payload: Payload::Unsigned,
    };
    let (_, _, trailer) = request("PUT", "/", &[("x-amz-trailer", "X-Amz-Checksum-Sha256")]);
    assert_eq!(ChunkMode::for_request(&verified, &trailer), Ok(None));
    verified.payload = Payload::StreamingUnsignedTrailer;
    let mode = ChunkMode::for_request(&verified, &trailer)
        .unwrap()
        .unwrap();
    assert_eq!(
        (mode.signing, mode.trailer),
        (None, Some(ChecksumAlgorithm::Sha256))
    );
    verified.payload = Payload::StreamingSigned;
    assert_eq!(
        ChunkMode::for_request(&verified, &trailer),
        Err(AuthError::UnsupportedTrailer)
    );
    let (_, _, odd) = request("PUT", "/", &[("x-amz-trailer", "x-amz-meta-foo")]);
    assert_eq!(trailer_header(&odd), Err(AuthError::UnsupportedTrailer));
    let (_, _, lengths) = request("PUT", "/", &[("x-amz-decoded-content-length", "-1")]);
    assert_eq!(
        decoded_content_length(&lengths),
        Err(AuthError::InvalidDecodedContentLength)
    );
    assert_eq!(decoded_content_length(&HeaderMap::new()), Ok(None));
}

#[test]
fn signed_chunks_need_sigv4_signing_material() {
    // Without chunk signing (a SigV2 request) signed-chunk payloads are refused; unsigned ones decode.
    let mut verified = crate::s3::auth::Verified {
        chunk_signing: None,
        payload: Payload::StreamingSigned,
    };
    let (_, _, plain) = request("PUT", "/", &[]);
    let (_, _, trailer) = request("PUT", "/", &[("x-amz-trailer", "x-amz-checksum-crc32c")]);
    assert_eq!(
        ChunkMode::for_request(&verified, &plain),
        Err(AuthError::StreamingNeedsSigV4)
    );
    verified.payload = Payload::StreamingSignedTrailer;
    assert_eq!(
        ChunkMode::for_request(&verified, &trailer),
        Err(AuthError::StreamingNeedsSigV4)
    );
    verified.payload = Payload::StreamingUnsignedTrailer;
    let mode = ChunkMode::for_request(&verified, &trailer)
        .unwrap()
        .unwrap();
    assert_eq!(
        (mode.signing, mode.trailer),
        (None, Some(ChecksumAlgorithm::Crc32c))
    );
}

#[test]
fn chunk_signatures_are_compared_in_constant_time() {
    // Every signature comparison in the decoder goes through subtle's ct_eq.
    let source = include_str!("../chunked.rs");
    assert!(source.contains("expected.ct_eq(&provided)"));
    assert!(!source.contains("expected == provided"));
}

fn arbitrary_mode() -> impl Strategy<Value = ChunkMode> {
    let signing = prop_oneof![Just(None), Just(Some(example_signing(SEED)))];
    let trailer = prop_oneof![Just(None), Just(Some(ChecksumAlgorithm::Crc32c))];
    (signing, trailer).prop_map(|(signing, trailer)| ChunkMode { signing, trailer })
}

#[test]
fn random_bodies_round_trip_in_any_framing() {
    // Random data cut into random chunks and delivered in random frames decodes to itself.
    let mut runner = seeded_runner("random_bodies_round_trip_in_any_framing", 128);
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..3000),
        prop::collection::vec(1usize..700, 0..6),
        1usize..300,
        arbitrary_mode(),
    );
    runner
        .run(&strategy, |(data, sizes, frame, mode)| {
            let mut crc = ChecksumHasher::new(ChecksumAlgorithm::Crc32c);
            crc.update(&data);
            let value =
                base64::Engine::encode(&base64::engine::general_purpose::STANDARD, crc.finish());
            let trailer = mode.trailer.map(|a| (a.header_name(), value.as_str()));
            let body = encode_chunked(&data, &sizes, mode.signing.as_ref(), trailer);
            let out = decoded(&body, frame, mode, Some(data.len() as u64));
            prop_assert_eq!(out, Ok(data));
            Ok(())
        })
        .unwrap();
}

#[test]
fn random_and_mutated_bodies_never_panic() {
    // Garbage, and valid bodies with a byte changed or cut short, end in data or an error, never a panic.
    let mut runner = seeded_runner("random_and_mutated_bodies_never_panic", 512);
    let garbage = prop::collection::vec(
        prop_oneof![
            Just(b"\r\n".to_vec()),
            Just(b"0".to_vec()),
            Just(b";chunk-signature=".to_vec()),
            Just(b"x-amz-checksum-crc32c:".to_vec()),
            prop::collection::vec(any::<u8>(), 0..40),
        ],
        0..12,
    )
    .prop_map(|v| v.concat());
    let strategy = (
        garbage,
        any::<usize>(),
        any::<u8>(),
        1usize..50,
        arbitrary_mode(),
        any::<Option<u16>>(),
    );
    runner
        .run(&strategy, |(garbage, at, byte, frame, mode, len)| {
            let _ = decoded(&garbage, frame, mode.clone(), len.map(u64::from));
            let mut valid = encode_chunked(b"some object data", &[5], mode.signing.as_ref(), None);
            if !valid.is_empty() {
                let i = at % valid.len();
                valid[i] = byte;
                let _ = decoded(&valid, frame, mode.clone(), None);
                let _ = decoded(&valid[..i], frame, mode, None);
            }
            Ok(())
        })
        .unwrap();
}
