//! Tests of SigV4 parsing and verification: AWS's documented examples,
//! every refusal, timing, and garbage that must not panic.

use super::*;
use crate::s3::auth::signed::{parse, SignedRequest};
use crate::s3::auth::testkit::{
    request, seeded_runner, Signer, ACCESS_KEY, EMPTY_SHA256, EXAMPLE_SECS, SECRET,
};
use proptest::prelude::*;

/// The SigV4 request `parse` reads from a path-style request, or its error.
fn parse_v4(uri: &Uri, h: &HeaderMap) -> Result<Option<SigV4Request>, AuthError> {
    Ok(parse(uri, h, None)?.map(|r| match r {
        SignedRequest::V4(r) => r,
        SignedRequest::V2(r) => panic!("parsed as SigV2: {r:?}"),
    }))
}

/// Parses and verifies at the examples' time with the examples' secret.
fn check(method: &str, target: &str, headers: &[(&str, &str)]) -> Result<Verified, AuthError> {
    check_at(method, target, headers, EXAMPLE_SECS)
}

fn check_at(
    method: &str,
    target: &str,
    headers: &[(&str, &str)],
    now: u64,
) -> Result<Verified, AuthError> {
    let (m, uri, h) = request(method, target, headers);
    let parsed = parse_v4(&uri, &h)?.expect("signed request");
    parsed.verify(SECRET, &m, &uri, &h, now)
}

fn parse_err(target: &str, headers: &[(&str, &str)]) -> AuthError {
    let (_, uri, h) = request("GET", target, headers);
    parse_v4(&uri, &h).expect_err("must be refused")
}

fn auth(signed: &str, signature: &str) -> String {
    format!("AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request, SignedHeaders={signed}, Signature={signature}")
}

const HOST: (&str, &str) = ("host", "examplebucket.s3.amazonaws.com");
const DATE: (&str, &str) = ("x-amz-date", "20130524T000000Z");
const EMPTY: (&str, &str) = ("x-amz-content-sha256", EMPTY_SHA256);
const GET_OBJECT_SIG: &str = "f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41";
const PRESIGNED: &str = "/test.txt?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F20130524%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20130524T000000Z&X-Amz-Expires=86400&X-Amz-SignedHeaders=host&X-Amz-Signature=aeeed9bbccd4d02ee5c0109b86d86835f995330da4c265957d157751f604d404";

fn get_object_headers(authorization: &str) -> Vec<(&str, &str)> {
    vec![
        HOST,
        ("range", "bytes=0-9"),
        EMPTY,
        DATE,
        ("authorization", authorization),
    ]
}

#[test]
fn aws_example_get_object_with_range_verifies() {
    // "Example: GET Object" of AWS's SigV4 header examples, with its published signature.
    let a = auth("host;range;x-amz-content-sha256;x-amz-date", GET_OBJECT_SIG);
    let v = check("GET", "/test.txt", &get_object_headers(&a)).unwrap();
    // A plain body: no chunk signatures chain from this one.
    assert!(v.chunk_signing.is_none());
    assert_eq!(
        v.payload,
        Payload::Sha256(hex::decode(EMPTY_SHA256).unwrap().try_into().unwrap())
    );
    let (_, uri, h) = request("GET", "/test.txt", &get_object_headers(&a));
    let parsed = parse_v4(&uri, &h).unwrap().unwrap();
    assert_eq!(parsed.access_key, ACCESS_KEY);
    assert_eq!(parsed.scope.region, "us-east-1");
    assert_eq!(
        parsed.signed_headers,
        "host;range;x-amz-content-sha256;x-amz-date"
    );
    assert_eq!(parsed.expires, None);
}

