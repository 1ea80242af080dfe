//! Tests of the `aws-chunked` decoder: AWS's streaming and trailer
//! examples, tampering, framing errors, what S3 tolerates (as Swift's s3api
//! functional tests pin it down), and random bodies.

use super::*;
use crate::s3::auth::announce::Announced;
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
        trailer_signature: false,
    }
}

fn unsigned(trailer: Option<ChecksumAlgorithm>) -> ChunkMode {
    ChunkMode {
        signing: None,
        trailer,
        trailer_signature: false,
    }
}

/// Whether `e` is a chunk or trailer signature mismatch whose string to
/// sign begins with `algorithm`.
fn chunk_mismatch(e: &AuthError, algorithm: &str) -> bool {
    match e {
        AuthError::ChunkSignatureDoesNotMatch(d) => {
            d.string_to_sign.starts_with(&format!("{algorithm}\n"))
        }
        _ => false,
    }
}

/// Every item of `decode` over `body` cut into `frame`-byte pieces.
fn run(body: &[u8], frame: usize, mode: ChunkMode, len: u64) -> Vec<Result<Bytes, AuthError>> {
    let frames: Vec<Result<Bytes, Infallible>> = body
        .chunks(frame.max(1))
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    block_on(decode(futures::stream::iter(frames), mode, len).collect())
}

/// The decoded bytes, or the error the stream ended with.
fn decoded(body: &[u8], frame: usize, mode: ChunkMode, len: u64) -> Result<Vec<u8>, AuthError> {
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
    let announced = Announced::from_headers(&h).unwrap();
    let mode = ChunkMode::for_request(&verified, announced.trailer())
        .unwrap()
        .expect("streaming");
    assert_eq!((mode.trailer, mode.trailer_signature), (None, false));
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
        let data = decoded(&body, frame, mode.clone(), EXAMPLE_LEN as u64).unwrap();
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
        trailer_signature: true,
    };
    let len = EXAMPLE_LEN as u64;
    let body = aws_trailer_body();
    for frame in [3, 1000, body.len()] {
        assert_eq!(
            decoded(&body, frame, mode.clone(), len).unwrap().len(),
            EXAMPLE_LEN
        );
    }
    // A changed trailer value fails the trailer signature before anything else.
    let forged = String::from_utf8(body.clone())
        .unwrap()
        .replace("sOO8/Q==", "sOO8/A==");
    let e = decoded(forged.as_bytes(), 4096, mode.clone(), len).unwrap_err();
    assert!(chunk_mismatch(&e, "AWS4-HMAC-SHA256-TRAILER"), "{e:?}");
    // Without its closing blank line the trailer is still complete and accepted.
    assert!(decoded(&body[..body.len() - 2], 4096, mode.clone(), len).is_ok());
    // Without the trailer signature the body is incomplete.
    let unsigned_trailer = aws_body(TRAILER_CHUNK_SIGS, "x-amz-checksum-crc32c:sOO8/Q==\r\n");
    assert_eq!(
        decoded(&unsigned_trailer, 4096, mode, len),
        Err(AuthError::IncompleteBody)
    );
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
    let announced = Announced::from_headers(&h).unwrap();
    let mode = ChunkMode::for_request(&verified, announced.trailer())
        .unwrap()
        .expect("streaming");
    assert_eq!(mode.trailer, Some(ChecksumAlgorithm::Crc32c));
    assert!(mode.trailer_signature);
    assert_eq!(
        decoded(&aws_trailer_body(), 8192, mode, 66_560)
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
    let len = EXAMPLE_LEN as u64;
    let items = run(&body, 4096, signed(SEED), len);
    assert_eq!(items.len(), 2);
    assert_eq!(items[0].as_ref().unwrap().len(), 65_536);
    let e = items[1].as_ref().unwrap_err();
    assert!(chunk_mismatch(e, "AWS4-HMAC-SHA256-PAYLOAD"), "{e:?}");
    // The answer shows what the client should have signed, as AWS's does.
    let AuthError::ChunkSignatureDoesNotMatch(details) = e else {
        unreachable!()
    };
    assert_eq!(details.access_key, crate::s3::auth::testkit::ACCESS_KEY);
    assert_eq!(details.signature_provided, CHUNK_SIGS[1]);
    assert!(details.canonical_request.starts_with("PUT\n"));
    // The right chunks under another seed (another request) fail at once.
    let other = run(&aws_body(CHUNK_SIGS, ""), 4096, signed(TRAILER_SEED), len);
    assert_eq!(other.len(), 1);
    assert!(chunk_mismatch(
        other[0].as_ref().unwrap_err(),
        "AWS4-HMAC-SHA256-PAYLOAD"
    ));
}