#[test]
fn aws_example_put_object_verifies_whether_the_key_was_sent_encoded_or_raw() {
    // "Example: PUT Object" signs /test%24file.text; a client may send the `$` encoded or raw.
    let a = format!(
        "AWS4-HMAC-SHA256 Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,SignedHeaders=date;host;x-amz-content-sha256;x-amz-date;x-amz-storage-class,Signature=98ad721746da40c64f1a55b78f14c238d841ea1380cd77a1b5971af0ece108bd"
    );
    let headers = [
        HOST,
        ("date", "Fri, 24 May 2013 00:00:00 GMT"),
        (
            "x-amz-content-sha256",
            "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072",
        ),
        DATE,
        ("x-amz-storage-class", "REDUCED_REDUNDANCY"),
        ("authorization", &a),
    ];
    for path in ["/test%24file.text", "/test$file.text"] {
        let v = check("PUT", path, &headers).unwrap_or_else(|e| panic!("{path}: {e}"));
        assert!(matches!(v.payload, Payload::Sha256(_)));
    }
    assert_eq!(
        check("PUT", "/test%25file.text", &headers).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn aws_example_get_bucket_lifecycle_signs_a_bare_query_parameter() {
    // "Example: GET Bucket Lifecycle": `?lifecycle` is canonicalised as `lifecycle=`.
    let a = auth(
        "host;x-amz-content-sha256;x-amz-date",
        "fea454ca298b7da1c68078a5d1bdbfbbe0d65c699e0f91ac7a200a0136783543",
    );
    check(
        "GET",
        "/?lifecycle",
        &[HOST, EMPTY, DATE, ("authorization", &a)],
    )
    .unwrap();
}

#[test]
fn aws_example_list_objects_sorts_query_parameters() {
    // "Example: Get Bucket (List Objects)": `max-keys=2&prefix=J`, sent in the other order too.
    let a = auth(
        "host;x-amz-content-sha256;x-amz-date",
        "34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7",
    );
    let headers = [HOST, EMPTY, DATE, ("authorization", a.as_str())];
    check("GET", "/?max-keys=2&prefix=J", &headers).unwrap();
    check("GET", "/?prefix=J&max-keys=2", &headers).unwrap();
    assert_eq!(
        check("GET", "/?max-keys=3&prefix=J", &headers).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn aws_example_presigned_url_verifies_until_it_expires() {
    // The query-string example (24 hours) verifies inside its window and is refused outside it.
    let v = check("GET", PRESIGNED, &[HOST]).unwrap();
    assert_eq!(v.payload, Payload::Unsigned);
    let (_, uri, h) = request("GET", PRESIGNED, &[HOST]);
    let parsed = parse_v4(&uri, &h).unwrap().unwrap();
    assert_eq!(parsed.expires, Some(86_400));
    assert_eq!(parsed.access_key, ACCESS_KEY);
    check_at("GET", PRESIGNED, &[HOST], EXAMPLE_SECS + 86_400).unwrap();
    check_at(
        "GET",
        PRESIGNED,
        &[HOST],
        EXAMPLE_SECS - CLOCK_SKEW_SECS_MAX,
    )
    .unwrap();
    let expired = check_at("GET", PRESIGNED, &[HOST], EXAMPLE_SECS + 86_401).unwrap_err();
    assert_eq!(
        (expired.code(), expired.status().as_u16()),
        ("AccessDenied", 403)
    );
    assert_eq!(expired.to_string(), "Request has expired");
    let early = check_at(
        "GET",
        PRESIGNED,
        &[HOST],
        EXAMPLE_SECS - CLOCK_SKEW_SECS_MAX - 1,
    )
    .unwrap_err();
    assert_eq!(early, AuthError::RequestNotYetValid);
    let other_host = check("GET", PRESIGNED, &[("host", "attacker.example")]).unwrap_err();
    assert_eq!(other_host, AuthError::SignatureDoesNotMatch);
}

#[test]
fn header_auth_tolerates_any_spacing_between_components() {
    // `, ` and `,` and extra spaces after the algorithm all parse to the same request.
    let tight = format!(
        "AWS4-HMAC-SHA256  Credential={ACCESS_KEY}/20130524/us-east-1/s3/aws4_request,SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,  Signature={GET_OBJECT_SIG}"
    );
    check("GET", "/test.txt", &get_object_headers(&tight)).unwrap();
}

#[test]
fn clock_skew_beyond_fifteen_minutes_is_refused() {
    // Header auth is accepted 900 s either side of the signing time and refused at 901 s.
    let a = auth("host;range;x-amz-content-sha256;x-amz-date", GET_OBJECT_SIG);
    let headers = get_object_headers(&a);
    for now in [EXAMPLE_SECS - 900, EXAMPLE_SECS + 900] {
        check_at("GET", "/test.txt", &headers, now).unwrap();
    }
    for now in [EXAMPLE_SECS - 901, EXAMPLE_SECS + 901, 0, u64::MAX] {
        let e = check_at("GET", "/test.txt", &headers, now).unwrap_err();
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("RequestTimeTooSkewed", 403)
        );
    }
}

#[test]
fn malformed_authorization_headers_name_what_is_wrong() {
    // Each broken component is AuthorizationHeaderMalformed (400) with AWS's explanation.
    let cases = [
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host", "requires the components"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "mal-formed"),
        ("AWS4-HMAC-SHA256 Credential=/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "mal-formed"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/ec2/aws4_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "incorrect service \"ec2\""),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws5_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "incorrect terminal"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130525/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "Invalid credential date \"20130525\""),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=x-amz-date, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "must include host"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;Range, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "\"Range\" is invalid"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;;a, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "\"\" is invalid"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host;host, Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41", "\"host\" is invalid"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=zz", "64 hex"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, SignedHeaders=host, Signature", "malformed"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, Credential=AK, SignedHeaders=host", "appears twice"),
        ("AWS4-HMAC-SHA256 Credential=AK/20130524/us-east-1/s3/aws4_request, Foo=1, SignedHeaders=host", "unknown component"),
    ];
    for (value, why) in cases {
        let e = parse_err("/b/k", &[("authorization", value), DATE, EMPTY]);
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("AuthorizationHeaderMalformed", 400),
            "{value}"
        );
        assert!(e.to_string().contains(why), "{value}: {e}");
    }
}

#[test]
fn header_auth_needs_a_date_and_a_payload_hash() {
    // No usable date is AccessDenied; a missing or unknown x-amz-content-sha256 is a 400.
    let a = auth("host", GET_OBJECT_SIG);
    let no_date = parse_err("/b/k", &[("authorization", &a), EMPTY]);
    assert_eq!(
        (no_date.code(), no_date.status().as_u16()),
        ("AccessDenied", 403)
    );
    let bad_date = parse_err(
        "/b/k",
        &[("authorization", &a), EMPTY, ("x-amz-date", "2013-05-24")],
    );
    assert_eq!(bad_date, AuthError::MissingDate);
    let no_sha = parse_err("/b/k", &[("authorization", &a), DATE]);
    assert_eq!(
        (
            no_sha.code(),
            no_sha.to_string().contains("x-amz-content-sha256")
        ),
        ("InvalidRequest", true)
    );
    for value in [
        "STREAMING-AWS4-ECDSA-P256-SHA256-PAYLOAD",
        "abc",
        &EMPTY_SHA256[1..],
    ] {
        let e = parse_err(
            "/b/k",
            &[("authorization", &a), DATE, ("x-amz-content-sha256", value)],
        );
        assert_eq!(e, AuthError::InvalidContentSha256(value.to_owned()));
        assert_eq!(e.code(), "InvalidArgument");
    }
}

#[test]
fn payload_modes_come_from_x_amz_content_sha256() {
    // Each documented value maps to its mode; a presigned URL is unsigned unless a header says
    // otherwise, and then takes any value as a claimed hash (a streaming mode included).
    assert_eq!(Payload::parse("UNSIGNED-PAYLOAD"), Ok(Payload::Unsigned));
    assert_eq!(
        Payload::parse("STREAMING-AWS4-HMAC-SHA256-PAYLOAD"),
        Ok(Payload::StreamingSigned)
    );
    assert_eq!(
        Payload::parse("STREAMING-AWS4-HMAC-SHA256-PAYLOAD-TRAILER"),
        Ok(Payload::StreamingSignedTrailer)
    );
    assert_eq!(
        Payload::parse("STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        Ok(Payload::StreamingUnsignedTrailer)
    );
    assert_eq!(
        Payload::parse_claimed("unsigned-payload"),
        Payload::Unmatchable { streaming: false }
    );
    assert_eq!(
        Payload::parse_claimed(EMPTY_SHA256),
        Payload::parse(EMPTY_SHA256).unwrap()
    );
    let (_, uri, h) = request(
        "PUT",
        PRESIGNED,
        &[
            HOST,
            ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ],
    );
    assert_eq!(
        parse_v4(&uri, &h).unwrap().unwrap().payload,
        Payload::Unmatchable { streaming: true }
    );
}

#[test]
fn malformed_presigned_parameters_are_query_parameter_errors() {
    // Missing, repeated or out-of-range X-Amz-* parameters are AuthorizationQueryParametersError.
    let with = |from: &str, to: &str| PRESIGNED.replace(from, to);
    let cases = [
        (
            with("&X-Amz-Expires=86400", ""),
            "requires the X-Amz-Algorithm",
        ),
        (
            with(
                "X-Amz-Algorithm=AWS4-HMAC-SHA256",
                "X-Amz-Algorithm=AWS4-HMAC-SHA1",
            ),
            "only supports",
        ),
        (
            with("X-Amz-Expires=86400", "X-Amz-Expires=604801"),
            "less than a week",
        ),
        (
            with("X-Amz-Expires=86400", "X-Amz-Expires=0"),
            "at least one second",
        ),
        (
            with("X-Amz-Expires=86400", "X-Amz-Expires=-1"),
            "non-negative",
        ),
        (
            with("X-Amz-Expires=86400", "X-Amz-Expires=1e3"),
            "should be a number",
        ),
        (
            with(
                "X-Amz-Expires=86400",
                "X-Amz-Expires=99999999999999999999999",
            ),
            "less than a week",
        ),
        (
            with("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130524"),
            "ISO8601",
        ),
        (
            with("X-Amz-Date=20130524T000000Z", "X-Amz-Date=20130525T000000Z"),
            "Invalid credential date",
        ),
        (with("%2Fs3%2F", "%2Fiam%2F"), "incorrect service"),
        (
            with("X-Amz-SignedHeaders=host", "X-Amz-SignedHeaders=range"),
            "must include host",
        ),
        (
            with("X-Amz-Signature=aeeed9", "X-Amz-Signature=zz"),
            "64 hex",
        ),
        (
            format!("{PRESIGNED}&X-Amz-Date=20130524T000000Z"),
            "more than once",
        ),
        (
            with("X-Amz-Algorithm=AWS4-HMAC-SHA256", "X-Amz-Algorithm=%FF"),
            "not valid text",
        ),
    ];
    for (target, why) in cases {
        let e = parse_err(&target, &[HOST]);
        assert_eq!(
            (e.code(), e.status().as_u16()),
            ("AuthorizationQueryParametersError", 400),
            "{target}"
        );
        assert!(e.to_string().contains(why), "{target}: {e}");
    }
}

#[test]
fn a_wrong_secret_or_a_changed_request_does_not_match() {
    // Another secret, a changed signed header, method or path each fail the signature check.
    let a = auth("host;range;x-amz-content-sha256;x-amz-date", GET_OBJECT_SIG);
    let headers = get_object_headers(&a);
    let (m, uri, h) = request("GET", "/test.txt", &headers);
    let parsed = parse_v4(&uri, &h).unwrap().unwrap();
    let wrong = parsed.verify("not the secret", &m, &uri, &h, EXAMPLE_SECS);
    assert_eq!(wrong.unwrap_err().code(), "SignatureDoesNotMatch");
    let mut changed = headers.clone();
    changed[1] = ("range", "bytes=0-99");
    assert_eq!(
        check("GET", "/test.txt", &changed).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
    assert_eq!(
        check("HEAD", "/test.txt", &headers).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
    assert_eq!(
        check("GET", "/test.tx", &headers).unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
    let collapsed = [
        HOST,
        ("range", "  bytes=0-9 "),
        EMPTY,
        DATE,
        ("authorization", &a),
    ];
    check("GET", "/test.txt", &collapsed).unwrap();
}

#[test]
fn unsigned_amz_headers_are_refused() {
    // An x-amz-* header outside SignedHeaders (say x-amz-copy-source on a presigned PUT) is AccessDenied.
    let e = check(
        "GET",
        PRESIGNED,
        &[
            HOST,
            ("x-amz-copy-source", "/other/secret"),
            ("x-amz-acl", "public-read"),
        ],
    )
    .unwrap_err();
    assert_eq!(
        e,
        AuthError::HeadersNotSigned("x-amz-acl,x-amz-copy-source".to_owned())
    );
    assert_eq!((e.code(), e.status().as_u16()), ("AccessDenied", 403));
    // The payload hash may go unsigned: it is checked against the body, not trusted.
    check("GET", PRESIGNED, &[HOST, EMPTY]).unwrap();
    // Other headers may go unsigned, as in AWS.
    check("GET", PRESIGNED, &[HOST, ("user-agent", "curl/8")]).unwrap();
}

#[test]
fn requests_signed_by_a_client_round_trip() {
    // A client signing a Date-only request with reserved characters in its query verifies.
    let (m, uri, mut h) = request(
        "GET",
        "/bucket?prefix=a%2Fb%20c&marker=%E2%82%AC%21&delimiter=%2F&acl",
        &[
            ("host", "localhost:8080"),
            ("date", "Fri, 24 May 2013 00:00:10 GMT"),
            EMPTY,
        ],
    );
    let signer = Signer {
        timestamp: "20130524T000010Z",
        ..Signer::EXAMPLE
    };
    signer.authorize(&m, &uri, &mut h);
    let parsed = parse_v4(&uri, &h).unwrap().unwrap();
    assert_eq!(parsed.timestamp.text, "20130524T000010Z");
    parsed.verify(SECRET, &m, &uri, &h, EXAMPLE_SECS).unwrap();
    // The same parameters sent with another (equivalent) encoding still verify.
    let reencoded: Uri = "/bucket?acl=&delimiter=/&marker=%e2%82%ac!&prefix=a/b+c"
        .parse()
        .unwrap();
    parsed
        .verify(SECRET, &m, &reencoded, &h, EXAMPLE_SECS)
        .unwrap();
    let changed: Uri = "/bucket?prefix=a%2Fb%20d&marker=%E2%82%AC%21&delimiter=%2F&acl"
        .parse()
        .unwrap();
    assert_eq!(
        parsed
            .verify(SECRET, &m, &changed, &h, EXAMPLE_SECS)
            .unwrap_err(),
        AuthError::SignatureDoesNotMatch
    );
}

#[test]
fn any_region_is_accepted_and_reported() {
    // The region is the caller's to check: a presigned URL for a made-up region verifies.
    let (m, uri, h) = request("PUT", "/b/k?uploadId=7&partNumber=2", &[("host", "h")]);
    let signer = Signer {
        region: "garage-1",
        ..Signer::EXAMPLE
    };
    let presigned = signer.presign(&m, &uri, &h, 60);
    let parsed = parse_v4(&presigned, &h).unwrap().unwrap();
    assert_eq!(parsed.scope.region, "garage-1");
    assert!(parsed
        .verify(SECRET, &m, &presigned, &h, EXAMPLE_SECS + 60)
        .is_ok());
}

#[test]
fn a_presigned_url_may_sign_the_payload_header() {
    // With an x-amz-content-sha256 header a presigned URL verifies whether it signed the
    // header's value (as AWS and s3api sign it) or UNSIGNED-PAYLOAD, and the body is held
    // to the header either way.
    let (m, uri, h) = request(
        "PUT",
        "/b/k",
        &[("host", "h"), ("x-amz-content-sha256", "invalid")],
    );
    for payload in ["invalid", "UNSIGNED-PAYLOAD"] {
        let presigned = Signer::EXAMPLE.presign_with_payload(&m, &uri, &h, 60, payload);
        let parsed = parse_v4(&presigned, &h).unwrap().unwrap();
        let v = parsed
            .verify(SECRET, &m, &presigned, &h, EXAMPLE_SECS)
            .unwrap();
        assert_eq!(
            v.payload,
            Payload::Unmatchable { streaming: false },
            "{payload}"
        );
    }
    let other = Signer::EXAMPLE.presign_with_payload(&m, &uri, &h, 60, EMPTY_SHA256);
    let parsed = parse_v4(&other, &h).unwrap().unwrap();
    assert_eq!(
        parsed.verify(SECRET, &m, &other, &h, EXAMPLE_SECS),
        Err(AuthError::SignatureDoesNotMatch)
    );
}

#[test]
fn signatures_are_compared_in_constant_time() {
    // The only comparisons of signatures in this module go through subtle's ct_eq.
    let source = include_str!("../sigv4.rs");
    assert!(source.contains("expected.ct_eq(&self.signature)"));
    assert!(!source.contains("expected == self.signature"));
    assert!(!source.contains("self.signature =="));
}

#[test]
fn garbage_headers_and_queries_never_panic() {
    // Random Authorization, date, payload and query strings only ever produce errors or results.
    let mut runner = seeded_runner("garbage_headers_and_queries_never_panic", 512);
    let piece = prop_oneof![
        Just("AWS4-HMAC-SHA256 ".to_owned()),
        Just("Credential=AK/20130524/us-east-1/s3/aws4_request".to_owned()),
        Just("SignedHeaders=host;x-amz-date".to_owned()),
        Just(format!("Signature={GET_OBJECT_SIG}")),
        Just(",".to_owned()),
        Just("X-Amz-Expires=".to_owned()),
        Just("&".to_owned()),
        Just("%".to_owned()),
        "[ -~]{0,12}",
        "\\PC{0,4}",
    ];
    let text = prop::collection::vec(piece, 0..8).prop_map(|v| v.concat());
    let strategy = (text.clone(), text.clone(), text.clone(), text, any::<u64>());
    runner
        .run(&strategy, |(authz, date, sha, query, now)| {
            let mut h = HeaderMap::new();
            for (name, value) in [
                ("authorization", &authz),
                ("x-amz-date", &date),
                ("x-amz-content-sha256", &sha),
                ("host", &date),
            ] {
                if let Ok(v) = http::HeaderValue::from_str(value) {
                    h.insert(name, v);
                }
            }
            let target = format!("/b/{}?{}", date.replace(['?', '#', ' '], "_"), query);
            let Ok(uri) = target.parse::<Uri>() else {
                return Ok(());
            };
            for headers in [&h, &HeaderMap::new()] {
                if let Ok(Some(req)) = parse(&uri, headers, None) {
                    let _ = req.verify(SECRET, &Method::PUT, &uri, headers, now);
                }
            }
            Ok(())
        })
        .unwrap();
}