#[test]
fn chunks_cannot_be_reordered_or_dropped() {
    // Each signature chains from the previous one: AWS's second or final chunk cannot come first.
    let mut second_first = format!("400;chunk-signature={}\r\n", CHUNK_SIGS[1]).into_bytes();
    second_first.extend_from_slice(&[b'a'; 1024]);
    second_first.extend_from_slice(b"\r\n");
    let final_only = format!("0;chunk-signature={}\r\n\r\n", CHUNK_SIGS[2]).into_bytes();
    for body in [second_first, final_only] {
        let items = run(&body, 64, signed(SEED), EXAMPLE_LEN as u64);
        assert_eq!(items.len(), 1);
        assert!(chunk_mismatch(
            items[0].as_ref().unwrap_err(),
            "AWS4-HMAC-SHA256-PAYLOAD"
        ));
    }
}

#[test]
fn the_decoded_length_must_match_exactly() {
    // One byte more or less than x-amz-decoded-content-length is IncompleteBody with both counts:
    // too many as soon as a chunk announces them, too few at the final chunk.
    let body = aws_body(CHUNK_SIGS, "");
    let len = EXAMPLE_LEN as u64;
    for (expected, provided) in [(len - 1, len), (len + 1, len)] {
        let e = decoded(&body, 4096, signed(SEED), expected).unwrap_err();
        assert_eq!(e, AuthError::DecodedLengthMismatch { expected, provided });
        assert_eq!((e.code(), e.status().as_u16()), ("IncompleteBody", 400));
    }
    // A final chunk in the middle ends the body there: too few bytes.
    let early = b"4\r\nabcd\r\n0\r\n\r\n1c\r\n";
    assert_eq!(
        decoded(early, 3, unsigned(None), 32),
        Err(AuthError::DecodedLengthMismatch {
            expected: 32,
            provided: 4
        })
    );
}

#[test]
fn framing_errors_end_the_stream_unexpectedly() {
    // Bad sizes, missing CRLFs or bare line feeds, truncation: "the request body terminated
    // unexpectedly", as S3 words it; oversized chunks and lines are refused too.
    let cases: [&[u8]; 12] = [
        b"zz\r\nab\r\n0\r\n\r\n",
        b"+2\r\nab\r\n0\r\n\r\n",
        b"-2\r\nab\r\n0\r\n\r\n",
        b"\r\n",
        b"2\r\nabc\r\n0\r\n\r\n",
        b"2\r\nab0\r\n\r\n",
        b"2\nab\n0\n\n",
        b"2\rab\r0\r\r",
        b"2\r\nab\r\n0\r\n\r",
        b"2\r\na",
        b"2\r\nab\r\n",
        b"",
    ];
    for body in cases {
        assert_eq!(
            decoded(body, 5, unsigned(None), 2),
            Err(AuthError::IncompleteBody),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    let e = decoded(b"1000001\r\n", 5, unsigned(None), 1 << 30).unwrap_err();
    assert!(e.to_string().contains("larger than 16 MiB"), "{e}");
    let long_line = vec![b'1'; CHUNK_LINE_BYTES_MAX + 2];
    let e = decoded(&long_line, 5, unsigned(None), 2).unwrap_err();
    assert!(e.to_string().contains("longer than 4 KiB"), "{e}");
}

#[test]
fn signed_chunks_need_one_well_formed_signature() {
    // No signature, an empty one or a second extension after it is incomplete; another
    // extension in its place, or a signature that is not hex, fails as a mismatch (403).
    let incomplete: [&[u8]; 3] = [
        b"2\r\nab\r\n0\r\n\r\n",
        b"2;chunk-signature=\r\nab\r\n",
        b"2;chunk-signature=00;extra=param\r\nab\r\n",
    ];
    for body in incomplete {
        assert_eq!(
            decoded(body, 5, signed(SEED), 2),
            Err(AuthError::IncompleteBody),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
    for body in [
        &b"2;extra=param;chunk-signature=00\r\nab\r\n"[..],
        b"2;chunk-signature=invalid\r\nab\r\n",
    ] {
        let e = decoded(body, 5, signed(SEED), 2).unwrap_err();
        assert!(chunk_mismatch(&e, "AWS4-HMAC-SHA256-PAYLOAD"), "{e:?}");
        assert_eq!(e.status().as_u16(), 403);
    }
}

#[test]
fn what_s3_tolerates_in_the_framing() {
    // Spaces around the size and the signature, extensions on unsigned chunks, no CRLF at the
    // very end, and anything after the body is complete.
    let data = vec![b'a'; EXAMPLE_LEN];
    let spaced = String::from_utf8(aws_body(CHUNK_SIGS, ""))
        .unwrap()
        .replace("10000;chunk-signature=", "10000 ; chunk-signature = ")
        .replace(
            &format!("{}\r\n", CHUNK_SIGS[1]),
            &format!("{} \r\n", CHUNK_SIGS[1]),
        );
    assert_eq!(
        decoded(spaced.as_bytes(), 999, signed(SEED), EXAMPLE_LEN as u64),
        Ok(data)
    );
    for body in [
        &b"5;ignored=yes\r\nhello\r\n0\r\n\r\n"[..],
        b"5\r\nhello\r\n0\r\n",
        b"5\r\nhello\r\n0\r\n\r\n\r\ngarbage",
    ] {
        assert_eq!(
            decoded(body, 2, unsigned(None), 5).as_deref(),
            Ok(&b"hello"[..]),
            "{:?}",
            String::from_utf8_lossy(body)
        );
    }
}

#[test]
fn chunks_but_the_last_two_must_hold_8_kib() {
    // A small chunk followed by more data is InvalidChunkSizeError (403), naming the chunk
    // after it and the small size, as AWS does; a small last data chunk is fine.
    let data = vec![b'x'; 2048];
    let body = encode_chunked(&data, &[1024], None, None);
    assert_eq!(
        decoded(&body, 100, unsigned(None), 2048),
        Err(AuthError::ChunkTooSmall {
            chunk: 2,
            size: 1024
        })
    );
    let data = vec![b'y'; CHUNK_BYTES_MIN + 10];
    let body = encode_chunked(
        &data,
        &[CHUNK_BYTES_MIN],
        Some(&example_signing(SEED)),
        None,
    );
    assert_eq!(
        decoded(&body, 100, signed(SEED), data.len() as u64),
        Ok(data)
    );
}

#[test]
fn unsigned_trailer_bodies_check_their_checksum() {
    // STREAMING-UNSIGNED-PAYLOAD-TRAILER as botocore sends it: the right CRC32 passes, a wrong one
    // is BadDigest, a value that is no CRC32 is an invalid trailing header.
    let mode = unsigned(Some(ChecksumAlgorithm::Crc32));
    // crc32("hello world") = 0x0d4a1185.
    let good = b"b\r\nhello world\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    assert_eq!(decoded(good, 3, mode.clone(), 11).unwrap(), b"hello world");
    let items = run(good, 3, mode.clone(), 11);
    assert!(items.len() > 2, "unsigned data is released as it arrives");
    let bad = b"b\r\nhello wOrld\r\n0\r\nx-amz-checksum-crc32:DUoRhQ==\r\n\r\n";
    let e = decoded(bad, 3, mode.clone(), 11).unwrap_err();
    assert_eq!(e.code(), "BadDigest");
    assert_eq!(e, AuthError::ChecksumMismatch(ChecksumAlgorithm::Crc32));
    let invalid = b"0\r\nx-amz-checksum-crc32:nope\r\n\r\n";
    let e = decoded(invalid, 3, mode, 0).unwrap_err();
    assert_eq!(e, AuthError::InvalidTrailerChecksum("x-amz-checksum-crc32"));
    assert_eq!(
        e.to_string(),
        "Value for x-amz-checksum-crc32 trailing header is invalid."
    );
}

#[test]
fn trailers_are_exactly_the_announced_ones() {
    // A missing, unannounced or misplaced trailer is MalformedTrailerError; a repeated one
    // replaces the earlier value; the section may end without its blank line, not mid-line.
    let mode = unsigned(Some(ChecksumAlgorithm::Crc32));
    let body = |trailers: &str| format!("b\r\nhello world\r\n0\r\n{trailers}").into_bytes();
    let good = "x-amz-checksum-crc32:DUoRhQ==\r\n";
    let wrong = "x-amz-checksum-crc32:AAAAAA==\r\n";
    for trailers in [
        "\r\n".to_owned(),
        String::new(),
        format!("\r\n{good}"),
        format!("{good}bonus: trailer\r\n"),
        "x-amz-checksum-crc32c:AAAAAA==\r\n".to_owned(),
    ] {
        assert_eq!(
            decoded(&body(&trailers), 7, mode.clone(), 11),
            Err(AuthError::MalformedTrailer),
            "{trailers:?}"
        );
    }
    for trailers in [
        good.to_owned(),
        format!("{wrong}{good}"),
        format!("{good}\r\nbonus: trailer\r\n"),
        "x-amz-checksum-crc32: DUoRhQ== \r\n".to_owned(),
    ] {
        assert_eq!(
            decoded(&body(&trailers), 7, mode.clone(), 11).as_deref(),
            Ok(&b"hello world"[..]),
            "{trailers:?}"
        );
    }
    assert_eq!(
        decoded(&body(&format!("{good}{wrong}")), 7, mode.clone(), 11),
        Err(AuthError::ChecksumMismatch(ChecksumAlgorithm::Crc32))
    );
    for cut in [
        "x-amz-checksum-crc32:DUoRhQ==\n",
        "x-amz-checksum-crc32:DUoRhQ==",
    ] {
        assert_eq!(
            decoded(&body(cut), 7, mode.clone(), 11),
            Err(AuthError::IncompleteBody),
            "{cut:?}"
        );
    }
}

#[test]
fn a_body_error_is_a_client_disconnect() {
    // The body failing under the decoder ends the stream with ClientDisconnect.
    let frames = vec![
        Ok(Bytes::from_static(b"5\r\nhel")),
        Err(std::io::Error::other("connection reset")),
    ];
    let items: Vec<_> =
        block_on(decode(futures::stream::iter(frames), unsigned(None), 5).collect());
    assert_eq!(items[0].as_ref().unwrap().as_ref(), b"hel");
    assert!(items[1].as_ref().unwrap_err().is_client_disconnect());
    assert_eq!(items.len(), 2);
}

#[test]
fn the_adapters_are_send_when_the_body_is() {
    // The server moves body streams across tasks: decode and verify_body keep them Send.
    fn send<T: Send>(_: &T) {}
    let body = futures::stream::iter(vec![Ok::<_, std::io::Error>(Bytes::new())]);
    let decoded = decode(body, unsigned(None), 0);
    send(&decoded);
    send(&crate::s3::auth::verify_body(
        decoded,
        crate::s3::auth::BodyChecks::default(),
    ));
}

#[test]
fn the_payload_and_the_trailer_choose_the_chunk_mode() {
    // Streaming payloads get a mode (signed or not, with the announced trailer, signed when the
    // payload says so); a trailer announced for any other body is MalformedTrailerError.
    let mut verified = crate::s3::auth::Verified {
        chunk_signing: Some(example_signing(SEED)),
        payload: Payload::Unsigned,
    };
    let sha256 = Some(ChecksumAlgorithm::Sha256);
    assert_eq!(ChunkMode::for_request(&verified, None), Ok(None));
    assert_eq!(
        ChunkMode::for_request(&verified, sha256),
        Err(AuthError::MalformedTrailer)
    );
    verified.payload = Payload::Unmatchable { streaming: true };
    assert_eq!(ChunkMode::for_request(&verified, sha256), Ok(None));
    verified.payload = Payload::StreamingUnsignedTrailer;
    let mode = ChunkMode::for_request(&verified, sha256).unwrap().unwrap();
    assert_eq!(
        (mode.signing, mode.trailer, mode.trailer_signature),
        (None, sha256, false)
    );
    verified.payload = Payload::StreamingSigned;
    let mode = ChunkMode::for_request(&verified, sha256).unwrap().unwrap();
    assert!(mode.signing.is_some() && !mode.trailer_signature);
    verified.payload = Payload::StreamingSignedTrailer;
    let mode = ChunkMode::for_request(&verified, None).unwrap().unwrap();
    assert!(mode.trailer_signature);
}

#[test]
fn the_decoded_length_is_required_and_not_negative() {
    // Missing or not a number: MissingContentLength (411); negative: InvalidArgument.
    let length = |v: &str| {
        let (_, _, h) = request("PUT", "/", &[("x-amz-decoded-content-length", v)]);
        decoded_content_length(&h)
    };
    assert_eq!(length(" 32 "), Ok(32));
    assert_eq!(
        length("not an int"),
        Err(AuthError::MissingDecodedContentLength)
    );
    assert_eq!(length("-1"), Err(AuthError::InvalidDecodedContentLength));
    assert_eq!(
        decoded_content_length(&HeaderMap::new()),
        Err(AuthError::MissingDecodedContentLength)
    );
}

#[test]
fn signed_chunks_need_sigv4_signing_material() {
    // Without chunk signing material, signed-chunk payloads are refused; unsigned ones decode.
    let mut verified = crate::s3::auth::Verified {
        chunk_signing: None,
        payload: Payload::StreamingSigned,
    };
    let crc32c = Some(ChecksumAlgorithm::Crc32c);
    assert_eq!(
        ChunkMode::for_request(&verified, None),
        Err(AuthError::StreamingNeedsSigV4)
    );
    verified.payload = Payload::StreamingSignedTrailer;
    assert_eq!(
        ChunkMode::for_request(&verified, crc32c),
        Err(AuthError::StreamingNeedsSigV4)
    );
    verified.payload = Payload::StreamingUnsignedTrailer;
    let mode = ChunkMode::for_request(&verified, crc32c).unwrap().unwrap();
    assert_eq!((mode.signing, mode.trailer), (None, crc32c));
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
    (signing, trailer).prop_map(|(signing, trailer)| ChunkMode {
        trailer_signature: signing.is_some() && trailer.is_some(),
        signing,
        trailer,
    })
}

#[test]
fn random_bodies_round_trip_in_any_framing() {
    // Random data cut into random chunks and delivered in random frames decodes to itself.
    let mut runner = seeded_runner("random_bodies_round_trip_in_any_framing", 128);
    let strategy = (
        prop::collection::vec(any::<u8>(), 0..40_000),
        prop::collection::vec(CHUNK_BYTES_MIN..12_000, 0..4),
        1usize..2000,
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
            let out = decoded(&body, frame, mode, data.len() as u64);
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
        any::<u16>(),
    );
    runner
        .run(&strategy, |(garbage, at, byte, frame, mode, len)| {
            let len = u64::from(len);
            let _ = decoded(&garbage, frame, mode.clone(), len);
            let mut valid = encode_chunked(b"some object data", &[5], mode.signing.as_ref(), None);
            if !valid.is_empty() {
                let i = at % valid.len();
                valid[i] = byte;
                let _ = decoded(&valid, frame, mode.clone(), len);
                let _ = decoded(&valid[..i], frame, mode, len);
            }
            Ok(())
        })
        .unwrap();
}
